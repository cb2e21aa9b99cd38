"""The backend-neutral tests again, in a process whose Keras runs on JAX (the backend of Colab's
and Kaggle's TPUs): model, precisions, training, resume, and a JAX-trained run exported (by a
TensorFlow process) and checked with Keras-vs-TFLite decode parity. A backend is fixed per
process, hence a nested pytest, one a tier (`-m`): the suite checks its own tests under JAX
but those that read a trained run (conftest marks them slow under JAX), the end-to-end tier
its own and those."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CUTMIX_UNDER_TENSORFLOW, once

ROOT = Path(__file__).resolve().parents[1]
UNDER_JAX = ["tests/test_devices.py", "tests/test_model.py", "tests/test_train.py",
             "tests/test_demo.py", "tests/test_export.py"]  # fmt: skip
# The tests that may skip under JAX, and why (each runs in the TensorFlow pass instead), by tier.
ONCE = "starts its own processes; runs in the TensorFlow pass"
SKIPS_UNDER_JAX = {
    "not slow": {("tests/test_model.py", "TensorFlow's own kernel"): 1,
                 ("tests/test_devices.py", ONCE): 1},
    "slow": {("tests/test_model.py", ONCE): 1, ("tests/test_train.py", ONCE): 4,
             ("tests/test_train.py", CUTMIX_UNDER_TENSORFLOW): 1,
             ("tests/test_export.py", "converts in this process"): 3},
}  # fmt: skip


@once
@pytest.mark.parametrize("tier", ["not slow", pytest.param("slow", marks=pytest.mark.slow)])
def test_backend_neutral_tests_pass_under_jax(tmp_path, tier):
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    done = subprocess.run(
        # One worker: this test already runs beside the outer suite's other worker.
        [sys.executable, "-m", "pytest", "-q", "-rs", "-n", "0", "-p", "no:cacheprovider",
         "-m", tier, "--basetemp", str(tmp_path), *UNDER_JAX], cwd=ROOT, env=env,
        capture_output=True, text=True,
        # the end-to-end tier's, the longer: 10.4 min beside the other worker, 2 cores (2026-12-03)
        timeout=2400,
    )  # fmt: skip
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert " passed" in summary and "failed" not in summary, summary
    skips: dict[tuple[str, str], int] = {}
    for count, file, reason in re.findall(r"^SKIPPED \[(\d+)\] (tests/\S+?):\d+: (.*)$",
                                          done.stdout, re.M):  # fmt: skip
        skips[file, reason] = skips.get((file, reason), 0) + int(count)
    assert skips == SKIPS_UNDER_JAX[tier], skips
