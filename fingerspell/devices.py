"""What a run trains on: the Keras backend, the local devices, the distribution over them and the
mixed-precision policy.

The backend is a property of the process: `use_backend` must run before anything imports Keras.
`auto` takes JAX where a TPU is attached (Colab's TPU runtime has no TensorFlow; Kaggle's TPU image
pairs jax[tpu] with tensorflow-cpu) and otherwise keeps whatever Keras is configured for
(`KERAS_BACKEND`, `~/.keras/keras.json`). TensorFlow is still imported under every backend: tf.data
feeds the model and export runs under it.
"""

from __future__ import annotations

import contextlib
import glob
import os
import sys
from dataclasses import dataclass
from pathlib import Path

BACKENDS = ("auto", "jax", "tensorflow")
PRECISIONS = ("auto", "float32", "mixed_bfloat16", "mixed_float16")

# PCI ids of TPU chips (Google's vendor id also covers its network cards, hence the device list):
# v2/v3, an unnamed part, v4, v5p, v5e, v6e.
_GOOGLE_PCI_VENDOR = "0x1ae0"
_TPU_PCI_DEVICES = {"0x0027", "0x0056", "0x005e", "0x0062", "0x0063", "0x006f"}


def tpu_chips(pci_devices: str = "/sys/bus/pci/devices") -> int:
    """TPU chips attached to this machine, counted on the PCI bus: asking a framework would
    initialise the TPU runtime and claim the chips for that framework."""
    chips = 0
    for vendor in glob.glob(f"{pci_devices}/*/vendor"):
        folder = Path(vendor).parent
        with contextlib.suppress(OSError):
            if (Path(vendor).read_text().strip() == _GOOGLE_PCI_VENDOR
                    and (folder / "device").read_text().strip() in _TPU_PCI_DEVICES):  # fmt: skip
                chips += 1
    if not chips and os.environ.get("TPU_ACCELERATOR_TYPE"):  # GKE and newer TPU VMs say so
        chips = 1
    return chips


def gpu_names() -> list[str]:
    """NVIDIA GPUs as `nvidia-smi -L` lists them (no framework is initialised)."""
    import shutil
    import subprocess

    if not shutil.which("nvidia-smi"):
        return []
    listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30)
    return [line.split(":", 1)[1].split("(UUID")[0].strip()
            for line in listing.stdout.splitlines() if line.startswith("GPU ")]  # fmt: skip


def use_backend(name: str = "auto") -> str:
    """Select the Keras backend for this process and return the one in force. Must run before
    Keras is imported; afterwards only the backend already in force is accepted."""
    if name not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, not {name!r}")
    wanted = "jax" if name == "auto" and tpu_chips() else (None if name == "auto" else name)
    if "keras" in sys.modules:
        current = sys.modules["keras"].backend.backend()
        if wanted and wanted != current:
            raise RuntimeError(
                f"Keras is already running on the {current} backend in this process, so it cannot "
                f"switch to {wanted}: restart the kernel (Colab: Runtime → Restart session) and "
                "choose the backend before anything else imports Keras")  # fmt: skip
        return current
    if wanted:
        os.environ["KERAS_BACKEND"] = wanted
    if (wanted or os.environ.get("KERAS_BACKEND")) == "jax":
        keep_tensorflow_off_accelerators()
    import keras

    return keras.backend.backend()


def keep_tensorflow_off_accelerators() -> None:
    """Under JAX, TensorFlow only runs tf.data: hidden from the GPUs it would otherwise claim
    memory on beside JAX."""
    import tensorflow as tf

    with contextlib.suppress(RuntimeError):  # already initialised: nothing left to hide
        tf.config.set_visible_devices([], "GPU")


@dataclass
class Hardware:
    """The devices a run trains on, as the backend in force sees them."""

    backend: str
    platform: str  # "tpu", "gpu" or "cpu"
    device_kind: str
    devices: int  # of every process
    bf16_native: bool  # whether bfloat16 runs at full speed (TPU, GPU of compute capability ≥ 8)
    processes: int = 1  # JAX processes that train together (`join_processes`), one a host
    process_index: int = 0

    @property
    def local_devices(self) -> int:
        return self.devices // self.processes

    @property
    def writes(self) -> bool:
        """Whether this process writes the run folder: the first one only."""
        return self.process_index == 0


