"""Real handshapes and body templates, and a glyph for every character.

SILFA (shared/data/silfa) is genuine MediaPipe Holistic output of one signer holding each letter
a–z: the first `TEMPLATE_SHARE` of each letter's frames (`silfa_parts`) are templates, the rest
are never used here and are `benchmarks/real_transfer.py`'s held-out frames.
`tools/data/aslhg_hands.parquet` is MediaPipe Hands output for photos of ten more people (ASL-HG,
CC BY 4.0; see tools/data/README.md), all photographed in one session: all ten lend their hands to
the generator. `tools/data/roboflow_hands.parquet` (another source, other people, phone photos) is
never used here: it is the development set of people from a source the generator never saw.
`build_templates` turns them into body-independent templates (hand relative to the wrist in
palm-length units, face and pose relative to their own anchors) that ship with the package as
`data/templates.npz`, so the synthetic generator runs on machines without shared/.

Coordinates here are "height units": x is rescaled by the frame's aspect so that one unit is the
same length on both image axes. SILFA's frames are landscape: the bone lengths of its hands are
most constant for height/width ≈ 0.5–0.55, so we take 16:9 (`SILFA_ASPECT`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from fingerspell import schema

SILFA_ASPECT = 16 / 9  # width / height of the SILFA video frames
# Of each SILFA letter's frames in which the signing hand was found, the first 60 % (and every
# frame before the last of them) are templates; the rest are held out. Words cut from the frames
# a template came from measured memory, not reading (issue 23).
TEMPLATE_SHARE = 0.6
# ASL-HG people whose handshapes the generator uses: all ten. They were photographed in one
# session, so holding three of them out measured the session, not other people (issue 23).
PHOTO_PEOPLE = tuple(range(1, 11))
HAND_SOURCES = (0, *PHOTO_PEOPLE)  # 0 = SILFA's signer, k = ASL-HG person k
TOOLS_DATA = Path(__file__).resolve().parents[2] / "tools" / "data"
PHOTO_HANDS = TOOLS_DATA / "aslhg_hands.parquet"
UNSEEN_HANDS = TOOLS_DATA / "roboflow_hands.parquet"  # never in the templates
LETTERS = "abcdefghijklmnopqrstuvwxyz"
MOVING_LETTERS = "jz"  # their recorded wrist path is part of the sign
# SILFA's template frames hold only the first part of j's and z's strokes (the rest is held out),
# so the generator draws the rest of each letter after the recorded part: the share of a moving
# letter's frames that plays the recording.
RECORDED_SHARE = 0.55
HAND_BONES = [
    (0, 1), (1, 2), (2, 3), (3, 4), (0, 5), (5, 6), (6, 7), (7, 8), (5, 9), (9, 10), (10, 11),
    (11, 12), (9, 13), (13, 14), (14, 15), (15, 16), (13, 17), (0, 17), (17, 18), (18, 19),
    (19, 20),
]  # fmt: skip


def silfa_points(frames: np.ndarray, group: str) -> np.ndarray:
    """SILFA frames [n, 3 * 543] (native columns) → [n, size, 3] for one landmark group, in
    height units."""
    xyz = schema.points(frames, schema.group_indices(group))
    return xyz * np.array([SILFA_ASPECT, 1.0, SILFA_ASPECT], dtype=np.float32)


def silfa_parts(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One SILFA letter's frames [n, 1629] → (template frames, held-out frames), cut after the
    `TEMPLATE_SHARE` of the frames in which the signing hand was found."""
    seen = np.flatnonzero(np.isfinite(silfa_points(frames, "right_hand")).all(axis=(1, 2)))
    cut = seen[int(np.ceil(TEMPLATE_SHARE * len(seen))) - 1] + 1
    return frames[:cut], frames[cut:]


def build_templates(
    silfa_dir: str | Path, photo_hands: str | Path = PHOTO_HANDS
) -> dict[str, np.ndarray]:
    """Handshapes (every detected template frame per letter; `photo_{letter}` and
    `photo_person_{letter}` for the photographed people), j/z wrist paths, face, pose, resting
    hand; from SILFA's template frames only (`silfa_parts`)."""
    from fingerspell.reader import read_silfa

    sequences = [(s.phrase, silfa_parts(s.frames)[0])
                 for s in read_silfa(silfa_dir, schema.COORDINATE_COLUMNS)]  # fmt: skip
    hands = {letter: silfa_points(frames, "right_hand") for letter, frames in sequences}
    palm = np.nanmedian(
        np.concatenate([np.linalg.norm(h[:, 9] - h[:, 0], axis=-1) for h in hands.values()])
    )
    out: dict[str, np.ndarray] = {}
    for letter, hand in hands.items():
        hand = hand[~np.isnan(hand).any(axis=(1, 2))]
        out[f"shape_{letter}"] = ((hand - hand[:, :1]) / palm).astype(np.float32)
        out[f"path_{letter}"] = ((hand[:, 0] - hand[:1, 0]) / palm).astype(np.float32)
    out.update(_photo_shapes(photo_hands))
    everything = np.concatenate([frames for _, frames in sequences])
    face = silfa_points(everything, "face")
    nose = face[:, 1:2]
    face_width = np.linalg.norm(face[:, 234] - face[:, 454], axis=-1).mean()
    out["face"] = (np.nanmean(face - nose, axis=0) / face_width).astype(np.float32)
    pose = silfa_points(everything, "pose")
    shoulders = (pose[:, 11] + pose[:, 12]) / 2
    shoulder_width = np.linalg.norm(pose[:, 11] - pose[:, 12], axis=-1).mean()
    out["pose"] = (np.nanmean(pose - shoulders[:, None], axis=0) / shoulder_width).astype(
        np.float32
    )
    rest = silfa_points(everything, "left_hand")
    rest = rest[~np.isnan(rest).any(axis=(1, 2))]
    out["rest_hand"] = ((rest - rest[:, :1]) / palm).astype(np.float32)[::4]
    return out


