"""Stage 2b: where each label character is in its frames, from a trained run's CTC posteriors.

A forced alignment of the label to the model's per-frame log-probabilities (the
`ctc-segmentation` package, the alignment used by ESPnet and torchaudio's tutorials) gives the
frame at which the best CTC path first emits each character. Characters own the frames between
the midpoints of their neighbours' emissions: the spans temporal CutMix (`augment`) cuts at.

Two places hold alignments, one parquet file per records file, each written whole, read by
`records.load_alignments`: `RECORDS/alignments/` (the `align` command, from a finished run's
best weights) and `RUN/alignments/` (`train` itself, when CutMix starts: the records may be
read-only). A rerun keeps finished files and refuses a folder aligned with other weights.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import time

import numpy as np
import pandas as pd
import tensorflow as tf
from tqdm.auto import tqdm

from fingerspell import dataset, records, schema, storage
from fingerspell.features import model_landmarks
from fingerspell.reader import DataError
from fingerspell.records import ALIGNMENTS
from fingerspell.runs import LAST, load_trained, weights_file

OPTIONS = "options.json"
FINISHED = "finished.json"  # what `align_run` aligned: written last, so its presence means whole
COLUMNS = ["sequence_id", "position", "frame", "start", "end", "log_prob"]


def align(run: str, records_dir: str, batch_size: int = 32) -> dict:
    """Align every sequence of the records (all folds, both splits) with the run's best weights
    into RECORDS/alignments. Sequences with more characters than frames cannot be aligned:
    counted, not written."""
    require_ctc_segmentation()
    model, config = load_trained(run)
    folds = list(range(records.load_metadata(records_dir)["folds"]))
    return _align_files(model, config, records_dir, folds, storage.join(records_dir, ALIGNMENTS),
                        _options(weights_file(run), config), batch_size)  # fmt: skip


def align_run(run: str, records_dir: str, folds: list[int], batch_size: int = 32) -> dict:
    """What `train` does when CutMix starts: align the training folds with the run's last
    weights (the averaged ones where the run averages: what it validates) into RUN/alignments,
    then mark them finished. A run stopped while aligning continues where it stopped."""
    folder = storage.join(run, ALIGNMENTS)
    if is_finished(run):
        return json.loads(storage.read_text(storage.join(folder, FINISHED)))
    require_ctc_segmentation()
    model, config = load_trained(run, LAST)
    done = _align_files(model, config, records_dir, folds, folder,
                        _options(storage.join(run, LAST), config), batch_size)  # fmt: skip
    storage.write_text(storage.join(folder, FINISHED), json.dumps(done, indent=2))
    return done


def is_finished(run: str) -> bool:
    """Whether `align_run` finished the run's alignments."""
    return storage.exists(storage.join(run, ALIGNMENTS, FINISHED))


def require_ctc_segmentation() -> None:
    if importlib.util.find_spec("ctc_segmentation") is None:
        raise ModuleNotFoundError("aligning needs ctc-segmentation, a dependency of fingerspell "
                                  "that builds with a C compiler: pip install ctc-segmentation")


def _align_files(model, config, records_dir: str, folds: list[int], folder: str, options: dict,
                 batch_size: int) -> dict:  # fmt: skip
    started = time.perf_counter()
    _claim(folder, options)
    meta = records.load_metadata(records_dir)
    positions = dataset.column_positions(meta["columns"],
                                         schema.columns_for(model_landmarks(config.model_landmarks)))
    done = {"aligned": 0, "unaligned": 0, "kept": 0}
    for path in tqdm(records.record_files(records_dir, folds), desc="align", unit="file"):
        target = storage.join(folder, f"{storage.name(path)}.parquet")
        if storage.exists(target):
            done["kept"] += 1
            continue
        table, unaligned = _align_file(model, path, positions, config.max_frames, batch_size)
        storage.write_bytes(target, table.to_parquet(index=False))
        done["aligned"] += table.sequence_id.nunique()
        done["unaligned"] += unaligned
    return done | {"seconds": round(time.perf_counter() - started, 1)}


