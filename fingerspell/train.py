"""Stage 2: training, under JAX or TensorFlow. The backend, distribution and precision follow
the hardware (`devices`); a checkpoint every epoch, resumable; CSV log and TensorBoard; the
competition metric on the validation fold every epoch, through the compiled prediction path."""

from __future__ import annotations

import json
import math
from dataclasses import asdict

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from fingerspell import dataset, devices, install, metric, records, schema, storage
from fingerspell.config import Config
from fingerspell.features import model_landmarks
from fingerspell.model import build_model, ctc_loss, decoding_model, training_flops
from fingerspell.reader import DataError

BACKUP = "backup"
BACKUP_WEIGHTS = "latest.weights.h5"  # BackupAndRestore's name for it
BEST = "best.weights.h5"
LAST = "last.weights.h5"
HISTORY = "history.csv"
RUN_INFO = "run.json"


def training_folds(meta: dict, config: Config) -> tuple[list[int], list[int]]:
    """(training folds, validation folds) of a records folder: its metadata says how many folds
    it has; the config says which one validates (-1: none)."""
    every = list(range(meta["folds"]))
    if config.val_fold < 0:
        return every, []
    if config.val_fold not in every:
        raise DataError(f"validation fold {config.val_fold} does not exist: the records have "
                         f"folds 0..{meta['folds'] - 1}")  # fmt: skip
    return [k for k in every if k != config.val_fold], [config.val_fold]


class CompetitionScore(keras.callbacks.Callback):
    """Greedy-decodes the validation fold after each epoch and logs `val_score`, (N − D) / N.
    The phrases are read once; each epoch only predicts. In a multi-process run every process
    scores the whole fold, each decoding its rows of every batch; the first one prints."""

    def __init__(self, decoder: keras.Model, data: tf.data.Dataset, speaks: bool = True):
        super().__init__()
        self.decoder, self.data, self.speaks = decoder, data, speaks
        self.truths, self.real = None, None

    def on_epoch_end(self, epoch, logs=None):
        if self.truths is None:
            self.truths, self.real = truths_of(self.data)
        predictions = predictions_of(self.decoder, self.data, self.real)
        logs = logs if logs is not None else {}
        logs["val_score"] = metric.score(self.truths, predictions)
        if self.speaks:
            print(f" — val_score {logs['val_score']:.4f}; e.g. {self.truths[0]!r} → "
                  f"{predictions[0]!r}")  # fmt: skip


class EpochSeededDropout(keras.callbacks.Callback):
    """Every random layer's state restarts from (its seed, epoch) when an epoch begins, so a
    resumed run draws the same dropout masks as an unbroken one (BackupAndRestore does not
    restore that state)."""

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
            self.rows = _read_csv(path).to_dict("records")

    def on_epoch_end(self, epoch, logs=None):
        self.rows = [row for row in self.rows if row["epoch"] < epoch]  # an epoch run again
        self.rows.append({"epoch": epoch, **{k: float(v) for k, v in (logs or {}).items()}})
        storage.write_text(self.path, pd.DataFrame(self.rows).to_csv(index=False))


def _read_csv(path: str) -> pd.DataFrame:
    return pd.read_csv(storage.readable(path))


def truths_of(data: tf.data.Dataset) -> tuple[list[str], np.ndarray]:
    """The phrases of an evaluation dataset of (frames, labels, ids), and which of its rows are
    real (the rows that pad its last batch have id -1)."""
    truths, real = [], []
    for labels, ids in data.map(lambda frames, labels, ids: (labels, ids)).as_numpy_iterator():
        real += list(ids >= 0)
        truths += [schema.decode_indices(label) for label, i in zip(labels, ids) if i >= 0]
    return truths, np.array(real)


def predictions_of(decoder: keras.Model, data: tf.data.Dataset, real: np.ndarray) -> list[str]:
    """The strings the exported file would answer for the real rows (greedy decoding through the
    decoder's compiled predict; `schema.FALLBACK` for an empty decode)."""
    frames = data.map(lambda frames, labels, ids: frames)
    if keras.backend.backend() == "jax" and devices.local_hardware().processes > 1:
        decoded = _decode_across_processes(decoder, frames)
    else:
        decoded = decoder.predict(frames, verbose=0)
    return [schema.decode_prediction(row) for row in decoded[real]]


