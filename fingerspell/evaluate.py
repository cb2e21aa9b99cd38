"""A Keras model read as the competition scores it: greedy decoding of an evaluation dataset
(validation every epoch, a run's sample predictions), across the processes of a multi-process
JAX run, and one sequence at a time as the evaluator feeds it (`KerasDecoder`, the parity check
of `check`)."""

from __future__ import annotations

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from fingerspell import dataset, devices, metric, records, schema
from fingerspell.features import model_landmarks
from fingerspell.model import decoding_model
from fingerspell.runs import BEST, load_trained


def truths_of(data: tf.data.Dataset) -> tuple[list[str], np.ndarray]:
    """The phrases of an evaluation dataset of (frames, labels, ids), and which of its rows are
    real (the rows that pad its last batch have id -1)."""
    truths, real = [], []
    for labels, ids in data.map(lambda frames, labels, ids: (labels, ids)).as_numpy_iterator():
        real += list(ids >= 0)
        truths += [schema.decode_indices(label) for label, i in zip(labels, ids) if i >= 0]
    return truths, np.array(real)


def predictions_of(decoder: keras.Model, data: tf.data.Dataset, real: np.ndarray,
                   fallback: str) -> list[str]:  # fmt: skip
    """The strings the exported file would answer for the real rows (greedy decoding through the
    decoder's compiled predict; the run's `fallback` for an empty decode)."""
    frames = data.map(lambda frames, labels, ids: frames)
    if keras.backend.backend() == "jax" and devices.local_hardware().processes > 1:
        decoded = _decode_across_processes(decoder, frames)
    else:
        decoded = decoder.predict(frames, verbose=0)
    return [schema.decode_prediction(row, fallback) for row in decoded[real]]


def _decode_across_processes(decoder: keras.Model, frames: tf.data.Dataset) -> np.ndarray:
    """`decoder.predict` for a multi-process JAX run, whose `predict` cannot gather outputs that
    span other processes' devices: each process feeds its rows of every (global) batch, and every
    process gets the whole decoded batch back."""
    import jax
    from jax.experimental import multihost_utils

    index, count = jax.process_index(), jax.process_count()
    weights = ([v.value for v in decoder.trainable_variables],
               [v.value for v in decoder.non_trainable_variables])  # fmt: skip
    decode = jax.jit(lambda trainable, other, x: decoder.stateless_call(trainable, other, x)[0])
    layout = None
    decoded = []
    for batch in frames.as_numpy_iterator():
        rows = np.split(batch, count)[index]
        layout = layout or keras.distribution.distribution().get_data_layout(rows.shape)
        spread = jax.make_array_from_process_local_data(layout.backend_layout, rows)
        decoded.append(multihost_utils.process_allgather(decode(*weights, spread), tiled=True))
    return np.concatenate(decoded)


def evaluate(decoder: keras.Model, data: tf.data.Dataset,
             fallback: str = schema.FALLBACK) -> tuple[list[str], list[str]]:  # fmt: skip
    """(truths, greedy-decoded predictions) of an evaluation dataset, padding rows left out."""
    truths, real = truths_of(data)
    return truths, predictions_of(decoder, data, real, fallback)


def sample_predictions(run: str, records_dir: str, n: int = 12) -> pd.DataFrame:
    """Truth vs greedy-decoded prediction of the first `n` validation sequences of a run."""
    model, config = load_trained(run)
    folds = dataset.training_folds(records.load_metadata(records_dir), config)[1] or [0]
    landmarks = model_landmarks(config.model_landmarks)
    data = dataset.make_dataset(records_dir, folds, n, config.max_frames, False, landmarks,
                                config.max_phrase)  # fmt: skip
    fallback = schema.answer_to_empty(config.fallback)
    truths, predictions = evaluate(decoding_model(model), data.take(1), fallback)
    table = pd.DataFrame({"truth": truths, "prediction": predictions})
    table["distance"] = [metric.edit_distance(t, p) for t, p in zip(truths, predictions)]
    return table


class KerasDecoder:
    """A run's Keras model, on the backend in force, fed as in training (resampled and
    NaN-padded to the frame budget), greedy-decoded, with the exported graph's fallback for an
    empty decode."""

    def __init__(self, run: str, weights: str = BEST):
        model, self.config = load_trained(run, weights)
        self.decoder = decoding_model(model)

    def __call__(self, frames: np.ndarray) -> str:
        padded, _ = dataset.fit_to_budget(tf.constant(frames), tf.constant([0]),
                                          self.config.max_frames, 1)  # fmt: skip
        decoded = self.decoder.predict_on_batch(padded.numpy()[None])  # one shape: compiled once
        return schema.decode_prediction(decoded[0], schema.answer_to_empty(self.config.fallback))
