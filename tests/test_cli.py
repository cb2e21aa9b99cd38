"""Every stage through the command line, exactly as the README's stage table writes it, and the
command line's answers to mistakes: the message alone, no traceback, a non-zero exit status."""

import importlib.util
import json
import re
import shlex
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from fingerspell import check, export
from tests.conftest import once

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
def test_every_stage_runs_as_the_readme_writes_it(tmp_path):
    """synth → synth-report (against SILFA's real frames) → preprocess → train → align → export →
    check, in an empty folder. The table's last row, `demo`, chains the same stages; its function
    runs in test_demo. The same stages with every folder in a bucket: test_buckets (synth,
    synth-report, preprocess, train, align) and test_notebooks (train, export, check)."""
    commands = readme_commands()
    assert set(commands) == {"synth", "synth-report", "preprocess", "train", "align", "export",
                             "check", "demo", "landmarks", "transcribe"}  # the last two: test_video
    values = {"DIR": "data", "N": "40", "S": "3", "RECORDS": "records", "R": "records",
              "RUN": "run", "SUB": "sub", "SUB/submission.zip": "sub/submission.zip", "k": "0"}
    for stage in ("synth", "synth-report", "preprocess", "train", "align", "export", "check"):
        args = [values.get(token, token) for token in commands[stage]]
        args += TRAIN_SIZE if stage == "train" else []
        done = fingerspell(*args, cwd=tmp_path)
        output = done.stdout[-2000:] + done.stderr[-3000:]
        assert done.returncode == 0, f"{shlex.join(args)}\n{output}"
        if stage == "align":
            assert " sequences aligned" in done.stdout, output
    assert list((tmp_path / "records" / "alignments").glob("*.parquet"))
    sub = tmp_path / "sub"
    with zipfile.ZipFile(sub / "submission.zip") as archive:
        assert sorted(archive.namelist()) == ["inference_args.json", "model.tflite"]
    assert not [op for op in export.op_summary(str(sub / "model.tflite"))
                if op.startswith(("Flex", "CUSTOM"))]  # fmt: skip
    report = json.loads((sub / "report.json").read_text())
    assert report["sequences"] > 0 and report["keras_parity"] >= 0.9  # fp16 file vs Keras
    assert len(check.load_predictions(str(sub))) == report["sequences"]
    assert (sub / "report.png").stat().st_size > 0


DUPLICATE_IDS = "path,file_id,participant_id,sequence_id,phrase\n" + "t/1.parquet,1,5,7,ab\n" * 2


WANDB_ABSENT = pytest.mark.skipif(importlib.util.find_spec("wandb") is not None,
                                  reason="wandb is installed here")  # fmt: skip


@once
@pytest.mark.parametrize("args, message", [
    (["preprocess", "--data", "nowhere", "--out", "records"], "nowhere/train.csv"),
    (["preprocess", "--data", "bad", "--out", "records"], "duplicate sequence_id [7]"),
    (["train", "--records", "nowhere", "--out", "run"], "preprocess"),
    (["train", "--records", "nowhere", "--out", "run", "--recipe", "competition"],
     "needs a TPU or GPU, and"),
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
