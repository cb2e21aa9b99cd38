"""Training speed per preset, backend and precision, and the input pipeline's headroom over the
training step.

    python benchmarks/training.py --records records --presets tiny small base

The input pipeline is timed alone (training mode, augmentations on, the run's batch size and frame
budget); each training step is timed on one fixed batch (`train_on_batch`, after two warm-up
steps, which also compile it), so the figures do not depend on each other. A Keras backend is
fixed per process, so each backend is timed in a process of its own, in the same run; JAX/TF is
the ratio of their steps/s. Headroom = pipeline batches/s over the faster backend's steps/s.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import pandas as pd


def pipeline_batches_per_second(records: str, config, batches: int) -> float:
    from fingerspell import dataset
    from fingerspell.augment import Augmenter
    from fingerspell.features import model_landmarks

    landmarks = model_landmarks(config.model_landmarks)
    data = dataset.make_dataset(
        records, [1, 2, 3], config.batch_size, config.max_frames, True, landmarks,
        config.max_phrase, augment=Augmenter(config.augment, config.max_frames, landmarks,
                                             config.max_phrase),
    ).repeat()  # fmt: skip
    iterator = iter(data)
    next(iterator)  # start-up (file opening, tracing) is not throughput
    started = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return batches / (time.perf_counter() - started)


def training_steps_per_second(records: str, config, steps: int) -> tuple[float, int]:
    import keras

    from fingerspell import dataset
    from fingerspell.features import model_landmarks
    from fingerspell.model import build_model, ctc_loss, seconds_per_step

    frames, labels, _ = next(iter(dataset.make_dataset(
        records, [1], config.batch_size, config.max_frames, True,
        model_landmarks(config.model_landmarks), config.max_phrase,
    )))  # fmt: skip
    keras.mixed_precision.set_global_policy(config.precision)
    model = build_model(config)
    model.compile(keras.optimizers.AdamW(1e-4), loss=ctc_loss)
    seconds = seconds_per_step(model, frames.numpy(), labels.numpy(), steps)
    return 1 / seconds, model.count_params()


def time_backend(records: str, presets: list[str], precisions: list[str], steps: int,
                 batch: int) -> list:  # fmt: skip
    """Steps/s of every preset × precision on the backend of this process."""
    import keras

    from fingerspell.config import Config

    rows = []
    for preset in presets:
        for precision in precisions:
            config = Config(preset=preset, precision=precision, batch_size=batch)
            per_second, params = training_steps_per_second(records, config, steps)
            rows.append({"preset": preset, "precision": precision, "params": params,
                         "backend": keras.backend.backend(), "steps/s": per_second})  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", required=True, help="records folder from preprocess")
    parser.add_argument("--presets", nargs="+", default=["tiny", "small", "base"])
    parser.add_argument("--precisions", nargs="+",
                        default=["float32", "mixed_bfloat16", "mixed_float16"])  # fmt: skip
    parser.add_argument("--backends", nargs="+", default=["tensorflow", "jax"])
    parser.add_argument("--steps", type=int, default=10, help="timed training steps per case")
    parser.add_argument("--batches", type=int, default=100, help="timed pipeline batches")
    parser.add_argument("--batch-size", type=int, help="default: the demo's (Config)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    from fingerspell.config import Config

    config = Config(**({"batch_size": args.batch_size} if args.batch_size else {}))
    if args.worker:  # one backend, in this process
        print(json.dumps(time_backend(args.records, args.presets, args.precisions, args.steps,
                                      config.batch_size)))  # fmt: skip
        return

    pipeline = pipeline_batches_per_second(args.records, config, args.batches)
    print(f"input pipeline: {pipeline:.1f} batches/s of {config.batch_size} × "
          f"{config.max_frames} frames (augmented)")  # fmt: skip
    rows = []
    for backend in args.backends:
        command = [sys.executable, __file__, "--worker", "--records", args.records,
                   "--steps", str(args.steps), "--batch-size", str(config.batch_size),
                   "--presets", *args.presets,
                   "--precisions", *args.precisions]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, check=True,
                              env={**os.environ, "KERAS_BACKEND": backend})  # fmt: skip
        rows += json.loads(done.stdout.strip().splitlines()[-1])
    table = pd.DataFrame(rows).pivot_table(index=["preset", "precision", "params"],
                                           columns="backend", values="steps/s", sort=False)
    table = table.reset_index()
    table["params"] = (table["params"] / 1e6).map("{:.2f} M".format)
    if {"jax", "tensorflow"} <= set(table.columns):
        table["JAX / TF"] = (table["jax"] / table["tensorflow"]).map("{:.2f}×".format)
    fastest = table[[b for b in args.backends if b in table]].max(axis=1)
    table["pipeline headroom"] = (pipeline / fastest).map("{:.0f}×".format)
    for backend in args.backends:
        table[backend] = table[backend].map("{:.2f}".format)
    table = table.rename(columns={b: f"{b} steps/s" for b in args.backends})
    print(table.to_markdown(index=False))


if __name__ == "__main__":
    main()
