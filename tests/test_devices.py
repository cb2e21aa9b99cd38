"""Backend choice, precision and distribution rules, and the machine description."""

import os
import subprocess
import sys

import keras
import pytest

from fingerspell import devices, environment
from fingerspell.devices import Hardware
from tests.conftest import once

CPU = Hardware("tensorflow", "cpu", "cpu", 1, False)
T4 = Hardware("tensorflow", "gpu", "Tesla T4", 2, False)
A100 = Hardware("jax", "gpu", "NVIDIA A100-SXM4-40GB", 1, True)
TPU = Hardware("jax", "tpu", "TPU v5 lite", 8, True)


@pytest.mark.parametrize("hardware, expected", [(CPU, "float32"), (T4, "mixed_float16"),
                                                (A100, "mixed_bfloat16"),
                                                (TPU, "mixed_bfloat16")])  # fmt: skip
def test_auto_precision_follows_the_hardware(hardware, expected):
    assert devices.pick_precision("auto", hardware) == expected
    assert devices.pick_precision("mixed_float16", hardware) == "mixed_float16"  # as asked
    with pytest.raises(ValueError, match="precision must be one of"):
        devices.pick_precision("fp16", hardware)


def test_distribution_names():
    assert devices.distribution_name(CPU) == "single device"
    assert devices.distribution_name(T4) == "MirroredStrategy over 2 devices"
    assert devices.distribution_name(TPU) == "DataParallel over 8 devices"


def test_the_backend_cannot_change_once_keras_runs():
    current = keras.backend.backend()
    other = "jax" if current == "tensorflow" else "tensorflow"
    assert devices.use_backend(current) == current
    assert devices.use_backend("auto") == current  # no TPU here: Keras keeps its own
    with pytest.raises(RuntimeError, match="restart the kernel"):
        devices.use_backend(other)
    with pytest.raises(ValueError, match="backend must be one of"):
        devices.use_backend("torch")


def test_this_machine_is_described_without_starting_a_framework():
    assert devices.tpu_chips() == 0  # the CI machine has no TPU
    hardware = devices.local_hardware()
    assert (hardware.backend, hardware.platform) == (keras.backend.backend(), "cpu")
    text = environment.describe()
    assert text.startswith(environment.platform()) and "CPU" in text
    assert f"keras {keras.__version__}" in text


class _Device:
    """What a backend reports of a GPU: a name and a compute capability."""

    def __init__(self, capability: str):
        self.platform, self.device_kind, self.compute_capability = "gpu", "GPU", capability


@pytest.mark.parametrize("capability, expected", [("7.5", "mixed_float16"),
                                                  ("8.0", "mixed_bfloat16")])  # fmt: skip
def test_auto_precision_reads_the_gpus_compute_capability(monkeypatch, capability, expected):
    """The rule through the code that reads the hardware (`local_hardware`), on what the
    backend in force reports of a GPU (none here: its report is substituted)."""
    if keras.backend.backend() == "jax":
        import jax

        monkeypatch.setattr(jax, "local_devices", lambda: [_Device(capability)])
    else:
        import tensorflow as tf

        monkeypatch.setattr(tf.config, "list_logical_devices", lambda kind=None: ["GPU:0"])
        monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: ["GPU:0"])
        major = int(capability.split(".")[0])
        monkeypatch.setattr(tf.config.experimental, "get_device_details",
                            lambda device: {"compute_capability": (major, 0),
                                            "device_name": "GPU"})  # fmt: skip
    hardware = devices.local_hardware()
    assert hardware.platform == "gpu"
    assert devices.pick_precision("auto", hardware) == expected


def test_auto_precision_on_this_cpu_is_float32():
    hardware = devices.local_hardware()
    assert hardware.platform == "cpu" and not hardware.bf16_native
    assert devices.pick_precision("auto", hardware) == "float32"


def test_an_auto_time_limit_is_what_is_left_of_the_session(monkeypatch, tmp_path):
    """On Kaggle's TPU, "auto" is its 9 h session less the margin less the time since the
    kernel started (read from /proc: this process, started a moment ago, and a fake one started
    2 h after boot, 3 h ago); locally there is no limit."""
    assert environment.time_limit_hours("auto") is None  # this machine is no notebook platform
    assert environment.time_limit_hours(2) == 2.0 and environment.time_limit_hours(None) is None
    assert 0 < environment.process_age_hours() < 2  # this test process
    monkeypatch.setenv("KAGGLE_KERNEL_RUN_TYPE", "Interactive")
    monkeypatch.setattr(devices, "tpu_chips", lambda: 8)
    session = environment.SESSION_HOURS[("Kaggle", "TPU")] - environment.SESSION_MARGIN_HOURS
    age = environment.process_age_hours()
    assert environment.time_limit_hours("auto") == pytest.approx(session - age, abs=0.01)

    ticks = os.sysconf("SC_CLK_TCK")
    stat, uptime = tmp_path / "stat", tmp_path / "uptime"
    # The process's name may hold spaces and parentheses; the start time is field 22.
    fields = " ".join(["0"] * 18)
    stat.write_text(f"4242 (python (kernel) x) S {fields} {2 * 3600 * ticks} 0 0")
    uptime.write_text(f"{5 * 3600.0} 100.0\n")
    assert environment.process_age_hours(str(stat), str(uptime)) == pytest.approx(3.0)
    monkeypatch.setattr(environment, "process_age_hours", lambda: 3.0)
    assert environment.time_limit_hours("auto") == pytest.approx(session - 3.0)
    monkeypatch.setattr(environment, "process_age_hours", lambda: 10.0)
    assert environment.time_limit_hours("auto") == 0.0


@once  # its second half starts processes, each choosing its own backend
def test_tpu_chips_are_counted_on_the_pci_bus_and_choose_jax(tmp_path):
    """A fake /sys/bus/pci/devices: a v5e-8's eight chips among a Google device that is no TPU,
    another vendor's device and an unreadable entry; then `BACKEND = "auto"` in a fresh process
    where the environment announces a TPU picks JAX (and TensorFlow where none is seen)."""
    def device(name: str, vendor: str, model: str | None):
        (tmp_path / name).mkdir()
        (tmp_path / name / "vendor").write_text(f"{vendor}\n")
        if model is not None:
            (tmp_path / name / "device").write_text(f"{model}\n")

    for chip in range(8):
        device(f"0000:00:0{chip}.0", "0x1ae0", "0x0063")  # TPU v5e
    device("0000:00:10.0", "0x1ae0", "0x0042")  # Google, not a TPU
    device("0000:00:11.0", "0x8086", "0x0063")  # Intel, a TPU's device number
    device("0000:00:12.0", "0x1ae0", None)  # no device file
    assert devices.tpu_chips(str(tmp_path)) == 8
    assert devices.tpu_chips(str(tmp_path / "none")) == 0

    def auto_backend(**env) -> str:
        code = "from fingerspell import devices; print(devices.use_backend('auto'))"
        clean = {k: v for k, v in os.environ.items() if k not in ("KERAS_BACKEND",)}
        done = subprocess.run([sys.executable, "-c", code], env={**clean, **env},
                              capture_output=True, text=True, check=True)  # fmt: skip
        return done.stdout.split()[-1]

    assert auto_backend(TPU_ACCELERATOR_TYPE="v5litepod-8") == "jax"
    assert auto_backend() == "tensorflow"
