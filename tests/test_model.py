"""The Conv1D + Transformer CTC model: presets, shapes, padding, loss."""

import numpy as np
import pytest
import tensorflow as tf

from fingerspell.config import PRESETS, Config
from fingerspell.export import MAX_BYTES
from fingerspell.model import N_CLASSES, build_model, ctc_loss


@pytest.mark.parametrize("preset", list(PRESETS))
def test_presets_fit_the_size_limit_at_fp16(preset):
    params = build_model(Config(preset=preset)).count_params()
    assert 2 * params <= MAX_BYTES
    if preset == "tiny":
        assert params < 1_000_000
    if preset == "base":  # the 2nd place's class: ≈ 11 MB at fp16
        assert 8e6 <= 2 * params <= 12 * 2**20


def test_output_shape_and_blank_on_padding():
    model = build_model(Config())
    frames = np.random.default_rng(0).uniform(size=(2, 30, model.input_shape[-1]))
    frames = frames.astype(np.float32)
    frames[1, 20:] = np.nan  # padding: nothing detected
    logits = model(frames, training=False).numpy()
    assert logits.shape == (2, 30, N_CLASSES)
    assert (logits[1, 20:].argmax(-1) == N_CLASSES - 1).all()
    assert np.isfinite(logits).all()


def test_ctc_loss_is_finite_and_zero_for_impossible_alignments():
    logits = tf.random.stateless_normal([4, 10, N_CLASSES], [1, 2])
    labels = tf.constant([[1, 2, 3] + [-1] * 9, [4, 4] + [-1] * 10, list(range(12)),
                          [5] * 6 + [-1] * 6])  # fmt: skip
    loss = ctc_loss(labels, logits).numpy()
    assert np.isfinite(loss).all()
    assert loss[0] > 0 and loss[1] > 0
    assert loss[2] == 0  # 12 characters cannot align to 10 frames
    assert loss[3] == 0  # 6 repeated characters need 11 frames (a blank between each pair)


def test_a_few_steps_reduce_the_loss():
    import keras

    keras.utils.set_random_seed(0)
    model = build_model(Config())
    model.compile(keras.optimizers.Adam(3e-3), loss=ctc_loss)
    frames = np.random.default_rng(1).uniform(size=(4, 40, model.input_shape[-1]))
    labels = np.full((4, 8), -1)
    labels[:, :3] = [[1, 2, 3], [4, 5, 6], [7, 8, 9], [1, 5, 9]]
    first = model.train_on_batch(frames.astype(np.float32), labels)
    for _ in range(20):
        last = model.train_on_batch(frames.astype(np.float32), labels)
    assert last < 0.5 * first
