"""The competition's metric and CTC greedy decoding, exactly as the evaluator scores them."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from rapidfuzz.distance import Levenshtein

from fingerspell import schema


def greedy_decode(logits: np.ndarray) -> list[int]:
    """Best path of one sequence [T, 60]: collapse repeats, then drop blanks."""
    best = np.asarray(logits).argmax(-1)
    keep = np.r_[True, best[1:] != best[:-1]] & (best != schema.BLANK)
    return best[keep].tolist()


def decode_batch(logits: np.ndarray) -> list[str]:
    return [schema.decode_indices(greedy_decode(sequence)) for sequence in logits]


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
