import pytest

from fingerspell import metric


def test_score_is_the_competition_formula():
    truths = ["hello", "818-534"]
    predictions = ["helo", "818-5344"]
    # N = 12 characters, D = 1 + 1
    assert metric.score(truths, predictions) == pytest.approx(10 / 12)
    assert metric.score(["abc"], [""]) == 0
    assert metric.score(["abc"], ["abcxyzxyz"]) == -1  # can go negative, as in the competition
    with pytest.raises(ValueError):
        metric.score(["a"], [])
