"""The Conv1D + Transformer CTC model (the family of the competition's best solutions).

landmark columns → `LandmarkFeatures` → dense stem → [Conv1D block ×3 + Transformer block] ×N →
CTC head over 59 characters + blank. Conv block: expand → causal depthwise conv → batch norm →
efficient channel attention → project → dropout, residual. Transformer block: pre-norm
multi-head self-attention with the padding mask, feed-forward, residual. Time stays dynamic, so
the same graph serves static-shape training batches and single variable-length TFLite calls.

Only `keras.ops`: the model, its loss and its greedy decoding run under JAX and TensorFlow alike.
Under mixed precision the feature layer (`LandmarkFeatures`) and the logits stay float32. Batch
norms take their statistics over the real frames of the global batch (`FrameBatchNorm`).
"""

from __future__ import annotations

import time

import keras
import numpy as np
from keras import layers, ops

from fingerspell import schema
from fingerspell.config import Config
from fingerspell.features import LandmarkFeatures, model_landmarks

# Batch statistics over all replicas: MirroredStrategy must be asked to; JAX's DataParallel
# computes them over the global batch anyway (one program over the sharded batch), and refuses
# the flag.
SYNC_BATCH_NORM = keras.backend.backend() == "tensorflow"

N_CLASSES = schema.N_CHARS + 1  # characters + CTC blank (the last class)
BLANK = schema.BLANK


@keras.saving.register_keras_serializable("fingerspell")
class ECA(layers.Layer):
    """Efficient channel attention: channel weights from a 1D conv over the pooled channels."""

    def __init__(self, kernel: int = 5, **kwargs):
        super().__init__(**kwargs)
        self.kernel = kernel
        self.conv = layers.Conv1D(1, kernel, padding="same", use_bias=False)

    def call(self, x, mask):
        weight = ops.cast(mask, x.dtype)[..., None]
        pooled = ops.sum(x * weight, axis=1) / ops.maximum(ops.sum(weight, axis=1), 1.0)
        gate = ops.sigmoid(self.conv(pooled[..., None]))[..., 0]  # [B, C]
        return x * gate[:, None, :]

    def get_config(self):
        return {**super().get_config(), "kernel": self.kernel}


@keras.saving.register_keras_serializable("fingerspell")
class FrameBatchNorm(layers.BatchNormalization):
    """Batch norm whose statistics count real frames only (call it with `mask`: the frames that
    saw something), over all replicas where `synchronized`; it hands no mask on to the layers
    after it, which take the frame mask as an argument instead."""

    def __init__(self, **kwargs):
        super().__init__(**{"synchronized": SYNC_BATCH_NORM, **kwargs})

    def _moments(self, inputs, mask):
        # Overrides Keras' hook because its masked moments are never synchronised across
        # replicas. These are: E[x·m] and E[(x·m)²] over the global batch, each divided by the
        # global share of real frames E[m].
        if mask is None:
            return super()._moments(inputs, mask)
        axes = list(range(len(inputs.shape) - 1))
        real = ops.cast(mask, inputs.dtype)[..., None]
        mean_y, var_y = ops.moments(inputs * real, axes, synchronized=self.synchronized)
        share = ops.maximum(ops.moments(real, axes, synchronized=self.synchronized)[0], 1e-6)
        mean = mean_y / share
        return mean, ops.maximum((var_y + ops.square(mean_y)) / share - ops.square(mean), 0.0)

    def compute_mask(self, inputs, mask=None):
        return None


@keras.saving.register_keras_serializable("fingerspell")
class CausalDepthwiseConv1D(layers.DepthwiseConv1D):
    """A depthwise convolution over frames already padded on the left (valid, no bias), with the
    weights of `DepthwiseConv1D`. Under JAX it is computed as `kernel_size` shifted products:
    XLA lowers the grouped convolution's filter gradient as a dense convolution over all the
    channels, hundreds of times the useful work (BENCHMARKS.md, "The compiled training step"),
    while the products' gradient costs what they do. TensorFlow keeps the native kernel: the
    fastest where XLA does not compile the step (a CPU), and the single operator TFLite gets."""

    shifted = keras.backend.backend() == "jax"  # a class attribute, so benchmarks can compare

    def call(self, inputs):
        if not self.shifted:
            return super().call(inputs)
        taps = self.kernel_size[0]
        frames = ops.shape(inputs)[1] - taps + 1
        kernel = ops.cast(self.kernel[:, :, 0], inputs.dtype)  # [taps, channels]
        out = inputs[:, :frames] * kernel[0]
        for tap in range(1, taps):
            out = out + inputs[:, tap : tap + frames] * kernel[tap]
        return out


