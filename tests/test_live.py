"""`transcribe --camera`: the segmenting rule on frames of known hands, and the live loop on a
real recording played at its own frame rate (MediaPipe in its own environment, the submission in
LiteRT) against `transcribe` run on the same segments cut out as files."""

import json
import os
import re
import shlex
import signal
import subprocess
import sys

import keras
import numpy as np
import pandas as pd
import pytest

from fingerspell import export, live, reader, schema
from fingerspell.features import model_landmarks
from fingerspell.model import build_model
from tests.conftest import ROOT, once, reading_config
from tests.test_video import BLOCK_TENSORFLOW, MEDIA, in_mediapipe_environment

HAND = schema.COORDINATE_COLUMNS.index("x_right_hand_0")


def _frame(hand: bool) -> np.ndarray:
    values = np.full(len(schema.COORDINATE_COLUMNS), np.nan, np.float32)
    values[HAND] = 0.5 if hand else np.nan
    return values


def test_a_word_ends_when_no_hand_is_seen_for_a_moment():
    """10 frames/s: a hand lost for 0.3 s stays in the word, one gone for 0.7 s ends it at its
    last frame with a hand, and the open word ends with the stream."""
    hands = "..HHHH...HHH.......HH"  # H: a hand found; '.' none
    segmenter, ended = live.Segmenter(end_after=0.7), []
    for frame, seen in enumerate(hands):
        segment = segmenter.add(frame, frame / 10, _frame(seen == "H"))
        ended += [segment] if segment else []
    ended.append(segmenter.finish())
    assert [s.frames for s in ended] == [list(range(2, 12)), [19, 20]]
    assert ended[0].landmarks().shape == (10, len(schema.COORDINATE_COLUMNS))
    assert ended[0].seconds == pytest.approx([f / 10 for f in range(2, 12)])
    assert segmenter.finish() is None


# Two words of real photos (tests/media), 2 frames each, between and after 1.5 s without a
# hand (grey frames), at 4 frames/s: slow enough for a busy 2-core machine to read nearly
# every frame.
FPS, WORDS = 4, [(3, 8), (15, 20)]
MAKE = """
import sys
from pathlib import Path
import av, cv2, numpy as np
photos, out = sorted(Path(sys.argv[1]).iterdir()), sys.argv[2]
chosen = [int(f) for f in sys.argv[3].split(",")] if sys.argv[3] else None
images = [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in photos]
grey = np.full_like(images[0], 128)
frames = ([grey] * 3 + [i for i in images[:3] for _ in range(2)] + [grey] * 6
          + [i for i in images[3:] for _ in range(2)] + [grey] * 6)
frames = frames if chosen is None else [frames[f] for f in chosen]
with av.open(out, "w") as container:
    stream = container.add_stream("libx264", rate=int(sys.argv[4]))
    stream.height, stream.width = images[0].shape[:2]
    stream.pix_fmt = "yuv420p"
    for image in frames:
        container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
    container.mux(stream.encode())
"""


def _make(path, frames: list[int] | None = None) -> str:
    """The recording, or only the given frames of it."""
    chosen = ",".join(map(str, frames)) if frames else ""
    in_mediapipe_environment(MAKE, str(MEDIA / "photos"), str(path), chosen, str(FPS))
    return str(path)


def _readme_camera_command() -> list[str]:
    """The README's live command (`python -m fingerspell transcribe --camera FILE …`)."""
    line = re.search(r"^python -m fingerspell (transcribe --camera \S+\.mp4 .*)$",
                     (ROOT / "README.md").read_text(), re.M)  # fmt: skip
    assert line, "README: no `transcribe --camera VIDEO.mp4` command"
    return shlex.split(line.group(1))


