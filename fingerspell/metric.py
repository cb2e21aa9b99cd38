"""The competition's metric, exactly as the evaluator scores: (N − D) / N with Levenshtein D.
(Greedy CTC decoding is `model.greedy_decode`, shared by Keras and the exported graph.)"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from rapidfuzz import process
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


def nearest_to_all(phrases: list[str], candidates: int = 2000, targets: int = 5000,
                   seed: int = 0) -> str:  # fmt: skip
    """The answer that costs least, in total edit distance, against `phrases` when nothing can be
    read: the best of a sample of the phrases themselves and a single space. (The exact answer,
    a string median, is NP-hard to find.) Seeded: the same phrases give the same answer."""
    rng = np.random.default_rng(seed)
    pool = list(dict.fromkeys([" ", *rng.permutation(phrases)[:candidates].tolist()]))
    sample = rng.permutation(phrases)[:targets].tolist()
    distances = process.cdist(pool, sample, scorer=Levenshtein.distance, dtype=np.int32,
                              workers=-1)  # fmt: skip
    return pool[int(distances.sum(axis=1).argmin())]
