"""Evidence that the synthetic data looks like MediaPipe output: numbers and a picture, side by
side with the real SILFA frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from fingerspell import reader, schema, storage
from fingerspell.synthetic import handshapes

HAND_GROUPS = ("left_hand", "right_hand")


def signing_hand(frames: np.ndarray) -> np.ndarray:
    """[T, 21, 3] of the raised hand (SILFA's resting hand is tracked as often as the other)."""
    hands = [schema.points(frames, schema.group_indices(g)) for g in HAND_GROUPS]
    height = [np.nanmedian(h[:, 0, 1]) if np.isfinite(h[:, 0, 1]).any() else np.inf for h in hands]
    return hands[int(np.argmin(height))]


def camera_aspect(hand: np.ndarray) -> float:
    """The frame's width / height, estimated from a hand [T, 21, 3] in MediaPipe's coordinates
    (x and z over the width, y over the height): the aspect under which the hand's bones keep
    their relative lengths best across frames. Bones are rigid, and the hand turns as it signs;
    a wrong aspect stretches whichever bones point sideways. NaN with fewer than 3 full frames."""
    hand = hand[np.isfinite(hand).all(axis=(1, 2))]
    if len(hand) < 3:
        return float("nan")
    bones = np.array(handshapes.HAND_BONES)
    candidates = np.geomspace(0.25, 4.0, 81)
    costs = []
    for aspect in candidates:
        scaled = hand * np.array([aspect, 1.0, aspect])
        length = np.linalg.norm(scaled[:, bones[:, 1]] - scaled[:, bones[:, 0]], axis=-1)
        length /= length.sum(axis=1, keepdims=True)  # the hand's distance to the camera varies
        costs.append(np.mean(length.std(axis=0) / length.mean(axis=0)))
    return float(candidates[int(np.argmin(costs))])


def bone_ratios(hand: np.ndarray) -> dict[str, float]:
    """Median length of a few bones over the palm (wrist → middle knuckle), hands [N, 21, 3] in
    units equal on every axis."""
    palm = np.linalg.norm(hand[:, 9] - hand[:, 0], axis=-1)
    return {
        f"hand bone {a}-{b} / palm": float(
            np.median(np.linalg.norm(hand[:, b] - hand[:, a], axis=-1) / palm)
        )
        for a, b in [(5, 6), (6, 7), (9, 10), (2, 3), (0, 17), (0, 5)]
    }


def sequence_stats(sequences: list[np.ndarray]) -> dict[str, float]:
    """Statistics of a set of sequences (each [T, 1629]); hand geometry is measured after undoing
    each sequence's camera aspect (`camera_aspect`)."""
    stats: dict[str, float] = {}
    allframes = np.concatenate(sequences)
    for group in schema.GROUPS:
        xyz = schema.points(allframes, schema.group_indices(group))
        stats[f"nan_rate {group}"] = float(np.isnan(xyz[..., 0]).mean())
        for axis, name in enumerate("xyz"):
            lo, hi = np.nanpercentile(xyz[..., axis], [1, 99])
            stats[f"{name} range {group}"] = f"{lo:.3f} … {hi:.3f}"
    hands = [signing_hand(f) for f in sequences]
    aspects = np.array([camera_aspect(h) for h in hands])
    stats["camera width / height, estimated (10–90 %)"] = "{:.2f} … {:.2f}".format(
        *np.nanpercentile(aspects, [10, 90])
    )
    aspects = np.where(np.isfinite(aspects), aspects, np.nanmedian(aspects))
    hands = [h * np.array([a, 1, a]) for h, a in zip(hands, aspects, strict=True)]
    hand = np.concatenate(hands)
    hand = hand[np.isfinite(hand).all(axis=(1, 2))]
    palm = np.linalg.norm(hand[:, 9] - hand[:, 0], axis=-1)
    stats.update(bone_ratios(hand))
    jitters = []
    for h in hands:
        local = h - h[:, :1]
        step = np.linalg.norm(np.diff(local, axis=0), axis=-1)
        scale = np.nanmedian(np.linalg.norm(local[:, 9], axis=-1))
        jitters.append(step / scale)
    stats["frame-to-frame shape change (palm lengths, median)"] = float(
        np.nanmedian(np.concatenate(jitters))
    )
    stats["signing hand z / palm (1-99%)"] = "{:.2f} … {:.2f}".format(
        *np.percentile(hand[..., 2] / palm[:, None], [1, 99])
    )
    return stats


def compare(data_dir: str | Path, silfa_dir: str | Path, limit: int = 300) -> pd.DataFrame:
    columns = schema.COORDINATE_COLUMNS
    synth = []
    for item in reader.iter_sequences(data_dir, columns):
        synth.append(item.frames)
        if len(synth) >= limit:
            break
    real = [s.frames for s in reader.read_silfa(silfa_dir, columns)]
    table = pd.DataFrame({
        "synthetic": sequence_stats(synth),
        "real (SILFA)": sequence_stats(real),
    })  # fmt: skip
    return table


def plot_side_by_side(data_dir: str | Path, silfa_dir: str | Path, out: str | Path) -> str:
    """A synthetic sequence's frames next to real SILFA letters: hands, pose, lips."""
    import matplotlib.pyplot as plt

    from fingerspell import plots

    columns = schema.COORDINATE_COLUMNS
    sequence = next(s for s in reader.iter_sequences(data_dir, columns) if len(s.phrase) > 8)
    real = reader.read_silfa(silfa_dir, columns)
    fig, axes = plt.subplots(2, 6, figsize=(15, 6))
    picks = np.linspace(0, len(sequence.frames) - 1, 6).astype(int)
    aspect = camera_aspect(signing_hand(sequence.frames))  # each synthetic signer has a camera
    for ax, t in zip(axes[0], picks, strict=False):
        plots.draw_frame(ax, sequence.frames[t], aspect if np.isfinite(aspect) else schema.ASPECT)
        ax.set_title(f"synthetic '{sequence.phrase[:14]}'\nframe {t}", fontsize=8)
    for ax, s in zip(axes[1], real[:: len(real) // 6], strict=False):
        plots.draw_frame(ax, s.frames[len(s.frames) // 2], handshapes.SILFA_ASPECT)
        ax.set_title(f"real SILFA letter '{s.phrase}'", fontsize=8)
    fig.tight_layout()
    storage.makedirs(storage.parent(out))
    plots.save(fig, str(out))
    return str(out)
