"""Stage 2: training, under JAX or TensorFlow. The backend, distribution and precision follow
the hardware (`devices`, `plan`); a checkpoint every epoch, resumable; CSV log and TensorBoard;
the competition metric on the validation fold every epoch, through the compiled prediction path
(`callbacks`). What it writes is described in `runs`."""

from __future__ import annotations

import json
from dataclasses import asdict

import keras
import pandas as pd
import tensorflow as tf

from fingerspell import align, dataset, devices, install, processes, records, runs, storage
from fingerspell.callbacks import (
    CompetitionScore,
    TimeLimit,
    log_run_info,
    outside_distribution,
    run_callbacks,
    wandb_callback,
)
from fingerspell.config import Config
from fingerspell.features import model_landmarks
from fingerspell.model import build_model, ctc_loss, decoding_model, make_optimizer
from fingerspell.plan import RunInfo, plan_run


def train(
    records_dir: str, run: str, config: Config, resume: bool | str = False,
    wandb: bool = False, verbose: int = 1,
    callbacks: list[keras.callbacks.Callback] | None = None, allow_cpu: bool = False,
    time_limit_hours: float | None = None,
) -> keras.callbacks.History:  # fmt: skip
    """Train a model into the run folder (local or a bucket): config.json, run.json,
    best.weights.h5, history.csv, logs/. Runs on the Keras backend in force (see
    `devices.use_backend`), over every local device; a config that `needs_accelerator` is
    refused on a CPU unless `allow_cpu`.

    `resume`: True continues the run in `run` (made with the same config), "auto" continues it
    if there is one and starts it otherwise. `time_limit_hours` (from now): stop after the
    last whole epoch that fits, to be continued with `resume`. `callbacks` are extra Keras
    callbacks (a notebook's plots, early stopping); they run after the run's own, so an
    epoch's checkpoint is written before they see it."""
    extra = list(callbacks or [])
    run = str(run)
    if keras.backend.backend() == "jax":
        devices.keep_tensorflow_off_accelerators()  # TensorFlow only feeds tf.data here
    hardware = devices.local_hardware()
    if config.needs_accelerator and not allow_cpu:
        devices.require_accelerator(hardware, config.recipe)
    meta = records.load_metadata(records_dir)
    started = storage.exists(storage.join(run, runs.BACKUP))
    resume = started if resume == "auto" else bool(resume)
    if started and not resume:
        raise FileExistsError(f"{run} already holds a run: pass --resume to continue it, "
                              "or another --out")  # fmt: skip
    config = dataset.with_fallback(records_dir, meta, config, speaks=hardware.writes)
    if resume:
        _check_same_config(run, config)
    info = plan_run(meta, config, hardware)
    if resume:
        _check_same_spread(run, info)
    if wandb:
        install.require_wandb()
    if hardware.writes:  # the first process writes the run folder; the others only read it
        storage.makedirs(run)
        config.save(storage.join(run, runs.CONFIG))
        storage.write_text(storage.join(run, runs.RUN_INFO), json.dumps(info.as_dict(), indent=2))
        print(f"training on {info.summary()}")
        log_run_info(run, info)
    keras.utils.set_random_seed(config.seed)
    dataset.seed_shuffles(config.seed)

    train_folds, val_folds = dataset.training_folds(meta, config)
    steps = info.steps_per_epoch
    first_epoch = runs.resumed_epoch(run) if resume else 0
    if first_epoch >= config.epochs:  # a finished run, continued again (RESUME = "auto")
        print(f"{run} has trained all {config.epochs} epochs: nothing to continue")
        return keras.callbacks.History()
    aligned_records = records.has_alignments(records_dir)
    if config.cutmix_from is not None and not aligned_records:
        align.require_ctc_segmentation()  # said now, not after the warm-up
    if hardware.writes:
        _say_when_cutmix_starts(config, aligned_records)
    landmarks = model_landmarks(config.model_landmarks)

    def epochs(start: int, end: int, alignments) -> tf.data.Dataset:
        augmenter = dataset.make_augmenter(config, alignments)

        def epoch_data(epoch):
            return dataset.training_batches(records_dir, train_folds, config, epoch, hardware,
                                            augmenter).take(steps)  # fmt: skip

        # One pass per epoch, each reshuffled from seed + epoch: a resumed run sees the same data.
        return tf.data.Dataset.range(start, end).flat_map(epoch_data)

    policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(info.precision)
    histories = []
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
                score = CompetitionScore(decoding_model(model), val_data, config.fallback,
                                         hardware.writes)  # fmt: skip
            clock = TimeLimit(time_limit_hours, hardware.processes) if time_limit_hours else None
            for start, end, cutmix in _phases(first_epoch, config):
                if clock and start > first_epoch and not clock.another_epoch_fits():
                    clock.stopped_after = start - 1  # aligning took the time another epoch needs
                    break
                if start:  # where the run stands after `start` epochs: a resumed run's state too
                    _restore(model, runs.backup_file(run, start))
                alignments = None
                if cutmix:
                    alignments = _alignments(run, records_dir, train_folds, aligned_records,
                                             hardware)  # fmt: skip
                own = run_callbacks(run, resume or start > first_epoch, score, config.ema > 0,
                                    hardware.writes, _logged(config, cutmix))  # fmt: skip
                if wandb and hardware.writes:
                    own.append(wandb_callback(run, config, info))
                own += [clock] if clock else []
                histories.append(_fit_with_every_process(
                    model, hardware, epochs(start, end, alignments), epochs=end,
                    initial_epoch=start, steps_per_epoch=steps, shuffle=False,
                    callbacks=own + extra, verbose=verbose if hardware.writes else 0,
                ))  # fmt: skip
                if clock and clock.stopped_after is not None:
                    break
    finally:
        keras.mixed_precision.set_global_policy(policy)
    processes.wait_for_every_process("fingerspell: run folder written")  # by the first process
    stopped = clock.stopped_after if clock else None
    if stopped is not None and stopped + 1 < config.epochs and hardware.writes:
        print(f"stopped after epoch {stopped + 1} of {config.epochs}: another would not end "
              "within the time limit. Everything is written; run the same again with "
              "--resume auto (notebook 2: RESUME = 'auto') to continue")  # fmt: skip
    return _joined(histories)


