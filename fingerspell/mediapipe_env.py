"""MediaPipe's own environment and the worker processes that run it.

MediaPipe 0.10.21 (the last release with Holistic's legacy graph and its models bundled) pins
protobuf < 5, and TensorFlow ≥ 2.20 needs protobuf ≥ 5: the two never share a Python
environment. So this process never imports MediaPipe. Workers do (`holistic`): this interpreter
started with `-S` (no site-packages at all) over a folder of MediaPipe's own pinned packages
(`data/mediapipe-requirements.txt`), installed there once, on first use, by
`pip install --no-deps --target`. No installed framework or protobuf is touched, in a notebook
kernel either, and it works offline once installed. Workers hand each source's frames back as a
`.npy` file.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
from filelock import FileLock

from fingerspell.reader import DataError

# The legacy Holistic solution's options, as Kaggle's data was made: video mode (tracking from
# frame to frame); model_complexity=1, the only pose model the wheel bundles (0 and 2 are
# downloaded on first use); refine_face_landmarks=False, the 468-point face mesh of the
# competition's columns (True adds 10 iris points); the solution's default confidences.
HOLISTIC = {
    "static_image_mode": False,
    "model_complexity": 1,
    "smooth_landmarks": True,
    "enable_segmentation": False,
    "refine_face_landmarks": False,
    "min_detection_confidence": 0.5,
    "min_tracking_confidence": 0.5,
}
PACKAGE = Path(__file__).resolve().parent


class MediaPipeError(ModuleNotFoundError):
    """MediaPipe's environment could not be installed or started: the message says why."""


def requirements() -> str:
    return resources.files("fingerspell.data").joinpath("mediapipe-requirements.txt").read_text()


def environment() -> Path:
    """MediaPipe's package folder: `$FINGERSPELL_MEDIAPIPE` if set, else one under the user's
    cache, made on first use (one process installs, others wait for it)."""
    if os.environ.get("FINGERSPELL_MEDIAPIPE"):
        return Path(os.environ["FINGERSPELL_MEDIAPIPE"])
    tag = hashlib.sha256(requirements().encode()).hexdigest()[:12]
    python = f"py{sys.version_info.major}{sys.version_info.minor}"
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    home = cache / "fingerspell" / f"mediapipe-{python}-{tag}"
    if not (home / "COMPLETE").exists():
        home.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(home.parent / f"{home.name}.lock"):
            if not (home / "COMPLETE").exists():
                _install(home)
    return home


def _install(home: Path) -> None:
    partial = home.parent / f"{home.name}.partial-{os.getpid()}"
    print(f"installing MediaPipe's own environment into {home} (once; about 460 MB)",
          file=sys.stderr)  # fmt: skip
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as listed:
        listed.write(requirements())
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
               "--no-deps", "--target", str(partial), "-r", listed.name]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True)
    os.unlink(listed.name)
    if done.returncode != 0:
        raise MediaPipeError(
            "could not install MediaPipe's environment (fingerspell/data/mediapipe-requirements"
            f".txt) for Python {sys.version.split()[0]}: {done.stderr.strip()[-1500:]}\n"
            "Or point FINGERSPELL_MEDIAPIPE at a folder holding those packages.")  # fmt: skip
    (partial / "COMPLETE").write_text(requirements())
    os.replace(partial, home)


class _Worker:
    """One `holistic` process, fed one job at a time."""

    def __init__(self, home: Path, scratch: Path):
        # The package alone, through a link: its parent may be a site-packages whose protobuf
        # and frameworks must stay out of MediaPipe's process.
        self.path = Path(tempfile.mkdtemp(dir=scratch))
        (self.path / "fingerspell").symlink_to(PACKAGE, target_is_directory=True)
        self.home, self.log = home, self.path / "worker.log"
        self._start()

    def _start(self) -> None:
        # A notebook kernel's MPLBACKEND names its inline backend, which is not installed there.
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(self.home), str(self.path)]),
               "MPLBACKEND": "Agg", "GLOG_minloglevel": "2"}  # fmt: skip
        with open(self.log, "a") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-S", "-m", "fingerspell.holistic"], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=log, text=True, env=env, cwd=self.path,
            )  # fmt: skip
        hello = self.process.stdout.readline()
        if not hello:
            raise MediaPipeError(f"MediaPipe's worker did not start:\n{self._log_tail()}")
        self.version = json.loads(hello)["mediapipe"]

    def _log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-1500:] if self.log.exists() else ""

    def death(self) -> str:
        """Why the worker ended: its exit status and the last line of its log."""
        self.process.wait()
        lines = self._log_tail().strip().splitlines()
        reason = f"MediaPipe's worker died (exit {self.process.returncode})"
        return reason + (f": {lines[-1]}" if lines else "")

    def run(self, job: dict) -> dict:
        """The worker's answer; a worker that dies answers with the reason and is restarted."""
        try:
            self.process.stdin.write(json.dumps(job) + "\n")
            self.process.stdin.flush()
            line = self.process.stdout.readline()
        except BrokenPipeError:
            line = ""
        if line:
            return json.loads(line)
        reason = self.death()
        self._start()
        return {"error": reason}

    def close(self) -> None:
        with contextlib.suppress(BrokenPipeError, OSError):
            self.process.stdin.close()
        try:  # an idle worker ends at once; a busy one (an interrupted run) is stopped
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()



