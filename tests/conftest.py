"""Shared fixtures: the path of the real datasets in ../shared/data/real."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
_DEFAULT_REAL = REPO_ROOT.parent / "shared" / "data" / "real"


def real_data_dir() -> Path | None:
    """Return the real-data folder, or ``None`` when it is absent."""
    path = Path(os.environ.get("ARBKIT_REAL_DATA", _DEFAULT_REAL))
    return path if path.is_dir() else None


@pytest.fixture(scope="session")
def real_data() -> Path:
    """Path of ../shared/data/real; skip (locally) or fail (in CI) when it is absent."""
    path = real_data_dir()
    if path is None:
        msg = (
            f"real datasets not found at {_DEFAULT_REAL} (set ARBKIT_REAL_DATA to their folder); "
            "they live beside the repository in ../shared/data/real"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg + " -- CI must have them")
        pytest.skip(msg)
    return path