def _options(weights: str, config) -> dict:
    return {"weights_sha256": hashlib.sha256(storage.read_bytes(weights)).hexdigest(),
            "max_frames": config.max_frames, "model_landmarks": config.model_landmarks}


def _claim(folder: str, options: dict) -> None:
    """Mark the folder as this run's alignment; refuse one made by other weights or settings."""
    path = storage.join(folder, OPTIONS)
    if storage.exists(path):
        before = json.loads(storage.read_text(path))
        if before != options:
            raise DataError(f"{folder} was aligned with other weights or settings ({before}); "
                            "delete it to align again with this run")  # fmt: skip
        return
    storage.makedirs(folder)
    storage.write_text(path, json.dumps(options, indent=2))


def _examples(path: str, positions: list[int], max_frames: int) -> tf.data.Dataset:
    """(frames fitted to the budget, label, sequence id, stored frame count) of one file."""

    def select(serialized):
        example = dataset.parse_example(serialized)
        frames = tf.gather(example["frames"], positions, axis=1)
        fitted, _ = dataset.fit_to_budget(frames, example["label"][:1], max_frames, 1)
        return fitted, example["label"], example["sequence_id"], tf.shape(frames)[0]

    return tf.data.TFRecordDataset(path, compression_type="GZIP").map(select)


def _align_file(model, path: str, positions: list[int], max_frames: int,
                batch_size: int) -> tuple[pd.DataFrame, int]:  # fmt: skip
    rows, unaligned = [], 0
    pads = (tf.constant(np.nan, tf.float32), tf.constant(-1, tf.int32),
            tf.constant(0, tf.int64), tf.constant(0, tf.int32))  # fmt: skip
    examples = _examples(path, positions, max_frames).padded_batch(batch_size, padding_values=pads)
    for frames, labels, ids, lengths in examples.as_numpy_iterator():
        logits = model.predict_on_batch(frames)
        log_probs = np.asarray(tf.nn.log_softmax(np.asarray(logits, np.float32)))
        for row, label, sequence_id, n in zip(log_probs, labels, ids, lengths):
            label = label[label >= 0]
            stored = dataset.resample_indices(tf.constant(n), max_frames).numpy()
            spans = character_spans(row[: len(stored)], label)
            if spans is None:
                unaligned += 1
                continue
            frame, start, log_prob = spans
            # Model frames → frames of the stored sequence (the budget resamples long ones).
            start, end = stored[start], np.append(stored[start[1:]], n)
            rows.append(pd.DataFrame({"sequence_id": sequence_id, "position": np.arange(len(label)),
                                      "frame": stored[frame], "start": start, "end": end,
                                      "log_prob": log_prob}))  # fmt: skip
    table = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=COLUMNS)
    return table.astype({"sequence_id": "int64", "position": "int16", "frame": "int32",
                         "start": "int32", "end": "int32", "log_prob": "float32"}), unaligned


def character_spans(log_probs: np.ndarray, label: np.ndarray):
    """(emission frame, first frame, log-probability at emission) of each label character, or
    None where the label and a blank around each character do not fit the frames; a character's
    frames end where the next one's begin (the last at T). Log-probabilities [T, classes], the
    blank last (the model's head)."""
    from ctc_segmentation import CtcSegmentationParameters, ctc_segmentation, prepare_token_list

    if len(label) == 0:
        return None
    parameters = CtcSegmentationParameters(blank=schema.BLANK, index_duration=1.0,
                                           char_list=[*schema.index_to_char().values(), "·"])
    # One "utterance" a character: a blank between each, so repeated letters stay apart.
    truth, begins = prepare_token_list(parameters, [np.array([c]) for c in label])
    if len(truth) > len(log_probs):  # a frame for its start state, each character and blank
        return None
    timings, emitted, _ = ctc_segmentation(parameters, log_probs.astype(np.float32), truth)
    frame = np.rint(timings[np.array(begins[:-1]) + 1]).astype(int)
    # A character owns the frames from the midpoint with its predecessor to the next midpoint.
    start = np.concatenate([[0], (frame[1:] + frame[:-1] + 1) // 2])
    return frame, start, emitted[frame]
