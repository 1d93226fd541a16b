"""Shared fixtures: the path of the real datasets in ../shared/data/real."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
_DEFAULT_REAL = REPO_ROOT.parent / "shared" / "data" / "real"


def real_data_dir() -> Path | None:
    """Return the real-data folder, or ``None`` when it is absent."""
    path = Path(os.environ.get("ARBKIT_REAL_DATA", _DEFAULT_REAL))
    return path if path.is_dir() else None


GUIDE = REPO_ROOT.parent / "shared" / "seed" / "000_e2006ea975a8c450.txt"


def require_shared(path: Path, what: str) -> Path:
    """Return ``path`` if it exists; else fail in CI (``CI=true``), skip with why elsewhere."""
    if path.exists():
        return path
    msg = f"{what} not found at {path}; it lives beside the repository in ../shared"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{msg} -- CI must have it", pytrace=False)
    pytest.skip(msg)


@pytest.fixture(scope="session")
def require() -> Any:
    """The :func:`require_shared` check, for tests of tests."""
    return require_shared


@pytest.fixture(scope="session")
def guide() -> Path:
    """Path of the user guide in ../shared/seed (skip locally, fail in CI when absent)."""
    return require_shared(GUIDE, "the user guide")


@pytest.fixture(scope="session")
def real_data() -> Path:
    """Path of ../shared/data/real; skip (locally) or fail (in CI) when it is absent."""
    path = real_data_dir()
    if path is None:
        return require_shared(
            Path(os.environ.get("ARBKIT_REAL_DATA", _DEFAULT_REAL)),
            "the real datasets (set ARBKIT_REAL_DATA to their folder)",
        )
    return path


@pytest.fixture(scope="module")
def anvil_tooling() -> None:
    """Skip (locally) or fail (CI=true) when `npm ci` has not installed anvil."""
    from arbkit.chain import anvil_binary
    from arbkit.errors import ConfigError

    try:
        anvil_binary()
    except ConfigError as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"anvil is not installed ({exc}) -- CI must run `npm ci`", pytrace=False)
        pytest.skip(f"anvil is not installed ({exc})")
