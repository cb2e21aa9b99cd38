"""The feature layer shared by training and the TFLite graph."""

import dataclasses

import numpy as np
import pytest

from fingerspell import reader, schema
from fingerspell.features import LandmarkFeatures, model_landmarks
from fingerspell.synthetic import generator

LANDMARKS = model_landmarks("model")
COLUMNS = schema.columns_for(LANDMARKS)
COLUMNS_ALL = schema.COORDINATE_COLUMNS
COLUMN_INDEX = [COLUMNS_ALL.index(c) for c in COLUMNS]  # model columns within all 1,629


# MediaPipe's pose landmarks by name (its documentation's order); a mirror swaps left and right.
POSE_NAMES = """nose left_eye_inner left_eye left_eye_outer right_eye_inner right_eye
right_eye_outer left_ear right_ear mouth_left mouth_right left_shoulder right_shoulder
left_elbow right_elbow left_wrist right_wrist left_pinky right_pinky left_index right_index
left_thumb right_thumb left_hip right_hip left_knee right_knee left_ankle right_ankle left_heel
right_heel left_foot_index right_foot_index""".split()
# Face-mesh points that trade places in a mirror, as MediaPipe's lip, nose and eye contours list
# them (upper and lower, outer and inner lip; nose wings; eye corners, tops and bottoms). Every
# face point of the named subsets is here or on the midline (0, 13, 14, 17 and nose 1, 2).
FACE_PAIRS = [
    (61, 291), (185, 409), (40, 270), (39, 269), (37, 267), (146, 375), (91, 321), (181, 405),
    (84, 314), (78, 308), (191, 415), (80, 310), (81, 311), (82, 312), (95, 324), (88, 318),
    (178, 402), (87, 317), (98, 327), (33, 263), (133, 362), (159, 386), (145, 374),
]  # fmt: skip
FACE_MIDLINE = [0, 13, 14, 17, 1, 2]


def _swap_side(name: str) -> str:
    return name.replace("left", "\0").replace("right", "left").replace("\0", "right")


def true_mirror(frames: np.ndarray, columns: list[str] = COLUMNS) -> np.ndarray:
    """The same scene seen in a mirror, built without `schema`'s mirror table: x → 1 − x on
    every point, then every column relabelled by MediaPipe's left/right names and pairs."""
    face = {a: b for pair in FACE_PAIRS for a, b in (pair, pair[::-1])}
    face.update({m: m for m in FACE_MIDLINE})
    position = {c: i for i, c in enumerate(columns)}
    out = np.empty_like(frames)
    for i, column in enumerate(columns):
        axis, rest = column.split("_", 1)
        group, index = rest.rsplit("_", 1)
        if group.endswith("hand"):
            group = _swap_side(group)
        elif group == "pose":
            index = str(POSE_NAMES.index(_swap_side(POSE_NAMES[int(index)])))
        else:
            index = str(face[int(index)])
        source = frames[:, position[f"{axis}_{group}_{index}"]]
        out[:, i] = 1 - source if axis == "x" else source
    return out


@pytest.fixture(scope="module")
def sequences(synth_dir):
    items = reader.iter_sequences(synth_dir, COLUMNS)
    return [s for _, s in zip(range(6), items)]


def test_mirrored_signer_gives_the_same_features(sequences):
    """Hands, pose and lips: a left-handed signer is mirrored onto the right, face included."""
    layer = LandmarkFeatures(LANDMARKS)
    for sequence in sequences:
        features, mask = layer(sequence.frames[None])
        mirrored, mirrored_mask = layer(true_mirror(sequence.frames)[None])
        np.testing.assert_allclose(np.asarray(mirrored), np.asarray(features), atol=1e-4)
        np.testing.assert_array_equal(np.asarray(mirrored_mask), np.asarray(mask))


def test_the_mirror_table_agrees_with_mediapipe_names_and_a_real_face(silfa_dir):
    """`schema.mirror_partner` holds MediaPipe's named pairs, and on a real face (SILFA, every
    frame) each of its 220 face pairs sits where the other's reflection falls."""
    partner = schema.mirror_partner()
    assert all(partner[a] == b and partner[b] == a for a, b in FACE_PAIRS)
    assert all(partner[m] == m for m in FACE_MIDLINE)
    assert all(partner[partner[i]] == i for i in range(schema.N_LANDMARKS))
    for i, name in enumerate(POSE_NAMES):
        assert partner[schema.OFFSETS["pose"] + i] == schema.OFFSETS["pose"] + POSE_NAMES.index(
            _swap_side(name))
    # A real face (SILFA's mean face mesh, slightly turned) reflected in the plane through the
    # points the table calls self-partnered: each point's reflection lands among the points
    # nearest its partner (for every point the partner is among the 20 nearest of 468; a table
    # without face pairs ranks it up to 400th).
    frames = np.concatenate([s.frames for s in reader.read_silfa(silfa_dir, COLUMNS_ALL)])
    face = schema.points(frames, schema.group_indices("face"))
    face = face[np.isfinite(face).all(axis=(1, 2))].mean(0) * [schema.ASPECT, 1, schema.ASPECT]
    table = np.array(partner[:468])
    midline = face[table == np.arange(468)]
    normal = np.linalg.svd(midline - midline.mean(0))[2][2]
    reflected = face - 2 * np.outer((face - midline.mean(0)) @ normal, normal)
    distances = np.linalg.norm(reflected[:, None] - face[None], axis=-1)
    rank = (distances < distances[np.arange(468), table][:, None]).sum(1)
    assert rank.max() < 20 and np.median(rank) <= 2


