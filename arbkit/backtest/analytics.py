"""Backtest metrics from the trades table and the equity curve (vectorbt for returns)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import polars as pl

__all__ = ["compute_metrics", "daily_returns", "drawdown_series"]


def daily_returns(equity: pl.DataFrame, blocks_per_day: int | None = None) -> pd.Series:
    """Return the daily simple returns of the equity curve.

    Days are consecutive 24 h windows from the first block's timestamp; each return is
    the change of the equity at the last block of a window relative to the previous
    window's (the first window: relative to the starting equity). A trailing window
    shorter than 24 h is dropped. ``blocks_per_day`` is accepted for compatibility and
    unused: days come from the timestamps.
    """
    del blocks_per_day
    eq = equity["equity_quote"].to_numpy()
    ts = equity["timestamp"].to_numpy()
    day = (ts - ts[0]) // 86_400
    # the last block covers one block interval of time
    spacing = int(np.median(np.diff(ts))) if ts.size > 1 else 0
    full_days = int((ts[-1] - ts[0] + spacing) // 86_400) if ts.size else 0
    last = np.flatnonzero(np.append(day[1:] != day[:-1], True))
    last = last[day[last] < full_days]
    closes = np.concatenate(([eq[0]], eq[last]))
    rets = closes[1:] / closes[:-1] - 1.0
    when = pd.to_datetime(ts[0] + (day[last] + 1) * 86_400, unit="s", utc=True)
    return pd.Series(rets, index=when, name="daily_return")


def drawdown_series(equity: pl.DataFrame) -> np.ndarray:
    """Return the drawdown (fraction below the running peak) at every block."""
    eq = equity["equity_quote"].to_numpy()
    peak = np.maximum.accumulate(eq)
    with np.errstate(divide="ignore", invalid="ignore"):
        dd = np.where(peak > 0, 1.0 - eq / peak, 0.0)
    return np.asarray(dd, dtype=np.float64)


def compute_metrics(
    trades: pl.DataFrame, equity: pl.DataFrame, *, blocks_per_day: int = 7_200
) -> dict[str, Any]:
    """Compute the backtest metrics (see :class:`arbkit.backtest.BacktestResult`).

    The Sharpe ratio, the annualised return and the daily-return volatility come from
    vectorbt's returns accessor on the daily returns (365-day year, no risk-free rate);
    with fewer than two daily returns they are NaN. The maximum drawdown is taken on the
    block-level equity curve.
    """
    eq = equity["equity_quote"].to_numpy()
    initial = float(eq[0]) if eq.size else float("nan")
    final = float(eq[-1]) if eq.size else float("nan")
    rets = daily_returns(equity, blocks_per_day) if eq.size > 1 else pd.Series(dtype=float)
    sharpe = ann_ret = ann_vol = float("nan")
    if rets.size >= 2:
        import vectorbt as vbt  # heavy import: only when analysing

        acc = rets.vbt.returns(freq="1D", year_freq="365 days")
        sharpe = float(acc.sharpe_ratio())
        ann_ret = float(acc.annualized())
        ann_vol = float(acc.annualized_volatility())
        _ = vbt
    included = trades.filter(pl.col("included_block").is_not_null())
    arb = included.filter(~pl.col("kind").str.starts_with("spot_"))
    n_inc = arb.height
    wins = arb.filter(pl.col("success") & (pl.col("net_profit_quote") > 0)).height
    reverted = arb.filter(~pl.col("success")).height
    gross = float(arb.filter(pl.col("success"))["realized_profit_quote"].sum())
    gas = float(arb["gas_paid_quote"].sum()) + float(arb["bribe_paid_quote"].sum())
    by_route = (
        arb.group_by("route", maintain_order=True)
        .agg(pl.col("net_profit_quote").sum())
        .sort("net_profit_quote", descending=True)
    )
    by_kind = arb.group_by("kind").agg(pl.col("net_profit_quote").sum()).sort("kind")
    dd = drawdown_series(equity) if eq.size else np.zeros(0)
    return {
        "net_profit": final - initial,
        "return_pct": (final / initial - 1.0) * 100 if initial else float("nan"),
        "initial_equity": initial,
        "final_equity": final,
        "sharpe": sharpe,
        "annualized_return": ann_ret,
        "annualized_volatility": ann_vol,
        "days": int(rets.size),
        "win_rate": wins / n_inc if n_inc else float("nan"),
        "max_drawdown": float(dd.max()) if dd.size else 0.0,
        "trade_count": n_inc,
        "order_count": trades.height,
        "revert_rate": reverted / n_inc if n_inc else float("nan"),
        "not_included": trades.filter(pl.col("included_block").is_null()).height,
        "gross_profit": gross,
        "gas_paid": gas,
        "flash_fees": float(arb["flash_fee_quote"].sum()),
        "gas_share_of_profit": gas / gross if gross > 0 else float("nan"),
        "spot_trades": included.height - n_inc,
        "spot_gas_paid": float(included["gas_paid_quote"].sum())
        - float(arb["gas_paid_quote"].sum()),
        "profit_by_route": dict(by_route.iter_rows()),
        "profit_by_kind": dict(by_kind.iter_rows()),
        "arbitrage_net_profit": float(arb["net_profit_quote"].sum()),
    }
