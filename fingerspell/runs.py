"""A run folder's files: what `train` writes and every later stage reads (local or a bucket).

RUN/config.json (the Config), run.json (the hardware and settings it trained on), best.weights.h5
and last.weights.h5, history.csv (one row an epoch), backup/ (what --resume continues from) and
logs/ (TensorBoard).
"""

from __future__ import annotations

import json

import keras
import pandas as pd

from fingerspell import storage
from fingerspell.config import Config
from fingerspell.model import build_model

BACKUP = "backup"
BACKUP_WEIGHTS = "latest.weights.h5"  # BackupAndRestore's name for it
BEST = "best.weights.h5"
LAST = "last.weights.h5"
HISTORY = "history.csv"
RUN_INFO = "run.json"
CONFIG = "config.json"


def read_csv(path: str) -> pd.DataFrame:
    return pd.read_csv(storage.readable(path))


def run_info(run: str) -> dict:
    """The run's run.json: what it trained on."""
    return json.loads(storage.read_text(storage.join(run, RUN_INFO)))


def load_history(run: str) -> pd.DataFrame:
    """The run's history.csv (one row per epoch: loss, val_score, learning rate) as a table."""
    return read_csv(storage.join(run, HISTORY))


def best_so_far(run: str, monitor: str, mode: str) -> float | None:
    """The best value of `monitor` the run's history.csv holds, if any."""
    history = storage.join(run, HISTORY)
    if not storage.exists(history):
        return None
    table = read_csv(history)
    values = table[monitor].dropna() if monitor in table else []
    if len(values) == 0:
        return None
    return float(values.max() if mode == "max" else values.min())


def weights_file(run: str, weights: str = BEST) -> str:
    """The run's weights file of that name, or its last weights where there is none (a run
    without validation, or killed before its first best)."""
    path = storage.join(run, weights)
    return path if storage.exists(path) else storage.join(run, LAST)


def load_trained(run: str, weights: str = BEST) -> tuple[keras.Model, Config]:
    """The model of a run folder, rebuilt from its config and loaded with its weights
    (`weights_file`)."""
    config = Config.load(storage.join(run, CONFIG))
    keras.mixed_precision.set_global_policy("float32")
    model = build_model(config)
    model.load_weights(weights_file(run, weights))
    return model, config


def resumed_epoch(run: str) -> int:
    """The epoch a backup of a killed run continues from: Keras' BackupAndRestore records the
    number of finished epochs, which is the 0-based index of the next one."""
    # Read from BackupAndRestore's own file: Keras has no public getter, and the data pipeline
    # must start at that epoch before fit() restores the backup (tests/test_train.py pins it).
    state = storage.join(run, BACKUP, "training_metadata.json")
    if storage.exists(f"{state}.bkp") and not _loadable(storage.join(run, BACKUP, BACKUP_WEIGHTS)):
        state = f"{state}.bkp"  # a kill while the backup was written: Keras restores the one before
    return int(json.loads(storage.read_text(state))["epoch"]) if storage.exists(state) else 0


def _loadable(weights: str) -> bool:
    """Whether Keras can open a weights file: it falls back to the previous backup on the
    OSError that h5py raises for a file cut short."""
    import h5py

    try:
        with h5py.File(storage.readable(weights), "r"):
            return True
    except OSError:
        return False
