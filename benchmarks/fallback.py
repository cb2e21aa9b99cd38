"""What a submission answers when it cannot read a sequence, and what its fallback phrase is worth
against the single space older runs answered: the held-out fold's sequences with both hands
removed (NaN, as MediaPipe writes a hand it did not find), through the evaluator's loop.

    python benchmarks/fallback.py --submission demo/submission.zip --data demo/data \
        --records demo/records --fold 0 --limit 300

The fallback is read from the file itself (its answer to an all-NaN sequence). "Had it answered a
space" replaces every answer equal to the fallback with " ", the rest unchanged.
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from fingerspell import litert, metric, reader, records, storage


def hand_less(data: str, table: pd.DataFrame, columns: list[str]):
    """(phrase, frames with every hand column NaN) of each row of `table`."""
    hands = np.array(["hand" in c for c in columns])
    for path, rows in table.groupby("path", sort=False):
        frames_by_id = reader.read_landmark_file(storage.join(data, path), columns)
        for row in rows.itertuples(index=False):
            frames = frames_by_id[int(row.sequence_id)].copy()
            frames[:, hands] = np.nan
            yield row.phrase, frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submission", required=True)
    parser.add_argument("--data", required=True, help="the competition-layout folder")
    parser.add_argument("--records", required=True, help="its records (folds.csv)")
    parser.add_argument("--fold", type=int, default=0)
    parser.add_argument("--limit", type=int, default=300)
    args = parser.parse_args()
    runner, columns, _ = litert.load_runner(args.submission)
    fallback = litert.answer_to_nothing(runner, len(columns))
    folds = records.load_folds(args.records)
    held_out = set(folds.sequence_id[folds.fold == args.fold])
    table = reader.read_metadata(args.data)
    table = table[table.sequence_id.isin(held_out)].head(args.limit)
    truths, answers = [], []
    for phrase, frames in hand_less(args.data, table, columns):
        truths.append(phrase)
        answers.append(litert.predict(runner, frames))
    spaces = [" " if a == fallback else a for a in answers]
    rows = {
        "fallback phrase": repr(fallback),
        "sequences (hands removed)": len(answers),
        "answered the fallback": f"{np.mean([a == fallback for a in answers]):.3f}",
        "score as answered": f"{metric.score(truths, answers):.4f}",
        "score had it answered a space": f"{metric.score(truths, spaces):.4f}",
    }
    print("| figure | value |\n| --- | --- |")
    print("\n".join(f"| {k} | {v} |" for k, v in rows.items()))


if __name__ == "__main__":
    main()
