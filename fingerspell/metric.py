"""The competition's metric, exactly as the evaluator scores: (N − D) / N with Levenshtein D.
(Greedy CTC decoding is `model.greedy_decode`, shared by Keras and the exported graph.)"""

from __future__ import annotations

from collections.abc import Iterable

from rapidfuzz.distance import Levenshtein


def edit_distance(truth: str, prediction: str) -> int:
    return Levenshtein.distance(truth, prediction)


def score(truths: Iterable[str], predictions: Iterable[str]) -> float:
    """(N − D) / N over the whole set: N total label characters, D total Levenshtein distance."""
    truths, predictions = list(truths), list(predictions)
    if len(truths) != len(predictions):
        raise ValueError(f"{len(truths)} labels but {len(predictions)} predictions")
    n = sum(len(t) for t in truths)
    d = sum(edit_distance(t, p) for t, p in zip(truths, predictions))
    return (n - d) / n if n else 0.0
