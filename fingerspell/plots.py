"""Pictures the notebooks and reports share: landmark frames, learning curves, score breakdowns."""

from __future__ import annotations

import numpy as np

from fingerspell import handshapes, schema

COLOURS = {
    "left_hand": "tab:blue",
    "right_hand": "tab:red",
    "pose": "tab:gray",
    "face": "tab:green",
}


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
