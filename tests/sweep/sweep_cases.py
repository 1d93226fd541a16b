"""Shared cases of the sweep tests."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from arbkit.backtest.config import WalkForwardConfig
from arbkit.sweep import SweepConfig


def small_sweep(trials: int = 16, **update: object) -> SweepConfig:
    """A 16-trial decider sweep on a small simulated history: 2 folds, ~0.2 s per fold."""
    cfg = SweepConfig(
        target="decider",
        trials=trials,
        batch_size=4,
        seed=7,
        n_blocks=2_000,
        walk_forward=WalkForwardConfig(train_blocks=600, test_blocks=400, max_folds=2),
    )
    return cfg.model_copy(update=update)


def sweep_cli(
    tmp_path: Path, *extra: str, reports: str = "reports", ledger: bool = True
) -> list[str]:
    """The command line of :func:`small_sweep` (16 trials), writing under ``tmp_path``."""
    cmd = [
        sys.executable, "-m", "arbkit.cli", "sweep", "--target", "decider", "--trials", "16",
        "--batch-size", "4", "--seed", "7", "--blocks", "2000", "--train-blocks", "600",
        "--test-blocks", "400", "--folds", "2", "--report-dir", str(tmp_path / reports),
        "--metrics", str(tmp_path / "sweep.json"), "--json",
    ]  # fmt: skip
    if ledger:
        cmd += ["--ledger", str(tmp_path / "ledger.json")]
    return [*cmd, *extra]


def need_ray() -> None:
    """Skip without Ray, except in CI, where its absence is a failure (make setup installs it)."""
    # as arbkit's RayExecutor does, before Ray's first import (see ray_executor.py)
    os.environ.setdefault("RAY_AUTH_MODE", "token")
    try:
        import ray  # noqa: F401
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("Ray is not installed: the scale extra is part of make setup")
        pytest.skip("Ray is not installed (pip install -e '.[scale]')")
