"""Where the notebooks run (Colab, Kaggle, local), what accelerator they have, where the data is."""

from __future__ import annotations

import os
import sys
from pathlib import Path

KAGGLE_DATA = Path("/kaggle/input/asl-fingerspelling")


def platform() -> str:
    if "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ:
        return "Colab"
    if "KAGGLE_KERNEL_RUN_TYPE" in os.environ or Path("/kaggle").exists():
        return "Kaggle"
    return "local"


def accelerator() -> str:
    """'TPU ×n', 'GPU ×n (name)' or 'CPU', seen without starting a framework (which would claim
    the devices before the backend is chosen)."""
    from fingerspell import devices

    if chips := devices.tpu_chips():
        return f"TPU ×{chips}"
    if gpus := devices.gpu_names():
        return f"GPU ×{len(gpus)} ({gpus[0]})"
    return "CPU"


def describe() -> str:
    """Platform, accelerator, cores and installed framework versions; imports no framework."""
    from fingerspell import install

    versions = ", ".join(f"{name} {v}" for name, v in install.installed_frameworks().items())
    return f"{platform()}, {accelerator()}, {os.cpu_count()} CPU cores; {versions}"


def resolve_data(data: str, synthetic_dir: str | Path = "data/synthetic", sequences: int = 2000,
                 seed: int = 0) -> Path:  # fmt: skip
    """The dataset folder a notebook works on. "auto": the Kaggle competition data when it is
    attached, else the synthetic default (written on first use, reused after); "synthetic": always
    the synthetic default; anything else: that folder, which must hold train.csv."""
    if data == "auto" and (KAGGLE_DATA / "train.csv").exists():
        return KAGGLE_DATA
    if data in ("auto", "synthetic"):
        from fingerspell import synthetic

        return synthetic.write_dataset(synthetic_dir, sequences, seed)
    path = Path(data)
    if not (path / "train.csv").exists():
        raise FileNotFoundError(f"{path / 'train.csv'} not found: DATA must be a folder in the "
                                "competition layout, 'auto' or 'synthetic'")  # fmt: skip
    return path


def offer_download(path: str | Path):
    """A download for `path`: Colab's browser download, else a link (Kaggle, Jupyter)."""
    from IPython.display import FileLink

    if platform() == "Colab":
        from google.colab import files

        files.download(str(path))
        return f"downloading {path}"
    return FileLink(os.path.relpath(path))
