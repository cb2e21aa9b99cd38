"""Training-only augmentations, applied per sequence inside the tf.data pipeline.

Each draws from stateless random ops seeded by (run seed + epoch, example index), so a resumed
run sees exactly the augmentations of an unbroken one. Frames are [T, 3K] columns (x block,
y block, z block) of the model's landmarks; NaN means "not detected" and stays NaN.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import tensorflow as tf

from fingerspell import schema
from fingerspell.config import Augmentation
from fingerspell.features import MIDDLE_KNUCKLE, WRIST
from fingerspell.schema import ASPECT


class Augmenter:
    """Random transforms of one training sequence, each applied with its probability from
    `Augmentation`. Every transform has two random streams of its own, one deciding whether it
    applies and one drawing its parameters, so no two transforms move together.

    There is no flip and no shift: the feature layer mirrors left-handed signers onto the right
    and measures every point from the hand's wrist or the sequence's mean, so a mirrored or
    shifted scene gives the model exactly the features of the original."""

    def __init__(self, probabilities: Augmentation, max_frames: int, landmarks: list[int],
                 max_phrase: int = 64, alignments=None):  # fmt: skip
        """`alignments`: `records.load_alignments`' table, which CutMix needs (without it, CutMix
        is off)."""
        self.p = probabilities
        self.spans = None if alignments is None else _SpanLookup(alignments)
        self.max_frames = max_frames
        self.max_phrase = max_phrase
        self.landmarks = list(landmarks)
        anchors = {schema.OFFSETS[hand] + point for hand in ("left_hand", "right_hand")
                   for point in (WRIST, MIDDLE_KNUCKLE)}  # fmt: skip
        self.anchors = np.array([[lm in anchors] for lm in self.landmarks])  # [K, 1]

    def __call__(self, frames, label, seed):
        spatial = [("rotate", self.rotate), ("shear", self.shear), ("scale", self.scale),
                   ("finger_drop", self.drop)]  # fmt: skip
        temporal = [("time_stretch", partial(self.stretch, label=label)),
                    ("frame_mask", partial(self.mask, label=label))]  # fmt: skip
        seeds = tf.random.experimental.stateless_split(
            tf.cast(seed, tf.int64), 2 * (len(spatial) + len(temporal)))
        k = len(self.landmarks)
        points = tf.transpose(tf.reshape(frames, [-1, 3, k]), [0, 2, 1])  # [T, K, 3]
        for n, (name, transform) in enumerate(spatial):
            points = self._maybe(getattr(self.p, name), seeds[2 * n], transform, points,
                                 seeds[2 * n + 1])  # fmt: skip
        frames = tf.reshape(tf.transpose(points, [0, 2, 1]), [-1, 3 * k])
        for n, (name, transform) in enumerate(temporal, start=len(spatial)):
            frames = self._maybe(getattr(self.p, name), seeds[2 * n], transform, frames,
                                 seeds[2 * n + 1])  # fmt: skip
        return frames, label

    def concat(self, first, second, seed):
        """Join two sequences and their phrases (a CutMix that needs no alignment), when the
        joined phrase fits the label budget; otherwise keep the first. Items are
        (frames, label, sequence_id); the first's id is kept."""
        (frames, label, sequence_id), (frames2, label2, _) = first, second
        fits = tf.shape(label)[0] + tf.shape(label2)[0] <= self.max_phrase
        go = (tf.random.stateless_uniform([], seed) < self.p.concat) & fits
        return tf.cond(
            go,
            lambda: (tf.concat([frames, frames2], 0), tf.concat([label, label2], 0), sequence_id),
            lambda: (frames, label, sequence_id),
        )

    @property
    def mixes(self) -> bool:
        """Whether training draws a partner sequence for each one (concat or CutMix)."""
        return self.p.concat > 0 or self.cutmixes

    @property
    def cutmixes(self) -> bool:
        return self.p.cutmix > 0 and self.spans is not None

    def cutmix(self, first, second, seed):
        """Temporal CutMix on aligned characters: a run of the first sequence's characters gives
        way to a run of the second's, frames and label alike, each run cut where `align` put its
        characters' boundaries. Either run is 1 to half the phrase long; where a sequence has no
        alignment, or the new phrase would not fit the label budget, the first is kept."""
        if not self.cutmixes:
            return first
        (frames, label, sequence_id), (frames2, label2, sequence_id2) = first, second
        gate, draw = tf.unstack(tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 2))
        bounds = self.spans.bounds(sequence_id, frames)
        bounds2 = self.spans.bounds(sequence_id2, frames2)
        aligned = ((tf.size(bounds) == tf.size(label) + 1)
                   & (tf.size(bounds2) == tf.size(label2) + 1) & (tf.size(label) > 0)
                   & (tf.size(label2) > 0))  # fmt: skip
        a, k, c, k2 = _runs(tf.size(label), tf.size(label2), draw)

        def mixed():
            kept = tf.concat([frames[: bounds[a]], frames2[bounds2[c]: bounds2[c + k2]],
                              frames[bounds[a + k]:]], 0)  # fmt: skip
            return kept, tf.concat([label[:a], label2[c: c + k2], label[a + k:]], 0), sequence_id

        fits = tf.size(label) - k + k2 <= self.max_phrase
        go = (tf.random.stateless_uniform([], gate) < self.p.cutmix) & aligned & fits
        return tf.cond(go, mixed, lambda: (frames, label, sequence_id))

    @staticmethod
    def _maybe(probability: float, gate, transform, value, seed):
        """`transform(value, seed)` with the given probability, decided by the `gate` stream."""
        if probability <= 0:
            return value
        go = tf.random.stateless_uniform([], gate) < probability
        return tf.cond(go, lambda: transform(value, seed), lambda: value)

    @staticmethod
    def _isotropic(points):
        return points * np.array([ASPECT, 1, ASPECT], "float32")

    @staticmethod
    def _image(points):
        return points / np.array([ASPECT, 1, ASPECT], "float32")

    def rotate(self, points, seed):
        """3D rotation about the frame centre, in isotropic units (x undone from width/height)."""
        angles = tf.random.stateless_uniform([3], seed, -1, 1) * np.radians([10, 10, 15])
        a, b, c = angles[0], angles[1], angles[2]
        one, zero = tf.ones([]), tf.zeros([])
        ca, sa, cb, sb, cc, sc = tf.cos(a), tf.sin(a), tf.cos(b), tf.sin(b), tf.cos(c), tf.sin(c)
        rx = tf.stack([[one, zero, zero], [zero, ca, -sa], [zero, sa, ca]])
        ry = tf.stack([[cb, zero, sb], [zero, one, zero], [-sb, zero, cb]])
        rz = tf.stack([[cc, -sc, zero], [sc, cc, zero], [zero, zero, one]])
        centre = np.array([0.5 * ASPECT, 0.5, 0], "float32")
        iso = self._isotropic(points) - centre
        return self._image(tf.einsum("tkj,ij->tki", iso, rz @ ry @ rx) + centre)

    def shear(self, points, seed):
        s = tf.random.stateless_uniform([2], seed, -0.15, 0.15)
        x = points[..., 0] + s[0] * (points[..., 1] - 0.5)
        y = points[..., 1] + s[1] * (points[..., 0] - 0.5)
        return tf.stack([x, y, points[..., 2]], -1)

    def scale(self, points, seed):
        s = tf.exp(tf.random.stateless_uniform([3], seed, -0.2, 0.2))
        return (points - 0.5) * s + 0.5

    def drop(self, points, seed):
        """Lose a few landmarks (fingers, lip points) for the whole sequence; never a hand's
        wrist or middle knuckle, which the features are anchored on."""
        keep = tf.random.stateless_uniform([tf.shape(points)[1], 1], seed) > 0.08
        keep = keep | self.anchors
        return tf.where(keep, points, float("nan"))

    def stretch(self, frames, seed, label):
        """Play faster or slower (nearest-frame resampling), never below one frame a character."""
        n = tf.shape(frames)[0]
        factor = tf.exp(tf.random.stateless_uniform([], seed, -0.3, 0.3))
        target = tf.cast(tf.round(tf.cast(n, tf.float32) * factor), tf.int32)
        target = tf.clip_by_value(target, tf.maximum(tf.shape(label)[0], 1), 2 * self.max_frames)
        index = tf.cast(tf.floor(tf.range(target, dtype=tf.float32) * tf.cast(n, tf.float32)
                                 / tf.cast(target, tf.float32)), tf.int32)  # fmt: skip
        return tf.gather(frames, tf.minimum(index, n - 1))

    def mask(self, frames, seed, label):
        """Blank out one block of up to 10 % of the frames."""
        n = tf.shape(frames)[0]
        share = 0.1 * tf.random.stateless_uniform([], seed)
        width = tf.cast(tf.cast(n, tf.float32) * share, tf.int32)
        start = tf.random.stateless_uniform([], seed[::-1], 0, tf.maximum(n - width, 1), tf.int32)
        t = tf.range(n)
        hidden = (t >= start) & (t < start + width)
        return tf.where(hidden[:, None], float("nan"), frames)


