"""Pictures the notebooks and reports share: landmark frames, learning curves, score breakdowns."""

from __future__ import annotations

import numpy as np

from fingerspell import schema, storage
from fingerspell.synthetic import handshapes

COLOURS = {
    "left_hand": "tab:blue",
    "right_hand": "tab:red",
    "pose": "tab:gray",
    "face": "tab:green",
}


def save(fig, path: str, dpi: int = 90) -> None:
    """A figure as PNG at `path` (local or a bucket), then closed."""
    import io

    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    plt.close(fig)
    storage.write_bytes(path, buffer.getvalue())


def draw_frame(ax, frame: np.ndarray, aspect: float) -> None:
    """One frame of all 1,629 coordinates: hands with bones, pose, lips, in image orientation."""
    for group in ("pose", "left_hand", "right_hand"):
        pts = schema.points(frame, schema.group_indices(group))
        ax.scatter(pts[:, 0] * aspect, pts[:, 1], s=4, c=COLOURS[group])
        if group.endswith("hand"):
            for a, b in handshapes.HAND_BONES:
                ax.plot(pts[[a, b], 0] * aspect, pts[[a, b], 1], c=COLOURS[group], lw=0.8)
    lips = schema.points(frame, sorted(schema.LIPS_FACE))
    ax.scatter(lips[:, 0] * aspect, lips[:, 1], s=1, c=COLOURS["face"])
    ax.set_xlim(0, aspect)
    ax.set_ylim(1, 0)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])


def sequence_frames(frames: np.ndarray, phrase: str, n: int = 6, aspect: float = schema.ASPECT):
    """`n` evenly spaced frames of one sequence (all 1,629 coordinates) side by side."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, n, figsize=(2.4 * n, 4))
    for ax, t in zip(np.atleast_1d(axes), np.linspace(0, len(frames) - 1, n).astype(int)):
        draw_frame(ax, frames[t], aspect)
        ax.set_title(f"frame {t}", fontsize=8)
    fig.suptitle(f"{phrase!r}: {len(frames)} frames (blue left hand, red right hand)")
    fig.tight_layout()
    return fig


def records_overview(meta: dict, frames: np.ndarray, chars: np.ndarray):
    """Frames per sequence, phrase lengths and sequences per fold of a records folder."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 3.5))
    axes[0].hist(frames, bins=40)
    axes[0].set(title="frames per sequence", xlabel="frames")
    axes[1].hist(chars, bins=range(0, int(chars.max()) + 2))
    axes[1].set(title="phrase length", xlabel="characters")
    names = [f"fold {k}" for k in meta["per_fold"]]
    competition = list(meta["per_fold"].values())
    axes[2].bar(names, competition, label="train.csv (validation scores these)")
    axes[2].bar(names, list(meta["supplemental_per_fold"].values()), bottom=competition,
                label="supplemental (training only)")  # fmt: skip
    axes[2].set(title="sequences per fold (grouped by participant)")
    axes[2].legend(fontsize="small")
    fig.tight_layout()
    return fig


def learning_curves(history):
    """CTC loss and validation score per epoch, from a run's history.csv table."""
    import matplotlib.pyplot as plt

    fig, (loss, score) = plt.subplots(1, 2, figsize=(12, 3.5))
    loss.plot(history.epoch + 1, history.loss)
    loss.set(title="training CTC loss", xlabel="epoch", yscale="log")
    if "val_score" in history:
        score.plot(history.epoch + 1, history.val_score, marker=".")
        score.set(title="validation score (N − D) / N", xlabel="epoch", ylim=(0, 1))
    fig.tight_layout()
    return fig
