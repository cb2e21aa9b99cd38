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
  `{"frames", "fps", "width", "height", "seconds"}` (each frame's timestamp; None for images),
  or `{"error": reason}` for a source that cannot be read.
- `{"op": "render", "source": path, "landmarks": file.npy, "labels": [str per frame], "out":
  file.mp4}`: the recording with its landmarks and each frame's label drawn on it.
- `{"op": "live", "source": camera index or path, "settings": …, "window": bool}`: frames as
  they come (a camera, or a file played at its own rate), the newest one whenever Holistic is
  free, so frames are dropped, never queued, when it falls behind. One line a frame (`frame`,
  `seconds`, `dropped` so far, `mediapipe_ms`, `draw_ms`, `width`, `height`, `values`: the
  1,629 float32 values, base64), then the answer line (`stopped`, and `error` if the source
  failed). Lines sent to its stdin meanwhile
  (`{"text", "status"}`) are drawn on the window; the end of its stdin, or q / Esc in the window,
  stops it. The last job a worker runs.
"""

from __future__ import annotations

import base64
import json
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import av
import cv2
import mediapipe as mp
import numpy as np

from fingerspell import schema

MAX_FRAMES = 32767  # the competition's `frame` column is int16
# A video whose frames end this much before the duration its container announces was cut: more
# than a long frame of a variable frame rate, or an audio track that runs a little longer.
CUT_TOLERANCE_SECONDS = 0.5
THUMBNAIL_WIDTH = 360


class Unreadable(ValueError):
    """A source that yields no frames to read: the reason becomes a counted reject."""


def image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in schema.IMAGE_SUFFIXES)


def frames_of(source: Path) -> tuple[Iterator[tuple[float | None, np.ndarray]], dict, int]:
    """((seconds, BGR frame) pairs, facts, frames expected or 0 if unknown): a folder's images in
    name order (seconds None), or every frame a video's decoder gives, at its timestamp.
    `facts["fps"]` is the frame rate (None for images): the container's nominal rate until the
    frames are read, then the rate their timestamps show."""
    if source.is_dir():
        files = image_files(source)
        if not files:
            raise Unreadable(f"no images ({', '.join(schema.IMAGE_SUFFIXES)}) in the folder")
        return _images(files), {"fps": None}, len(files)
    try:
        container = av.open(str(source))
    except av.FFmpegError as error:
        raise Unreadable(f"FFmpeg cannot open it as a video ({_reason(error)}): damaged, cut "
                         "before its index, or not a video") from error  # fmt: skip
    if not container.streams.video:
        container.close()
        raise Unreadable("it holds no video stream")
    stream = container.streams.video[0]
    facts = {"fps": float(stream.average_rate or stream.guessed_rate or 0) or None}
    return _video(container, stream, facts), facts, stream.frames  # 0 where it lists none


def _images(files: list[Path]):
    for path in files:
        image = cv2.imread(str(path))
        if image is None:
            raise Unreadable(f"{path.name}: not an image OpenCV can read")
        yield None, image


def _video(container, stream, facts: dict):
    """Every decoded frame. A file is judged by what FFmpeg reports, not by an estimated frame
    count (duration × nominal rate, which phones' and browsers' variable rates defeat): a
    decoding error, fewer frames than the container's own list of the frames it shows (an
    AVI's header, an mp4's index less the frames its edit list hides), or frames that end well
    before the duration it announces mean a cut file."""
    times, hidden = [], 0
    start = stream.start_time or 0
    with container:
        try:
            for packet in container.demux(stream):
                hidden += packet.pts is not None and packet.pts < start  # before the timeline
                for frame in packet.decode():
                    times.append(frame.time)
                    yield frame.time, frame.to_ndarray(format="bgr24")
        except av.FFmpegError as error:
            raise Unreadable(f"damaged or cut: decoding failed after {len(times)} frames "
                             f"({_seconds(times)}): {_reason(error)}") from error  # fmt: skip
        announced = _announced_seconds(container, stream)
    if not times:
        raise Unreadable("no frame could be decoded")
    shown = stream.frames - hidden  # counted by the muxer (0: a WebM lists none): not an estimate
    if stream.frames and len(times) < 0.95 * shown:
        raise Unreadable(f"truncated: {len(times)} of the {shown} frames its container lists")
    known = [t for t in times if t is not None]
    if announced and known and known[-1] + CUT_TOLERANCE_SECONDS < announced:
        raise Unreadable(f"truncated: its frames end at {known[-1]:.2f} s of the "
                         f"{announced:.2f} s its container announces")  # fmt: skip
    if len(known) > 1 and known[-1] > known[0]:
        facts["fps"] = (len(known) - 1) / (known[-1] - known[0])


def _announced_seconds(container, stream) -> float | None:
    """The video's duration by its own stream, else the container's (a browser's WebM has
    only the latter, and a live recording often neither)."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return None


