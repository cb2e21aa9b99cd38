"""`align`: each label character's frames from a run's CTC posteriors (ctc-segmentation)."""

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fingerspell import align, dataset, records, runs, schema
from fingerspell.config import Config
from fingerspell.model import N_CLASSES
from fingerspell.reader import DataError


def _posteriors(frames: int, emissions: dict[int, int]) -> np.ndarray:
    """Log-probabilities [frames, classes]: blank everywhere, character c at frame f."""
    probabilities = np.full((frames, N_CLASSES), 1e-4)
    probabilities[:, schema.BLANK] = 1.0
    for frame, character in emissions.items():
        probabilities[frame] = 1e-4
        probabilities[frame, character] = 1.0
    return np.log(probabilities / probabilities.sum(1, keepdims=True))


def test_each_character_is_placed_where_the_posteriors_emit_it():
    label = np.array([3, 7, 7, 2])  # a double letter: a blank must part its two emissions
    frames = [5, 12, 18, 25]
    frame, start, log_prob = align.character_spans(
        _posteriors(30, dict(zip(frames, label))), label)  # fmt: skip
    assert frame.tolist() == frames
    assert start.tolist() == [0, 9, 15, 22]  # the midpoints between emissions
    assert (log_prob > np.log(0.5)).all()
    # Emissions elsewhere move the alignment with them.
    moved, _, _ = align.character_spans(_posteriors(30, dict(zip([2, 8, 20, 27], label))), label)
    assert moved.tolist() == [2, 8, 20, 27]
    # Four characters, the blanks around them and ctc-segmentation's start state: 10 frames.
    assert align.character_spans(_posteriors(9, dict(zip([1, 3, 5, 7], label))), label) is None
    assert align.character_spans(_posteriors(10, dict(zip([2, 4, 6, 8], label))), label) is not None


@pytest.fixture(scope="module")
def aligned(reading_dir, tmp_path_factory) -> tuple[Path, dict]:
    """A copy of the reading run's records, aligned by its run (the command: test_cli), and what
    `align` answered; read-only for tests."""
    records_dir = tmp_path_factory.mktemp("aligned") / "records"
    shutil.copytree(reading_dir / "records", records_dir)
    return records_dir, align.align(str(reading_dir / "run"), str(records_dir))


def test_align_covers_every_sequence_resumes_and_refuses_other_weights(aligned, reading_dir,
                                                                       tmp_path):  # fmt: skip
    records_dir, done = aligned
    table = records.load_alignments(str(records_dir))
    meta = records.load_metadata(str(records_dir))
    frames, chars = records.sequence_lengths(str(records_dir))
    unaligned = done["unaligned"]
    assert table.sequence_id.nunique() == done["aligned"] == meta["written"] - unaligned
    assert len(table) <= chars.sum() and (unaligned > 0 or len(table) == chars.sum())
    for _, spans in table.groupby("sequence_id"):
        assert spans.position.tolist() == list(range(len(spans)))
        assert spans.start.iloc[0] == 0 and (np.diff(spans.start) >= 0).all()
        assert (spans.start.to_numpy()[1:] == spans.end.to_numpy()[:-1]).all()
        assert ((spans.frame >= spans.start) & (spans.frame <= spans.end)).all()
    assert table.end.max() <= frames.max()

    written = {p: p.read_bytes() for p in (records_dir / records.ALIGNMENTS).glob("*.parquet")}
    again = align.align(str(reading_dir / "run"), str(records_dir))
    assert (again["aligned"], again["kept"]) == (0, len(written))
    assert all(p.read_bytes() == data for p, data in written.items())

    # Training reads the spans: with CutMix always on, phrases no sequence has appear.
    from fingerspell.config import Augmentation, Config
    from fingerspell.features import model_landmarks

    config = Config(max_frames=64, augment=Augmentation(**{**vars(Augmentation()), "cutmix": 1.0}))
    augmenter = dataset.make_augmenter(config, records.load_alignments(str(records_dir)))
    assert augmenter.cutmixes
    data = dataset.make_dataset(str(records_dir), [1, 2, 3], 16, 64, True,
                                model_landmarks("model"), seed=1, augment=augmenter)  # fmt: skip
    phrases = set(pd.read_csv(reading_dir / "data" / "train.csv").phrase)
    labels = [schema.decode_indices(row) for _, batch, _ in data.take(2) for row in batch]
    assert sum(label not in phrases for label in labels) > len(labels) // 2

    other = tmp_path / "other"
    shutil.copytree(reading_dir / "run", other)
    model, _ = runs.load_trained(other)
    model.trainable_variables[0].assign(model.trainable_variables[0] + 1e-3)
    model.save_weights(other / runs.BEST)
    with pytest.raises(DataError, match="aligned with other weights"):
        align.align(str(other), str(records_dir))


