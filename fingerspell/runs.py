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
from fingerspell.reader import DataError

BACKUP = "backup"  # --resume's backups: epoch-NNNN.weights.h5 (`backup_file`)
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


def backup_file(run: str, epochs_done: int) -> str:
    """The backup written after `epochs_done` epochs: the weights as trained and the optimizer's
    state (a Keras weights file holds both)."""
    return storage.join(run, BACKUP, f"epoch-{epochs_done:04d}.weights.h5")


def backups(run: str) -> list[str]:
    """The run's whole backups (`backup_file`); a write cut short leaves only a temporary file."""
    return storage.glob(storage.join(run, BACKUP, "epoch-*.weights.h5"))


def resumed_epoch(run: str) -> int:
    """How many epochs the run's newest backup holds, which is the 0-based index of the epoch
    --resume continues with (0: no backup). Backups are written whole (`storage`), so the newest
    one present is complete; a kill while one is written leaves only a temporary file."""
    found = backups(run)
    if not found and storage.exists(storage.join(run, BACKUP, "latest.weights.h5")):
        raise DataError(f"{run} holds a backup of an older fingerspell (Keras' BackupAndRestore), "
                        "which this one cannot continue: train into another --out")  # fmt: skip
    return max((int(storage.name(path)[len("epoch-"):][:4]) for path in found), default=0)