def _seconds(times: list) -> str:
    known = [t for t in times if t is not None]
    return f"up to {known[-1]:.2f} s" if known else "no timestamps"


def _reason(error: Exception) -> str:
    return getattr(error, "strerror", None) or str(error)


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
    frames, facts, expected = frames_of(Path(job["source"]))
    wanted = _thumbnail_frames(expected, job["count"])
    rows, times, kept, shape = [], [], {}, None
    with mp.solutions.holistic.Holistic(**job["settings"]) as holistic:
        for index, (seconds, image) in enumerate(frames):
            if index >= MAX_FRAMES:
                raise Unreadable(f"longer than {MAX_FRAMES} frames (the int16 `frame` column)")
            shape = image.shape
            rows.append(frame_row(holistic.process(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))))
            times.append(seconds)
            if wanted is None or index in wanted:
                kept[index] = _thumbnail(image)
    values = np.stack(rows).astype(np.float32)
    np.save(job["out"], values)
    if job["count"]:
        chosen = sorted(kept)
        chosen = [chosen[i] for i in sorted(_thumbnail_frames(len(chosen), job["count"]))]
        np.savez_compressed(job["thumbnails"], frames=np.stack([kept[i] for i in chosen]),
                            index=np.array(chosen))  # fmt: skip
    return {"frames": len(rows), "fps": facts["fps"], "width": shape[1], "height": shape[0],
            "seconds": times if None not in times else None}  # fmt: skip


def _draw(image: np.ndarray, row: np.ndarray, label: str, status: str = "") -> np.ndarray:
    h, w = image.shape[:2]
    # BGR of the picture's colours (transcribe.GROUP_COLOURS): grey, green, orange, blue
    colours = {"face": (200, 200, 200), "pose": (44, 160, 44), "left_hand": (14, 127, 255),
               "right_hand": (180, 119, 31)}  # fmt: skip
    for group, colour in colours.items():
        for x, y, _ in schema.points(row, schema.group_indices(group)):
            if np.isfinite(x) and np.isfinite(y):
                cv2.circle(image, (int(x * w), int(y * h)), 1 if group == "face" else 3, colour, -1)
    _outlined(image, label, (10, h - 20), max(0.6, w / 640), 2)
    if status:
        _outlined(image, status, (10, 24), 0.5, 1)
    return image


def _outlined(image: np.ndarray, text: str, origin: tuple[int, int], scale: float,
              thickness: int) -> None:  # fmt: skip
    """White text with a black outline: readable on any picture."""
    for colour, width in (((0, 0, 0), thickness + 2), ((255, 255, 255), thickness)):
        cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, width,
                    cv2.LINE_AA)  # fmt: skip


def render(job: dict) -> dict:
    frames, facts, _ = frames_of(Path(job["source"]))
    values, labels = np.load(job["landmarks"]), job["labels"]
    writer = None
    for index, (_, image) in enumerate(frames):
        if writer is None:
            size = (image.shape[1], image.shape[0])
            writer = cv2.VideoWriter(job["out"], cv2.VideoWriter_fourcc(*"mp4v"),
                                     facts["fps"] or 30, size)  # fmt: skip
        writer.write(_draw(image, values[index], labels[index]))
    writer.release()
    return {"frames": len(values)}