def _submission(folder, head: str, fallback: str = schema.FALLBACK) -> str:
    """An untrained model of the reading run's configuration exported with `fallback`, its CTC
    head "random" (large random weights: decodes that differ from segment to segment on any
    recording) or "blank" (the blank class always wins: it reads nothing from any frames)."""
    config = reading_config()
    keras.utils.set_random_seed(0)
    model = build_model(config)
    layer = model.get_layer("logits")
    kernel, bias = layer.get_weights()
    if head == "random":
        rng = np.random.default_rng(0)
        kernel = rng.normal(0, 9 / np.sqrt(len(kernel)), kernel.shape).astype(np.float32)
        bias = np.zeros_like(bias)
    else:
        kernel, bias = np.zeros_like(kernel), np.zeros_like(bias)
        bias[schema.BLANK] = 1.0
    layer.set_weights([kernel, bias])
    columns = schema.columns_for(model_landmarks(config.model_landmarks))
    flatbuffer = export.convert(model, len(columns), config.max_frames, "fp32", fallback)
    return export.write_submission(flatbuffer, columns, str(folder))


@pytest.fixture(scope="module")
def submission(tmp_path_factory) -> str:
    """A submission whose decodes differ from segment to segment on any recording."""
    return _submission(tmp_path_factory.mktemp("sub"), "random")


def _camera_args(recording: str, submission: str, out) -> list[str]:
    args = [{"signing.mp4": recording, "demo/submission.zip": submission}.get(a, a)
            for a in _readme_camera_command()]  # fmt: skip
    args[args.index("--out") + 1] = str(out)
    return args


