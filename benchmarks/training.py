"""Training speed per preset, and the input pipeline's headroom over the training step.

    python benchmarks/training.py --records records/synthetic --presets tiny small base

The input pipeline is timed alone (training mode, augmentations on, the run's batch size and frame
budget); each preset's training step is timed on one fixed batch (`train_on_batch`, after two
warm-up steps), so the figures do not depend on each other. Headroom = pipeline batches/s over
training steps/s (goal ≥ 5).
"""

from __future__ import annotations

import argparse
import time

import pandas as pd


def pipeline_batches_per_second(records: str, config, batches: int) -> float:
    from fingerspell import dataset
    from fingerspell.augment import Augmenter
    from fingerspell.features import model_landmarks

    data = dataset.make_dataset(
        records, [1, 2, 3], config.batch_size, config.max_frames, True,
        model_landmarks(config.model_landmarks), config.max_phrase,
        augment=Augmenter(config.augment, config.max_frames, max_phrase=config.max_phrase),
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
    from fingerspell.model import build_model, ctc_loss

    frames, labels = next(iter(dataset.make_dataset(
        records, [1], config.batch_size, config.max_frames, True,
        model_landmarks(config.model_landmarks), config.max_phrase,
    )))  # fmt: skip
    model = build_model(config)
    model.compile(keras.optimizers.AdamW(1e-4), loss=ctc_loss)
    for _ in range(2):
        model.train_on_batch(frames, labels)
    started = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(frames, labels)
    return steps / (time.perf_counter() - started), model.count_params()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", required=True, help="records folder from preprocess")
    parser.add_argument("--presets", nargs="+", default=["tiny", "small", "base"])
    parser.add_argument("--steps", type=int, default=10, help="timed training steps per preset")
    parser.add_argument("--batches", type=int, default=100, help="timed pipeline batches")
    args = parser.parse_args()

    from fingerspell.config import Config

    config = Config()
    pipeline = pipeline_batches_per_second(args.records, config, args.batches)
    print(f"input pipeline: {pipeline:.1f} batches/s of {config.batch_size} × "
          f"{config.max_frames} frames (augmented)")  # fmt: skip
    rows = []
    for preset in args.presets:
        config = Config(preset=preset)
        steps, params = training_steps_per_second(args.records, config, args.steps)
        rows.append({
            "preset": preset, "parameters": f"{params / 1e6:.2f} M",
            "steps/s": round(steps, 2), "sequences/s": round(steps * config.batch_size, 1),
            "pipeline headroom": f"{pipeline / steps:.0f}×",
        })  # fmt: skip
    print(pd.DataFrame(rows).to_markdown(index=False))


if __name__ == "__main__":
    main()
