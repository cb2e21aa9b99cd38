"""The MediaPipe side of `video`: a worker process that runs Holistic's legacy graph on
recordings and photo folders. It runs in MediaPipe's own environment (`python -S` over the
packages of `data/mediapipe-requirements.txt`), never in a process that holds TensorFlow, and
imports nothing of the package but `schema`.

Protocol: one JSON object a line. The worker first prints `{"mediapipe": version}`, then
answers each job read from stdin with one line. A job:

- `{"op": "landmarks", "source": path, "settings": Holistic's options, "out": file.npy,
  "thumbnails": file.npz, "count": k}`: every frame's 543 landmarks as float32
  [n_frames, 1629] in the competition's column order (all x, all y, all z; NaN where a part was
  not found) into `out`; with k > 0, k evenly spaced frames, downscaled, for pictures. Answers
  `{"frames", "fps", "width", "height"}`, or `{"error": reason}` for a source that cannot be
  read.
- `{"op": "render", "source": path, "landmarks": file.npy, "labels": [str per frame], "out":
  file.mp4}`: the recording with its landmarks and each frame's label drawn on it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import mediapipe as mp
import numpy as np

from fingerspell import schema

MAX_FRAMES = 32767  # the competition's `frame` column is int16
THUMBNAIL_WIDTH = 360


class Unreadable(ValueError):
    """A source that yields no frames to read: the reason becomes a counted reject."""


def image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in schema.IMAGE_SUFFIXES)


def frames_of(source: Path):
    """(BGR frames, frames per second or None, frames expected or 0 if unknown): a folder's
    images in name order, or a video."""
    if source.is_dir():
        files = image_files(source)
        if not files:
            raise Unreadable(f"no images ({', '.join(schema.IMAGE_SUFFIXES)}) in the folder")
        return _images(files), None, len(files)
    capture = cv2.VideoCapture(str(source))
    if not capture.isOpened():
        raise Unreadable("OpenCV cannot open it as a video (damaged, truncated or not a video)")
    announced = max(0, int(capture.get(cv2.CAP_PROP_FRAME_COUNT)))
    return _video(capture, announced), capture.get(cv2.CAP_PROP_FPS) or None, announced


def _images(files: list[Path]):
    for path in files:
        image = cv2.imread(str(path))
        if image is None:
            raise Unreadable(f"{path.name}: not an image OpenCV can read")
        yield image


def _video(capture, announced: int):
    decoded = 0
    while True:
        ok, image = capture.read()
        if not ok:
            break
        decoded += 1
        yield image
    capture.release()
    if decoded == 0:
        raise Unreadable("no frame could be decoded")
    # A cut-off file whose index survived decodes up to the cut, then ends as if complete.
    if announced > 0 and decoded < 0.95 * announced:
        raise Unreadable(f"truncated: {decoded} of the {announced} frames its header announces")


def _points(landmarks, size: int) -> np.ndarray:
    if landmarks is None:
        return np.full((size, 3), np.nan, np.float32)
    return np.array([(p.x, p.y, p.z) for p in landmarks.landmark], np.float32)


def frame_row(found) -> np.ndarray:
    """One frame's 1,629 values in the competition's column order."""
    parts = {"face": found.face_landmarks, "left_hand": found.left_hand_landmarks,
             "pose": found.pose_landmarks, "right_hand": found.right_hand_landmarks}  # fmt: skip
    return schema.coordinates(np.concatenate([_points(parts[g], n)
                                              for g, n in schema.GROUPS.items()]))  # fmt: skip


def _thumbnail(image: np.ndarray) -> np.ndarray:
    scale = THUMBNAIL_WIDTH / image.shape[1]
    size = (THUMBNAIL_WIDTH, max(1, round(image.shape[0] * scale)))
    return cv2.cvtColor(cv2.resize(image, size, interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)


def _thumbnail_frames(expected: int, count: int) -> set[int] | None:
    """Which frames to keep as thumbnails: `count` evenly spaced ones; all (None) where the
    length is unknown, to choose from afterwards."""
    if count == 0:
        return set()
    if expected == 0:
        return None
    return set(np.linspace(0, expected - 1, count).round().astype(int).tolist())


def landmarks(job: dict) -> dict:
    frames, fps, expected = frames_of(Path(job["source"]))
    wanted = _thumbnail_frames(expected, job["count"])
    rows, kept, shape = [], {}, None
    with mp.solutions.holistic.Holistic(**job["settings"]) as holistic:
        for index, image in enumerate(frames):
            if index >= MAX_FRAMES:
                raise Unreadable(f"longer than {MAX_FRAMES} frames (the int16 `frame` column)")
            shape = image.shape
            rows.append(frame_row(holistic.process(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))))
            if wanted is None or index in wanted:
                kept[index] = _thumbnail(image)
    values = np.stack(rows).astype(np.float32)
    np.save(job["out"], values)
    if job["count"]:
        chosen = sorted(kept)
        chosen = [chosen[i] for i in sorted(_thumbnail_frames(len(chosen), job["count"]))]
        np.savez_compressed(job["thumbnails"], frames=np.stack([kept[i] for i in chosen]),
                            index=np.array(chosen))  # fmt: skip
    return {"frames": len(rows), "fps": fps, "width": shape[1], "height": shape[0]}


def _draw(image: np.ndarray, row: np.ndarray, label: str) -> np.ndarray:
    h, w = image.shape[:2]
    # BGR of the picture's colours (transcribe.GROUP_COLOURS): grey, green, orange, blue
    colours = {"face": (200, 200, 200), "pose": (44, 160, 44), "left_hand": (14, 127, 255),
               "right_hand": (180, 119, 31)}  # fmt: skip
    for group, colour in colours.items():
        for x, y, _ in schema.points(row, schema.group_indices(group)):
            if np.isfinite(x) and np.isfinite(y):
                cv2.circle(image, (int(x * w), int(y * h)), 1 if group == "face" else 3, colour, -1)
    cv2.putText(image, label, (10, h - 20), cv2.FONT_HERSHEY_SIMPLEX, max(0.6, w / 640), (0, 0, 0),
                4, cv2.LINE_AA)  # fmt: skip
    cv2.putText(image, label, (10, h - 20), cv2.FONT_HERSHEY_SIMPLEX, max(0.6, w / 640),
                (255, 255, 255), 2, cv2.LINE_AA)  # fmt: skip
    return image


def render(job: dict) -> dict:
    frames, fps, _ = frames_of(Path(job["source"]))
    values, labels = np.load(job["landmarks"]), job["labels"]
    writer = None
    for index, image in enumerate(frames):
        if writer is None:
            size = (image.shape[1], image.shape[0])
            writer = cv2.VideoWriter(job["out"], cv2.VideoWriter_fourcc(*"mp4v"), fps or 30, size)
        writer.write(_draw(image, values[index], labels[index]))
    writer.release()
    return {"frames": len(values)}


def main() -> None:
    print(json.dumps({"mediapipe": mp.__version__}), flush=True)
    operations = {"landmarks": landmarks, "render": render}
    for line in sys.stdin:
        job = json.loads(line)
        try:
            answer = operations[job["op"]](job)
        except Unreadable as error:
            answer = {"error": str(error)}
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
