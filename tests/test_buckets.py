"""Records, runs, submissions and reports in a Cloud Storage bucket (gs://), against a local
emulator (the `bucket` fixture): the same files as on local disk, resumable, and nothing
written to a local `gs:` folder by mistake."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import tensorflow as tf

from fingerspell import check, environment, export, reader, records, storage, train
from tests.conftest import demo_config
from tests.test_train import StopAfterFirstEpoch


def upload(folder: Path, url: str) -> str:
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        target = f"{url}/{path.relative_to(folder).as_posix()}"
        tf.io.gfile.makedirs(storage.parent(target))
        tf.io.gfile.copy(str(path), target, overwrite=True)
    return url


def test_preprocess_into_a_bucket_resumes_to_the_same_files(synth_dir, bucket, tmp_path,
                                                           monkeypatch):  # fmt: skip
    monkeypatch.chdir(tmp_path)
    options = {"folds": 3, "supplemental": True, "chunk": 32}
    local = tmp_path / "local"
    records.preprocess(synth_dir, str(local), **options)
    remote = f"{bucket}/records"
    records.preprocess(synth_dir, remote, workers=2, **options)  # spawned workers reach it too
    # A kill: one file's manifest and a chunk gone, a half-written temporary left over.
    storage.rename(storage.glob(f"{remote}/_manifests/train-*.json")[0], f"{remote}/gone.json")
    victim = storage.glob(f"{remote}/fold0-*.tfrecord")[0]
    storage.rename(victim, f"{victim}.tmp")
    records.preprocess(synth_dir, remote, workers=2, **options)
    chunks = sorted(p.name for p in local.glob("*.tfrecord"))
    assert [storage.name(p) for p in storage.glob(f"{remote}/*.tfrecord")] == chunks
    for name in [*chunks, "folds.csv", "rejects.csv"]:
        assert storage.read_bytes(f"{remote}/{name}") == (local / name).read_bytes(), name
    written, read_back = records.load_metadata(str(local)), records.load_metadata(remote)
    for meta in (written, read_back):
        meta.pop("last_run")
    assert read_back == written
    assert not (tmp_path / "gs:").exists()


def test_the_synthetic_default_is_written_into_a_bucket_once(bucket, tmp_path, monkeypatch):
    """Notebook 1's DATA = "synthetic" (and "auto" without Kaggle's data) with SHARED a bucket."""
    monkeypatch.chdir(tmp_path)
    target = f"{bucket}/data/synthetic"
    assert environment.resolve_data("synthetic", target, sequences=12) == target
    table = reader.read_metadata(target)
    assert len(table) == 12 and storage.exists(storage.join(target, table.path[0]))
    marked = storage.join(target, table.path[0])
    storage.write_bytes(marked, b"kept")  # a file it rewrote would lose the mark
    assert environment.resolve_data("auto", target, sequences=12) == target
    assert storage.read_bytes(marked) == b"kept"
    assert not (tmp_path / "gs:").exists()


def test_a_run_in_a_bucket_resumes_exports_and_checks(demo_dir, bucket, tmp_path, monkeypatch):
    """Records and data read from the bucket; the run, the submission and the report written
    there. The resumed run ends where the demo's unbroken run did."""
    monkeypatch.chdir(tmp_path)
    data = upload(demo_dir / "data", f"{bucket}/data")
    records_dir = upload(demo_dir / "records", f"{bucket}/records")
    run = f"{bucket}/run"
    config = demo_config()
    train.train(records_dir, run, config, verbose=0, callbacks=[StopAfterFirstEpoch()])
    assert len(train.load_history(run)) == 1
    train.train(records_dir, run, config, resume=True, verbose=0)
    assert train.load_history(run).epoch.tolist() == [0, 1]
    unbroken, _ = train.load_trained(str(demo_dir / "run"), "last.weights.h5")
    resumed, _ = train.load_trained(run, "last.weights.h5")
    for a, b in zip(unbroken.get_weights(), resumed.get_weights()):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
    assert storage.glob(f"{run}/logs/train/*tfevents*")  # TensorBoard wrote into the bucket

    submission = export.export(run, f"{bucket}/submission")
    assert submission == f"{bucket}/submission/submission.zip"
    assert not [op for op in export.op_summary(f"{bucket}/submission/model.tflite")
                if op.startswith(("Flex", "CUSTOM"))]  # fmt: skip
    report = check.check(submission, data, f"{bucket}/check", records_dir, fold=0, keras_run=run)
    stored = json.loads(storage.read_text(f"{bucket}/check/report.json"))
    assert stored == report
    folds = records.load_folds(records_dir)
    assert report["sequences"] == int((folds.fold == 0).sum())
    assert report["keras_parity"] >= 0.9
    checked = check.load_predictions(f"{bucket}/check").sequence_id
    assert checked.tolist() == pd.read_csv(demo_dir / "predictions.csv").sequence_id.tolist()
    assert storage.size(f"{bucket}/check/report.png") > 0
    assert not (tmp_path / "gs:").exists()
