"""A synthetic dataset in the exact layout of Kaggle's asl-fingerspelling data.

The pipeline's embedded default: signers with persistent traits spell competition-like phrases
with real SILFA handshapes (see `handshapes`), and each frame is rendered as MediaPipe Holistic
would report it (image-normalised coordinates of the signer's camera, portrait or landscape, z on
MediaPipe's scales, jitter, lost-hand frames as NaN). Everything is built in "height units" (one
unit = the frame height on both axes) and projected to MediaPipe's x/width, y/height at the end.

Same seed → byte-identical files: every sequence draws from its own generator, seeded by
(seed, split, index), so files can also be generated in any order or resumed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from fingerspell import parallel, schema, storage
from fingerspell.synthetic import handshapes
from fingerspell.synthetic.phrases import PhraseGenerator

MAX_PER_FILE = 1000
# Beside the layout: each character's true frames, per parquet file (`letter_frames`).
LETTER_FRAMES = "letter_frames"
SPLITS = {"train": ("train.csv", "train_landmarks"),
          "supplemental": ("supplemental_metadata.csv", "supplemental_landmarks")}  # fmt: skip
RIGHT_ARM, LEFT_ARM = (12, 14, 16), (11, 13, 15)  # pose shoulder, elbow, wrist


@dataclass(frozen=True)
class Signer:
    """Traits that stay with a participant across all their sequences."""

    participant_id: int
    aspect: float  # the camera's frame width / height
    left_handed: bool
    shoulder_width: float  # height units
    palm: float  # palm length (wrist → middle knuckle), height units
    center_x: float  # body centre, height units
    shoulder_y: float
    roll: float  # camera roll, degrees
    frames_per_char: float  # 30 fps
    jitter: float  # landmark noise, palm lengths
    dropout: float  # share of frames that lose the signing hand
    rest_hand_visible: bool
    style: tuple[float, float, float]  # personal hand orientation bias (yaw, pitch, roll)
    hands: int  # whose real handshapes: `handshapes.HAND_SOURCES`
    partner: int  # another source; the signer's hands lie `blend` of the way towards theirs
    blend: float


# Camera frames, width / height: phones held upright (the competition's videos, `schema.ASPECT`)
# and 3:4, and landscape webcams and phones (4:3, 16:9; the SILFA recordings are 16:9). MediaPipe
# divides x by the width, so the same hand looks 3.4× narrower in x at 16:9 than at 0.53: a
# model that only ever saw portrait frames read real landscape words at 0.83, and 0.91 with x
# rescaled to portrait (BENCHMARKS.md, "camera aspect").
CAMERA_ASPECTS = (schema.ASPECT, 3 / 4, 4 / 3, 16 / 9)
CAMERA_ASPECT_SHARES = (0.5, 0.15, 0.15, 0.2)
# How a sequence begins and ends. Every real recording we hold starts with the hand already up
# and stops before it drops (SILFA's 26 clips, the held-out words); a model that only met
# sequences rising from rest read such a word as its first letter. So half begin rising from rest,
# half with the first letter already formed; a third end dropping to rest, a third with the last
# letter still held, a third cut while it is held. Between words the hand stays up (the space
# glyph, `handshapes`). No sequence starts in the move from another letter: a quarter did until
# 2026-12-04, which showed the model a shape at frame 0 that it must not read, and it lost real
# words' first letter 13-30 % of the time, 4-12 % without them (BENCHMARKS.md, "What a lead-in
# helps").
STARTS = {"rise": 0.5, "formed": 0.5}
ENDS = {"drop": 1 / 3, "hold": 1 / 3, "cut": 1 / 3}
HOLD_DRIFT = 0.04  # palm lengths a frame that a held letter drifts, on average (`_hold_drift`)
# Whose real hands a signer has: SILFA's signer (a video: each letter's template frames, j and z
# in motion) for half of them, each of the ten photographed people for an equal share of the rest.
# With three of those people held out, the demo's model read SILFA's words / them at 0.89 / 0.22
# with SILFA's hands alone, 0.69 / 0.70 with all sources equally likely, 0.84 / 0.65 with SILFA
# for half and 0.82 / 0.53 for 70 % (BENCHMARKS.md, "other people's hands").
HAND_SHARES = (0.5,) + (0.5 / len(handshapes.PHOTO_PEOPLE),) * len(handshapes.PHOTO_PEOPLE)
# Eleven people's hands are few: each signer's hand is their source's moved along the difference
# to another source's, by up to that whole difference either way (`blended`), so signers' hands
# span the ways real people differ rather than eleven points. Over four seeds the demo's model
# read unseen people's words / strings at 0.62 / 0.55 instead of 0.57 / 0.53, and SILFA's at
# 0.87 / 0.75 instead of 0.89 / 0.78; ±0.5 and ±1.5 read everything worse at seed 0
# (BENCHMARKS.md, "Third round").
BLEND = 1.0


def make_signer(participant_id: int, rng: np.random.Generator) -> Signer:
    shoulder_width = rng.uniform(0.26, 0.40)
    aspect = float(rng.choice(CAMERA_ASPECTS, p=CAMERA_ASPECT_SHARES))
    return Signer(
        participant_id=participant_id,
        aspect=aspect,
        left_handed=bool(rng.random() < 0.1),
        shoulder_width=shoulder_width,
        palm=shoulder_width / rng.uniform(2.8, 3.8),
        center_x=aspect * rng.uniform(0.42, 0.58),
        shoulder_y=rng.uniform(0.45, 0.62),
        roll=rng.normal(0, 3),
        frames_per_char=rng.uniform(4, 12),
        jitter=rng.uniform(0.005, 0.02),
        dropout=rng.uniform(0.02, 0.3),
        rest_hand_visible=bool(rng.random() < 0.25),
        style=tuple(rng.normal(0, [8, 8, 6])),
        hands=(hands := int(rng.choice(handshapes.HAND_SOURCES, p=HAND_SHARES))),
        partner=int(rng.choice([s for s in handshapes.HAND_SOURCES if s != hands])),
        blend=float(rng.uniform(-BLEND, BLEND)),
    )


# ---------------------------------------------------------------------------------------------
# The signing hand over time, in palm lengths relative to the signer's anchor point.


def _smoothstep(n: int) -> np.ndarray:
    t = np.linspace(0, 1, n + 1, dtype=np.float32)[1:]
    return t * t * (3 - 2 * t)


def _key_shapes(char: str, n: int, signer: Signer, rng) -> tuple[np.ndarray, np.ndarray]:
    """Hand shape [n, 21, 3] (wrist-relative, oriented) and wrist offset [n, 3] for one glyph."""
    glyph = handshapes.GLYPHS[char]
    shapes = handshapes.hand_shapes(glyph.shape, signer.hands)
    extra_yaw = np.zeros(n, np.float32)
    if glyph.drawn:
        # j and z draw their letter: SILFA's recorded wrist path (and, for SILFA's own signer,
        # the hand turning along it; the photographed people hold their one still shape), then
        # the rest of the stroke, which the recording's template part does not hold.
        path = handshapes.load_templates()[f"path_{glyph.shape}"]
        recorded = max(2, round(n * handshapes.RECORDED_SHARE))
        pick = np.linspace(0, len(path) - 1, recorded).round().astype(int)
        end, extra_yaw[recorded:] = handshapes.stroke_end(glyph.shape, n - recorded)
        offset = np.concatenate([path[pick], path[-1] + end])
        pick = np.concatenate([pick, np.full(n - recorded, pick[-1])])
        shape = shapes[pick] if signer.hands == 0 else shapes[[rng.integers(len(shapes))] * n]
    else:
        shape = np.repeat(shapes[rng.integers(len(shapes))][None], n, axis=0)
        offset = handshapes.motion_path(glyph.motion, n)
    shape = blended(shape, glyph.shape, signer, rng)
    shape = shape + rng.normal(0, 0.03, (1, 21, 3)).astype(np.float32)  # this signing's variant
    yaw, pitch, roll = np.add(handshapes.ORIENTATIONS[glyph.orientation], signer.style)
    extra_roll = handshapes.motion_roll(glyph.motion, n)
    rotations = np.stack([handshapes.rotation_matrix(yaw + y, pitch, roll + r)
                          for y, r in zip(extra_yaw, extra_roll, strict=True)])  # fmt: skip
    return np.einsum("tij,tkj->tki", rotations, shape), offset


def blended(shape: np.ndarray, letter: str, signer: Signer, rng) -> np.ndarray:
    """`shape` [n, 21, 3] moved `signer.blend` of the way towards one of `signer.partner`'s shapes
    of the same letter. A per-frame classifier trained on such hands read the unseen people's
    photos at 0.69 instead of 0.66 (`benchmarks/hand_shapes.py`; ±1.5 gave it 0.72 but cost the
    sequence model everywhere: BENCHMARKS.md, "Third round")."""
    theirs = handshapes.hand_shapes(letter, signer.partner)
    other = theirs[rng.integers(len(theirs))]
    return shape + np.float32(signer.blend) * (other - shape)


def _hold_drift(n: int, rng) -> np.ndarray:
    """Wrist offsets [n, 3]: a held letter drifts in a straight line, in any direction. SILFA's
    signer's wrist moves a median 0.04 palm lengths a frame over the static letters' template
    frames (0.35 over a letter); the phrase's random walk alone moved them 0.017."""
    angle, speed = rng.uniform(0, 2 * np.pi), rng.uniform(0, 2 * HOLD_DRIFT)
    direction = np.array([np.cos(angle), np.sin(angle), 0], np.float32)
    return (np.arange(n, dtype=np.float32)[:, None] * np.float32(speed)) * direction


