"""The tf.data input pipeline: TFRecord folds → static-shape batches for training or evaluation.

Column selection happens here (the records store a superset), augmentations run here for
training only, and every batch has static shapes: frames [B, max_frames, C] padded with NaN
(which the feature layer reads as "nothing detected") and labels [B, max_phrase] padded with -1.
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import tensorflow as tf

from fingerspell import metric, records, schema
from fingerspell.config import Config
from fingerspell.features import LIMIT, model_landmarks
from fingerspell.reader import DataError

PAD_LABEL = -1
# Memory the training shuffle buffer may hold: all of a small dataset, ~4k real sequences.
SHUFFLE_BYTES = 2**30
_TF_SEED_MODULUS = 2**31 - 1  # TensorFlow reduces its seeds modulo this (`seed_shuffles`)
FEATURES = {
    "frames": tf.io.FixedLenFeature([], tf.string),
    "n_frames": tf.io.FixedLenFeature([], tf.int64),
    "n_columns": tf.io.FixedLenFeature([], tf.int64),
    "phrase": tf.io.FixedLenFeature([], tf.string),
    "label": tf.io.VarLenFeature(tf.int64),
    "sequence_id": tf.io.FixedLenFeature([], tf.int64),
    "participant_id": tf.io.FixedLenFeature([], tf.int64),
    "fold": tf.io.FixedLenFeature([], tf.int64),
    "supplemental": tf.io.FixedLenFeature([], tf.int64),
}


def parse_example(serialized) -> dict[str, tf.Tensor]:
    """One example: frames float32 [n_frames, n_columns] exactly as stored, label int32 [L]."""
    example = tf.io.parse_single_example(serialized, FEATURES)
    frames = tf.io.decode_raw(example["frames"], tf.float32)
    example["frames"] = tf.reshape(frames, [example["n_frames"], example["n_columns"]])
    example["label"] = tf.cast(tf.sparse.to_dense(example["label"]), tf.int32)
    return example


def column_positions(stored: list[str], wanted: list[str]) -> list[int]:
    missing = [c for c in wanted if c not in stored]
    if missing:
        raise ValueError(f"records do not store {len(missing)} needed columns, e.g. {missing[:3]}"
                         "; preprocess again with --landmarks all")  # fmt: skip
    position = {c: i for i, c in enumerate(stored)}
    return [position[c] for c in wanted]


def resample_indices(n_frames, max_frames: int):
    """Indices that keep every frame of a short sequence and evenly pick `max_frames` of a long
    one (nearest frame, so NaN never bleeds into neighbours). TensorFlow ops: it runs in tf.data
    and in the exported graph, whatever the Keras backend."""
    n_out = tf.minimum(n_frames, max_frames)
    return tf.math.floordiv(tf.range(n_out) * n_frames, tf.maximum(n_out, 1))


def fit_to_budget(frames, label, max_frames: int, max_phrase: int):
    """Resample long sequences to the frame budget, pad to static shapes."""
    frames = tf.gather(frames, resample_indices(tf.shape(frames)[0], max_frames))
    pad = max_frames - tf.shape(frames)[0]
    frames = tf.pad(frames, [[0, pad], [0, 0]], constant_values=float("nan"))
    label = label[:max_phrase]
    label = tf.pad(label, [[0, max_phrase - tf.shape(label)[0]]], constant_values=PAD_LABEL)
    return tf.ensure_shape(frames, [max_frames, None]), tf.ensure_shape(label, [max_phrase])


def ctc_feasible(n_frames, label):
    """1.0 where CTC can align the label to `n_frames` frames that saw something: one frame per
    character plus a blank between each repeated pair; else 0.0 (the example's loss weight)."""
    length = tf.shape(label)[0]
    repeats = tf.reduce_sum(tf.cast(label[1:] == label[:-1], tf.int32))
    return tf.cast(n_frames >= length + repeats, tf.float32)


def shuffle_buffer(meta: dict, folds: list[int]) -> int:
    """Examples the training shuffle holds: every sequence of the folds, as far as SHUFFLE_BYTES
    allows (each file's examples arrive together, so a short buffer barely mixes them)."""
    sequences = sum(meta["usable_per_fold"][str(k)] for k in folds)
    per_sequence = meta["bytes"] / max(meta["written"], 1)
    return int(max(1, min(sequences, SHUFFLE_BYTES // max(per_sequence, 1))))


def _examples(files: list[str], positions: list[int], buffer: int, seed: int,
              deterministic: bool) -> tf.data.Dataset:  # fmt: skip
    """(frames of the wanted columns, label, sequence_id) per example; shuffled through a buffer
    of `buffer` examples when training (buffer > 0), where sequences with fewer frames than
    characters are dropped (CTC cannot align them)."""
    training = buffer > 0
    dataset = tf.data.Dataset.from_tensor_slices(files)
    if training:
        dataset = dataset.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.interleave(
        lambda f: tf.data.TFRecordDataset(f, compression_type="GZIP"),
        cycle_length=min(len(files), 8),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=deterministic,
    )
    if training:
        dataset = dataset.shuffle(buffer, seed=seed, reshuffle_each_iteration=True)

    def select(serialized):
        example = parse_example(serialized)
        frames = tf.gather(example["frames"], positions, axis=1)
        return frames, example["label"], example["sequence_id"]

    dataset = dataset.map(select, num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)
    if training:
        dataset = dataset.filter(lambda f, label, i: tf.shape(f)[0] >= tf.shape(label)[0])
    return dataset


def make_dataset(
    records_dir: str,
    folds: list[int],
    batch_size: int,
    max_frames: int,
    training: bool,
    landmarks: list[int],
    max_phrase: int = 64,
    seed: int = 0,
    augment=None,
    deterministic: bool = True,
    part: tuple[int, int] = (0, 1),
) -> tf.data.Dataset:
    """Training: batches of (frames, labels, loss weights); evaluation: (frames, labels,
    sequence_ids).

    Training: both splits (competition and supplemental), shuffled files and examples, sequences
    with fewer frames than characters dropped (CTC cannot align them; their count is in
    metadata.json), `augment(frames, label, seed)` applied, incomplete last batch dropped; the
    weight is 0 for an example CTC cannot align within its real frames after augmentation and
    resampling (`ctc_feasible`), else 1. Evaluation: the competition split only, every sequence
    once, in a fixed order; the last batch is padded to full size with empty rows of sequence
    id -1, so every batch has the same static shape and splits evenly over the devices.
    Deterministic by default (same seed, same batches: reproducible and exactly resumable);
    `deterministic=False` trades that for a little speed.

    `part` = (index, count): training batches for process `index` of `count`, each holding its
    `batch_size` rows of a global batch of `count × batch_size`. Every process reads the whole
    stream (decompressing and parsing are cheap) but augments only its own rows, each from its
    place in the global stream: the global batches are the ones a single process would make."""
    meta = records.load_metadata(records_dir)
    positions = column_positions(meta["columns"], schema.columns_for(landmarks))
    files = records.record_files(records_dir, folds, supplemental=training)
    options = tf.data.Options()
    options.deterministic = deterministic
    buffer = shuffle_buffer(meta, folds) if training else 0
    dataset = _examples(files, positions, buffer, seed, deterministic)
    if training:
        dataset = _this_part(dataset, files, positions, buffer, seed, deterministic, augment,
                             batch_size, part)  # fmt: skip

    def fit(frames, label, sequence_id):
        frames, label = fit_to_budget(frames, label, max_frames, max_phrase)
        # Frames where nothing was detected are padding to the model (it predicts blank there).
        real = tf.reduce_sum(tf.cast(tf.reduce_any(tf.abs(frames) < LIMIT, axis=1), tf.int32))
        weight = ctc_feasible(real, tf.boolean_mask(label, label >= 0))
        frames = tf.ensure_shape(frames, [max_frames, len(positions)])
        return (frames, label, weight) if training else (frames, label, sequence_id)

    dataset = dataset.map(fit, num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)
    dataset = dataset.batch(batch_size, drop_remainder=training)
    if not training:
        dataset = dataset.map(lambda *batch: _pad_batch(batch, batch_size))
        # Its length is known: Keras then ends `predict` by count, not on running out of data.
        sequences = sum(meta["per_fold"][str(k)] for k in folds)
        length = tf.data.experimental.assert_cardinality(-(-sequences // batch_size))
        dataset = dataset.apply(length)
    return dataset.prefetch(tf.data.AUTOTUNE).with_options(options)


def _this_part(examples: tf.data.Dataset, files: list[str], positions: list[int], buffer: int,
               seed: int, deterministic: bool, augment, batch_size: int,
               part: tuple[int, int]) -> tf.data.Dataset:  # fmt: skip
    """A training stream's examples for this process's rows of every global batch (`part`),
    augmented with seeds from their place n in the global stream."""
    index, count = part
    seed64 = tf.cast(seed, tf.int64)
    mixes = augment is not None and augment.mixes
    if mixes:  # partners: a second, differently shuffled pass over the files
        partners = _examples(files, positions, buffer, seed + 1, deterministic)
        examples = tf.data.Dataset.zip(examples, partners.repeat())
    numbered = examples.enumerate()
    if count > 1:
        numbered = numbered.filter(lambda n, item: (n // batch_size) % count == index)
    if mixes:

        def mix(n, pair):  # CutMix, then concat, each from its own stream
            first = augment.cutmix(*pair, tf.stack([seed64 + 2, n]))
            return n, augment.concat(first, pair[1], tf.stack([seed64 + 1, n]))

        numbered = numbered.map(mix, num_parallel_calls=tf.data.AUTOTUNE,
                                deterministic=deterministic)  # fmt: skip
    if augment is None:
        return numbered.map(lambda n, item: item)
    return numbered.map(
        lambda n, item: (*augment(item[0], item[1], tf.stack([seed64, n])), item[2]),
        num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic,
    )  # fmt: skip


def _pad_batch(batch, batch_size: int):
    """(frames, labels, ids) of a short batch → full size: NaN frames, -1 labels, id -1."""
    frames, labels, ids = batch
    missing = batch_size - tf.shape(frames)[0]
    frames = tf.pad(frames, [[0, missing], [0, 0], [0, 0]], constant_values=float("nan"))
    labels = tf.pad(labels, [[0, missing], [0, 0]], constant_values=PAD_LABEL)
    ids = tf.pad(ids, [[0, missing]], constant_values=-1)
    return (tf.ensure_shape(frames, [batch_size, *frames.shape[1:]]),
            tf.ensure_shape(labels, [batch_size, labels.shape[1]]),
            tf.ensure_shape(ids, [batch_size]))  # fmt: skip


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


def with_fallback(records_dir: str, meta: dict, config: Config, speaks: bool = True) -> Config:
    """The config with the answer to an empty decode decided: its own if it names one, else the
    phrase nearest to every written phrase of the training folds (`metric.nearest_to_all`), or
    `schema.FALLBACK` for records that kept no phrases."""
    if config.fallback is not None:
        return config
    table = records.load_folds(records_dir)
    if "phrase" not in table:
        if speaks:
            print("these records keep no phrases (made by an older fingerspell): an empty decode "
                  f"answers {schema.FALLBACK!r}; preprocess again to answer the training phrases' "
                  "nearest")  # fmt: skip
        return replace(config, fallback=schema.FALLBACK)
    train_folds, _ = training_folds(meta, config)
    rejected = set(records.load_rejects(records_dir).sequence_id)
    kept = table[table.fold.isin(train_folds) & ~table.sequence_id.isin(rejected)]
    return replace(config, fallback=metric.nearest_to_all(kept.phrase.tolist()))


def make_augmenter(config: Config, alignments: pd.DataFrame | None = None):
    """The run's augmenter; CutMix (`config.augment.cutmix`) needs `alignments`
    (`records.load_alignments`) and is off without them."""
    from fingerspell.augment import Augmenter

    landmarks = model_landmarks(config.model_landmarks)
    return Augmenter(config.augment, config.max_frames, landmarks, config.max_phrase, alignments)


def seed_shuffles(seed: int) -> None:
    """Seeds TensorFlow where `keras.utils.set_random_seed(seed)` left a global seed it reads
    as 0. tf.data pairs that seed with each shuffle's own and compares the pair with (0, 0) in
    Python, which raises for `training_batches`' per-epoch seeds (tensors inside the epochs'
    `flat_map`): `train --seed 0` stopped there. Those seeds get 2³¹ − 2 instead; any other is
    left as Keras set it, so its runs keep their data order."""
    if seed % _TF_SEED_MODULUS == 0:
        tf.random.set_seed(_TF_SEED_MODULUS - 1)


def training_batches(records_dir: str, folds: list[int], config: Config, epoch: int, hardware,
                     augmenter) -> tf.data.Dataset:  # fmt: skip
    """One epoch of this process's training batches: its rows of each global batch (every local
    device's per-device batch; `make_dataset`'s `part`), reshuffled and augmented from seed +
    epoch (so a resumed run sees the same data). `hardware`: a `devices.Hardware`."""
    landmarks = model_landmarks(config.model_landmarks)
    return make_dataset(
        records_dir, folds, config.batch_size * hardware.local_devices, config.max_frames, True,
        landmarks, config.max_phrase, seed=config.seed + epoch, augment=augmenter,
        part=(hardware.process_index, hardware.processes),
    )  # fmt: skip
