"""The npm chain tooling for the chain tests: skip (locally) or fail (CI=true) without it."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

from arbkit.chain import anvil_binary, find_node_modules, solc_version
from arbkit.errors import ConfigError

T = TypeVar("T")


def _require(probe: Callable[[], T], what: str, ci_needs: str) -> T:
    """Return ``probe()``; skip (locally) or fail (CI=true) when the tooling is missing."""
    try:
        anvil_binary()
        return probe()
    except ConfigError as exc:
        msg = f"{what} is not installed ({exc})"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{msg} -- CI must {ci_needs}", pytrace=False)
        pytest.skip(msg)


def require_npm_packages() -> Path:
    """Return node_modules; skip (locally) or fail (CI=true) when `npm ci` has not run."""
    return _require(find_node_modules, "the npm chain tooling", "run `npm ci`")


@pytest.fixture(scope="module")
def npm_packages() -> Path:
    """The project's node_modules (anvil, Uniswap V2's artifacts, solc-js)."""
    return require_npm_packages()


@pytest.fixture(scope="module")
def solc() -> str:
    """solc-js's version (needs Node.js and `npm ci`)."""
    return _require(
        solc_version,
        "the npm chain tooling or Node.js",
        "install Node.js 20 and run `npm ci`",
    )