def _runs(length, length2, seed):
    """(start, size) of a run of characters in each phrase: 1 to half the phrase long."""
    draws = tf.random.stateless_uniform([4], seed)

    def run(n, u_size, u_start):
        size = 1 + tf.cast(u_size * tf.cast(tf.maximum(n // 2, 1), tf.float32), tf.int32)
        size = tf.minimum(size, tf.maximum(n, 1))
        start = tf.cast(u_start * tf.cast(tf.maximum(n - size + 1, 1), tf.float32), tf.int32)
        return tf.minimum(start, tf.maximum(n - size, 0)), size

    a, k = run(length, draws[0], draws[1])
    c, k2 = run(length2, draws[2], draws[3])
    return a, k, c, k2


class _SpanLookup:
    """Each aligned sequence's character boundaries, looked up by sequence id inside tf.data:
    the frame where each character begins, then the sequence's length."""

    def __init__(self, alignments):
        table = alignments.sort_values(["sequence_id", "position"])
        ids, rows = np.unique(table.sequence_id.to_numpy(), return_index=True)
        keys = tf.lookup.KeyValueTensorInitializer(tf.constant(ids, tf.int64),
                                                   tf.range(len(ids), dtype=tf.int64))
        self.rows = tf.lookup.StaticHashTable(keys, -1)
        lengths = np.diff(np.append(rows, len(table)))
        self.starts = tf.RaggedTensor.from_row_lengths(
            tf.constant(table.start.to_numpy(), tf.int32), tf.constant(lengths, tf.int64))

    def bounds(self, sequence_id, frames):
        """[characters + 1] frame boundaries, or an empty vector for an unaligned sequence."""
        row = self.rows.lookup(tf.cast(sequence_id, tf.int64))
        found = lambda: tf.concat([self.starts[tf.maximum(row, 0)], [tf.shape(frames)[0]]], 0)  # noqa: E731
        return tf.cond(row >= 0, found, lambda: tf.zeros([0], tf.int32))

