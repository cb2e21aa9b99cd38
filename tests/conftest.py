"""Shared fixtures: a small synthetic dataset (made once per session) and the SILFA folder."""

from pathlib import Path

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
    from fingerspell.config import Config

    return Config(epochs=2, batch_size=16, max_frames=64)


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory) -> Path:
    from fingerspell import demo

    out = tmp_path_factory.mktemp("demo")
    demo.run_demo(out, DEMO_SEQUENCES, demo_config(), workers=1)
    return out
