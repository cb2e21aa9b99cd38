"""Video → landmarks: the `landmarks` stage. Recordings and photo folders into the competition
layout, through MediaPipe Holistic's legacy graph (the one that made Kaggle's data), run in
processes of their own (`mediapipe_env`). The parquet files, the csv and the checks are written
here, through `storage`, so `--out` may be a bucket.

A source is a video file (whatever OpenCV reads: mp4, mov, webm, avi, …) or a folder of still
images, one a frame in name order; a folder of videos stands for each of them. Each source
becomes one sequence in `train_landmarks/<id>.parquet`, its id a checksum of its name, so a
resumed run and a re-run give each source the same id.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from fingerspell import schema, storage
from fingerspell.mediapipe_env import HOLISTIC, Source, environment, extract, requirements
from fingerspell.reader import DataError

LANDMARKS = "train_landmarks"
MANIFESTS = "_manifests"


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


def hand_frames(values: np.ndarray) -> int:
    """Frames in which MediaPipe found either hand."""
    left, right = (schema.COORDINATE_COLUMNS.index(f"x_{hand}_0")
                   for hand in ("left_hand", "right_hand"))  # fmt: skip
    return int((np.isfinite(values[:, left]) | np.isfinite(values[:, right])).sum())


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
    open_folder(out)
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
    written, rejected = write_tables(out, named)
    return {"written": written, "rejected": rejected, "redone": len(todo),
            "kept": len(sources) - len(todo), "frames": frames, "seconds": round(seconds, 1),
            "frames_per_second": round(frames / seconds, 1) if frames else 0.0}  # fmt: skip


def _manifest(out: str, source: Source) -> str:
    return storage.join(out, MANIFESTS, f"{source.sequence_id}.json")


def open_folder(out: str) -> None:
    """Make `out`'s folders and record the settings it is made with; refuse to continue one made
    with others."""
    storage.makedirs(storage.join(out, MANIFESTS))
    storage.makedirs(storage.join(out, LANDMARKS))
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
    if "error" in answer:
        _reject(out, source, answer["error"])
    else:
        write_sequence(out, source, np.load(answer["landmarks"]),
                       {k: answer[k] for k in ("fps", "width", "height", "seconds")})  # fmt: skip


def write_sequence(out: str, source: Source, values: np.ndarray, facts: dict) -> None:
    """One source's parquet file (whole, then) the manifest that marks it finished, with `facts`
    (fps, width, height, each frame's timestamp `seconds` where known, and a `phrase` where the
    source comes with one); a source without a hand in any frame is rejected instead."""
    found = hand_frames(values)
    if found == 0:
        _reject(out, source, f"no hand found in any of its {len(values)} frames")
        return
    path = storage.join(out, LANDMARKS, f"{source.sequence_id}.parquet")
    table = landmark_table(values, source.sequence_id)
    storage.write_bytes(path, table.to_parquet(engine="pyarrow", compression="snappy"))
    storage.write_text(_manifest(out, source), json.dumps({
        **_record(source), "frames": len(values), "hand_frames": found, **facts}))


def _reject(out: str, source: Source, reason: str) -> None:
    storage.write_text(_manifest(out, source), json.dumps({**_record(source), "rejected": reason}))


def _record(source: Source) -> dict:
    return {"name": source.name, "source": source.path, "sequence_id": source.sequence_id}


def write_tables(out: str, named: dict[str, tuple[str, int]]) -> tuple[int, int]:
    """train.csv, rejects.csv and the character map, from every finished source in `out`; a
    source's phrase is `named`'s, else its manifest's, else empty."""
    records = [json.loads(storage.read_text(p))
               for p in storage.glob(storage.join(out, MANIFESTS, "*.json"))
               if storage.name(p) != "options.json"]  # fmt: skip
    written = [r for r in records if "rejected" not in r]
    rows = [{"path": f"{LANDMARKS}/{r['sequence_id']}.parquet", "file_id": r["sequence_id"],
             "participant_id": named.get(r["name"], ("", 0))[1],
             "sequence_id": r["sequence_id"],
             "phrase": named.get(r["name"], (r.get("phrase", ""), 0))[0],
             "video": r["name"], "frames": r["frames"], "hand_frames": r["hand_frames"],
             "fps": r.get("fps")}
            for r in sorted(written, key=lambda r: r["name"])]  # fmt: skip
    # fps: the rate the frames' timestamps show (a phone's varies), empty for photo folders.
    table = pd.DataFrame(rows, columns=[*schema.CSV_COLUMNS, "video", "frames", "hand_frames",
                                        "fps"])  # fmt: skip
    storage.write_text(storage.join(out, "train.csv"), table.to_csv(index=False))
    rejects = pd.DataFrame([{"video": r["name"], "source": r["source"], "reason": r["rejected"]}
                            for r in records if "rejected" in r],
                           columns=["video", "source", "reason"])  # fmt: skip
    storage.write_text(storage.join(out, "rejects.csv"), rejects.to_csv(index=False))
    storage.write_text(storage.join(out, "character_to_prediction_index.json"),
                       json.dumps(schema.char_to_index()))  # fmt: skip
    return len(written), len(rejects)
