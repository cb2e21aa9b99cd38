"""The Keras callbacks a run trains with: the competition score every epoch, the backup that
--resume continues from, the weights' average swapped in for validation and checkpoints, best
and last weights, history.csv, TensorBoard and W&B (`run_callbacks` puts them in order)."""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from dataclasses import asdict

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from fingerspell import metric, runs, storage
from fingerspell.config import Config
from fingerspell.evaluate import predictions_of, truths_of
from fingerspell.plan import RunInfo


class CompetitionScore(keras.callbacks.Callback):
    """Greedy-decodes the validation fold after each epoch and logs `val_score`, (N − D) / N.
    The phrases are read once; each epoch only predicts. In a multi-process run every process
    scores the whole fold, each decoding its rows of every batch; the first one prints."""

    def __init__(self, decoder: keras.Model, data: tf.data.Dataset, fallback: str,
                 speaks: bool = True):  # fmt: skip
        super().__init__()
        self.decoder, self.data, self.fallback, self.speaks = decoder, data, fallback, speaks
        self.truths, self.real = None, None

    def on_epoch_end(self, epoch, logs=None):
        if self.truths is None:
            self.truths, self.real = truths_of(self.data)
        predictions = predictions_of(self.decoder, self.data, self.real, self.fallback)
        logs = logs if logs is not None else {}
        logs["val_score"] = metric.score(self.truths, predictions)
        if self.speaks:
            print(f" — val_score {logs['val_score']:.4f}; e.g. {self.truths[0]!r} → "
                  f"{predictions[0]!r}")  # fmt: skip


class EpochSeededDropout(keras.callbacks.Callback):
    """Every random layer's state restarts from (its seed, epoch) when an epoch begins, so a
    resumed run draws the same dropout masks as an unbroken one (the backup does not hold that
    state)."""

    def on_epoch_begin(self, epoch, logs=None):
        for state in self.model.non_trainable_variables:
            if state.path.endswith("seed_generator_state"):  # a keras.random.SeedGenerator's
                seed = keras.ops.convert_to_numpy(state)[0]
                # The state's dtype is the backend's (int64 under TensorFlow, uint32 under JAX).
                state.assign(np.array([seed, epoch * 1_000_003]).astype(state.dtype))


class HistoryCSV(keras.callbacks.Callback):
    """history.csv, one row per epoch, written whole (atomically, `storage`) after each epoch.
    Keras' CSVLogger keeps a file open for appending, which a bucket cannot do (and in Keras
    3.15 it fails on closing a gs:// file)."""

    def __init__(self, path: str, resume: bool):
        super().__init__()
        self.path, self.rows = path, []
        if resume and storage.exists(path):
            self.rows = runs.read_csv(path).to_dict("records")

    def on_epoch_end(self, epoch, logs=None):
        self.rows = [row for row in self.rows if row["epoch"] < epoch]  # an epoch run again
        self.rows.append({"epoch": epoch, **{k: float(v) for k, v in (logs or {}).items()}})
        storage.write_text(self.path, pd.DataFrame(self.rows).to_csv(index=False))


@contextlib.contextmanager
def outside_distribution():
    """Keras' distribution off for a while: what a backup is written and read under, and a
    lone model (`align`'s) built under."""
    distribution = keras.distribution.distribution()
    keras.distribution.set_distribution(None)
    try:
        yield
    finally:
        keras.distribution.set_distribution(distribution)