def _repeat_mark(n: int, k: int, rng) -> np.ndarray:
    """Wrist offsets [n, 3] that tell a repeated letter from a held one: signers either bounce
    (a small hop over the first k frames that comes back) or slide sideways and stay there."""
    ramp = np.zeros(n, np.float32)
    if rng.random() < 0.5:
        ramp[:k] = np.sin(np.pi * np.linspace(0, 1, k))
        return ramp[:, None] * np.array([0.5, -0.2, 0], np.float32)
    ramp[:k], ramp[k:] = _smoothstep(k), 1.0
    side = rng.choice([-1, 1]) * rng.uniform(0.3, 0.7)
    return ramp[:, None] * np.array([side, 0, 0], np.float32)


def _lead_in(rng) -> tuple[np.ndarray, np.ndarray, int]:
    """Where the hand comes from before the first character (`STARTS`): its shape [21, 3], wrist
    offset [3], and the frames it takes to form the first character."""
    if rng.choice(list(STARTS), p=list(STARTS.values())) == "rise":  # from the rest, below
        return (handshapes.load_templates()["rest_hand"][0],
                np.array([0.0, 4.0, 0.0], np.float32), int(rng.integers(4, 20)))  # fmt: skip
    return np.zeros((21, 3), np.float32), np.zeros(3, np.float32), 1  # formed: k = 1, no blend


