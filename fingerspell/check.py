"""Stage 4: run a submission exactly as the competition's evaluator does, and report.

The evaluator loads each parquet file with `pd.read_parquet(path, columns=selected_columns)` and
runs each sequence through the file as `litert` does (LiteRT, one thread). The report: score,
latency, size, the competition's limits and, given the run, parity with the Keras model.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from fingerspell import metric, plots, reader, records, storage
from fingerspell.litert import load_runner, predict

COMPETITION_TEST_SEQUENCES = 62_000  # ≈ size of the hidden test set
SIZE_LIMIT_MB = 40  # the competition's limit on model.tflite (its rules; 2**20 bytes a MB here)
TIME_LIMIT_HOURS = 5  # the competition's limit for scoring the hidden test set


def _sequences(data: str, table: pd.DataFrame, columns: list[str]):
    for path, rows in table.groupby("path", sort=False):
        # As the evaluator reads it: only the selected columns (of a bucket's file too).
        with storage.random_access(storage.join(data, path)) as source:
            frame = pd.read_parquet(source, columns=columns)
        for row in rows.itertuples(index=False):
            yield row, frame.loc[[row.sequence_id]].to_numpy(np.float32)


def check(
    submission: str, data: str, out: str, records_dir: str | None = None,
    fold: int | None = None, limit: int | None = None, keras_run: str | None = None,
) -> dict:  # fmt: skip
    """Score, latency, size and (given the run) parity with the Keras model; writes report.json,
    report.md and plots into `out`."""
    runner, columns, model_bytes = load_runner(submission)
    table = reader.read_metadata(data)
    if fold is not None:
        if records_dir is None:
            raise ValueError("checking one fold needs the records folder (its folds.csv)")
        folds = records.load_folds(records_dir)
        table = table[table.sequence_id.isin(folds.sequence_id[folds.fold == fold])]
    table = table.head(limit) if limit else table
    keras_decode = None
    if keras_run is not None:
        from fingerspell.evaluate import KerasDecoder  # Keras only for the parity check

        keras_decode = KerasDecoder(keras_run)
    rows, latencies = [], []
    for row, frames in tqdm(_sequences(str(data), table, columns), total=len(table),
                            desc="check", unit="seq"):  # fmt: skip
        started = time.perf_counter()
        prediction = predict(runner, frames)
        latencies.append(time.perf_counter() - started)
        rows.append({"sequence_id": row.sequence_id, "phrase": row.phrase,
                     "prediction": prediction, "n_frames": len(frames)})  # fmt: skip
        if keras_decode is not None:
            rows[-1]["keras"] = keras_decode(frames)
    results = pd.DataFrame(rows)
    results["distance"] = [metric.edit_distance(t, p)
                           for t, p in zip(results.phrase, results.prediction)]  # fmt: skip
    ms = np.array(latencies) * 1000
    report = {
        "score": metric.score(results.phrase, results.prediction),
        "sequences": len(results),
        "latency_ms": {"p50": float(np.percentile(ms, 50)), "p95": float(np.percentile(ms, 95)),
                       "max": float(ms.max()), "mean": float(ms.mean())},  # fmt: skip
        "size_mb": len(model_bytes) / 2**20,
        "projected_test_minutes": float(ms.mean()) * COMPETITION_TEST_SEQUENCES / 60_000,
    }
    report["warnings"] = budget_warnings(report)
    if keras_decode is not None:  # share of sequences Keras and TFLite decode alike
        report["keras_parity"] = float((results.keras == results.prediction).mean())
    storage.makedirs(out)
    storage.write_text(storage.join(out, "predictions.csv"),
                       results.assign(latency_ms=ms).to_csv(index=False))  # fmt: skip
    storage.write_text(storage.join(out, "report.json"), json.dumps(report, indent=2))
    storage.write_text(storage.join(out, "report.md"), report_markdown(report, results))
    plots.save(plot_report(results, ms), storage.join(out, "report.png"))
    return report


def budget_warnings(report: dict) -> list[str]:
    """What breaks the competition's limits: the file's size, and the hidden test's time
    projected from this check's mean latency (one thread; Kaggle's CPU may be slower)."""
    warnings = []
    if report["size_mb"] > SIZE_LIMIT_MB:
        warnings.append(f"model.tflite is {report['size_mb']:.1f} MB: over the {SIZE_LIMIT_MB} MB "
                        "limit; export a smaller preset or at int8-dynamic")  # fmt: skip
    hours = report["projected_test_minutes"] / 60
    if hours > TIME_LIMIT_HOURS:
        warnings.append(f"{COMPETITION_TEST_SEQUENCES:,} test sequences would take {hours:.1f} h "
                        f"at this latency: over the {TIME_LIMIT_HOURS} h limit; a smaller "
                        "preset or frame budget is faster")  # fmt: skip
    return warnings


def load_predictions(report_dir: str) -> pd.DataFrame:
    """A check's predictions.csv: one row per sequence (phrase, prediction, distance, latency)."""
    path = storage.join(report_dir, "predictions.csv")
    return pd.read_csv(storage.readable(path), keep_default_na=False)


