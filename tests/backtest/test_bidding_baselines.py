"""Baselines that bid, tuned on the training history; bids sent through the one replay."""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import polars as pl
import pytest

from arbkit.backtest import BacktestConfig, Simulator
from arbkit.backtest.compare import (
    POLICIES,
    ComparisonConfig,
    bootstrap_difference,
    run_comparison,
    tune_rule,
)
from arbkit.backtest.engine import get_replay
from arbkit.backtest.learners import make_decider, rl_env_kwargs
from arbkit.backtest.policies import RuleBaseline
from arbkit.errors import ConfigError
from arbkit.market.history import MarketHistory
from arbkit.market.sim import simulate_market

BT = BacktestConfig(progress=False)


@lru_cache(maxsize=1)
def _history() -> MarketHistory:
    return simulate_market(seed=41, n_blocks=3_000)


def _run(policy: object, seed: int = 0) -> object:
    bt = BT.model_copy(update={"seed": seed})
    return Simulator(policy, _history(), bt, replay=get_replay(_history(), bt)).run_sync()


def test_the_rule_sends_its_tip_and_its_share_of_the_expected_net() -> None:
    plain = _run(RuleBaseline(min_net_quote=1.0))
    tipped = _run(RuleBaseline(min_net_quote=1.0, priority_fee_wei=3 * 10**9))
    share = _run(RuleBaseline(min_net_quote=1.0, bid_share=0.3, priority_fee_wei=0))
    tp, tt, ts = plain.trades, tipped.trades, share.trades  # type: ignore[attr-defined]
    assert tp.height and tt.height and ts.height
    assert (tp["bribe_paid_quote"] == 0).all() and (tt["bribe_paid_quote"] == 0).all()
    ok = ts.filter(pl.col("reason") == "ok")
    assert (ok["bribe_paid_quote"] > 0).all()
    # the transfer is 30% of the expected net at decision, with its gas at no tip: at least
    # 30% of the net at the run's 1 gwei tip (the table's), valued at inclusion
    ratio = (ok["bribe_paid_quote"] / ok["expected_net_quote"]).to_numpy()
    assert np.all(ratio > 0.29) and 0.3 < float(np.median(ratio)) < 0.6
    # a higher tip costs more gas per trade
    gas = lambda t: float((t["gas_paid_quote"] / t.height).sum())  # noqa: E731
    assert gas(tt) > gas(tp)


def test_tune_rule_keeps_the_best_setting_of_its_grid() -> None:
    cfg = ComparisonConfig(
        rule_min_net_quote=(0.0, 2.0),
        rule_bid_shares=(0.05, 0.5),
        rule_tips_wei=(10**8, 10**9, 10**10),
    )
    bt = BT.model_copy(update={"seed": 3})
    replay = get_replay(_history(), bt)
    for bid, grid in (
        ("tip", [{"priority_fee_wei": t} for t in cfg.rule_tips_wei]),
        (
            "share",
            [{"bid_share": s, "priority_fee_wei": t} for t in (None, 0) for s in (0.05, 0.5)],
        ),
    ):
        rule = tune_rule(_history(), cfg, seed=3, bid=bid)  # type: ignore[arg-type]
        nets = {}
        for extra in grid:
            for th in cfg.rule_min_net_quote:
                kw = {"min_net_quote": th, **extra}
                res = Simulator(RuleBaseline(**kw), _history(), bt, replay=replay).run_sync()
                nets[tuple(sorted(kw.items(), key=str))] = float(res["net_profit"])
        assert rule.tuned["train_net_profit"] == pytest.approx(max(nets.values()))
        assert rule.name == {"tip": "rule_best_tip", "share": "rule_profit_share"}[bid]


def test_bootstrap_difference_is_paired_and_reproducible() -> None:
    cfg = ComparisonConfig(
        policies=("rule", "rule_profit_share", "random"),
        seeds=(0, 1),
        rule_min_net_quote=(0.0, 2.0),
        rule_bid_shares=(0.05,),
    )
    h = _history()
    result = run_comparison(cfg, histories=(h, h))
    same = bootstrap_difference(result, "rule", "rule")
    assert same["mean"] == 0.0 and same["lo"] == 0.0 and same["hi"] == 0.0
    d = bootstrap_difference(result, "rule", "random", n_boot=500, seed=4)
    nets = {n: [float(r["net_profit"]) for r in runs] for n, runs in result.runs.items()}
    assert d["mean"] == pytest.approx(float(np.mean(np.subtract(nets["rule"], nets["random"]))))
    assert d["lo"] <= d["hi"]
    assert bootstrap_difference(result, "rule", "random", n_boot=500, seed=4) == d
    # one block covering each run: every replicate is a rotation of the whole series
    whole = bootstrap_difference(result, "rule", "random", n_boot=50, block_len=10**9)
    assert whole["lo"] == pytest.approx(whole["mean"]) and whole["hi"] == pytest.approx(d["mean"])
    with pytest.raises(ConfigError):
        bootstrap_difference(result, "rule", "ppo")
    assert {"rule_best_tip", "rule_profit_share"} <= set(POLICIES)
    assert result.info[0]["tuned_rule_profit_share"]["bid_share"] == 0.05


def test_the_decider_without_its_model_bids_its_share() -> None:
    h = _history()
    policy = make_decider(h, seed=0, use_model=False, backtest=BT, bid_share=0.3)
    assert policy.decider.win_model is None and policy.bid_share == 0.3
    res = Simulator(policy, h, BT).run_sync()
    ok = res.trades.filter(pl.col("reason") == "ok")
    assert ok.height and (ok["bribe_paid_quote"] > 0).all()


def test_the_decider_with_its_models_sends_its_own_bids() -> None:
    h = _history()
    policy = make_decider(
        h, seed=0, use_model=True, backtest=BT, overrides={"confidence_threshold": 0.0}
    )
    assert policy.decider.win_model is not None
    bids: list[tuple[int | None, int]] = []
    on_block = policy.on_block

    def spy(view: object) -> object:
        out = on_block(view)  # type: ignore[arg-type]
        bids.extend((o.priority_fee_wei, o.bribe_wei) for o in out)  # type: ignore[attr-defined]
        return out

    policy.on_block = spy  # type: ignore[method-assign]
    res = Simulator(policy, h, BT).run_sync()
    assert bids and all(tip == 0 for tip, _ in bids)
    assert any(b > 0 for _, b in bids)
    sent = res.trades.height
    assert sent == len(bids)
    paid = res.trades.filter(pl.col("reason") == "ok")["bribe_paid_quote"]
    assert math.isclose(float(paid.sum()) > 0, True)


def test_rl_training_env_carries_the_deciders_bids() -> None:
    h = _history()
    kwargs, model = rl_env_kwargs(h, seed=0, window_blocks=64, backtest=BT, bid=True)
    assert model is not None and kwargs["priority_fee_wei"] == 0
    cands = kwargs["candidates"]
    assert "bribe_wei" in cands.columns and (cands["bribe_wei"] >= 0).all()
    assert (cands["bribe_wei"] > 0).any()
    from arbkit.rl import ArbitrageEnv

    env = ArbitrageEnv(**kwargs)
    replay = env.replay if hasattr(env, "replay") else None
    if replay is not None:
        assert replay.default_bribe_wei(0) == int(cands["bribe_wei"][0])
    plain, none = rl_env_kwargs(h, seed=0, window_blocks=64, backtest=BT, bid=False)
    assert none is None and "candidates" not in plain
