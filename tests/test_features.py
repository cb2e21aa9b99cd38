"""The feature layer shared by training and the TFLite graph."""

import numpy as np
import pytest

from fingerspell import reader, schema
from fingerspell.features import LandmarkFeatures, model_landmarks

LANDMARKS = model_landmarks("model")
COLUMNS = schema.columns_for(LANDMARKS)


def mirrored_by_name(frames: np.ndarray) -> np.ndarray:
    """The same scene seen in a mirror, built from column names alone: x → 1 − x, every
    left_hand / left pose column trades places with its right partner."""
    pose_partner = {}
    for a, b in schema.POSE_MIRROR_PAIRS:
        pose_partner[a], pose_partner[b] = b, a
    position = {c: i for i, c in enumerate(COLUMNS)}
    out = np.empty_like(frames)
    for i, column in enumerate(COLUMNS):
        axis, rest = column.split("_", 1)
        group, index = rest.rsplit("_", 1)
        if group in ("left_hand", "right_hand"):
            group = "right_hand" if group == "left_hand" else "left_hand"
        elif group == "pose":
            index = str(pose_partner.get(int(index), int(index)))
        source = frames[:, position[f"{axis}_{group}_{index}"]]
        out[:, i] = 1 - source if axis == "x" else source
    return out


@pytest.fixture(scope="module")
def sequences(synth_dir):
    items = reader.iter_sequences(synth_dir, COLUMNS)
    return [s for _, s in zip(range(6), items)]


def test_mirrored_signer_gives_the_same_features(sequences):
    layer = LandmarkFeatures(LANDMARKS)
    for sequence in sequences:
        features, mask = layer(sequence.frames[None])
        mirrored, mirrored_mask = layer(mirrored_by_name(sequence.frames)[None])
        np.testing.assert_allclose(np.asarray(mirrored), np.asarray(features), atol=1e-4)
        np.testing.assert_array_equal(np.asarray(mirrored_mask), np.asarray(mask))


def test_the_signing_hand_is_the_one_seen_more(sequences):
    """Hand features come from the hand detected in more frames, whichever side it is on."""
    layer = LandmarkFeatures(LANDMARKS)
    frames = sequences[0].frames.copy()
    right = [i for i, c in enumerate(COLUMNS) if "right_hand" in c]
    left = [i for i, c in enumerate(COLUMNS) if "left_hand" in c]
    seen = {name: np.isfinite(frames[:, hand]).sum() for name, hand in (("r", right), ("l", left))}
    signing = right if seen["r"] > seen["l"] else left
    hand_features = np.asarray(layer(frames[None])[0])[0, :, :63]
    frames[:, signing] = np.nan  # the signing hand vanishes: its features must vanish with it
    other = np.asarray(layer(frames[None])[0])[0, :, :63]
    assert np.abs(hand_features).sum() > 0
    assert not np.allclose(hand_features, other)


@pytest.mark.parametrize(
    "frames",
    [
        np.full((5, len(COLUMNS)), np.nan, np.float32),
        np.full((3, len(COLUMNS)), 1e30, np.float32),
        np.random.default_rng(0).normal(size=(4, len(COLUMNS))).astype(np.float32),
    ],
    ids=["all-nan", "huge", "noise"],
)
def test_odd_values_give_finite_features(frames):
    features, mask = LandmarkFeatures(LANDMARKS)(frames[None])
    assert np.isfinite(np.asarray(features)).all()
    expected = np.isfinite(frames).any(axis=1) & (np.abs(frames) < 1e6).any(axis=1)
    np.testing.assert_array_equal(np.asarray(mask)[0], expected.astype(np.float32))


def test_a_single_frame_is_enough():
    """Frame deltas of a one-frame sequence: the first frame has no predecessor, nothing fails."""
    frames = np.random.default_rng(1).uniform(size=(1, 1, len(COLUMNS))).astype(np.float32)
    features, mask = LandmarkFeatures(LANDMARKS)(frames)
    assert features.shape == (1, 1, LandmarkFeatures(LANDMARKS).n_features)
    assert np.isfinite(np.asarray(features)).all()
