"""Installs this package into a notebook platform (Colab, Kaggle) without replacing its frameworks.

The platforms ship matched builds of TensorFlow, JAX, Keras, numpy and their kin; upgrading one in
a running session breaks it or forces a restart. So pip runs with every installed framework pinned
as a constraint: it adds what is missing (LiteRT, rapidfuzz, ...) and never changes a framework,
or it stops and says which requirement clashes. Where no TensorFlow is installed (Colab's TPU
runtime), `tensorflow-cpu` is added: tf.data and export need it, the accelerator stays with JAX.

Standard library only: the notebooks run it before the package's dependencies exist.
"""

from __future__ import annotations

import importlib
import importlib.util
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

FRAMEWORKS = ("tensorflow", "tensorflow-cpu", "tensorflow-tpu", "tf-keras", "keras", "jax",
              "jaxlib", "libtpu", "torch", "numpy", "pandas", "pyarrow", "protobuf", "ml-dtypes",
              "h5py", "scipy", "scikit-learn")  # fmt: skip
TENSORFLOW_FOR_DATA = "tensorflow-cpu>=2.20"


def installed_frameworks() -> dict[str, str]:
    """The frameworks installed here, by pip's distribution name, with their versions."""
    versions = {}
    for name in FRAMEWORKS:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def has_tensorflow() -> bool:
    return importlib.util.find_spec("tensorflow") is not None


def into_platform(source: str | Path = ".", quiet: bool = True) -> list[str]:
    """`pip install -e source` (plus tensorflow-cpu where no TensorFlow is installed) with the
    installed frameworks pinned. Returns what was asked of pip."""
    pinned = installed_frameworks()
    wanted = ["-e", str(source)] + ([] if has_tensorflow() else [TENSORFLOW_FOR_DATA])
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as constraints:
        constraints.write("".join(f"{name}=={version}\n" for name, version in pinned.items()))
    command = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check",
               "-c", constraints.name, *wanted] + (["-q"] if quiet else [])  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True)
    Path(constraints.name).unlink()
    if done.returncode != 0:
        raise RuntimeError(
            "pip could not install fingerspell without changing an installed framework "
            f"(kept: {', '.join(f'{n} {v}' for n, v in pinned.items())}):\n"
            + done.stderr[-3000:])  # fmt: skip
    importlib.invalidate_caches()  # packages added to a running kernel become importable
    return wanted


def require_wandb() -> None:
    """Weights & Biases is optional: say how to get it before a run that asks for it starts."""
    if importlib.util.find_spec("wandb") is None:
        raise ModuleNotFoundError("--wandb needs Weights & Biases: pip install wandb")