def _decode_across_processes(decoder: keras.Model, frames: tf.data.Dataset) -> np.ndarray:
    """`decoder.predict` for a multi-process JAX run, whose `predict` cannot gather outputs that
    span other processes' devices: each process feeds its rows of every (global) batch, and every
    process gets the whole decoded batch back."""
    import jax
    from jax.experimental import multihost_utils

    index, count = jax.process_index(), jax.process_count()
    weights = ([v.value for v in decoder.trainable_variables],
               [v.value for v in decoder.non_trainable_variables])  # fmt: skip
    decode = jax.jit(lambda trainable, other, x: decoder.stateless_call(trainable, other, x)[0])
    layout = None
    decoded = []
    for batch in frames.as_numpy_iterator():
        rows = np.split(batch, count)[index]
        layout = layout or keras.distribution.distribution().get_data_layout(rows.shape)
        spread = jax.make_array_from_process_local_data(layout.backend_layout, rows)
        decoded.append(multihost_utils.process_allgather(decode(*weights, spread), tiled=True))
    return np.concatenate(decoded)


def evaluate(decoder: keras.Model, data: tf.data.Dataset) -> tuple[list[str], list[str]]:
    """(truths, greedy-decoded predictions) of an evaluation dataset, padding rows left out."""
    truths, real = truths_of(data)
    return truths, predictions_of(decoder, data, real)


def _resumed_epoch(run: str) -> int:
    """The epoch a backup of a killed run continues from: Keras' BackupAndRestore records the
    number of finished epochs, which is the 0-based index of the next one."""
    # Read from BackupAndRestore's own file: Keras has no public getter, and the data pipeline
    # must start at that epoch before fit() restores the backup.
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


def _schedule(config: Config, steps_per_epoch: int, peak: float):
    total = max(1, config.epochs * steps_per_epoch)
    warmup = min(int(config.warmup_epochs * steps_per_epoch), total - 1)
    return keras.optimizers.schedules.CosineDecay(
        0.0, decay_steps=total - warmup, warmup_target=peak, warmup_steps=warmup, alpha=0.02,
    )  # fmt: skip


def make_optimizer(config: Config, steps_per_epoch: int, peak: float) -> keras.Optimizer:
    """AdamW with warm-up and cosine decay; norm scales, shifts and biases are not decayed
    (decay pulls them towards 0, which for a norm's scale means switching the layer off). With
    `config.ema`, it also keeps the weights' moving average (Keras' `use_ema`)."""
    optimizer = keras.optimizers.AdamW(
        _schedule(config, steps_per_epoch, peak), weight_decay=config.weight_decay,
        global_clipnorm=config.clip_norm, use_ema=config.ema > 0,
        ema_momentum=config.ema or 0.99,
    )  # fmt: skip
    optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
    return optimizer


def _steps_per_execution(config: Config, hardware: devices.Hardware, steps: int) -> int:
    """Training steps per compiled call: many on a TPU, where each call from the host costs more
    than a tiny model's step. Always a divisor of the epoch, or the last call of an epoch would
    run on into the next epoch's data."""
    wanted = config.steps_per_execution or (32 if hardware.platform == "tpu" else 1)
    return max(d for d in range(1, min(wanted, steps) + 1) if steps % d == 0)


def _training_sequences(meta: dict, config: Config) -> int:
    """Usable sequences in the training folds: one epoch's worth."""
    train_folds, _ = training_folds(meta, config)
    return sum(meta["usable_per_fold"][str(k)] for k in train_folds)