@once
def test_camera_mode_reads_what_transcribe_reads_from_the_same_segments(submission, tmp_path):
    """The README's `transcribe --camera some.mp4 … --out` on a recording of two words, in a
    process where importing TensorFlow or Keras fails: it prints a word per segment, keeps each
    segment's landmarks in the competition layout with the word as its phrase, and its words are
    what `transcribe` reads from the same frames cut out as files. The submission's decodes
    vary (a random head), so equal words mean something."""
    from fingerspell import transcribe

    args = _camera_args(_make(tmp_path / "signing.mp4"), submission, tmp_path / "session")
    done = subprocess.run([sys.executable, "-c", BLOCK_TENSORFLOW, *args], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    session = json.loads((tmp_path / "session" / "session.json").read_text())
    assert session["frames"] + session["dropped"] == 27, session  # each read or dropped
    printed = [line.split("\t")[1] for line in done.stdout.splitlines() if "\t" in line]
    assert len(printed) == len(WORDS) and len(set(printed)) == len(WORDS), printed
    words = session["words"]
    assert [w["text"] for w in words] == printed
    for word, (first, last) in zip(words, WORDS):
        # the frames with a hand, less any a busy machine dropped (it seldom drops one)
        assert set(word["source_frames"]) <= set(range(first, last + 1)), word
        assert len(word["source_frames"]) >= (last - first + 1) // 2, word
        assert word["seconds"] == pytest.approx([f / FPS for f in word["source_frames"]])

    # The same frames as files: a word's frames as Holistic read them, dropped ones left out.
    cuts = [_make(tmp_path / f"word{k}.mp4", w["source_frames"]) for k, w in enumerate(words)]
    read = transcribe.transcribe(cuts, submission)
    assert read.text.tolist() == printed
    table = pd.read_csv(tmp_path / "session" / "train.csv", keep_default_na=False)
    assert sorted(table.phrase) == sorted(printed)
    assert sorted(table.frames) == sorted(len(w["source_frames"]) for w in words)


@once
def test_ctrl_c_keeps_every_word_whole_and_ends_mediapipe(submission, tmp_path):
    """Ctrl-C, sent as a terminal sends it (to the whole process group, MediaPipe's worker
    included), after the first word: the command stops between frames, exits 0, has printed
    and kept the same words in whole files (no .tmp left), records how it stopped, and leaves
    no process of its group behind."""
    args = _camera_args(_make(tmp_path / "signing.mp4"), submission, tmp_path / "session")
    command = subprocess.Popen([sys.executable, "-m", "fingerspell", *args], cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)  # fmt: skip
    first = command.stdout.readline()  # the first word, printed when its hands dropped
    assert "\t" in first, command.stderr.read()[-3000:]
    os.killpg(command.pid, signal.SIGINT)
    rest, errors = command.communicate(timeout=120)
    assert command.returncode == 0, errors[-3000:]
    lines = [first.rstrip("\n"), *rest.splitlines()]
    printed = [line.split("\t")[1] for line in lines if "\t" in line]
    session = json.loads((tmp_path / "session" / "session.json").read_text())
    assert session["stopped"] == "ctrl-c"
    assert session["frames"] + session["dropped"] < 27  # it stopped before the recording ended
    table = pd.read_csv(tmp_path / "session" / "train.csv", keep_default_na=False)
    assert sorted(table.phrase) == sorted(printed) and len(printed) >= 1
    assert not list((tmp_path / "session").rglob("*.tmp"))
    with pytest.raises(ProcessLookupError):
        os.killpg(command.pid, 0)  # the group is empty: the worker ended too


@once
def test_a_word_read_as_nothing_is_shown_and_kept_as_nothing(tmp_path):
    """Where the model reads nothing, the file answers its run's fallback phrase (a guess that
    scores better than nothing on the competition's metric); `transcribe` and the live loop show
    and keep "" instead, so no made-up name becomes a transcript or a phrase to train on."""
    from fingerspell import litert, transcribe

    fallback = "carol m reed"
    silent = _submission(tmp_path / "silent", "blank", fallback)
    recording = _make(tmp_path / "signing.mp4")
    runner, columns, _ = litert.load_runner(silent)
    assert litert.answer_to_nothing(runner, len(columns)) == fallback

    read = transcribe.transcribe([recording], silent)
    assert read.text.tolist() == [""] and read.hand_frames[0] > 0, read
    words = live.run_live(recording, silent, str(tmp_path / "session"), window=False)
    assert len(words) == len(WORDS) and words.text.tolist() == [""] * len(WORDS), words
    table = pd.read_csv(tmp_path / "session" / "train.csv", keep_default_na=False)
    assert table.phrase.tolist() == [""] * len(WORDS)
    kept = reader.read_landmark_file(tmp_path / "session" / table.path[0], columns)
    assert litert.predict(runner, kept[table.sequence_id[0]]) == fallback  # what Kaggle scores


@once
def test_transcripts_and_a_live_session_go_to_a_bucket(submission, bucket, tmp_path):
    """`transcribe --out` and `transcribe --camera --out` with a gs:// folder (the local
    emulator): the transcripts, the picture, the session's record and each word's landmarks land
    in the bucket whole, and the landmarks kept there read back as the words printed."""
    from fingerspell import litert, storage, transcribe

    recording = _make(tmp_path / "signing.mp4")
    pictures = f"{bucket}/pictures"
    read = transcribe.transcribe([recording], submission, pictures)
    kept = pd.read_csv(storage.readable(storage.join(pictures, "transcripts.csv")),
                       keep_default_na=False)  # fmt: skip
    assert kept.text.tolist() == read.text.tolist() and read.rejected.tolist() == [""]
    assert storage.exists(read.picture[0]) and read.picture[0].startswith("gs://")
    assert storage.read_bytes(read.picture[0])[:8] == b"\x89PNG\r\n\x1a\n"

    session = f"{bucket}/session"
    words = live.run_live(recording, submission, session, window=False)
    assert len(words) == len(WORDS), words
    record = json.loads(storage.read_text(storage.join(session, live.SESSION)))
    assert [w["text"] for w in record["words"]] == words.text.tolist()
    table = reader.read_metadata(session)
    assert sorted(table.phrase) == sorted(words.text)
    inspector, positions = litert.load_inspector(submission)
    for row in table.itertuples():
        frames = reader.read_landmark_file(storage.join(session, row.path),
                                           schema.COORDINATE_COLUMNS)[row.sequence_id]
        assert transcribe.read_text(inspector, frames[:, positions])[0] == row.phrase
    files = storage.glob(storage.join(session, "*")) + storage.glob(storage.join(session, "*", "*"))
    assert not [f for f in files if f.endswith(".tmp")], files
