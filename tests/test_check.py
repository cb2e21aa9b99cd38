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


def test_op_summary_names_the_ops_that_are_not_builtins(tmp_path):
    """The check the export tests make (no `Flex…`, no custom op) can fail: a file converted with
    TensorFlow's select ops is reported with them."""

    @tf.function(input_signature=[tf.TensorSpec([3], tf.float32)])
    def cumulative(x):
        return tf.math.cumprod(x, exclusive=True) + tf.math.bincount(
            tf.cast(x, tf.int32), minlength=3, dtype=tf.float32)  # fmt: skip

    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [cumulative.get_concrete_function()], cumulative)  # fmt: skip
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS,
                                           tf.lite.OpsSet.SELECT_TF_OPS]  # fmt: skip
    (tmp_path / "flex.tflite").write_bytes(converter.convert())
    ops = export.op_summary(str(tmp_path / "flex.tflite"))
    assert {name for name in ops if name.startswith("Flex")} == {"FlexCumprod",
                                                                 "FlexDenseBincount"}
    assert "ADD" in ops  # and the builtins beside them


def test_collapsing_per_frame_classes_reads_what_greedy_decoding_reads():
    """`litert.collapse` (for classes read out of a file) and `model.greedy_decode` (validation,
    parity, the exported graph) are one rule: repeats merged, blanks dropped."""
    from fingerspell import litert
    from fingerspell.model import N_CLASSES, greedy_decode

    rng = np.random.default_rng(0)
    # Runs of repeated classes and blanks, as CTC emits them.
    classes = np.repeat(rng.integers(0, N_CLASSES, (32, 20)), rng.integers(1, 4, 20), axis=1)
    classes[:, ::7] = schema.BLANK
    decoded = np.asarray(greedy_decode(np.eye(N_CLASSES, dtype=np.float32)[classes]))
    for row, indices in zip(classes, decoded):
        assert litert.collapse(row) == schema.decode_indices(indices[indices >= 0])
    assert litert.collapse([5, 5, schema.BLANK, 5, 3, 3]) == schema.decode_indices([5, 5, 3])