def plan_run(meta: dict, config: Config, hardware: devices.Hardware) -> devices.RunInfo:
    """What a run on records with this metadata will train on and how: precision, distribution,
    global batch (the per-device batch × devices), learning rate and steps."""
    usable = _training_sequences(meta, config)
    global_batch = config.batch_size * hardware.devices
    steps = usable // global_batch
    if steps == 0:
        raise ValueError(f"{usable} training sequences: less than a global batch of "
                         f"{global_batch} ({config.batch_size} a device × {hardware.devices})")
    return devices.RunInfo(
        backend=hardware.backend, distribution=devices.distribution_name(hardware),
        device_kind=hardware.device_kind, devices=hardware.devices, processes=hardware.processes,
        precision=devices.pick_precision(config.precision, hardware),
        global_batch=global_batch,
        # Adam's square-root rule: the gradient noise falls with √batch (Malladi et al., 2022).
        learning_rate=config.learning_rate * math.sqrt(hardware.devices),
        steps_per_epoch=steps, steps_per_execution=_steps_per_execution(config, hardware, steps),
        versions=install.installed_frameworks(),
    )  # fmt: skip


def train(
    records_dir: str, run: str, config: Config, resume: bool = False, wandb: bool = False,
    verbose: int = 1, callbacks: list[keras.callbacks.Callback] | None = None,
) -> keras.callbacks.History:  # fmt: skip
    """Train a model into the run folder (local or a bucket): config.json, run.json,
    best.weights.h5, history.csv, logs/. Runs on the Keras backend in force (see
    `devices.use_backend`), over every local device. `callbacks` are extra Keras callbacks (a
    notebook's plots, early stopping); they run after the run's own, so an epoch's checkpoint is
    written before they see it."""
    extra = list(callbacks or [])
    run = str(run)
    if storage.exists(storage.join(run, BACKUP)) and not resume:
        raise FileExistsError(f"{run} already holds a run: pass --resume to continue it, "
                              "or another --out")  # fmt: skip
    if keras.backend.backend() == "jax":
        devices.keep_tensorflow_off_accelerators()  # TensorFlow only feeds tf.data here
    hardware = devices.local_hardware()
    meta = records.load_metadata(records_dir)
    info = plan_run(meta, config, hardware)
    if resume:
        _check_same_spread(run, info)
    if wandb:
        install.require_wandb()
    if hardware.writes:  # the first process writes the run folder; the others only read it
        storage.makedirs(run)
        config.save(storage.join(run, "config.json"))
        storage.write_text(storage.join(run, RUN_INFO), json.dumps(info.as_dict(), indent=2))
        print(f"training on {info.summary()}")
        _log_run_info(run, info)
    keras.utils.set_random_seed(config.seed)

    train_folds, val_folds = training_folds(meta, config)
    steps = info.steps_per_epoch
    first_epoch = _resumed_epoch(run) if resume else 0
    landmarks = model_landmarks(config.model_landmarks)

    augmenter = make_augmenter(records_dir, config, speaks=hardware.writes)

    def epoch_data(epoch):
        return _augmented_batches(records_dir, train_folds, config, epoch, hardware,
                                  augmenter).take(steps)  # fmt: skip

    # One pass per epoch, each reshuffled from seed + epoch: a resumed run sees the same data.
    train_data = tf.data.Dataset.range(first_epoch, config.epochs).flat_map(epoch_data)
    policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(info.precision)
    try:
        with devices.distribution_scope(hardware):
            model = build_model(config)
            optimizer = make_optimizer(config, steps, info.learning_rate)
            model.compile(optimizer, loss=ctc_loss, steps_per_execution=info.steps_per_execution)
            score = None
            if val_folds:
                val_data = dataset.make_dataset(records_dir, val_folds, info.global_batch,
                                                config.max_frames, False, landmarks,
                                                config.max_phrase)  # fmt: skip
                score = CompetitionScore(decoding_model(model), val_data, hardware.writes)
            own = _run_callbacks(run, resume, score, config.ema > 0, hardware.writes)
            if wandb and hardware.writes:
                own.append(_wandb_callback(run, config, info))
            history = _fit_with_every_process(
                model, hardware, train_data, epochs=config.epochs, steps_per_epoch=steps,
                shuffle=False, callbacks=own + extra, verbose=verbose if hardware.writes else 0,
            )  # fmt: skip
    finally:
        keras.mixed_precision.set_global_policy(policy)
    devices.wait_for_every_process("fingerspell: run folder written")  # by the first process
    return history


