"""Regression tests for the backtest/history review findings."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from pydantic import ValidationError

from arbkit.backtest import (
    BacktestConfig,
    BlockView,
    ForesightPolicy,
    Order,
    RuleBaseline,
    Simulator,
)
from arbkit.backtest.config import WalkForwardConfig
from arbkit.errors import DataError
from arbkit.execution import ExecutionConfig, Outcome
from arbkit.market.history import MarketHistory
from arbkit.market.sim import simulate_market
from arbkit.opportunities import FlashSource, ScanConfig


@lru_cache(maxsize=1)
def _history() -> MarketHistory:
    return simulate_market(seed=0, n_blocks=3_000)


class _Recorder(RuleBaseline):
    def __init__(self) -> None:
        super().__init__()
        self.name = "recorder"
        self.events: list[tuple[str, int, Any]] = []

    def on_block(self, view: BlockView) -> list[Order]:
        self.events.append(("offer", view.block, view.candidates))
        return list(super().on_block(view))

    def on_outcome(self, order: Order, outcome: Outcome, view: BlockView) -> None:
        self.events.append(("reveal", view.block, outcome))


class _Clock(_Recorder):
    """Called at every block, so that a reveal's block is the one after the last offer."""

    every_block = True

    def __init__(self) -> None:
        super().__init__()
        self.now = -1
        self.revealed_at: list[tuple[int, int, Outcome]] = []  # (reveal block, decided, o)

    def on_block(self, view: BlockView) -> list[Order]:
        self.now = view.block
        return super().on_block(view) if view.candidates.height else []

    def on_outcome(self, order: Order, outcome: Outcome, view: BlockView) -> None:
        self.revealed_at.append((self.now + 1, view.block, outcome))


def test_outcomes_are_revealed_exactly_when_known_never_earlier_nor_later() -> None:
    cfg = BacktestConfig(priority_fee_wei=30_000_000)  # a low tip: many trades expire
    rec = _Clock()
    h = _history()
    Simulator(rec, h, cfg).run_sync()
    max_delay = cfg.execution.max_delay_blocks
    last = int(h.block_numbers[-1])
    expired = included = 0
    for at, decided, o in rec.revealed_at:
        if o.included_block is None:
            expired += 1
            # an expired trade is known at its deadline (the last block it could land in)
            want = decided + 1 + max_delay
        else:
            included += 1
            want = o.included_block  # known at its including block, not before
        assert at == min(want, last + 1), (decided, o.reason)
    assert expired and included


def test_an_expired_trade_keeps_its_pools_busy_until_its_deadline() -> None:
    cfg = BacktestConfig(priority_fee_wei=30_000_000)
    rec = _Recorder()
    Simulator(rec, _history(), cfg).run_sync()
    max_delay = cfg.execution.max_delay_blocks
    offers = [(b, c) for kind, b, c in rec.events if kind == "offer"]
    expired = [(b, o) for kind, b, o in rec.events if kind == "reveal" and o.included_block is None]
    assert expired
    for decided, outcome in expired:
        pools = set(outcome.route)
        # known to have expired once its last eligible block is seen without it
        deadline = decided + 1 + max_delay
        for block, cands in offers:
            if decided < block < deadline:
                for route in cands["route"].to_list():
                    assert not pools & set(route), (decided, block)


def test_a_gap_taken_by_an_included_trade_is_never_offered_again() -> None:
    h = _history()
    rec = _Recorder()
    sim = Simulator(rec, h)
    sim.run_sync()
    gap_of = dict(
        zip(sim.candidates["cand_id"].to_list(), sim.candidates["gap_id"].to_list(), strict=True)
    )
    taken: dict[int, int] = {}  # gap -> block from which it is closed
    offered: list[tuple[int, int]] = []
    for kind, b, x in rec.events:
        if kind == "offer":
            offered.extend((b, gap_of[c]) for c in x["cand_id"].to_list())
    trades = sim.run_sync().trades
    for cid, inc in zip(
        trades["cand_id"].to_list(), trades["included_block"].to_list(), strict=True
    ):
        if inc is not None:
            taken[gap_of[cid]] = min(taken.get(gap_of[cid], inc), inc)
    assert taken
    closed_after = [(b, g) for b, g in offered if g in taken and b >= taken[g]]
    assert closed_after == []


