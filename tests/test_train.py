"""Training: distribution strategies agree, and a resumed run equals an unbroken one."""

import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from fingerspell import train
from tests.conftest import demo_config

MIRRORED = textwrap.dedent(
    """
    import numpy as np, tensorflow as tf, keras
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from fingerspell.config import PRESETS, Config
    from fingerspell.model import build_model, ctc_loss

    PRESETS["no-dropout"] = {**PRESETS["tiny"], "dropout": 0.0}  # dropout differs per replica
    config = Config(preset="no-dropout")
    rng = np.random.default_rng(0)
    frames = rng.uniform(size=(8, 48, 3 * 127)).astype(np.float32)[:, :, :]
    labels = np.full((8, 16), -1)
    labels[:, :5] = rng.integers(0, 59, (8, 5))

    def one_step(strategy):
        keras.utils.set_random_seed(1)
        with strategy.scope():
            model = build_model(config)
            model.compile(keras.optimizers.SGD(0.01), loss=ctc_loss)
        frames_ = frames[:, :, : model.input_shape[-1]]
        data = tf.data.Dataset.from_tensor_slices((frames_, labels)).batch(8)
        loss = model.fit(data, epochs=1, verbose=0).history["loss"][0]
        return loss, np.concatenate([w.ravel() for w in model.get_weights()])

    devices = [d.name for d in tf.config.list_logical_devices("CPU")]
    assert len(devices) == 2, devices
    single_loss, single_weights = one_step(tf.distribute.OneDeviceStrategy(devices[0]))
    mirrored = tf.distribute.MirroredStrategy(devices)
    assert mirrored.num_replicas_in_sync == 2
    mirrored_loss, mirrored_weights = one_step(mirrored)
    print("losses", single_loss, mirrored_loss)
    assert abs(single_loss - mirrored_loss) <= 1e-4 * abs(single_loss), (single_loss, mirrored_loss)
    np.testing.assert_allclose(mirrored_weights, single_weights, atol=1e-5)
    print("OK")
    """
)


def test_mirrored_strategy_matches_single_device():
    """Two logical CPUs need a fresh TensorFlow, so this runs in its own process."""
    done = subprocess.run([sys.executable, "-c", MIRRORED], capture_output=True, text=True,
                          timeout=600)  # fmt: skip
    assert done.returncode == 0 and "OK" in done.stdout, done.stdout + done.stderr[-3000:]


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


def test_an_existing_run_is_not_overwritten(demo_dir):
    with pytest.raises(FileExistsError, match="--resume"):
        train.train(str(demo_dir / "records"), demo_dir / "run", demo_config(), verbose=0)
