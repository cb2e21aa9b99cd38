"""What the compiled training step costs: XLA's count of its FLOPs against the plan's estimate
(`model.training_flops`), and its time, with the depthwise convolutions as the native grouped
convolution and as shifted products (`model.CausalDepthwiseConv1D`), under both backends.

    python benchmarks/compiled_step.py --recipe competition --batch 4 --steps 3
    KERAS_BACKEND=jax python benchmarks/compiled_step.py --backends jax --batch 32 \
        --precision mixed_bfloat16      # on a GPU: Keras and JAX only, no TensorFlow needed

One training step (forward, CTC loss, gradient, AdamW update) on a random batch at the recipe's
frame budget, timed with `train_on_batch` after two warm-up steps (`model.seconds_per_step`).
JAX: Keras compiles the step with XLA and times it on whatever device JAX uses; its FLOPs are
XLA's `cost_analysis()` of the same step compiled for the host's CPU (`model.compiled_step_flops`:
a GPU's count leaves out cuBLAS' products). TensorFlow: without XLA (what Keras does on a CPU);
with XLA (what Keras does on a GPU) the step cannot compile on a CPU-only machine, whose CTC loss
is TensorFlow's sparse kernel (`model._ctc_per_sequence`), so it is not timed here. A backend is
fixed per process, so each runs in a process of its own, in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd

from fingerspell.devices import PRECISIONS


def random_batch(model, config, batch: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    frames = rng.normal(size=(batch, config.max_frames, model.input_shape[-1])).astype("float32")
    labels = np.full((batch, config.max_phrase), -1, "int32")
    labels[:, :30] = rng.integers(0, 59, size=(batch, 30))
    return frames, labels


def measure(recipe: str, batch: int, steps: int, precision: str) -> list[dict]:
    """Both depthwise forms on the backend of this process."""
    import keras

    from fingerspell import recipes
    from fingerspell.model import (
        CausalDepthwiseConv1D,
        build_model,
        compiled_step_flops,
        ctc_loss,
        seconds_per_step,
        training_flops,
    )

    config = recipes.train_config(recipe, batch_size=batch, precision=precision)
    keras.mixed_precision.set_global_policy(precision)
    backend, rows = keras.backend.backend(), []
    for shifted in (False, True):
        CausalDepthwiseConv1D.shifted = shifted
        keras.utils.set_random_seed(0)
        model = build_model(config)
        frames, labels = random_batch(model, config, batch)
        # Keras compiles the step with XLA under JAX; TensorFlow on a CPU runs it without.
        model.compile(keras.optimizers.AdamW(1e-4), loss=ctc_loss)
        seconds = seconds_per_step(model, frames, labels, steps)
        flops = compiled_step_flops(model, frames, labels)
        rows.append({
            "backend": backend, "XLA": "yes" if backend == "jax" else "no",
            "device": _device_name(backend), "precision": precision,
            "depthwise": "shifted products" if shifted else "grouped convolution",
            "XLA GFLOP/seq": flops / 1e9 if flops else float("nan"),
            "estimate GFLOP/seq": training_flops(model, config) / 1e9,
            "step s": seconds,
        })  # fmt: skip
    return rows


def _device_name(backend: str) -> str:
    if backend != "jax":
        return "CPU"
    import jax

    device = jax.devices()[0]
    return "CPU" if device.platform == "cpu" else device.device_kind


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="competition")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--backends", default="jax,tensorflow", help="comma-separated")
    parser.add_argument("--precision", default="float32",
                        choices=[p for p in PRECISIONS if p != "auto"])  # fmt: skip
    parser.add_argument("--backend", help=argparse.SUPPRESS)  # set for the child processes
    args = parser.parse_args()
    if args.backend:
        print(json.dumps(measure(args.recipe, args.batch, args.steps, args.precision)))
        return
    rows = []
    for backend in args.backends.split(","):
        child = subprocess.run(
            [sys.executable, __file__, "--recipe", args.recipe, "--batch", str(args.batch),
             "--steps", str(args.steps), "--precision", args.precision, "--backend", backend],
            env={**os.environ, "KERAS_BACKEND": backend},
            stdout=subprocess.PIPE, text=True, check=True,  # its errors show as they come
        )  # fmt: skip
        rows += json.loads(child.stdout.strip().splitlines()[-1])
    table = pd.DataFrame(rows)
    table["XLA / estimate"] = table["XLA GFLOP/seq"] / table["estimate GFLOP/seq"]
    table["sequences/s"] = args.batch / table["step s"]
    table["XLA TFLOP/s"] = table["XLA GFLOP/seq"] * table["sequences/s"] / 1e3
    print(f"recipe {args.recipe}, {args.batch} sequences a step, {args.precision}")
    print(table.to_markdown(index=False, floatfmt=".2f"))


if __name__ == "__main__":
    main()
