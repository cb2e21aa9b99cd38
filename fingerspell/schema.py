"""The competition's data contract: landmark layout, column names, landmark subsets, characters.

Everything else in the package derives its columns and characters from here, so training, the
TFRecords and the exported TFLite graph can never disagree about what a column means.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

# MediaPipe Holistic landmark groups in the files' native order, with their sizes.
GROUPS: dict[str, int] = {"face": 468, "left_hand": 21, "pose": 33, "right_hand": 21}
AXES = ("x", "y", "z")


def _offsets() -> dict[str, int]:
    offsets, start = {}, 0
    for name, size in GROUPS.items():
        offsets[name] = start
        start += size
    return offsets


OFFSETS: dict[str, int] = _offsets()  # face 0, left_hand 468, pose 489, right_hand 522
N_LANDMARKS = sum(GROUPS.values())  # 543


def landmark_name(index: int) -> str:
    """`'left_hand_3'` for landmark 471: the suffix the columns use."""
    for name, size in GROUPS.items():
        if OFFSETS[name] <= index < OFFSETS[name] + size:
            return f"{name}_{index - OFFSETS[name]}"
    raise IndexError(f"landmark index {index} outside 0..{N_LANDMARKS - 1}")


def group_indices(group: str) -> list[int]:
    return list(range(OFFSETS[group], OFFSETS[group] + GROUPS[group]))


# Coordinate columns as stored: all x, then all y, then all z, landmarks in native order.
COORDINATE_COLUMNS: list[str] = [
    f"{axis}_{landmark_name(i)}" for axis in AXES for i in range(N_LANDMARKS)
]
ALL_COLUMNS: list[str] = ["frame", *COORDINATE_COLUMNS]  # 1,630 columns after the index
INDEX_NAME = "sequence_id"
# What `video` turns into landmarks: video files, and folders of images (one a frame).
VIDEO_SUFFIXES = (".mp4", ".mov", ".webm", ".avi", ".mkv", ".m4v", ".mpg", ".mpeg", ".wmv")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
CSV_COLUMNS = ["path", "file_id", "participant_id", "sequence_id", "phrase"]

# The 40 lip points used by the top solutions, plus a few points that locate the face.
LIPS_FACE = [
    0, 61, 185, 40, 39, 37, 267, 269, 270, 409, 291, 146, 91, 181, 84, 17, 314, 405, 321, 375,
    78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308,
]  # fmt: skip
NOSE_FACE = [1, 2, 98, 327]
EYES_FACE = [33, 133, 159, 145, 263, 362, 386, 374]  # corners, top, bottom of each eye

# Pose landmarks that have a mirror partner (MediaPipe's left/right).
POSE_MIRROR_PAIRS = [
    (1, 4), (2, 5), (3, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16),
    (17, 18), (19, 20), (21, 22), (23, 24), (25, 26), (27, 28), (29, 30), (31, 32),
]  # fmt: skip


@lru_cache
def face_mirror_pairs() -> list[tuple[int, int]]:
    """Face-mesh landmarks that trade places in a mirror (61↔291 at the mouth corners, 33↔263
    at the eye corners, …; 220 pairs; midline points have none). Source and licence in the file."""
    text = resources.files("fingerspell.data").joinpath("face_mirror_pairs.json")
    return [(int(a), int(b)) for a, b in json.loads(text.read_text(encoding="utf-8"))["pairs"]]


@lru_cache
def mirror_partner() -> tuple[int, ...]:
    """The one mirror definition of the package: for each of the 543 landmarks, the landmark it
    becomes when the scene is seen in a mirror (left and right hands, MediaPipe's left/right pose
    points, the face's left/right points; itself on the midline). Mirroring a scene is this
    relabelling plus x → 1 − x; the features, the synthetic generator and the tests use it."""
    partner = list(range(N_LANDMARKS))
    pairs = [(OFFSETS["left_hand"] + h, OFFSETS["right_hand"] + h) for h in range(21)]
    pairs += [(OFFSETS["pose"] + a, OFFSETS["pose"] + b) for a, b in POSE_MIRROR_PAIRS]
    pairs += [(OFFSETS["face"] + a, OFFSETS["face"] + b) for a, b in face_mirror_pairs()]
    for a, b in pairs:
        partner[a], partner[b] = b, a
    return tuple(partner)


def mirror_positions(landmarks: list[int]) -> list[int]:
    """Position of each landmark's mirror partner within `landmarks` (a subset closed under
    mirroring: every named subset is)."""
    position = {lm: i for i, lm in enumerate(landmarks)}
    partners = [mirror_partner()[lm] for lm in landmarks]
    missing = sorted(landmark_name(p) for p in partners if p not in position)
    if missing:
        raise ValueError(f"the landmarks lack the mirror partners {missing[:5]}")
    return [position[p] for p in partners]


@lru_cache
def landmark_subsets() -> dict[str, list[int]]:
    """Named landmark subsets as global indices (0..542), each sorted in native order."""
    left, right = group_indices("left_hand"), group_indices("right_hand")
    pose = group_indices("pose")
    lips = sorted(LIPS_FACE)
    face_anchor = sorted(NOSE_FACE + EYES_FACE)
    return {
        "hands": left + right,
        "pose": pose,
        "lips": lips,
        "default": sorted(left + right + pose + lips + face_anchor),  # 127 landmarks
        "all": list(range(N_LANDMARKS)),
    }


def resolve_landmarks(selection: str | list[int]) -> list[int]:
    """A subset name or an explicit index list → sorted global landmark indices."""
    if isinstance(selection, str):
        subsets = landmark_subsets()
        if selection not in subsets:
            raise ValueError(f"unknown landmark subset {selection!r}; choose from {list(subsets)}")
        return subsets[selection]
    indices = sorted(set(int(i) for i in selection))
    if not indices or indices[0] < 0 or indices[-1] >= N_LANDMARKS:
        raise ValueError(f"landmark indices must lie in 0..{N_LANDMARKS - 1}")
    return indices


def points(frames, landmarks: list[int]):
    """[..., 1629] coordinates in native order → [..., len(landmarks), 3] (x, y, z)."""
    import numpy as np

    return np.stack([frames[..., [a * N_LANDMARKS + i for i in landmarks]] for a in range(3)], -1)


def coordinates(xyz):
    """[..., 543, 3] (x, y, z of every landmark, native order) → [..., 1629] columns: all x,
    then all y, then all z. The inverse of `points` over every landmark."""
    return xyz.swapaxes(-1, -2).reshape(*xyz.shape[:-2], 3 * N_LANDMARKS)


def columns_for(landmarks: list[int]) -> list[str]:
    """Column names of these landmarks in native order: x of each, then y, then z."""
    return [f"{axis}_{landmark_name(i)}" for axis in AXES for i in landmarks]


def landmarks_of_columns(columns: list[str]) -> list[int]:
    """Inverse of `columns_for`; raises unless `columns` has exactly that layout."""
    lookup = {landmark_name(i): i for i in range(N_LANDMARKS)}
    n = len(columns) // 3
    try:
        landmarks = [lookup[c[2:]] for c in columns[:n]]
    except KeyError as error:
        raise ValueError(f"not a landmark column: {error.args[0]!r}") from None
    if len(columns) != 3 * n or columns_for(landmarks) != list(columns):
        raise ValueError("columns must be x, y, z blocks of the same landmarks in native order")
    return landmarks


# ---------------------------------------------------------------------------------------------
# Characters


@lru_cache
def char_to_index() -> dict[str, int]:
    """The competition's 59-character map, shipped with the package."""
    text = resources.files("fingerspell.data").joinpath("character_to_prediction_index.json")
    return json.loads(text.read_text(encoding="utf-8"))


