"""The evaluator replica, on a hand-made submission whose answers are known."""

import json

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from fingerspell import check, export, schema

COLUMNS = ["x_right_hand_0", "y_right_hand_0"]


@pytest.fixture(scope="module")
def spelling_submission(tmp_path_factory):
    """A model that spells the character whose index is in column 0 of each frame."""
    out = tmp_path_factory.mktemp("spelling")

    @tf.function(input_signature=[tf.TensorSpec([None, len(COLUMNS)], tf.float32, name="inputs")])
    def serve(inputs):
        return {"outputs": tf.one_hot(tf.cast(inputs[:, 0], tf.int32), schema.N_CHARS)}

    module = tf.Module()
    module.serve = serve
    tf.saved_model.save(module, str(out / "saved"), signatures={"serving_default": serve})
    converter = tf.lite.TFLiteConverter.from_saved_model(str(out / "saved"))
    export.write_submission(converter.convert(), COLUMNS, out)
    return out / "submission.zip"


def _dataset(folder, sequences: dict[int, tuple[str, str]]):
    """Competition layout; each sequence's frames spell `spelled` while its phrase is `truth`."""
    index = schema.char_to_index()
    parts, rows = [], []
    for sequence_id, (truth, spelled) in sequences.items():
        codes = np.array([index[c] for c in spelled], np.float32)
        part = pd.DataFrame({"frame": np.arange(len(codes), dtype=np.int16),
                             "x_right_hand_0": codes, "y_right_hand_0": 0.5,
                             "x_face_0": 0.1},  # fmt: skip
                            index=pd.Index([sequence_id] * len(codes), name="sequence_id"))
        parts.append(part)
        rows.append({"path": "train_landmarks/1.parquet", "file_id": 1, "participant_id": 1,
                     "sequence_id": sequence_id, "phrase": truth})  # fmt: skip
    (folder / "train_landmarks").mkdir(parents=True)
    pd.concat(parts).to_parquet(folder / "train_landmarks" / "1.parquet")
    pd.DataFrame(rows).to_csv(folder / "train.csv", index=False)
    return folder


def test_check_scores_like_the_competition(spelling_submission, tmp_path):
    data = _dataset(tmp_path / "data", {10: ("abc", "abc"), 11: ("hello", "hallo"),
                                        12: ("+1-2", "+1-2-3")})  # fmt: skip
    report = check.check(spelling_submission, data, tmp_path / "report")
    predictions = pd.read_csv(tmp_path / "report" / "predictions.csv", keep_default_na=False)
    assert predictions.prediction.tolist() == ["abc", "hallo", "+1-2-3"]
    n, d = 3 + 5 + 4, 0 + 1 + 2
    assert report["score"] == pytest.approx((n - d) / n)
    assert report["sequences"] == 3
    assert report["size_mb"] > 0 and report["latency_ms"]["p95"] > 0
    written = json.loads((tmp_path / "report" / "report.json").read_text())
    assert written["score"] == report["score"]
    assert (tmp_path / "report" / "report.png").stat().st_size > 0
    assert "hello" in (tmp_path / "report" / "report.md").read_text()


def test_check_honours_limit(spelling_submission, tmp_path):
    data = _dataset(tmp_path / "data", {1: ("ab", "ab"), 2: ("cd", "cd"), 3: ("ef", "xx")})
    report = check.check(spelling_submission, data, tmp_path / "report", limit=2)
    assert report["sequences"] == 2 and report["score"] == 1.0


def test_check_warns_when_the_file_or_the_projected_test_time_is_over_the_limits(
    spelling_submission, tmp_path, monkeypatch,
):  # fmt: skip
    """Within the limits: no warning. With the limits lowered under what this file and this
    machine measure: one warning each, in report.json and report.md."""
    data = _dataset(tmp_path / "data", {1: ("ab", "ab"), 2: ("cd", "cd")})
    assert check.check(spelling_submission, data, tmp_path / "within")["warnings"] == []
    report = check.check(spelling_submission, data, tmp_path / "within")
    monkeypatch.setattr(check, "SIZE_LIMIT_MB", report["size_mb"] / 2)
    monkeypatch.setattr(check, "TIME_LIMIT_HOURS", report["projected_test_minutes"] / 60 / 1e3)
    over = check.check(spelling_submission, data, tmp_path / "over")
    assert len(over["warnings"]) == 2
    assert "over the" in over["warnings"][0] and "MB" in over["warnings"][0]
    assert "test sequences would take" in over["warnings"][1]
    markdown = (tmp_path / "over" / "report.md").read_text()
    assert markdown.count("**warning**") == 2
    written = json.loads((tmp_path / "over" / "report.json").read_text())
    assert written["warnings"] == over["warnings"]
