"""Tests of arbkit.backtest.analytics: trade counts, win rates, parts of the net, Sharpe."""

from __future__ import annotations

import math
import random
from functools import lru_cache
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arbkit.backtest import BlockView, Order, RuleBaseline, Simulator
from arbkit.backtest.analytics import compute_metrics, daily_returns, hourly_returns
from arbkit.market.history import MarketHistory
from arbkit.market.sim import simulate_market

_T0 = 1_700_000_000
_PARTS = ("arbitrage_net_profit", "spot_net_profit", "inventory_mark_to_market")


def _trades(rows: list[dict[str, Any]]) -> pl.DataFrame:
    defaults = {
        "route": "r",
        "realized_profit_quote": 0.0,
        "gas_paid_quote": 0.0,
        "bribe_paid_quote": 0.0,
        "flash_fee_quote": 0.0,
    }
    schema = {
        "kind": pl.String,
        "route": pl.String,
        "included_block": pl.Int64,
        "success": pl.Boolean,
        "realized_profit_quote": pl.Float64,
        "gas_paid_quote": pl.Float64,
        "bribe_paid_quote": pl.Float64,
        "flash_fee_quote": pl.Float64,
        "net_profit_quote": pl.Float64,
    }
    return pl.DataFrame([{**defaults, **r} for r in rows], schema=schema)


def _curve(equity: list[float] | np.ndarray, spacing_s: int = 12) -> pl.DataFrame:
    n = len(equity)
    return pl.DataFrame(
        {
            "block": np.arange(n, dtype=np.int64),
            "timestamp": _T0 + spacing_s * np.arange(n, dtype=np.int64),
            "equity_quote": np.asarray(equity, dtype=np.float64),
        }
    )


def _random_walk(n: int, seed: int, spacing_s: int = 12) -> pl.DataFrame:
    steps = np.random.default_rng(seed).normal(0.0, 1e-4, n)
    return _curve(1_000.0 * np.cumprod(1.0 + steps), spacing_s)


# --- trades: counts, win rates and the parts of the net ------------------------------------


def _mixed_trades() -> pl.DataFrame:
    return _trades(
        [
            {"kind": "dex_dex", "included_block": 2, "success": True, "net_profit_quote": 10.0},
            {"kind": "dex_dex", "included_block": 3, "success": False, "net_profit_quote": -2.0},
            {"kind": "cex_dex", "included_block": 4, "success": True, "net_profit_quote": -1.0},
            {"kind": "dex_dex", "included_block": None, "success": False, "net_profit_quote": 0.0},
            {"kind": "spot_buy", "included_block": 5, "success": True, "net_profit_quote": -0.5},
            {"kind": "spot_sell", "included_block": 6, "success": True, "net_profit_quote": 0.25},
        ]
    )


def test_win_rate_and_trade_count_cover_arbitrage_and_spot_trades() -> None:
    # the curve gains 5 on top of the trades' nets: the inventory's revaluation
    m = compute_metrics(_mixed_trades(), _curve([1_000.0, 1_000.0, 1_011.75]))
    assert m["trade_count"] == 5 and m["order_count"] == 6 and m["not_included"] == 1
    assert m["arbitrage_trade_count"] == 3 and m["spot_trade_count"] == m["spot_trades"] == 2
    assert m["win_rate"] == 2 / 5
    assert m["arbitrage_win_rate"] == 1 / 3 and m["spot_win_rate"] == 1 / 2
    assert m["revert_rate"] == 1 / 5 and m["arbitrage_revert_rate"] == 1 / 3
    assert m["arbitrage_net_profit"] == 7.0 and m["spot_net_profit"] == -0.25
    assert m["inventory_mark_to_market"] == pytest.approx(5.0)


def test_net_profit_is_the_sum_of_its_parts_and_the_equity_change() -> None:
    m = compute_metrics(_mixed_trades(), _curve([1_000.0, 1_003.0, 1_011.75]))
    assert m["net_profit"] == math.fsum(m[k] for k in _PARTS)
    assert m["net_profit"] == pytest.approx(m["final_equity"] - m["initial_equity"], abs=1e-9)
    assert m["return_pct"] == pytest.approx(m["net_profit"] / 1_000.0 * 100)


def test_without_spot_trades_the_net_is_exactly_the_trades_net_not_the_curves_noise() -> None:
    nets = [0.1, 0.2, 0.3, -1e-3, 7.7]
    trades = _trades(
        [
            {"kind": "dex_dex", "included_block": i, "success": True, "net_profit_quote": x}
            for i, x in enumerate(nets)
        ]
    )
    # the curve's last point carries float noise from its cumulative sums
    curve = _curve([1_000.0, 1_000.0 + math.fsum(nets) + 1e-10])
    m = compute_metrics(trades, curve)
    assert m["inventory_mark_to_market"] == 0.0 and m["spot_net_profit"] == 0.0
    assert m["net_profit"] == m["arbitrage_net_profit"] == math.fsum(nets)
    assert m["win_rate"] == m["arbitrage_win_rate"] == 4 / 5
    assert math.isnan(m["spot_win_rate"])


@settings(max_examples=50, deadline=None)
@given(
    nets=st.lists(
        st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False),
        min_size=1,
        max_size=40,
    ),
    seed=st.integers(0, 2**32 - 1),
)
def test_the_same_trades_in_any_order_give_the_identical_net(nets: list[float], seed: int) -> None:
    rows = [
        {
            "kind": "spot_buy" if i % 3 == 0 else "dex_dex",
            "included_block": i,
            "success": True,
            "net_profit_quote": x,
        }
        for i, x in enumerate(nets)
    ]
    shuffled = rows[:]
    random.Random(seed).shuffle(shuffled)
    curve = _curve([1e7, 1e7 + sum(nets)])
    a = compute_metrics(_trades(rows), curve)
    b = compute_metrics(_trades(shuffled), curve)
    for key in ("net_profit", *_PARTS):
        assert a[key] == b[key], key
    assert a["net_profit"] == math.fsum(a[k] for k in _PARTS)


