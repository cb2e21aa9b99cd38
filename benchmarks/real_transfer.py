"""Score a submission on honest development sets of REAL MediaPipe frames, held out by source.

    python benchmarks/real_transfer.py --submission demo/submission.zip
    python benchmarks/real_transfer.py --submission demo/submission.zip --videos CLIP.mp4...

Sets (each written in the competition layout under `--work`, then run by `check` exactly as the
competition's evaluator runs a submission):
- **silfa words / silfa strings**: SILFA's held-out frames (`handshapes.silfa_parts`: the last
  40 % of each letter's recording, which no template comes from), one real signer, body and face
  included. Each letter is a run of 4–12 consecutive held-out frames (fewer where fewer were held
  out). Words are the generator's English vocabulary; strings are random letters (3–8), so no
  vocabulary helps. A repeated letter is slid half a palm sideways, as signers do.
- **unseen words / unseen strings**: the same frames with the signing hand replaced, letter by
  letter, by MediaPipe's landmarks of a photo of a person from a source the generator never uses
  (`tools/data/roboflow_hands.parquet`, Roboflow's American Sign Language Letters, about six
  people, phone photos), on the same wrist at the same palm size (on the pose's wrist where
  SILFA's hand was lost for the whole run, as for most n's). Photos MediaPipe calls a left hand
  are mirrored to the right. Their holds are stills: within a letter only the wrist moves. Only
  the hand shape is unseen: wrist path, pose, face and resting hand are SILFA's signer's.
- **video** (with `--videos`): real recordings of one word each, through `landmarks` (MediaPipe
  Holistic, cached under `--work`), the word from the file name (`VIDEO_WORDS` where it is not).
- **synthetic, fresh seed** (`--synthetic`, 300): the generator's seed 2026, never trained on.

Every set is scored three ways (`fingerspell.edges`): as is, cut to its signing (lead-in and
lead-out off), and padded with 30 hand-less frames at each end; a model that reads a word only
when the hand rises from rest first scores the three apart (issue 38).

Prints the score of each set, the share of its first, middle and last letters lost (each way),
per-letter read rates, the commonest confusions and, for video, the frames in which Holistic
found a hand; writes `--work/summary.json`. Never train on any of it.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
from rapidfuzz.distance import Levenshtein

from fingerspell import check, edges, litert, metric, reader, schema
from fingerspell.data import SILFA
from fingerspell.synthetic import generator, handshapes, phrases
from fingerspell.synthetic.handshapes import SILFA_ASPECT

# The signing hand's landmarks, and the pose points on it: wrist, then pinky, index, thumb.
RIGHT_HAND = schema.group_indices("right_hand")
POSE_WRIST = schema.OFFSETS["pose"] + 16
POSE_ON_HAND = [schema.OFFSETS["pose"] + i for i in (18, 20, 22)]
VIDEO_WORDS = {"badf": "bad"}  # ASLearn's file names that are not the word spelled
MISSING = "·"  # a letter read as nothing, or a letter read where there was none


def held_out_letters(silfa: str | Path) -> dict[str, np.ndarray]:
    """Each SILFA letter's held-out frames [n, 1629]."""
    return {s.phrase: handshapes.silfa_parts(s.frames)[1]
            for s in reader.read_silfa(silfa, schema.COORDINATE_COLUMNS)}  # fmt: skip


def texts(kind: str, letters: str, n: int, rng) -> list[str]:
    """`n` words of the generator's vocabulary, or `n` random strings of 3–8 letters."""
    if kind == "words":
        vocabulary = [w for w in phrases.WORDS if set(w) <= set(letters)]
        return [str(w) for w in rng.choice(vocabulary, n, replace=n > len(vocabulary))]
    alphabet = np.array(list(letters))
    return ["".join(rng.choice(alphabet, int(rng.integers(3, 9)))) for _ in range(n)]


