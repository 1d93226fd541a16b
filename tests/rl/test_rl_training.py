from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from arbkit.rl.evaluate import (
    POLICIES,
    ComparisonSettings,
    evaluate_actor,
    format_comparison,
    main,
    random_actor,
    rule_actor,
    run_comparison,
)
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


def test_rule_beats_random_on_held_out_windows() -> None:
    kw = {"window_blocks": 128}
    rule = evaluate_actor(rule_actor(), kw, seed=1, name="rule")
    rand = evaluate_actor(random_actor(np.random.default_rng(0)), kw, seed=1, name="random")
    assert rule.episodes == rand.episodes > 10
    assert rule.spot_trades == 0 and rule.flash_trades > 0
    assert rule.mean_return > rand.mean_return
    again = evaluate_actor(rule_actor(), kw, seed=1, name="rule")
    assert again == rule


def test_comparison_pipeline_on_a_tiny_run(tmp_path: Path) -> None:
    settings = ComparisonSettings(
        seeds=(0, 1),
        train_blocks=500,
        test_blocks=400,
        window_blocks=64,
        ppo_timesteps=128,
        dqn_timesteps=128,
        q_episodes=2,
    )
    results = run_comparison(settings)
    assert results.height == 2 * len(POLICIES)
    assert set(results["policy"]) == set(POLICIES)
    assert set(results["seed"]) == {0, 1}
    # every policy of a run meets the same evaluation draws
    per_run = results.group_by("seed").agg(pl.col("eval_seed").n_unique().alias("n"))
    assert per_run["n"].to_list() == [1, 1]
    text = format_comparison(results, settings)
    for name in POLICIES:
        assert f"| {name} |" in text
    assert "±" in text and "highest mean return" in text


@pytest.mark.expensive
def test_full_comparison_writes_the_report(tmp_path: Path) -> None:
    out = tmp_path / "comparison.md"
    main(["--out", str(out)])
    assert "| PPO |" in out.read_text()
    assert out.with_suffix(".csv").exists()
