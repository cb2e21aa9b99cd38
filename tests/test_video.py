"""Video → landmarks → text on real media, through the real MediaPipe Holistic graph in its own
environment (made on first use, as a user's is): `landmarks` and `transcribe` exactly as the
README writes them, the layout `reader`, `preprocess` and `check` take, rejects, resume after a
kill, the hand slots, and a `transcribe` path without TensorFlow. The media are real photos of
people (tests/media/README.md)."""

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from PIL import Image, ImageOps

from fingerspell import litert, mediapipe_env, reader, schema, storage, video
from tests.conftest import once
from tests.test_cli import fingerspell, readme_commands

pytestmark = once  # MediaPipe runs in its own processes: one pass is enough
MEDIA = Path(__file__).resolve().parent / "media"
ROOT = MEDIA.parents[1]
PHRASES = {"photos": ("call me", 11), "mirrored": ("rock on", 12), "photos.mp4": ("four", 13),
           "reversed": ("hello", 14)}  # fmt: skip
REJECTED = {"cut.avi": "truncated: 9 of the 18 frames its container lists",
            "cut.mp4": "FFmpeg cannot open it",
            "empty": "no images", "blank": "no hand found in any of its 3 frames"}  # fmt: skip


def in_mediapipe_environment(code: str, *args: str) -> str:
    """Run Python in MediaPipe's environment (OpenCV and PyAV are there, not here), with this
    package importable as its workers see it; its stdout."""
    env = {**os.environ, "PYTHONPATH": str(mediapipe_env.environment())}
    done = subprocess.run([sys.executable, "-S", "-c", code, *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, check=True)  # fmt: skip
    return done.stdout.strip()


RECORD = """
import fractions, json, sys
import av, numpy as np
source, folder = sys.argv[1], sys.argv[2]
with av.open(source) as video:
    images = [f.to_ndarray(format="rgb24") for f in video.decode(video=0)] * 3
rng = np.random.default_rng(0)
steps = rng.choice([33, 33, 66, 100], len(images))  # milliseconds: a variable frame rate
# An mp4 may list frames that its edit list hides: those timed before 0 (a phone trims them).
for name, codec, options, hidden in (("phone.mp4", "libx264", {}, 0),
                                     ("browser.webm", "libvpx", {}, 0),
                                     ("phone.mov", "libx264", {}, 0),
                                     ("indexed.mp4", "libx264", {"movflags": "faststart"}, 0),
                                     ("edited.mp4", "libx264", {}, 15)):
    out = av.open(f"{folder}/{name}", "w", options=options)
    stream = out.add_stream(codec, rate=30)
    stream.height, stream.width = images[0].shape[:2]
    stream.pix_fmt, stream.codec_context.time_base = "yuv420p", fractions.Fraction(1, 1000)
    stream.options = {"bf": "0"} if codec == "libx264" else {}
    t = -int(steps[:hidden].sum())
    for image, step in zip(images, steps):
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts, frame.time_base, t = t, fractions.Fraction(1, 1000), t + int(step)
        out.mux(stream.encode(frame))
    out.mux(stream.encode())
    out.close()
print(json.dumps({"frames": len(images), "seconds": int(steps[:-1].sum()) / 1000,
                  "shown": len(images) - 15, "shown_seconds": int(steps[15:-1].sum()) / 1000}))
"""
JUDGE = """
import json, sys
from pathlib import Path
from fingerspell import holistic
judged = {}
for path in map(Path, sys.argv[1:]):
    try:
        frames, facts, _ = holistic.frames_of(path)
        judged[path.name] = {"frames": sum(1 for _ in frames), "fps": facts["fps"]}
    except holistic.Unreadable as error:
        judged[path.name] = {"error": str(error)}
print(json.dumps(judged))
"""


def test_recordings_are_judged_by_what_their_decoder_reports(tmp_path):
    """Whole recordings as phones and browsers write them (a variable frame rate in an mp4, a
    VP8 WebM with no frame count, a mov, an mp4 whose edit list hides 15 of the frames it
    lists) keep every frame they show and their real rate, measured from the timestamps; files
    cut in the middle of their data (the index intact, or a WebM) or before their index are
    rejected, each with its reason."""
    made = json.loads(in_mediapipe_environment(RECORD, str(MEDIA / "photos.mp4"), str(tmp_path)))
    data = (tmp_path / "indexed.mp4").read_bytes()
    (tmp_path / "cut-data.mp4").write_bytes(data[: len(data) * 6 // 10])
    data = (tmp_path / "phone.mp4").read_bytes()  # its index is written last
    (tmp_path / "cut-index.mp4").write_bytes(data[: len(data) * 6 // 10])
    data = (tmp_path / "browser.webm").read_bytes()
    (tmp_path / "cut.webm").write_bytes(data[: len(data) * 6 // 10])
    names = ["phone.mp4", "browser.webm", "phone.mov", "indexed.mp4", "edited.mp4",
             "cut-data.mp4", "cut-index.mp4", "cut.webm"]  # fmt: skip
    judged = json.loads(in_mediapipe_environment(JUDGE, *[str(tmp_path / n) for n in names]))
    real_rate = (made["frames"] - 1) / made["seconds"]
    for name in names[:4]:
        assert judged[name]["frames"] == made["frames"], (name, judged[name])
        assert judged[name]["fps"] == pytest.approx(real_rate, rel=1e-3), name
    shown_rate = (made["shown"] - 1) / made["shown_seconds"]
    assert judged["edited.mp4"] == pytest.approx({"frames": made["shown"], "fps": shown_rate})
    assert judged["cut-data.mp4"]["error"].startswith("damaged or cut: decoding failed after")
    assert judged["cut-index.mp4"]["error"].startswith("FFmpeg cannot open it")
    assert judged["cut.webm"]["error"].startswith("truncated: its frames end at")


TRANSCODE = """
import sys, cv2
source = cv2.VideoCapture(sys.argv[1]); writer = None
while True:
    ok, image = source.read()
    if not ok: break
    if writer is None:
        writer = cv2.VideoWriter(sys.argv[2], cv2.VideoWriter_fourcc(*"MJPG"), 10,
                                 (image.shape[1], image.shape[0]))
    writer.write(image)
writer.release()
"""
COUNT_FRAMES = """
import sys, cv2
video = cv2.VideoCapture(sys.argv[1]); n = 0
while video.read()[0]: n += 1
print(n)
"""


def make_media(folder: Path) -> list[str]:
    """Real photo sources (as they are, mirrored, in reverse order, as a video), and sources
    that must be rejected: a truncated AVI whose header survives, an mp4 cut before its index,
    a folder without images, a folder of blank images."""
    shutil.copytree(MEDIA / "photos", folder / "photos")
    shutil.copy(MEDIA / "photos.mp4", folder / "photos.mp4")
    photos = sorted((folder / "photos").iterdir())
    for name, order in (("mirrored", photos), ("reversed", photos[::-1])):
        (folder / name).mkdir()
        for k, path in enumerate(order):
            image = Image.open(path)
            (ImageOps.mirror(image) if name == "mirrored" else image).save(
                folder / name / f"{k:02d}.png")  # fmt: skip
    whole = folder / "whole.avi"
    in_mediapipe_environment(TRANSCODE, str(MEDIA / "photos.mp4"), str(whole))
    (folder / "cut.avi").write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    whole.unlink()
    (folder / "cut.mp4").write_bytes((MEDIA / "photos.mp4").read_bytes()[:60_000])
    (folder / "empty").mkdir()
    (folder / "empty" / "notes.txt").write_text("no images here")
    (folder / "blank").mkdir()
    for k in range(3):
        Image.new("RGB", (320, 240), "white").save(folder / "blank" / f"{k}.png")
    names = [*PHRASES, *REJECTED]
    pd.DataFrame({"video": list(PHRASES), "phrase": [p for p, _ in PHRASES.values()],
                  "participant_id": [i for _, i in PHRASES.values()]}).to_csv(
        folder / "phrases.csv", index=False)  # fmt: skip
    return [str(folder / name) for name in names]


def readme(stage: str, values: dict[str, list[str] | str]) -> list[str]:
    """The README's command for a stage, its placeholders filled (a list fills several)."""
    args = []
    for token in readme_commands()[stage]:
        value = values.get(token, token)
        args += value if isinstance(value, list) else [value]
    return args


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict:
    """The media, run once through `landmarks` as the README writes it."""
    folder = tmp_path_factory.mktemp("media")
    sources = make_media(folder)
    out = folder / "data"
    args = readme("landmarks", {"PATH...": sources, "DATA": str(out),
                                "CSV": str(folder / "phrases.csv"), "N": "2"})  # fmt: skip
    done = fingerspell(*args, cwd=folder)
    assert done.returncode == 0, done.stderr[-3000:]
    return {"folder": folder, "sources": sources, "data": out, "stdout": done.stdout}


def values_of(data: Path, name: str) -> np.ndarray:
    table = reader.read_metadata(data)
    row = table[table.video == name].iloc[0]
    return reader.read_landmark_file(data / row.path, schema.COORDINATE_COLUMNS)[row.sequence_id]


def test_landmarks_writes_the_competition_layout(media):
    data = media["data"]
    table = reader.read_metadata(data)
    assert sorted(table.video) == sorted(PHRASES)
    assert dict(zip(table.video, table.phrase)) == {k: p for k, (p, _) in PHRASES.items()}
    assert dict(zip(table.video, table.frames)) == {"photos": 6, "mirrored": 6, "reversed": 6,
                                                    "photos.mp4": 18}  # fmt: skip
    # The video's rate from its frames' timestamps (10 a second); none for photo folders.
    rates = pd.read_csv(data / "train.csv").set_index("video").fps
    assert rates["photos.mp4"] == pytest.approx(10.0) and rates.drop("photos.mp4").isna().all()
    # Each frame's timestamp, in its manifest: the decoder's, none for photos.
    manifests = {r["name"]: r for r in map(json.loads, map(Path.read_text,
                 (data / video.MANIFESTS).glob("[0-9]*.json")))}  # fmt: skip
    assert manifests["photos.mp4"]["seconds"] == pytest.approx(np.arange(18) / 10)
    assert manifests["photos"]["seconds"] is None
    for row in table.itertuples():
        parquet = pq.ParquetFile(data / row.path)
        arrow = parquet.schema_arrow
        assert arrow.names == [*schema.ALL_COLUMNS, schema.INDEX_NAME]  # 468 face points
        assert str(arrow.field("frame").type) == "int16"
        assert str(arrow.field(schema.INDEX_NAME).type) == "int64"
        assert {str(arrow.field(c).type) for c in schema.COORDINATE_COLUMNS} == {"float"}
        frames = parquet.read().to_pandas()
        assert (frames.index == row.sequence_id).all()
        assert frames.frame.tolist() == list(range(row.frames))  # every frame kept
        assert frames.x_face_467.notna().any() and frames.x_pose_0.notna().all()
    # NaN where MediaPipe found nothing: the photos where only one hand is up
    assert np.isnan(values_of(data, "photos.mp4")).any()
    rejects = pd.read_csv(data / "rejects.csv")
    assert len(rejects) == len(REJECTED) and len(table) + len(rejects) == len(media["sources"])
    for row in rejects.itertuples():
        assert REJECTED[row.video] in row.reason, row
    assert f"{len(PHRASES)} sequences written, {len(REJECTED)} rejected" in media["stdout"]


def test_preprocess_and_check_take_the_landmarks(media, reading_dir, tmp_path):
    data, records = media["data"], tmp_path / "records"
    done = fingerspell(*readme("preprocess", {"DIR": str(data), "RECORDS": str(records)}),
                       cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    meta = json.loads((records / "metadata.json").read_text())
    assert meta["written"] == len(PHRASES) and meta["rejected"] == 0
    submission = str(reading_dir / "submission.zip")
    done = fingerspell("check", "--submission", submission, "--data", str(data), "--out",
                       str(tmp_path / "check"), cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((tmp_path / "check" / "report.json").read_text())
    assert report["sequences"] == len(PHRASES)


def test_a_second_run_finds_the_same_landmarks(media, tmp_path):
    source = video.sources_of([str(media["folder"] / "photos.mp4")])
    (_, answer), = mediapipe_env.extract(source, tmp_path)
    again = np.load(answer["landmarks"])
    np.testing.assert_array_equal(again, values_of(media["data"], "photos.mp4"))


def test_a_killed_run_resumes_where_it_stopped(media, tmp_path):
    names = ["photos", "mirrored", "reversed", "photos.mp4"]
    sources = [str(media["folder"] / name) for name in names]
    out = tmp_path / "data"
    command = [sys.executable, "-m", "fingerspell", "landmarks", "--videos", *sources, "--out",
               str(out), "--workers", "1"]  # fmt: skip
    process = subprocess.Popen(command, cwd=tmp_path, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 120
    while not [p for p in (out / video.MANIFESTS).glob("*.json") if p.name != "options.json"]:
        assert process.poll() is None and time.monotonic() < deadline, "no source finished"
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert not (out / "train.csv").exists()  # killed before the end
    finished = {p.name: p.stat().st_mtime_ns for p in (out / video.LANDMARKS).glob("*.parquet")}
    assert 1 <= len(finished) < len(names)
    for path in (out / video.LANDMARKS).glob("*.parquet"):
        pq.ParquetFile(path)  # whole, or not there at all
    done = fingerspell(*command[3:], cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"{len(finished)} kept from before" in done.stdout
    assert {p.name: p.stat().st_mtime_ns for p in (out / video.LANDMARKS).glob("*.parquet")
            if p.name in finished} == finished  # fmt: skip
    for name in names:  # the same as the unbroken run
        np.testing.assert_array_equal(values_of(out, name), values_of(media["data"], name))
    assert not list(out.rglob("*.tmp"))


def test_a_folder_made_with_other_settings_is_refused(media, tmp_path):
    out = tmp_path / "data"
    shutil.copytree(media["data"], out)
    options = out / video.MANIFESTS / "options.json"
    changed = json.loads(options.read_text())
    changed["holistic"]["model_complexity"] = 2
    options.write_text(json.dumps(changed))
    done = fingerspell("landmarks", "--videos", str(media["folder"] / "photos"), "--out",
                       str(out), cwd=tmp_path)  # fmt: skip
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "other MediaPipe settings (holistic differ)" in done.stderr


def hands_seen(values: np.ndarray) -> list[tuple[int, str, float, float, float, float]]:
    """(frame, slot, the hand's mean x, the nose's x, x of the pose's wrist on the slot's side,
    x of the other wrist) for every hand found."""
    x = values.reshape(len(values), 3, -1)[:, 0]
    pose = schema.OFFSETS["pose"]
    wrists = {"left_hand": (pose + 15, pose + 16), "right_hand": (pose + 16, pose + 15)}
    seen = []
    for frame in range(len(values)):
        for slot, (same, other) in wrists.items():
            hand = x[frame, schema.group_indices(slot)]
            if np.isfinite(hand).all():
                seen.append((frame, slot, float(hand.mean()), float(x[frame, pose]),
                             float(x[frame, same]), float(x[frame, other])))
    return seen


def test_a_persons_right_hand_lands_in_right_hand(media):
    """A person facing an unmirrored camera shows their right hand on the image's left: Holistic
    puts it in `right_hand`, beside the pose's right wrist. A mirrored picture (a selfie
    preview) swaps the slots."""
    for name in ("photos", "mirrored"):
        seen = hands_seen(values_of(media["data"], name))
        assert {slot for _, slot, *_ in seen} == {"left_hand", "right_hand"}, name
        for frame, slot, hand, nose, wrist, other_wrist in seen:
            on_image_left = hand < nose
            assert on_image_left == (slot == "right_hand"), (name, frame, slot)
            assert abs(hand - wrist) < abs(hand - other_wrist), (name, frame, slot)
    original = {(f, s) for f, s, *_ in hands_seen(values_of(media["data"], "photos"))}
    mirrored = {(f, s) for f, s, *_ in hands_seen(values_of(media["data"], "mirrored"))}
    swap = {"left_hand": "right_hand", "right_hand": "left_hand"}
    assert len(original & {(f, swap[s]) for f, s in mirrored}) >= len(original) - 1


BLOCK_TENSORFLOW = ("import sys; sys.modules['tensorflow'] = sys.modules['keras'] = None; "
                    "from fingerspell.cli import main; sys.exit(main(sys.argv[1:]))")  # fmt: skip


def test_transcribe_reads_videos_without_tensorflow(media, reading_dir, tmp_path):
    """As the README writes it, in a process where importing TensorFlow or Keras fails; the text
    is what the evaluator's loop reads from the same landmarks (nothing where that is the run's
    fallback phrase: `test_live`)."""
    submission = str(reading_dir / "submission.zip")
    clips = [str(media["folder"] / "photos.mp4"), str(media["folder"] / "photos")]
    args = readme("transcribe", {"VIDEO...": clips, "SUB/submission.zip": submission,
                                 "DIR": str(tmp_path / "out")})  # fmt: skip
    done = subprocess.run([sys.executable, "-c", BLOCK_TENSORFLOW, *args, "--annotated-video"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    runner, columns, _ = litert.load_runner(submission)
    positions = [schema.COORDINATE_COLUMNS.index(c) for c in columns]
    fallback = litert.answer_to_nothing(runner, len(columns))
    lines = dict(line.split("\t") for line in done.stdout.splitlines())
    for name in ("photos.mp4", "photos"):
        answer = litert.predict(runner, values_of(media["data"], name)[:, positions])
        assert lines[name] == ("" if answer == fallback else answer)
        stem = name.replace(".", "_")
        assert (tmp_path / "out" / f"{stem}.png").read_bytes()[:4] == b"\x89PNG"
        frames = in_mediapipe_environment(COUNT_FRAMES, str(tmp_path / "out" / f"{stem}.mp4"))
        assert int(frames) == (18 if name == "photos.mp4" else 6)
    transcripts = pd.read_csv(tmp_path / "out" / "transcripts.csv", keep_default_na=False)
    assert dict(zip(transcripts.video, transcripts.text)) == lines


def test_mediapipe_stays_out_of_this_environment(media):
    """MediaPipe's protobuf 4 lives in its own folder; this process keeps TensorFlow's."""
    from importlib import metadata

    assert int(metadata.version("protobuf").split(".")[0]) >= 5
    assert importlib.util.find_spec("mediapipe") is None
    there = in_mediapipe_environment(
        "import importlib.util, google.protobuf; "
        "print(google.protobuf.__version__, importlib.util.find_spec('tensorflow'))")
    assert there.split()[0].startswith("4.") and there.split()[1] == "None"


def test_landmarks_into_a_bucket(media, bucket, tmp_path):
    out = f"{bucket}/data"
    done = fingerspell("landmarks", "--videos", str(media["folder"] / "photos.mp4"), "--out", out,
                       cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    table = reader.read_metadata(out)
    assert table.video.tolist() == ["photos.mp4"]
    frames = reader.read_landmark_file(storage.join(out, table.path[0]), schema.COORDINATE_COLUMNS)
    np.testing.assert_array_equal(frames[table.sequence_id[0]],
                                  values_of(media["data"], "photos.mp4"))  # fmt: skip


@pytest.mark.parametrize("shape", [(90, 160), (160, 120), (100, 100)],
                         ids=["wide", "tall", "square"])  # fmt: skip
def test_the_picture_has_no_empty_band_around_the_frames(shape):
    """Whatever the video's shape, the frames' row is as tall as the frames: at most the titles'
    0.8 inch between the picture's top and the frames, and between the frames and the timeline."""
    from fingerspell import transcribe

    thumbnails = np.full((6, *shape, 3), 200, np.uint8)
    values = np.full((30, len(schema.COORDINATE_COLUMNS)), 0.5, np.float32)
    figure = transcribe.plot_transcript(thumbnails, np.arange(0, 30, 5), values,
                                        np.zeros(30, int), "ab", "clip.mp4",
                                        np.arange(30) / 30)  # fmt: skip
    figure.canvas.draw()
    inches = figure.get_size_inches()[1]
    image, timeline = figure.axes[0], figure.axes[-1]
    top, bottom = image.get_position().y1, image.get_position().y0  # drawn: shrunk to the image
    assert (1 - top) * inches <= 0.8
    assert (bottom - timeline.get_position().y1) * inches <= 0.8
