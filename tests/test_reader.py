import shutil

import numpy as np
import pandas as pd
import pytest

from fingerspell import reader, schema
from fingerspell.data import SILFA

COLUMNS = schema.columns_for(schema.resolve_landmarks("hands"))


def _copy(synth_dir, tmp_path):
    return shutil.copytree(synth_dir, tmp_path / "data")


def test_reads_every_sequence_with_only_the_requested_columns(synth_dir):
    table = reader.read_metadata(synth_dir)
    sequences = list(reader.iter_sequences(synth_dir, COLUMNS))
    assert [s.sequence_id for s in sequences] == table.sequence_id.tolist()
    first = sequences[0]
    assert first.frames.dtype == np.float32 and first.frames.shape[1] == len(COLUMNS)
    expected = pd.read_parquet(synth_dir / table.path[0], columns=COLUMNS)
    expected = expected.loc[first.sequence_id].to_numpy(np.float32)
    np.testing.assert_array_equal(first.frames, expected)
    assert first.phrase == table.phrase[0]


def test_reads_the_supplemental_split(synth_dir):
    sequences = list(reader.iter_sequences(synth_dir, COLUMNS, "supplemental_metadata.csv"))
    assert len(sequences) == 30 and all(s.supplemental for s in sequences)


def test_reads_real_silfa_output(silfa_dir):
    letters = reader.read_silfa(silfa_dir, schema.COORDINATE_COLUMNS)
    assert "".join(s.phrase for s in letters) == "abcdefghijklmnopqrstuvwxyz"
    assert sum(len(s.frames) for s in letters) == 421


def test_the_shipped_silfa_copy_equals_the_shared_data():
    """The package's compact copy holds ../shared's SILFA letters value for value."""
    import pyarrow.parquet as pq

    from tests.conftest import SHARED_SILFA, shared

    original = shared(SHARED_SILFA)
    for name in ("landmarks.parquet",):
        assert pq.read_table(SILFA / name).equals(pq.read_table(original / name))
    for name in ("sequences.csv", "LICENSE"):
        assert (SILFA / name).read_bytes() == (original / name).read_bytes()


def test_missing_file_is_named(synth_dir, tmp_path):
    data = _copy(synth_dir, tmp_path)
    path = pd.read_csv(data / "train.csv").path[0]
    (data / path).unlink()
    with pytest.raises(reader.DataError, match=path.split("/")[-1] + ".*not found"):
        list(reader.iter_sequences(data, COLUMNS))


def test_missing_columns_are_named(synth_dir, tmp_path):
    data = _copy(synth_dir, tmp_path)
    path = data / pd.read_csv(data / "train.csv").path[0]
    pd.read_parquet(path).drop(columns=["y_left_hand_4"]).to_parquet(path)
    with pytest.raises(reader.DataError, match="missing 1 columns.*y_left_hand_4"):
        list(reader.iter_sequences(data, COLUMNS))


def test_sequence_absent_from_its_file_is_an_error_or_a_reject(synth_dir, tmp_path):
    data = _copy(synth_dir, tmp_path)
    table = pd.read_csv(data / "train.csv")
    victim = int(table.sequence_id[3])
    path = data / table.path[3]
    frame = pd.read_parquet(path)
    frame[frame.index != victim].to_parquet(path)
    with pytest.raises(reader.DataError, match=f"sequence {victim}: missing from its parquet"):
        list(reader.iter_sequences(data, COLUMNS))
    items = list(reader.iter_sequences(data, COLUMNS, strict=False))
    rejects = [i for i in items if isinstance(i, reader.Rejected)]
    assert [r.sequence_id for r in rejects] == [victim] and len(items) == len(table)


def test_unknown_character_names_the_sequence(synth_dir, tmp_path):
    data = _copy(synth_dir, tmp_path)
    table = pd.read_csv(data / "train.csv", keep_default_na=False)
    table.loc[5, "phrase"] = "naïve"
    table.to_csv(data / "train.csv", index=False)
    with pytest.raises(reader.DataError, match=f"sequence {table.sequence_id[5]}.*'ï'"):
        list(reader.iter_sequences(data, COLUMNS))


def test_duplicate_ids_are_refused(synth_dir, tmp_path):
    data = _copy(synth_dir, tmp_path)
    table = pd.read_csv(data / "train.csv")
    table.loc[1, "sequence_id"] = table.sequence_id[0]
    table.to_csv(data / "train.csv", index=False)
    with pytest.raises(reader.DataError, match="duplicate sequence_id"):
        reader.read_metadata(data)


def test_corrupt_parquet_is_named(synth_dir, tmp_path):
    data = _copy(synth_dir, tmp_path)
    path = data / pd.read_csv(data / "train.csv").path[0]
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(reader.DataError, match="cannot read parquet"):
        list(reader.iter_sequences(data, COLUMNS))
