"""Export: the submission's files, signature, builtin ops, odd inputs, size guard, parity."""

import json
import zipfile

import keras
import numpy as np
import pytest

from fingerspell import check, export, litert, schema
from fingerspell.config import Config
from fingerspell.features import model_landmarks
from fingerspell.model import greedy_decode


@pytest.fixture(scope="module")
def runner(reading_dir):
    return litert.load_runner(reading_dir / "submission.zip")[0]


def test_submission_holds_the_model_and_native_ordered_columns(reading_dir):
    with zipfile.ZipFile(reading_dir / "submission.zip") as archive:
        assert sorted(archive.namelist()) == ["inference_args.json", "model.tflite"]
        columns = json.loads(archive.read("inference_args.json"))["selected_columns"]
    assert columns == schema.columns_for(model_landmarks("model"))
    native = [c for c in schema.COORDINATE_COLUMNS if c in set(columns)]
    assert columns == native


def test_signature_names_and_shapes(reading_dir):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(reading_dir / "model.tflite"))
    assert interpreter.get_signature_list() == {
        "serving_default": {"inputs": ["inputs"], "outputs": ["outputs"]}
    }
    runner = interpreter.get_signature_runner("serving_default")
    (inputs,) = runner.get_input_details().values()
    assert list(inputs["shape_signature"]) == [-1, 3 * len(model_landmarks("model"))]
    assert inputs["dtype"] == np.float32
    (outputs,) = runner.get_output_details().values()
    assert outputs["shape_signature"][-1] == schema.N_CHARS


def test_only_builtin_ops(reading_dir):
    ops = export.op_summary(reading_dir / "model.tflite")
    assert ops and not [name for name in ops if name.startswith(("CUSTOM", "Flex", "?"))]


N_COLUMNS = 3 * len(model_landmarks("model"))


def _no_hands(n):
    frames = np.random.default_rng(0).uniform(0.3, 0.7, (n, N_COLUMNS)).astype(np.float32)
    hands = [i for i, c in enumerate(schema.columns_for(model_landmarks("model"))) if "hand" in c]
    frames[:, hands] = np.nan
    return frames


ODD_INPUTS = {
    "zero frames": np.zeros((0, N_COLUMNS), np.float32),
    "one frame": np.full((1, N_COLUMNS), 0.5, np.float32),
    "all NaN": np.full((40, N_COLUMNS), np.nan, np.float32),
    "no hands": _no_hands(50),
    "5000 frames": np.random.default_rng(1).uniform(size=(5000, N_COLUMNS)).astype(np.float32),
    "huge values": np.full((30, N_COLUMNS), 1e30, np.float32),
    "infinities": np.full((30, N_COLUMNS), np.inf, np.float32),
}


@pytest.mark.parametrize("name", list(ODD_INPUTS))
def test_odd_inputs_give_a_valid_answer(runner, name):
    output = runner(inputs=ODD_INPUTS[name])["outputs"]
    assert output.ndim == 2 and output.shape[0] >= 1 and output.shape[1] == schema.N_CHARS
    assert np.isfinite(output).all()
    np.testing.assert_array_equal(output.sum(axis=1), 1.0)  # one-hot rows


def test_empty_decode_emits_the_runs_fallback_phrase(runner, reading_dir):
    """All-NaN frames decode to nothing; the graph answers with the phrase the run chose from its
    training phrases (not the bare space an older run answers)."""
    fallback = Config.load(str(reading_dir / "run" / "config.json")).fallback
    assert fallback and fallback != schema.FALLBACK
    assert litert.predict(runner, ODD_INPUTS["all NaN"]) == fallback
    assert litert.answer_to_nothing(runner, N_COLUMNS) == fallback


def test_models_over_40_mb_are_refused(tmp_path):
    with pytest.raises(export.TooLargeError, match="40 MB"):
        export.write_submission(b"\0" * (export.MAX_BYTES + 1), ["x_pose_0"], tmp_path / "big")
    assert not (tmp_path / "big" / "submission.zip").exists()