def photo_points(rows) -> np.ndarray:
    """[N, 21, 3] float32 of rows of `tools/photo_hands.py` (columns x0..x20, y0..y20, z0..z20),
    with x and z in the photo's height units where it is not square (`width`, `height`)."""
    xyz = np.stack([rows[[f"{axis}{i}" for i in range(21)]].to_numpy(np.float32)
                    for axis in "xyz"], -1)  # fmt: skip
    if "width" in rows:
        aspect = (rows.width / rows.height).to_numpy(np.float32)[:, None]
        xyz[..., 0] *= aspect
        xyz[..., 2] *= aspect
    return xyz


def palm_normalised(hands: np.ndarray) -> np.ndarray:
    """Hands [N, 21, 3] relative to their wrist, each scaled to a palm length (wrist → middle
    knuckle) of 1."""
    hands = hands - hands[:, :1]
    return hands / np.linalg.norm(hands[:, 9], axis=-1)[:, None, None]


def right_hands(rows) -> np.ndarray:
    """`photo_points` of photos of either hand, those MediaPipe labels a left hand mirrored to the
    right (its label assumes a mirrored image: "Right" is a left hand seen by the camera). For the
    unseen source, whose people sign with either hand; ASL-HG's are all right hands."""
    hands = photo_points(rows)
    hands[(rows.handedness == "Right").to_numpy(), :, 0] *= -1
    return hands


def _photo_shapes(photo_hands: str | Path) -> dict[str, np.ndarray]:
    """Per letter, the `PHOTO_PEOPLE`'s hands relative to the wrist, each photo scaled to a palm
    length of 1 (photos are square, so x, y and z share one unit; each was taken at its own
    distance). Every photographed hand is a right hand seen as SILFA's signing hand is."""
    import pandas as pd

    table = pd.read_parquet(photo_hands)
    table = table[table.person.isin(PHOTO_PEOPLE)].sort_values("photo")
    xyz = palm_normalised(photo_points(table))
    out = {}
    for letter in LETTERS:
        mine = (table.letter == letter).to_numpy()
        out[f"photo_{letter}"] = xyz[mine]
        out[f"photo_person_{letter}"] = table.person.to_numpy()[mine].astype(np.int16)
    return out


def save_templates(silfa_dir: str | Path, path: str | Path) -> None:
    np.savez_compressed(path, **build_templates(silfa_dir))


@lru_cache
def load_templates() -> dict[str, np.ndarray]:
    blob = resources.files("fingerspell.data").joinpath("templates.npz")
    with resources.as_file(blob) as path, np.load(path) as data:
        return {k: data[k] for k in data.files}


def hand_shapes(letter: str, source: int) -> np.ndarray:
    """[N, 21, 3] the shapes of `letter` by one real person: 0 = SILFA's signer (every frame of
    the recording), k = ASL-HG person k (their photos)."""
    templates = load_templates()
    if source == 0:
        return templates[f"shape_{letter}"]
    return templates[f"photo_{letter}"][templates[f"photo_person_{letter}"] == source]



# ---------------------------------------------------------------------------------------------
# Glyphs: what the hand does for each character.

# Hand orientations as (yaw about the vertical, pitch about the horizontal, roll in the image
# plane), degrees, applied around the wrist.
ORIENTATIONS = {
    "front": (0, 0, 0),
    "palm_in": (180, 0, 0),  # ASL digits face the signer
    "side": (80, 0, 0),
    "tilt_left": (0, 0, 40),
    "tilt_right": (0, 0, -40),
    "down": (0, 70, 0),
}
# Motions: wrist offset over the glyph's frames, in palm lengths (see `motion_path`).
MOTIONS = ("none", "tap", "circle", "shake", "down", "right", "diagonal", "twist")


