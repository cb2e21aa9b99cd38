"""What the model's feature layer sees on real frames versus synthetic ones, group by group.

    python benchmarks/transfer_gap.py --synthetic demo/data

Builds the real-frame words of `real_transfer.py` (SILFA's held-out frames), reads as many
synthetic train sequences, runs `LandmarkFeatures` on both and prints, per feature group (the
signing hand relative to its wrist, its frame deltas, the sequence-normalised positions of
hands, pose and lips), the spread of the values, the share at the ±10 clip and the share that are
exactly 0 (not seen), plus the frame mask's share, which hand the layer signs with, and frames
per character.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from fingerspell import reader, schema
from fingerspell.data import SILFA
from fingerspell.features import LandmarkFeatures, model_landmarks


def feature_groups(landmarks: list[int]) -> dict[str, np.ndarray]:
    """Column indices of each feature group in the layer's output."""
    groups = {"hand (wrist-relative)": np.arange(63), "hand deltas": np.arange(63, 126)}
    kind = [schema.landmark_name(lm).rsplit("_", 1)[0].removeprefix("left_").removeprefix(
        "right_") for lm in landmarks]  # hand, pose or face
    for name in ("hand", "pose", "face"):
        points = [i for i, k in enumerate(kind) if k == name]
        groups[f"{name} positions (sequence-normalised)"] = np.array(
            [126 + 2 * i + axis for i in points for axis in (0, 1)])
    return groups


def describe(sequences: list[schema.Sequence], landmarks: list[int]) -> dict[str, float]:
    layer = LandmarkFeatures(landmarks)
    left = [i for i, lm in enumerate(landmarks) if "left_hand" in schema.landmark_name(lm)]
    right = [i for i, lm in enumerate(landmarks) if "right_hand" in schema.landmark_name(lm)]
    k = len(landmarks)
    rows, masks, lefties, rates = [], [], 0, []
    for s in sequences:
        features, mask = layer(s.frames[None])
        features, mask = np.asarray(features)[0], np.asarray(mask)[0]
        rows.append(features[mask > 0])
        masks.append(mask.mean())
        seen = np.isfinite(s.frames[:, :k])
        lefties += int(seen[:, left].any(1).sum() > seen[:, right].any(1).sum())
        rates.append(len(s.frames) / max(len(s.phrase), 1))
    values = np.concatenate(rows)
    out = {"sequences": len(sequences), "frames per character": float(np.mean(rates)),
           "frames with anything seen": float(np.mean(masks)),
           "signed with the left_hand columns": lefties / len(sequences)}  # fmt: skip
    for name, columns in feature_groups(landmarks).items():
        group = values[:, columns]
        out[f"{name}: std"] = float(group.std())
        out[f"{name}: at the clip"] = float((np.abs(group) >= 10).mean())
        out[f"{name}: exactly 0"] = float((group == 0).mean())
    return out


def main() -> None:
    from real_transfer import held_out_letters, texts, write_set

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synthetic", required=True, help="a synthetic dataset folder")
    parser.add_argument("--silfa", default=str(SILFA))
    parser.add_argument("--work", default="runs/transfer_gap")
    parser.add_argument("--sequences", type=int, default=200)
    args = parser.parse_args()
    landmarks = model_landmarks("model")
    columns = schema.columns_for(landmarks)
    letters = held_out_letters(args.silfa)
    words = texts("words", "".join(letters), args.sequences, np.random.default_rng(0))
    real_dir = write_set(letters, words, Path(args.work) / "real")
    real = list(reader.iter_sequences(real_dir, columns))
    synthetic = [s for _, s in zip(range(args.sequences),
                                   reader.iter_sequences(args.synthetic, columns))]  # fmt: skip
    table = pd.DataFrame({"synthetic": describe(synthetic, landmarks),
                          "real (SILFA words)": describe(real, landmarks)})  # fmt: skip
    print(table.to_markdown(floatfmt=".3f"))


if __name__ == "__main__":
    main()