class _Newest:
    """The newest frame, and how many were replaced before Holistic took them."""

    def __init__(self):
        self._ready = threading.Condition()
        self._frame, self.dropped, self.ended, self.error = None, 0, False, None

    def put(self, frame) -> None:
        with self._ready:
            self.dropped += self._frame is not None
            self._frame = frame
            self._ready.notify()

    def end(self, error: str | None = None) -> None:
        with self._ready:
            self.ended, self.error = True, error
            self._ready.notify()

    def take(self):
        """The newest (index, seconds, image), or None once the source has ended."""
        with self._ready:
            self._ready.wait_for(lambda: self._frame is not None or self.ended)
            frame, self._frame = self._frame, None
            return frame


def _play(path: str, newest: _Newest, stop: threading.Event) -> None:
    """A file's frames, each at its own time from the first (as a camera would give them)."""
    try:
        frames, facts, _ = frames_of(Path(path))
        start = None
        for index, (seconds, image) in enumerate(frames):
            seconds = index / (facts["fps"] or 30) if seconds is None else seconds
            start = time.monotonic() - seconds if start is None else start
            time.sleep(max(0.0, start + seconds - time.monotonic()))
            if stop.is_set():
                break
            newest.put((index, seconds, image))
    except Unreadable as error:
        newest.end(str(error))
        return
    newest.end()


def _capture(index: int, newest: _Newest, stop: threading.Event) -> None:
    camera = cv2.VideoCapture(index)
    if not camera.isOpened():
        newest.end(f"camera {index} cannot be opened (is it in use, or not there?)")
        return
    start, frame = time.monotonic(), 0
    while not stop.is_set():
        ok, image = camera.read()
        if not ok:
            newest.end(f"camera {index} stopped giving frames after {frame}")
            break
        newest.put((frame, time.monotonic() - start, image))
        frame += 1
    camera.release()
    newest.end()


def _listen(overlay: dict, stop: threading.Event) -> None:
    """What to draw, as the other process sends it; the end of stdin means stop."""
    for line in sys.stdin:
        overlay.update(json.loads(line))
    stop.set()


WINDOW = "fingerspell (q: quit)"


def live(job: dict) -> dict:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the other process's to handle
    newest, stop, overlay = _Newest(), threading.Event(), {"text": "", "status": ""}
    source = job["source"]
    read = _capture if source.isdigit() else _play
    threading.Thread(target=read, args=(int(source) if source.isdigit() else source, newest,
                                        stop), daemon=True).start()  # fmt: skip
    threading.Thread(target=_listen, args=(overlay, stop), daemon=True).start()
    quit_key = False
    with mp.solutions.holistic.Holistic(**job["settings"]) as holistic:
        while not stop.is_set() and (taken := newest.take()) is not None:
            index, seconds, image = taken
            started = time.perf_counter()
            row = frame_row(holistic.process(cv2.cvtColor(image, cv2.COLOR_BGR2RGB)))
            drawn = time.perf_counter()
            if job["window"]:
                cv2.imshow(WINDOW, _draw(image, row, overlay["text"], overlay["status"]))
                if cv2.waitKey(1) & 0xFF in (ord("q"), 27):
                    stop.set()
                    quit_key = True
            print(json.dumps({
                "frame": index, "seconds": seconds, "dropped": newest.dropped,
                "mediapipe_ms": 1000 * (drawn - started),
                "draw_ms": 1000 * (time.perf_counter() - drawn),
                "width": image.shape[1], "height": image.shape[0],
                "values": base64.b64encode(row.astype(np.float32).tobytes()).decode()}),
                flush=True)  # fmt: skip
    stop.set()
    if job["window"]:
        cv2.destroyAllWindows()
    ended = {"stopped": "q in the window" if quit_key else "the source ended"}
    return {**ended, "error": newest.error} if newest.error else ended


def main() -> None:
    print(json.dumps({"mediapipe": mp.__version__}), flush=True)
    operations = {"landmarks": landmarks, "render": render, "live": live}
    for line in sys.stdin:
        job = json.loads(line)
        try:
            answer = operations[job["op"]](job)
        except Unreadable as error:
            answer = {"error": str(error)}
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
