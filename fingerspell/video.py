"""Video → landmarks: recordings and photo folders into the competition layout, through
MediaPipe Holistic's legacy graph, the one that made Kaggle's data.

MediaPipe 0.10.21 (the last release with that graph and its models bundled) pins protobuf < 5,
and TensorFlow ≥ 2.20 needs protobuf ≥ 5: the two never share a Python environment. So this
process never imports MediaPipe. Workers do (`holistic`): this interpreter started with `-S` (no
site-packages at all) over a folder of MediaPipe's own pinned packages
(`data/mediapipe-requirements.txt`), installed there once, on first use, by
`pip install --no-deps --target`. No installed framework or protobuf is touched, in a notebook
kernel either, and it works offline once installed. Workers hand each source's frames back as a
`.npy` file; the parquet files, the csv and the checks are written here, through `storage`, so
`--out` may be a bucket.

A source is a video file (whatever OpenCV reads: mp4, mov, webm, avi, …) or a folder of still
images, one a frame in name order; a folder of videos stands for each of them. Each source
becomes one sequence in `train_landmarks/<id>.parquet`, its id a checksum of its name, so a
resumed run and a re-run give each source the same id.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from fingerspell import schema, storage
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
LANDMARKS = "train_landmarks"
MANIFESTS = "_manifests"
PACKAGE = Path(__file__).resolve().parent


class MediaPipeError(ModuleNotFoundError):
    """MediaPipe's environment could not be installed or started: the message says why."""


# ---------------------------------------------------------------------------------------------
# MediaPipe's environment


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
        with _locked(home.parent / f"{home.name}.lock"):
            if not (home / "COMPLETE").exists():
                _install(home)
    return home


@contextlib.contextmanager
def _locked(path: Path):
    import fcntl  # POSIX: Colab, Kaggle, Linux and macOS

    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


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
        self.process.wait()
        reason = f"MediaPipe's worker died (exit {self.process.returncode})"
        lines = self._log_tail().strip().splitlines()
        self._start()
        return {"error": reason + (f": {lines[-1]}" if lines else "")}

    def close(self) -> None:
        with contextlib.suppress(BrokenPipeError, OSError):
            self.process.stdin.close()
        try:  # an idle worker ends at once; a busy one (an interrupted run) is stopped
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()


# ---------------------------------------------------------------------------------------------
# Sources


@dataclass(frozen=True)
class Source:
    path: str  # absolute
    name: str  # the file's or folder's name: what a --phrases csv names

    @property
    def sequence_id(self) -> int:
        """Stable across runs and machines: a checksum of the name."""
        return zlib.crc32(self.name.encode("utf-8"))


def sources_of(paths: list[str]) -> list[Source]:
    """Each path as a source: a video, a folder of images, or each video of a folder of videos.
    A folder with neither stays one source (its reject says why)."""
    sources = []
    for given in paths:
        path = Path(given).expanduser().resolve()
        if not path.exists():
            raise FileNotFoundError(f"{given}: no such video or folder")
        videos = sorted(p for p in path.iterdir() if p.suffix.lower() in schema.VIDEO_SUFFIXES) \
            if path.is_dir() else []  # fmt: skip
        has_images = path.is_dir() and any(p.suffix.lower() in schema.IMAGE_SUFFIXES
                                           for p in path.iterdir())  # fmt: skip
        for item in ([path] if has_images or not videos else videos):
            sources.append(Source(str(item), item.name))
    by_id: dict[int, Source] = {}
    for source in sources:
        other = by_id.setdefault(source.sequence_id, source)
        if other is not source:
            raise DataError(f"{other.path} and {source.path}: two sources with the same name (or "
                            "checksum); rename one")  # fmt: skip
    return sources


def read_phrases(csv: str) -> dict[str, tuple[str, int]]:
    """A csv of `video` (a source's file or folder name), `phrase` and, optionally,
    `participant_id`: name → (phrase, participant)."""
    table = pd.read_csv(storage.readable(csv), dtype={"video": str, "phrase": str},
                        keep_default_na=False)  # fmt: skip
    missing = [c for c in ("video", "phrase") if c not in table.columns]
    if missing:
        raise DataError(f"{csv}: missing columns {missing} (needs video, phrase[, participant_id])")
    participants = table.get("participant_id", pd.Series(0, index=table.index))
    phrases = {}
    for row, (name, phrase, participant) in enumerate(zip(table.video, table.phrase,
                                                          participants)):  # fmt: skip
        try:
            schema.encode_phrase(phrase)
        except schema.PhraseError as error:
            raise DataError(f"{csv}: row {row + 2} ({name}): {error}") from None
        phrases[Path(name).name] = (phrase, int(participant or 0))
    return phrases


# ---------------------------------------------------------------------------------------------
# Running MediaPipe


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


def hand_frames(values: np.ndarray) -> int:
    """Frames in which MediaPipe found either hand."""
    left, right = (schema.COORDINATE_COLUMNS.index(f"x_{hand}_0")
                   for hand in ("left_hand", "right_hand"))  # fmt: skip
    return int((np.isfinite(values[:, left]) | np.isfinite(values[:, right])).sum())


# ---------------------------------------------------------------------------------------------
# The `landmarks` stage


