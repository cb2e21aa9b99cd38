"""Speed of video → landmarks → text: `landmarks` frames per second with 1 and 2 workers, and
`transcribe` seconds per second of video.

    python benchmarks/video.py --videos CLIP... --submission demo/submission.zip

Each worker count runs `video.landmarks` into a fresh folder (MediaPipe's environment already
installed; its one-time install is not timed), then `transcribe.transcribe` reads every clip
with one worker and no pictures, as `python -m fingerspell transcribe CLIP...` does. Prints one
table: frames, seconds and frames/s per worker count, and transcribe's seconds per second of
video (the clips' frames over their frame rate).
"""

from __future__ import annotations

import argparse
import tempfile
import time

import pandas as pd

from fingerspell import mediapipe_env, reader, transcribe, video


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", nargs="+", required=True)
    parser.add_argument("--submission", required=True)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    mediapipe_env.environment()  # installed before any timing
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for workers in args.workers:
            done = video.landmarks(args.videos, f"{folder}/data-{workers}", workers=workers)
            rows.append({"stage": f"landmarks, {workers} worker(s)", "frames": done["frames"],
                         "seconds": done["seconds"], "frames/s": done["frames_per_second"]})
        made = reader.read_metadata(f"{folder}/data-{args.workers[0]}")
        fps = {m["name"]: m.get("fps") for m in _manifests(f"{folder}/data-{args.workers[0]}")}
        seconds_of_video = sum(n / (fps[v] or 30) for v, n in zip(made.video, made.frames))
        started = time.perf_counter()
        results = transcribe.transcribe(args.videos, args.submission)
        seconds = time.perf_counter() - started
    rows.append({"stage": "transcribe, 1 worker", "frames": int(results.frames.sum()),
                 "seconds": round(seconds, 1), "frames/s": round(results.frames.sum() / seconds, 1),
                 "s per s of video": round(seconds / seconds_of_video, 2)})  # fmt: skip
    print(f"{len(args.videos)} clips, {seconds_of_video:.1f} s of video")
    print(pd.DataFrame(rows).to_markdown(index=False))


def _manifests(data: str) -> list[dict]:
    import json
    from pathlib import Path

    return [json.loads(p.read_text()) for p in Path(data, video.MANIFESTS).glob("*.json")
            if p.name != "options.json"]  # fmt: skip


if __name__ == "__main__":
    main()
