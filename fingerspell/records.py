"""Stage 1: parquet landmarks → GZIP TFRecord folds.

Work is split by parquet file, so each file is read once. A worker writes its file's sequences
as chunks `fold{k}-{split}-{file}-{i:03d}-{n}.tfrecord` (split: train or supplemental; file: the
parquet file's name; each chunk under a temporary name, renamed when complete) and then a small
manifest; a re-run skips files whose manifest exists, so a killed run resumes and ends with the
same files as an unbroken one. A folder remembers the options and source it was made with
(`_manifests/options.json`) and refuses to be continued with others. Every csv row is either
written or listed in `rejects.csv`. Every path may be local or a bucket (`storage`).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import PurePosixPath

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from fingerspell import parallel, reader, schema, storage

MANIFESTS = "_manifests"
ALIGNMENTS = "alignments"  # where `align` writes each character's frames, one parquet a file
SPLITS = {"train.csv": "train", "supplemental_metadata.csv": "supplemental"}


@dataclass(frozen=True)
class FileJob:
    """One parquet file's share of the work."""

    data: str
    out: str
    csv_name: str
    rows: pd.DataFrame  # its csv rows, with a `fold` column
    columns: list[str]
    chunk: int

    @property
    def source(self) -> str:
        """`train-<file>` or `supplemental-<file>`: names this file's chunks and manifest."""
        return f"{SPLITS[self.csv_name]}-{PurePosixPath(self.rows.path.iloc[0]).stem}"

    @property
    def manifest(self) -> str:
        return f"{self.out}/{MANIFESTS}/{self.source}.json"


def assign_folds(table: pd.DataFrame, folds: int) -> pd.Series:
    """Fold per row, grouped by participant (no signer in two folds)."""
    from sklearn.model_selection import GroupKFold

    n_groups = table.participant_id.nunique()
    if n_groups < folds:
        raise ValueError(f"{folds} folds need at least {folds} participants, found {n_groups}")
    fold = np.zeros(len(table), np.int64)
    for k, (_, index) in enumerate(
        GroupKFold(n_splits=folds).split(table, groups=table.participant_id)
    ):
        fold[index] = k
    return pd.Series(fold, index=table.index, name="fold")


def serialize(sequence: schema.Sequence, fold: int) -> bytes:
    import tensorflow as tf

    def ints(values):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=list(values)))

    def raw(value: bytes):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))

    frames = np.ascontiguousarray(sequence.frames, dtype=np.float32)
    feature = {
        "frames": raw(frames.tobytes()),
        "n_frames": ints([frames.shape[0]]),
        "n_columns": ints([frames.shape[1]]),
        "phrase": raw(sequence.phrase.encode("utf-8")),
        "label": ints(schema.encode_phrase(sequence.phrase, sequence.sequence_id)),
        "sequence_id": ints([sequence.sequence_id]),
        "participant_id": ints([sequence.participant_id]),
        "fold": ints([fold]),
        "supplemental": ints([int(sequence.supplemental)]),
    }
    example = tf.train.Example(features=tf.train.Features(feature=feature))
    return example.SerializeToString(deterministic=True)  # map order: the same in every process


def _write_chunk(path: str, examples: list[bytes]) -> None:
    """A GZIP TFRecord file, under a temporary name until complete (as `storage` writes)."""
    import tensorflow as tf

    tmp = path + ".tmp"
    with tf.io.TFRecordWriter(tmp, tf.io.TFRecordOptions(compression_type="GZIP")) as writer:
        for example in examples:
            writer.write(example)
    storage.rename(tmp, path)


def process_file(job: FileJob) -> dict:
    """Read one parquet file, write its chunks, then its manifest; returns the manifest."""
    folds = dict(zip(job.rows.sequence_id, job.rows.fold))
    by_fold: dict[int, list[bytes]] = {}
    rejects, n_frames, n_chars, usable = [], [], [], {}
    try:
        items = list(reader.iter_file(job.data, job.rows, job.columns,
                                      job.csv_name.startswith("supplemental")))  # fmt: skip
    except reader.DataError as error:  # the whole file is unreadable: reject its rows, go on
        items = [reader.Rejected(int(s), str(job.rows.path.iloc[0]), str(error))
                 for s in job.rows.sequence_id]  # fmt: skip
    for item in items:
        if isinstance(item, reader.Rejected):
            rejects.append({"sequence_id": item.sequence_id, "file": item.file,
                            "reason": item.reason})  # fmt: skip
            continue
        fold = int(folds[item.sequence_id])
        by_fold.setdefault(fold, []).append(serialize(item, fold))
        n_frames.append(len(item.frames))
        n_chars.append(len(item.phrase))
        # Keyed as JSON will store it, so a fresh manifest reads like a resumed one.
        usable[str(fold)] = usable.get(str(fold), 0) + int(len(item.frames) >= len(item.phrase))
    written = []
    for fold in sorted(by_fold):
        examples = by_fold[fold]
        for number, start in enumerate(range(0, len(examples), job.chunk)):
            part = examples[start : start + job.chunk]
            name = f"fold{fold}-{job.source}-{number:03d}-{len(part)}.tfrecord"
            _write_chunk(f"{job.out}/{name}", part)
            written.append({"name": name, "fold": fold, "n": len(part)})
    manifest = {"chunks": written, "rejects": rejects, "n_frames": n_frames, "n_chars": n_chars,
                "usable": usable,
                "bytes": sum(len(e) for part in by_fold.values() for e in part)}  # fmt: skip
    storage.write_text(job.manifest, json.dumps(manifest))
    return manifest


