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
    """'TPU', 'GPU ×n' or 'CPU', as training will see it."""
    import tensorflow as tf

    tpu_vm = Path("/dev/accel0").exists()
    if os.environ.get("TPU_NAME") or os.environ.get("COLAB_TPU_ADDR") or tpu_vm:
        return "TPU"
    gpus = tf.config.list_physical_devices("GPU")
    return f"GPU ×{len(gpus)}" if gpus else "CPU"


def describe() -> str:
    import keras
    import tensorflow as tf

    return (f"{platform()}, {accelerator()}, {os.cpu_count()} CPU cores; "
            f"TensorFlow {tf.__version__}, Keras {keras.__version__}")  # fmt: skip


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