@lru_cache(maxsize=1)
def _day_history() -> MarketHistory:
    return simulate_market(seed=21, n_blocks=7_200)  # one day of 12 s blocks, as `make run`


class _ArbAndSpot(RuleBaseline):
    """The rule's arbitrage plus a spot buy or sell every 500 blocks."""

    every_block = True

    def __init__(self) -> None:
        super().__init__()
        self.name = "arb_and_spot"
        self._calls = 0

    def on_block(self, view: BlockView) -> list[Order]:
        self._calls += 1
        orders = list(super().on_block(view)) if view.candidates.height else []
        if self._calls % 500 == 0:
            side = "sell" if (self._calls // 500) % 3 == 0 else "buy"
            orders.append(Order(side=side, amount_quote=5_000.0))
        return orders


def test_backtest_with_spot_trades_reports_parts_that_add_up_to_the_net() -> None:
    res = Simulator(_ArbAndSpot(), _day_history()).run_sync()
    assert res["spot_trade_count"] > 0 and res["arbitrage_trade_count"] > 0
    assert res["trade_count"] == res["arbitrage_trade_count"] + res["spot_trade_count"]
    included = res.trades.filter(pl.col("included_block").is_not_null())
    wins = included.filter(pl.col("success") & (pl.col("net_profit_quote") > 0)).height
    assert res["win_rate"] == wins / included.height
    assert res["net_profit"] == math.fsum(res[k] for k in _PARTS)
    assert res["inventory_mark_to_market"] != 0.0
    eq = res.equity["equity_quote"].to_numpy()
    assert res["net_profit"] == pytest.approx(eq[-1] - eq[0], rel=1e-12)
    spot = included.filter(pl.col("kind").str.starts_with("spot_"))
    assert res["spot_net_profit"] == math.fsum(spot["net_profit_quote"].to_list())


# --- Sharpe ratio ---------------------------------------------------------------------------


def test_sharpe_uses_daily_returns_when_there_are_two_or_more() -> None:
    curve = _random_walk(3 * 24 * 12, seed=1, spacing_s=300)  # three days of 5 min points
    m = compute_metrics(_trades([]), curve)
    r = daily_returns(curve).to_numpy()
    assert r.size == 3 and m["days"] == 3
    assert m["sharpe_horizon"] == "daily" and m["sharpe_returns"] == 3
    assert m["sharpe"] == pytest.approx(r.mean() / r.std(ddof=1) * math.sqrt(365), rel=1e-9)
    assert m["sharpe_note"] is None


def test_sharpe_falls_back_to_hourly_returns_on_a_one_day_run() -> None:
    curve = _random_walk(7_200, seed=2)  # one day of 12 s blocks
    m = compute_metrics(_trades([]), curve)
    r = hourly_returns(curve).to_numpy()
    assert m["days"] == 1 and r.size == 24
    assert m["sharpe_horizon"] == "hourly" and m["sharpe_returns"] == 24
    assert m["sharpe"] == pytest.approx(r.mean() / r.std(ddof=1) * math.sqrt(24 * 365), rel=1e-9)
    assert m["annualized_volatility"] == pytest.approx(r.std(ddof=1) * math.sqrt(24 * 365))
    assert m["sharpe_note"] is None


@pytest.mark.parametrize(
    ("curve", "reason"),
    [
        (_random_walk(150, seed=3), "at least two returns"),  # 30 minutes
        (_random_walk(1, seed=3), "at least two returns"),
        (_random_walk(9, seed=3, spacing_s=4 * 3_600), "blocks over 1 h apart"),  # 1.5 days
        (_curve([1_000.0] * 7_200), "zero volatility"),
    ],
    ids=["half_an_hour", "one_block", "sparse_blocks", "flat_equity"],
)
def test_sharpe_is_none_with_a_reason_when_it_cannot_be_computed(
    curve: pl.DataFrame, reason: str
) -> None:
    m = compute_metrics(_trades([]), curve)
    assert m["sharpe"] is None
    assert reason in m["sharpe_note"]


@settings(max_examples=40, deadline=None)
@given(
    steps=st.lists(st.floats(min_value=-0.01, max_value=0.01), min_size=1, max_size=300),
    spacing_s=st.sampled_from([12, 60, 600, 3_600, 14_400]),
)
def test_sharpe_is_never_nan(steps: list[float], spacing_s: int) -> None:
    m = compute_metrics(_trades([]), _curve(100.0 * np.cumprod(1.0 + np.array(steps)), spacing_s))
    if m["sharpe"] is None:
        assert m["sharpe_note"].startswith("not available")
    else:
        assert math.isfinite(m["sharpe"]) and m["sharpe_note"] is None


def test_guide_snippet_prints_no_nan_on_a_one_day_history() -> None:
    results = Simulator(policy=RuleBaseline(), data=_day_history()).run_sync()
    line = f"Sharpe Ratio: {results['sharpe']:.2f}  Win Rate: {results['win_rate']:.1%}"
    assert "nan" not in line and results["sharpe_horizon"] == "hourly"


def test_sharpe_is_none_when_the_equity_is_wiped_out() -> None:
    curve = _curve(np.r_[np.linspace(1_000.0, 0.0, 3_600), np.zeros(3_600)])
    m = compute_metrics(_trades([]), curve)
    assert m["sharpe"] is None and "not finite" in m["sharpe_note"]
