"""The backend-neutral tests again, in a process whose Keras runs on JAX (the backend of Colab's
and Kaggle's TPUs): model, precisions, training, resume, and a JAX-trained run exported (by a
TensorFlow process) and checked with Keras-vs-TFLite decode parity. A backend is fixed per
process, hence a nested pytest."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import once

ROOT = Path(__file__).resolve().parents[1]
UNDER_JAX = ["tests/test_devices.py", "tests/test_model.py", "tests/test_train.py",
             "tests/test_demo.py", "tests/test_export.py"]  # fmt: skip


@once
def test_backend_neutral_tests_pass_under_jax(tmp_path):
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    done = subprocess.run(
        # One worker: this test already runs beside the outer suite's other worker.
        [sys.executable, "-m", "pytest", "-q", "-n", "0", "-p", "no:cacheprovider", "--basetemp",
         str(tmp_path), *UNDER_JAX], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=1200,
    )  # fmt: skip
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert " passed" in summary and "failed" not in summary, summary
    if "skipped" not in summary:
        pytest.fail(f"the TensorFlow-only tests should skip under JAX: {summary}")
