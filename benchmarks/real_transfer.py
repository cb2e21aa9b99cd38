"""Score a submission on words spelled with REAL MediaPipe frames (the SILFA letters).

    python benchmarks/real_transfer.py --submission demo/submission.zip
    python benchmarks/real_transfer.py --submission demo/submission.zip --other-signers

Each word is built from `../shared/data/silfa` (one real signer's letters a–z, MediaPipe Holistic
output): for every letter a run of that letter's consecutive frames (4 to 12 frames, random
start), body and face included, in the competition layout (`train.csv`, one parquet file). A
repeated letter ("ll", "ss") is signed as signers do, with the hand slid half a palm sideways for
the second one (SILFA holds each letter once; two runs of the same frames would show no second
letter at all, to any reader). The words are the synthetic generator's English vocabulary, so
only the frames are new. `check` then runs the submission exactly as the competition's evaluator
does. With `--other-signers` the signing hand in those frames is replaced, letter by letter, by
MediaPipe's landmarks of photos of three other people (ASL-HG persons 8–10, whom the generator
never uses; `tools/data/README.md`), on the same wrist at the same palm size. Both are
development sets: never train on them.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
from rapidfuzz.distance import Levenshtein

from fingerspell import check, metric, reader, schema
from fingerspell.cli import SILFA_DEFAULT
from fingerspell.synthetic import handshapes, phrases
from fingerspell.synthetic.handshapes import SILFA_ASPECT

# The signing hand's landmarks, and the pose points on it: wrist, then pinky, index, thumb.
RIGHT_HAND = schema.group_indices("right_hand")
POSE_WRIST = schema.OFFSETS["pose"] + 16
POSE_ON_HAND = [schema.OFFSETS["pose"] + i for i in (18, 20, 22)]


def real_words(silfa: str | Path, out: str | Path, n_words: int = 300, seed: int = 0,
               photo_hands: pd.DataFrame | None = None) -> Path:  # fmt: skip
    """Write `n_words` fingerspelled words in the competition layout into `out`. With
    `photo_hands` (rows of `tools/photo_hands.py`), each word's signing hand is another person's:
    their photo of each letter, placed on the SILFA frames' wrist at SILFA's palm size."""
    rng = np.random.default_rng(seed)
    photo_rng = np.random.default_rng([seed, 1])  # the SILFA frames stay the same with or without
    letters = {s.phrase: s.frames for s in reader.read_silfa(silfa, schema.COORDINATE_COLUMNS)}
    vocabulary = [w for w in phrases.WORDS if set(w) <= set(letters)]
    words = rng.choice(vocabulary, n_words, replace=n_words > len(vocabulary))
    people = [0] if photo_hands is None else sorted(photo_hands.person.unique())
    out = Path(out)
    (out / "train_landmarks").mkdir(parents=True, exist_ok=True)
    tables, rows = [], []
    for number, word in enumerate(words):
        sequence_id, person = 1_000_000 + number, int(people[number % len(people)])
        runs = [_letter_run(letters[c], rng) for c in word]
        if photo_hands is not None:
            theirs = photo_hands[photo_hands.person == person]
            runs = [_with_hand(run, _photo_hand(theirs, c, photo_rng))
                    for c, run in zip(word, runs, strict=True)]  # fmt: skip
        runs = [_slid(run) if i and c == word[i - 1] else run
                for i, (c, run) in enumerate(zip(word, runs))]  # fmt: skip
        frames = np.concatenate(runs)
        table = pd.DataFrame(frames, columns=schema.COORDINATE_COLUMNS)
        table.insert(0, "frame", np.arange(len(frames), dtype=np.int16))
        table.index = pd.Index(np.full(len(frames), sequence_id), name=schema.INDEX_NAME)
        tables.append(table)
        rows.append({"path": "train_landmarks/0.parquet", "file_id": 0, "participant_id": person,
                     "sequence_id": sequence_id, "phrase": str(word)})  # fmt: skip
    pd.concat(tables).to_parquet(out / "train_landmarks" / "0.parquet")
    pd.DataFrame(rows, columns=schema.CSV_COLUMNS).to_csv(out / "train.csv", index=False)
    return out


def _photo_hand(photos: pd.DataFrame, letter: str, rng) -> np.ndarray:
    """[21, 3] one of the person's photos of `letter` (square photos: x, y, z share one unit)."""
    theirs = photos[photos.letter == letter]
    return handshapes.photo_points(theirs.iloc[[int(rng.integers(len(theirs)))]])[0]


