"""Installs into the platforms as they are: for each platform, a venv pinned to its framework set;
the notebooks run 1 → 4 on a tiny configuration in a fresh kernel in an empty folder, their set-up
cell cloning this repository (its committed HEAD) and installing the package as on Colab; then
`pip check` and a comparison of every framework's version before and after.

    python benchmarks/compat.py --work /tmp/compat [--platforms colab-cpu-gpu colab-tpu]

Stand-ins, since this machine has no accelerator: tensorflow-cpu for Colab's
tensorflow GPU build (same version, same API) and jax's CPU wheels for jax[cuda]/jax[tpu]; with no
TPU attached, the TPU run asks for the JAX backend explicitly (what BACKEND="auto" picks on a TPU).
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fingerspell.install import FRAMEWORKS  # noqa: E402 — stdlib only, no dependency needed

# Framework versions of the platforms' images (issue 10: googlecolab/backend-info, August 2026).
PLATFORMS = {
    "colab-cpu-gpu": {
        "pins": ["tensorflow-cpu==2.20.0", "keras==3.13.2", "jax==0.7.2", "jaxlib==0.7.2",
                 "numpy==2.1.3", "pandas==2.2.3", "pyarrow==18.1.0", "protobuf==5.29.6"],
        "backend": "auto",
    },
    "colab-tpu": {  # no TensorFlow: the set-up cell adds tensorflow-cpu
        "pins": ["jax==0.7.2", "jaxlib==0.7.2", "keras==3.13.2", "numpy==2.1.3"],
        "backend": "jax",
    },
    # Kaggle's TPU image (Kaggle/docker-python 78aaa43, 2026-08-12, Apache-2.0: tpu/config.txt,
    # tpu/requirements.in, tpu/Dockerfile): Python 3.12, tensorflow-cpu 2.20.0 beside jax[tpu]
    # (0.7.2, which its flax needs) and libtpu forced to 0.0.17; keras ("keras>3") is whatever
    # was newest when the image was built: 3.13.2 stands in, Colab's of the same month.
    "kaggle-tpu": {
        "pins": ["tensorflow-cpu==2.20.0", "jax==0.7.2", "jaxlib==0.7.2", "libtpu==0.0.17",
                 "keras==3.13.2"],
        "backend": "jax",
        "python": "python3.12",
    },
}  # fmt: skip
NOTEBOOK_RUNNER = ["ipykernel", "papermill"]  # Colab has the kernel; papermill plays the person


def pip(venv: Path, *args: str) -> subprocess.CompletedProcess:
    command = [str(venv / "bin" / "python"), "-m", "pip", *args, "--disable-pip-version-check"]
    return subprocess.run(command, capture_output=True, text=True)


def frozen(venv: Path) -> dict[str, str]:
    listing = json.loads(pip(venv, "list", "--format", "json").stdout)
    return {p["name"].lower().replace("_", "-"): p["version"] for p in listing}


def notebook_parameters(work: Path, backend: str) -> dict[str, dict]:
    shared = {"RECORDS": str(work / "records"), "REPOSITORY": f"file://{ROOT}"}
    return {
        "01_preprocess_tfrecords": {**shared, "DATA": "synthetic", "SYNTHETIC_SEQUENCES": 120,
                                    "SYNTHETIC_DIR": str(work / "data"), "WORKERS": 1},
        "02_train_model": {**shared, "RUN": str(work / "run"), "EPOCHS": 1, "BATCH_SIZE": 16,
                           "MAX_FRAMES": 64, "BACKEND": backend},
        "03_export_tflite": {**shared, "RUN": str(work / "run"), "PARITY_SEQUENCES": 10,
                             "SUBMISSION": str(work / "submission")},
        "04_inference_check": {**shared, "SUBMISSION": str(work / "submission" / "submission.zip"),
                               "REPORT": str(work / "check"), "LIMIT": 20},
    }  # fmt: skip


def run_notebooks(venv: Path, work: Path, backend: str) -> str:
    folder = work / "colab"  # the kernels' working folder, empty like a new Colab session
    folder.mkdir(parents=True)
    env = {**os.environ, "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    env.pop("KERAS_BACKEND", None)
    for name, parameters in notebook_parameters(work, backend).items():
        command = [str(venv / "bin" / "python"), "-m", "papermill", str(ROOT / f"{name}.ipynb"),
                   str(work / f"{name}.ipynb"), "--cwd", str(folder), "-k", "python3",
                   "--no-progress-bar"]  # fmt: skip
        for key, value in parameters.items():
            command += ["-p", key, str(value)]
        done = subprocess.run(command, capture_output=True, text=True, env=env)
        if done.returncode != 0:
            return f"{name} failed: {done.stderr.strip().splitlines()[-1][:200]}"
    report = json.loads((work / "check" / "report.json").read_text())
    trained_on = json.loads((work / "run" / "run.json").read_text())["backend"]
    return f"1→4 ran (trained on {trained_on}; check scored {report['sequences']} sequences)"


def check_platform(name: str, work: Path) -> dict:
    platform = PLATFORMS[name]
    work = work / name
    venv = work / "venv"
    started = time.perf_counter()
    python = shutil.which(platform.get("python", "")) or sys.executable
    subprocess.run([python, "-m", "venv", str(venv)], check=True)
    installed = pip(venv, "install", "-q", *platform["pins"], *NOTEBOOK_RUNNER)
    if installed.returncode != 0:
        raise RuntimeError(f"{name}: the platform's own set did not install:\n{installed.stderr}")
    before = frozen(venv)
    notebooks = run_notebooks(venv, work, platform["backend"])
    after = frozen(venv)
    watched = {f for f in FRAMEWORKS if f in before}
    changed = {f: f"{before[f]} → {after.get(f, 'removed')}" for f in watched
               if after.get(f) != before[f]}  # fmt: skip
    added = sorted(set(after) - set(before))
    check = pip(venv, "check")
    return {
        "platform": name,
        "python": subprocess.run([str(venv / "bin" / "python"), "--version"], capture_output=True,
                                 text=True).stdout.split()[-1],
        "pinned set": ", ".join(platform["pins"]),
        "frameworks changed": ", ".join(f"{k} {v}" for k, v in changed.items()) or "none",
        "pip check": "clean" if check.returncode == 0 else check.stdout.strip()[:300],
        "added by the set-up cell": f"{len(added)}: " + ", ".join(
            f"{a} {after[a]}" for a in added if a in {"fingerspell", "tensorflow-cpu",
                                                       "ai-edge-litert", "rapidfuzz"}),
        "notebooks": notebooks,
        "minutes": round((time.perf_counter() - started) / 60, 1),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", required=True, help="folder for the venvs and notebook runs")
    parser.add_argument("--platforms", nargs="+", default=list(PLATFORMS), choices=PLATFORMS)
    args = parser.parse_args()
    rows = [check_platform(name, Path(args.work)) for name in args.platforms]
    for row in rows:
        print("\n".join(f"| {k} | {v} |" for k, v in row.items()), end="\n\n")


if __name__ == "__main__":
    main()
