"""The Conv1D + Transformer CTC model: presets, shapes, padding, loss, decoding, precision.
Backend-neutral: tests/test_jax.py runs this file again under JAX."""

import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from fingerspell import model as model_module
from fingerspell import schema
from fingerspell.config import PRESETS, Config
from fingerspell.features import model_landmarks
from fingerspell.model import (
    N_CLASSES,
    build_model,
    compiled_step_flops,
    ctc_loss,
    greedy_decode,
    training_flops,
)
from tests.conftest import once

MAX_BYTES = 40 * 1024 * 1024  # the competition's limit (export.MAX_BYTES; export needs TensorFlow)


@pytest.mark.parametrize("preset", list(PRESETS))
def test_presets_fit_the_size_limit_at_fp16(preset):
    params = build_model(Config(preset=preset)).count_params()
    assert 2 * params <= MAX_BYTES
    if preset == "tiny":
        assert params < 1_000_000
    if preset == "base":  # the 2nd place's class: ≈ 11 MB at fp16
        assert 8e6 <= 2 * params <= 12 * 2**20
    if preset == "large":  # fills the budget, with room for the file's own bytes
        assert 20 * 2**20 <= 2 * params <= 36 * 2**20


def test_output_shape_and_blank_on_padding():
    model = build_model(Config())
    frames = np.random.default_rng(0).uniform(size=(2, 30, model.input_shape[-1]))
    frames = frames.astype(np.float32)
    frames[1, 20:] = np.nan  # padding: nothing detected
    logits = keras.ops.convert_to_numpy(model(frames, training=False))
    assert logits.shape == (2, 30, N_CLASSES)
    assert (logits[1, 20:].argmax(-1) == N_CLASSES - 1).all()
    assert np.isfinite(logits).all()


def test_batch_norm_statistics_ignore_padding_frames():
    """One training call on the same sequence, unpadded and padded to three times its length:
    every batch norm's moving statistics come out the same."""
    PRESETS["tiny-no-dropout"] = {**PRESETS["tiny"], "dropout": 0.0}
    columns = build_model(Config()).input_shape[-1]
    frames = np.random.default_rng(3).uniform(size=(2, 20, columns)).astype(np.float32)
    padded = np.concatenate([frames, np.full((2, 40, columns), np.nan, np.float32)], 1)

    def statistics(batch):
        keras.utils.set_random_seed(0)
        model = build_model(Config(preset="tiny-no-dropout"))
        model(batch, training=True)
        return [keras.ops.convert_to_numpy(v) for v in model.non_trainable_variables
                if "moving" in v.path]  # fmt: skip

    unpadded, with_padding = statistics(frames), statistics(padded)
    assert len(unpadded) == 2 * 7  # stem + 6 conv blocks, mean and variance each
    for a, b in zip(unpadded, with_padding, strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-6)


def test_ctc_loss_is_finite_and_zero_for_impossible_alignments():
    logits = np.random.default_rng(2).normal(size=(4, 10, N_CLASSES)).astype(np.float32)
    labels = np.array([[1, 2, 3] + [-1] * 9, [4, 4] + [-1] * 10, list(range(12)),
                       [5] * 6 + [-1] * 6, [-1] * 12])  # fmt: skip
    loss = keras.ops.convert_to_numpy(ctc_loss(labels, np.concatenate([logits, logits[:1]])))
    assert np.isfinite(loss).all()
    assert loss[0] > 0 and loss[1] > 0
    assert loss[2] == 0  # 12 characters cannot align to 10 frames
    assert loss[3] == 0  # 6 repeated characters need 11 frames (a blank between each pair)
    assert loss[4] == 0  # an empty label (a padding row of an evaluation batch)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TensorFlow's own kernel")
