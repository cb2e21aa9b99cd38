"""What a run will train on and what it will cost, before spending it: the plan `train` follows
(precision, distribution, global batch, learning rate, steps) and `train --plan`'s projection
(one step timed here, the input pipeline's rate, and the compute-bound time on published
accelerators)."""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import keras

from fingerspell import dataset, devices, environment, install, records
from fingerspell.config import Config
from fingerspell.model import (
    build_model,
    compiled_step_flops,
    ctc_loss,
    make_optimizer,
    seconds_per_step,
    training_flops,
)


@dataclass
class RunInfo:
    """What a run ran on: written to RUN/run.json, printed when training starts, logged to
    TensorBoard and W&B."""

    backend: str
    distribution: str
    device_kind: str
    devices: int  # of every process
    processes: int
    precision: str
    global_batch: int
    learning_rate: float
    steps_per_epoch: int
    steps_per_execution: int
    cutmix_from_epoch: int | None  # the first epoch (from 0) with CutMix on; None: never
    versions: dict[str, str]

    def as_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        return (f"{self.backend} backend, {self.distribution} ({self.devices} × "
                f"{self.device_kind}), {self.precision}, global batch {self.global_batch}, "
                f"peak learning rate {self.learning_rate:.2e}, {self.steps_per_epoch} steps an "
                f"epoch, {self.steps_per_execution} per execution")  # fmt: skip


@dataclass(frozen=True)
class Accelerator:
    """An accelerator a plan projects onto, by its published peak (not measured here)."""

    name: str
    chips: int
    peak_flops: float  # per chip, bf16
    platform: tuple[str, str] | None = None  # its notebook platform: `environment.SESSION_HOURS`

    def hours(self, flops: float, share_of_peak: float) -> float:
        """Compute-bound hours for `flops` at `share_of_peak` of the chips' peak."""
        return flops / (self.chips * self.peak_flops * share_of_peak) / 3600

    def sequences_per_second(self, flops_per_sequence: float, share_of_peak: float) -> float:
        """What the input pipeline must deliver to keep pace."""
        return self.chips * self.peak_flops * share_of_peak / flops_per_sequence


# Cloud TPU v5e: 197 TFLOP/s bf16 a chip (cloud.google.com/tpu/docs/v5e). Kaggle's TPU runtime
# is a v5e-8, Colab's a v5e-1; a v5e-16 pod slice is 4 hosts of 4 chips. NVIDIA H100 SXM: 989
# TFLOP/s dense bf16 (NVIDIA's data sheet), two nodes of eight for a multi-node GPU run.
ACCELERATORS = (Accelerator("Kaggle TPU v5e-8", 8, 197e12, ("Kaggle", "TPU")),
                Accelerator("Colab TPU v5e-1", 1, 197e12, ("Colab", "TPU")),
                Accelerator("Cloud TPU v5e-16 pod slice", 16, 197e12),
                Accelerator("2 nodes × 8 H100", 16, 989e12))  # fmt: skip
# Model-FLOPs utilisation is not measured on a TPU here: a 256-wide model with depthwise
# convolutions, norms and CTC spends much of a step off the matrix units, so plans show a
# pessimistic and an optimistic share.
ASSUMED_SHARES_OF_PEAK = (0.1, 0.3)


def plan_run(meta: dict, config: Config, hardware: devices.Hardware) -> RunInfo:
    """What a run on records with this metadata will train on and how: precision, distribution,
    global batch (the per-device batch × devices), learning rate and steps."""
    usable = training_sequences(meta, config)
    global_batch = config.batch_size * hardware.devices
    steps = usable // global_batch
    if steps == 0:
        raise ValueError(f"{usable} training sequences: less than a global batch of "
                         f"{global_batch} ({config.batch_size} a device × {hardware.devices})")
    return RunInfo(
        backend=hardware.backend, distribution=devices.distribution_name(hardware),
        device_kind=hardware.device_kind, devices=hardware.devices, processes=hardware.processes,
        precision=devices.pick_precision(config.precision, hardware),
        global_batch=global_batch,
        # Adam's square-root rule: the gradient noise falls with √batch (Malladi et al., 2022).
        learning_rate=config.learning_rate * math.sqrt(hardware.devices),
        steps_per_epoch=steps, steps_per_execution=_steps_per_execution(config, hardware, steps),
        cutmix_from_epoch=config.cutmix_from, versions=install.installed_frameworks(),
    )  # fmt: skip


def _steps_per_execution(config: Config, hardware: devices.Hardware, steps: int) -> int:
    """Training steps per compiled call: many on a TPU, where each call from the host costs more
    than a tiny model's step. Always a divisor of the epoch, or the last call of an epoch would
    run on into the next epoch's data."""
    wanted = config.steps_per_execution or (32 if hardware.platform == "tpu" else 1)
    return max(d for d in range(1, min(wanted, steps) + 1) if steps % d == 0)


