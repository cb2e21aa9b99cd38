"""The one-command demo, end to end in a reduced size."""

import json
import zipfile

import pandas as pd

from fingerspell import metric


def test_demo_writes_a_submission_and_a_report(demo_dir):
    with zipfile.ZipFile(demo_dir / "submission.zip") as archive:
        assert sorted(archive.namelist()) == ["inference_args.json", "model.tflite"]
    report = json.loads((demo_dir / "report.json").read_text())
    predictions = pd.read_csv(demo_dir / "predictions.csv", keep_default_na=False)
    assert report["sequences"] == len(predictions) > 0
    assert report["score"] == metric.score(predictions.phrase, predictions.prediction)
    assert 0 < report["latency_ms"]["p50"] <= report["latency_ms"]["p95"]
    assert 0 < report["size_mb"] < 40
    assert report["keras_parity"] >= 0.9
    for name in ("report.md", "report.png", "predictions.csv", "run/config.json"):
        assert (demo_dir / name).exists(), name
