"""Preprocessing and training-input throughput with the records in a bucket (gs://) beside the
same work on local disk, as a ratio.

    python benchmarks/buckets.py --data data/synthetic --workers 2 --batches 50

The bucket is the local Cloud Storage emulator the tests use (tools/gcs_emulator.py: in memory,
behind a TLS-terminating proxy, both in one Python process on this machine), so the figures say
what going through TensorFlow's GCS filesystem costs here, not what Google's network does. The
data is read from local disk in both cases; the records are written to, and read back from,
local disk or the bucket. Input throughput is the training pipeline's (augmented) batches/s.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import gcs_emulator as emulator  # noqa: E402  (a script of tools/, not a package)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="competition-layout folder (local)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batches", type=int, default=50, help="timed pipeline batches")
    args = parser.parse_args()
    with emulator.running() as bucket:
        rows = _preprocess_and_read(args, bucket)
    table = pd.DataFrame(rows)
    ratio = table.iloc[1, 1:] / table.iloc[0, 1:]
    table.loc[len(table)] = ["bucket / local", *ratio.to_numpy()]
    print(table.to_markdown(index=False, floatfmt=".2f"))


def _preprocess_and_read(args, bucket: str) -> list[dict]:
    from training import pipeline_batches_per_second

    from fingerspell import records
    from fingerspell.config import Config

    rows = []
    with tempfile.TemporaryDirectory() as local:
        targets = {"local disk": f"{local}/records", "bucket (emulator)": f"{bucket}/records"}
        for where, out in targets.items():
            started = time.perf_counter()
            meta = records.preprocess(args.data, out, workers=args.workers)
            seconds = time.perf_counter() - started
            batches = pipeline_batches_per_second(out, Config(), args.batches)
            rows.append({"records on": where, "preprocess s": seconds,
                         "sequences/s": meta["written"] / seconds,
                         "input batches/s": batches})  # fmt: skip
    return rows


if __name__ == "__main__":
    main()