def _lead_out(shape: np.ndarray, offset: np.ndarray, spans: list, rng):
    """The frames after the last character (`ENDS`): dropping to rest, held, or none (the
    recording stops during the last character, which keeps at least 2 frames once formed)."""
    kind = rng.choice(list(ENDS), p=list(ENDS.values()))
    if kind == "cut":
        start, formed, end = spans[-1]
        cut = int(rng.integers(min(formed + 2, end), end + 1))
        spans[-1] = (start, formed, cut)
        return shape[:cut], offset[:cut]
    n = int(rng.integers(4, 18))
    if kind == "drop":
        move = _smoothstep(n)[:, None] * np.array([0, 4.0, 0], np.float32)
    else:
        move = _hold_drift(n, rng)
    tail = offset[-1] + move
    return np.concatenate([shape, np.repeat(shape[-1:], n, 0)]), np.concatenate([offset, tail])


def hand_timeline(phrase: str, signer: Signer,
                  rng) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """Shapes [T, 21, 3] and wrist offsets [T, 3] for a whole phrase, lead-in and lead-out
    included, and each character's frames [len(phrase), 3]: where the hand starts moving towards
    it, where its shape is reached, and where the next character's (or the lead-out) begins."""
    shapes, offsets, spans, start = [], [], [], 0
    previous_shape, previous_offset, lead_in = _lead_in(rng)
    for i, char in enumerate(phrase):
        n = int(np.clip(round(signer.frames_per_char * rng.lognormal(0, 0.2)), 3, 24))
        if handshapes.GLYPHS[char].motion != "none":
            n += n // 3
        elif handshapes.GLYPHS[char].drawn:
            n += n // 2  # a whole letter drawn
        if i == 0:
            n += lead_in
        shape, offset = _key_shapes(char, n, signer, rng)
        offset = offset + _hold_drift(n, rng)
        k = lead_in if i == 0 else max(1, int(round(n * rng.uniform(0.3, 0.5))))
        blend = _smoothstep(k)[:, None]
        # Coarticulation: the first k frames morph from where the last glyph ended.
        shape[:k] = previous_shape + (shape[:k] - previous_shape) * blend[..., None]
        offset[:k] = previous_offset + (offset[:k] - previous_offset) * blend
        if i > 0 and char == phrase[i - 1]:
            offset += _repeat_mark(n, k, rng)
        if char == " " or (i > 0 and rng.random() < 0.03):  # an occasional pause
            pause = int(rng.integers(3, 12))
            shape = np.concatenate([shape, np.repeat(shape[-1:], pause, 0)])
            offset = np.concatenate([offset, np.repeat(offset[-1:], pause, 0)])
        spans.append((start, start + k, start + len(shape)))
        start += len(shape)
        # Each glyph is signed a little further along: the hand drifts across the phrase.
        shapes.append(shape)
        offsets.append(offset + np.float32(0.12) * i * np.array([1, 0.15, 0], np.float32))
        previous_shape, previous_offset = shape[-1], offsets[-1][-1]
    shape, offset = _lead_out(np.concatenate(shapes), np.concatenate(offsets), spans, rng)
    wander = np.cumsum(rng.normal(0, 0.03, offset.shape), axis=0).astype(np.float32)
    return shape, offset + wander, np.array(spans, np.int32).reshape(-1, 3)


