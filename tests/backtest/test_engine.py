from __future__ import annotations

import asyncio
import math
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from arbkit.backtest import (
    BacktestConfig,
    BlockView,
    ForesightPolicy,
    Order,
    RandomPolicy,
    RuleBaseline,
    Simulator,
    WalkForwardConfig,
)
from arbkit.backtest.analytics import compute_metrics, daily_returns
from arbkit.backtest.protocol import PolicyBase
from arbkit.backtest.report import write_report
from arbkit.backtest.walkforward import fold_windows, walk_forward
from arbkit.errors import ArbkitError, ConfigError
from arbkit.execution import ExecutionConfig, Outcome
from arbkit.market.history import MarketHistory
from arbkit.market.real_history import load_real_history
from arbkit.market.sim import simulate_market
from arbkit.opportunities import ScanConfig


@lru_cache(maxsize=2)
def _history(n: int = 3 * 7_200, seed: int = 21) -> MarketHistory:
    return simulate_market(seed=seed, n_blocks=n)


class _Spy(PolicyBase):
    """Trades the best candidate and records what it saw and when it learnt."""

    every_block = False

    def __init__(self) -> None:
        super().__init__()
        self.name = "spy"
        self.offered: list[tuple[int, list[int]]] = []
        self.revealed: list[tuple[int, Outcome]] = []

    def on_block(self, view: BlockView) -> list[Order]:
        self.offered.append((view.block, view.candidates["cand_id"].to_list()))
        return [Order(cand_id=int(view.candidates["cand_id"][0]))]

    def on_outcome(self, order: Order, outcome: Outcome, view: BlockView) -> None:
        self.revealed.append((self._now, outcome))

    _now = -1


def test_guide_snippet_runs_and_prints_sharpe_and_win_rate(capsys: Any) -> None:
    simulator = Simulator(policy=RuleBaseline(), data=_history())
    results = asyncio.run(simulator.run())
    print(f"Sharpe Ratio: {results['sharpe']:.2f}")
    print(f"Win Rate: {results['win_rate']:.1%}")
    out = capsys.readouterr().out
    assert "Sharpe Ratio: " in out and "nan" not in out
    assert results["trade_count"] > 100 and results["days"] == 3


def test_same_seed_same_trades_and_other_seeds_differ() -> None:
    h = _history()
    a = Simulator(RuleBaseline(), h, BacktestConfig(seed=1)).run_sync()
    b = Simulator(RuleBaseline(), h, BacktestConfig(seed=1)).run_sync()
    c = Simulator(RuleBaseline(), h, BacktestConfig(seed=2)).run_sync()
    assert a.trades.equals(b.trades) and a.equity.equals(b.equity)
    assert not a.trades.equals(c.trades)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_oracle_bounds_every_policy(seed: int) -> None:
    h = _history()
    cfg = BacktestConfig(seed=seed)
    oracle = ForesightPolicy()
    Simulator(oracle, h, cfg).run_sync()
    for policy in (RuleBaseline(), RandomPolicy(seed=seed), RuleBaseline(min_edge_bps=20)):
        res = Simulator(policy, h, cfg).run_sync()
        assert oracle.upper_bound_quote >= res["arbitrage_net_profit"], policy.name


def test_switching_costs_off_never_lowers_profit() -> None:
    h = _history()
    free = BacktestConfig(execution=ExecutionConfig(charge_gas=False, charge_flash_fee=False))
    for policy_cls in (RuleBaseline, ForesightPolicy):
        with_costs = Simulator(policy_cls(), h).run_sync()
        no_costs = Simulator(policy_cls(), h, free).run_sync()
        assert no_costs["net_profit"] >= with_costs["net_profit"]
        assert no_costs["gas_paid"] == 0.0 and with_costs["gas_paid"] > 0


