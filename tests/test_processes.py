"""Training on several JAX processes (`jax.distributed`, gloo collectives on CPUs), started on
localhost exactly as docs/hardware.md starts them on several hosts: the same `train` command in
every process, each with its --process-id. Each process has 2 simulated devices; the reference
is one process with 4."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fingerspell import plan, runs, train
from fingerspell.config import Config
from tests.conftest import once
from tests.test_train import _weights

TRAIN = ["--epochs", "2", "--batch-size", "4", "--max-frames", "64", "--backend", "jax"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _command(records: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "fingerspell", "train", "--records", str(records), *TRAIN,
            *extra]  # fmt: skip


def _environment(devices: int) -> dict[str, str]:
    return {**os.environ, "KERAS_BACKEND": "jax",
            "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}"}  # fmt: skip


def _start(records: Path, processes: int, *extra: str) -> list[subprocess.Popen]:
    """`processes` processes of 4 / processes devices each, joined through a coordinator on a
    free port of localhost."""
    spread = ["--coordinator", f"127.0.0.1:{_free_port()}", "--num-processes", str(processes)]
    return [subprocess.Popen(_command(records, *extra, *spread, "--process-id", str(i)),
                             env=_environment(4 // processes), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, start_new_session=True)
            for i in range(processes)]  # fmt: skip


def _finish(started: list[subprocess.Popen]) -> list[str]:
    outputs = [process.communicate(timeout=600) for process in started]
    for process, (_, err) in zip(started, outputs):
        assert process.returncode == 0, err[-3000:]
    return [out + err for out, err in outputs]


@pytest.fixture(scope="module")
def one_process_of_four(demo_dir, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("one") / "run"
    done = subprocess.run(_command(demo_dir / "records", "--out", str(run)),
                          env=_environment(4), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return run


@pytest.mark.slow
@once
def test_two_processes_of_two_devices_lose_one_resume_and_end_as_one_process_of_four(
    demo_dir, tmp_path, one_process_of_four,
):  # fmt: skip
    """SIGKILL one process mid-run: the other ends with a message, within a bounded time,
    leaving nothing half-written; both started again with --resume finish the run, whose loss
    history, validation scores and weights are those of one process with 4 devices."""
    records, run = demo_dir / "records", tmp_path / "run"
    first, second = _start(records, 2, "--out", str(run))
    history, deadline = run / runs.HISTORY, time.monotonic() + 300
    while not history.exists():
        assert first.poll() is None and time.monotonic() < deadline, "no epoch finished"
        time.sleep(0.02)
    os.killpg(second.pid, signal.SIGKILL)
    killed = time.monotonic()
    _, err = first.communicate(timeout=120)
    print(err[-1500:])
    assert first.returncode != 0
    assert time.monotonic() - killed < 60
    assert "another process of the run died or stopped answering" in err
    assert "--resume" in err and "Traceback" not in err
    second.communicate()
    assert len(pd.read_csv(history)) == 1  # the finished epoch, its checkpoints and backup
    assert not [p for p in run.rglob("*") if p.name.endswith(".tmp")]

    first, second = _finish(_start(records, 2, "--out", str(run), "--resume"))
    reference = pd.read_csv(one_process_of_four / runs.HISTORY)
    history = pd.read_csv(run / runs.HISTORY)
    print(pd.concat({"1 × 4": reference, "2 × 2": history}, axis=1).to_string())
    assert history.epoch.tolist() == [0, 1]
    np.testing.assert_allclose(history.loss, reference.loss, rtol=1e-4)
    # Validation over the whole fold, once. This 2-epoch run decodes nearly everything alike, so
    # the score barely tells; the next test compares the decodes of a run that reads, row by row.
    np.testing.assert_allclose(history.val_score, reference.val_score, atol=0.02)
    for a, b in zip(_weights(one_process_of_four / runs.LAST), _weights(run / runs.LAST)):
        np.testing.assert_allclose(b, a, atol=1e-4)

    info = runs.run_info(run)
    assert (info["devices"], info["processes"], info["global_batch"]) == (4, 2, 16)
    assert info["distribution"] == "DataParallel over 4 devices in 2 processes"
    assert info["steps_per_epoch"] == runs.run_info(one_process_of_four)["steps_per_epoch"]
    # Written by the first process only: one TensorBoard log a start, and the second says nothing.
    assert {p.name for p in run.iterdir()} == {p.name for p in one_process_of_four.iterdir()}
    assert len(list((run / "logs" / "train").glob("events.*"))) == 2
    assert "run written to" in first and "run written to" not in second
    assert "val_score" in first and "val_score" not in second

    # A resume on another spread is refused: its global batch and data order would differ.
    with pytest.raises(FileExistsError, match="4 devices in 2 process"):
        train.train(str(records), run, Config.load(str(run / "config.json")), resume=True)


def test_a_plan_counts_every_device_of_every_process(reading_dir):
    """What `train --plan` and `train` build on: two processes of 2 devices plan as one of 4,
    not as the 2 devices each process holds: the global batch, steps and learning rate follow
    every device of every process (computed here from the rules). (`--plan` itself on two
    processes, one report from process 0: BENCHMARKS.md.)"""
    from fingerspell import devices, records

    meta, config = records.load_metadata(str(reading_dir / "records")), Config(batch_size=4)
    one = plan.plan_run(meta, config, devices.Hardware("jax", "cpu", "cpu", 4, False))
    two = plan.plan_run(meta, config, devices.Hardware("jax", "cpu", "cpu", 4, False, 2, 1))
    local = plan.plan_run(meta, config, devices.Hardware("jax", "cpu", "cpu", 2, False))
    usable = plan.training_sequences(meta, config)
    expected = (4 * 4, usable // 16, config.learning_rate * 2)  # × devices, × √devices
    assert (two.global_batch, two.steps_per_epoch, two.learning_rate) == pytest.approx(expected)
    assert (one.global_batch, one.steps_per_epoch, one.learning_rate) == pytest.approx(expected)
    assert (local.global_batch, local.steps_per_epoch) == (8, usable // 8)
    assert two.distribution == "DataParallel over 4 devices in 2 processes"
    assert (two.devices, two.processes) == (4, 2)


# Validation's decoding, as `train` runs it, in a process of 4 devices or in one of two processes
# of 2 devices each (then `evaluate._decode_across_processes`).
DECODE = """
import json, sys
import keras
from fingerspell import dataset, devices, evaluate, processes, runs
from fingerspell.features import model_landmarks
from fingerspell.model import decoding_model