@dataclass(frozen=True)
class Glyph:
    shape: str  # a SILFA letter whose handshape is used
    orientation: str = "front"
    motion: str = "none"

    @property
    def drawn(self) -> bool:
        """j and z as letters: the hand draws them (recorded path, then `stroke_end`)."""
        return self.shape in MOVING_LETTERS and self.orientation == "front"


def _glyph_table() -> dict[str, Glyph]:
    table = {c: Glyph(c) for c in LETTERS}
    # Digits: ASL number handshapes where a letter matches, palm towards the signer. 0 is the o
    # itself, as signers make it: only the neighbours tell them apart (an o turned to the signer
    # for 0 had the unseen people's o read as 0 in a third of its occurrences; issue 23).
    table["0"] = table["o"]
    for digit, shape in zip("123456789", "dvkbywruf", strict=True):
        table[digit] = Glyph(shape, "palm_in")
    punctuation = {
        " ": Glyph("c", "tilt_right", "right"),  # a short sideways move between words
        "-": Glyph("d", "side", "right"),  # index draws a dash
        ".": Glyph("x", "front", "tap"),
        "/": Glyph("d", "side", "diagonal"),
        "@": Glyph("a", "palm_in", "circle"),
        ":": Glyph("d", "side", "tap"),
        "_": Glyph("d", "down", "right"),
        "#": Glyph("u", "side", "shake"),
        "&": Glyph("e", "palm_in", "circle"),
        "+": Glyph("x", "tilt_left", "down"),
        "?": Glyph("x", "side", "down"),
        "!": Glyph("d", "front", "down"),
        "'": Glyph("v", "tilt_left", "tap"),
        ",": Glyph("x", "tilt_right", "down"),
        "=": Glyph("h", "side", "tap"),
        "%": Glyph("o", "tilt_left", "diagonal"),
        "$": Glyph("s", "side", "down"),
        "~": Glyph("y", "side", "shake"),
        "(": Glyph("c", "side", "circle"),
        ")": Glyph("c", "palm_in", "twist"),
        "*": Glyph("b", "front", "twist"),
        ";": Glyph("i", "side", "tap"),
        "[": Glyph("l", "down", "down"),
    }
    table.update(punctuation)
    return table


GLYPHS: dict[str, Glyph] = _glyph_table()


def rotation_matrix(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Rotation about y (yaw), then x (pitch), then z (roll); angles in degrees."""
    y, p, r = np.radians([yaw, pitch, roll])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return (rz @ rx @ ry).astype(np.float32)


def motion_path(motion: str, n: int) -> np.ndarray:
    """Wrist offsets [n, 3] in palm lengths for a motion played over n frames."""
    t = np.linspace(0.0, 1.0, n, dtype=np.float32)
    zero = np.zeros_like(t)
    wave = np.sin(2 * np.pi * t)
    paths = {
        "none": (zero, zero, zero),
        # Two small jabs down: MediaPipe's hand z is relative to the wrist, so a tap towards the
        # camera would not show at all (an x and a "." were the same to a reader).
        "tap": (zero, 0.45 * np.abs(wave), zero),
        "circle": (0.45 * np.sin(2 * np.pi * t), 0.45 * (1 - np.cos(2 * np.pi * t)), zero),
        "shake": (0.4 * np.sin(4 * np.pi * t), zero, zero),
        "down": (zero, 0.9 * t, zero),
        "right": (0.9 * t, zero, zero),
        "diagonal": (0.7 * t, 0.7 * t, zero),
        "twist": (zero, zero, zero),  # the hand rolls instead; see `motion_roll`
    }
    return np.stack(paths[motion], axis=-1)


def stroke_end(letter: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The end of j's or z's stroke that SILFA's recorded part lacks, drawn from the letter itself:
    wrist offsets [n, 3] in palm lengths from where the recording ends, and extra yaw (degrees).
    j: the little finger hooks down and across to the signer's side while the palm turns towards
    the signer. z: the diagonal back and the bottom bar (the recording holds the top bar, drawn
    towards +x, which fixes the letter's direction)."""
    t = np.linspace(0.0, 1.0, n + 1, dtype=np.float32)[1:]
    zero = np.zeros_like(t)
    if letter == "j":
        quarter = np.pi * t / 2
        path = (0.4 * (1 - np.cos(quarter)), 0.45 * np.sin(quarter) - 0.15 * t**2, zero)
        return np.stack(path, -1), (70 * t).astype(np.float32)
    diagonal, bar = np.minimum(2 * t, 1), np.maximum(2 * t - 1, 0)
    path = (-0.6 * diagonal + 0.6 * bar, 0.6 * diagonal, zero)
    return np.stack(path, -1), zero


def motion_roll(motion: str, n: int) -> np.ndarray:
    """Extra roll (degrees) per frame: only the twist motion rotates the hand."""
    if motion != "twist":
        return np.zeros(n, dtype=np.float32)
    return (50 * np.sin(2 * np.pi * np.linspace(0, 1, n))).astype(np.float32)