def test_tensorflows_ctc_kernel_agrees_with_keras_ctc_loss():
    """On a CPU TensorFlow sums the CTC paths with its sparse-label kernel (`_ctc_per_sequence`):
    loss and gradient equal those of `keras.ops.ctc_loss`, repeats and padding included."""
    import tensorflow as tf

    assert model_module._tensorflow_on_cpu_only()
    rng = np.random.default_rng(5)
    logits = tf.constant(rng.normal(0, 3, size=(3, 40, N_CLASSES)).astype(np.float32))
    labels = np.full((3, 16), -1)
    labels[0, :5] = [1, 1, 2, 58, 0]
    labels[1, :16] = rng.integers(0, 59, 16)
    labels[2, :1] = [7]
    length = (labels >= 0).sum(1)
    frames = np.full(3, 40)

    def loss_and_gradient(ctc):
        with tf.GradientTape() as tape:
            tape.watch(logits)
            loss = ctc(logits)
            total = tf.reduce_sum(loss)
        return loss.numpy(), tape.gradient(total, logits).numpy()

    ours = loss_and_gradient(lambda x: model_module._ctc_per_sequence(labels, x, length))
    keras_s = loss_and_gradient(lambda x: keras.ops.ctc_loss(
        np.maximum(labels, 0), x, length, frames, mask_index=N_CLASSES - 1))  # fmt: skip
    np.testing.assert_allclose(ours[0], keras_s[0], rtol=1e-5)
    np.testing.assert_allclose(ours[1], keras_s[1], atol=1e-4)


@pytest.fixture
def one_block(monkeypatch) -> Config:
    """`tiny` with one block: what these tests check does not depend on depth, compiling does."""
    monkeypatch.setitem(PRESETS, "one-block", {**PRESETS["tiny"], "blocks": 1})
    return Config(preset="one-block")


def _logits(path):
    out = np.zeros((1, len(path), N_CLASSES), np.float32)
    out[0, np.arange(len(path)), path] = 1
    return out


def test_greedy_decode_collapses_repeats_drops_blanks_and_keeps_the_last_run():
    b = schema.BLANK
    a, el = schema.char_to_index()["a"], schema.char_to_index()["l"]
    path = [b, a, a, b, el, el, b, el, a]  # "a", "l", "l" separated by a blank, final "a" kept
    decoded = keras.ops.convert_to_numpy(greedy_decode(_logits(path)))
    assert decoded.tolist() == [[-1, a, -1, -1, el, -1, -1, el, a]]
    assert schema.decode_indices(decoded[0]) == "alla"


def test_greedy_decode_takes_the_first_of_tied_classes():
    logits = np.zeros((1, 2, N_CLASSES), np.float32)
    logits[0, :, [3, 7]] = 1.0  # classes 3 and 7 tie in both frames
    assert keras.ops.convert_to_numpy(greedy_decode(logits)).tolist() == [[3, -1]]


@pytest.fixture
def policy():
    """Sets a global dtype policy for one test and restores float32 after it."""
    yield keras.mixed_precision.set_global_policy
    keras.mixed_precision.set_global_policy("float32")


