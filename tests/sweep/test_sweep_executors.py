from __future__ import annotations

import numpy as np
import pytest

from arbkit.backtest.config import BacktestConfig, WalkForwardConfig
from arbkit.backtest.policies import RuleBaseline
from arbkit.backtest.walkforward import walk_forward
from arbkit.errors import ConfigError
from arbkit.market.sim import simulate_market
from arbkit.sweep import InProcessExecutor, make_executor, map_ordered
from arbkit.workspace import train_rl_policies, train_rl_policy


def _square(x: int) -> int:
    return x * x


def test_in_process_executor_yields_every_item_in_order() -> None:
    ex = InProcessExecutor()
    assert ex.workers == 1
    assert list(ex.imap_unordered(_square, [3, 1, 2])) == [(0, 9), (1, 1), (2, 4)]
    assert map_ordered(_square, [4, 5]) == [16, 25]
    assert map_ordered(_square, []) == []


def test_make_executor_refuses_what_the_local_executor_cannot_do() -> None:
    assert make_executor("local").name == "local"
    with pytest.raises(ConfigError, match="--address needs --executor ray"):
        make_executor("local", address="127.0.0.1:6379")
    with pytest.raises(ConfigError, match="one worker"):
        make_executor("local", workers=2)
    with pytest.raises(ConfigError, match="expected one of"):
        make_executor("dask")


def test_walk_forward_gives_the_same_result_through_an_executor() -> None:
    history = simulate_market(seed=3, n_blocks=1_500)
    wf = WalkForwardConfig(train_blocks=400, test_blocks=300, max_folds=3)
    bt = BacktestConfig(seed=5)

    def make(train: object, seed: int) -> RuleBaseline:
        return RuleBaseline(min_net_quote=float(seed % 3))

    a = walk_forward(make, history, wf, bt)
    b = walk_forward(make, history, wf, bt, executor=InProcessExecutor())
    assert len(a.results) == 3
    assert [r["net_profit"] for r in a.results] == [r["net_profit"] for r in b.results]
    assert a.pooled["net_profit"] == b.pooled["net_profit"]


def test_train_rl_policies_trains_each_seed_as_train_rl_policy_does() -> None:
    history = simulate_market(seed=4, n_blocks=800)
    out = train_rl_policies(history, [11, 12], episodes=3, window_blocks=64)
    for seed, (policy, metrics) in zip([11, 12], out, strict=True):
        ref, ref_metrics = train_rl_policy(history, seed=seed, episodes=3, window_blocks=64)
        assert np.array_equal(policy.q_table, ref.q_table)
        assert metrics == ref_metrics
    assert not np.array_equal(out[0][0].q_table, out[1][0].q_table)


def test_backtest_cli_refuses_an_unknown_executor_before_any_work() -> None:
    from typer.testing import CliRunner

    from arbkit.cli import app

    out = CliRunner().invoke(
        app, ["backtest", "--walk-forward-blocks", "20000", "--executor", "dask"]
    )
    assert out.exit_code == 2
    assert "expected one of ['local', 'ray']" in out.output