def write_set(letters: dict[str, np.ndarray], words: list[str], out: str | Path, seed: int = 0,
              photo_hands: pd.DataFrame | None = None) -> Path:  # fmt: skip
    """Spell `words` with the letters' frames in the competition layout into `out`; with
    `photo_hands` (rows of `tools/photo_hands.py`), each letter's signing hand is one of those
    photos instead, placed on the frames' wrist at their palm size."""
    rng = np.random.default_rng(seed)
    photo_rng = np.random.default_rng([seed, 1])  # the frames stay the same with or without
    if photo_hands is not None:
        palm = _palm(np.concatenate(list(letters.values())))
    out = Path(out)
    (out / "train_landmarks").mkdir(parents=True, exist_ok=True)
    tables, rows = [], []
    for number, word in enumerate(words):
        sequence_id = 1_000_000 + number
        runs = [letter_run(letters[c], rng) for c in word]
        if photo_hands is not None:
            runs = [_with_hand(run, _photo_hand(photo_hands, c, photo_rng), palm)
                    for c, run in zip(word, runs, strict=True)]  # fmt: skip
        runs = [slid(run) if i and c == word[i - 1] else run
                for i, (c, run) in enumerate(zip(word, runs))]  # fmt: skip
        frames = np.concatenate(runs)
        table = pd.DataFrame(frames, columns=schema.COORDINATE_COLUMNS)
        table.insert(0, "frame", np.arange(len(frames), dtype=np.int16))
        table.index = pd.Index(np.full(len(frames), sequence_id), name=schema.INDEX_NAME)
        tables.append(table)
        rows.append({"path": "train_landmarks/0.parquet", "file_id": 0, "participant_id": 0,
                     "sequence_id": sequence_id, "phrase": word})  # fmt: skip
    pd.concat(tables).to_parquet(out / "train_landmarks" / "0.parquet")
    pd.DataFrame(rows, columns=schema.CSV_COLUMNS).to_csv(out / "train.csv", index=False)
    return out


def _photo_hand(photos: pd.DataFrame, letter: str, rng) -> np.ndarray:
    """[21, 3] one photo of `letter`, as a right hand (x, y, z in one unit)."""
    theirs = photos[photos.letter == letter]
    return handshapes.right_hands(theirs.iloc[[int(rng.integers(len(theirs)))]])[0]


def _with_hand(run: np.ndarray, shape: np.ndarray, palm: float) -> np.ndarray:
    """The run with its signing hand replaced by `shape`: same wrist, same palm length (3D, the
    run's median), frames without a hand stay without one; the pose's hand points follow. A run
    in which SILFA's hand was never found (most of n's) gets it on the pose's wrist at `palm`:
    the photo's hand was found, and a letter nobody can see measures nothing."""
    isotropic = np.array([SILFA_ASPECT, 1, SILFA_ASPECT], np.float32)
    hand = schema.points(run, RIGHT_HAND) * isotropic
    lengths = np.linalg.norm(hand[:, 9] - hand[:, 0], axis=-1)
    if np.isnan(lengths).all():
        wrist = schema.points(run, [POSE_WRIST])[:, 0] * isotropic
        wrist[:, 2] = 0.0  # a hand's z is relative to its wrist
    else:
        wrist, palm = hand[:, 0], np.nanmedian(lengths)
    local = (shape - shape[0]) * palm / np.linalg.norm(shape[9] - shape[0])
    new = (wrist[:, None] + local) / isotropic  # [T, 21, 3]; NaN where the run lost the hand
    run = run.copy()
    for axis in range(3):
        run[:, [axis * schema.N_LANDMARKS + i for i in RIGHT_HAND]] = new[..., axis]
    for point, finger in zip(POSE_ON_HAND, (17, 5, 2), strict=True):  # pinky, index, thumb
        for axis in range(2):
            run[:, axis * schema.N_LANDMARKS + point] = new[:, finger, axis]
    return run


def _palm(frames: np.ndarray) -> float:
    """Median 3D palm length of the signing hand, isotropic units."""
    hand = handshapes.silfa_points(frames, "right_hand")
    return float(np.nanmedian(np.linalg.norm(hand[:, 9] - hand[:, 0], axis=-1)))


def letter_run(frames: np.ndarray, rng) -> np.ndarray:
    """A run of 4–12 consecutive frames of one letter (all of them if fewer)."""
    length = min(len(frames), int(rng.integers(4, 13)))
    start = int(rng.integers(0, len(frames) - length + 1))
    return frames[start : start + length]