def _fingerprint(data: str, tables: dict[str, pd.DataFrame]) -> str:
    digest = hashlib.sha256()
    for csv_name, table in sorted(tables.items()):
        digest.update(storage.read_bytes(storage.join(data, csv_name)))
        for path in sorted(table.path.unique()):
            file = storage.join(data, path)
            digest.update(f"{path}:{storage.size(file) if storage.exists(file) else -1}".encode())
    return digest.hexdigest()[:16]


def plan(data: str, out: str, folds: int, landmarks: str, supplemental: bool, chunk: int):
    """Fold assignment and the list of file jobs, before anything is read."""
    csvs = ["train.csv"] + (["supplemental_metadata.csv"] if supplemental else [])
    tables = {name: reader.read_metadata(data, name) for name in csvs}
    everything = pd.concat(tables.values(), keys=list(tables), names=["csv", "row"]).reset_index()
    everything["fold"] = assign_folds(everything, folds).to_numpy()
    columns = schema.columns_for(schema.resolve_landmarks(landmarks))
    jobs = [
        FileJob(data, out, csv_name, rows.reset_index(drop=True), columns, chunk)
        for (csv_name, _), rows in everything.groupby(["csv", "path"], sort=True)
    ]
    return tables, everything, columns, jobs


def _claim(out: str, options: dict) -> None:
    """Record the options and source a records folder is made with, or refuse to continue a
    folder made with others: its finished files would be kept and mixed with new ones."""
    path = f"{out}/{MANIFESTS}/options.json"
    if storage.exists(path):
        stored = json.loads(storage.read_text(path))
        differ = [f"{k} {stored.get(k)!r} (asked {v!r})" for k, v in options.items()
                  if stored.get(k) != v]  # fmt: skip
        if differ:
            raise reader.DataError(
                f"{out} holds records made with other options: {', '.join(differ)}. Use the "
                "same options to resume, or delete the folder (or pick another --out) to start "
                "afresh.")  # fmt: skip
    elif storage.glob(f"{out}/*.tfrecord"):
        raise reader.DataError(f"{out} holds records of unknown options (made before options "
                               "were recorded): delete it or pick another --out")  # fmt: skip
    else:
        storage.makedirs(f"{out}/{MANIFESTS}")
        storage.write_text(path, json.dumps(options, indent=2))


def preprocess(
    data: str,
    out: str,
    folds: int = 4,
    landmarks: str = "default",
    supplemental: bool = False,
    workers: int = 1,
    chunk: int = 256,
) -> dict:
    """Write the TFRecord folds, `folds.csv`, `rejects.csv` and `metadata.json`; returns the
    metadata. Resumable: files already done (their manifest exists) are skipped; a folder made
    with other options or from other data is refused (`reader.DataError`)."""
    data, out = str(data), str(out).rstrip("/")
    tables, everything, columns, jobs = plan(data, out, folds, landmarks, supplemental, chunk)
    options = {"folds": folds, "landmarks": landmarks, "supplemental": supplemental,
               "chunk": chunk, "source": _fingerprint(data, tables)}  # fmt: skip
    _claim(out, options)
    done = {job.manifest: _finished_manifest(job) for job in jobs}
    todo = [job for job in jobs if done[job.manifest] is None]
    started, total = time.perf_counter(), int(sum(len(j.rows) for j in todo))
    with tqdm(total=total, desc="preprocess", unit="seq", smoothing=0) as bar:
        for job, manifest in zip(todo, parallel.map_in_processes(process_file, todo, workers)):
            done[job.manifest] = manifest
            bar.update(len(manifest["n_frames"]) + len(manifest["rejects"]))
    seconds = time.perf_counter() - started
    manifests = [done[job.manifest] for job in jobs]
    meta = _metadata(data, everything, columns, jobs, manifests, options, seconds, total)
    folds_table = everything[["sequence_id", "participant_id", "fold", "csv", "phrase"]]
    storage.write_text(f"{out}/folds.csv", folds_table.to_csv(index=False))
    rejects = pd.DataFrame([r for m in manifests for r in m["rejects"]],
                           columns=["sequence_id", "file", "reason"])  # fmt: skip
    storage.write_text(f"{out}/rejects.csv", rejects.to_csv(index=False))
    storage.write_text(f"{out}/metadata.json", json.dumps(meta, indent=2))
    return meta


def _finished_manifest(job: FileJob) -> dict | None:
    """The manifest of a file already done (manifest and every chunk it lists in place), else
    None."""
    if not storage.exists(job.manifest):
        return None
    manifest = json.loads(storage.read_text(job.manifest))
    complete = all(storage.exists(f"{job.out}/{c['name']}") for c in manifest["chunks"])
    return manifest if complete else None


