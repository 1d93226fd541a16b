from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from arbkit.rl.evaluate import RL_POLICIES, main
from arbkit.rl.training import train_sb3

TINY = {
    "ppo": {"n_steps": 64, "batch_size": 32, "n_epochs": 1},
    "dqn": {"learning_starts": 32, "buffer_size": 1_000, "target_update_interval": 50},
}


@pytest.mark.parametrize("algo", ["ppo", "dqn"])
def test_sb3_training_is_seeded(algo: str) -> None:
    kw = {"window_blocks": 32}
    a = train_sb3(algo, kw, seed=3, total_timesteps=128, hyperparams=TINY[algo])  # type: ignore[arg-type]
    b = train_sb3(algo, kw, seed=3, total_timesteps=128, hyperparams=TINY[algo])  # type: ignore[arg-type]
    obs = np.random.default_rng(0).uniform(0, 1, (64, 6)).astype(np.float32)
    obs[:, 1] = obs[:, 1] * 2 - 1
    assert np.array_equal(
        a.predict(obs, deterministic=True)[0], b.predict(obs, deterministic=True)[0]
    )
    assert a.device.type == "cpu"


def test_rl_comparison_runs_through_the_one_engine_and_writes_its_report(
    tmp_path: Path,
) -> None:
    out = tmp_path / "comparison.md"
    main(
        [
            "--seeds",
            "0",
            "--train-blocks",
            "600",
            "--test-blocks",
            "500",
            "--window-blocks",
            "64",
            "--ppo-timesteps",
            "128",
            "--dqn-timesteps",
            "128",
            "--q-episodes",
            "2",
            "--out",
            str(out),
        ]
    )
    text = out.read_text()
    for name in RL_POLICIES:
        assert f"| {name} |" in text
    assert "Upper bound" in text and "share of the bound" in text
    payload = json.loads(out.with_suffix(".json").read_text())
    nets = {r["policy"]: r["arbitrage_net_profit"] for r in payload["per_seed"]}
    assert all(nets[p] <= payload["bounds"][0] + 1e-9 for p in nets)


@pytest.mark.expensive
def test_full_comparison_writes_the_report(tmp_path: Path) -> None:
    out = tmp_path / "comparison.md"
    main(["--out", str(out)])
    assert "| ppo |" in out.read_text()
    assert out.with_suffix(".json").exists()