def _phases(first_epoch: int, config: Config) -> list[tuple[int, int, bool]]:
    """(first epoch, end, CutMix on) of each `fit` this run still needs: CutMix starts in a
    `fit` of its own, since the data pipeline of a `fit` is built before its first epoch."""
    start = config.cutmix_from
    if start is None:
        return [(first_epoch, config.epochs, False)]
    if first_epoch >= start:
        return [(first_epoch, config.epochs, True)]
    return [(first_epoch, start, False), (start, config.epochs, True)]


def _say_when_cutmix_starts(config: Config, aligned_records: bool) -> None:
    if config.augment.cutmix <= 0:
        return
    if config.cutmix_from is None:
        print(f"CutMix is off: it would start after epoch {config.cutmix_after} "
              f"(cutmix_after) of {config.epochs}")  # fmt: skip
        return
    where = ("the records' alignments" if aligned_records else
             "alignments this run makes of its training folds then (RUN/alignments)")
    print(f"CutMix starts at epoch {config.cutmix_from + 1}, with {where}")


def _alignments(run: str, records_dir: str, folds: list[int], aligned_records: bool,
                hardware: devices.Hardware) -> pd.DataFrame:  # fmt: skip
    """CutMix's spans: the records' own where `align` wrote them, else the run's, made now
    from its weights by the first process (the others wait for them)."""
    if aligned_records:
        return records.load_alignments(records_dir)
    if hardware.writes and not align.is_finished(run):
        print("aligning the training folds with this run's weights for CutMix")
        with outside_distribution():
            done = align.align_run(run, records_dir, folds)
        print(f"{done['aligned']} sequences aligned, {done['unaligned']} too short to align, "
              f"in {done['seconds']} s: {storage.join(run, records.ALIGNMENTS)}")  # fmt: skip
    processes.wait_for_every_process("fingerspell: alignments written")
    return records.load_alignments(run)


def _logged(config: Config, cutmix: bool) -> dict[str, float]:
    """Values history.csv records each epoch besides Keras' logs: whether CutMix was on."""
    return {"cutmix": float(cutmix)} if config.augment.cutmix > 0 else {}


def _joined(histories: list[keras.callbacks.History]) -> keras.callbacks.History:
    joined = keras.callbacks.History()
    joined.epoch, joined.history = [], {}
    for history in histories:
        joined.epoch += history.epoch
        for name, values in history.history.items():
            joined.history.setdefault(name, []).extend(values)
    return joined


def _restore(model: keras.Model, backup: str) -> None:
    """A backup's weights and optimizer state into the compiled model, loaded outside the
    distribution as the backup was written (`callbacks.OutsideDistribution`); every process of
    a run loads the same file."""
    if not model.optimizer.built:  # its state needs somewhere to go
        model.optimizer.build(model.trainable_variables)
    with outside_distribution():
        model.load_weights(backup)


def _fit_with_every_process(model: keras.Model, hardware: devices.Hardware, data,
                            **fit) -> keras.callbacks.History:  # fmt: skip
    """`model.fit`; in a multi-process run a collective that fails because another process is
    gone becomes `processes.ProcessLost`, naming what to do."""
    if hardware.processes == 1:
        return model.fit(data, **fit)
    import jax

    try:
        return model.fit(data, **fit)
    except jax.errors.JaxRuntimeError as error:
        raise processes.ProcessLost(
            f"process {hardware.process_index} of {hardware.processes}: another process of "
            f"the run died or stopped answering ({str(error).splitlines()[0][:200]}). The run "
            "folder holds the last finished epoch: start every process again with --resume"
        ) from error


def _check_same_config(run: str, config: Config) -> None:
    """A run resumes with the options it started with; anything else is another run."""
    path = storage.join(run, runs.CONFIG)
    if not storage.exists(path):
        return
    before, now = asdict(Config.load(path)), asdict(config)
    if before["fallback"] is None:  # a run from before the fallback was chosen: today's choice
        before["fallback"] = now["fallback"]
    changed = sorted(_differences(before, now))
    if changed:
        raise FileExistsError(
            f"{run} was started with other options ({'; '.join(changed)}): continue it with "
            "the same, or start another --out")  # fmt: skip


def _differences(before: dict, now: dict, prefix: str = "") -> list[str]:
    changed = []
    for name in before.keys() | now.keys():
        was, is_ = before.get(name), now.get(name)
        if isinstance(was, dict) and isinstance(is_, dict):
            changed += _differences(was, is_, f"{prefix}{name}.")
        elif was != is_:
            changed.append(f"{prefix}{name} {was!r} → {is_!r}")
    return changed


def _check_same_spread(run: str, info: RunInfo) -> None:
    """A run resumes on the devices and processes it started on: the global batch, learning
    rate and data order follow them."""
    if not storage.exists(storage.join(run, runs.RUN_INFO)):
        return
    before = runs.run_info(run)
    was = (before["devices"], before.get("processes", 1))
    if was != (info.devices, info.processes):
        raise FileExistsError(
            f"{run} was trained on {was[0]} devices in {was[1]} process(es); this is "
            f"{info.devices} in {info.processes}: resume it on the same, or start another --out")


