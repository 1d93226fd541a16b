"""The chain tooling the live fault and secret tests need: skip locally, fail in CI."""

from __future__ import annotations

import os

import pytest

from arbkit.chain import anvil_binary
from arbkit.errors import ConfigError


@pytest.fixture(scope="module")
def anvil_tooling() -> None:
    """Skip (locally) or fail (CI=true) when `npm ci` has not installed anvil."""
    try:
        anvil_binary()
    except ConfigError as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"anvil is not installed ({exc}) -- CI must run `npm ci`", pytrace=False)
        pytest.skip(f"anvil is not installed ({exc})")
