import json

import pytest

from fingerspell import schema
from tests.conftest import SILFA


def test_native_column_order_matches_the_competition_files():
    columns = schema.ALL_COLUMNS
    assert len(columns) == 1630 and columns[0] == "frame"
    assert columns[1:4] == ["x_face_0", "x_face_1", "x_face_2"]
    assert columns[1 + 468] == "x_left_hand_0"
    assert columns[1 + 489] == "x_pose_0"
    assert columns[1 + 522] == "x_right_hand_0"
    assert columns[1 + 543] == "y_face_0"
    assert columns[-1] == "z_right_hand_20"


def test_group_offsets():
    assert schema.OFFSETS == {"face": 0, "left_hand": 468, "pose": 489, "right_hand": 522}
    assert schema.landmark_name(471) == "left_hand_3"
    with pytest.raises(IndexError):
        schema.landmark_name(543)


def test_named_subsets_have_the_expected_sizes_and_native_order():
    subsets = schema.landmark_subsets()
    assert len(subsets["lips"]) == 40
    assert len(subsets["hands"]) == 42
    assert 120 <= len(subsets["default"]) <= 140
    for indices in subsets.values():
        assert indices == sorted(indices)
    assert set(subsets["hands"]) | set(subsets["pose"]) <= set(subsets["default"])


def test_columns_round_trip_and_reject_foreign_layouts():
    landmarks = schema.resolve_landmarks("default")
    columns = schema.columns_for(landmarks)
    assert len(columns) == 3 * len(landmarks)
    assert schema.landmarks_of_columns(columns) == landmarks
    with pytest.raises(ValueError):
        schema.landmarks_of_columns(columns[::-1])
    with pytest.raises(ValueError):
        schema.resolve_landmarks("elbows")


def test_character_map_is_the_competitions():
    mapping = schema.char_to_index()
    assert len(mapping) == schema.N_CHARS == 59
    assert sorted(mapping.values()) == list(range(59))
    shared = SILFA.parent / "character_to_prediction_index.json"
    if shared.exists():
        assert json.loads(shared.read_text()) == mapping


def test_phrases_encode_and_decode():
    codes = schema.encode_phrase("818-534-0702")
    assert schema.decode_indices(codes) == "818-534-0702"
    assert schema.decode_indices([schema.BLANK, *codes]) == "818-534-0702"


def test_unknown_character_names_character_and_sequence():
    with pytest.raises(schema.PhraseError, match=r"\['\]', 'É'\].*sequence 42"):
        schema.encode_phrase("aÉb]", sequence_id=42)
