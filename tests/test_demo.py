"""The one-command demo, end to end in a reduced size."""

import json
import zipfile

import numpy as np
import pandas as pd
import pytest
from ai_edge_litert.interpreter import Interpreter
from rapidfuzz.distance import Levenshtein


def test_demo_writes_a_submission_and_a_report(reading_dir):
    with zipfile.ZipFile(reading_dir / "submission.zip") as archive:
        assert sorted(archive.namelist()) == ["inference_args.json", "model.tflite"]
    report = json.loads((reading_dir / "report.json").read_text())
    predictions = pd.read_csv(reading_dir / "predictions.csv", keep_default_na=False)
    assert report["sequences"] == len(predictions) > 0
    assert 0 < report["latency_ms"]["p50"] <= report["latency_ms"]["p95"]
    assert 0 < report["size_mb"] < 40
    assert report["keras_parity"] >= 0.9
    for name in ("report.md", "report.png", "predictions.csv", "run/config.json"):
        assert (reading_dir / name).exists(), name


def test_the_reported_score_is_the_evaluators_on_the_held_out_fold(reading_dir):
    """The score recomputed without `check` or the package: the run's validation fold from
    folds.csv, each sequence's rows of inference_args' columns read from its parquet file with
    pandas, the zip's model run by LiteRT's own Interpreter, each output row's argmax through
    the data's character map, and (N − D) / N summed with rapidfuzz."""
    data = reading_dir / "data"
    fold = json.loads((reading_dir / "run" / "config.json").read_text())["val_fold"]
    folds = pd.read_csv(reading_dir / "records" / "folds.csv", keep_default_na=False, dtype=str)
    held_out = set(folds.sequence_id[folds.fold == str(fold)].astype(int))
    table = pd.read_csv(data / "train.csv", keep_default_na=False, dtype={"phrase": str})
    table = table[table.sequence_id.isin(held_out)]
    with zipfile.ZipFile(reading_dir / "submission.zip") as archive:
        model = archive.read("model.tflite")
        columns = json.loads(archive.read("inference_args.json"))["selected_columns"]
    runner = Interpreter(model_content=model, num_threads=1).get_signature_runner(
        "serving_default")
    characters = {index: character for character, index in json.loads(
        (data / "character_to_prediction_index.json").read_text()).items()}  # fmt: skip
    total, distance = 0, 0
    for path, group in table.groupby("path"):
        frames = pd.read_parquet(data / path, columns=columns)
        for sequence_id, phrase in zip(group.sequence_id, group.phrase):
            rows = frames.loc[[sequence_id]].to_numpy(np.float32)
            output = runner(inputs=rows)["outputs"]
            text = "".join(characters[int(i)] for i in output.argmax(axis=1))
            total += len(phrase)
            distance += Levenshtein.distance(text, phrase)
    report = json.loads((reading_dir / "report.json").read_text())
    assert report["sequences"] == len(table) > 10
    assert report["score"] == pytest.approx((total - distance) / total, abs=1e-12)
