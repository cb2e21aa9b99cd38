"""Score a submission on words spelled with REAL MediaPipe frames (the SILFA letters).

    python benchmarks/real_transfer.py --submission demo/submission.zip

Each word is built from `../shared/data/silfa` (one real signer's letters a–z, MediaPipe Holistic
output): for every letter a run of that letter's consecutive frames (4 to 12 frames, random
start), body and face included, in the competition layout (`train.csv`, one parquet file). The
words are the synthetic generator's English vocabulary, so only the frames are new. `check` then
runs the submission exactly as the competition's evaluator does. This is a development set:
never train on it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from fingerspell import check, phrases, reader, schema
from fingerspell.cli import SILFA_DEFAULT


def real_words(silfa: str | Path, out: str | Path, n_words: int = 300, seed: int = 0) -> Path:
    """Write `n_words` fingerspelled words in the competition layout into `out`."""
    rng = np.random.default_rng(seed)
    letters = {s.phrase: s.frames for s in reader.read_silfa(silfa, schema.COORDINATE_COLUMNS)}
    vocabulary = [w for w in phrases.WORDS if set(w) <= set(letters)]
    words = rng.choice(vocabulary, n_words, replace=n_words > len(vocabulary))
    out = Path(out)
    (out / "train_landmarks").mkdir(parents=True, exist_ok=True)
    tables, rows = [], []
    for number, word in enumerate(words):
        sequence_id = 1_000_000 + number
        frames = np.concatenate([_letter_run(letters[c], rng) for c in word])
        table = pd.DataFrame(frames, columns=schema.COORDINATE_COLUMNS)
        table.insert(0, "frame", np.arange(len(frames), dtype=np.int16))
        table.index = pd.Index(np.full(len(frames), sequence_id), name=schema.INDEX_NAME)
        tables.append(table)
        rows.append({"path": "train_landmarks/0.parquet", "file_id": 0, "participant_id": 0,
                     "sequence_id": sequence_id, "phrase": str(word)})  # fmt: skip
    pd.concat(tables).to_parquet(out / "train_landmarks" / "0.parquet")
    pd.DataFrame(rows, columns=schema.CSV_COLUMNS).to_csv(out / "train.csv", index=False)
    return out


def _letter_run(frames: np.ndarray, rng) -> np.ndarray:
    """A run of 4–12 consecutive frames of one letter (its whole recording if shorter)."""
    length = min(len(frames), int(rng.integers(4, 13)))
    start = int(rng.integers(0, len(frames) - length + 1))
    return frames[start : start + length]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submission", required=True, help="submission.zip or its folder")
    parser.add_argument("--silfa", default=str(SILFA_DEFAULT))
    parser.add_argument("--work", default="runs/real_transfer", help="words and report folder")
    parser.add_argument("--words", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    data = real_words(args.silfa, Path(args.work) / "data", args.words, args.seed)
    report = check.check(args.submission, data, Path(args.work) / "report")
    results = pd.read_csv(Path(args.work) / "report" / "predictions.csv", keep_default_na=False)
    empty = float((results.prediction == schema.FALLBACK).mean())
    print(json.dumps({"score": round(report["score"], 4), "empty_decodes": round(empty, 3),
                      "words": len(results)}))  # fmt: skip
    print(results[["phrase", "prediction"]].head(12).to_string(index=False))


if __name__ == "__main__":
    main()
