"""Shared fixtures: a small synthetic dataset (made once per session) and the SILFA folder."""

from pathlib import Path

import keras
import pytest

from fingerspell import synthetic

SILFA = Path(__file__).resolve().parents[2] / "shared" / "data" / "silfa"


@pytest.fixture(scope="session")
def silfa_dir() -> Path:
    if not SILFA.exists():
        pytest.skip(f"SILFA recordings not found at {SILFA}")
    return SILFA


@pytest.fixture(scope="session")
def synth_dir(tmp_path_factory) -> Path:
    """120 train + 30 supplemental sequences; read-only for tests (copy before damaging)."""
    return synthetic.write_dataset(
        tmp_path_factory.mktemp("synth") / "data", 120, seed=7, n_supplemental=30
    )


# A demo run in the smallest useful size: its data, records, trained run and submission are shared
# by the training, export and check tests (training is what costs time here).
DEMO_SEQUENCES = 120


def demo_config():
    """Two epochs of 6 steps (96 usable training sequences), 2 steps per compiled call: the
    resume test then covers several steps per execution on both backends."""
    from fingerspell.config import Config

    return Config(epochs=2, batch_size=16, max_frames=64, steps_per_execution=2)


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory) -> Path:
    from fingerspell import demo

    out = tmp_path_factory.mktemp("demo")
    demo.run_demo(out, DEMO_SEQUENCES, demo_config(), workers=1)
    return out


# Tests that start their own processes for each backend need to run in one pass only: the
# TensorFlow one (tests/test_jax.py runs the backend-neutral files again under JAX).
once = pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                          reason="starts its own processes; runs in the TensorFlow pass")
