"""A camera (or a recording played at its own frame rate) → words as they are signed:
`transcribe --camera`.

MediaPipe reads the frames in a worker of its own environment (`mediapipe_env.live_stream`), the
newest frame whenever it is free, so a slow machine drops frames instead of falling behind. Here
the frames are cut into segments, one a word: a segment starts at a frame where a hand is found
and ends at the last such frame once no hand has been seen for `END_AFTER_SECONDS` (the hands
dropped, or out of view). Each segment goes to the submission's `model.tflite` exactly as the
evaluator runs it (`litert`, no TensorFlow), the same call `transcribe` makes for a file, and its
word is printed. With `out`, each segment's landmarks are kept in the competition layout
(`video.write_sequence`), the word read as its phrase, so a session of signing becomes data.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from fingerspell import litert, storage, video
from fingerspell.mediapipe_env import LiveFrame, Source, live_stream
from fingerspell.transcribe import read_text

END_AFTER_SECONDS = 0.7  # no hand for this long ends a word
READ_EVERY = 5  # frames: how often the open segment is read again for the text on the window
SESSION = "session.json"


@dataclass
class Segment:
    frames: list[int] = field(default_factory=list)  # the source's frame indices
    seconds: list[float] = field(default_factory=list)
    values: list[np.ndarray] = field(default_factory=list)

    @property
    def start_seconds(self) -> float:
        return self.seconds[0]

    @property
    def end_seconds(self) -> float:
        return self.seconds[-1]

    def landmarks(self) -> np.ndarray:
        return np.stack(self.values)


class Segmenter:
    """Cuts a stream of frames into segments: from a frame with a hand to the last frame with a
    hand before `end_after` seconds without one. Frames without a hand inside a segment stay in
    it (MediaPipe loses a hand for a frame or two mid-word)."""

    def __init__(self, end_after: float = END_AFTER_SECONDS):
        self.end_after = end_after
        self.open: Segment | None = None
        self._last_hand = 0  # frames of the open segment up to its last frame with a hand

    def add(self, frame: int, seconds: float, values: np.ndarray) -> Segment | None:
        """Take one frame; the segment it ends, if any."""
        has_hand = video.hand_frames(values[None]) > 0
        if self.open is None:
            if not has_hand:
                return None
            self.open = Segment()
        self.open.frames.append(frame)
        self.open.seconds.append(seconds)
        self.open.values.append(values)
        if has_hand:
            self._last_hand = len(self.open.frames)
            return None
        if seconds - self.open.seconds[self._last_hand - 1] >= self.end_after:
            return self.finish()
        return None

    def finish(self) -> Segment | None:
        """The open segment, ended at its last frame with a hand (None if none is open)."""
        segment, self.open = self.open, None
        if segment is None:
            return None
        n = self._last_hand
        return Segment(segment.frames[:n], segment.seconds[:n], segment.values[:n])


class _Reader:
    """The submission's model on frames of all 1,629 columns, as the evaluator runs it; its text
    is what the model read, as `transcribe` prints it."""

    def __init__(self, submission: str):
        self.inspector, self.positions = litert.load_inspector(submission)
        self.milliseconds: list[float] = []

    def read(self, values: np.ndarray) -> str:
        started = time.perf_counter()
        text, _ = read_text(self.inspector, values[:, self.positions])
        self.milliseconds.append(1000 * (time.perf_counter() - started))
        return text


def has_display() -> bool:
    """Whether a window can be shown (not on a headless server, CI or a notebook's VM)."""
    return not sys.platform.startswith("linux") or bool(
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def run_live(source: str, submission: str, out: str | None = None,
             window: bool | None = None) -> pd.DataFrame:  # fmt: skip
    """Read `source` (a camera's index, "0", or a video file played at its own frame rate) until
    it ends, q in the window or Ctrl-C. One row per segment: name, start_frame, end_frame,
    start_seconds, end_seconds, frames, text, delay_ms (from the frame that ended the segment
    to its word), source_frames and seconds (each frame read), each printed as it is read.
    With `out`: each segment's landmarks in the competition layout, train.csv, and session.json
    (frames read and dropped, milliseconds a frame, how it stopped, each word's frames)."""
    session = _Session(source, submission, out)
    segmenter = Segmenter()
    window = has_display() if window is None else window
    with live_stream(source, window) as stream, _stop_on_ctrl_c() as stop, \
            tqdm(desc="live", unit="frame", mininterval=0.5) as bar:  # fmt: skip
        for frame in stream:
            if stop.is_set():
                break
            session.budget.add(frame)
            ended = segmenter.add(frame.frame, frame.seconds, frame.values)
            if ended is not None:
                session.word(ended, time.perf_counter())
            elif segmenter.open is not None and len(segmenter.open.frames) % READ_EVERY == 0:
                session.budget.partial = session.reader.read(segmenter.open.landmarks())
            stream.show(session.text_so_far(segmenter), session.status())
            bar.set_postfix_str(session.status(), refresh=False)
            bar.update(1)
        ended = segmenter.finish()  # the word in progress, on any way out
        if ended is not None:
            session.word(ended, time.perf_counter())
    stopped = "ctrl-c" if stop.is_set() else stream.ended.get("stopped", "the source ended")
    session.close(stream.ended, stopped)
    return pd.DataFrame(session.rows, columns=[
        "name", "start_frame", "end_frame", "start_seconds", "end_seconds", "frames", "text",
        "delay_ms", "source_frames", "seconds"])  # fmt: skip


class _Session:
    """The words read so far, what they cost, and what `out` keeps of them."""

    def __init__(self, source: str, submission: str, out: str | None):
        self.source, self.out, self.name = source, out, _session_name(source)
        self.reader, self.budget, self.rows = _Reader(submission), _Budget(), []
        if out:
            video.open_folder(out)

    def word(self, segment: Segment, ended_at: float) -> None:
        """Read a finished segment, keep it, print it."""
        text = self.reader.read(segment.landmarks())
        row = {"name": f"{self.name}@{segment.start_seconds:.2f}s",
               "start_frame": segment.frames[0], "end_frame": segment.frames[-1],
               "start_seconds": segment.start_seconds, "end_seconds": segment.end_seconds,
               "frames": len(segment.frames), "text": text,
               "delay_ms": 1000 * (time.perf_counter() - ended_at),
               "source_frames": segment.frames, "seconds": segment.seconds}  # fmt: skip
        self.rows.append(row)
        if self.out:
            self._keep(row, segment)
            self._write_session({}, stopped=None)
        tqdm.write(f"{row['start_seconds']:7.2f}–{row['end_seconds']:.2f} s\t{text}")

    def status(self) -> str:
        milliseconds = self.reader.milliseconds[-20:]
        self.budget.model_ms = float(np.mean(milliseconds)) if milliseconds else 0.0
        return self.budget.status()

    def text_so_far(self, segmenter: Segmenter) -> str:
        words = [row["text"] for row in self.rows[-4:]]
        if segmenter.open is not None:
            words.append(self.budget.partial + "…")
        return "  ".join(words)

    def close(self, ended: dict, stopped: str) -> None:
        if self.out:
            self._write_session(ended, stopped)
        if ended.get("error"):
            print(f"{self.source}: {ended['error']}", file=sys.stderr)

    def _keep(self, row: dict, segment: Segment) -> None:
        seconds = segment.end_seconds - segment.start_seconds
        fps = (len(segment.frames) - 1) / seconds if seconds > 0 else None
        video.write_sequence(self.out, Source(self.source, row["name"]), segment.landmarks(),
                             {"fps": fps, "width": self.budget.width,
                              "height": self.budget.height, "phrase": row["text"]})  # fmt: skip
        video.write_tables(self.out, {})

    def _write_session(self, ended: dict, stopped: str | None) -> None:
        """session.json: how the session went, and each word's source frames and their times
        (the frames Holistic read: dropped ones are missing)."""
        budget = self.budget
        storage.write_text(storage.join(self.out, SESSION), json.dumps({
            "source": self.name, "stopped": stopped, "frames": budget.frames,
            "dropped": budget.dropped,
            "mediapipe_ms": float(np.mean(budget.mediapipe_ms)) if budget.frames else None,
            "draw_ms": float(np.mean(budget.draw_ms)) if budget.frames else None,
            "error": ended.get("error"), "words": self.rows}, indent=1,
            default=float))  # fmt: skip


@contextlib.contextmanager
def _stop_on_ctrl_c():
    """Ctrl-C sets the event, so the loop stops between frames (no file half-written); a second
    one interrupts as usual. MediaPipe's worker ignores it: this process closes the worker."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop  # signals reach the main thread only
        return

    def handler(signum, frame):
        stop.set()
        signal.signal(signal.SIGINT, previous)
        tqdm.write("stopping: reading the word in progress (Ctrl-C again to abandon it)")

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)


@dataclass
class _Budget:
    """Where each frame's time goes, for the status line and session.json."""

    frames: int = 0
    dropped: int = 0
    mediapipe_ms: list[float] = field(default_factory=list)
    draw_ms: list[float] = field(default_factory=list)
    model_ms: float = 0.0
    partial: str = ""
    started: float = field(default_factory=time.perf_counter)
    width: int = 0
    height: int = 0

    def add(self, frame: LiveFrame) -> None:
        if self.frames == 0:  # the rate counts from the first frame, not the worker's start
            self.started = time.perf_counter()
        self.frames += 1
        self.dropped = frame.dropped
        self.mediapipe_ms.append(frame.mediapipe_ms)
        self.draw_ms.append(frame.draw_ms)
        self.width, self.height = frame.width, frame.height

    def status(self) -> str:
        rate = self.frames / max(time.perf_counter() - self.started, 1e-9)
        return (f"{rate:.1f} frames/s, mediapipe {np.mean(self.mediapipe_ms[-30:]):.0f} ms, "
                f"model {self.model_ms:.0f} ms, draw {np.mean(self.draw_ms[-30:]):.0f} ms, "
                f"dropped {self.dropped}")  # fmt: skip


def _session_name(source: str) -> str:
    if source.isdigit():
        return f"camera{source}-{datetime.now():%Y%m%dT%H%M%S}"
    return Path(source).name