# ---------------------------------------------------------------------------------------------
# Body, face and rendering to MediaPipe's coordinates.


def _elbow(shoulder: np.ndarray, wrist: np.ndarray, upper: float, fore: float) -> np.ndarray:
    """Two-link arm in the image plane; the elbow takes the lower of the two solutions."""
    d = wrist[:, :2] - shoulder[:2]
    dist = np.clip(np.linalg.norm(d, axis=-1, keepdims=True), 1e-6, upper + fore - 1e-6)
    along = (upper**2 - fore**2 + dist**2) / (2 * dist)
    height = np.sqrt(np.maximum(upper**2 - along**2, 0))
    unit = d / dist
    normal = np.stack([-unit[:, 1], unit[:, 0]], -1)
    normal = np.where(normal[:, 1:2] < 0, -normal, normal)  # y grows downwards
    elbow = shoulder[:2] + unit * along + normal * height
    return np.concatenate([elbow, np.repeat(shoulder[None, 2:], len(wrist), 0)], -1)


def render(phrase: str, signer: Signer,
           rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """float32 [T, 1629]: one sequence in the files' native column order; and each character's
    frames (`hand_timeline`)."""
    templates = handshapes.load_templates()
    shape, offset, spans = hand_timeline(phrase, signer, rng)
    n = len(shape)
    sw, palm = signer.shoulder_width, signer.palm
    shoulders = np.array([signer.center_x, signer.shoulder_y, 0.0], np.float32)
    pose = np.repeat((shoulders + templates["pose"] * sw * np.array([1, 1, 0.7]))[None], n, 0)
    pose = pose.astype(np.float32)
    # Signing hand: anchored in front of the chest on the signer's right (smaller x on screen).
    anchor = shoulders + np.array([-0.25 * sw, -0.2 * sw, 0])
    wrist = anchor + palm * offset
    hand = wrist[:, None] + palm * shape
    hand = hand + rng.normal(0, signer.jitter * palm, hand.shape)
    hand[..., 2] = hand[..., 2] - hand[:, :1, 2]  # MediaPipe hand z is relative to the wrist
    _attach_arm(pose, hand, RIGHT_ARM, sw, (18, 20, 22))
    # Resting hand low on the other side; MediaPipe sees it only sometimes.
    rest = templates["rest_hand"][rng.integers(len(templates["rest_hand"]))]
    rest_wrist = shoulders + np.array([0.55 * sw, 0.7 * sw, 0])
    other = rest_wrist + palm * rest + rng.normal(0, 0.01 * palm, (n, 21, 3))
    _attach_arm(pose, other, LEFT_ARM, sw, (17, 19, 21))
    face = _face(pose, sw, n, rng)
    pose += rng.normal(0, 0.004, pose.shape)
    hand = _drop_frames(hand, signer.dropout, rng)
    other = other if signer.rest_hand_visible else np.full_like(other, np.nan)
    other = _drop_frames(other, 0.4, rng)
    groups = {"face": face, "left_hand": other, "pose": pose, "right_hand": hand}
    groups = _camera(groups, signer)
    if signer.left_handed:
        groups = _mirror(groups, signer.center_x / signer.aspect)
    return _to_columns(groups), spans


def _attach_arm(pose, hand, arm, sw, hand_points) -> None:
    """Put the pose wrist, elbow and hand points where the MediaPipe hand is."""
    shoulder, elbow, wrist = arm
    pose[:, wrist, :2] = hand[:, 0, :2]
    pose[:, elbow] = _elbow(pose[0, shoulder], hand[:, 0], 1.05 * sw, 0.95 * sw)
    for point, finger in zip(hand_points, (17, 5, 2), strict=False):  # pinky, index, thumb
        pose[:, point, :2] = hand[:, finger, :2]


def _face(pose: np.ndarray, sw: float, n: int, rng) -> np.ndarray:
    """Face mesh from the SILFA template, placed on the pose nose, with slow head motion."""
    face_width = 0.42 * sw
    sway = 0.01 * np.sin(np.linspace(0, rng.uniform(1, 4), n) + rng.uniform(0, 6))[:, None]
    nose = pose[:, 0] + np.c_[sway, 0.4 * sway, np.zeros_like(sway)]
    face = nose[:, None] + handshapes.load_templates()["face"] * face_width
    face = face + rng.normal(0, 0.0015, face.shape)
    face[..., 2] = handshapes.load_templates()["face"][..., 2] * 0.1 + rng.normal(0, 0.001)
    lost = rng.random(n) < 0.005
    face[lost] = np.nan
    return face.astype(np.float32)


def _drop_frames(hand: np.ndarray, rate: float, rng) -> np.ndarray:
    """Lose the hand in bursts (a two-state chain with the requested stationary share)."""
    burst = rng.uniform(2, 8)
    leave = 1 / burst
    enter = rate * leave / max(1 - rate, 1e-3)
    lost = np.zeros(len(hand), bool)
    state = rng.random() < rate
    draws = rng.random(len(hand))
    for t in range(len(hand)):
        state = (draws[t] >= leave) if state else (draws[t] < enter)
        lost[t] = state
    hand = hand.copy()
    hand[lost] = np.nan
    return hand


def _camera(groups: dict[str, np.ndarray], signer: Signer) -> dict[str, np.ndarray]:
    """Camera roll about the body centre, then MediaPipe's normalisation by width and height."""
    r = np.radians(signer.roll)
    rotation = np.array([[np.cos(r), -np.sin(r)], [np.sin(r), np.cos(r)]], np.float32)
    centre = np.array([signer.center_x, signer.shoulder_y], np.float32)
    out = {}
    for name, points in groups.items():
        points = points.copy()
        points[..., :2] = (points[..., :2] - centre) @ rotation.T + centre
        points[..., 0] /= signer.aspect
        points[..., 2] /= signer.aspect if name.endswith("hand") else 1.0
        if name.endswith("hand"):  # MediaPipe reports no hand whose wrist is out of the frame
            outside = (np.abs(points[:, 0, :2] - 0.5) > 0.5).any(-1)
            points[outside] = np.nan
        out[name] = points
    return out


def _mirror(groups: dict[str, np.ndarray], center_x: float) -> dict[str, np.ndarray]:
    """A left-handed signer: the scene in a mirror about x = center_x (image-normalised), every
    landmark relabelled by `schema.mirror_partner` (hands, pose and face)."""
    xyz = np.concatenate([groups[g] for g in schema.GROUPS], axis=1)
    xyz = xyz[:, list(schema.mirror_partner())]
    xyz[..., 0] = 2 * center_x - xyz[..., 0]
    return {g: xyz[:, schema.group_indices(g)] for g in schema.GROUPS}


def _to_columns(groups: dict[str, np.ndarray]) -> np.ndarray:
    xyz = np.concatenate([groups[g] for g in schema.GROUPS], axis=1)  # [T, 543, 3]
    return np.ascontiguousarray(schema.coordinates(xyz), dtype=np.float32)


# ---------------------------------------------------------------------------------------------
# The dataset on disk.


def plan_split(split: str, n_sequences: int, seed: int) -> pd.DataFrame:
    """The csv of one split: ids, participants and phrases, before any frame is rendered."""
    rng = np.random.default_rng([seed, 0 if split == "train" else 1])
    # 20 sequences a signer: the demo's 4,000 sequences come from 200 signers, so the model meets
    # many cameras, hands and styles rather than learning a few signers' quirks.
    n_participants = int(np.clip(n_sequences // 20, 6, 200))
    participants = 1 + rng.choice(299, n_participants, replace=False)
    participants += 0 if split == "train" else 300
    n_files = max(1, -(-n_sequences // MAX_PER_FILE))
    file_ids = 10**6 + rng.choice(10**10, n_files, replace=False)
    sequence_ids = 10**6 + rng.choice(2 * 10**9, n_sequences, replace=False)
    phrases = PhraseGenerator(rng)
    folder = SPLITS[split][1]
    files = np.sort(np.arange(n_sequences) % n_files)
    return pd.DataFrame({
        "path": [f"{folder}/{file_ids[f]}.parquet" for f in files],
        "file_id": file_ids[files],
        "participant_id": rng.choice(participants, n_sequences),
        "sequence_id": sequence_ids,
        "phrase": [phrases.phrase(split) for _ in range(n_sequences)],
    })  # fmt: skip


def signers_for(table: pd.DataFrame, seed: int) -> dict[int, Signer]:
    return {
        int(p): make_signer(int(p), np.random.default_rng([seed, 2, int(p)]))
        for p in sorted(table.participant_id.unique())
    }


def render_file(
    rows: pd.DataFrame, signers: dict[int, Signer], seed: int, progress=None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One parquet file's frame (index sequence_id, column frame, then the 1,629 coordinates),
    and its characters' frames (`LETTER_FRAMES`)."""
    blocks, ids, frame_numbers, letters = [], [], [], []
    for row in (progress or (lambda x: x))(list(rows.itertuples(index=False))):
        rng = np.random.default_rng([seed, 3, int(row.sequence_id)])
        frames, spans = render(row.phrase, signers[int(row.participant_id)], rng)
        blocks.append(frames)
        ids.append(np.full(len(frames), row.sequence_id, np.int64))
        frame_numbers.append(np.arange(len(frames), dtype=np.int16))
        letters.append(pd.DataFrame({"sequence_id": row.sequence_id,
                                     "position": np.arange(len(spans)),
                                     "char": list(row.phrase), "start": spans[:, 0],
                                     "formed": spans[:, 1], "end": spans[:, 2]}))  # fmt: skip
    table = pd.DataFrame(np.concatenate(blocks), columns=schema.COORDINATE_COLUMNS)
    table.insert(0, "frame", np.concatenate(frame_numbers))
    table.index = pd.Index(np.concatenate(ids), name=schema.INDEX_NAME)
    return table, pd.concat(letters, ignore_index=True)


def letter_frames(data: str | Path) -> pd.DataFrame:
    """Each character's true frames in a synthetic dataset (`render_file`'s second table): one row
    per character, `start` ≤ `formed` < `end` frame numbers of its sequence."""
    found = [path for _, folder in SPLITS.values()
             for path in storage.glob(storage.join(str(data), LETTER_FRAMES, folder, "*.csv"))]
    if not found:
        raise FileNotFoundError(f"{data} has no {LETTER_FRAMES}/: not written by this synth")
    return pd.concat([pd.read_csv(storage.readable(path)) for path in sorted(found)],
                     ignore_index=True)  # fmt: skip


def _ticking(items, bar):
    for item in items:
        yield item
        bar.update(1)


def _write_file(out: str, path: str, rows: pd.DataFrame, signers: dict[int, Signer], seed: int,
                bar=None) -> int:  # fmt: skip
    """Render one parquet file and write it whole (never half a file), after its characters'
    frames (so a file that exists has them); its sequence count."""
    ticking = (lambda items: _ticking(items, bar)) if bar is not None else None
    table, letters = render_file(rows, signers, seed, progress=ticking)
    storage.write_text(storage.join(out, LETTER_FRAMES, str(Path(path).with_suffix(".csv"))),
                       letters.to_csv(index=False))  # fmt: skip
    storage.write_bytes(storage.join(out, path),
                        table.to_parquet(engine="pyarrow", compression="snappy"))  # fmt: skip
    return len(rows)


def write_dataset(
    out: str | Path, n_sequences: int, seed: int = 0, n_supplemental: int | None = None,
    workers: int = 1,
) -> str:  # fmt: skip
    """Write the whole layout into `out` (local or a bucket), one parquet file per worker at a
    time. Existing parquet files are kept (a resumed run), csvs come last."""
    out = str(out)
    n_supplemental = n_sequences // 4 if n_supplemental is None else n_supplemental
    plans = {"train": n_sequences, "supplemental": n_supplemental}
    tables = {split: plan_split(split, n, seed) for split, n in plans.items() if n > 0}
    jobs = []
    for split, table in tables.items():
        signers = signers_for(table, seed)
        storage.makedirs(storage.join(out, SPLITS[split][1]))
        storage.makedirs(storage.join(out, LETTER_FRAMES, SPLITS[split][1]))
        files = table.groupby("path", sort=False)
        jobs += [(out, path, rows, signers, seed) for path, rows in files
                 if not storage.exists(storage.join(out, path))]  # fmt: skip
    total = sum(len(t) for t in tables.values())
    with tqdm(total=total, initial=total - sum(len(job[2]) for job in jobs), desc="synth",
              unit="seq") as bar:  # fmt: skip
        if workers <= 1 or len(jobs) <= 1:  # in-process, ticking every sequence
            for job in jobs:
                _write_file(*job, bar=bar)
        else:
            for count in parallel.map_in_processes(_write_job, jobs, workers):
                bar.update(count)
    for split, table in tables.items():
        storage.write_text(storage.join(out, SPLITS[split][0]), table.to_csv(index=False))
    storage.write_text(storage.join(out, "character_to_prediction_index.json"),
                       json.dumps(schema.char_to_index()))  # fmt: skip
    return out


def _write_job(job: tuple) -> int:
    return _write_file(*job)