@pytest.mark.parametrize("precision", ["float32", "mixed_bfloat16", "mixed_float16"])
def test_one_training_step_under_each_precision(policy, one_block, precision):
    """The feature layer and the head stay float32; the body computes in the policy's type;
    the loss is finite and falls (float16's loss scaling may skip its first steps: there the
    weights must still move)."""
    policy(precision)
    keras.utils.set_random_seed(0)
    model = build_model(one_block)
    compute = precision.removeprefix("mixed_")
    assert model.get_layer("features").compute_dtype == "float32"
    assert model.get_layer("stem").compute_dtype == compute
    assert model.get_layer("conv0_0").compute_dtype == compute
    model.compile(keras.optimizers.AdamW(3e-3), loss=ctc_loss)
    rng = np.random.default_rng(1)
    frames = rng.uniform(size=(4, 40, model.input_shape[-1])).astype(np.float32)
    frames[1, 30:] = np.nan  # padding
    labels = np.full((4, 8), -1)
    labels[:, :3] = [[1, 2, 3], [4, 5, 6], [7, 8, 9], [1, 5, 9]]
    before = [w.copy() for w in model.get_weights()]
    losses = [float(model.train_on_batch(frames, labels)) for _ in range(6)]
    assert np.isfinite(losses).all(), losses
    if precision != "mixed_float16":
        assert losses[-1] < 0.8 * losses[0], losses
    after = model.get_weights()
    assert all(np.isfinite(w).all() for w in after)
    assert any(not np.array_equal(a, b) for a, b in zip(before, after))
    logits = model.predict(frames, verbose=0)
    assert logits.dtype == np.float32 and np.isfinite(logits).all()


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="XLA's FLOP count is read under JAX")
def test_the_flop_estimate_agrees_with_xla():
    """The plan's projection rests on this count: the competition model's forward pass, as XLA
    compiles it, costs a third of the estimated training FLOPs."""
    import jax

    from fingerspell import recipes

    config = recipes.train_config("competition")
    model = build_model(config)
    frames = np.zeros((1, config.max_frames, model.input_shape[-1]), "float32")
    weights = [[v.value for v in group] for group in
               (model.trainable_variables, model.non_trainable_variables)]  # fmt: skip
    forward = jax.jit(lambda w, n, x: model.stateless_call(w, n, x)[0])
    cost = forward.lower(*weights, frames).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost  # a list on older jax
    assert cost["flops"] == pytest.approx(training_flops(model, config) / 3, rel=0.05)


def test_both_forms_of_the_depthwise_convolution_agree():
    """Shifted products (what JAX trains with) and the grouped convolution (TensorFlow, TFLite)
    compute the same function of the same weights."""
    layer = model_module.CausalDepthwiseConv1D(5, use_bias=False)
    frames = np.random.default_rng(0).normal(size=(2, 20, 8)).astype("float32")
    outputs = []
    try:
        for shifted in (False, True):
            model_module.CausalDepthwiseConv1D.shifted = shifted
            outputs.append(keras.ops.convert_to_numpy(layer(frames)))
    finally:
        model_module.CausalDepthwiseConv1D.shifted = keras.backend.backend() == "jax"
    assert outputs[0].shape == (2, 16, 8)
    np.testing.assert_allclose(outputs[1], outputs[0], rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="XLA's FLOP count is read under JAX")
def test_the_compiled_training_step_costs_what_the_plan_estimates():
    """The whole step XLA compiles (forward, CTC, gradient, update) within 1.3× the estimate the
    plan projects from; the depthwise convolutions' grouped filter gradient made it 3×."""
    config = Config(batch_size=2)
    model = build_model(config)
    model.compile(keras.optimizers.AdamW(1e-4), loss=ctc_loss)
    frames = np.zeros((2, config.max_frames, model.input_shape[-1]), "float32")
    labels = np.full((2, config.max_phrase), -1, "int32")
    labels[:, :20] = 3
    ratio = compiled_step_flops(model, frames, labels) / training_flops(model, config)
    assert 0.9 < ratio < 1.3, ratio


