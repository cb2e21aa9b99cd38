import gzip
import json

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from fingerspell import dataset, reader, records, schema
from fingerspell.features import model_landmarks


@pytest.fixture(scope="module")
def records_dir(synth_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("records") / "rec"
    records.preprocess(synth_dir, str(out), folds=3, supplemental=True, chunk=32)
    return out


def _examples(records_dir):
    files = records.record_files(str(records_dir), [0, 1, 2])
    raw = tf.data.TFRecordDataset(files, compression_type="GZIP")
    return [{k: v.numpy() for k, v in dataset.parse_example(r).items()} for r in raw]


def test_folds_are_grouped_by_participant(records_dir):
    folds = pd.read_csv(records_dir / "folds.csv")
    assert (folds.groupby("participant_id").fold.nunique() == 1).all()
    assert sorted(folds.fold.unique()) == [0, 1, 2]


def test_names_chunks_and_gzip(records_dir):
    meta = json.loads((records_dir / "metadata.json").read_text())
    names = sorted(p.name for p in records_dir.glob("*.tfrecord"))
    total = 0
    for name in names:
        fold, _, n = name.removesuffix(".tfrecord").split("-")
        assert fold.startswith("fold") and int(n) <= 32
        assert (records_dir / name).read_bytes()[:2] == b"\x1f\x8b"  # GZIP magic
        with gzip.open(records_dir / name) as handle:
            assert handle.read(8)
        total += int(n)
    assert total == meta["written"] == 150 and meta["rejected"] == 0
    assert sum(meta["per_fold"].values()) == 150
    assert meta["columns"] == schema.columns_for(schema.resolve_landmarks("default"))
    assert meta["character_map"] == schema.char_to_index()


def test_round_trip_is_bit_exact_nan_included(records_dir, synth_dir):
    examples = {int(e["sequence_id"]): e for e in _examples(records_dir)}
    columns = schema.columns_for(schema.resolve_landmarks("default"))
    folds = pd.read_csv(records_dir / "folds.csv").set_index("sequence_id").fold
    for sequence in reader.iter_sequences(synth_dir, columns, "supplemental_metadata.csv"):
        example = examples[sequence.sequence_id]
        assert example["frames"].tobytes() == sequence.frames.tobytes()
        assert np.isnan(example["frames"]).any()
        assert example["phrase"].decode() == sequence.phrase
        assert example["label"].tolist() == schema.encode_phrase(sequence.phrase)
        assert example["supplemental"] == 1 and example["fold"] == folds[sequence.sequence_id]


def test_bad_rows_are_rejected_and_counted(synth_dir, tmp_path):
    import shutil

    data = shutil.copytree(synth_dir, tmp_path / "data")
    table = pd.read_csv(data / "train.csv", keep_default_na=False)
    table.loc[2, "phrase"] = "café"
    extra = table.iloc[[0]].assign(sequence_id=123)  # listed, but not in its parquet file
    pd.concat([table, extra]).to_csv(data / "train.csv", index=False)
    meta = records.preprocess(data, str(tmp_path / "rec"), folds=3)
    rejects = pd.read_csv(tmp_path / "rec" / "rejects.csv")
    assert sorted(rejects.sequence_id) == sorted([123, int(table.sequence_id[2])])
    assert rejects.reason.str.contains("missing from its parquet|'é'").all()
    assert meta["written"] + meta["rejected"] == meta["input_rows"] == len(table) + 1


def test_corrupt_file_becomes_counted_rejects(synth_dir, tmp_path):
    import shutil

    data = shutil.copytree(synth_dir, tmp_path / "data")
    path = data / pd.read_csv(data / "train.csv").path[0]
    path.write_bytes(b"not parquet")
    meta = records.preprocess(data, str(tmp_path / "rec"), folds=3)
    assert meta["written"] == 0 and meta["rejected"] == 120
    reasons = pd.read_csv(tmp_path / "rec" / "rejects.csv").reason
    assert reasons.str.contains("cannot read parquet").all()


def test_resume_after_interruption_gives_the_same_files(synth_dir, tmp_path):
    whole = tmp_path / "whole"
    records.preprocess(synth_dir, str(whole), folds=3, supplemental=True, chunk=32)
    part = tmp_path / "part"
    records.preprocess(synth_dir, str(part), folds=3, supplemental=True, chunk=32)
    # Simulate a kill: one file's manifest and a chunk gone, a half-written temporary left over.
    manifest = next((part / records.MANIFESTS).glob("train-*.json"))
    manifest.unlink()
    victim = sorted(part.glob("fold0-*.tfrecord"))[0]
    victim.rename(victim.with_suffix(".tfrecord.tmp"))
    records.preprocess(synth_dir, str(part), folds=3, supplemental=True, chunk=32)
    for f in sorted(whole.glob("*.tfrecord")):
        assert (part / f.name).read_bytes() == f.read_bytes()
    assert sorted(p.name for p in part.glob("*.tfrecord")) == sorted(
        p.name for p in whole.glob("*.tfrecord"))


def test_ram_filesystem_paths(synth_dir):
    meta = records.preprocess(synth_dir, "ram://fingerspell/rec", folds=3, chunk=64)
    assert meta["written"] == 120
    batch = next(iter(dataset.make_dataset("ram://fingerspell/rec", [0], 4, 64, False,
                                           model_landmarks("model"))))
    assert batch[0].shape[0] == 4


def test_make_dataset_gives_static_shapes(records_dir):
    landmarks = model_landmarks("model")
    data = dataset.make_dataset(str(records_dir), [0, 1], 8, 96, True, landmarks, max_phrase=40)
    frames, labels = data.element_spec
    assert frames.shape.as_list() == [8, 96, 3 * len(landmarks)]
    assert labels.shape.as_list() == [8, 40]
    x, y = next(iter(data))
    assert np.isnan(x.numpy()).any() and (y.numpy() >= -1).all()


def test_deterministic_mode_repeats_exactly(records_dir):
    landmarks = model_landmarks("model")
    make = lambda: dataset.make_dataset(str(records_dir), [0, 1, 2], 16, 64, False, landmarks)  # noqa: E731
    first = [b[1].numpy() for b in make()]
    second = [b[1].numpy() for b in make()]
    assert all((a == b).all() for a, b in zip(first, second, strict=True))


def test_evaluation_batches_hold_every_sequence_once_and_pad_the_last(records_dir):
    landmarks = model_landmarks("model")
    batches = list(dataset.make_dataset(str(records_dir), [0, 1, 2], 16, 64, False, landmarks))
    assert all(frames.shape[0] == 16 for frames, _, _ in batches)  # static, device-divisible
    ids = np.concatenate([b[2].numpy() for b in batches])
    real = ids[ids >= 0]
    assert len(real) == len(set(real)) == 150
    assert (ids[len(real):] == -1).all()  # padding only at the end
    frames, labels, last = batches[-1]
    pad = last.numpy() < 0
    assert np.isnan(frames.numpy()[pad]).all() and (labels.numpy()[pad] == -1).all()


def test_missing_columns_in_records_are_explained(records_dir):
    with pytest.raises(ValueError, match="--landmarks all"):
        dataset.make_dataset(str(records_dir), [0], 4, 64, False, schema.resolve_landmarks("all"))


def test_long_sequences_are_resampled_to_the_budget():
    frames = tf.reshape(tf.range(300 * 2, dtype=tf.float32), [300, 2])
    fitted, label = dataset.fit_to_budget(frames, tf.constant([3, 4]), 100, 5)
    assert fitted.shape == (100, 2) and label.numpy().tolist() == [3, 4, -1, -1, -1]
    rows = fitted.numpy()[:, 0] / 2
    assert rows[0] == 0 and rows[-1] == 297 and (np.diff(rows) == 3).all()
    short, _ = dataset.fit_to_budget(frames[:10], tf.constant([1]), 100, 5)
    assert np.isnan(short.numpy()[10:]).all() and (short.numpy()[:10] == frames.numpy()[:10]).all()