def _with_hand(run: np.ndarray, shape: np.ndarray) -> np.ndarray:
    """The run with its signing hand replaced by `shape`: same wrist, same palm length (3D, the
    run's median), frames without a hand stay without one; the pose's hand points follow."""
    isotropic = np.array([SILFA_ASPECT, 1, SILFA_ASPECT], np.float32)
    hand = schema.points(run, RIGHT_HAND) * isotropic
    lengths = np.linalg.norm(hand[:, 9] - hand[:, 0], axis=-1)
    if np.isnan(lengths).all():  # MediaPipe lost the hand for the whole run: nothing to replace
        return run
    palm = np.nanmedian(lengths)
    local = (shape - shape[0]) * palm / np.linalg.norm(shape[9] - shape[0])
    new = (hand[:, :1] + local) / isotropic  # [T, 21, 3]; NaN where the run lost the hand
    run = run.copy()
    for axis in range(3):
        run[:, [axis * schema.N_LANDMARKS + i for i in RIGHT_HAND]] = new[..., axis]
    for point, finger in zip(POSE_ON_HAND, (17, 5, 2), strict=True):  # pinky, index, thumb
        for axis in range(2):
            run[:, axis * schema.N_LANDMARKS + point] = new[:, finger, axis]
    return run


def _letter_run(frames: np.ndarray, rng) -> np.ndarray:
    """A run of 4–12 consecutive frames of one letter (its whole recording if shorter)."""
    length = min(len(frames), int(rng.integers(4, 13)))
    start = int(rng.integers(0, len(frames) - length + 1))
    return frames[start : start + length]


def _slid(run: np.ndarray, palms: float = 0.5) -> np.ndarray:
    """The run with the signing hand moved `palms` palm lengths sideways (x, image-normalised)."""
    hand = schema.points(run, RIGHT_HAND) * [SILFA_ASPECT, 1, SILFA_ASPECT]
    palm = np.nanmedian(np.linalg.norm(hand[:, 9, :2] - hand[:, 0, :2], axis=-1))
    run = run.copy()
    run[:, RIGHT_HAND + [POSE_WRIST] + POSE_ON_HAND] += np.float32(palms * palm / SILFA_ASPECT)
    return run


def letters_read(results: pd.DataFrame) -> pd.Series:
    """Per letter, the share of its occurrences the prediction got right (matched, in the
    Levenshtein alignment of truth and prediction), lowest first."""
    read, seen = Counter(), Counter()
    for truth, prediction in zip(results.phrase, results.prediction, strict=True):
        wrong = {i for op, i, _ in Levenshtein.editops(truth, prediction) if op != "insert"}
        for i, letter in enumerate(truth):
            seen[letter] += 1
            read[letter] += i not in wrong
    return pd.Series({c: read[c] / seen[c] for c in sorted(seen)}).sort_values()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submission", required=True, help="submission.zip or its folder")
    parser.add_argument("--silfa", default=str(SILFA_DEFAULT))
    parser.add_argument("--work", default="runs/real_transfer", help="words and report folder")
    parser.add_argument("--words", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--other-signers", action="store_true",
                        help="sign with the hands of the photographed people the generator never "
                             "uses (ASL-HG 8, 9, 10) instead of SILFA's signer")  # fmt: skip
    args = parser.parse_args()
    hands = None
    if args.other_signers:
        hands = pd.read_parquet(handshapes.PHOTO_HANDS)
        hands = hands[~hands.person.isin(handshapes.PHOTO_PEOPLE)]
    data = real_words(args.silfa, Path(args.work) / "data", args.words, args.seed, hands)
    report = check.check(args.submission, data, Path(args.work) / "report")
    results = pd.read_csv(Path(args.work) / "report" / "predictions.csv", keep_default_na=False)
    empty = float((results.prediction == schema.FALLBACK).mean())
    print(json.dumps({"score": round(report["score"], 4), "empty_decodes": round(empty, 3),
                      "words": len(results)}))  # fmt: skip
    if hands is not None:
        people = pd.read_csv(data / "train.csv")[["sequence_id", "participant_id"]]
        by_person = results.merge(people).groupby("participant_id").apply(
            lambda r: metric.score(r.phrase, r.prediction), include_groups=False)
        print("score by person:", " ".join(f"P{p} {v:.3f}" for p, v in by_person.items()))
    rates = letters_read(results)
    print("letters read (share of occurrences):",
          " ".join(f"{c} {r:.2f}" for c, r in rates.items()))  # fmt: skip
    print(results[["phrase", "prediction"]].head(12).to_string(index=False))


if __name__ == "__main__":
    main()
