"""Every stage through the command line, exactly as the README's stage table writes it, and the
command line's answers to mistakes: the message alone, no traceback, a non-zero exit status."""

import importlib.util
import io
import json
import re
import shlex
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from fingerspell import storage
from tests.conftest import SILFA, once, shared

ROOT = Path(__file__).resolve().parents[1]
# Small enough for a test; appended to the README's train command.
TRAIN_SIZE = ["--epochs", "1", "--batch-size", "8", "--max-frames", "16"]


def readme_commands() -> dict[str, list[str]]:
    """The stage table's commands (`| \\`stage …\\` | what it does |`), optional [parts]
    included, as argument lists with the placeholders left in."""
    rows = re.findall(r"^\| `([a-z-]+ [^`]*)` \|", (ROOT / "README.md").read_text(), re.M)
    return {row.split()[0]: shlex.split(row.replace("[", "").replace("]", "")) for row in rows}


def fingerspell(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fingerspell", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=900)  # fmt: skip


@once
@pytest.mark.parametrize("where", ["local", "bucket"])
def test_every_stage_runs_as_the_readme_writes_it(tmp_path, where, request):
    """synth → synth-report (against SILFA's real frames) → preprocess → train → align → export →
    check, with every folder on local disk, then every folder in a bucket (gs://, the emulator).
    The table's last row, `demo`, chains the same stages; its function runs in test_demo."""
    commands = readme_commands()
    assert set(commands) == {"synth", "synth-report", "preprocess", "train", "align", "export",
                             "check", "demo", "landmarks", "transcribe"}  # the last two: test_video
    root = request.getfixturevalue("bucket") + "/" if where == "bucket" else ""
    values = {"DIR": f"{root}data", "N": "40", "S": "3", "RECORDS": f"{root}records",
              "R": f"{root}records", "RUN": f"{root}run", "SUB": f"{root}sub",
              "SUB/submission.zip": f"{root}sub/submission.zip", "k": "0"}  # fmt: skip
    shared(SILFA)  # synth-report compares with SILFA's real frames
    for stage in ("synth", "synth-report", "preprocess", "train", "align", "export", "check"):
        args = [values.get(token, token) for token in commands[stage]]
        args += TRAIN_SIZE if stage == "train" else []
        done = fingerspell(*args, cwd=tmp_path)
        output = done.stdout[-2000:] + done.stderr[-3000:]
        assert done.returncode == 0, f"{shlex.join(args)}\n{output}"
        if stage == "align":
            assert " sequences aligned" in done.stdout, output
    assert storage.glob(storage.join(f"{root}records" if root else str(tmp_path / "records"),
                                     "alignments", "*.parquet"))  # fmt: skip
    sub = storage.join(root or tmp_path, "sub")
    zipped = io.BytesIO(storage.read_bytes(storage.join(sub, "submission.zip")))
    with zipfile.ZipFile(zipped) as archive:
        assert sorted(archive.namelist()) == ["inference_args.json", "model.tflite"]
    report = json.loads(storage.read_text(storage.join(sub, "report.json")))
    assert report["sequences"] > 0 and report["keras_parity"] >= 0.9  # fp16 file vs Keras
    assert not (tmp_path / "gs:").exists()


DUPLICATE_IDS = "path,file_id,participant_id,sequence_id,phrase\n" + "t/1.parquet,1,5,7,ab\n" * 2


WANDB_ABSENT = pytest.mark.skipif(importlib.util.find_spec("wandb") is not None,
                                  reason="wandb is installed here")  # fmt: skip


@once
@pytest.mark.parametrize("args, message", [
    (["preprocess", "--data", "nowhere", "--out", "records"], "nowhere/train.csv"),
    (["preprocess", "--data", "bad", "--out", "records"], "duplicate sequence_id [7]"),
    (["train", "--records", "nowhere", "--out", "run"], "preprocess"),
    pytest.param(["train", "--records", "nowhere", "--out", "run", "--wandb"],
                 "pip install wandb", marks=WANDB_ABSENT),
])  # fmt: skip
def test_a_mistake_gets_its_message_without_a_traceback(tmp_path, args, message):
    """The message alone on stderr, exit status 2, nothing written."""
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "train.csv").write_text(DUPLICATE_IDS)
    done = fingerspell(*args, cwd=tmp_path)
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert not (tmp_path / "run").exists() and not (tmp_path / "records").exists()
