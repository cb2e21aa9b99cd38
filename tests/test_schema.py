import json

import numpy as np
import pytest

from fingerspell import schema
from tests.conftest import SHARED_SILFA, shared


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
    competition = shared(SHARED_SILFA.parent / "character_to_prediction_index.json")
    assert json.loads(competition.read_text()) == mapping


def test_phrases_encode_and_decode():
    codes = schema.encode_phrase("818-534-0702")
    assert schema.decode_indices(codes) == "818-534-0702"
    assert schema.decode_indices([schema.BLANK, *codes]) == "818-534-0702"


def test_unknown_character_names_character_and_sequence():
    with pytest.raises(schema.PhraseError, match=r"\['\]', 'É'\].*sequence 42"):
        schema.encode_phrase("aÉb]", sequence_id=42)


CANONICAL_FACE = SHARED_SILFA.parent / "canonical_face" / "canonical_face_model.obj"


def test_the_face_mirror_reflects_mediapipes_canonical_face():
    """Every one of the 468 face points against geometry that does not come from the table:
    MediaPipe's canonical face model (Apache-2.0, ../shared/data/canonical_face) is symmetric in
    x, so each point's reflection (-x, y, z) is its partner, and a self-partner is on the
    midline (x = 0)."""
    vertices = np.array([[float(v) for v in line.split()[1:4]]
                         for line in shared(CANONICAL_FACE).read_text().splitlines()
                         if line.startswith("v ")])  # fmt: skip
    assert vertices.shape == (468, 3)
    partner = np.array(schema.mirror_partner()[:468])
    reflected = vertices * [-1, 1, 1]
    np.testing.assert_allclose(vertices[partner], reflected, atol=1e-4)
    midline = partner == np.arange(468)
    assert np.abs(vertices[midline, 0]).max() < 1e-4
    assert (np.abs(vertices[~midline, 0]) > 1e-2).all()  # no pair sits on the midline
    assert len(schema.face_mirror_pairs()) == 220 and midline.sum() == 468 - 2 * 220