def training_sequences(meta: dict, config: Config) -> int:
    """Usable sequences in the training folds: one epoch's worth."""
    train_folds, _ = dataset.training_folds(meta, config)
    return sum(meta["usable_per_fold"][str(k)] for k in train_folds)


def project_run(records_dir: str, config: Config, timed_steps: int = 3) -> dict:
    """What training `config` on these records will cost, before spending it: the steps an epoch
    takes on this machine's devices, one step timed here (global batch, frame budget and
    precision of the run) and the wall time it projects for every epoch (validation and the
    first compilation not included); the input pipeline's rate here (of every process); and,
    from the step's FLOPs (XLA's count of the compiled step under JAX, else the estimate) and
    published peak throughput, the compute-bound time on the TPUs of Kaggle and Colab at an
    assumed share of peak (`ACCELERATORS`)."""
    if keras.backend.backend() == "jax":
        devices.keep_tensorflow_off_accelerators()
    hardware = devices.local_hardware()
    meta = records.load_metadata(records_dir)
    info = plan_run(meta, config, hardware)
    train_folds, _ = dataset.training_folds(meta, config)
    # CutMix's share of the input pipeline is in the rate only where the records are aligned.
    spans = records.load_alignments(records_dir) if records.has_alignments(records_dir) else None
    augmenter = dataset.make_augmenter(config, spans)
    batches = iter(dataset.training_batches(records_dir, train_folds, config, 0, hardware,
                                            augmenter))  # fmt: skip
    frames, labels, _ = next(batches)  # fills the shuffle buffer: not part of the timed rate
    input_rate = _sequences_per_second(batches, len(frames)) * hardware.processes
    policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(info.precision)
    keras.utils.set_random_seed(config.seed)  # every process starts from the same weights
    try:
        with devices.distribution_scope(hardware):
            model = build_model(config)
            model.compile(make_optimizer(config, info.steps_per_epoch, info.learning_rate),
                          loss=ctc_loss)  # fmt: skip
            step = seconds_per_step(model, frames.numpy(), labels.numpy(), timed_steps)
            compiled = compiled_step_flops(model, frames.numpy(), labels.numpy())
    finally:
        keras.mixed_precision.set_global_policy(policy)
    epoch = step * info.steps_per_epoch
    sequences = training_sequences(meta, config)
    flops = training_flops(model, config)
    plan = {"recipe": config.recipe, "preset": config.preset, "parameters": model.count_params(),
            "machine": info.summary(), "training_sequences": sequences,
            "steps_per_epoch": info.steps_per_epoch, "epochs": config.epochs,
            "seconds_per_step": step, "minutes_per_epoch": epoch / 60,
            "projected_hours": epoch * config.epochs / 3600,
            "input_sequences_per_second": input_rate,
            "training_gflop_per_sequence": flops / 1e9}  # fmt: skip
    if compiled:
        plan["compiled_gflop_per_sequence"] = compiled / 1e9
    return plan | _accelerator_projections(compiled or flops, sequences * config.epochs)


def _accelerator_projections(flops_per_sequence: float, sequences: int) -> dict:
    """Compute-bound hours on each published accelerator at each assumed share of its peak, the
    rate its input pipeline would have to deliver and, on a notebook platform, the sessions
    (`train --time-limit`, `--resume auto`) and weeks of quota the run spans."""
    projections = {}
    for accelerator in ACCELERATORS:
        for share in ASSUMED_SHARES_OF_PEAK:
            at = f"{accelerator.name}, at {share:.0%} of peak"
            hours = accelerator.hours(flops_per_sequence * sequences, share)
            projections[f"{at}: hours"] = hours
            rate = accelerator.sequences_per_second(flops_per_sequence, share)
            projections[f"{at}: input sequences/s needed"] = round(rate)
            if session := environment.SESSION_HOURS.get(accelerator.platform):
                usable = session - environment.SESSION_MARGIN_HOURS
                projections[f"{at}: sessions"] = math.ceil(hours / usable)
            if quota := environment.WEEKLY_QUOTA_HOURS.get(accelerator.platform):
                projections[f"{at}: weeks of quota"] = hours / quota
    return projections


def _sequences_per_second(batches, batch: int, count: int = 10) -> float:
    """The input pipeline's rate on this machine's cores: `count` more batches of a started
    iterator."""
    started = time.perf_counter()
    taken = sum(1 for _, _ in zip(range(count), batches))
    return taken * batch / (time.perf_counter() - started)
