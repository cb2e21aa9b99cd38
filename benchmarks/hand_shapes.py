"""How far the generator's real hands alone go: a per-frame letter classifier trained on the
templates, scored on the held-out hands.

    python benchmarks/hand_shapes.py

A logistic regression (scikit-learn) on single hands, wrist-relative and palm-normalised (x, y, z
in one unit), trained on every template hand of `fingerspell/data/templates.npz` (SILFA's
template frames and the ten ASL-HG people), optionally with copies turned about the wrist by a
normal spread of angles; scored on SILFA's held-out frames (`handshapes.silfa_parts`) and on the
unseen source's photos (`tools/data/roboflow_hands.parquet`, mirrored to right hands). No
sequence, no motion, no model of ours: it says how separable the letters' shapes are across
sources, a reference for what the sequence model reads per letter (`real_transfer.py`).

A second table trains it on hands as the generator's signers hold them (`generator.make_signer`:
SILFA's signer for half of them, then `generator.blended` with each signer's blend drawn from
±`--blends`), 200 signers and three hands of each letter apiece.
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from fingerspell import reader, schema
from fingerspell.data import SILFA
from fingerspell.synthetic import generator, handshapes
from fingerspell.synthetic.handshapes import LETTERS


def template_hands() -> tuple[np.ndarray, np.ndarray]:
    hands, letters = [], []
    for number, letter in enumerate(LETTERS):
        for source in handshapes.HAND_SOURCES:
            shapes = handshapes.hand_shapes(letter, source)
            hands.append(shapes)
            letters += [number] * len(shapes)
    return handshapes.palm_normalised(np.concatenate(hands)), np.array(letters)


def held_out_silfa(silfa: str) -> tuple[np.ndarray, np.ndarray]:
    hands, letters = [], []
    for sequence in reader.read_silfa(silfa, schema.COORDINATE_COLUMNS):
        frames = handshapes.silfa_parts(sequence.frames)[1]
        hand = handshapes.silfa_points(frames, "right_hand")
        hand = hand[np.isfinite(hand).all(axis=(1, 2))]
        hands.append(hand)
        letters += [LETTERS.index(sequence.phrase)] * len(hand)
    return handshapes.palm_normalised(np.concatenate(hands)), np.array(letters)


def unseen_photos() -> tuple[np.ndarray, np.ndarray]:
    table = pd.read_parquet(handshapes.UNSEEN_HANDS)
    letters = np.array([LETTERS.index(c) for c in table.letter])
    return handshapes.palm_normalised(handshapes.right_hands(table)), letters


def turned(hands: np.ndarray, spread: float, copies: int, rng) -> np.ndarray:
    """`copies` of each hand, each turned about the wrist by N(0, spread) degrees per axis."""
    angles = rng.normal(0, spread, (copies * len(hands), 3))
    rotations = np.stack([handshapes.rotation_matrix(*a) for a in angles])
    return np.einsum("nij,nkj->nki", rotations, np.tile(hands, (copies, 1, 1)))


def signers_hands(blend: float, n_signers: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """Three hands of each letter from each of `n_signers` of the generator's signers, their
    blends drawn from ±`blend` (the orientation and variant noise left out)."""
    hands, letters = [], []
    for participant in range(n_signers):
        signer = generator.make_signer(participant, rng)
        signer = dataclasses.replace(signer, blend=rng.uniform(-blend, blend))
        for number, letter in enumerate(LETTERS):
            shapes = handshapes.hand_shapes(letter, signer.hands)
            for pick in rng.integers(len(shapes), size=3):
                hands.append(generator.blended(shapes[pick], letter, signer, rng))
                letters.append(number)
    return handshapes.palm_normalised(np.stack(hands)), np.array(letters)


def _scores(hands, labels, tests) -> dict[str, float]:
    classifier = LogisticRegression(max_iter=3000).fit(hands.reshape(len(hands), -1), labels)
    return {f"{name} ({len(y)})": np.mean(classifier.predict(x.reshape(len(x), -1)) == y)
            for name, (x, y) in tests.items()}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--silfa", default=str(SILFA))
    parser.add_argument("--spreads", type=float, nargs="+", default=[0, 8, 15, 25])
    parser.add_argument("--copies", type=int, default=4)
    parser.add_argument("--blends", type=float, nargs="+", default=[0, 0.5, 1, 1.5])
    args = parser.parse_args()
    train, letters = template_hands()
    tests = {"SILFA held-out frames": held_out_silfa(args.silfa), "unseen photos": unseen_photos()}
    rows = []
    for spread in args.spreads:
        rng = np.random.default_rng(0)
        hands, labels = train, letters
        if spread:
            hands = np.concatenate([train, turned(train, spread, args.copies, rng)])
            labels = np.tile(letters, args.copies + 1)
        rows.append({"turned by (degrees)": spread, "training hands": len(hands),
                     **_scores(hands, labels, tests)})  # fmt: skip
    print(pd.DataFrame(rows).to_markdown(index=False, floatfmt=".3f"))
    rows = []
    for blend in args.blends:
        hands, labels = signers_hands(blend, 200, np.random.default_rng(0))
        rows.append({"signers' blend, ±": blend, "training hands": len(hands),
                     **_scores(hands, labels, tests)})  # fmt: skip
    print(pd.DataFrame(rows).to_markdown(index=False, floatfmt=".3f"))


if __name__ == "__main__":
    main()
