"""Shared fixtures: a small synthetic dataset (made once per session), the SILFA folder, a demo
run, and a local Cloud Storage emulator for gs:// paths."""

import os
import re
import shutil
import sys
from pathlib import Path

import keras
import pytest
from filelock import FileLock

from fingerspell.data import SILFA
from fingerspell.synthetic import generator

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import gcs_emulator as emulator  # noqa: E402  (a script of tools/, not a package)

SHARED_SILFA = ROOT.parent / "shared" / "data" / "silfa"  # the package ships a copy: data.SILFA


# Session fixtures that train a run; see pytest_collection_modifyitems.
TRAINED_RUNS = {"demo_dir", "reading_dir"}


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects
def pytest_collection_modifyitems(items):
    """Under JAX, a test that reads a trained run is in the slow tier: the suite's JAX pass
    (tests/test_jax.py) then trains no run (it took 640 s of one worker with them, 222 s
    without, 2026-12-03); its model, training step and precision checks stay. The nested JAX
    pass is still the longest test: it goes first, so that one worker runs it while the others
    run everything else, rather than starting it last (pytest-xdist hands out files in
    collection order)."""
    if keras.backend.backend() == "jax":
        for item in items:
            if TRAINED_RUNS & set(getattr(item, "fixturenames", ())):
                item.add_marker(pytest.mark.slow)
    items.sort(key=lambda item: not item.nodeid.startswith("tests/test_jax.py"))


def files_under(folder: str) -> dict[str, bytes]:
    """Every file under a local or gs:// folder, with its bytes."""
    import tensorflow as tf

    from fingerspell import storage

    paths = [storage.join(top, name) for top, _, names in tf.io.gfile.walk(folder)
             for name in names]  # fmt: skip
    assert paths, folder
    return {path: storage.read_bytes(path) for path in paths}


def shared(path: Path) -> Path:
    """A file or folder of ../shared beside the clone. CI always has it, so there its absence
    fails the test; in a clone without it, the test skips and says so."""
    if not path.exists():
        (pytest.fail if os.environ.get("CI") else pytest.skip)(f"{path} not found (../shared)")
    return path


@pytest.fixture(scope="session")
def silfa_dir() -> Path:
    """The SILFA letters the package ships (equal to ../shared's: test_reader)."""
    return SILFA


@pytest.fixture(scope="session")
def synth_dir(tmp_path_factory) -> Path:
    """120 train + 30 supplemental sequences; read-only for tests (copy before damaging)."""
    folder = tmp_path_factory.mktemp("synth") / "data"
    generator.write_dataset(folder, 120, seed=7, n_supplemental=30)
    return folder


# A demo run in the smallest useful size: its data, records, trained run and submission are shared
# by the training, export and check tests (training is what costs time here).
DEMO_SEQUENCES = 120


def demo_config():
    """Two epochs of 6 steps (96 usable training sequences), 2 steps per compiled call: the
    resume test then covers several steps per execution on both backends."""
    from fingerspell.config import Config

    return Config(epochs=2, batch_size=16, max_frames=64, steps_per_execution=2)


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory, worker_id) -> Path:
    """Trained once per backend, shared by the pytest-xdist workers (read-only)."""
    return _shared_demo(tmp_path_factory, worker_id, "demo", DEMO_SEQUENCES, demo_config())


# A run that reads: its decodes are many different strings, mostly right, so that checks which
# compare decodes (parity, validation order, alignment) compare something. 480 sequences and 30
# epochs without augmentation reach about 0.6 on the held-out fold; the demo's 12 steps answer
# " " to nearly everything.
READING_SEQUENCES = 480


def reading_config():
    from fingerspell.config import Augmentation, Config

    off = Augmentation(**{name: 0.0 for name in vars(Augmentation())})
    return Config(epochs=30, batch_size=16, max_frames=64, augment=off, steps_per_execution=2)


@pytest.fixture(scope="session")
def reading_dir(tmp_path_factory, worker_id) -> Path:
    """A demo-layout folder (data, records, run, submission, check report) whose model reads;
    once per backend, shared like `demo_dir`."""
    return _shared_demo(tmp_path_factory, worker_id, "reading", READING_SEQUENCES,
                        reading_config(), data_seed=1)  # fmt: skip


def _shared_demo(tmp_path_factory, worker_id, name: str, sequences: int, config,
                 data_seed: int = 0) -> Path:  # fmt: skip
    """`demo.run_demo` once per backend: the first pytest-xdist worker to ask runs it in the
    folder the workers share while the others wait on a lock, then all read it."""
    from fingerspell import demo

    name = f"{name}-{keras.backend.backend()}"
    if worker_id == "master":  # no xdist: this session's own folder
        out = tmp_path_factory.mktemp(name)
        demo.run_demo(out, sequences, config, workers=1, data_seed=data_seed)
        return out
    root = tmp_path_factory.getbasetemp().parent
    out, done = root / name, root / f"{name}.done"
    with FileLock(root / f"{name}.lock"):  # pytest-xdist's recipe for a shared session fixture
        if not done.exists():
            shutil.rmtree(out, ignore_errors=True)  # a worker that died half-way
            demo.run_demo(out, sequences, config, workers=1, data_seed=data_seed)
            done.touch()
    return out


# Tests that start their own processes for each backend need to run in one pass only: the
# TensorFlow one (tests/test_jax.py runs the backend-neutral files again under JAX).
once = pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                          reason="starts its own processes; runs in the TensorFlow pass")
CUTMIX_UNDER_TENSORFLOW = "the TensorFlow pass; under JAX, test_notebooks trains the same path"


@pytest.fixture(scope="session")
def gcs_emulator():
    """A Cloud Storage emulator on localhost (tools/gcs_emulator.py, its own process), with this
    process's environment pointed at it: TensorFlow's gs:// filesystem, and every process started
    from here, reach it instead of Google. Yields the bucket's URL."""
    with emulator.running() as url:
        yield url


@pytest.fixture
def bucket(gcs_emulator, request) -> str:
    """A gs:// prefix of this test's own in the emulator's bucket."""
    return f"{gcs_emulator}/{re.sub(r'[^A-Za-z0-9_-]+', '-', request.node.name)}"
