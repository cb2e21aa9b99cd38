"""The whole pipeline in one call, on the embedded synthetic default:
synth → preprocess → train `tiny` → export → check on the held-out participants' fold.

Every stage keeps its output under `out/`, so a second call resumes: the dataset and the records are
reused when complete, and training continues from its last finished epoch.
"""

from __future__ import annotations

from pathlib import Path

from fingerspell import storage
from fingerspell.config import SYNTHETIC_SEQUENCES, Config


def run_demo(out: str | Path, sequences: int = SYNTHETIC_SEQUENCES, config: Config | None = None,
             workers: int = 2, data_seed: int = 0) -> dict:  # fmt: skip
    """Writes out/data, out/records, out/run, then out/submission.zip (with model.tflite and
    inference_args.json beside it) and the check's report.json, report.md, report.png and
    predictions.csv; returns the report. `out` may be a bucket."""
    from fingerspell import check, export, records, runs, train
    from fingerspell.synthetic import generator

    data, records_dir, run = (storage.join(out, part) for part in ("data", "records", "run"))
    config = config or Config()
    print(f"[1/5] synthetic dataset: {sequences} sequences → {data}")
    generator.write_dataset(data, sequences, data_seed, n_supplemental=0, workers=workers)
    print(f"[2/5] TFRecord folds → {records_dir}")
    records.preprocess(data, records_dir, workers=workers)
    print(f"[3/5] training preset {config.preset!r} for {config.epochs} epochs → {run}")
    resume = storage.exists(storage.join(run, runs.BACKUP))
    train.train(records_dir, run, config, resume=resume, verbose=2)
    print(f"[4/5] exporting → {storage.join(out, 'submission.zip')}")
    submission = export.export(run, str(out))
    print(f"[5/5] inference check on fold {config.val_fold} (participants never seen in training)")
    fold = config.val_fold if config.val_fold >= 0 else None
    return check.check(submission, data, str(out), records_dir, fold=fold, keras_run=run)


def summary(report: dict, out: str | Path) -> str:
    latency = report["latency_ms"]
    return (
        f"score {report['score']:.4f} on {report['sequences']} held-out sequences; "
        f"latency p50 {latency['p50']:.1f} ms, p95 {latency['p95']:.1f} ms (one thread); "
        f"model {report['size_mb']:.2f} MB; Keras parity {report.get('keras_parity', 0):.1%}\n"
        f"submission: {storage.join(out, 'submission.zip')}; "
        f"report: {storage.join(out, 'report.md')}"
    )
