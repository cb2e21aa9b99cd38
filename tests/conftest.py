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