class NoAccelerator(RuntimeError):
    """A run that needs a TPU or GPU was started where the backend sees only a CPU."""


def require_accelerator(hardware: Hardware, recipe: str) -> None:
    """Refuse a CPU-only machine, naming what was looked for and how to go on."""
    if hardware.platform != "cpu":
        return
    gpus = ", ".join(gpu_names()) or "none"
    raise NoAccelerator(
        f"recipe {recipe!r} needs a TPU or GPU, and {hardware.backend} sees only the CPU "
        f"(TPU chips on the PCI bus: {tpu_chips()}; TPU_ACCELERATOR_TYPE: "
        f"{os.environ.get('TPU_ACCELERATOR_TYPE', 'unset')}; GPUs nvidia-smi lists: {gpus}). "
        "Attach one (Kaggle: Settings → Accelerator; Colab: Runtime → Change runtime type) and "
        "restart, or pass --allow-cpu (ALLOW_CPU = True in notebook 2) to train on the CPU "
        "anyway; `train --plan` says how long that takes"
    )


def local_hardware() -> Hardware:
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        first = jax.local_devices()[0]
        capability = float(getattr(first, "compute_capability", 0) or 0)
        return Hardware(backend, first.platform, first.device_kind, jax.device_count(),
                        first.platform == "tpu" or capability >= 8, jax.process_count(),
                        jax.process_index())  # fmt: skip
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_logical_devices("GPU")
        if gpus:
            details = tf.config.experimental.get_device_details(
                tf.config.list_physical_devices("GPU")[0])  # fmt: skip
            capability = details.get("compute_capability", (0, 0))[0]
            return Hardware(backend, "gpu", details.get("device_name", "GPU"), len(gpus),
                            capability >= 8)  # fmt: skip
        cpus = tf.config.list_logical_devices("CPU")
        return Hardware(backend, "cpu", "cpu", len(cpus), False)
    raise RuntimeError(f"the {backend} backend is not supported: use jax or tensorflow")


def pick_precision(requested: str, hardware: Hardware) -> str:
    """`auto`: bfloat16 where it is native (TPU, recent GPUs: no loss scaling needed), float16 on
    older GPUs, float32 on CPUs (where reduced precision is slower, not faster)."""
    if requested not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, not {requested!r}")
    if requested != "auto":
        return requested
    if hardware.platform == "cpu":
        return "float32"
    return "mixed_bfloat16" if hardware.bf16_native else "mixed_float16"


def distribution_name(hardware: Hardware) -> str:
    """How a run spreads over the devices: JAX's `DataParallel` or TensorFlow's
    `MirroredStrategy` (one replica per device, the global batch split between them), or none."""
    if hardware.devices == 1:
        return "single device"
    kind = "DataParallel" if hardware.backend == "jax" else "MirroredStrategy"
    spread = f" in {hardware.processes} processes" if hardware.processes > 1 else ""
    return f"{kind} over {hardware.devices} devices{spread}"


def distribution_scope(hardware: Hardware):
    """The context under which the model is built, compiled and fitted (see `distribution_name`)."""
    if hardware.devices == 1:
        return contextlib.nullcontext()
    if hardware.backend == "jax":
        import keras

        # Every process feeds its own part of each global batch (`dataset.make_dataset`'s `part`),
        # so Keras must not shard the input again.
        devices = keras.distribution.list_devices()  # of every process
        return keras.distribution.DataParallel(devices=devices, auto_shard_dataset=False).scope()
    import tensorflow as tf

    kind = "GPU" if hardware.platform == "gpu" else "CPU"
    names = [d.name for d in tf.config.list_logical_devices(kind)]
    return tf.distribute.MirroredStrategy(names).scope()
