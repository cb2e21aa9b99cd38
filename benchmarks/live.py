"""Live reading, measured: Holistic's frames per second with a face and body in view, and the
live loop of `transcribe --camera` per submission.

    python benchmarks/live.py --submission tiny=demo/submission.zip --untrained large

The recordings are made here from tests/media's six photos of people (face, shoulders and one or
both hands up, Apache-2.0 / CC BY-SA 4.0), each scaled into a 640 × 480 frame, as a laptop's
camera gives:
- **people.mp4**: each photo held 2 s at 30 frames/s (360 frames), every frame with a face and a
  body. `landmarks` reads two copies with 1 and with 2 workers: Holistic's frames per second.
- **words.mp4**: each photo held 1 s, then 1 s of grey (no hand: the word ends 0.7 s later), at
  30 frames/s. `live.run_live` plays it at its own rate for each submission: frames read and
  dropped, milliseconds a frame for MediaPipe, and the delay from the frame that ended each word
  to the word (the model reading the segment). The hands' drop adds `live.END_AFTER_SECONDS`.

`--untrained PRESET` exports that preset's initial weights (`recipes.train_config("competition")`
frame budget for `large`; latency does not depend on training). Prints a table; writes `--work`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from fingerspell import live, mediapipe_env, video

ROOT = Path(__file__).resolve().parents[1]
MAKE = """
import sys
from pathlib import Path
import av, cv2, numpy as np
photos, out = sorted(Path(sys.argv[1]).iterdir()), sys.argv[2]
hold, gap = float(sys.argv[3]), float(sys.argv[4])
def framed(path):
    image = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    scale = 480 / image.shape[0]
    image = cv2.resize(image, (round(image.shape[1] * scale), 480))
    canvas = np.full((480, 640, 3), 128, np.uint8)
    left = (640 - image.shape[1]) // 2
    canvas[:, left:left + image.shape[1]] = image
    return canvas
grey = np.full((480, 640, 3), 128, np.uint8)
frames = []
for photo in photos:
    frames += [framed(photo)] * round(30 * hold) + [grey] * round(30 * gap)
with av.open(out, "w") as container:
    stream = container.add_stream("libx264", rate=30)
    stream.height, stream.width, stream.pix_fmt = 480, 640, "yuv420p"
    for image in frames:
        container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
    container.mux(stream.encode())
"""


def make_recording(out: Path, hold: float, gap: float) -> Path:
    env = {**os.environ, "PYTHONPATH": str(mediapipe_env.environment())}
    subprocess.run([sys.executable, "-S", "-c", MAKE, str(ROOT / "tests" / "media" / "photos"),
                    str(out), str(hold), str(gap)], env=env, check=True)  # fmt: skip
    return out


def untrained_submission(preset: str, out: Path) -> str:
    from fingerspell import export, recipes, schema
    from fingerspell.features import model_landmarks
    from fingerspell.model import build_model

    config = recipes.train_config("competition" if preset == "large" else "demo", preset=preset)
    columns = schema.columns_for(model_landmarks(config.model_landmarks))
    flatbuffer = export.convert(build_model(config), len(columns), config.max_frames, "fp16")
    return export.write_submission(flatbuffer, columns, str(out))


def holistic_rate(recording: Path, work: Path, workers: int) -> dict:
    copies = []
    for k in range(2):  # two sources, so that two workers both have one
        copy = work / f"people{k}.mp4"
        copy.write_bytes(recording.read_bytes())
        copies.append(str(copy))
    out = work / f"landmarks-{workers}"
    shutil.rmtree(out, ignore_errors=True)  # else `landmarks` resumes: nothing left to time
    report = video.landmarks(copies, str(out), workers=workers)
    return {"workers": workers, "frames": report["frames"], "seconds": report["seconds"],
            "frames/s": report["frames_per_second"]}  # fmt: skip


def live_figures(recording: Path, name: str, submission: str, work: Path) -> dict:
    out = work / f"live-{name}"
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    words = live.run_live(str(recording), submission, str(out), window=False)
    wall = time.perf_counter() - started
    session = json.loads((out / live.SESSION).read_text())
    return {"submission": name, "words": len(words), "frames read": session["frames"],
            "dropped": session["dropped"], "MediaPipe ms/frame": round(session["mediapipe_ms"], 1),
            "word delay ms, median / max": f"{words.delay_ms.median():.0f} / "
                                           f"{words.delay_ms.max():.0f}",
            "wall s": round(wall, 1)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submission", nargs="*", default=[], metavar="NAME=PATH")
    parser.add_argument("--untrained", nargs="*", default=[], metavar="PRESET")
    parser.add_argument("--work", default="runs/live_benchmark")
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    submissions = dict(s.split("=", 1) for s in args.submission)
    for preset in args.untrained:
        submissions[f"{preset} (untrained)"] = untrained_submission(preset, work / preset)
    people = make_recording(work / "people.mp4", hold=2, gap=0)
    words = make_recording(work / "words.mp4", hold=1, gap=1)
    rates = [holistic_rate(people, work, w) for w in (1, 2)]
    print(pd.DataFrame(rates).to_markdown(index=False), flush=True)
    loops = [live_figures(words, name, path, work) for name, path in submissions.items()]
    print(pd.DataFrame(loops).to_markdown(index=False))
    print(f"\n{os.cpu_count()} cores; a word ends {live.END_AFTER_SECONDS} s after the last "
          "frame with a hand, then the delay above")  # fmt: skip


if __name__ == "__main__":
    main()
