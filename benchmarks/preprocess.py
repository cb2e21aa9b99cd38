"""Preprocessing throughput against its I/O bound, and its scaling with workers.

    python benchmarks/preprocess.py --data data/synthetic --workers 1 2

For each worker count: `records.preprocess` into a fresh folder, then the I/O bound of the same
work: the same columns read with pyarrow and the same number of bytes written through GZIP
TFRecord writers, over the same number of processes. Prints sequences/s, MB/s (uncompressed
landmark bytes) and the ratio preprocess / bound (goal ≤ 1.3).
"""

from __future__ import annotations

import argparse
import multiprocessing
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd


def io_bound_file(path: str, columns: list[str], out: str) -> int:
    """Read one file's columns, write each sequence's bytes to a GZIP TFRecord; bytes written."""
    import pyarrow.parquet as pq
    import tensorflow as tf

    table = pq.read_table(path, columns=["sequence_id", *columns])
    ids = table.column("sequence_id").to_numpy()
    values = np.stack([table.column(c).to_numpy() for c in columns], axis=1)
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1], True])
    written = 0
    options = tf.io.TFRecordOptions(compression_type="GZIP")
    with tf.io.TFRecordWriter(out, options) as writer:
        for start, end in zip(starts[:-1], starts[1:]):
            payload = values[start:end].tobytes()
            writer.write(payload)
            written += len(payload)
    return written


def io_bound(files: list[str], columns: list[str], out: Path, workers: int) -> float:
    """Seconds for the bound, run like preprocess: one file a task, `workers` processes."""
    targets = [str(out / f"bound-{i}.tfrecord") for i in range(len(files))]
    started = time.perf_counter()
    if workers <= 1:
        for file, target in zip(files, targets):
            io_bound_file(file, columns, target)
    else:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(min(workers, len(files)), mp_context=context) as pool:
            list(pool.map(io_bound_file, files, [columns] * len(files), targets))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="competition-layout folder")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--landmarks", default="default")
    args = parser.parse_args()

    from fingerspell import records, schema

    data = Path(args.data)
    columns = schema.columns_for(schema.resolve_landmarks(args.landmarks))
    table = pd.read_csv(data / "train.csv")
    files = [str(data / p) for p in sorted(table.path.unique())]
    rows = []
    for workers in args.workers:
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            started = time.perf_counter()
            meta = records.preprocess(data, str(tmp / "records"), landmarks=args.landmarks,
                                      workers=workers)  # fmt: skip
            seconds = time.perf_counter() - started
            shutil.rmtree(tmp / "records")
            bound = io_bound(files, columns, tmp, workers)
        megabytes = meta["bytes"] / 1e6
        rows.append({
            "workers": workers, "sequences": meta["written"], "files": len(files),
            "preprocess s": round(seconds, 1),
            "seq/s": round(meta["written"] / seconds, 1),
            "MB/s": round(megabytes / seconds, 1),
            "I/O bound s": round(bound, 1),
            "bound MB/s": round(megabytes / bound, 1),
            "ratio": round(seconds / bound, 2),
        })  # fmt: skip
    print(pd.DataFrame(rows).to_markdown(index=False))


if __name__ == "__main__":
    main()
