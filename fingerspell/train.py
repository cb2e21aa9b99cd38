"""Stage 2: training. Strategy and precision picked for the hardware; a checkpoint every epoch,
resumable; CSV log and TensorBoard; the competition metric on the validation fold every epoch."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from fingerspell import dataset, metric, records, schema
from fingerspell.config import Config
from fingerspell.features import model_landmarks
from fingerspell.model import build_model, ctc_loss

BACKUP = "backup"
BEST = "best.weights.h5"


def pick_strategy() -> tuple[tf.distribute.Strategy, str]:
    """TPU if one answers, several GPUs mirrored, else the default; with its mixed precision."""
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver), "mixed_bfloat16"
    except (ValueError, tf.errors.NotFoundError, RuntimeError):
        pass
    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy(), "mixed_float16"
    return tf.distribute.get_strategy(), ("mixed_float16" if gpus else "float32")


def training_folds(config: Config) -> tuple[list[int], list[int]]:
    every = list(range(config.folds))
    if config.val_fold < 0:
        return every, []
    return [k for k in every if k != config.val_fold], [config.val_fold]


class CompetitionScore(keras.callbacks.Callback):
    """Greedy-decodes the validation fold after each epoch and logs `val_score`, (N − D) / N."""

    def __init__(self, data: tf.data.Dataset):
        super().__init__()
        self.data = data

    def on_epoch_end(self, epoch, logs=None):
        truths, predictions = evaluate(self.model, self.data)
        logs = logs if logs is not None else {}
        logs["val_score"] = metric.score(truths, predictions)
        print(f" — val_score {logs['val_score']:.4f}; e.g. {truths[0]!r} → {predictions[0]!r}")


class EpochSeededDropout(keras.callbacks.Callback):
    """Every random layer's state restarts from (its seed, epoch) when an epoch begins, so a
    resumed run draws the same dropout masks as an unbroken one (BackupAndRestore does not
    restore that state)."""

    def on_epoch_begin(self, epoch, logs=None):
        for layer in self.model._flatten_layers():
            for generator in getattr(layer, "_seed_generators", []):
                seed = generator.state.numpy()[0]
                generator.state.assign(np.array([seed, epoch * 1_000_003], np.int64))


def evaluate(model: keras.Model, data: tf.data.Dataset) -> tuple[list[str], list[str]]:
    truths, predictions = [], []
    for frames, labels in data:
        logits = model(frames, training=False).numpy()
        predictions += metric.decode_batch(logits)
        truths += [schema.decode_indices(row[row >= 0]) for row in labels.numpy()]
    return truths, predictions


def _resumed_epoch(run: Path) -> int:
    """The epoch a backup of a killed run continues from: Keras' BackupAndRestore records the
    number of finished epochs, which is the 0-based index of the next one."""
    state = run / BACKUP / "training_metadata.json"
    return int(json.loads(state.read_text())["epoch"]) if state.exists() else 0


def _schedule(config: Config, steps_per_epoch: int):
    total = max(1, config.epochs * steps_per_epoch)
    warmup = min(int(config.warmup_epochs * steps_per_epoch), total - 1)
    return keras.optimizers.schedules.CosineDecay(
        0.0, decay_steps=total - warmup, warmup_target=config.learning_rate,
        warmup_steps=warmup, alpha=0.02,
    )  # fmt: skip


def train(
    records_dir: str, run: str | Path, config: Config, resume: bool = False, wandb: bool = False,
    strategy: tf.distribute.Strategy | None = None, verbose: int = 1,
    callbacks: list[keras.callbacks.Callback] | None = None,
) -> keras.callbacks.History:  # fmt: skip
    """Train a model into the run folder: config.json, best.weights.h5, history.csv, logs/.
    `callbacks` are extra Keras callbacks (a notebook's plots, early stopping); they run after
    the run's own, so an epoch's checkpoint is written before they see it."""
    extra = list(callbacks or [])
    run = Path(run)
    if (run / BACKUP).exists() and not resume:
        raise FileExistsError(f"{run} already holds a run: pass --resume to continue it, "
                              "or another --out")  # fmt: skip
    run.mkdir(parents=True, exist_ok=True)
    config.save(run / "config.json")
    keras.utils.set_random_seed(config.seed)
    strategy, precision = (strategy, "float32") if strategy else pick_strategy()
    keras.mixed_precision.set_global_policy(precision)
    meta = records.load_metadata(records_dir)
    train_folds, val_folds = training_folds(config)
    usable = sum(meta["usable_per_fold"][str(k)] for k in train_folds)
    steps = usable // config.batch_size
    if steps == 0:
        raise ValueError(f"{usable} training sequences: less than a batch of {config.batch_size}")
    first_epoch = _resumed_epoch(run) if resume else 0
    landmarks = model_landmarks(config.model_landmarks)
    from fingerspell.augment import Augmenter

    augmenter = Augmenter(config.augment, config.max_frames, max_phrase=config.max_phrase)

    def epoch_data(epoch):
        return dataset.make_dataset(
            records_dir, train_folds, config.batch_size, config.max_frames, True, landmarks,
            config.max_phrase, seed=config.seed + epoch, augment=augmenter,
        ).take(steps)  # fmt: skip

    # One pass per epoch, each reshuffled from seed + epoch: a resumed run sees the same data.
    train_data = tf.data.Dataset.range(first_epoch, config.epochs).flat_map(epoch_data)
    callbacks = []
    if val_folds:
        val_data = dataset.make_dataset(records_dir, val_folds, config.batch_size,
                                        config.max_frames, False, landmarks, config.max_phrase)
        callbacks.append(CompetitionScore(val_data))
    monitor, mode = ("val_score", "max") if val_folds else ("loss", "min")
    callbacks += [
        EpochSeededDropout(),
        keras.callbacks.BackupAndRestore(str(run / BACKUP), delete_checkpoint=False),
        keras.callbacks.ModelCheckpoint(str(run / BEST), monitor=monitor, mode=mode,
                                        save_best_only=True, save_weights_only=True),
        keras.callbacks.ModelCheckpoint(str(run / "last.weights.h5"), save_weights_only=True),
        keras.callbacks.CSVLogger(str(run / "history.csv"), append=resume),
        keras.callbacks.TensorBoard(str(run / "logs"), write_graph=False),
    ]  # fmt: skip
    if wandb:
        callbacks.append(_wandb_callback(run, config))
    callbacks += extra
    with strategy.scope():
        model = build_model(config)
        optimizer = keras.optimizers.AdamW(
            _schedule(config, steps), weight_decay=config.weight_decay,
            global_clipnorm=config.clip_norm,
        )  # fmt: skip
        model.compile(optimizer, loss=ctc_loss)
    return model.fit(train_data, epochs=config.epochs, steps_per_epoch=steps,
                     callbacks=callbacks, verbose=verbose)  # fmt: skip


def _wandb_callback(run: Path, config: Config) -> keras.callbacks.Callback:
    """W&B logging, offline unless the user configured a key."""
    import os
    from dataclasses import asdict

    import wandb

    if not os.environ.get("WANDB_API_KEY") and not os.environ.get("WANDB_MODE"):
        os.environ["WANDB_MODE"] = "offline"
    wandb.init(project="fingerspell", dir=str(run), config=asdict(config))
    from wandb.integration.keras import WandbMetricsLogger

    return WandbMetricsLogger()


def load_trained(run: str | Path, weights: str = BEST) -> tuple[keras.Model, Config]:
    """The model of a run folder, rebuilt from its config and loaded with its weights."""
    run = Path(run)
    config = Config.load(run / "config.json")
    keras.mixed_precision.set_global_policy("float32")
    model = build_model(config)
    path = run / weights if (run / weights).exists() else run / "last.weights.h5"
    model.load_weights(str(path))
    return model, config


def sample_predictions(run: str | Path, records_dir: str, n: int = 12):
    """Truth vs greedy-decoded prediction of the first `n` validation sequences of a run."""
    import pandas as pd

    model, config = load_trained(run)
    folds = training_folds(config)[1] or [0]
    landmarks = model_landmarks(config.model_landmarks)
    data = dataset.make_dataset(records_dir, folds, n, config.max_frames, False, landmarks,
                                config.max_phrase)  # fmt: skip
    truths, predictions = evaluate(model, data.take(1))
    table = pd.DataFrame({"truth": truths, "prediction": predictions})
    table["distance"] = [metric.edit_distance(t, p) for t, p in zip(truths, predictions)]
    return table