@pytest.mark.parametrize("seed", [0, 1])
def test_oracle_bounds_slow_low_tip_policies_too(seed: int) -> None:
    h = _history()
    for tip in (30_000_000, 100_000_000):
        cfg = BacktestConfig(seed=seed, priority_fee_wei=tip, latency_ms=5_000.0)
        oracle = ForesightPolicy()
        Simulator(oracle, h, cfg).run_sync()
        res = Simulator(RuleBaseline(), h, cfg).run_sync()
        assert oracle.upper_bound_quote >= res["arbitrage_net_profit"]


def test_overlapping_walk_forward_windows_are_refused() -> None:
    with pytest.raises(ValidationError, match="overlap"):
        WalkForwardConfig(train_blocks=500, test_blocks=1_000, step_blocks=500)


def test_a_slice_keeps_the_cex_quote_in_force_at_its_start() -> None:
    h = _history()
    sparse = h.cex_quotes.filter(pl.col("block") % 300 == h.block_numbers[0] % 300)
    hs = MarketHistory(h.blocks, h.pool_states, sparse, h.aqua_events)
    cut = hs.slice(1_000, 1_500)
    mid = cut.cex_mid("ETH/USDC")
    assert np.isfinite(mid[0])
    assert mid[0] == pytest.approx(hs.cex_mid("ETH/USDC")[900])


def test_a_history_with_a_missing_and_a_repeated_pool_state_is_refused() -> None:
    h = simulate_market(seed=0, n_blocks=5)
    ps = h.pool_states
    b1, b2 = int(h.block_numbers[1]), int(h.block_numbers[2])
    victim = ps.filter(pl.col("block") == b2).head(1)
    broken = pl.concat(
        [
            ps.filter(~((pl.col("block") == b1) & (pl.col("pool") == victim["pool"][0]))),
            victim,
        ]
    ).sort("block")
    with pytest.raises(DataError, match="missing or repeated"):
        MarketHistory(h.blocks, broken, h.cex_quotes, h.aqua_events)


def test_recorded_flash_fee_is_the_fee_actually_charged() -> None:
    class Tenth(RuleBaseline):
        def on_block(self, view: BlockView) -> list[Order]:
            out = list(super().on_block(view))
            if not out:
                return out
            row = view.candidates.filter(pl.col("cand_id") == out[0].cand_id).row(0, named=True)
            return [Order(cand_id=out[0].cand_id, amount_in=max(1, int(row["amount_in"]) // 10))]

    cfg = BacktestConfig(
        scan=ScanConfig(flash_source=FlashSource.AAVE, kinds=("dex_dex", "triangular")),
        execution=ExecutionConfig(competition=False),
    )
    sim = Simulator(Tenth(), _history(), cfg)
    res = sim.run_sync()
    ok = res.trades.filter(pl.col("success"))
    assert ok.height
    full = sim.candidates.select("cand_id", "flash_fee_quote")
    joined = ok.join(full, on="cand_id", suffix="_full")
    ratio = (joined["flash_fee_quote"] / joined["flash_fee_quote_full"]).to_numpy()
    assert np.all(ratio < 0.2)


def test_changed_meta_in_a_saved_history_is_refused(tmp_path: Path) -> None:
    path = simulate_market(seed=1, n_blocks=30).save(tmp_path / "h")
    man = json.loads((path / "manifest.json").read_text())
    man["meta"]["seed"] = 999
    (path / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(DataError, match="meta"):
        MarketHistory.load(path)