def _fit_with_every_process(model: keras.Model, hardware: devices.Hardware, data,
                            **fit) -> keras.callbacks.History:  # fmt: skip
    """`model.fit`; in a multi-process run a collective that fails because another process is
    gone becomes `devices.ProcessLost`, naming what to do."""
    if hardware.processes == 1:
        return model.fit(data, **fit)
    import jax

    try:
        return model.fit(data, **fit)
    except jax.errors.JaxRuntimeError as error:
        raise devices.ProcessLost(
            f"process {hardware.process_index} of {hardware.processes}: another process of "
            f"the run died or stopped answering ({str(error).splitlines()[0][:200]}). The run "
            "folder holds the last finished epoch: start every process again with --resume"
        ) from error


def _check_same_spread(run: str, info: devices.RunInfo) -> None:
    """A run resumes on the devices and processes it started on: the global batch, learning
    rate and data order follow them."""
    if not storage.exists(storage.join(run, RUN_INFO)):
        return
    before = run_info(run)
    was = (before["devices"], before.get("processes", 1))
    if was != (info.devices, info.processes):
        raise FileExistsError(
            f"{run} was trained on {was[0]} devices in {was[1]} process(es); this is "
            f"{info.devices} in {info.processes}: resume it on the same, or start another --out")


def seconds_per_step(model: keras.Model, frames, labels, steps: int = 3) -> float:
    """A compiled model's training step on one fixed batch, timed after two warm-up steps (which
    compile it)."""
    import time

    for _ in range(2):
        model.train_on_batch(frames, labels)
    started = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(frames, labels)
    return (time.perf_counter() - started) / steps


def project_run(records_dir: str, config: Config, timed_steps: int = 3) -> dict:
    """What training `config` on these records will cost, before spending it: the steps an epoch
    takes on this machine's devices, one step timed here (global batch, frame budget and
    precision of the run) and the wall time it projects for every epoch (validation and the
    first compilation not included); the input pipeline's rate here (of every process); and,
    from the model's FLOPs and published peak throughput, the compute-bound time on the TPUs of
    Kaggle and Colab at an assumed share of peak (`devices.ACCELERATORS`)."""
    if keras.backend.backend() == "jax":
        devices.keep_tensorflow_off_accelerators()
    hardware = devices.local_hardware()
    meta = records.load_metadata(records_dir)
    info = plan_run(meta, config, hardware)
    train_folds, _ = training_folds(meta, config)
    augmenter = make_augmenter(records_dir, config, speaks=hardware.writes)
    batches = iter(_augmented_batches(records_dir, train_folds, config, 0, hardware, augmenter))
    frames, labels, _ = next(batches)  # fills the shuffle buffer: not part of the timed rate
    input_rate = _sequences_per_second(batches, len(frames)) * hardware.processes
    policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(info.precision)
    keras.utils.set_random_seed(config.seed)  # every process starts from the same weights
    try:
        with devices.distribution_scope(hardware):
            model = build_model(config)
            model.compile(make_optimizer(config, info.steps_per_epoch, info.learning_rate),
                          loss=ctc_loss)  # fmt: skip
            step = seconds_per_step(model, frames.numpy(), labels.numpy(), timed_steps)
    finally:
        keras.mixed_precision.set_global_policy(policy)
    epoch = step * info.steps_per_epoch
    sequences = _training_sequences(meta, config)
    flops = training_flops(model, config)
    plan = {"recipe": config.recipe, "preset": config.preset, "parameters": model.count_params(),
            "machine": info.summary(), "training_sequences": sequences,
            "steps_per_epoch": info.steps_per_epoch, "epochs": config.epochs,
            "seconds_per_step": step, "minutes_per_epoch": epoch / 60,
            "projected_hours": epoch * config.epochs / 3600,
            "input_sequences_per_second": input_rate,
            "training_gflop_per_sequence": flops / 1e9}  # fmt: skip
    return plan | _accelerator_projections(flops, sequences * config.epochs)


