"""Read sequences from the competition layout (real Kaggle data or the synthetic default).

Each parquet file is opened once and only the requested columns are read (from a bucket too).
Problems with a whole file raise `DataError` naming the file; problems with one sequence become
a `Rejected` record (strict readers raise it instead), so a caller can always account for every
row of the csv.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from fingerspell import schema, storage


class DataError(ValueError):
    """Input that cannot be read as the competition layout; the message names file and sequence."""


@dataclass(frozen=True)
class Rejected:
    sequence_id: int
    file: str
    reason: str


def read_metadata(data_dir: str | Path, csv_name: str = "train.csv") -> pd.DataFrame:
    """The csv of one split, checked: expected columns, unique sequence ids."""
    path = storage.join(data_dir, csv_name)
    if not storage.exists(path):
        raise DataError(f"{path}: metadata csv not found")
    table = pd.read_csv(storage.readable(path), dtype={"phrase": str}, keep_default_na=False)
    missing = [c for c in schema.CSV_COLUMNS if c not in table.columns]
    if missing:
        raise DataError(f"{path}: missing columns {missing}")
    duplicated = table.loc[table.sequence_id.duplicated(), "sequence_id"].tolist()
    if duplicated:
        raise DataError(f"{path}: duplicate sequence_id {duplicated[:5]}")
    return table


def read_landmark_file(path: str | Path, columns: list[str]) -> dict[int, np.ndarray]:
    """All sequences of one parquet file: sequence_id → float32 [n_frames, len(columns)]."""
    if not storage.exists(path):
        raise DataError(f"{path}: landmark file not found")
    try:
        with storage.random_access(path) as source:
            parquet = pq.ParquetFile(source)
            available = set(parquet.schema_arrow.names)
            missing = [c for c in [schema.INDEX_NAME, *columns] if c not in available]
            if missing:
                shown = ", ".join(missing[:5]) + (" …" if len(missing) > 5 else "")
                raise DataError(f"{path}: missing {len(missing)} columns ({shown})")
            table = parquet.read(columns=[schema.INDEX_NAME, *columns])
    except DataError:
        raise
    except Exception as error:  # pyarrow raises several types for damaged files
        raise DataError(f"{path}: cannot read parquet ({error})") from error
    ids = table.column(schema.INDEX_NAME).to_numpy()
    values = np.stack([table.column(c).to_numpy(zero_copy_only=False) for c in columns], axis=1)
    values = values.astype(np.float32, copy=False)
    return _split_by_id(ids, values)


def _split_by_id(ids: np.ndarray, values: np.ndarray) -> dict[int, np.ndarray]:
    # Stable sort keeps each sequence's frames in file order even if its rows are not contiguous.
    order = np.argsort(ids, kind="stable")
    ids, values = ids[order], values[order]
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    ends = np.r_[starts[1:], len(ids)]
    return {int(ids[s]): values[s:e] for s, e in zip(starts, ends, strict=False)}


def iter_file(
    data_dir: str | Path, rows: pd.DataFrame, columns: list[str], supplemental: bool = False
) -> Iterator[schema.Sequence | Rejected]:
    """The sequences of the csv rows that share one parquet file, in csv order."""
    path = storage.join(data_dir, rows.path.iloc[0])
    frames_by_id = read_landmark_file(path, columns)
    for row in rows.itertuples(index=False):
        sid = int(row.sequence_id)
        frames = frames_by_id.get(sid)
        reason = _reject_reason(row.phrase, sid, frames)
        if reason:
            yield Rejected(sid, path, reason)
            continue
        yield schema.Sequence(
            sequence_id=sid,
            participant_id=int(row.participant_id),
            phrase=row.phrase,
            frames=frames,
            file_id=int(row.file_id),
            supplemental=supplemental,
        )


def _reject_reason(phrase: str, sequence_id: int, frames: np.ndarray | None) -> str:
    if frames is None:
        return "missing from its parquet file"
    if len(frames) == 0:
        return "no frames"
    if not phrase:
        return "empty phrase"
    try:
        schema.encode_phrase(phrase, sequence_id)
    except schema.PhraseError as error:
        return str(error)
    return ""


def iter_sequences(
    data_dir: str | Path,
    columns: list[str],
    csv_name: str = "train.csv",
    strict: bool = True,
) -> Iterator[schema.Sequence | Rejected]:
    """Every sequence of a split. Strict: raise on the first reject; else yield `Rejected`."""
    table = read_metadata(data_dir, csv_name)
    supplemental = csv_name.startswith("supplemental")
    for _, rows in table.groupby("path", sort=False):
        for item in iter_file(data_dir, rows, columns, supplemental):
            if strict and isinstance(item, Rejected):
                raise DataError(f"{item.file}: sequence {item.sequence_id}: {item.reason}")
            yield item


def read_silfa(silfa_dir: str | Path, columns: list[str]) -> list[schema.Sequence]:
    """The real MediaPipe letters in shared/data/silfa: one sequence per letter, phrase = letter."""
    silfa_dir = Path(silfa_dir)
    letters = pd.read_csv(silfa_dir / "sequences.csv")
    frames_by_id = read_landmark_file(silfa_dir / "landmarks.parquet", columns)
    return [
        schema.Sequence(int(r.sequence_id), 0, r.letter, frames_by_id[int(r.sequence_id)])
        for r in letters.itertuples(index=False)
    ]
