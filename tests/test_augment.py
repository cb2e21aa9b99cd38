"""Training-only augmentations: valid shapes and labels, real hand swaps, reproducible seeds."""

import numpy as np
import pytest
import tensorflow as tf

from fingerspell import dataset, reader, records, schema
from fingerspell.augment import Augmenter
from fingerspell.config import Augmentation
from fingerspell.features import model_landmarks
from tests.test_features import COLUMNS, mirrored_by_name

ALL_ON = Augmentation(flip=1, rotate=1, shear=1, scale=1, shift=1, time_stretch=1,
                      frame_mask=1, finger_drop=1, concat=1)  # fmt: skip
NONE = Augmentation(**{name: 0.0 for name in vars(Augmentation())})


@pytest.fixture(scope="module")
def sequences(synth_dir):
    return [s for _, s in zip(range(8), reader.iter_sequences(synth_dir, COLUMNS))]


def _label(sequence):
    return tf.constant(schema.encode_phrase(sequence.phrase), tf.int32)


def test_flip_swaps_hands_and_mirrors_x(sequences):
    only_flip = Augmentation(**{**vars(NONE), "flip": 1.0})
    augmenter = Augmenter(only_flip, max_frames=160)
    for sequence in sequences[:3]:
        frames, _ = augmenter(tf.constant(sequence.frames), _label(sequence), [1, 2])
        np.testing.assert_allclose(frames.numpy(), mirrored_by_name(sequence.frames), atol=1e-6)


def test_every_augmentation_keeps_shapes_and_labels_valid(sequences):
    augmenter = Augmenter(ALL_ON, max_frames=160)
    for n, sequence in enumerate(sequences):
        label = _label(sequence)
        frames, new_label = augmenter(tf.constant(sequence.frames), label, [3, n])
        assert frames.shape[1] == len(COLUMNS)
        assert frames.shape[0] >= len(sequence.phrase)  # CTC can still align it
        np.testing.assert_array_equal(new_label.numpy(), label.numpy())
        values = frames.numpy()
        assert np.isfinite(values[~np.isnan(values)]).all()
        # Nothing undetected is invented: stretching resamples, never fills gaps.
        assert np.isnan(values).mean() >= 0.5 * np.isnan(sequence.frames).mean()


def test_same_seed_same_augmentation(sequences):
    augmenter = Augmenter(ALL_ON, max_frames=160)
    frames, label = tf.constant(sequences[0].frames), _label(sequences[0])
    a = augmenter(frames, label, [5, 9])[0].numpy()
    b = augmenter(frames, label, [5, 9])[0].numpy()
    c = augmenter(frames, label, [5, 10])[0].numpy()
    np.testing.assert_array_equal(a, b)
    assert a.shape != c.shape or not np.array_equal(a, c, equal_nan=True)


def test_concat_joins_frames_and_phrases(sequences):
    first, second = sequences[0], sequences[1]
    items = [(tf.constant(s.frames), _label(s), tf.constant(s.sequence_id))
             for s in (first, second)]  # fmt: skip
    frames, label, sequence_id = Augmenter(ALL_ON, 160).concat(*items, [0, 0])
    assert schema.decode_indices(label.numpy()) == first.phrase + second.phrase
    assert frames.shape[0] == len(first.frames) + len(second.frames)
    assert int(sequence_id) == first.sequence_id
    too_long = Augmenter(ALL_ON, 160, max_phrase=len(first.phrase) + len(second.phrase) - 1)
    frames, label, _ = too_long.concat(*items, [0, 0])
    assert schema.decode_indices(label.numpy()) == first.phrase


def test_concat_in_the_pipeline_lengthens_phrases(synth_dir, tmp_path):
    records.preprocess(synth_dir, str(tmp_path), folds=2)
    landmarks = model_landmarks("model")

    def mean_length(probabilities):
        data = dataset.make_dataset(str(tmp_path), [0, 1], 8, 96, True, landmarks,
                                    augment=Augmenter(probabilities, 96))  # fmt: skip
        lengths = []
        for frames, labels in data.take(5):
            assert frames.shape == (8, 96, len(COLUMNS)) and labels.shape == (8, 64)
            for row in labels.numpy():
                n = int((row >= 0).sum())
                assert (row[:n] < schema.N_CHARS).all() and (row[n:] == -1).all()
                lengths.append(n)
        return np.mean(lengths)

    assert mean_length(Augmentation(**{**vars(NONE), "concat": 1.0})) > 1.5 * mean_length(NONE)