def _accelerator_projections(flops_per_sequence: float, sequences: int) -> dict:
    """Compute-bound hours on each published accelerator at each assumed share of its peak, and
    the rate its input pipeline would have to deliver."""
    projections = {}
    for accelerator in devices.ACCELERATORS:
        for share in devices.ASSUMED_SHARES_OF_PEAK:
            at = f"{accelerator.name}, at {share:.0%} of peak"
            projections[f"{at}: hours"] = accelerator.hours(flops_per_sequence * sequences, share)
            rate = accelerator.sequences_per_second(flops_per_sequence, share)
            projections[f"{at}: input sequences/s needed"] = round(rate)
    return projections


def make_augmenter(records_dir: str, config: Config, speaks: bool = True):
    """The run's augmenter; CutMix (`config.augment.cutmix`) reads the records' alignments
    (`align`), and is off, saying so, where there are none."""
    from fingerspell import align
    from fingerspell.augment import Augmenter

    alignments = None
    if config.augment.cutmix > 0:
        try:
            alignments = align.load_alignments(records_dir)
        except FileNotFoundError as missing:
            if speaks:
                print(f"CutMix is off: {missing}")
    landmarks = model_landmarks(config.model_landmarks)
    return Augmenter(config.augment, config.max_frames, landmarks, config.max_phrase, alignments)


def _augmented_batches(records_dir: str, folds: list[int], config: Config, epoch: int,
                       hardware: devices.Hardware, augmenter) -> tf.data.Dataset:  # fmt: skip
    """One epoch of this process's training batches: its rows of each global batch (every local
    device's per-device batch; `dataset.make_dataset`'s `part`), reshuffled and augmented from
    seed + epoch (so a resumed run sees the same data)."""
    landmarks = model_landmarks(config.model_landmarks)
    return dataset.make_dataset(
        records_dir, folds, config.batch_size * hardware.local_devices, config.max_frames, True,
        landmarks, config.max_phrase, seed=config.seed + epoch, augment=augmenter,
        part=(hardware.process_index, hardware.processes),
    )  # fmt: skip


def _sequences_per_second(batches, batch: int, count: int = 10) -> float:
    """The input pipeline's rate on this machine's cores: `count` more batches of a started
    iterator."""
    import time

    started = time.perf_counter()
    taken = sum(1 for _, _ in zip(range(count), batches))
    return taken * batch / (time.perf_counter() - started)


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
        distribution = keras.distribution.distribution()
        keras.distribution.set_distribution(None)
        try:
            getattr(self.inner, hook)(*args)
        finally:
            keras.distribution.set_distribution(distribution)

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


class SwapAveragedWeights(keras.callbacks.SwapEMAWeights):
    """Keras' SwapEMAWeights, with the swap done through copies. Keras' own lets an average and a
    weight share one JAX buffer, which the next `predict` donates and frees (Keras 3.15: a
    callback that predicts between the swap and a checkpoint fails with "Array has been
    deleted"); TensorFlow's swap is Keras' own."""

    def _backend_swap_variables(self, optimizer):
        for weight, average in zip(optimizer._trainable_variables,
                                   optimizer._model_variables_moving_average):  # fmt: skip
            trained = keras.ops.convert_to_numpy(weight)
            weight.assign(keras.ops.convert_to_numpy(average))
            average.assign(trained)

    def _backend_finalize_ema_values(self, optimizer):
        for weight, average in zip(optimizer._trainable_variables,
                                   optimizer._model_variables_moving_average):  # fmt: skip
            average.assign(keras.ops.convert_to_numpy(weight))


class RestoreOnly(keras.callbacks.BackupAndRestore):
    """BackupAndRestore for the processes that do not write the run folder: they restore the
    backup on --resume, like the first process, and never write one."""

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_train_batch_end(self, batch, logs=None):
        pass