def report_markdown(report: dict, results: pd.DataFrame) -> str:
    worst = results.assign(rel=results.distance / results.phrase.str.len().clip(lower=1))
    worst = worst.sort_values("rel", ascending=False).head(10)
    lines = [
        "# Inference check", "",
        f"- score (N − D) / N: **{report['score']:.4f}** over {report['sequences']} sequences",
        "- latency per sequence, one thread: p50 {p50:.1f} ms, p95 {p95:.1f} ms, max {max:.1f} ms"
        .format(**report["latency_ms"]),
        f"- model size: {report['size_mb']:.2f} MB (limit {SIZE_LIMIT_MB} MB)",
        f"- projected time for {COMPETITION_TEST_SEQUENCES:,} test sequences: "
        f"{report['projected_test_minutes']:.1f} min (limit {TIME_LIMIT_HOURS} h; one thread here,"
        " this check's sequences' lengths)",
        *(f"- **warning**: {warning}" for warning in report.get("warnings", [])),
    ]  # fmt: skip
    if "keras_parity" in report:
        lines.append(f"- Keras vs TFLite decoded strings equal: {report['keras_parity']:.1%}")
    lines += ["", "## Worst examples", "", "| truth | prediction | distance |", "| --- | --- | --- |"]  # noqa: E501
    lines += [f"| `{r.phrase}` | `{r.prediction}` | {r.distance} |" for r in worst.itertuples()]
    return "\n".join(lines) + "\n"


def errors_per_character(results: pd.DataFrame) -> pd.Series:
    """How often each character of the truth is missing from the aligned prediction."""
    from rapidfuzz.distance import Levenshtein

    missed: dict[str, int] = {}
    seen: dict[str, int] = {}
    for truth, prediction in zip(results.phrase, results.prediction):
        for c in truth:
            seen[c] = seen.get(c, 0) + 1
        for op in Levenshtein.editops(truth, prediction):
            if op.tag in ("replace", "delete"):
                c = truth[op.src_pos]
                missed[c] = missed.get(c, 0) + 1
    return pd.Series({c: missed.get(c, 0) / n for c, n in sorted(seen.items())}, name="error rate")


def plot_report(results: pd.DataFrame, latencies_ms: np.ndarray):
    """Score by phrase length, error rate per character, latency histogram."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(16, 4))
    by_length = results.assign(n=results.phrase.str.len()).groupby("n")
    per_length = 1 - by_length.distance.sum() / by_length.n.sum()
    axes[0].bar(per_length.index, per_length.values)
    axes[0].set(title="score by phrase length", xlabel="characters", ylabel="(N − D) / N")
    errors = errors_per_character(results)
    axes[1].bar(range(len(errors)), errors.values)
    axes[1].set_xticks(range(len(errors)), [repr(c)[1:-1] for c in errors.index], fontsize=6)
    axes[1].set(title="error rate per character")
    axes[2].hist(latencies_ms, bins=30)
    axes[2].set(title="latency per sequence (1 thread)", xlabel="ms")
    fig.tight_layout()
    return fig