def slid(run: np.ndarray, palms: float = 0.5) -> np.ndarray:
    """The run with the signing hand moved `palms` palm lengths sideways (x, image-normalised)."""
    hand = schema.points(run, RIGHT_HAND) * [SILFA_ASPECT, 1, SILFA_ASPECT]
    lengths = np.linalg.norm(hand[:, 9, :2] - hand[:, 0, :2], axis=-1)
    if np.isnan(lengths).all():
        return run
    run = run.copy()
    run[:, RIGHT_HAND + [POSE_WRIST] + POSE_ON_HAND] += np.float32(
        palms * np.nanmedian(lengths) / SILFA_ASPECT)
    return run


def letters_read(results: pd.DataFrame) -> pd.Series:
    """Per letter, the share of its occurrences the prediction got right (matched, in the
    Levenshtein alignment of truth and prediction), lowest first."""
    read, seen = Counter(), Counter()
    for truth, prediction in zip(results.phrase, results.prediction, strict=True):
        wrong = _lost_letters(truth, prediction)
        for i, letter in enumerate(truth):
            seen[letter] += 1
            read[letter] += i not in wrong
    return pd.Series({c: read[c] / seen[c] for c in sorted(seen)}).sort_values()


def _lost_letters(truth: str, prediction: str) -> set[int]:
    """Positions in `truth` the prediction deleted or read as another letter (Levenshtein)."""
    return {i for op, i, _ in Levenshtein.editops(truth, prediction) if op != "insert"}


def lost_by_place(results: pd.DataFrame) -> dict[str, float | None]:
    """The share of first, middle and last letters the prediction got wrong (deleted or read as
    another), over phrases of three letters or more: where a model reads a word only after a
    lead-in, its first letters are lost more than the others (issue 38)."""
    wrong, seen = Counter(), Counter()
    for truth, prediction in zip(results.phrase, results.prediction, strict=True):
        if len(truth) < 3:
            continue
        bad = _lost_letters(truth, prediction)
        for place, letters in (("first", {0}), ("last", {len(truth) - 1}),
                               ("middle", set(range(1, len(truth) - 1)))):  # fmt: skip
            wrong[place] += len(bad & letters)
            seen[place] += len(letters)
    return {p: round(wrong[p] / seen[p], 3) if seen[p] else None
            for p in ("first", "middle", "last")}  # fmt: skip


def confusions(results: pd.DataFrame, top: int = 8) -> list[tuple[str, int]]:
    """The commonest edits, "t→p" (read as), "n→·" (not read), "·→e" (read, not there)."""
    edits = Counter()
    for truth, prediction in zip(results.phrase, results.prediction, strict=True):
        for op, i, j in Levenshtein.editops(truth, prediction):
            was = truth[i] if op != "insert" else MISSING
            read = prediction[j] if op != "delete" else MISSING
            edits[f"{was}→{read}"] += 1
    return edits.most_common(top)


def video_set(videos: list[str], work: Path) -> Path:
    """The clips through `landmarks` into `work` (kept between runs: it resumes)."""
    from fingerspell import video

    names = [Path(v).stem for v in videos]
    words = pd.DataFrame({"video": [Path(v).name for v in videos],
                          "phrase": [VIDEO_WORDS.get(n, n) for n in names]})  # fmt: skip
    work.mkdir(parents=True, exist_ok=True)
    words.to_csv(work / "words.csv", index=False)
    video.landmarks(videos, str(work / "data"), phrases=str(work / "words.csv"), workers=2)
    return work / "data"


def hand_frames(data: Path) -> pd.DataFrame:
    """Per sequence: frames, and frames in which Holistic found either hand."""
    hands = schema.group_indices("left_hand") + schema.group_indices("right_hand")
    columns = schema.columns_for(hands)
    rows = []
    for s in reader.iter_sequences(data, columns):
        found = np.isfinite(s.frames[:, : len(hands)]).any(axis=1)
        rows.append({"sequence_id": s.sequence_id, "frames": len(found),
                     "with a hand": int(found.sum())})  # fmt: skip
    return pd.DataFrame(rows)