def _metadata(data, everything, columns, jobs, manifests, options, seconds, processed) -> dict:
    n_frames = np.array([n for m in manifests for n in m["n_frames"]])
    n_chars = np.array([n for m in manifests for n in m["n_chars"]])
    folds = range(options["folds"])
    per_split = {split: {k: 0 for k in folds} for split in SPLITS.values()}
    for job, m in zip(jobs, manifests):
        for c in m["chunks"]:
            per_split[SPLITS[job.csv_name]][c["fold"]] += c["n"]
    written = sum(n for counts in per_split.values() for n in counts.values())
    rejected = sum(len(m["rejects"]) for m in manifests)
    if written + rejected != len(everything):
        raise RuntimeError(f"{written} written + {rejected} rejected != {len(everything)} rows")
    return {
        "columns": columns,
        "landmarks": schema.landmarks_of_columns(columns),
        "folds": options["folds"],
        # Competition (train.csv) sequences: what validation and `check --fold` score.
        "per_fold": per_split["train"],
        # Supplemental sequences: in the fold files too, but only ever read for training.
        "supplemental_per_fold": per_split["supplemental"],
        # Sequences with fewer frames than characters cannot be aligned by CTC; training skips them.
        "usable_per_fold": {k: sum(m["usable"].get(str(k), 0) for m in manifests)
                            for k in folds},  # fmt: skip
        "written": written,
        "rejected": rejected,
        "input_rows": len(everything),
        "shorter_than_phrase": int((n_frames < n_chars).sum()),
        "frames": _describe(n_frames),
        "phrase_length": _describe(n_chars),
        "bytes": int(sum(m["bytes"] for m in manifests)),
        "character_map": schema.char_to_index(),
        "source": {"path": str(data), "fingerprint": options["source"]},
        "options": {k: v for k, v in options.items() if k != "source"},
        "last_run": {"seconds": round(seconds, 2), "sequences": processed},
    }


def _describe(values: np.ndarray) -> dict:
    if len(values) == 0:
        return {}
    p50, p95 = np.percentile(values, [50, 95])
    return {"mean": float(values.mean()), "min": int(values.min()), "max": int(values.max()),
            "p50": float(p50), "p95": float(p95)}  # fmt: skip


def load_metadata(records: str) -> dict:
    path = f"{str(records).rstrip('/')}/metadata.json"
    if not storage.exists(path):
        raise FileNotFoundError(f"{path} not found: run `python -m fingerspell preprocess` first")
    return json.loads(storage.read_text(path))


def load_folds(records: str) -> pd.DataFrame:
    """folds.csv: the fold of every csv row (sequence_id, participant_id, fold, csv, phrase;
    records made before the phrase was kept lack it)."""
    return pd.read_csv(storage.readable(f"{str(records).rstrip('/')}/folds.csv"),
                       dtype={"phrase": str}, keep_default_na=False)  # "NA" is a phrase


def load_rejects(records: str) -> pd.DataFrame:
    """rejects.csv: every csv row that was not written, with the file and the reason."""
    return pd.read_csv(storage.readable(f"{str(records).rstrip('/')}/rejects.csv"))


def record_files(records: str, folds: list[int], supplemental: bool = True) -> list[str]:
    """The chunks of these folds; `supplemental=False` leaves the supplemental split out (what
    validation reads: it scores competition sequences only)."""
    records = str(records).rstrip("/")
    splits = list(SPLITS.values()) if supplemental else [SPLITS["train.csv"]]
    files = sorted(f for k in folds for split in splits
                   for f in storage.glob(f"{records}/fold{k}-{split}-*.tfrecord"))  # fmt: skip
    if not files:
        raise FileNotFoundError(f"no TFRecords of folds {folds} in {records}")
    return files


def sequence_lengths(records: str) -> tuple[np.ndarray, np.ndarray]:
    """Frames and phrase characters of every written sequence, from the per-file manifests."""
    frames, chars = [], []
    folder = f"{str(records).rstrip('/')}/{MANIFESTS}"
    for path in sorted(p for split in SPLITS.values()  # the per-file manifests, not options.json
                       for p in storage.glob(f"{folder}/{split}-*.json")):  # fmt: skip
        manifest = json.loads(storage.read_text(path))
        frames += manifest["n_frames"]
        chars += manifest["n_chars"]
    return np.array(frames), np.array(chars)


def has_alignments(folder: str) -> bool:
    return bool(storage.glob(storage.join(folder, ALIGNMENTS, "*.parquet")))


def load_alignments(folder: str) -> pd.DataFrame:
    """Every aligned character under a records or run folder (`align`): sequence_id, position,
    frame, start, end, log_prob, in frames of the stored sequence."""
    found = storage.glob(storage.join(folder, ALIGNMENTS, "*.parquet"))
    if not found:
        raise FileNotFoundError(f"{folder} has no {ALIGNMENTS}/: run `align` first")
    return pd.concat([pd.read_parquet(storage.readable(p)) for p in found], ignore_index=True)