def _run_callbacks(run: str, resume: bool, score: CompetitionScore | None, ema: bool,
                   writes: bool = True) -> list[keras.callbacks.Callback]:  # fmt: skip
    """Backup for --resume, the validation score, best and last weights, CSV and TensorBoard logs
    (Keras' callbacks write to buckets through tf.io.gfile). A resumed run's best checkpoint is
    replaced only by an epoch better than every epoch before the break. With `ema`, the backup
    keeps the weights as trained, and the averaged weights are swapped in for the rest of the
    epoch's end: validation and both checkpoints (so export) see them. Only the writing process
    (`writes`) has the writers."""
    backup = storage.join(run, BACKUP)
    # Two backups: a kill while one is written (in place, for a local folder) leaves the other.
    first = [EpochSeededDropout(), OutsideDistribution(
        keras.callbacks.BackupAndRestore(backup, delete_checkpoint=False, double_checkpoint=True)
        if writes else RestoreOnly(backup, delete_checkpoint=False))]  # fmt: skip
    first += [SwapAveragedWeights(swap_on_epoch=True)] if ema else []
    first += [score] if score is not None else []
    if not writes:
        return first
    monitor, mode = ("val_score", "max") if score is not None else ("loss", "min")
    best = _best_so_far(storage.join(run, HISTORY), monitor, mode) if resume else None
    writers = [
        keras.callbacks.ModelCheckpoint(storage.join(run, BEST), monitor=monitor, mode=mode,
                                        save_best_only=True, save_weights_only=True,
                                        initial_value_threshold=best),
        keras.callbacks.ModelCheckpoint(storage.join(run, LAST), save_weights_only=True),
        HistoryCSV(storage.join(run, HISTORY), resume),
        keras.callbacks.TensorBoard(storage.join(run, "logs"), write_graph=False),
    ]  # fmt: skip
    return first + [OutsideDistribution(writer) for writer in writers]


def _best_so_far(history: str, monitor: str, mode: str) -> float | None:
    """The best value of `monitor` the run's history.csv holds, if any."""
    if not storage.exists(history):
        return None
    table = _read_csv(history)
    values = table[monitor].dropna() if monitor in table else []
    if len(values) == 0:
        return None
    return float(values.max() if mode == "max" else values.min())


def _log_run_info(run: str, info: devices.RunInfo) -> None:
    """The run's hardware and settings as a TensorBoard text summary (tab TEXT)."""
    table = "\n".join(f"| {k} | {v} |" for k, v in info.as_dict().items())
    with tf.summary.create_file_writer(storage.join(run, "logs", "run")).as_default():
        tf.summary.text("run", "| setting | value |\n| --- | --- |\n" + table, step=0)


def run_info(run: str) -> dict:
    """The run's run.json: what it trained on."""
    return json.loads(storage.read_text(storage.join(run, RUN_INFO)))


def load_history(run: str) -> pd.DataFrame:
    """The run's history.csv (one row per epoch: loss, val_score, learning rate) as a table."""
    return _read_csv(storage.join(run, HISTORY))


def _wandb_callback(run: str, config: Config, info: devices.RunInfo) -> keras.callbacks.Callback:
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


def weights_file(run: str, weights: str = BEST) -> str:
    """The run's weights file of that name, or its last weights where there is none (a run
    without validation, or killed before its first best)."""
    path = storage.join(run, weights)
    return path if storage.exists(path) else storage.join(run, LAST)


def load_trained(run: str, weights: str = BEST) -> tuple[keras.Model, Config]:
    """The model of a run folder, rebuilt from its config and loaded with its weights
    (`weights_file`)."""
    config = Config.load(storage.join(run, "config.json"))
    keras.mixed_precision.set_global_policy("float32")
    model = build_model(config)
    model.load_weights(weights_file(run, weights))
    return model, config


def sample_predictions(run: str, records_dir: str, n: int = 12):
    """Truth vs greedy-decoded prediction of the first `n` validation sequences of a run."""
    model, config = load_trained(run)
    folds = training_folds(records.load_metadata(records_dir), config)[1] or [0]
    landmarks = model_landmarks(config.model_landmarks)
    data = dataset.make_dataset(records_dir, folds, n, config.max_frames, False, landmarks,
                                config.max_phrase)  # fmt: skip
    truths, predictions = evaluate(decoding_model(model), data.take(1))
    table = pd.DataFrame({"truth": truths, "prediction": predictions})
    table["distance"] = [metric.edit_distance(t, p) for t, p in zip(truths, predictions)]
    return table