AGREEMENT = textwrap.dedent(
    """
    import sys
    import keras, numpy as np
    from fingerspell.config import PRESETS, Config
    from fingerspell.model import build_model, ctc_loss
    from fingerspell.model import make_optimizer
    folder, backend = sys.argv[1], keras.backend.backend()
    PRESETS["one-block"] = {**PRESETS["tiny"], "blocks": 1, "dropout": 0.0}
    config = Config(preset="one-block", warmup_epochs=0)
    keras.utils.set_random_seed(0)
    model = build_model(config)
    if backend == "tensorflow":  # the first process draws the initial weights
        model.save_weights(f"{folder}/initial.weights.h5")
    model.load_weights(f"{folder}/initial.weights.h5")
    batch = np.load(f"{folder}/batch.npz")
    logits = keras.ops.convert_to_numpy(model(batch["frames"], training=False))
    model.compile(make_optimizer(config, 10, 1e-3), loss=ctc_loss)
    loss = model.train_on_batch(batch["frames"], batch["labels"])
    # The gradient itself: one plain SGD step of rate 1 from the same weights moves each
    # trainable weight by minus its gradient.
    plain = build_model(config)
    plain.load_weights(f"{folder}/initial.weights.h5")
    plain.compile(keras.optimizers.SGD(1.0), loss=ctc_loss)
    before = [keras.ops.convert_to_numpy(v.value) for v in plain.trainable_variables]
    plain.train_on_batch(batch["frames"], batch["labels"])
    gradients = [b - keras.ops.convert_to_numpy(v.value)
                 for b, v in zip(before, plain.trainable_variables)]
    np.savez(f"{folder}/{backend}.npz", logits=logits, loss=loss,
             **{f"w{i}": w for i, w in enumerate(model.get_weights())},
             **{f"g{i}": g for i, g in enumerate(gradients)})
    """
)


@pytest.mark.slow
@once
def test_tensorflow_and_jax_agree_on_logits_loss_and_one_update(tmp_path):
    """The same initial weights and batch in a TensorFlow and a JAX process: the logits, the CTC
    loss (TensorFlow's C++ kernel on this CPU, JAX's compiled scan) and the weights after one
    AdamW step agree. Tolerances: float32 kernels of two compilers differ in summation order
    (logits 1e-4; measured 1.4e-5 of logits up to 30; loss 1e-5 relative, measured 1e-7); Adam
    divides each gradient by its own size, so where a gradient is about zero the two updates
    (each at most lr, and weight decay's share, in size) can part by as much as their sum: the
    weights after the step agree to lr/100 except on at most 0.1 % of the entries (measured
    0.01 %; the largest 8.8e-5 at this seed, 6.3e-5 to 1.2e-4 unseeded), everywhere to 2.2 lr.
    Since that step barely depends on the gradient's size, the gradients are compared as well,
    from one plain SGD step each."""
    rng = np.random.default_rng(3)
    frames = rng.uniform(0.2, 0.8, (4, 48, 3 * len(model_landmarks("model")))).astype(np.float32)
    frames[2, 36:] = np.nan  # padding
    labels = np.full((4, 10), -1)
    labels[:, :4] = [[1, 2, 3, 4], [5, 5, 6, 7], [8, 9, 10, 11], [12, 13, 13, 14]]
    np.savez(tmp_path / "batch.npz", frames=frames, labels=labels)
    for backend in ("tensorflow", "jax"):
        env = {**os.environ, "KERAS_BACKEND": backend}
        done = subprocess.run([sys.executable, "-c", AGREEMENT, str(tmp_path)], env=env,
                              capture_output=True, text=True, timeout=600)  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
    tf_run, jax_run = (np.load(tmp_path / f"{b}.npz") for b in ("tensorflow", "jax"))
    np.testing.assert_allclose(jax_run["logits"], tf_run["logits"], atol=1e-4)
    np.testing.assert_allclose(jax_run["loss"], tf_run["loss"], rtol=1e-5)
    lr = 1e-3
    weights = [k for k in tf_run.files if k.startswith("w")]
    difference = np.concatenate([np.abs(jax_run[k] - tf_run[k]).ravel() for k in weights])
    assert difference.max() <= 2.2 * lr
    assert np.mean(difference > lr / 100) <= 0.001
    # Adam's first step is about lr · sign(gradient): the gradients themselves, compared.
    # Measured: the largest gradient 19.3, the largest difference 9e-5 (5e-6 of it).
    names = [k for k in tf_run.files if k.startswith("g")]
    tf_grad, jax_grad = (np.concatenate([run[k].ravel() for k in names])
                         for run in (tf_run, jax_run))  # fmt: skip
    np.testing.assert_allclose(jax_grad, tf_grad, rtol=1e-3, atol=2e-5 * np.abs(tf_grad).max())