def _columns_of(point: str) -> list[int]:
    """The x, y and z columns of one landmark, e.g. "right_hand_0"."""
    return [i for i, c in enumerate(COLUMNS) if c.split("_", 1)[1] == point]


def test_a_vanished_signing_hand_hands_over_to_the_other():
    """Hand features come from the signing hand; when it is never seen, from the other."""
    layer = LandmarkFeatures(LANDMARKS)
    signer = next(iter(generator.signers_for(generator.plan_split("train", 100, 0), 0).values()))
    signer = dataclasses.replace(signer, left_handed=False, rest_hand_visible=True)
    frames = generator.render("hand over", signer, np.random.default_rng(0))[0][:, COLUMN_INDEX]
    hand_features = np.asarray(layer(frames[None])[0])[0, :, :63]
    frames[:, [i for i, c in enumerate(COLUMNS) if "right_hand" in c]] = np.nan
    other = np.asarray(layer(frames[None])[0])[0, :, :63]
    assert np.abs(hand_features).sum() > 0 and np.abs(other).sum() > 0
    assert not np.allclose(hand_features, other)


def test_the_signing_hand_is_the_higher_one_even_when_seen_less(silfa_dir):
    """Real frames (SILFA): the signer spells with the right hand while the resting left hand is
    tracked in more frames. The hand features are those of the right hand: the same as with the
    left hand removed."""
    layer = LandmarkFeatures(LANDMARKS)
    letters = {s.phrase: s.frames for s in reader.read_silfa(silfa_dir, COLUMNS)}
    left = [i for i, c in enumerate(COLUMNS) if "left_hand" in c]
    right = [i for i, c in enumerate(COLUMNS) if "right_hand" in c]
    word = np.concatenate([letters[c] for c in "python"])
    assert np.isfinite(word[:, left[0]]).sum() > np.isfinite(word[:, right[0]]).sum()
    alone = word.copy()
    alone[:, left] = np.nan
    features = np.asarray(layer(word[None])[0])[0, :, :126]
    np.testing.assert_allclose(features, np.asarray(layer(alone[None])[0])[0, :, :126], atol=1e-5)


def _right_handed(sequences):
    return next(s.frames for s in sequences if np.isfinite(s.frames[:, _columns_of(
        "right_hand_0")[0]]).sum() > np.isfinite(s.frames[:, _columns_of("left_hand_0")[0]]).sum())


def test_a_lost_wrist_or_knuckle_does_not_move_the_hand_features(sequences):
    """Palm size stands on the wrist (0) and the middle knuckle (9): losing them in some frames
    leaves the other frames' hand features as they were."""
    layer = LandmarkFeatures(LANDMARKS)
    frames = _right_handed(sequences)
    anchors = _columns_of("right_hand_0") + _columns_of("right_hand_9")
    seen = np.flatnonzero(np.isfinite(frames[:, anchors]).all(1))
    lost, kept = seen[::2], seen[1::2]
    damaged = frames.copy()
    damaged[np.ix_(lost, _columns_of("right_hand_9"))] = np.nan
    damaged[np.ix_(lost[::2], _columns_of("right_hand_0"))] = np.nan
    before = np.asarray(layer(frames[None])[0])[0, kept, :63]
    after = np.asarray(layer(damaged[None])[0])[0, kept, :63]
    np.testing.assert_allclose(after, before, rtol=0.05, atol=0.05)


def test_a_hand_missing_its_wrist_is_still_the_signing_hand(sequences):
    """The signing hand is chosen from all of its seen points: a wrist lost for the whole
    sequence does not hand the choice to the resting hand."""
    layer = LandmarkFeatures(LANDMARKS)
    frames = _right_handed(sequences).copy()
    before = np.asarray(layer(frames[None])[0])[0, :, 2 * 63 :]
    frames[:, _columns_of("right_hand_0")] = np.nan
    after = np.asarray(layer(frames[None])[0])[0, :, 2 * 63 :]
    wrist = LANDMARKS.index(schema.OFFSETS["right_hand"])
    others = np.ones(after.shape[1], bool)
    others[[2 * wrist, 2 * wrist + 1]] = False  # the wrist's own position features are gone
    np.testing.assert_allclose(after[:, others], before[:, others], atol=0.05)


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
