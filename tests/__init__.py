"""The suite. pytest-xdist runs one worker per core; each worker's frameworks get its share of the
cores, because their thread pools, each as large as the machine, cost time when they overlap
(two reading runs at once on 2 cores: 240 s each with one thread a framework, 281 s with the
defaults; 2026-12-03). Set here, before any conftest imports Keras; the processes a test starts
inherit it, and a value the environment already holds stays."""

import os

_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", 1))
_THREADS = max(1, (os.cpu_count() or 1) // _WORKERS)
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", str(_THREADS))
os.environ.setdefault("OMP_NUM_THREADS", str(_THREADS))  # oneDNN's kernels under TensorFlow
if _THREADS == 1:
    os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false")