def test_outcomes_are_revealed_at_their_including_block_not_before() -> None:
    h = _history(n=2_000)
    spy = _Spy()
    sim = Simulator(spy, h)
    seen_at: list[int] = []
    original = spy.on_block

    def on_block(view: BlockView) -> list[Order]:
        spy._now = view.block
        seen_at.append(view.block)
        return original(view)

    spy.on_block = on_block  # type: ignore[method-assign]
    res = sim.run_sync()
    assert spy.revealed
    last = int(h.block_numbers[-1])
    for now, outcome in spy.revealed:
        if outcome.included_block is not None and outcome.included_block <= last:
            # revealed at the first policy call at or after the including block
            assert now >= outcome.included_block - 1 or now == -1
            assert now < outcome.included_block or now == outcome.included_block
    assert res["order_count"] == len(spy.offered)


def test_a_gap_is_not_offered_again_while_its_pools_are_unchanged() -> None:
    h = _history(n=3_000)
    spy = _Spy()
    sim = Simulator(spy, h)
    sim.run_sync()
    cands = sim.candidates
    r0, r1 = h.reserves()
    first = int(h.block_numbers[0])
    pools = {
        cid: [h.pool_index[p] for p in r]
        for cid, r in zip(cands["cand_id"].to_list(), cands["route"].to_list(), strict=True)
    }
    traded: list[tuple[int, list[int]]] = []  # (state position consumed, pools)
    for block, offered in spy.offered:
        t = block - first
        for cid in offered:
            for s, ps in traded:
                if s < t and any(p in ps for p in pools[cid]):
                    # a pool of a past trade: it must have changed since
                    shared = [p for p in pools[cid] if p in ps]
                    assert any(r0[t, p] != r0[s, p] or r1[t, p] != r1[s, p] for p in shared)
        traded.append((t, pools[offered[0]]))


def test_inventory_trades_never_exceed_equity() -> None:
    h = _history(n=2_000)
    cfg = BacktestConfig(portfolio_value_eth=0.5, scan=ScanConfig(kinds=("cex_dex",)))
    res = Simulator(RuleBaseline(), h, cfg).run_sync()
    cands = Simulator(RuleBaseline(), h, cfg).candidates
    full = dict(zip(cands["cand_id"].to_list(), cands["notional_quote"].to_list(), strict=True))
    eq0 = res["initial_equity"]
    for cid, amount in zip(res.trades["cand_id"].to_list(), res.trades["amount_in"], strict=True):
        row = cands.filter(pl.col("cand_id") == cid).row(0, named=True)
        assert full[cid] * amount / float(row["amount_in"]) <= eq0 * 1.2


def test_policy_must_order_an_offered_candidate() -> None:
    class Cheat(RuleBaseline):
        def on_block(self, view: BlockView) -> list[Order]:
            return [Order(cand_id=10**9)]

    with pytest.raises(ArbkitError, match="not offered"):
        Simulator(Cheat(), _history(n=2_000)).run_sync()


def test_sharpe_matches_the_textbook_formula() -> None:
    res = Simulator(RuleBaseline(), _history()).run_sync()
    r = daily_returns(res.equity).to_numpy()
    assert r.size == 3
    expected = r.mean() / r.std(ddof=1) * math.sqrt(365)
    assert res["sharpe"] == pytest.approx(expected, rel=1e-9)
    eq = res.equity["equity_quote"].to_numpy()
    assert res["net_profit"] == pytest.approx(eq[-1] - eq[0])
    assert res["net_profit"] == pytest.approx(float(res.trades["net_profit_quote"].sum()))


def test_metrics_on_a_hand_made_curve() -> None:
    equity = pl.DataFrame(
        {
            "block": [1, 2, 3, 4],
            "timestamp": [0, 86_400, 2 * 86_400, 3 * 86_400],
            "equity_quote": [100.0, 110.0, 99.0, 120.0],
        }
    )
    trades = pl.DataFrame(
        {
            "kind": ["dex_dex", "dex_dex", "cex_dex"],
            "route": ["a", "a", "b"],
            "included_block": [2, None, 3],
            "success": [True, False, False],
            "realized_profit_quote": [12.0, 0.0, 0.0],
            "gas_paid_quote": [2.0, 0.0, 1.0],
            "bribe_paid_quote": [0.0, 0.0, 0.0],
            "flash_fee_quote": [0.0, 0.0, 0.0],
            "net_profit_quote": [10.0, 0.0, -1.0],
        }
    )
    m = compute_metrics(trades, equity)
    assert m["max_drawdown"] == pytest.approx(0.1)
    assert m["win_rate"] == 0.5 and m["revert_rate"] == 0.5 and m["trade_count"] == 2
    assert m["gas_share_of_profit"] == pytest.approx(3.0 / 12.0)
    assert m["profit_by_route"] == {"a": 10.0, "b": -1.0}


