import gzip
import json
from pathlib import Path

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


def test_names_chunks_and_gzip(records_dir, synth_dir):
    meta = json.loads((records_dir / "metadata.json").read_text())
    names = sorted(p.name for p in records_dir.glob("*.tfrecord"))
    sources = {f"{split}-{Path(path).stem}" for csv, split in records.SPLITS.items()
               for path in pd.read_csv(synth_dir / csv).path}  # fmt: skip
    total = 0
    for name in names:
        fold, split, file, _, n = name.removesuffix(".tfrecord").split("-")
        assert fold.startswith("fold") and f"{split}-{file}" in sources and int(n) <= 32
        assert (records_dir / name).read_bytes()[:2] == b"\x1f\x8b"  # GZIP magic
        with gzip.open(records_dir / name) as handle:
            assert handle.read(8)
        total += int(n)
    assert total == meta["written"] == 150 and meta["rejected"] == 0
    assert sum(meta["per_fold"].values()) == 120  # train.csv; supplemental counted apart
    assert sum(meta["supplemental_per_fold"].values()) == 30 and meta["folds"] == 3
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


@pytest.mark.parametrize("change", [{"folds": 4}, {"landmarks": "all"},
                                    {"supplemental": False}, {"chunk": 16}])  # fmt: skip
def test_continuing_a_folder_with_other_options_is_refused(records_dir, synth_dir, change):
    """The fixture's folder was made with folds=3, default landmarks, supplemental, chunk=32:
    any other option is refused by name, before anything is written."""
    before = {p.name: p.stat().st_mtime_ns for p in records_dir.rglob("*")}
    options = {"folds": 3, "landmarks": "default", "supplemental": True, "chunk": 32, **change}
    name = next(iter(change))
    with pytest.raises(reader.DataError, match=f"other options: {name} .*delete the folder"):
        records.preprocess(synth_dir, str(records_dir), **options)
    assert {p.name: p.stat().st_mtime_ns for p in records_dir.rglob("*")} == before


def test_chunk_names_depend_only_on_their_source_file(records_dir, synth_dir, tmp_path):
    """Adding the supplemental split leaves the train split's chunks as they were."""
    alone = tmp_path / "train_only"
    records.preprocess(synth_dir, str(alone), folds=3, chunk=32)
    names = sorted(p.name for p in alone.glob("*.tfrecord"))
    assert names == sorted(p.name for p in records_dir.glob("fold*-train-*.tfrecord"))
    assert all((alone / n).read_bytes() == (records_dir / n).read_bytes() for n in names)


def test_ram_filesystem_paths(synth_dir):
    meta = records.preprocess(synth_dir, "ram://fingerspell/rec", folds=3, chunk=64)
    assert meta["written"] == 120
    batch = next(iter(dataset.make_dataset("ram://fingerspell/rec", [0], 4, 64, False,
                                           model_landmarks("model"))))
    assert batch[0].shape[0] == 4


def test_make_dataset_gives_static_shapes(records_dir):
    landmarks = model_landmarks("model")
    data = dataset.make_dataset(str(records_dir), [0, 1], 8, 96, True, landmarks, max_phrase=40)
    frames, labels, weights = data.element_spec
    assert frames.shape.as_list() == [8, 96, 3 * len(landmarks)]
    assert labels.shape.as_list() == [8, 40] and weights.shape.as_list() == [8]
    x, y, w = next(iter(data))
    assert np.isnan(x.numpy()).any() and (y.numpy() >= -1).all() and set(w.numpy()) <= {0, 1}


def test_training_reads_both_splits_and_shuffles_across_the_whole_fold(records_dir, synth_dir,
                                                                      tmp_path):  # fmt: skip
    """Training reads competition and supplemental sequences; its shuffle buffer holds the
    folds (here all of them), not a few batches, so the first batches draw from a whole file."""
    landmarks = model_landmarks("model")
    meta = json.loads((records_dir / "metadata.json").read_text())
    every = dataset.make_dataset(str(records_dir), [0, 1, 2], 1, 64, True, landmarks)
    assert len(list(every)) == sum(meta["usable_per_fold"].values())
    assert dataset.shuffle_buffer(meta, [0, 1, 2]) == sum(meta["usable_per_fold"].values())

    one_file = tmp_path / "one_file"  # fold 0 of train.csv in a single chunk
    records.preprocess(synth_dir, str(one_file), folds=3, chunk=1000)
    stored = [schema.decode_indices(e["label"]) for e in _examples(one_file)
              if e["fold"] == 0]  # fmt: skip
    data = dataset.make_dataset(str(one_file), [0], 4, 64, True, landmarks, seed=3)
    first = [schema.decode_indices(row) for _, labels, _ in data.take(3) for row in labels]
    positions = [stored.index(phrase) for phrase in first]
    # A buffer of 4 batches (16) could only reach the first 16 + 12 stored sequences.
    assert max(positions) >= 28, positions


def test_loss_weight_is_zero_where_ctc_cannot_align_the_real_frames():
    """Frames that saw nothing are padding to the model: a label needs one real frame per
    character plus one between repeats."""
    label = tf.constant([5, 5, 7])  # "aab"-like: 3 characters, 1 repeat → 4 frames
    assert float(dataset.ctc_feasible(4, label)) == 1.0
    assert float(dataset.ctc_feasible(3, label)) == 0.0


def test_training_weights_count_only_frames_that_saw_something(records_dir):
    """An example whose detected frames are too few for its label gets weight 0, even when its
    frame count with padding (or with blank frames) would be enough."""
    landmarks = model_landmarks("model")
    data = dataset.make_dataset(str(records_dir), [0, 1, 2], 8, 24, True, landmarks)
    seen_weights = set()
    for frames, labels, weights in data:
        seen_weights |= set(weights.numpy().tolist())
        seen = (np.abs(frames.numpy()) < 1e6).any(axis=2).sum(axis=1)
        for n, label, weight in zip(seen, labels.numpy(), weights.numpy()):
            label = label[label >= 0]
            needed = len(label) + int((label[1:] == label[:-1]).sum())
            assert weight == float(n >= needed)
    assert seen_weights == {0.0, 1.0}  # a budget of 24 frames leaves some phrases no room


def test_deterministic_mode_repeats_exactly(records_dir):
    landmarks = model_landmarks("model")
    make = lambda: dataset.make_dataset(str(records_dir), [0, 1, 2], 16, 64, False, landmarks)  # noqa: E731
    first = [b[1].numpy() for b in make()]
    second = [b[1].numpy() for b in make()]
    assert all((a == b).all() for a, b in zip(first, second, strict=True))


def test_evaluation_batches_hold_every_sequence_once_and_pad_the_last(records_dir):
    """Every competition sequence once, no supplemental one (validation scores what the
    leaderboard scores); the last batch padded."""
    landmarks = model_landmarks("model")
    batches = list(dataset.make_dataset(str(records_dir), [0, 1, 2], 16, 64, False, landmarks))
    assert all(frames.shape[0] == 16 for frames, _, _ in batches)  # static, device-divisible
    ids = np.concatenate([b[2].numpy() for b in batches])
    real = ids[ids >= 0]
    folds = pd.read_csv(records_dir / "folds.csv")
    assert set(real) == set(folds.sequence_id[folds.csv == "train.csv"])
    assert len(real) == len(set(real)) == 120
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