run, records_dir, *spread = sys.argv[1:]
if spread:
    processes.join_processes(spread[0], 2, int(spread[1]))
keras.utils.set_random_seed(0)  # as `train`: every process builds the same weights first
with devices.distribution_scope(devices.local_hardware()):
    model, config = runs.load_trained(run, runs.LAST)
    data = dataset.make_dataset(records_dir, [0], 8, config.max_frames, False,
                                model_landmarks(config.model_landmarks), config.max_phrase)
    print(json.dumps(evaluate.evaluate(decoding_model(model), data, config.fallback)))
"""


@pytest.mark.slow
@once
def test_two_processes_decode_the_validation_fold_as_one_process_does(reading_dir):
    """Every process of a multi-process run scores the whole fold from the rows each decoded: on
    a run that reads, the phrases and the decodes, row by row, are those of one process with as
    many devices."""
    run, records_dir = str(reading_dir / "run"), str(reading_dir / "records")
    one = subprocess.run([sys.executable, "-c", DECODE, run, records_dir], env=_environment(4),
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert one.returncode == 0, one.stderr[-3000:]
    truths, predictions = json.loads(one.stdout.splitlines()[-1])
    assert len(truths) > 50 and len(set(predictions)) >= 0.9 * len(predictions)
    coordinator = f"127.0.0.1:{_free_port()}"
    started = [subprocess.Popen([sys.executable, "-c", DECODE, run, records_dir, coordinator,
                                 str(i)], env=_environment(2), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)
               for i in range(2)]  # fmt: skip
    for process in started:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err[-3000:]
        assert json.loads(out.splitlines()[-1]) == [truths, predictions]


@once
def test_a_process_that_never_joins_ends_the_others_with_a_message(reading_dir, tmp_path):
    spread = ["--coordinator", f"127.0.0.1:{_free_port()}", "--num-processes", "2",
              "--process-id", "0", "--join-timeout", "5"]  # fmt: skip
    started = time.monotonic()
    command = _command(reading_dir / "records", "--out", str(tmp_path / "run"), *spread)
    done = subprocess.run(command, env=_environment(2), capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert done.returncode == 3
    assert time.monotonic() - started < 60
    assert "did not all join" in done.stderr and "--process-id" in done.stderr
    assert not (tmp_path / "run").exists()  # nothing written before every process is there


@once
def test_several_processes_need_jax(reading_dir, tmp_path):
    """Checked before anything joins or is written (this process runs TensorFlow)."""
    from fingerspell import cli

    with pytest.raises(SystemExit, match="--backend jax"):
        cli.main(["train", "--records", str(reading_dir / "records"), "--out",
                  str(tmp_path / "run"), "--num-processes", "2",
                  "--backend", "tensorflow"])  # fmt: skip
    assert not (tmp_path / "run").exists()