def test_fp32_export_decodes_exactly_like_keras(reading_dir, tmp_path):
    """On a run that reads (under JAX: trained by JAX, exported by a TensorFlow process), every
    held-out sequence decodes to the same string in the fp32 file as in Keras."""
    export.export(reading_dir / "run", tmp_path, precision="fp32")
    report = check.check(tmp_path / "submission.zip", reading_dir / "data", tmp_path / "check",
                         str(reading_dir / "records"), fold=0,
                         keras_run=reading_dir / "run")  # fmt: skip
    predictions = check.load_predictions(str(tmp_path / "check"))
    assert report["sequences"] == len(predictions) > 50
    assert predictions.prediction.nunique() >= 0.9 * len(predictions)  # they differ
    assert report["score"] > 0.4  # and mostly read the phrase
    assert report["keras_parity"] == 1.0


@pytest.fixture(scope="module")
def reader_model(reading_dir):
    """The reading run's model and 16 sequences of its validation fold, so that per-frame parity
    is measured where decodes vary."""
    from fingerspell import reader, records, runs

    model, config = runs.load_trained(reading_dir / "run")
    columns = schema.columns_for(model_landmarks(config.model_landmarks))
    folds = records.load_folds(reading_dir / "records")
    validation = set(folds.sequence_id[folds.fold == config.val_fold])
    sequences = [s.frames for s in reader.iter_sequences(reading_dir / "data", columns)
                 if s.sequence_id in validation][:16]  # fmt: skip
    assert len(sequences) == 16
    return model, config, columns, sequences


def _keras_logits(model, frames: np.ndarray, max_frames: int) -> np.ndarray:
    """What the exported graph feeds the model: resampled to the budget, one empty frame
    appended."""
    from fingerspell.dataset import resample_indices

    frames = frames[np.asarray(resample_indices(len(frames), max_frames))]
    frames = np.concatenate([frames, np.full((1, frames.shape[1]), np.nan, np.float32)])
    return np.asarray(model(frames[None], training=False))[0]


# fp16 keeps each weight to a relative 2^-11; through the layers such errors add up roughly in
# proportion to the logits, so the bound is 2^-9 of the largest logit (measured: 7e-4 of it).
BOUNDS = {"fp32": lambda logits: 1e-4, "fp16": lambda logits: 2**-9 * np.abs(logits).max()}


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="converts in this process")
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_tflite_logits_match_keras_frame_by_frame(reader_model, precision):
    model, config, columns, sequences = reader_model
    flatbuffer = export.convert(model, len(columns), config.max_frames, precision, config.fallback)
    inspector = litert.Inspector(flatbuffer)
    answers, agree, empty = [], 0, 0
    for frames in sequences:
        seen = inspector.run(frames)
        answer = litert.predict(inspector.runner, frames)
        read = litert.collapse(seen["classes"])
        assert (read or config.fallback) == answer  # the per-frame classes read it (or nothing)
        empty += not read
        expected = _keras_logits(model, frames, config.max_frames)
        got = seen["logits"]
        assert got.shape == expected.shape
        assert np.abs(got - expected).max() <= BOUNDS[precision](expected)
        agree += answer == schema.decode_prediction(
            np.asarray(greedy_decode(expected[None]))[0], config.fallback)  # fmt: skip
        answers.append(answer)
    assert len(set(answers)) >= 0.75 * len(sequences) and empty <= 2
    assert agree == len(sequences) if precision == "fp32" else agree >= 0.8 * len(sequences)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="converts in this process")
def test_transcribes_timeline_reads_the_text_it_prints(reader_model):
    """The picture's per-frame characters (`transcribe.per_video_frame`, model frames put back
    on the video's frames) collapse to the printed text, for videos shorter than the frame budget
    and for longer ones the graph resamples."""
    from fingerspell import transcribe

    model, config, columns, sequences = reader_model
    inspector = litert.Inspector(export.convert(model, len(columns), config.max_frames, "fp32",
                                                config.fallback))  # fmt: skip
    texts = []
    for frames in sequences:
        for video in (frames[: config.max_frames // 2], np.repeat(frames, 3, axis=0)):
            text = litert.predict(inspector.runner, video)
            classes = transcribe.per_video_frame(inspector.run(video)["classes"], len(video))
            assert len(classes) == len(video)
            assert (litert.collapse(classes) or config.fallback) == text
            texts.append(text)
    assert len(set(texts)) >= len(texts) // 2  # the decodes differ: the check compares something
