"""Hand landmarks of still photos, by MediaPipe Hands: a development-time tool, never a dependency.

Runs in the MediaPipe environment that `python -m fingerspell landmarks` installs (protobuf 4, so
never beside TensorFlow; `-S` keeps the main site-packages out):

    ENV=$(ls -d ~/.cache/fingerspell/mediapipe-py*-*/ | head -1)
    PYTHONPATH=$ENV python -S tools/photo_hands.py --photos ASL-HG/data/processed \\
        --out /tmp/aslhg_hands.csv
    python -c "import pandas as p; p.read_csv('/tmp/aslhg_hands.csv').to_parquet(\\
        'tools/data/aslhg_hands.parquet', index=False)"

`--photos` is searched recursively for photos named either `P<person>_<letter>_<n>.jpg` (ASL-HG)
or `<LETTER><n>_jpg.rf.<hash>.jpg` (Roboflow's American Sign Language Letters, whose people are not
named: person -1). Digits are ignored. Writes one CSV row per photo in which MediaPipe found a hand:
person, letter, photo, MediaPipe's handedness label and score, the photo's width and height, then
x0..x20, y0..y20, z0..z20 as MediaPipe reports them (x and z over the width, y over the height).
Photos without a hand are counted and listed on stderr, not dropped silently.
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from pathlib import Path

NAMES = (re.compile(r"P(?P<person>\d+)_(?P<letter>[A-Za-z])_(?P<n>\d+)\.(jpe?g|png)$"),
         re.compile(r"(?P<letter>[A-Za-z])(?P<n>\d+)_jpg\.rf\.[0-9a-f]+\.jpg$"))  # fmt: skip
COLUMNS = ["person", "letter", "photo", "handedness", "handedness_score", "width", "height",
           *(f"{axis}{i}" for axis in "xyz" for i in range(21))]  # fmt: skip


def _parse(name: str) -> dict | None:
    for pattern in NAMES:
        if match := pattern.match(name):
            return {"person": int(match.groupdict().get("person") or -1),
                    "letter": match["letter"].lower()}  # fmt: skip
    return None


def landmarks_of(photos: Path) -> tuple[list[dict], list[str]]:
    import cv2
    import mediapipe as mp

    rows, missed = [], []
    files = sorted((p, named) for p in photos.rglob("*") if (named := _parse(p.name)))
    with mp.solutions.hands.Hands(
        static_image_mode=True, max_num_hands=1, model_complexity=1, min_detection_confidence=0.3
    ) as hands:
        for path, named in files:
            image = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
            found = hands.process(image)
            if not found.multi_hand_landmarks:
                missed.append(str(path.relative_to(photos)))
                continue
            points = found.multi_hand_landmarks[0].landmark
            label = found.multi_handedness[0].classification[0]
            row = {**named, "photo": str(path.relative_to(photos)),
                   "handedness": label.label, "handedness_score": label.score,
                   "width": image.shape[1], "height": image.shape[0]}  # fmt: skip
            for axis in "xyz":
                row.update({f"{axis}{i}": getattr(p, axis) for i, p in enumerate(points)})
            rows.append(row)
    return rows, missed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path, help="a .csv file")
    args = parser.parse_args()
    rows, missed = landmarks_of(args.photos)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="") as out:
        writer = csv.DictWriter(out, COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    print(f"{len(rows)} photos with a hand, {len(missed)} without", file=sys.stderr)
    for path in missed:
        print(f"  no hand: {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