def score_set(name: str, submission: str, data: Path, report_dir: Path) -> dict:
    report = check.check(submission, data, report_dir)
    results = check.load_predictions(report_dir)
    rates = letters_read(results)
    runner, columns, _ = litert.load_runner(submission)
    nothing = litert.answer_to_nothing(runner, len(columns))  # what an empty decode answers
    out = {"set": name, "sequences": len(results), "score": round(report["score"], 4),
           "empty": round(float((results.prediction == nothing).mean()), 3),
           "letters": {c: round(r, 2) for c, r in rates.items()},
           "lost": lost_by_place(results),
           "confusions": confusions(results)}  # fmt: skip
    if name == "video":
        seen = hand_frames(data).merge(results[["sequence_id", "phrase", "prediction"]])
        seen["share"] = (seen["with a hand"] / seen.frames).round(2)
        most = seen[seen.share > 0.5]
        out["clips"] = seen.drop(columns="sequence_id").to_dict("records")
        out["score, hand in most frames"] = (round(metric.score(most.phrase, most.prediction), 4)
                                             if len(most) else None)  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submission", required=True, help="submission.zip or its folder")
    parser.add_argument("--silfa", default=str(SILFA))
    parser.add_argument("--work", default="runs/real_transfer", help="sets and reports folder")
    parser.add_argument("--sequences", type=int, default=300, help="per set")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--videos", nargs="*", default=[], help="clips, each one word")
    parser.add_argument("--synthetic", type=int, default=300,
                        help="sequences of a fresh synthetic seed (2026) to score too; 0: none")
    args = parser.parse_args()
    work = Path(args.work)
    letters = held_out_letters(args.silfa)
    unseen = pd.read_parquet(handshapes.UNSEEN_HANDS)
    sets = {}
    for number, kind in enumerate(("words", "strings")):
        spelled = texts(kind, "".join(letters), args.sequences,
                        np.random.default_rng([args.seed, number]))  # fmt: skip
        sets[f"silfa {kind}"] = write_set(letters, spelled, work / f"silfa-{kind}", args.seed)
        sets[f"unseen {kind}"] = write_set(letters, spelled, work / f"unseen-{kind}", args.seed,
                                           unseen)  # fmt: skip
    if args.videos:
        sets["video"] = video_set(args.videos, work / "video")
    if args.synthetic:
        sets["synthetic, fresh seed"] = Path(generator.write_dataset(
            work / "synthetic", args.synthetic, seed=2026, n_supplemental=0, workers=2))
    summary = []
    for name, data in sets.items():
        for how in edges.EDGES:  # as is, lead-in and lead-out cut off, padded (issue 38)
            variant = data if how == "as is" else Path(edges.write_variant(
                data, data.parent / f"{data.name}-{how}", how))
            summary.append({**score_set(name, args.submission, variant,
                                        variant.parent / f"{variant.name}-report"),
                            "edges": how})  # fmt: skip
    (work / "summary.json").write_text(json.dumps(summary, indent=1, ensure_ascii=False))
    table = pd.DataFrame(summary)
    print(table.pivot(index="set", columns="edges", values="score")[list(edges.EDGES)]
          .reindex(list(sets)).to_markdown())  # fmt: skip
    lost = table.assign(lost=[" / ".join(f"{v:.2f}" if v is not None else "-"
                                          for v in s["lost"].values()) for s in summary])
    print("letters lost, first / middle / last:")
    print(lost.pivot(index="set", columns="edges", values="lost")[list(edges.EDGES)]
          .reindex(list(sets)).to_markdown())  # fmt: skip
    summary = [s for s in summary if s["edges"] == "as is"]
    print(pd.DataFrame(summary)[["set", "sequences", "score", "empty"]].to_markdown(index=False))
    print(pd.DataFrame({s["set"]: s["letters"] for s in summary}).T.to_markdown(floatfmt=".2f"))
    for s in summary:
        print(f"{s['set']}: commonest edits", ", ".join(f"{e} {n}" for e, n in s["confusions"]))
        if "clips" in s:
            print(pd.DataFrame(s["clips"]).to_markdown(index=False))
            print("score over clips with a hand in most frames:", s["score, hand in most frames"])


if __name__ == "__main__":
    main()
