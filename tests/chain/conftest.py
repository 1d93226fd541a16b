"""The npm chain tooling for the chain tests: skip (locally) or fail (CI=true) without it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from arbkit.chain import anvil_binary, find_node_modules
from arbkit.errors import ConfigError


def require_npm_packages() -> Path:
    """Return node_modules; skip (locally) or fail (CI=true) when `npm ci` has not run."""
    try:
        anvil_binary()
        return find_node_modules()
    except ConfigError as exc:
        msg = f"the npm chain tooling is not installed ({exc})"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{msg} -- CI must run `npm ci`", pytrace=False)
        pytest.skip(msg)


@pytest.fixture(scope="module")
def npm_packages() -> Path:
    """The project's node_modules (anvil, Uniswap V2's artifacts, solc-js)."""
    return require_npm_packages()
