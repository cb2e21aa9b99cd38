"""Training on every backend: a run scores its validation fold and says what it ran on, a resumed
run equals an unbroken one (here with weight averaging and after a SIGKILL; in a bucket with 2
steps per execution: test_buckets), and spreading a batch over several devices (TensorFlow's
MirroredStrategy, JAX's DataParallel) matches one device.
Backend-neutral: tests/test_jax.py runs this file again under JAX."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest

from fingerspell import dataset, runs, train
from fingerspell.config import PRESETS, Config
from fingerspell.evaluate import KerasDecoder, evaluate
from fingerspell.model import make_optimizer
from fingerspell.plan import _steps_per_execution, project_run
from fingerspell.reader import DataError
from tests.conftest import CUTMIX_UNDER_TENSORFLOW, demo_config, files_under, once, reading_config

DISTRIBUTED = textwrap.dedent(
    """
    import contextlib, json, sys
    import numpy as np
    backend, records, run, replicas = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    if backend == "tensorflow":  # logical CPUs must be made before TensorFlow starts
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * replicas)
    import keras
    from fingerspell import devices, train
    from fingerspell.config import PRESETS, Config
    from fingerspell.model import build_model, ctc_loss

    hardware = devices.local_hardware()
    assert (hardware.backend, hardware.devices) == (backend, replicas), hardware
    # One block (compiling costs most here); no dropout, whose masks differ per replica.
    PRESETS["small-exact"] = {**PRESETS["tiny"], "blocks": 1, "dropout": 0.0}
    rng = np.random.default_rng(0)
    labels = np.full((8, 16), -1)
    labels[:, :5] = rng.integers(0, 59, (8, 5))

    def one_step(scope):
        keras.utils.set_random_seed(1)
        with scope:
            model = build_model(Config(preset="small-exact"))
            model.compile(keras.optimizers.SGD(0.01), loss=ctc_loss)
            frames = rng.uniform(size=(8, 48, model.input_shape[-1])).astype(np.float32)
            history = model.fit(frames, labels, batch_size=8, shuffle=False, verbose=0)
        return history.history["loss"][0], np.concatenate([w.ravel() for w in model.get_weights()])

    rng = np.random.default_rng(0)
    single_loss, single_weights = one_step(contextlib.nullcontext())
    rng = np.random.default_rng(0)
    spread_loss, spread_weights = one_step(devices.distribution_scope(hardware))
    print("losses", single_loss, spread_loss)
    assert abs(single_loss - spread_loss) <= 1e-4 * abs(single_loss), (single_loss, spread_loss)
    np.testing.assert_allclose(spread_weights, single_weights, atol=1e-5)

    # The whole training path over every device, validation included.
    config = Config(preset="small-exact", epochs=1, batch_size=8, max_frames=64)
    train.train(records, run, config, verbose=0)
    print("OK")
    """
)


@pytest.mark.slow
@once
@pytest.mark.parametrize("backend, replicas", [("tensorflow", 2), ("jax", 4)])
def test_several_devices_match_one_and_train(demo_dir, tmp_path, backend, replicas,
                                            monkeypatch):  # fmt: skip
    """MirroredStrategy over 2 logical CPUs, DataParallel over 4 simulated JAX devices: each
    needs a fresh process (devices are fixed when a framework starts)."""
    env = {**os.environ, "KERAS_BACKEND": backend,
           "XLA_FLAGS": f"--xla_force_host_platform_device_count={replicas}"}  # fmt: skip
    run = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-c", DISTRIBUTED, backend, str(demo_dir / "records"), str(run),
         str(replicas)], capture_output=True, text=True, timeout=600, env=env,
    )  # fmt: skip
    assert done.returncode == 0 and "OK" in done.stdout, done.stdout + done.stderr[-3000:]
    info = runs.run_info(run)
    kind = "MirroredStrategy" if backend == "tensorflow" else "DataParallel"
    assert info["distribution"] == f"{kind} over {replicas} devices"
    assert info["global_batch"] == 8 * replicas
    assert info["learning_rate"] == pytest.approx(Config().learning_rate * replicas**0.5)
    history = pd.read_csv(run / "history.csv")
    monkeypatch.setitem(PRESETS, "small-exact", {**PRESETS["tiny"], "blocks": 1, "dropout": 0.0})
    assert len(history) == 1  # its validation over every device, scored as one device reads it
    assert history.val_score[0] == pytest.approx(_fold_score(demo_dir, run, 0), abs=1e-9)


def test_a_run_records_its_curve_and_what_it_ran_on(reading_dir):
    config = reading_config()
    history = pd.read_csv(reading_dir / "run" / "history.csv")
    assert history.epoch.tolist() == list(range(config.epochs))
    assert history.loss.iloc[-1] < history.loss.iloc[0] / 4
    assert history.val_score.iloc[-1] > history.val_score.iloc[0] + 0.2
    info = runs.run_info(reading_dir / "run")
    assert info["backend"] == keras.backend.backend()
    assert info["precision"] == "float32"  # "auto" on a CPU
    assert info["distribution"] == "single device"
    assert info["global_batch"] == config.batch_size
    steps = _usable_training_sequences(reading_dir, config.val_fold) // config.batch_size
    assert (info["steps_per_epoch"], info["steps_per_execution"]) == (steps, 2)
    assert info["versions"]["keras"] == keras.__version__


def test_validation_scores_the_held_out_fold_as_the_saved_weights_read_it(reading_dir):
    """The last epoch's val_score is the competition score of the last weights on fold 0, read
    here sequence by sequence from the parquet files (check's Keras decoder, its fallback), on
    a run whose decodes differ and are mostly right: rows scored against another sequence's
    phrase, or left out, change it."""
    from fingerspell import metric

    truths, predictions = _fold_decodes(reading_dir, reading_dir / "run", 0)
    assert len(set(predictions)) >= 0.9 * len(predictions)
    score = metric.score(truths, predictions)
    assert score > 0.4
    history = pd.read_csv(reading_dir / "run" / "history.csv")
    assert history.val_score.iloc[-1] == pytest.approx(score, abs=1e-9)


class StopAfterFirstEpoch(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        self.model.stop_training = True


def _fold_score(folder: Path, run: Path, fold: int) -> float:
    """The competition score of a run's last weights on one fold of a demo fixture's data."""
    from fingerspell import metric

    return metric.score(*_fold_decodes(folder, run, fold))


def _fold_decodes(folder: Path, run: Path, fold: int) -> tuple[list[str], list[str]]:
    """Each written sequence of one fold: its phrase, and what a run's last weights read."""
    from fingerspell import reader, records, schema
    from fingerspell.features import model_landmarks

    folds = records.load_folds(folder / "records")
    written = set(folds.sequence_id) - set(records.load_rejects(folder / "records").sequence_id)
    wanted = set(folds.sequence_id[folds.fold == fold]) & written
    decode = KerasDecoder(str(run), runs.LAST)
    columns = schema.columns_for(model_landmarks(decode.config.model_landmarks))
    truths, predictions = [], []
    for sequence in reader.iter_sequences(folder / "data", columns):
        if sequence.sequence_id in wanted:
            truths.append(sequence.phrase)
            predictions.append(decode(sequence.frames))
    assert len(truths) == len(wanted) > 0
    return truths, predictions


def _weights(path):
    model, _ = runs.load_trained(path.parent, path.name)
    return model.get_weights()


class Trajectory(keras.callbacks.Callback):
    """The trainable weights when training begins (after a resume's restore) and after every
    step, as trained (before any averaging)."""

    def on_train_begin(self, logs=None):
        self.begin = self._trainable()
        self.steps = []

    def on_train_batch_end(self, batch, logs=None):
        self.steps.append(self._trainable())

    def _trainable(self):
        return [keras.ops.convert_to_numpy(v) for v in self.model.trainable_variables]


@pytest.mark.slow
def test_averaged_weights_are_validated_and_checkpointed_and_resume(demo_dir, tmp_path):
    """With `ema`, the checkpoints (so the export) and val_score hold the moving average of the
    trained weights, computed here from every step's weights as Keras defines it (the first
    step's weights, then m · average + (1 − m) · weights), across a stop and a --resume, which
    restores the weights as trained (not their average)."""
    config = replace(demo_config(), ema=0.6, steps_per_execution=1)
    records_dir, run = str(demo_dir / "records"), tmp_path / "run"
    before, after = Trajectory(), Trajectory()
    train.train(records_dir, run, config, verbose=0, callbacks=[before, StopAfterFirstEpoch()])
    train.train(records_dir, run, config, resume=True, verbose=0, callbacks=[after])
    for restored, trained in zip(after.begin, before.steps[-1]):
        np.testing.assert_allclose(restored, trained, rtol=1e-6, atol=1e-7)
    steps = before.steps + after.steps
    average = steps[0]
    for weights in steps[1:]:
        average = [config.ema * a + (1 - config.ema) * w for a, w in zip(average, weights)]
    model, _ = runs.load_trained(run, runs.LAST)
    saved = [keras.ops.convert_to_numpy(v) for v in model.trainable_variables]
    assert len(steps) == 12 and len(saved) == len(average)
    for a, b in zip(average, saved):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
    assert max(np.abs(a - w).max() for a, w in zip(average, steps[-1])) > 1e-3
    history = pd.read_csv(run / runs.HISTORY)
    assert history.val_score.iloc[-1] == pytest.approx(_fold_score(demo_dir, run, 0), abs=1e-9)


def _usable_training_sequences(folder: Path, val_fold: int) -> int:
    from fingerspell import reader, records

    folds = records.load_folds(folder / "records").set_index("sequence_id").fold
    columns = ["x_right_hand_0"]
    count = 0
    for csv in [c for c in ("train.csv", "supplemental_metadata.csv")
                if (folder / "data" / c).exists()]:  # fmt: skip
        for sequence in reader.iter_sequences(folder / "data", columns, csv, strict=False):
            if isinstance(sequence, reader.Rejected) or folds.get(sequence.sequence_id) is None:
                continue
            count += folds[sequence.sequence_id] != val_fold and \
                len(sequence.frames) >= len(sequence.phrase)  # fmt: skip
    return int(count)


@pytest.mark.slow  # compiles and times a step (and under JAX counts its FLOPs)
def test_a_plan_times_a_step_and_projects_the_whole_run(demo_dir):
    config = demo_config()
    plan = project_run(str(demo_dir / "records"), config, timed_steps=1)
    steps = runs.run_info(demo_dir / "run")["steps_per_epoch"]
    assert (plan["steps_per_epoch"], plan["epochs"], plan["recipe"]) == (steps, 2, "demo")
    assert plan["seconds_per_step"] > 0
    hours = plan["seconds_per_step"] * steps * config.epochs / 3600
    assert plan["projected_hours"] == pytest.approx(hours)
    # Counted afresh from the parquet files and folds.csv, not from the records' metadata: the
    # training folds' sequences with at least one frame a character.
    assert plan["training_sequences"] == _usable_training_sequences(demo_dir, config.val_fold)
    assert plan["input_sequences_per_second"] > 0
    # Eight chips at the same share of peak take an eighth of one chip's time.
    kaggle, colab = (plan[f"{name}, at 10% of peak: hours"]
                     for name in ("Kaggle TPU v5e-8", "Colab TPU v5e-1"))  # fmt: skip
    assert colab == pytest.approx(8 * kaggle)
    # From XLA's count of the compiled step under JAX (close to the estimate), else the estimate.
    per_sequence = plan.get("compiled_gflop_per_sequence", plan["training_gflop_per_sequence"])
    assert ("compiled_gflop_per_sequence" in plan) == (keras.backend.backend() == "jax")
    assert per_sequence == pytest.approx(plan["training_gflop_per_sequence"], rel=0.3)
    flops = per_sequence * 1e9 * plan["training_sequences"] * config.epochs
    assert colab == pytest.approx(flops / (197e12 * 0.1) / 3600)
    assert plan["Kaggle TPU v5e-8, at 10% of peak: sessions"] == 1  # minutes, in a 9 h session


def test_folds_come_from_the_records():
    """However many folds the records hold, every one but the validation fold trains."""
    assert dataset.training_folds({"folds": 5}, Config(val_fold=0)) == ([1, 2, 3, 4], [0])
    assert dataset.training_folds({"folds": 3}, Config(val_fold=-1)) == ([0, 1, 2], [])
    with pytest.raises(DataError, match="folds 0..2"):
        dataset.training_folds({"folds": 3}, Config(val_fold=4))
    assert not hasattr(Config(), "folds") and not hasattr(Config(), "landmarks")


@pytest.mark.slow
@once
def test_every_landmark_the_records_store_can_train(demo_dir, tmp_path):
    """All 543 landmarks (face mesh included): stored, augmented, mirrored, trained."""
    from fingerspell import records

    records.preprocess(demo_dir / "data", str(tmp_path / "records"), landmarks="all")
    PRESETS["one-block"] = {**PRESETS["tiny"], "blocks": 1}  # compiling costs most here
    config = Config(preset="one-block", model_landmarks="all", epochs=1, batch_size=32,
                    max_frames=16, val_fold=-1)  # fmt: skip
    history = train.train(str(tmp_path / "records"), tmp_path / "run", config, verbose=0)
    assert np.isfinite(history.history["loss"]).all()


def test_norms_and_biases_are_not_decayed():
    """AdamW with zero gradients moves weights by its decay alone: kernels shrink, norm scales
    and shifts and biases stay."""
    from fingerspell.model import build_model

    config = Config(warmup_epochs=0.5)
    model = build_model(config)
    optimizer = make_optimizer(config, steps_per_epoch=4, peak=0.1)
    before = {v.path: keras.ops.convert_to_numpy(v) for v in model.trainable_variables}
    for _ in range(3):
        optimizer.apply([np.zeros(v.shape, "float32") for v in model.trainable_variables],
                        model.trainable_variables)  # fmt: skip
    for v in model.trainable_variables:
        moved = not np.array_equal(keras.ops.convert_to_numpy(v), before[v.path])
        kept = any(v.path.endswith(name) for name in ("bias", "gamma", "beta"))
        assert moved != kept, v.path


class EmptyDecoder:
    """A decoder that finds nothing in any sequence."""

    def predict(self, data, verbose=0):
        return np.full((sum(int(f.shape[0]) for f in data), 4), -1)


def test_validation_scores_empty_decodes_as_the_exported_file_answers_them(reading_dir):
    """With the run's fallback phrase (test_export checks the file answers the same)."""
    from fingerspell.features import model_landmarks

    fallback = Config.load(str(reading_dir / "run" / "config.json")).fallback
    data = dataset.make_dataset(str(reading_dir / "records"), [0], 16, 32, False,
                                model_landmarks("model"))  # fmt: skip
    truths, predictions = evaluate(EmptyDecoder(), data, fallback)
    assert len(predictions) == len(truths) > 0
    assert set(predictions) == {fallback}


def test_the_fallback_is_the_training_phrases_nearest(reading_dir):
    """Chosen from the training folds' phrases (never the validation fold's): it costs less on
    them than a space or any other phrase of them."""
    from fingerspell import metric, records

    meta = records.load_metadata(str(reading_dir / "records"))
    config = dataset.with_fallback(str(reading_dir / "records"), meta, reading_config())
    folds = records.load_folds(str(reading_dir / "records"))
    training = folds[folds.fold != config.val_fold].phrase.tolist()
    assert config.fallback in set(training)

    def cost(answer):
        return sum(metric.edit_distance(p, answer) for p in training)

    assert cost(config.fallback) <= min(cost(a) for a in [" ", *training[:50]])
    assert cost(config.fallback) < cost(" ")


@pytest.mark.parametrize("wanted, steps, chosen", [(0, 100, 1), (4, 12, 4), (4, 10, 2),
                                                   (32, 7, 7), (5, 7, 1)])  # fmt: skip
def test_steps_per_execution_divides_the_epoch(wanted, steps, chosen):
    from fingerspell.devices import Hardware

    cpu = Hardware("jax", "cpu", "cpu", 1, False)
    assert _steps_per_execution(Config(steps_per_execution=wanted), cpu, steps) == chosen
    tpu = Hardware("jax", "tpu", "TPU v5 lite", 8, True)
    assert _steps_per_execution(Config(), tpu, 64) == 32


def test_an_existing_run_is_not_overwritten(reading_dir):
    with pytest.raises(FileExistsError, match="--resume"):
        train.train(str(reading_dir / "records"), reading_dir / "run", reading_config(), verbose=0)


@pytest.mark.slow
def test_a_run_stopped_by_its_time_limit_continues_with_resume_auto(demo_dir, tmp_path, capsys):
    """A time limit no second epoch fits in stops the run after its first; `resume="auto"`
    refuses other options, continues it with the same to the unbroken run's weights, and then
    has nothing left to do."""
    records_dir, run, config = str(demo_dir / "records"), str(tmp_path / "run"), demo_config()
    train.train(records_dir, run, config, resume="auto", verbose=0, time_limit_hours=1e-6)
    assert runs.load_history(run).epoch.tolist() == [0]
    assert "stopped after epoch 1 of 2" in capsys.readouterr().out
    with pytest.raises(FileExistsError, match="epochs 2 → 3"):
        train.train(records_dir, run, replace(config, epochs=3), resume="auto", verbose=0)
    train.train(records_dir, run, config, resume="auto", verbose=0)
    assert runs.load_history(run).epoch.tolist() == [0, 1]
    unbroken, _ = runs.load_trained(str(demo_dir / "run"), runs.LAST)
    resumed, _ = runs.load_trained(run, runs.LAST)
    for a, b in zip(unbroken.get_weights(), resumed.get_weights()):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
    capsys.readouterr()
    train.train(records_dir, run, config, resume="auto", verbose=0)
    assert "nothing to continue" in capsys.readouterr().out


@pytest.mark.slow
def test_a_run_with_seed_zero_trains(demo_dir, tmp_path):
    """TensorFlow reads a global seed of 0 as a case of its own: `train --seed 0` stopped in the
    first epoch's shuffle with a traceback (`dataset.seed_shuffles`)."""
    run = str(tmp_path / "run")
    train.train(str(demo_dir / "records"), run, replace(demo_config(), seed=0), verbose=0,
                time_limit_hours=1e-6)  # one epoch  # fmt: skip
    history = runs.load_history(run)
    assert history.epoch.tolist() == [0] and np.isfinite(history.loss).all()


@pytest.mark.slow
@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason=CUTMIX_UNDER_TENSORFLOW)
def test_cutmix_starts_after_its_warm_up_with_alignments_the_run_makes(demo_dir, tmp_path):
    """A recipe that asks for CutMix, on records nobody aligned: the run trains its warm-up
    without it, aligns its training folds with its own weights into RUN/alignments (the
    records, which may be read-only, untouched), then trains on with it, and history.csv and
    run.json say from which epoch. Stopped by its clock at the warm-up's end and continued with
    resume="auto", it equals the unbroken run."""
    from fingerspell import align, records

    records_dir = demo_dir / "records"
    untouched = files_under(str(records_dir))
    config = replace(demo_config(), augment=replace(demo_config().augment, cutmix=1.0),
                     cutmix_after=1)
    unbroken = tmp_path / "unbroken"
    train.train(str(records_dir), str(unbroken), config, verbose=0)
    history, plain = runs.load_history(unbroken), runs.load_history(demo_dir / "run")
    assert history.cutmix.tolist() == [0.0, 1.0]
    assert runs.run_info(unbroken)["cutmix_from_epoch"] == 1
    # The warm-up is the run without CutMix (demo_dir's, same seed); the epoch after is not.
    assert history.loss[0] == pytest.approx(plain.loss[0], rel=1e-6)
    # Runs repeat to 1e-6 (the line above); CutMix moved this 6-step epoch by 7e-4 on the
    # generator's data of 2026-12-03, so 1e-4 (100× the repeat) tells it did something.
    assert abs(history.loss[1] - plain.loss[1]) > 1e-4 * plain.loss[1]
    assert align.is_finished(unbroken) and files_under(str(records_dir)) == untouched
    table = records.load_alignments(str(unbroken))
    folds = records.load_folds(records_dir).set_index("sequence_id").fold
    assert set(folds[table.sequence_id.unique()]) == {1, 2, 3}  # the training folds only
    assert table.sequence_id.nunique() >= _usable_training_sequences(demo_dir, 0) * 0.9

    stopped = tmp_path / "stopped"
    train.train(str(records_dir), str(stopped), config, resume="auto", verbose=0,
                time_limit_hours=1e-6)  # fmt: skip
    assert runs.load_history(stopped).epoch.tolist() == [0]
    assert not (stopped / records.ALIGNMENTS).exists()
    train.train(str(records_dir), str(stopped), config, resume="auto", verbose=0)
    pd.testing.assert_frame_equal(records.load_alignments(str(stopped)), table)
    resumed, _ = runs.load_trained(str(stopped), runs.LAST)
    whole, _ = runs.load_trained(str(unbroken), runs.LAST)
    for a, b in zip(whole.get_weights(), resumed.get_weights()):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)


