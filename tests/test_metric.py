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


def test_a_swap_costs_two_edits_as_in_levenshtein():
    """The competition's Levenshtein distance: a transposition is two substitutions (OSA or
    Damerau would count one and score 0.5 here)."""
    assert metric.edit_distance("ab", "ba") == 2
    assert metric.score(["ab"], ["ba"]) == 0
    assert metric.edit_distance("kitten", "sitting") == 3


def test_the_answer_nearest_to_all_phrases():
    """The phrase with the least total edit distance to the others wins over a space and over a
    rarer phrase; the same phrases give the same answer."""
    phrases = ["abc"] * 3 + ["abd", "xyz"]
    assert metric.nearest_to_all(phrases) == "abc"
    assert metric.nearest_to_all(["a", "b"] * 2 + [" x "]) in {"a", "b"}
    assert metric.nearest_to_all(phrases, candidates=2, seed=3) == metric.nearest_to_all(
        phrases, candidates=2, seed=3)