class OutsideDistribution(keras.callbacks.Callback):
    """A callback that reads or writes the run folder, run outside the distribution. Keras'
    saving creates variables, and under a multi-process distribution every process would have to
    create them together, while only the first one saves."""

    def __init__(self, inner: keras.callbacks.Callback):
        super().__init__()
        self.inner = inner

    def set_model(self, model):
        super().set_model(model)
        self.inner.set_model(model)

    def set_params(self, params):
        super().set_params(params)
        self.inner.set_params(params)

    def _outside(self, hook: str, *args):
        with outside_distribution():
            getattr(self.inner, hook)(*args)

    def on_train_begin(self, logs=None):
        self._outside("on_train_begin", logs)

    def on_train_end(self, logs=None):
        self._outside("on_train_end", logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._outside("on_epoch_begin", epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._outside("on_epoch_end", epoch, logs)

    def on_train_batch_begin(self, batch, logs=None):
        self._outside("on_train_batch_begin", batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        self._outside("on_train_batch_end", batch, logs)


class SwapAveragedWeights(keras.callbacks.Callback):
    """The optimizer's moving average of the weights (`use_ema`) in the model from each epoch's
    end to the next one's start, so the callbacks after this one (validation, checkpoints, so
    export) see it; the weights as trained during the epoch. Keras' own SwapEMAWeights does the
    same through its optimizers' private lists and, under JAX, lets an average and a weight
    share one buffer, which the next `predict` donates and frees (Keras 3.15: "Array has been
    deleted"). This one pairs them through public names and swaps copies."""

    def __init__(self):
        super().__init__()
        self.averaged_in = False

    def _pairs(self) -> list[tuple[keras.Variable, keras.Variable]]:
        optimizer = self.model.optimizer
        optimizer = getattr(optimizer, "inner_optimizer", optimizer)  # under loss scaling
        by_name = {v.name: v for v in optimizer.variables}
        # Keras names an optimizer variable after its weight's path (`add_variable_from_reference`)
        names = [f"{w.path.replace('/', '_')}_average" for w in self.model.trainable_variables]
        missing = [name for name in names if name not in by_name]
        if missing:
            raise ValueError(f"the optimizer keeps no average of {missing[:3]}: "
                             "SwapAveragedWeights needs `use_ema=True`")  # fmt: skip
        return [(w, by_name[n]) for w, n in zip(self.model.trainable_variables, names)]

    def _swap(self) -> None:
        for weight, average in self._pairs():
            trained = keras.ops.convert_to_numpy(weight)
            weight.assign(keras.ops.convert_to_numpy(average))
            average.assign(trained)

    def on_epoch_begin(self, epoch, logs=None):
        if self.averaged_in:
            self._swap()
            self.averaged_in = False

    def on_epoch_end(self, epoch, logs=None):
        if not self.averaged_in:
            self._swap()
            self.averaged_in = True
        if epoch == self.params["epochs"] - 1:
            # fit() ends by copying the averages into the model (`finalize_variable_values`):
            # they must hold what the model holds now.
            for weight, average in self._pairs():
                average.assign(keras.ops.convert_to_numpy(weight))


class Backup(keras.callbacks.Callback):
    """After each epoch, what --resume continues from (`runs.backup_file`): the weights as
    trained and the optimizer's state, written whole (a local file, then `storage`'s atomic
    write), then the backup before it deleted. Keras' BackupAndRestore keeps its epoch in a
    file of its own with no public reader, and the data pipeline must know the epoch before
    fit() starts; this backup's name says it."""

    def __init__(self, run: str):
        super().__init__()
        self.run = run

    def on_train_begin(self, logs=None):
        storage.makedirs(storage.join(self.run, runs.BACKUP))

    def on_epoch_end(self, epoch, logs=None):
        with tempfile.TemporaryDirectory() as folder:
            local = os.path.join(folder, "backup.weights.h5")
            self.model.save_weights(local)
            with open(local, "rb") as written:
                storage.write_bytes(runs.backup_file(self.run, epoch + 1), written.read())
        for path in runs.backups(self.run):
            if path != runs.backup_file(self.run, epoch + 1):
                storage.remove(path)


class TimeLimit(keras.callbacks.Callback):
    """Stops training after the last whole epoch that fits before the deadline: when an epoch
    ends (its validation and checkpoint written: this runs after the run's own callbacks) and
    another as long as the longest so far would overrun, training stops there. In a run of
    several processes, process 0 decides for all, so that every one stops at the same epoch."""

    def __init__(self, hours: float, processes: int = 1):
        super().__init__()
        self.deadline = time.monotonic() + hours * 3600
        self.processes = processes
        self.longest = 0.0
        self.stopped_after: int | None = None  # the last epoch trained, when it stopped early

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        self.longest = max(self.longest, time.monotonic() - self.started)
        if not self.another_epoch_fits():
            self.model.stop_training = True
            self.stopped_after = epoch

    def another_epoch_fits(self) -> bool:
        """Whether an epoch as long as the longest so far would end before the deadline."""
        fits = time.monotonic() + self.longest <= self.deadline
        if self.processes > 1:
            from jax.experimental import multihost_utils

            fits = bool(multihost_utils.broadcast_one_to_all(np.array(fits)))
        return fits


class LogConstants(keras.callbacks.Callback):
    """Adds the same values to every epoch's logs (history.csv, TensorBoard): what a `fit`
    trained with, such as whether CutMix was on."""

    def __init__(self, values: dict[str, float]):
        super().__init__()
        self.values = values

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs.update(self.values)


def run_callbacks(run: str, resume: bool, score: CompetitionScore | None, ema: bool,
                  writes: bool = True, logged: dict[str, float] | None = None,
                  ) -> list[keras.callbacks.Callback]:  # fmt: skip
    """Backup for --resume (`train` restores it), the validation score, best and last weights,
    CSV and TensorBoard logs (Keras' callbacks write to buckets through tf.io.gfile). A resumed
    run's best checkpoint is replaced only by an epoch better than every epoch before the break.
    With `ema`, the backup keeps the weights as trained, and the averaged weights are swapped in
    for the rest of the epoch's end: validation and both checkpoints (so export) see them. Only
    the writing process (`writes`) has the writers; `logged` values join each epoch's logs."""
    first = [EpochSeededDropout()] + ([LogConstants(logged)] if logged else [])
    first += [OutsideDistribution(Backup(run))] if writes else []
    first += [SwapAveragedWeights()] if ema else []
    first += [score] if score is not None else []
    if not writes:
        return first
    monitor, mode = ("val_score", "max") if score is not None else ("loss", "min")
    best = runs.best_so_far(run, monitor, mode) if resume else None
    writers = [
        keras.callbacks.ModelCheckpoint(storage.join(run, runs.BEST), monitor=monitor, mode=mode,
                                        save_best_only=True, save_weights_only=True,
                                        initial_value_threshold=best),
        keras.callbacks.ModelCheckpoint(storage.join(run, runs.LAST), save_weights_only=True),
        HistoryCSV(storage.join(run, runs.HISTORY), resume),
        keras.callbacks.TensorBoard(storage.join(run, "logs"), write_graph=False),
    ]  # fmt: skip
    return first + [OutsideDistribution(writer) for writer in writers]


def log_run_info(run: str, info: RunInfo) -> None:
    """The run's hardware and settings as a TensorBoard text summary (tab TEXT)."""
    table = "\n".join(f"| {k} | {v} |" for k, v in info.as_dict().items())
    with tf.summary.create_file_writer(storage.join(run, "logs", "run")).as_default():
        tf.summary.text("run", "| setting | value |\n| --- | --- |\n" + table, step=0)


def wandb_callback(run: str, config: Config, info: RunInfo) -> keras.callbacks.Callback:
    """W&B logging, offline unless the user configured a key; its files go into the run folder,
    or the working folder's `wandb/` when the run is in a bucket (W&B writes local files)."""
    import os

    import wandb

    if not os.environ.get("WANDB_API_KEY") and not os.environ.get("WANDB_MODE"):
        os.environ["WANDB_MODE"] = "offline"
    wandb.init(project="fingerspell", dir=None if storage.is_remote(run) else run,
               config={**asdict(config), "run": info.as_dict()})  # fmt: skip
    from wandb.integration.keras import WandbMetricsLogger

    return WandbMetricsLogger()
