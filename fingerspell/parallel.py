"""One way to spread work over processes, for the stages that write files in parallel (synth,
preprocess)."""

from __future__ import annotations

from collections.abc import Callable, Iterator


def map_in_processes(function: Callable, jobs: list, workers: int) -> Iterator:
    """`function(job)` for every job, in order: in this process for one worker or one job (also
    what ram:// paths need), else in up to `workers` spawned processes (TensorFlow does not
    survive a fork). `function` and the jobs must pickle."""
    if workers <= 1 or len(jobs) <= 1:
        yield from map(function, jobs)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(min(workers, len(jobs)), mp_context=context) as pool:
        yield from pool.map(function, jobs)
