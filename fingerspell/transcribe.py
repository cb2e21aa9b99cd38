"""Videos → text: landmarks (`video`, MediaPipe in its own processes) → a submission's
`model.tflite` run exactly as the competition's evaluator runs it (`litert`) → the text.

Nothing here imports TensorFlow or Keras: LiteRT runs the file. The text is what the model read
(`read_text`): where it read nothing that is "", not the run's fallback phrase, which the file
answers for the competition's metric (`check` scores that answer). With an output folder, each
video gets a picture a person would rather look at than read: frames with their landmarks drawn,
and under them the per-frame character timeline — which class the model's CTC head picked at
each frame, read from the same file (its per-frame argmax tensor, `litert.Inspector`) — and,
if asked, the video itself with the landmarks and the text read so far drawn on it.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from fingerspell import litert, schema, storage, video
from fingerspell.mediapipe_env import extract, render

THUMBNAILS = 6


def text_so_far(classes: np.ndarray) -> list[str]:
    """The text read up to each frame: `litert.collapse` of the classes so far."""
    lookup, text, so_far = schema.index_to_char(), "", []
    for c, read in zip(classes.tolist(), litert.emitted(classes)):
        text += lookup.get(c, "") if read else ""
        so_far.append(text)
    return so_far


def read_text(inspector: litert.Inspector, frames: np.ndarray) -> tuple[str, np.ndarray]:
    """What the file's model read from `frames` (the evaluator's columns) and its class at each
    model frame: the characters those classes emit, which are the file's answer, or "" where
    it read nothing (the answer is then the fallback phrase, a guess for the metric, not a
    reading a person should be shown)."""
    classes = inspector.run(frames)["classes"]
    return litert.collapse(classes), classes


def per_video_frame(model_frames: np.ndarray, n_frames: int) -> np.ndarray:
    """Model frames back onto the video's frames: the graph resamples a longer sequence evenly
    to its frame budget and appends one empty frame (dropped here)."""
    model_frames = model_frames[:-1] if len(model_frames) > 1 else model_frames
    positions = np.minimum((np.arange(n_frames) * len(model_frames)) // max(n_frames, 1),
                           len(model_frames) - 1)  # fmt: skip
    return model_frames[positions]


def transcribe(
    videos: list[str], submission: str, out: str | None = None, workers: int = 1,
    annotated_video: bool = False,
) -> pd.DataFrame:  # fmt: skip
    """One row per video: video, text, frames, hand_frames, rejected (the reason, or ""),
    picture (its path, or "").
    With `out`: a picture per video (`bead_mp4.png` for bead.mp4), with `annotated_video` the
    video drawn on (`bead_mp4.mp4`), and transcripts.csv."""
    inspector, positions = litert.load_inspector(submission)
    sources = video.sources_of(videos)
    if out:
        storage.makedirs(out)
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        answers = extract(sources, scratch, workers, THUMBNAILS if out else 0)
        for source, answer in tqdm(answers, total=len(sources), desc="transcribe", unit="video"):
            if "error" in answer:
                rows.append({"video": source.name, "text": "", "frames": 0, "hand_frames": 0,
                             "rejected": answer["error"], "picture": ""})  # fmt: skip
                continue
            values = np.load(answer["landmarks"])
            frames = values[:, positions]  # the evaluator's selected_columns, in their order
            text, model_classes = read_text(inspector, frames)
            classes = per_video_frame(model_classes, len(frames))
            picture = (_illustrate(out, source, answer, values, classes, text, annotated_video,
                                   scratch) if out else "")  # fmt: skip
            rows.append({"video": source.name, "text": text, "frames": len(frames),
                         "hand_frames": video.hand_frames(values), "rejected": "",
                         "picture": picture})  # fmt: skip
    results = pd.DataFrame(rows, columns=["video", "text", "frames", "hand_frames", "rejected",
                                          "picture"])  # fmt: skip
    if out:
        storage.write_text(storage.join(out, "transcripts.csv"), results.to_csv(index=False))
    return results


def _illustrate(out, source, answer, values, classes, text, annotated_video, scratch) -> str:
    """The picture (and the annotated video) of one video in `out`; the picture's path."""
    from fingerspell import plots

    thumbnails = np.load(answer["thumbnails"])
    figure = plot_transcript(thumbnails["frames"], thumbnails["index"], values, classes, text,
                             source.name, answer.get("seconds"))  # fmt: skip
    stem = source.name.replace(".", "_")  # bead.mp4 → bead_mp4.png, beside a folder `bead`
    plots.save(figure, storage.join(out, f"{stem}.png"))
    if annotated_video:
        rendered = str(Path(scratch) / f"{source.sequence_id}.mp4")
        labels = text_so_far(classes)
        render(source, answer["landmarks"], labels, rendered)
        storage.write_bytes(storage.join(out, f"{stem}.mp4"), Path(rendered).read_bytes())
    return storage.join(out, f"{stem}.png")