def test_a_reading_runs_spans_hold_the_frames_each_character_was_signed_in(aligned, reading_dir):
    """Against the generator's truth (`letter_frames`: from where the hand starts towards each
    character to where the next one starts), the frame where a run that reads places each
    character lies within that character's own frames more often than splitting the sequence
    evenly would place it, in sequences shorter and longer than the run's frame budget (for
    these, in model frames: 6 % of the time)."""
    from fingerspell.synthetic import generator

    records_dir, _ = aligned
    table = records.load_alignments(str(records_dir))
    truth = generator.letter_frames(reading_dir / "data")
    spans = table.merge(truth, on=["sequence_id", "position"], suffixes=("", "_true"))
    assert len(spans) == len(table) > 1000
    lengths = spans.sequence_id.map(_stored_lengths(records_dir))
    characters = spans.groupby("sequence_id").position.transform("size")
    even = ((spans.position + 0.5) * lengths / characters).astype(int)  # evenly split

    def inside(frame):
        return (frame >= spans.start_true) & (frame < spans.end_true)

    long = lengths > Config.load(reading_dir / "run" / runs.CONFIG).max_frames
    assert long.mean() > 0.5 and (~long).sum() > 50
    shares = inside(spans.frame)[long].mean(), inside(spans.frame)[~long].mean()
    assert shares[0] > 0.4 and shares[1] > 0.7, shares  # measured 0.54 and 0.89
    assert inside(spans.frame).mean() > inside(even).mean()  # 0.54 > 0.48


@pytest.mark.parametrize("seed", range(3))
def test_cutmix_swaps_aligned_runs_of_characters_and_the_label_follows(seed):
    """Frames marked with (sequence, character): the output is the first sequence's characters
    before and after a run, the second's run in between, cut at the aligned boundaries, and
    the label says the same."""
    import tensorflow as tf

    from fingerspell.augment import Augmenter
    from fingerspell.config import Augmentation

    def sequence(sequence_id, lengths):
        starts = np.cumsum([0, *lengths[:-1]])
        marks = np.concatenate([[sequence_id * 100 + i] * n for i, n in enumerate(lengths)])
        frames = np.repeat(marks[:, None], 3, 1).astype(np.float32)
        spans = pd.DataFrame({"sequence_id": sequence_id, "position": range(len(lengths)),
                              "start": starts})  # fmt: skip
        return frames, spans

    first, spans1 = sequence(1, [3, 4, 2, 5, 3, 4])
    second, spans2 = sequence(2, [2, 6, 3, 2, 4])
    label1, label2 = np.arange(10, 16, dtype=np.int32), np.arange(30, 35, dtype=np.int32)
    table = pd.concat([spans1, spans2])
    augmenter = Augmenter(Augmentation(cutmix=1.0), 160, [0], alignments=table)
    mixed_runs = 0
    for n in range(30):
        frames, label, sequence_id = augmenter.cutmix(
            (tf.constant(first), tf.constant(label1), tf.constant(1, tf.int64)),
            (tf.constant(second), tf.constant(label2), tf.constant(2, tf.int64)),
            tf.constant([seed, n], tf.int64))  # fmt: skip
        marks = frames.numpy()[:, 0].astype(int)
        # One mark a character, in order of appearance: they are the label's characters.
        characters = [m for i, m in enumerate(marks) if i == 0 or m != marks[i - 1]]
        expected = [10 + m % 100 if m < 200 else 30 + m % 100 for m in characters]
        assert label.numpy().tolist() == expected
        assert int(sequence_id) == 1
        from_second = [m for m in characters if m >= 200]
        assert from_second and from_second == list(range(from_second[0], from_second[-1] + 1))
        assert 1 <= len(from_second) <= len(label2) // 2
        kept = [m for m in characters if m < 200]
        assert len(kept) >= len(label1) - len(label1) // 2
        mixed_runs += len(set(characters)) != len(label1)
        # Each character keeps all its frames.
        for m in characters:
            lengths = [3, 4, 2, 5, 3, 4] if m < 200 else [2, 6, 3, 2, 4]
            assert (marks == m).sum() == lengths[m % 100]
    assert mixed_runs > 0

    # A partner without an alignment, or a phrase over the budget: the first is kept.
    alone = Augmenter(Augmentation(cutmix=1.0), 160, [0], alignments=spans1)
    frames, label, _ = alone.cutmix((tf.constant(first), tf.constant(label1), tf.constant(1)),
                                    (tf.constant(second), tf.constant(label2), tf.constant(2)),
                                    tf.constant([seed, 0], tf.int64))  # fmt: skip
    assert label.numpy().tolist() == label1.tolist()
    tight = Augmenter(Augmentation(cutmix=1.0), 160, [0], max_phrase=6, alignments=table)
    for n in range(10):
        _, label, _ = tight.cutmix((tf.constant(first), tf.constant(label1), tf.constant(1)),
                                   (tf.constant(second), tf.constant(label2), tf.constant(2)),
                                   tf.constant([seed, n], tf.int64))  # fmt: skip
        assert len(label.numpy()) <= 6