# MediaPipe divides x by the frame width and y by its height; the competition's videos are
# portrait phone recordings, width / height ≈ 0.53. Undo it before any rotation.
ASPECT = 0.53
N_CHARS = 59
BLANK = N_CHARS  # CTC blank is the extra last class, so class i is character i


@lru_cache
def index_to_char() -> dict[int, str]:
    return {i: c for c, i in char_to_index().items()}


class PhraseError(ValueError):
    """A phrase holds a character outside the competition's map."""


def encode_phrase(phrase: str, sequence_id: int | None = None) -> list[int]:
    mapping = char_to_index()
    unknown = sorted({c for c in phrase if c not in mapping})
    if unknown:
        where = f" in sequence {sequence_id}" if sequence_id is not None else ""
        raise PhraseError(f"characters {unknown!r} of phrase {phrase!r}{where} are not in the map")
    return [mapping[c] for c in phrase]


def decode_indices(indices) -> str:
    lookup = index_to_char()
    return "".join(lookup[int(i)] for i in indices if 0 <= int(i) < N_CHARS)


# What a submission answers when it decodes nothing, where its run names nothing better
# (`Config.fallback`, chosen from the training phrases): an empty string costs the whole phrase,
# one character at most as much and one edit less whenever the phrase holds it. The exported
# graph, validation and `check` all apply the run's.
FALLBACK = " "


def answer_to_empty(fallback: str | None) -> str:
    """A run's `Config.fallback`, or FALLBACK for a run from before runs chose one."""
    return FALLBACK if fallback is None else fallback


def decode_prediction(indices, fallback: str = FALLBACK) -> str:
    """Greedy-decoded indices → the string a submission answers (`fallback` when empty)."""
    return decode_indices(indices) or fallback


@dataclass(frozen=True)
class Sequence:
    """One signed phrase: its frames hold the requested columns in the requested order."""

    sequence_id: int
    participant_id: int
    phrase: str
    frames: object  # numpy float32 [n_frames, n_columns]
    file_id: int = -1
    supplemental: bool = False