@dataclass(frozen=True)
class Source:
    path: str  # absolute
    name: str  # the file's or folder's name: what a --phrases csv names

    @property
    def sequence_id(self) -> int:
        """Stable across runs and machines: a checksum of the name."""
        return zlib.crc32(self.name.encode("utf-8"))



def extract(
    sources: list[Source], scratch: str | Path, workers: int = 1, thumbnails: int = 0
) -> Iterator[tuple[Source, dict]]:
    """(source, answer) as the workers finish them. An answer holds `landmarks` (a .npy of
    float32 [n_frames, 1629] under `scratch`), `frames`, `fps`, `width`, `height` and, with
    `thumbnails`, that many frames in a .npz — or `error`, the reason it could not be read."""
    if not sources:
        return
    scratch = Path(scratch)
    home = environment()
    pool = [_Worker(home, scratch) for _ in range(max(1, min(workers, len(sources))))]
    jobs: queue.Queue = queue.Queue()
    for source in sources:
        jobs.put(source)
    answers: queue.Queue = queue.Queue()
    threads = [threading.Thread(target=_serve, args=(worker, jobs, answers, scratch, thumbnails),
                                daemon=True) for worker in pool]  # fmt: skip
    for thread in threads:
        thread.start()
    try:
        for _ in sources:
            yield answers.get()
    finally:
        for worker in pool:
            worker.close()


def _serve(worker: _Worker, jobs: queue.Queue, answers: queue.Queue, scratch: Path,
           thumbnails: int) -> None:  # fmt: skip
    while True:
        try:
            source = jobs.get_nowait()
        except queue.Empty:
            return
        stem = scratch / str(source.sequence_id)
        job = {"op": "landmarks", "source": source.path, "out": f"{stem}.npy",
               "settings": HOLISTIC, "thumbnails": f"{stem}.npz", "count": thumbnails}  # fmt: skip
        try:
            answer = worker.run(job)
        except Exception as error:  # never leave the consumer waiting
            answer = {"error": f"MediaPipe's worker failed: {error}"}
        if "error" not in answer:
            answer["landmarks"] = job["out"]
            answer["thumbnails"] = job["thumbnails"] if job["count"] else None
        answers.put((source, answer))


@dataclass(frozen=True)
class LiveFrame:
    frame: int  # the source's frame index (dropped frames leave gaps)
    seconds: float  # from the source's first frame
    values: np.ndarray  # float32 [1629], the competition's column order
    dropped: int  # frames dropped so far: Holistic was busy when they came
    mediapipe_ms: float
    draw_ms: float
    width: int
    height: int


class LiveStream:
    """A worker's `live` job: iterate for the frames Holistic has read; `show` sends what the
    window draws; `ended` is the worker's last answer (how it stopped, and an error if the
    source failed or the worker died)."""

    def __init__(self, worker: _Worker, source: str, window: bool):
        self._worker, self.ended = worker, {}
        job = {"op": "live", "source": source, "settings": HOLISTIC, "window": window}
        self._send(job)

    def _send(self, message: dict) -> None:
        with contextlib.suppress(BrokenPipeError, OSError):
            self._worker.process.stdin.write(json.dumps(message) + "\n")
            self._worker.process.stdin.flush()

    def show(self, text: str, status: str) -> None:
        self._send({"text": text, "status": status})

    def __iter__(self) -> Iterator[LiveFrame]:
        for line in self._worker.process.stdout:
            answer = json.loads(line)
            if "frame" not in answer:
                self.ended = answer
                return
            values = np.frombuffer(base64.b64decode(answer.pop("values")), np.float32)
            yield LiveFrame(values=values, **answer)
        self.ended = {"error": self._worker.death()}


@contextlib.contextmanager
def live_stream(source: str, window: bool) -> Iterator[LiveStream]:
    """Holistic on a camera (`source` its index, "0") or a file played at its own frame rate,
    in a worker of MediaPipe's environment; closed (the camera released) on leaving."""
    with tempfile.TemporaryDirectory() as scratch:
        worker = _Worker(environment(), Path(scratch))
        try:
            yield LiveStream(worker, source, window)
        finally:
            worker.close()


def render(source: Source, landmarks: str, labels: list[str], out: str) -> None:
    """The recording as an mp4 with its landmarks (a .npy from `extract`) and each frame's label
    drawn on it."""
    with tempfile.TemporaryDirectory() as scratch:
        worker = _Worker(environment(), Path(scratch))
        try:
            answer = worker.run({"op": "render", "source": source.path, "landmarks": landmarks,
                                 "labels": labels, "out": out})  # fmt: skip
        finally:
            worker.close()
    if "error" in answer:
        raise DataError(f"{source.path}: {answer['error']}")