def plot_transcript(thumbnails, index, values, classes, text, name, seconds):
    """Frames with their landmarks (titled with their timestamps, where `seconds` has them), then
    the per-frame character timeline and hand detection."""
    import matplotlib.pyplot as plt

    n = len(thumbnails)
    # The frames' row is as tall as the frames are at their width: no empty band above them.
    column = 2.4 * max(n, 4) / n
    row = column * thumbnails.shape[1] / thumbnails.shape[2]
    figure = plt.figure(figsize=(column * n, row + 2.6), layout="constrained")
    grid = figure.add_gridspec(2, n, height_ratios=[row, 1.6])
    for k, (image, i) in enumerate(zip(thumbnails, index)):
        axis = figure.add_subplot(grid[0, k])
        axis.imshow(image)
        _draw_landmarks(axis, values[i], image.shape)
        stamp = f", {seconds[i]:.2f} s" if seconds is not None else ""
        axis.set_title(f"frame {i}{stamp}", fontsize=8)
        axis.axis("off")
    timeline = figure.add_subplot(grid[1, :])
    _draw_timeline(timeline, values, classes)
    figure.suptitle(f"{name}: “{text}”" if text else f"{name}: nothing read", fontsize=12)
    return figure


GROUP_COLOURS = {"face": "0.8", "pose": "tab:green", "left_hand": "tab:orange",
                 "right_hand": "tab:blue"}  # fmt: skip


def _draw_landmarks(axis, row: np.ndarray, shape) -> None:
    height, width = shape[:2]
    for group, colour in GROUP_COLOURS.items():
        xyz = schema.points(row, schema.group_indices(group))
        axis.scatter(xyz[:, 0] * width, xyz[:, 1] * height, s=1 if group == "face" else 4,
                     c=colour, label=group)  # fmt: skip
    axis.set(xlim=(0, width), ylim=(height, 0))  # points off the frame do not shrink it


def _draw_timeline(axis, values: np.ndarray, classes: np.ndarray) -> None:
    frames = np.arange(len(values))
    for lane, group in enumerate(("left_hand", "right_hand")):
        seen = np.isfinite(values[:, schema.COORDINATE_COLUMNS.index(f"x_{group}_0")])
        axis.fill_between(frames, lane, lane + 0.8, where=seen, step="mid",
                          color=GROUP_COLOURS[group], alpha=0.35,
                          label=f"{group} found")  # fmt: skip
    lookup = schema.index_to_char()
    for start in np.flatnonzero(litert.emitted(classes)):  # where each character is read
        axis.axvline(start, color="0.3", lw=0.5)
        axis.text(start, 2.2, repr(lookup.get(int(classes[start]), "?"))[1:-1], fontsize=10,
                  ha="left", va="bottom")  # fmt: skip
    axis.set(xlim=(0, max(len(values) - 1, 1)), ylim=(0, 3.4), yticks=[], xlabel="frame")
    axis.set_title("character the model picks at each frame (CTC, blanks unmarked) and the "
                   "frames where MediaPipe found a hand", fontsize=8)  # fmt: skip
    axis.legend(loc="upper right", fontsize=7)
