"""Training on every backend: a run scores its validation fold and says what it ran on, a resumed
run equals an unbroken one (both with 2 steps per execution), and spreading a batch over several
devices (TensorFlow's MirroredStrategy, JAX's DataParallel) matches one device.
Backend-neutral: tests/test_jax.py runs this file again under JAX."""

import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pandas as pd
import pytest

from fingerspell import train
from fingerspell.config import Config
from tests.conftest import demo_config, once

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


@once
@pytest.mark.parametrize("backend, replicas", [("tensorflow", 2), ("jax", 4)])
def test_several_devices_match_one_and_train(demo_dir, tmp_path, backend, replicas):
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
    info = train.run_info(run)
    kind = "MirroredStrategy" if backend == "tensorflow" else "DataParallel"
    assert info["distribution"] == f"{kind} over {replicas} devices"
    assert info["global_batch"] == 8 * replicas
    assert info["learning_rate"] == pytest.approx(Config().learning_rate * replicas**0.5)
    history = pd.read_csv(run / "history.csv")
    assert len(history) == 1 and 0 <= history.val_score[0] <= 1


def test_a_run_records_its_curve_and_what_it_ran_on(demo_dir):
    history = pd.read_csv(demo_dir / "run" / "history.csv")
    assert history.epoch.tolist() == [0, 1]
    assert history.val_score.between(0, 1).all() and history.loss.is_monotonic_decreasing
    info = train.run_info(demo_dir / "run")
    assert info["backend"] == keras.backend.backend()
    assert info["precision"] == "float32"  # "auto" on a CPU
    assert info["distribution"] == "single device"
    assert info["global_batch"] == demo_config().batch_size
    assert (info["steps_per_epoch"], info["steps_per_execution"]) == (6, 2)
    assert info["versions"]["keras"] == keras.__version__


class StopAfterFirstEpoch(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        self.model.stop_training = True


def _weights(path):
    model, _ = train.load_trained(path.parent, path.name)
    return model.get_weights()


def test_resumed_run_equals_unbroken_run(demo_dir, tmp_path):
    """The demo fixture trained 2 epochs unbroken; here 1 epoch, a stop, then --resume."""
    run = tmp_path / "run"
    config = demo_config()
    train.train(str(demo_dir / "records"), run, config, verbose=0,
                callbacks=[StopAfterFirstEpoch()])  # fmt: skip
    assert len((run / "history.csv").read_text().strip().splitlines()) == 2  # header + epoch 1
    train.train(str(demo_dir / "records"), run, config, resume=True, verbose=0)
    assert len((run / "history.csv").read_text().strip().splitlines()) == 3
    unbroken = _weights(demo_dir / "run" / "last.weights.h5")
    resumed = _weights(run / "last.weights.h5")
    for a, b in zip(unbroken, resumed):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("wanted, steps, chosen", [(0, 100, 1), (4, 12, 4), (4, 10, 2),
                                                   (32, 7, 7), (5, 7, 1)])  # fmt: skip
def test_steps_per_execution_divides_the_epoch(wanted, steps, chosen):
    from fingerspell.devices import Hardware

    cpu = Hardware("jax", "cpu", "cpu", 1, False)
    assert train._steps_per_execution(Config(steps_per_execution=wanted), cpu, steps) == chosen
    tpu = Hardware("jax", "tpu", "TPU v5 lite", 8, True)
    assert train._steps_per_execution(Config(), tpu, 64) == 32


def test_an_existing_run_is_not_overwritten(demo_dir):
    with pytest.raises(FileExistsError, match="--resume"):
        train.train(str(demo_dir / "records"), demo_dir / "run", demo_config(), verbose=0)