def test_a_backup_of_an_older_fingerspell_is_refused(tmp_path):
    """Keras' BackupAndRestore layout, which --resume read before: a message, not a silent
    restart from epoch 0."""
    (tmp_path / runs.BACKUP).mkdir()
    assert runs.resumed_epoch(str(tmp_path)) == 0
    (tmp_path / runs.BACKUP / "latest.weights.h5").write_bytes(b"")
    with pytest.raises(DataError, match="older fingerspell"):
        runs.resumed_epoch(str(tmp_path))


KILL_RUN = ["--epochs", "3", "--batch-size", "16", "--max-frames", "64"]


def _train_command(records: Path, run: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "fingerspell", "train", "--records", str(records), "--out",
            str(run), *KILL_RUN, *extra]  # fmt: skip


def _kill_after(records: Path, run: Path, epochs_done: int) -> None:
    """`train` in its own process, SIGKILLed during the epoch after `epochs_done` finished."""
    process = subprocess.Popen(_train_command(records, run), start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    history, deadline = run / runs.HISTORY, time.monotonic() + 300
    while not (history.exists() and len(pd.read_csv(history)) >= epochs_done):
        assert process.poll() is None and time.monotonic() < deadline, "no epoch finished"
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert len(pd.read_csv(history)) == epochs_done  # killed before the next epoch ended


def _resume(records: Path, run: Path) -> str:
    done = subprocess.run(_train_command(records, run, "--resume"), capture_output=True,
                          text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout + done.stderr


@pytest.mark.slow
@once
def test_a_killed_train_process_resumes_and_equals_an_unbroken_run(demo_dir, tmp_path):
    """SIGKILL during epoch 3, with the next backup half-written beside the backup of epoch 2 (a
    kill during `storage`'s write leaves its temporary file), and `train --resume` in a fresh
    process: the run continues with epoch 3 from the whole backup, the finished epochs' rows stay
    as they were, and the weights equal an unbroken run's."""
    records = demo_dir / "records"
    unbroken = tmp_path / "unbroken"
    done = subprocess.run(_train_command(records, unbroken), capture_output=True, text=True,
                          timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    expected = _weights(unbroken / runs.LAST)

    cut = tmp_path / "cut"
    _kill_after(records, cut, epochs_done=2)
    first_rows = (cut / runs.HISTORY).read_text().splitlines()[:3]
    backups = sorted(p.name for p in (cut / runs.BACKUP).iterdir())
    assert backups == ["epoch-0002.weights.h5"], backups  # the one before it is gone
    whole = (cut / runs.BACKUP / backups[0]).read_bytes()
    Path(f"{runs.backup_file(str(cut), 3)}.tmp").write_bytes(whole[: len(whole) // 2])
    output = _resume(records, cut)
    assert "Epoch 3/3" in output and "Epoch 2/3" not in output  # from the whole backup
    assert (cut / runs.HISTORY).read_text().splitlines()[:3] == first_rows
    assert pd.read_csv(cut / runs.HISTORY).epoch.tolist() == [0, 1, 2]
    for a, b in zip(expected, _weights(cut / runs.LAST)):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)


class TrainableWeights(keras.callbacks.Callback):
    """The trainable weights before and after fit, and the optimizer fit used."""

    def on_train_begin(self, logs=None):
        self.before = [np.array(v.value, np.float32) for v in self.model.trainable_variables]
        self.optimizer = self.model.optimizer

    def on_train_end(self, logs=None):
        self.after = [np.array(v.value, np.float32) for v in self.model.trainable_variables]


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["mixed_bfloat16", "mixed_float16"])
def test_train_learns_in_mixed_precision(demo_dir, tmp_path, precision):
    """`train.train` in each mixed precision: run.json says so, the trainable variables (not
    the norms' moving statistics) change, the loss falls, float16 scales its loss and bfloat16
    does not, and the run reloads in float32 (what `export` builds on)."""
    config = demo_config()
    config.precision = precision
    run, seen = tmp_path / "run", TrainableWeights()
    train.train(str(demo_dir / "records"), run, config, verbose=0, callbacks=[seen])
    assert runs.run_info(run)["precision"] == precision
    scaled = isinstance(seen.optimizer, keras.optimizers.LossScaleOptimizer)
    assert scaled == (precision == "mixed_float16")
    changed = [not np.allclose(a, b) for a, b in zip(seen.before, seen.after)]
    assert np.mean(changed) > 0.9, f"{sum(changed)} of {len(changed)} trainable variables moved"
    history = pd.read_csv(run / runs.HISTORY)
    assert history.loss.iloc[-1] < history.loss.iloc[0], history.loss.tolist()
    model, _ = runs.load_trained(run)
    assert {w.dtype for w in model.weights} == {"float32"}
    assert model.compute_dtype == "float32"