def test_walk_forward_trains_only_on_the_past() -> None:
    h = _history()
    wf = WalkForwardConfig(train_blocks=5_000, purge_blocks=50, test_blocks=4_000)
    seen: list[tuple[int, int, int]] = []

    def make(train: MarketHistory, seed: int) -> RuleBaseline:
        seen.append((int(train.block_numbers[0]), int(train.block_numbers[-1]), seed))
        return RuleBaseline()

    res = walk_forward(make, h, wf)
    folds = fold_windows(h.n_blocks, wf)
    assert len(res.results) == len(folds) == 4
    for (lo, hi, seed), f, r in zip(seen, folds, res.results, strict=True):
        test_first = int(r.equity["block"][0])
        assert hi + 50 < test_first and lo == h.block_numbers[f.train[0]]
        assert seed == f.index
    assert res.pooled["trade_count"] == sum(r["trade_count"] for r in res.results)
    assert res.pooled["net_profit"] == pytest.approx(sum(r["net_profit"] for r in res.results))
    assert res.table().height == 5
    with pytest.raises(ConfigError, match="needs"):
        fold_windows(100, wf)


def test_report_is_self_contained_html(tmp_path: Path) -> None:
    h = _history(n=2_000)
    runs = {
        "rule": [Simulator(RuleBaseline(), h, BacktestConfig(seed=s)).run_sync() for s in (0, 1)],
        "foresight": [
            Simulator(ForesightPolicy(), h, BacktestConfig(seed=s)).run_sync() for s in (0, 1)
        ],
    }
    out = write_report(runs, tmp_path / "r" / "index.html", title="t")
    text = out.read_text()
    for part in ("Policy comparison", "Equity and drawdown", "Profit by route", "Calibration"):
        assert part in text
    assert text.count("data:image/png;base64,") >= 3 and "<script" not in text


def test_real_uniswap_sushiswap_history_backtests(real_data: Path) -> None:
    h = load_real_history(real_data)
    assert h.n_blocks > 3_000 and {p.venue for p in h.pools} == {"uniswap_v2", "sushiswap"}
    cfg = BacktestConfig(scan=ScanConfig(kinds=("dex_dex",)))
    oracle = ForesightPolicy()
    res_o = Simulator(oracle, h, cfg).run_sync()
    res_r = Simulator(RuleBaseline(), h, cfg).run_sync()
    assert oracle.upper_bound_quote >= res_r["arbitrage_net_profit"]
    assert res_o["days"] > 400
    assert np.isfinite(res_r["net_profit"])


def test_a_policy_without_the_declared_hooks_is_refused_by_name() -> None:
    class Bare:
        name = "bare"
        every_block = False

        def on_block(self, view: BlockView) -> list[Order]:
            return []

        def on_outcome(self, order: Order, outcome: Outcome, view: BlockView) -> None:
            pass

    with pytest.raises(ArbkitError, match="Bare"):
        Simulator(Bare(), _history(n=2_000))


def test_only_the_foresight_policy_is_handed_the_draws() -> None:
    seen: dict[str, object] = {}

    class Peek(RuleBaseline):
        def on_start(self, setup: Any) -> None:
            seen["setup"] = setup

        def on_foresight(self, replay: Any, draws: Any) -> None:  # not asked: foresight False
            seen["draws"] = draws

    Simulator(Peek(), _history(n=2_000)).run_sync()
    assert "setup" in seen and "draws" not in seen
    assert not hasattr(seen["setup"], "draws") and not hasattr(seen["setup"], "replay")
