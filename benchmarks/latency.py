"""Size and single-thread latency of the exported TFLite model, per preset.

    python benchmarks/latency.py --presets tiny small base --frames 100 400 1000
    python benchmarks/latency.py --recipe competition --presets base --frames 100 384 1000

Each preset is built with the recipe's frame budget (default `demo`: 160) and its initial weights
(latency and size do not depend on training), exported exactly as `python -m fingerspell export`
does (fp16 weights, builtin ops), and run by
LiteRT on one thread, as the competition's evaluator does, on sequences of the given lengths with
hands, pose and lips present. Goal for `base`: ≤ 12 MB and p95 ≤ 25 ms at 400 frames.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd


def latencies_ms(runner, frames: np.ndarray, repeats: int) -> np.ndarray:
    runner(inputs=frames)  # the first call allocates tensors for this length
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        runner(inputs=frames)
        times.append(time.perf_counter() - started)
    return np.array(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["tiny", "small", "base"])
    parser.add_argument("--frames", type=int, nargs="+", default=[100, 400, 1000])
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--precision", default="fp16")
    parser.add_argument("--recipe", default="demo", help="its frame budget is the model's")
    args = parser.parse_args()

    from ai_edge_litert.interpreter import Interpreter

    from fingerspell import check, export, recipes
    from fingerspell.features import model_landmarks
    from fingerspell.model import build_model

    n_columns = 3 * len(model_landmarks("model"))
    rng = np.random.default_rng(0)
    rows = []
    for preset in args.presets:
        config = recipes.train_config(args.recipe, preset=preset)
        model = build_model(config)
        flatbuffer = export.convert(model, n_columns, config.max_frames, args.precision)
        runner = Interpreter(model_content=flatbuffer, num_threads=1).get_signature_runner(
            "serving_default"
        )
        row = {"preset": preset, "parameters": f"{model.count_params() / 1e6:.2f} M",
               "size MB": round(len(flatbuffer) / 2**20, 2)}  # fmt: skip
        for n in args.frames:
            frames = rng.uniform(0.2, 0.8, (n, n_columns)).astype(np.float32)
            ms = latencies_ms(runner, frames, args.repeats)
            row[f"{n} frames p50 / p95 ms"] = f"{np.median(ms):.1f} / {np.percentile(ms, 95):.1f}"
            minutes = ms.mean() * check.COMPETITION_TEST_SEQUENCES / 60_000
            row[f"{check.COMPETITION_TEST_SEQUENCES:,} × {n} frames, min"] = round(minutes, 1)
        rows.append(row)
        print(rows[-1], flush=True)
    print(f"\nLiteRT, one thread, {args.precision}, frame budget {config.max_frames} "
          "(longer inputs are resampled in-graph)")  # fmt: skip
    print(pd.DataFrame(rows).to_markdown(index=False))


if __name__ == "__main__":
    main()