def landmarks(
    videos: list[str], out: str, phrases: str | None = None, workers: int = 1
) -> dict:  # fmt: skip
    """Sources → `out`: train.csv, train_landmarks/<id>.parquet, the character map and
    rejects.csv, in the layout `reader` and `preprocess` take. Resumable: a finished source is
    not redone; a killed run leaves no half file; a folder made with other MediaPipe settings
    is refused."""
    sources = sources_of(videos)
    named = read_phrases(phrases) if phrases else {}
    out = str(out)
    storage.makedirs(storage.join(out, MANIFESTS))
    storage.makedirs(storage.join(out, LANDMARKS))
    _claim(out)
    todo = [s for s in sources if not storage.exists(_manifest(out, s))]
    environment()  # installed (once) before the progress bar starts
    started, frames = time.perf_counter(), 0
    with tempfile.TemporaryDirectory() as scratch, \
            tqdm(total=len(sources), initial=len(sources) - len(todo), desc="landmarks",
                 unit="video") as bar:  # fmt: skip
        for source, answer in extract(todo, scratch, workers):
            frames += answer.get("frames", 0)
            _keep(out, source, answer)
            bar.set_postfix(fps=f"{frames / (time.perf_counter() - started):.0f}")
            bar.update(1)
    seconds = time.perf_counter() - started
    written, rejected = _write_tables(out, named)
    return {"written": written, "rejected": rejected, "redone": len(todo),
            "kept": len(sources) - len(todo), "frames": frames, "seconds": round(seconds, 1),
            "frames_per_second": round(frames / seconds, 1) if frames else 0.0}  # fmt: skip


def _manifest(out: str, source: Source) -> str:
    return storage.join(out, MANIFESTS, f"{source.sequence_id}.json")


def _claim(out: str) -> None:
    """Record the settings a folder is made with; refuse to continue one made with others."""
    options = {"holistic": HOLISTIC, "requirements": [
        line for line in requirements().splitlines() if line and not line.startswith("#")]}
    path = storage.join(out, MANIFESTS, "options.json")
    if storage.exists(path):
        before = json.loads(storage.read_text(path))
        if before != options:
            changed = sorted(k for k in options if before.get(k) != options[k])
            raise DataError(f"{out} holds landmarks made with other MediaPipe settings ("
                            f"{', '.join(changed)} differ): delete it or pick another --out")
        return
    storage.write_text(path, json.dumps(options, indent=1))


def landmark_table(values: np.ndarray, sequence_id: int) -> pd.DataFrame:
    """One sequence in the competition's parquet layout."""
    table = pd.DataFrame(values, columns=schema.COORDINATE_COLUMNS)
    table.insert(0, "frame", np.arange(len(values), dtype=np.int16))
    table.index = pd.Index(np.full(len(values), sequence_id, np.int64), name=schema.INDEX_NAME)
    return table


def _keep(out: str, source: Source, answer: dict) -> None:
    """The parquet file (whole, then) the manifest that marks the source finished."""
    record = {"name": source.name, "source": source.path, "sequence_id": source.sequence_id}
    if "error" not in answer:
        values = np.load(answer["landmarks"])
        record.update(frames=len(values), hand_frames=hand_frames(values), fps=answer["fps"],
                      width=answer["width"], height=answer["height"])  # fmt: skip
        if record["hand_frames"] == 0:
            answer = {"error": f"no hand found in any of its {len(values)} frames"}
        else:
            path = storage.join(out, LANDMARKS, f"{source.sequence_id}.parquet")
            table = landmark_table(values, source.sequence_id)
            storage.write_bytes(path, table.to_parquet(engine="pyarrow", compression="snappy"))
    if "error" in answer:
        record["rejected"] = answer["error"]
    storage.write_text(_manifest(out, source), json.dumps(record))


def _write_tables(out: str, named: dict[str, tuple[str, int]]) -> tuple[int, int]:
    """train.csv, rejects.csv and the character map, from every finished source in `out`."""
    records = [json.loads(storage.read_text(p))
               for p in storage.glob(storage.join(out, MANIFESTS, "*.json"))
               if storage.name(p) != "options.json"]  # fmt: skip
    written = [r for r in records if "rejected" not in r]
    rows = [{"path": f"{LANDMARKS}/{r['sequence_id']}.parquet", "file_id": r["sequence_id"],
             "participant_id": named.get(r["name"], ("", 0))[1],
             "sequence_id": r["sequence_id"], "phrase": named.get(r["name"], ("", 0))[0],
             "video": r["name"], "frames": r["frames"], "hand_frames": r["hand_frames"]}
            for r in sorted(written, key=lambda r: r["name"])]  # fmt: skip
    table = pd.DataFrame(rows, columns=[*schema.CSV_COLUMNS, "video", "frames", "hand_frames"])
    storage.write_text(storage.join(out, "train.csv"), table.to_csv(index=False))
    rejects = pd.DataFrame([{"video": r["name"], "source": r["source"], "reason": r["rejected"]}
                            for r in records if "rejected" in r],
                           columns=["video", "source", "reason"])  # fmt: skip
    storage.write_text(storage.join(out, "rejects.csv"), rejects.to_csv(index=False))
    storage.write_text(storage.join(out, "character_to_prediction_index.json"),
                       json.dumps(schema.char_to_index()))  # fmt: skip
    return len(written), len(rejects)