@keras.saving.register_keras_serializable("fingerspell")
class ConvBlock(layers.Layer):
    def __init__(self, dim: int, kernel: int, expand: int, dropout: float, **kwargs):
        super().__init__(**kwargs)
        self.settings = {"dim": dim, "kernel": kernel, "expand": expand, "dropout": dropout}
        self.expand = layers.Dense(dim * expand, activation="swish")
        self.pad = layers.ZeroPadding1D((kernel - 1, 0))  # causal: no frame sees the future
        self.depthwise = CausalDepthwiseConv1D(kernel, use_bias=False)
        self.norm = FrameBatchNorm(momentum=0.95)
        self.eca = ECA()
        self.project = layers.Dense(dim)
        self.dropout = layers.Dropout(dropout, noise_shape=(None, 1, 1))

    def call(self, x, mask, training=None):
        weight = ops.cast(mask, x.dtype)[..., None]
        y = self.expand(x) * weight
        y = self.depthwise(self.pad(y))
        y = self.eca(self.norm(y, training=training, mask=mask > 0.5), mask)
        return x + self.dropout(self.project(y), training=training)

    def get_config(self):
        return {**super().get_config(), **self.settings}


@keras.saving.register_keras_serializable("fingerspell")
class TransformerBlock(layers.Layer):
    def __init__(self, dim: int, heads: int, expand: int, dropout: float, **kwargs):
        super().__init__(**kwargs)
        self.settings = {"dim": dim, "heads": heads, "expand": expand, "dropout": dropout}
        self.norm1 = layers.LayerNormalization()
        self.attention = layers.MultiHeadAttention(heads, dim // heads, dropout=dropout)
        self.norm2 = layers.LayerNormalization()
        self.feed = layers.Dense(dim * expand, activation="swish")
        self.back = layers.Dense(dim)
        self.dropout = layers.Dropout(dropout, noise_shape=(None, 1, 1))

    def call(self, x, mask, training=None):
        present = mask > 0.5
        attend = present[:, None, :] & present[:, :, None]
        y = self.norm1(x)
        x = x + self.dropout(self.attention(y, y, attention_mask=attend, training=training),
                             training=training)  # fmt: skip
        y = self.back(self.feed(self.norm2(x)))
        return x + self.dropout(y, training=training)

    def get_config(self):
        return {**super().get_config(), **self.settings}


@keras.saving.register_keras_serializable("fingerspell")
class BlankOnPadding(layers.Layer):
    """Padding frames predict blank with certainty, so CTC can run over the full frame budget."""

    def call(self, logits, mask):
        blank = ops.one_hot(ops.full(ops.shape(logits)[:2], BLANK, dtype="int32"), N_CLASSES) * 30.0
        return ops.where(mask[..., None] > 0.5, logits, ops.cast(blank, logits.dtype))


def build_model(config: Config) -> keras.Model:
    settings = config.model
    landmarks = model_landmarks(config.model_landmarks)
    dim, drop = int(settings["dim"]), float(settings["dropout"])
    inputs = keras.Input((None, 3 * len(landmarks)), name="inputs")
    features, mask = LandmarkFeatures(landmarks, name="features")(inputs)
    x = layers.Dense(dim, use_bias=False, name="stem")(features)
    x = FrameBatchNorm(momentum=0.95, name="stem_norm")(x, mask=mask > 0.5)
    for b in range(int(settings["blocks"])):
        for c in range(3):
            block = ConvBlock(dim, int(settings["kernel"]), int(settings["expand"]), drop,
                              name=f"conv{b}_{c}")  # fmt: skip
            x = block(x, mask)
        x = TransformerBlock(dim, int(settings["heads"]), int(settings["expand"]), drop,
                             name=f"transformer{b}")(x, mask)  # fmt: skip
    x = layers.LayerNormalization(name="head_norm")(x)
    x = layers.Dropout(drop * 2, name="head_dropout")(x)
    logits = layers.Dense(N_CLASSES, name="logits", dtype="float32")(x)
    logits = BlankOnPadding(name="blank_on_padding", dtype="float32")(logits, mask)
    return keras.Model(inputs, logits, name=f"fingerspell_{config.preset}")


def training_flops(model: keras.Model, config: Config) -> float:
    """Useful FLOPs of one training step, per sequence, at the frame budget T: every weight of
    this model acts once on each frame (2 FLOPs), attention adds 4·T²·dim per block, and the
    backward pass costs twice the forward. The convention of model-FLOPs utilisation; within 5 %
    of XLA's count of the compiled forward pass (tests/test_model.py)."""
    frames, settings = config.max_frames, config.model
    attention = 4 * frames**2 * int(settings["dim"]) * int(settings["blocks"])
    return 3.0 * (2 * frames * model.count_params() + attention)


def seconds_per_step(model: keras.Model, frames, labels, steps: int = 3) -> float:
    """A compiled model's training step on one fixed batch, timed after two warm-up steps (which
    compile it)."""
    for _ in range(2):
        model.train_on_batch(frames, labels)
    started = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(frames, labels)
    return (time.perf_counter() - started) / steps


def compiled_step_flops(model: keras.Model, frames, labels) -> float | None:
    """XLA's count of one compiled training step (forward, CTC loss, gradient, optimizer
    update) on this batch, per sequence; None unless the backend is JAX. The step is built from
    Keras' public stateless calls, as its JAX trainer builds it; the model is compiled. It is
    compiled for the host's CPU whatever JAX runs on: a GPU's count leaves out the matrix
    products XLA hands to cuBLAS (jax-ml/jax#22249): 5.6–27.6 of `large`'s 46 GFLOP a sequence
    on an H200 (BENCHMARKS.md, "On a GPU")."""
    if keras.backend.backend() != "jax":
        return None
    import jax

    optimizer = model.optimizer
    optimizer.build(model.trainable_variables)

    def step(trainable, non_trainable, optimizer_state, x, y):
        def loss_of(trainable, non_trainable):
            logits, non_trainable = model.stateless_call(trainable, non_trainable, x,
                                                         training=True)  # fmt: skip
            return keras.ops.mean(ctc_loss(y, logits)), non_trainable

        (loss, non_trainable), grads = jax.value_and_grad(loss_of, has_aux=True)(
            trainable, non_trainable)  # fmt: skip
        return loss, optimizer.stateless_apply(optimizer_state, grads, trainable)

    # On one CPU device: the program is compiled for the whole batch, whatever the distribution
    # (a sharded program's count would be one device's share).
    groups = (model.trainable_variables, model.non_trainable_variables, optimizer.variables)
    state = [[np.asarray(v.value) for v in group] for group in groups]
    state, frames, labels = jax.device_put((state, frames, labels), jax.devices("cpu")[0])
    cost = jax.jit(step).lower(*state, frames, labels).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost  # a list on older jax
    return cost["flops"] / len(frames)


def ctc_loss(labels, logits):
    """Per-sequence CTC loss; labels padded with -1. Training weighs each example by whether CTC
    can align it within its real frames (`dataset.ctc_feasible`); here a label that cannot fit
    even the padded length, or an empty one, contributes 0 too (both backends return a large
    finite value there, not inf)."""
    labels = ops.cast(labels, "int32")
    valid = labels >= 0
    label_length = ops.sum(ops.cast(valid, "int32"), axis=1)
    repeats = ops.sum(ops.cast((labels[:, 1:] == labels[:, :-1]) & valid[:, 1:], "int32"), axis=1)
    empty = label_length == 0
    # An empty label gets one character, so that every kernel accepts it; its loss is masked.
    first = ops.arange(ops.shape(labels)[1]) == 0
    labels = ops.where(empty[:, None] & first[None, :], 0, labels)
    loss = _ctc_per_sequence(labels, ops.cast(logits, "float32"), ops.maximum(label_length, 1))
    feasible = ~empty & (label_length + repeats <= ops.shape(logits)[1]) & ops.isfinite(loss)
    return ops.where(feasible, loss, ops.zeros_like(loss))


def _ctc_per_sequence(labels, logits, label_length):
    """CTC over every frame of `logits`; `labels` hold `label_length` characters, then -1.
    TensorFlow's `ops.ctc_loss` is a scan of small ops over time: 0.82 s forward and backward
    for 32 sequences × 160 frames on 2 CPU cores, 85 % of the demo's training step. Its
    sparse-label kernel sums the same paths in C++ in 0.018 s (BENCHMARKS.md, issue 13), so
    TensorFlow on a CPU-only machine uses it (tests/test_model.py checks the two agree). Where a
    GPU is present Keras compiles the step with XLA, which has no such kernel, and JAX compiles
    its scan anyway: both keep `ops.ctc_loss`."""
    frames = ops.full((ops.shape(logits)[0],), ops.shape(logits)[1], dtype="int32")
    if _tensorflow_on_cpu_only():
        import tensorflow as tf

        present = tf.sparse.from_dense(tf.cast(labels, tf.int32) + 1)  # -1 → 0: left out
        sparse = tf.SparseTensor(present.indices, present.values - 1, present.dense_shape)
        # Its blank is the last class, as ours; labels too long for the frames cost 0 here.
        return tf.compat.v1.nn.ctc_loss(sparse, logits, frames, time_major=False,
                                        ignore_longer_outputs_than_inputs=True)  # fmt: skip
    return ops.ctc_loss(ops.maximum(labels, 0), logits, label_length, frames, mask_index=BLANK)


def _tensorflow_on_cpu_only() -> bool:
    if keras.backend.backend() != "tensorflow":
        return False
    import tensorflow as tf

    return not tf.config.list_physical_devices("GPU")


def greedy_decode(logits):
    """Best path of a batch [B, T, classes] → [B, T] character indices, -1 where CTC drops a
    frame (a blank, or a repeat of the previous frame's class). The one decoding rule of the
    project: validation, the Keras parity check and the exported graph all use it."""
    # argmax of the integer "is the maximum" mask: the first best class, as a float argmax, but
    # TensorFlow's float argmax adds a -0.0 test (BitwiseAnd) that TFLite has no builtin for.
    is_best = ops.cast(logits >= ops.max(logits, axis=-1, keepdims=True), "int32")
    best = ops.argmax(is_best, axis=-1)
    previous = ops.concatenate([ops.full_like(best[:, :1], -1), best[:, :-1]], axis=1)
    return ops.where((best != previous) & (best != BLANK), best, -1)


def decoding_model(model: keras.Model) -> keras.Model:
    """The model with greedy decoding on top, so `predict` returns [B, T] indices (small enough
    to gather from every device) through the compiled prediction path of any backend."""
    # float32 like the logits: under a mixed policy the Lambda would cast them down before argmax.
    decoded = layers.Lambda(greedy_decode, name="greedy_decode", dtype="float32")(model.output)
    return keras.Model(model.input, decoded, name=f"{model.name}_decoder")


def _schedule(config: Config, steps_per_epoch: int, peak: float):
    total = max(1, config.epochs * steps_per_epoch)
    warmup = min(int(config.warmup_epochs * steps_per_epoch), total - 1)
    return keras.optimizers.schedules.CosineDecay(
        0.0, decay_steps=total - warmup, warmup_target=peak, warmup_steps=warmup, alpha=0.02,
    )  # fmt: skip


def make_optimizer(config: Config, steps_per_epoch: int, peak: float) -> keras.Optimizer:
    """AdamW with warm-up and cosine decay; norm scales, shifts and biases are not decayed
    (decay pulls them towards 0, which for a norm's scale means switching the layer off). With
    `config.ema`, it also keeps the weights' moving average (Keras' `use_ema`)."""
    optimizer = keras.optimizers.AdamW(
        _schedule(config, steps_per_epoch, peak), weight_decay=config.weight_decay,
        global_clipnorm=config.clip_norm, use_ema=config.ema > 0,
        ema_momentum=config.ema or 0.99,
    )  # fmt: skip
    optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
    return optimizer
