"""Training-only augmentations: independent draws, valid shapes and labels, anchors kept, every
knob changing what the model sees, reproducible seeds."""

import numpy as np
import pytest
import tensorflow as tf

from fingerspell import dataset, reader, records, schema
from fingerspell.augment import Augmenter
from fingerspell.config import Augmentation
from fingerspell.features import LandmarkFeatures, model_landmarks
from tests.test_features import COLUMNS, LANDMARKS, _columns_of, _right_handed

ALL_ON = Augmentation(**{name: 1.0 for name in vars(Augmentation())})
NONE = Augmentation(**{name: 0.0 for name in vars(Augmentation())})


def only(name: str, landmarks=LANDMARKS, max_phrase: int = 64) -> Augmenter:
    """An augmenter that applies just one transform, always."""
    return Augmenter(Augmentation(**{**vars(NONE), name: 1.0}), 160, landmarks, max_phrase)


@pytest.fixture(scope="module")
def sequences(synth_dir):
    return [s for _, s in zip(range(8), reader.iter_sequences(synth_dir, COLUMNS))]


def _label(sequence):
    return tf.constant(schema.encode_phrase(sequence.phrase), tf.int32)


def test_every_transform_draws_its_own_parameters(sequences):
    """Over 120 seeds, the parameters read back from each transform's output (scale factor,
    shear, time-stretch length, dropped landmarks, the turn of a segment in the image plane,
    masked frames) are uncorrelated."""
    frames = tf.constant(sequences[0].frames[:40])
    label = _label(sequences[0])[:3]
    x = np.asarray(frames)[:, 0]
    point = np.flatnonzero(np.isfinite(x) & (np.abs(x - 0.5) > 0.05))[0]
    y = np.asarray(frames)[:, len(COLUMNS) // 3]
    row = np.asarray(frames)[point, : len(COLUMNS) // 3]  # x of every landmark in that frame
    other = np.flatnonzero(np.isfinite(row) & (np.abs(row - row[0]) > 0.05))[0]
    draws = {"scale": [], "shear": [], "time_stretch": [], "finger_drop": [], "rotate": [],
             "frame_mask": []}  # fmt: skip
    for n in range(120):
        seed = [11, n]
        out = {name: only(name)(frames, label, seed)[0].numpy() for name in draws}
        draws["scale"].append((out["scale"][point, 0] - 0.5) / (x[point] - 0.5))
        draws["shear"].append((out["shear"][point, 0] - x[point]) / (y[point] - 0.5))
        draws["time_stretch"].append(len(out["time_stretch"]))
        draws["finger_drop"].append(np.isnan(out["finger_drop"]).all(0).sum())
        draws["rotate"].append(_turn(np.asarray(frames), out["rotate"], point, 0, other))
        draws["frame_mask"].append(np.isnan(out["frame_mask"]).all(1).sum())
    correlation = np.corrcoef(np.array(list(draws.values()), float))
    off_diagonal = np.abs(correlation[~np.eye(len(draws), dtype=bool)])
    assert off_diagonal.max() < 0.25, dict(zip(draws, correlation.round(2).tolist()))


def _turn(before: np.ndarray, after: np.ndarray, frame: int, a: int, b: int) -> float:
    """How far the segment between landmarks a and b of one frame turned in the image plane
    (isotropic units)."""
    k = before.shape[1] // 3

    def angle(frames):
        dx = (frames[frame, b] - frames[frame, a]) * schema.ASPECT
        return np.arctan2(frames[frame, k + b] - frames[frame, k + a], dx)

    return float(angle(after) - angle(before))


class GateRecorder(Augmenter):
    """The real gates of `Augmenter.__call__`, with every transform replaced by one that
    records that it ran and changes nothing (eager: tf.cond runs only the chosen branch)."""

    NAMES = ("rotate", "shear", "scale", "finger_drop", "time_stretch", "frame_mask")

    def __init__(self, *args):
        super().__init__(*args)
        self.ran: list[str] = []
        for method, name in zip(("rotate", "shear", "scale", "drop", "stretch", "mask"),
                                self.NAMES):  # fmt: skip
            setattr(self, method, self._recording(name))

    def _recording(self, name):
        def transform(value, seed, label=None):
            self.ran.append(name)
            return value

        return transform


def test_each_gate_opens_at_its_probability_and_alone(sequences):
    """Every transform at probability 0.5 in the full augmenter: over 300 seeds each runs about
    half the time, and whether one runs says nothing of whether another does."""
    half = Augmentation(**{**vars(NONE), **dict.fromkeys(GateRecorder.NAMES, 0.5)})
    recorder = GateRecorder(half, 160, LANDMARKS, 64)
    frames, label = tf.constant(sequences[0].frames[:40]), _label(sequences[0])[:3]
    ran = []
    for n in range(300):
        recorder.ran = []
        recorder(frames, label, [5, n])
        ran.append([name in recorder.ran for name in GateRecorder.NAMES])
    ran = np.array(ran, float)
    assert np.abs(ran.mean(0) - 0.5).max() < 0.1, dict(zip(GateRecorder.NAMES, ran.mean(0)))
    correlation = np.corrcoef(ran.T)[~np.eye(len(GateRecorder.NAMES), dtype=bool)]
    assert np.abs(correlation).max() < 0.2, correlation.round(2)


def test_landmark_drop_never_removes_the_anchors(sequences):
    """The wrist and the middle knuckle of either hand survive every drop."""
    frames = tf.constant(sequences[0].frames)
    anchors = [c for point in ("left_hand_0", "left_hand_9", "right_hand_0", "right_hand_9")
               for c in _columns_of(point)]  # fmt: skip
    dropped = 0
    for n in range(100):
        out = only("finger_drop")(frames, _label(sequences[0]), [4, n])[0].numpy()
        kept = np.isnan(out[:, anchors]) == np.isnan(sequences[0].frames[:, anchors])
        assert kept.all(), f"seed {n} removed an anchor"
        dropped += int(np.isnan(out).all(0).sum() > np.isnan(sequences[0].frames).all(0).sum())
    assert dropped > 90  # the transform did drop landmarks


# concat and cutmix mix two sequences: tested on their own (here and in test_align.py).
@pytest.mark.parametrize("name", [n for n in vars(Augmentation()) if n not in ("concat", "cutmix")])
def test_every_augmentation_changes_what_the_model_sees(sequences, name):
    """No knob is a no-op once the feature layer has done its normalising and mirroring."""
    layer = LandmarkFeatures(LANDMARKS)
    frames = _right_handed(sequences)
    original = np.asarray(layer(frames[None])[0])
    changed = 0
    for n in range(5):
        out = only(name)(tf.constant(frames), _label(sequences[0]), [8, n])[0].numpy()
        features = np.asarray(layer(out[None])[0])
        changed += features.shape != original.shape or not np.allclose(features, original,
                                                                       atol=1e-3)  # fmt: skip
    assert changed >= 3


def test_every_augmentation_keeps_shapes_and_labels_valid(sequences):
    augmenter = Augmenter(ALL_ON, 160, LANDMARKS)
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
    augmenter = Augmenter(ALL_ON, 160, LANDMARKS)
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
    frames, label, sequence_id = Augmenter(ALL_ON, 160, LANDMARKS).concat(*items, [0, 0])
    assert schema.decode_indices(label.numpy()) == first.phrase + second.phrase
    assert frames.shape[0] == len(first.frames) + len(second.frames)
    assert int(sequence_id) == first.sequence_id
    budget = len(first.phrase) + len(second.phrase) - 1
    too_long = Augmenter(ALL_ON, 160, LANDMARKS, max_phrase=budget)
    frames, label, _ = too_long.concat(*items, [0, 0])
    assert schema.decode_indices(label.numpy()) == first.phrase


def test_concat_in_the_pipeline_lengthens_phrases(synth_dir, tmp_path):
    records.preprocess(synth_dir, str(tmp_path), folds=2)
    landmarks = model_landmarks("model")

    def mean_length(probabilities):
        data = dataset.make_dataset(str(tmp_path), [0, 1], 8, 96, True, landmarks,
                                    augment=Augmenter(probabilities, 96, landmarks))  # fmt: skip
        lengths = []
        for frames, labels, _ in data.take(5):
            assert frames.shape == (8, 96, len(COLUMNS)) and labels.shape == (8, 64)
            for row in labels.numpy():
                n = int((row >= 0).sum())
                assert (row[:n] < schema.N_CHARS).all() and (row[n:] == -1).all()
                lengths.append(n)
        return np.mean(lengths)

    assert mean_length(Augmentation(**{**vars(NONE), "concat": 1.0})) > 1.5 * mean_length(NONE)


def test_processes_parts_of_a_global_batch_are_what_one_process_makes(synth_dir, tmp_path):
    """A multi-process run (`part`): process i's batches of 4 are rows 4i … 4i + 3 of the
    global batches of 8 one process makes, augmented (concat included) exactly alike."""
    records.preprocess(synth_dir, str(tmp_path), folds=2)
    landmarks = model_landmarks("model")
    augment = Augmenter(Augmentation(concat=0.5), 96, landmarks)

    def batches(size, part=(0, 1)):
        data = dataset.make_dataset(str(tmp_path), [0, 1], size, 96, True, landmarks, seed=5,
                                    augment=augment, part=part)  # fmt: skip
        return [[x.numpy() for x in batch] for batch in data.take(3)]

    whole = batches(8)
    parts = [batches(4, (i, 2)) for i in range(2)]
    for n, batch in enumerate(whole):
        for column, values in enumerate(batch):
            joined = np.concatenate([parts[0][n][column], parts[1][n][column]])
            np.testing.assert_array_equal(joined, values)
    assert not np.array_equal(parts[0][0][1], parts[1][0][1])  # the halves differ
