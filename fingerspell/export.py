"""Stage 3: a trained run → `model.tflite` + `inference_args.json` + `submission.zip`.

Keras model → `keras.export.ExportArchive` (which tracks the model's variables) → SavedModel →
`TFLiteConverter.from_saved_model`, TFLite builtin ops only. The graph takes the evaluator's
`inputs` [n_frames, len(selected_columns)], resamples sequences longer than the frame budget,
runs the same feature layer as training, greedy-decodes the CTC output (collapse repeats, drop
blanks, keep the final run) and returns `outputs` [L, 59] one-hot rows.

An empty decode (nothing readable) emits the run's `Config.fallback`, the phrase nearest to every
training phrase in edit distance, as validation and `check` score it.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from collections import Counter
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from fingerspell import schema, storage
from fingerspell.dataset import resample_indices
from fingerspell.features import model_landmarks
from fingerspell.model import greedy_decode
from fingerspell.runs import load_trained

MAX_BYTES = 40 * 1024 * 1024
PRECISIONS = ("fp16", "fp32", "int8-dynamic")


class TooLargeError(ValueError):
    pass


def serving_function(model: keras.Model, n_columns: int, max_frames: int, fallback: str):
    """The evaluator's view of the model: `inputs` [n_frames, n_columns] → `outputs` [L, 59]."""
    answer = tf.constant(schema.encode_phrase(fallback), tf.int32)

    @tf.function(input_signature=[tf.TensorSpec([None, n_columns], tf.float32, name="inputs")])
    def serve(inputs):
        # Resampled exactly as in training, then one trailing empty frame: a zero-frame input
        # still runs, and the empty frame decodes to blank.
        frames = tf.gather(inputs, resample_indices(tf.shape(inputs)[0], max_frames))
        frames = tf.pad(frames, [[0, 1], [0, 0]], constant_values=np.nan)[None]
        decoded = greedy_decode(model(frames, training=False))[0]
        chars = tf.boolean_mask(decoded, decoded >= 0)
        empty = tf.cast(tf.equal(tf.size(chars), 0), tf.int32)
        chars = tf.concat([chars, answer[: empty * tf.size(answer)]], axis=0)
        return {"outputs": tf.one_hot(chars, schema.N_CHARS, dtype=tf.float32)}

    return serve


def convert(model: keras.Model, n_columns: int, max_frames: int, precision: str = "fp16",
            fallback: str = schema.FALLBACK) -> bytes:  # fmt: skip
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}")
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serving_default",
                         serving_function(model, n_columns, max_frames, fallback))  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        archive.write_out(folder, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(folder, ["serving_default"])
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        if precision != "fp32":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if precision == "fp16":
            converter.target_spec.supported_types = [tf.float16]
        return converter.convert()


def write_submission(flatbuffer: bytes, columns: list[str], out: str) -> str:
    """model.tflite, inference_args.json and submission.zip holding just those two, in `out`
    (local or a bucket)."""
    if len(flatbuffer) > MAX_BYTES:
        size = len(flatbuffer) / 2**20
        raise TooLargeError(f"model is {size:.1f} MB; the competition allows 40 MB: "
                            "choose a smaller preset or --precision int8-dynamic")  # fmt: skip
    arguments = json.dumps({"selected_columns": columns})
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("model.tflite", flatbuffer)
        archive.writestr("inference_args.json", arguments)
    storage.makedirs(out)
    storage.write_bytes(storage.join(out, "model.tflite"), flatbuffer)
    storage.write_text(storage.join(out, "inference_args.json"), arguments)
    storage.write_bytes(storage.join(out, "submission.zip"), zipped.getvalue())
    return storage.join(out, "submission.zip")


def export(run: str, out: str, precision: str = "fp16") -> str:
    """The run's best weights → `out`/model.tflite, inference_args.json, submission.zip. Under
    any backend: conversion needs TensorFlow's, so elsewhere it runs in a TensorFlow process."""
    if keras.backend.backend() != "tensorflow":
        return _export_in_tensorflow_process(run, out, precision)
    model, config = load_trained(run)
    columns = schema.columns_for(model_landmarks(config.model_landmarks))
    flatbuffer = convert(model, len(columns), config.max_frames, precision,
                         schema.answer_to_empty(config.fallback))  # fmt: skip
    return write_submission(flatbuffer, columns, out)


def _export_in_tensorflow_process(run: str, out: str, precision: str) -> str:
    """A process's Keras backend is fixed once Keras is imported, and the weights file is
    backend-neutral: so a run trained under JAX is exported by `python -m fingerspell export`
    under TensorFlow, on the CPU (the accelerator stays with the process that holds it)."""
    path = [str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "CUDA_VISIBLE_DEVICES": "-1",
           "PYTHONPATH": os.pathsep.join(filter(None, path))}  # fmt: skip
    command = [sys.executable, "-m", "fingerspell", "export", "--run", str(run), "--out", str(out),
               "--precision", precision]  # fmt: skip
    print(f"exporting under the TensorFlow backend in a separate process (this one runs "
          f"{keras.backend.backend()})")  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:  # the converter's own error lines, not its long graph dump
        errors = [line for line in done.stderr.splitlines() if "rror" in line][-6:]
        detail = "\n".join(errors) or done.stderr  # a killed process prints no error line
        raise RuntimeError("export under TensorFlow failed:\n" + detail[-4000:])
    return storage.join(out, "submission.zip")


def op_summary(tflite_path: str) -> dict[str, int]:
    """Count of each operator in a TFLite file (all must be builtins for the competition), from
    TensorFlow's public model analyzer (`tf.lite.experimental.Analyzer`), which prints them."""
    report = io.StringIO()
    with contextlib.redirect_stdout(report):
        tf.lite.experimental.Analyzer.analyze(model_content=storage.read_bytes(tflite_path))
    return dict(sorted(Counter(re.findall(r"Op#\d+ (\w+)\(", report.getvalue())).items()))