class _LateEmitter:
    """Posteriors with a known answer: every model frame before `quiet` is blank, and from
    there on any character is as likely as the blank. A forced alignment can only place the
    label's characters at model frames ≥ `quiet`. (A trained model's posteriors have no known
    answer; the records and the alignment around it are the real ones.)"""

    def __init__(self, quiet: int):
        self.quiet = quiet

    def predict_on_batch(self, frames):
        logits = np.zeros((*frames.shape[:2], N_CLASSES), np.float32)
        logits[:, : self.quiet, :] = -20.0
        logits[:, : self.quiet, schema.BLANK] = 0.0
        return logits


def test_spans_land_in_the_stored_frames_of_sequences_longer_than_the_budget(
        reading_dir, tmp_path, monkeypatch):  # fmt: skip
    """Sequences longer than `max_frames` reach the model resampled to it; their spans must be
    in frames of the stored sequence: a character the model emits at model frame t ≥ 16 sits
    at stored frame ≥ the one model frame 16 came from (32 and more for the 195-frame ones),
    and the last span ends at the sequence's end."""
    import tensorflow as tf

    records_dir = tmp_path / "records"
    shutil.copytree(reading_dir / "records", records_dir)
    config = Config.load(reading_dir / "run" / runs.CONFIG)
    config = Config(**{**vars(config), "max_frames": 96})
    monkeypatch.setattr(align, "load_trained", lambda run: (_LateEmitter(16), config))
    done = align.align(str(reading_dir / "run"), str(records_dir))
    table = records.load_alignments(str(records_dir))
    lengths = _stored_lengths(records_dir)
    long = 0
    for sequence_id, spans in table.groupby("sequence_id"):
        n = lengths[sequence_id]
        model_frames = dataset.resample_indices(tf.constant(n), 96).numpy()
        # Only where every character and a blank after it fit after model frame 16 (the
        # aligner's token list); in a shorter one the first characters must sit earlier.
        if len(model_frames) - 16 >= 2 * len(spans):
            assert spans.frame.min() >= model_frames[16], (sequence_id, n)
        assert spans.end.iloc[-1] == n and spans.frame.max() < n
        long += n >= 192
    assert done["aligned"] == table.sequence_id.nunique() and long >= 10


def _stored_lengths(records_dir) -> dict[int, int]:
    import tensorflow as tf

    lengths = {}
    folds = list(range(records.load_metadata(str(records_dir))["folds"]))
    for path in records.record_files(str(records_dir), folds):
        for serialized in tf.data.TFRecordDataset(path, compression_type="GZIP"):
            example = dataset.parse_example(serialized)
            lengths[int(example["sequence_id"])] = int(tf.shape(example["frames"])[0])
    return lengths
