"""Feature preprocessing, one Keras layer used by training and inside the exported TFLite graph.

Written with `keras.ops` that convert to TFLite builtins: NaN is detected as "not |x| < 1e6" (no
IsFinite in TFLite) and branches are `where` selections.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from fingerspell import schema

LIMIT = 1e6  # anything larger (or NaN, or inf) counts as "not detected"
POSE_UPPER = list(range(25))  # face, shoulders, arms, hands and hips of MediaPipe pose
# The hand points the features are anchored on: the wrist (origin) and the middle knuckle (the
# palm length is wrist → 9). Augmentations must never remove them.
WRIST, MIDDLE_KNUCKLE = 0, 9


def model_landmarks(name: str) -> list[int]:
    """The landmarks a model reads. "model": both hands, upper-body pose, lips."""
    if name == "model":
        subsets = schema.landmark_subsets()
        pose = [schema.OFFSETS["pose"] + i for i in POSE_UPPER]
        return sorted(subsets["hands"] + pose + subsets["lips"])
    return schema.resolve_landmarks(name)


@keras.saving.register_keras_serializable("fingerspell")
class LandmarkFeatures(keras.layers.Layer):
    """[B, T, 3K] landmark columns (x block, y block, z block) → [B, T, F] features.

    Per sequence: picks the signing hand (the one held higher, on average over the frames it was
    seen in; the only one seen, if only one is) and mirrors left-handed signers onto the right
    (`schema.mirror_partner`: hands, pose and face); the signing hand relative to its wrist and
    scaled by its mean palm size; every point relative to the sequence's NaN-aware mean and
    spread; frame deltas of the hand. Missing values become 0. Also returns the frame mask (1.0
    where any landmark was detected; padding frames are all NaN).

    Always computes in float32, whatever the mixed-precision policy: bfloat16's spacing near 1.0
    (2^-7) is coarser than a hand's movement between two frames in normalised coordinates."""

    def __init__(self, landmarks: list[int], **kwargs):
        kwargs["dtype"] = "float32"
        super().__init__(**kwargs)
        self.landmarks = [int(i) for i in landmarks]
        position = {lm: i for i, lm in enumerate(self.landmarks)}
        left = [position.get(schema.OFFSETS["left_hand"] + h) for h in range(21)]
        right = [position.get(schema.OFFSETS["right_hand"] + h) for h in range(21)]
        if None in left or None in right:
            raise ValueError("LandmarkFeatures needs both hands among its landmarks")
        self.left, self.right = left, right
        self.mirror = schema.mirror_positions(self.landmarks)
        self.n_features = 21 * 3 * 2 + len(self.landmarks) * 2

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1], self.n_features), (input_shape[0], input_shape[1])

    def call(self, columns):
        k = len(self.landmarks)
        valid = ops.abs(columns) < LIMIT  # False for NaN and inf
        frame_mask = ops.max(ops.cast(valid, "float32"), axis=-1)  # [B, T]
        x = ops.where(valid, columns, 0.0)
        points = ops.transpose(ops.reshape(x, (-1, ops.shape(x)[1], 3, k)), (0, 1, 3, 2))
        # Masks stay float32: TFLite slices no bool tensors.
        seen = ops.cast(ops.reshape(valid, (-1, ops.shape(x)[1], 3, k)), "float32")
        seen = ops.min(ops.transpose(seen, (0, 1, 3, 2)), axis=-1)  # [B, T, K]: 1 where seen

        # Left-handed signers are mirrored: x → 1 − x and left/right landmarks swap places. The
        # signing hand is the one held higher: a resting hand tracked in more frames than the
        # signing one is common in real recordings, so detection counts cannot decide.
        left_height, left_seen = self._mean_height(points, seen, self.left)
        right_height, right_seen = self._mean_height(points, seen, self.right)
        higher = ops.cast(left_height < right_height, "float32")  # image y grows downwards
        use_left = left_seen * (1 - right_seen + right_seen * higher)
        use_left = ops.reshape(use_left, (-1, 1, 1))
        mirrored = ops.take(points, self.mirror, axis=2) * np.array([-1, 1, 1], "float32")
        mirrored = mirrored + np.array([1, 0, 0], "float32")
        flip = ops.expand_dims(use_left, -1)
        points = flip * mirrored + (1 - flip) * points
        seen = use_left * ops.take(seen, self.mirror, axis=2) + (1 - use_left) * seen

        hand = ops.take(points, self.right, axis=2)  # [B, T, 21, 3], the signing hand
        hand_seen = ops.take(seen, self.right, axis=2)
        local = self._hand_local(hand, hand_seen)
        deltas = local - ops.concatenate([local[:, :1], local[:, :-1]], axis=1)
        both = hand_seen[:, 1:, :1] * hand_seen[:, :-1, :1]
        # The first frame has no predecessor (zeros taken from a slice that exists even at T = 1).
        moved = ops.concatenate([ops.zeros_like(hand_seen[:, :1, :1]), both], axis=1)
        deltas = deltas * ops.expand_dims(moved, -1)
        overall = self._sequence_normalised(points, seen)
        batch, time = ops.shape(x)[0], ops.shape(x)[1]
        features = ops.concatenate(
            [
                ops.reshape(local, (batch, time, 63)),
                ops.reshape(deltas, (batch, time, 63)),
                ops.reshape(overall[:, :, :, :2], (batch, time, 2 * k)),
            ],
            axis=-1,
        )
        return ops.clip(features, -10.0, 10.0), frame_mask

    @staticmethod
    def _mean_height(points, seen, hand: list[int]):
        """(mean image y of a hand's seen points over the sequence, 1.0 if it was seen at all)."""
        weight = ops.take(seen, hand, axis=2)  # [B, T, 21]
        count = ops.sum(weight, axis=(1, 2))
        height = ops.sum(ops.take(points, hand, axis=2)[..., 1] * weight, axis=(1, 2))
        return height / ops.maximum(count, 1.0), ops.cast(count > 0, "float32")

    @staticmethod
    def _hand_local(hand, hand_seen):
        """Hand relative to its wrist, in units of the sequence's mean palm length (over the
        frames where both the wrist and the middle knuckle were seen)."""
        # A point counts only in frames where the wrist, its origin, was seen too.
        seen = ops.expand_dims(hand_seen * hand_seen[:, :, WRIST : WRIST + 1], -1)
        local = (hand - hand[:, :, WRIST : WRIST + 1]) * seen
        palm = ops.sqrt(ops.sum(ops.square(local[:, :, MIDDLE_KNUCKLE, :2]), axis=-1) + 1e-12)
        both = hand_seen[:, :, WRIST] * hand_seen[:, :, MIDDLE_KNUCKLE]  # [B, T]
        mean_palm = ops.sum(palm * both, axis=1) / ops.maximum(ops.sum(both, axis=1), 1.0)
        return local / ops.reshape(ops.maximum(mean_palm, 1e-3), (-1, 1, 1, 1))

    @staticmethod
    def _sequence_normalised(points, seen):
        """Every point minus the sequence's mean, over the spread of x and y (one scale)."""
        weight = ops.expand_dims(seen, -1)  # [B, T, K, 1]
        count = ops.maximum(ops.sum(weight, axis=(1, 2)), 1.0)  # [B, 1]
        mean = ops.sum(points * weight, axis=(1, 2)) / count  # [B, 3]
        centred = (points - ops.reshape(mean, (-1, 1, 1, 3))) * weight
        spread = ops.sum(ops.square(centred[:, :, :, :2]), axis=(1, 2, 3)) / (2 * count[:, 0])
        scale = ops.reshape(ops.sqrt(spread + 1e-12), (-1, 1, 1, 1))
        return centred / ops.maximum(scale, 1e-3)

    def get_config(self):
        return {**super().get_config(), "landmarks": self.landmarks}
