"""Several JAX processes that train one run together (one a host: a TPU pod slice, a GPU
cluster, or several processes on one machine): joining them before anything computes, a barrier,
and ending one with a message when another is gone."""

from __future__ import annotations

import os
import sys


class ProcessLost(RuntimeError):
    """Another process of a multi-process run died or never joined."""


# Keras' own variables for a multi-process run (`keras.distribution.initialize`).
_KERAS_ENVIRONMENT = {"coordinator": "KERAS_DISTRIBUTION_JOB_ADDRESSES",
                      "num_processes": "KERAS_DISTRIBUTION_NUM_PROCESSES",
                      "process_id": "KERAS_DISTRIBUTION_PROCESS_ID"}  # fmt: skip


def wants_processes(coordinator: str | None = None, num_processes: int | None = None,
                    process_id: int | None = None, multi_host: bool = False) -> bool:  # fmt: skip
    """Whether a run is one of several processes: told so by options, Keras' environment
    variables, or `multi_host` (JAX finds the others: TPU pod slice, SLURM, Open MPI)."""
    given = (coordinator, num_processes, process_id)
    return multi_host or any(v is not None for v in given) or any(
        name in os.environ for name in _KERAS_ENVIRONMENT.values())  # fmt: skip


def join_processes(coordinator: str | None = None, num_processes: int | None = None,
                   process_id: int | None = None, timeout: float = 300) -> None:  # fmt: skip
    """Join a multi-process JAX run (`jax.distributed`), before anything computes. What is not
    given comes from Keras' environment variables, then from JAX's detection of the cluster.
    Within `timeout` seconds every process must have joined, or this one ends with a message
    (JAX would abort with a C++ trace, which no Python code can catch)."""
    import threading

    import jax

    values = {"coordinator": coordinator, "num_processes": num_processes, "process_id": process_id}
    for name, variable in _KERAS_ENVIRONMENT.items():
        if values[name] is None and variable in os.environ:
            values[name] = os.environ[variable].split(",")[0]  # Keras lists every job; 0 leads
    count, index = (None if values[k] is None else int(values[k]) for k in ("num_processes",
                                                                           "process_id"))
    jax.config.update("jax_cpu_collectives_implementation", "gloo")  # CPUs: collectives over TCP
    watchdog = threading.Timer(timeout, exit_with_message, [
        f"the run's {count or 'other'} processes did not all join {values['coordinator'] or ''} "
        f"within {timeout:.0f} s (--join-timeout): start the same command on every host, each "
        "with its own --process-id"])  # fmt: skip
    watchdog.daemon = True
    watchdog.start()
    jax.distributed.initialize(values["coordinator"], count, index,
                               initialization_timeout=int(timeout) + 60)  # ours fires first
    watchdog.cancel()


def exit_with_message(message: str) -> None:
    """End this process now, with a message: for a process whose peers are gone, where JAX's
    orderly shutdown would wait for them and then abort with a C++ trace."""
    print(f"error: {message}", file=sys.stderr, flush=True)
    os._exit(3)


def wait_for_every_process(name: str) -> None:
    """A barrier across the processes of a run (nothing to wait for in a single one)."""
    import keras

    if keras.backend.backend() == "jax":
        import jax

        if jax.process_count() > 1:
            from jax.experimental import multihost_utils

            multihost_utils.sync_global_devices(name)
