"""Evidence that the synthetic data looks like MediaPipe output: numbers and a picture, side by
side with the real SILFA frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from fingerspell import handshapes, reader, schema

HAND_GROUPS = ("left_hand", "right_hand")


def signing_hand(frames: np.ndarray) -> np.ndarray:
    """[T, 21, 3] of the raised hand (SILFA's resting hand is tracked as often as the other)."""
    hands = [schema.points(frames, schema.group_indices(g)) for g in HAND_GROUPS]
    height = [np.nanmedian(h[:, 0, 1]) if np.isfinite(h[:, 0, 1]).any() else np.inf for h in hands]
    return hands[int(np.argmin(height))]


def sequence_stats(sequences: list[np.ndarray], aspect: float) -> dict[str, float]:
    """Statistics of a set of sequences (each [T, 1629]) recorded at width/height `aspect`."""
    stats: dict[str, float] = {}
    allframes = np.concatenate(sequences)
    for group in schema.GROUPS:
        xyz = schema.points(allframes, schema.group_indices(group))
        stats[f"nan_rate {group}"] = float(np.isnan(xyz[..., 0]).mean())
        for axis, name in enumerate("xyz"):
            lo, hi = np.nanpercentile(xyz[..., axis], [1, 99])
            stats[f"{name} range {group}"] = f"{lo:.3f} … {hi:.3f}"
    hands = [signing_hand(f) for f in sequences]
    hand = np.concatenate(hands) * np.array([aspect, 1, aspect])
    hand = hand[np.isfinite(hand).all(axis=(1, 2))]
    palm = np.linalg.norm(hand[:, 9] - hand[:, 0], axis=-1)
    for a, b in [(5, 6), (6, 7), (9, 10), (2, 3), (0, 17), (0, 5)]:
        bone = np.linalg.norm(hand[:, b] - hand[:, a], axis=-1) / palm
        stats[f"hand bone {a}-{b} / palm"] = float(np.median(bone))
    jitters = []
    for h in hands:
        local = (h - h[:, :1]) * np.array([aspect, 1, aspect])
        step = np.linalg.norm(np.diff(local, axis=0), axis=-1)
        scale = np.nanmedian(np.linalg.norm(local[:, 9], axis=-1))
        jitters.append(step / scale)
    stats["frame-to-frame shape change (palm lengths, median)"] = float(
        np.nanmedian(np.concatenate(jitters))
    )
    stats["signing hand z / palm (1-99%)"] = "{:.2f} … {:.2f}".format(
        *np.percentile(hand[..., 2] / palm[:, None] / aspect, [1, 99])
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
        "synthetic": sequence_stats(synth, schema.ASPECT),
        "real (SILFA)": sequence_stats(real, handshapes.SILFA_ASPECT),
    })  # fmt: skip
    return table


def plot_side_by_side(data_dir: str | Path, silfa_dir: str | Path, out: str | Path) -> Path:
    """A synthetic sequence's frames next to real SILFA letters: hands, pose, lips."""
    import matplotlib.pyplot as plt

    from fingerspell import plots

    columns = schema.COORDINATE_COLUMNS
    sequence = next(s for s in reader.iter_sequences(data_dir, columns) if len(s.phrase) > 8)
    real = reader.read_silfa(silfa_dir, columns)
    fig, axes = plt.subplots(2, 6, figsize=(15, 6))
    picks = np.linspace(0, len(sequence.frames) - 1, 6).astype(int)
    for ax, t in zip(axes[0], picks, strict=False):
        plots.draw_frame(ax, sequence.frames[t], schema.ASPECT)
        ax.set_title(f"synthetic '{sequence.phrase[:14]}'\nframe {t}", fontsize=8)
    for ax, s in zip(axes[1], real[:: len(real) // 6], strict=False):
        plots.draw_frame(ax, s.frames[len(s.frames) // 2], handshapes.SILFA_ASPECT)
        ax.set_title(f"real SILFA letter '{s.phrase}'", fontsize=8)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out
