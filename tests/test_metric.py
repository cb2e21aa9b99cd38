import numpy as np
import pytest

from fingerspell import metric, schema


def _logits(path):
    out = np.zeros((len(path), schema.N_CHARS + 1), np.float32)
    out[np.arange(len(path)), path] = 1
    return out


def test_greedy_decode_collapses_repeats_drops_blanks_and_keeps_the_last_run():
    b = schema.BLANK
    a, el = schema.char_to_index()["a"], schema.char_to_index()["l"]
    path = [b, a, a, b, el, el, b, el, a]  # "a", "l", "l" separated by a blank, final "a" kept
    assert schema.decode_indices(metric.greedy_decode(_logits(path))) == "alla"


def test_score_is_the_competition_formula():
    truths = ["hello", "818-534"]
    predictions = ["helo", "818-5344"]
    # N = 12 characters, D = 1 + 1
    assert metric.score(truths, predictions) == pytest.approx(10 / 12)
    assert metric.score(["abc"], [""]) == 0
    assert metric.score(["abc"], ["abcxyzxyz"]) == -1  # can go negative, as in the competition
    with pytest.raises(ValueError):
        metric.score(["a"], [])
