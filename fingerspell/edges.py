"""Where a sequence begins and ends: a dataset rewritten with its lead-in and lead-out cut off,
or padded with hand-less frames, so that a submission scored on all three shows whether it reads
a word only when the hand rises from rest first (`benchmarks/real_transfer.py`). A probe, never a
fix: neither `transcribe` nor the exported graph trims or pads what it is given."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from fingerspell import reader, schema, storage

PAD_FRAMES = 30  # a second at 30 frames/s: a hand raised from rest, or dropped after
HANDS = ("left_hand", "right_hand")
_HAND_LANDMARKS = [i for hand in HANDS for i in schema.group_indices(hand)]


def signing_span(frames: np.ndarray) -> tuple[int, int]:
    """[first, last) frames [T, 1629] in which the signing hand is found and up where it signs:
    its wrist at most two palm lengths below its median height. The signing hand is the one found
    highest (a resting hand may be found too, low). (0, 0) where no hand is found at all."""
    xyz = schema.points(frames, list(range(schema.N_LANDMARKS)))
    heights = {}
    for hand in HANDS:
        wrist = xyz[:, schema.group_indices(hand)[0], 1]
        if np.isfinite(wrist).any():
            heights[hand] = float(np.nanmedian(wrist))
    if not heights:
        return 0, 0
    signing = min(heights, key=heights.get)  # y grows downwards
    points = xyz[:, schema.group_indices(signing)]
    palm = np.nanmedian(np.linalg.norm(points[:, 9, :2] - points[:, 0, :2], axis=-1))
    up = np.flatnonzero(points[:, 0, 1] <= heights[signing] + 2 * palm)  # NaN: not found, not up
    return int(up[0]), int(up[-1]) + 1


def cut_edges(frames: np.ndarray) -> np.ndarray:
    """The sequence without its lead-in and lead-out (`signing_span`); as is when no hand is
    found anywhere, since nothing would be left."""
    first, last = signing_span(frames)
    return frames[first:last] if last > first else frames


def pad_edges(frames: np.ndarray, n: int = PAD_FRAMES) -> np.ndarray:
    """`n` frames before and after: the face and pose of the first and last frame, no hands,
    the pose's wrists where they were (as if the hand had been raised from out of view)."""
    def still(frame: np.ndarray) -> np.ndarray:
        block = np.repeat(frame[None], n, axis=0)
        xyz = schema.points(block, list(range(schema.N_LANDMARKS)))
        xyz[:, _HAND_LANDMARKS] = np.nan
        return schema.coordinates(xyz).astype(np.float32)

    return np.concatenate([still(frames[0]), frames, still(frames[-1])])


EDGES = {"as is": lambda frames: frames, "cut": cut_edges, "padded": pad_edges}


def write_variant(data: str | Path, out: str | Path, how: str) -> str:
    """`data`'s train split (competition layout) rewritten into `out` by `EDGES[how]`: the same
    csv, ids and phrases; frames renumbered from 0."""
    change = EDGES[how]
    table = reader.read_metadata(data)
    for path, rows in table.groupby("path", sort=False):
        storage.makedirs(storage.join(str(out), str(Path(path).parent)))
        blocks = []
        for sequence in reader.iter_file(data, rows, schema.COORDINATE_COLUMNS):
            if isinstance(sequence, reader.Rejected):
                raise reader.DataError(f"{sequence.file}: sequence {sequence.sequence_id}: "
                                       f"{sequence.reason}")  # fmt: skip
            frames = change(sequence.frames)
            block = pd.DataFrame(frames, columns=schema.COORDINATE_COLUMNS)
            block.insert(0, "frame", np.arange(len(frames), dtype=np.int16))
            block.index = pd.Index(np.full(len(frames), sequence.sequence_id, np.int64),
                                   name=schema.INDEX_NAME)  # fmt: skip
            blocks.append(block)
        storage.write_bytes(storage.join(str(out), path), pd.concat(blocks).to_parquet())
    storage.write_text(storage.join(str(out), "train.csv"), table.to_csv(index=False))
    return str(out)
