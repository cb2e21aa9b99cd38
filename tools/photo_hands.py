"""Hand landmarks of still photos, by MediaPipe Hands: a development-time tool, never a dependency.

    python -m venv .venv-mediapipe
    .venv-mediapipe/bin/pip install mediapipe==0.10.21 "numpy<2" "protobuf<5" pandas pyarrow
    .venv-mediapipe/bin/python tools/photo_hands.py --photos ASL-HG/data/processed \\
        --out tools/data/aslhg_hands.parquet

`--photos` holds one folder per class (`A`..`Z`, digits ignored) of files named
`P<person>_<class>_<n>.jpg` (the ASL-HG layout). Writes one row per photo in which MediaPipe found
a hand: person, letter, photo, MediaPipe's handedness label and score, then x0..x20, y0..y20,
z0..z20 (x and z over the photo's width, y over its height, as MediaPipe reports them). Photos
without a hand are counted and listed on stderr, not dropped silently.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

NAME = re.compile(r"P(?P<person>\d+)_(?P<letter>[A-Za-z])_(?P<n>\d+)\.(jpe?g|png)$")


def landmarks_of(photos: Path) -> tuple[list[dict], list[str]]:
    import cv2
    import mediapipe as mp

    rows, missed = [], []
    files = sorted(p for p in photos.glob("*/*") if NAME.match(p.name))
    with mp.solutions.hands.Hands(
        static_image_mode=True, max_num_hands=1, model_complexity=1, min_detection_confidence=0.3
    ) as hands:
        for path in files:
            image = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
            found = hands.process(image)
            if not found.multi_hand_landmarks:
                missed.append(str(path.relative_to(photos)))
                continue
            name = NAME.match(path.name)
            points = found.multi_hand_landmarks[0].landmark
            label = found.multi_handedness[0].classification[0]
            row = {"person": int(name["person"]), "letter": name["letter"].lower(),
                   "photo": str(path.relative_to(photos)), "handedness": label.label,
                   "handedness_score": label.score}  # fmt: skip
            for axis in "xyz":
                row.update({f"{axis}{i}": getattr(p, axis) for i, p in enumerate(points)})
            rows.append(row)
    return rows, missed


def main() -> None:
    import pandas as pd

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()
    rows, missed = landmarks_of(args.photos)
    table = pd.DataFrame(rows)
    coordinates = [c for c in table.columns if re.fullmatch(r"[xyz]\d+", c)]
    table[coordinates] = table[coordinates].astype("float32")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_parquet(args.out, index=False)
    print(f"{len(table)} photos with a hand, {len(missed)} without", file=sys.stderr)
    for path in missed:
        print(f"  no hand: {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
