"""The edge probe: a dataset cut to its signing, or padded with hand-less frames."""

import numpy as np
import pandas as pd

from fingerspell import edges, reader, schema
from fingerspell.synthetic import generator

HANDS = schema.columns_for(schema.group_indices("left_hand") + schema.group_indices("right_hand"))


def _sequences(data) -> dict[int, np.ndarray]:
    return {s.sequence_id: s.frames
            for s in reader.iter_sequences(data, schema.COORDINATE_COLUMNS)}  # fmt: skip


def test_cutting_removes_the_rise_and_the_drop_and_keeps_the_letters(synth_dir):
    """On synthetic sequences, whose letters' frames are known: a lead-in from rest (10 frames or
    more before the first letter is formed) loses its first frames, and what is cut off between
    the first and the last letter formed is, in all but a few sequences, frames without a hand."""
    letters = generator.letter_frames(synth_dir)
    hands = [schema.COORDINATE_COLUMNS.index(c) for c in HANDS]
    rises, cut_rises, lost = 0, 0, []
    for sequence_id, frames in _sequences(synth_dir).items():
        spans = letters[letters.sequence_id == sequence_id]
        first, last = edges.signing_span(frames)
        formed, done = int(spans.formed.iloc[0]), int(spans.formed.iloc[-1]) + 1
        if formed >= 10:
            rises += 1
            cut_rises += first >= 4
        seen = np.isfinite(frames[:, hands]).any(axis=1)
        lost.append(seen[formed:first].sum() + seen[max(last, formed):done].sum())
    assert rises >= 20 and cut_rises >= 0.9 * rises
    assert np.mean(np.array(lost) > 0) <= 0.06, lost


def test_padding_adds_hand_less_frames_of_the_first_and_last_pose():
    rng = np.random.default_rng(0)
    frames = rng.uniform(0.2, 0.8, (12, 3 * schema.N_LANDMARKS)).astype(np.float32)
    padded = edges.pad_edges(frames, 5)
    assert padded.shape == (22, frames.shape[1]) and padded.dtype == np.float32
    np.testing.assert_array_equal(padded[5:17], frames)
    hands = [schema.COORDINATE_COLUMNS.index(c) for c in HANDS]
    others = np.setdiff1d(np.arange(frames.shape[1]), hands)
    assert np.isnan(padded[:5, hands]).all() and np.isnan(padded[17:, hands]).all()
    np.testing.assert_array_equal(padded[:5, others], np.repeat(frames[:1, others], 5, 0))
    np.testing.assert_array_equal(padded[17:, others], np.repeat(frames[-1:, others], 5, 0))


def test_a_variant_keeps_the_layout_ids_and_phrases(synth_dir, tmp_path):
    before = _sequences(synth_dir)
    for how in edges.EDGES:
        out = edges.write_variant(synth_dir, tmp_path / how.replace(" ", "-"), how)
        pd.testing.assert_frame_equal(reader.read_metadata(out), reader.read_metadata(synth_dir))
        after = _sequences(out)
        assert after.keys() == before.keys()
        for sequence_id, frames in after.items():
            np.testing.assert_array_equal(frames, edges.EDGES[how](before[sequence_id]))
