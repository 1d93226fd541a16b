"""Backtest metrics from the trades table and the equity curve (vectorbt for returns).

Definitions
-----------
A *trade* is an order that landed on chain (``included_block`` not null): an arbitrage
trade (any ``kind`` not starting with ``spot_``; a reverted bundle counts, with its gas
as its loss) or a spot swap (``kind`` ``spot_buy`` / ``spot_sell``). A trade *wins* when it
succeeded and its own ``net_profit_quote`` is positive; for a spot swap that net is the
value received minus the value paid at the execution block's prices, minus gas.

The overall figures (``trade_count``, ``win_rate``, ``revert_rate``, ``net_profit``) cover
every trade; the per-part figures split them into ``arbitrage_*`` and ``spot_*``. The net
profit is the sum of three parts::

    net_profit == math.fsum([arbitrage_net_profit, spot_net_profit,
                             inventory_mark_to_market])

The first two are ``math.fsum`` over the trades' ``net_profit_quote``, so runs that executed
the same trades report the identical float whatever the order of the rows. The third is
what the equity curve adds on top of the trades: the revaluation of the spot inventory
(the native token bought by spot swaps) by price moves while it was held, realised by a
later sell or still held at the end. It is ``0.0`` exactly for a policy that made no spot
trade; otherwise it is ``final_equity - initial_equity`` minus the two trade parts, so
``net_profit`` equals the equity curve's change to float rounding in either case.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

__all__ = ["compute_metrics", "daily_returns", "drawdown_series", "hourly_returns"]

_DAY_S = 86_400
_HOUR_S = 3_600


def _period_returns(equity: pl.DataFrame, period_s: int, name: str) -> pd.Series:
    eq = equity["equity_quote"].to_numpy()
    ts = equity["timestamp"].to_numpy()
    if ts.size == 0:
        return pd.Series(dtype=float, name=name)
    period = (ts - ts[0]) // period_s
    # the last block covers one block interval of time
    spacing = int(np.median(np.diff(ts))) if ts.size > 1 else 0
    full_periods = int((ts[-1] - ts[0] + spacing) // period_s)
    last = np.flatnonzero(np.append(period[1:] != period[:-1], True))
    last = last[period[last] < full_periods]
    closes = np.concatenate(([eq[0]], eq[last]))
    with np.errstate(divide="ignore", invalid="ignore"):  # a ruined curve: reported, not warned
        rets = closes[1:] / closes[:-1] - 1.0
    when = pd.to_datetime(ts[0] + (period[last] + 1) * period_s, unit="s", utc=True)
    return pd.Series(rets, index=when, name=name)


def daily_returns(equity: pl.DataFrame, blocks_per_day: int | None = None) -> pd.Series:
    """Return the daily simple returns of the equity curve.

    Days are consecutive 24 h windows from the first block's timestamp; each return is
    the change of the equity at the last block of a window relative to the previous
    window's (the first window: relative to the starting equity). A trailing window
    shorter than 24 h is dropped. ``blocks_per_day`` is accepted for compatibility and
    unused: days come from the timestamps.
    """
    del blocks_per_day
    return _period_returns(equity, _DAY_S, "daily_return")


def hourly_returns(equity: pl.DataFrame) -> pd.Series:
    """Return the hourly simple returns of the equity curve.

    The same rule as :func:`daily_returns` with 1 h windows: a return per full hour from
    the first block's timestamp, a trailing window shorter than 1 h dropped.
    """
    return _period_returns(equity, _HOUR_S, "hourly_return")


def _block_spacing_s(equity: pl.DataFrame) -> float:
    ts = equity["timestamp"].to_numpy()
    return float(np.median(np.diff(ts))) if ts.size > 1 else math.inf


def _risk_figures(equity: pl.DataFrame) -> dict[str, Any]:
    # the Sharpe ratio, annualised return and volatility on the longest usable horizon
    daily = daily_returns(equity) if equity.height > 1 else pd.Series(dtype=float)
    figures: dict[str, Any] = {
        "sharpe": None,
        "sharpe_horizon": None,
        "sharpe_returns": 0,
        "sharpe_note": None,
        "annualized_return": None,
        "annualized_volatility": None,
        "days": int(daily.size),
    }
    if daily.size >= 2:
        rets, horizon, freq = daily, "daily", "1D"
    else:
        # hourly windows are only meaningful when blocks come at least once an hour
        hourly_ok = equity.height > 1 and _block_spacing_s(equity) <= _HOUR_S
        rets = hourly_returns(equity) if hourly_ok else pd.Series(dtype=float)
        horizon, freq = "hourly", "1h"
        if rets.size < 2:
            hours = (
                f"{rets.size} hourly"
                if hourly_ok or equity.height < 2
                else "no hourly (blocks over 1 h apart)"
            )
            figures["sharpe_note"] = (
                f"not available: {daily.size} daily and {hours} return(s) in "
                f"{equity.height} block(s); at least two returns are needed"
            )
            return figures
    import vectorbt  # noqa: F401  # heavy import (registers the .vbt accessor): only here

    acc = rets.vbt.returns(freq=freq, year_freq="365 days")
    figures["sharpe_horizon"] = horizon
    figures["sharpe_returns"] = int(rets.size)
    ann_ret = float(acc.annualized())
    ann_vol = float(acc.annualized_volatility())
    figures["annualized_return"] = ann_ret if math.isfinite(ann_ret) else None
    figures["annualized_volatility"] = ann_vol if math.isfinite(ann_vol) else None
    values = rets.to_numpy()
    if not np.all(np.isfinite(values)):
        figures["sharpe_note"] = f"not available: a {horizon} return is not finite"
    elif float(np.std(values, ddof=1)) == 0.0:
        figures["sharpe_note"] = (
            f"not available: the {horizon} returns do not vary (zero volatility)"
        )
    else:
        sharpe = float(acc.sharpe_ratio())
        if math.isfinite(sharpe):
            figures["sharpe"] = sharpe
        else:
            figures["sharpe_note"] = f"not available: the {horizon} Sharpe ratio is not finite"
    return figures


def drawdown_series(equity: pl.DataFrame) -> np.ndarray:
    """Return the drawdown (fraction below the running peak) at every block."""
    eq = equity["equity_quote"].to_numpy()
    peak = np.maximum.accumulate(eq)
    with np.errstate(divide="ignore", invalid="ignore"):
        dd = np.where(peak > 0, 1.0 - eq / peak, 0.0)
    return np.asarray(dd, dtype=np.float64)


def _fsum(column: pl.Series) -> float:
    return math.fsum(column.drop_nulls().to_list())


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else float("nan")


def compute_metrics(
    trades: pl.DataFrame, equity: pl.DataFrame, *, blocks_per_day: int = 7_200
) -> dict[str, Any]:
    """Compute the backtest metrics (see :class:`arbkit.backtest.BacktestResult`).

    See the module docstring for what a trade, a win and the parts of the net profit
    are. Ratios over zero trades are NaN.

    Parameters
    ----------
    trades
        One row per order (the backtest's trades table).
    equity
        The block-level equity curve (``block``, ``timestamp``, ``equity_quote``).
    blocks_per_day
        Unused (days come from the timestamps); kept for compatibility.

    Returns
    -------
    dict[str, Any]
        Overall figures, over every trade:

        - ``net_profit``: quote; ``math.fsum`` of the three parts below.
        - ``return_pct``: ``net_profit`` over ``initial_equity``, in percent.
        - ``initial_equity``, ``final_equity``: first and last point of the curve.
        - ``trade_count``: trades (``arbitrage_trade_count + spot_trade_count``).
        - ``win_rate``: winning trades / ``trade_count``.
        - ``revert_rate``: reverted trades / ``trade_count`` (spot swaps never revert).
        - ``order_count``: every order, landed or not; ``not_included``: orders that
          never landed (they cost nothing and are not trades).
        - ``max_drawdown``: largest fraction below the running peak, block by block.

        Parts (``net_profit`` is their ``math.fsum``):

        - ``arbitrage_net_profit``, ``arbitrage_trade_count``, ``arbitrage_win_rate``,
          ``arbitrage_revert_rate``: the arbitrage trades.
        - ``spot_net_profit``, ``spot_trade_count``, ``spot_win_rate``: the spot swaps;
          ``spot_trades`` is the same as ``spot_trade_count`` (older name).
        - ``inventory_mark_to_market``: the equity curve's change beyond the trades'
          nets, i.e. the revaluation of the spot inventory; ``0.0`` without spot trades.

        Arbitrage detail: ``gross_profit`` (realised profit of successful arbitrage
        trades), ``gas_paid`` (their gas and bribes), ``flash_fees``,
        ``gas_share_of_profit`` (``gas_paid / gross_profit``, NaN without gross profit),
        ``profit_by_route`` and ``profit_by_kind`` (net per route / kind, arbitrage
        trades only); ``spot_gas_paid`` is the spot swaps' gas.

        Risk: ``sharpe`` (annualised with a 365-day year, no risk-free rate, from
        vectorbt) is computed on daily returns when there are at least two, else on
        hourly returns; ``sharpe_horizon`` says which (``"daily"`` / ``"hourly"``) and
        ``sharpe_returns`` how many returns it used. When it cannot be computed (fewer
        than two returns, zero volatility) ``sharpe`` is ``None``, never NaN, and
        ``sharpe_note`` says why (``None`` otherwise). ``annualized_return`` and
        ``annualized_volatility`` use the same horizon (``None`` without one); ``days``
        is the number of daily returns.
    """
    del blocks_per_day
    eq = equity["equity_quote"].to_numpy()
    initial = float(eq[0]) if eq.size else float("nan")
    final = float(eq[-1]) if eq.size else float("nan")
    included = trades.filter(pl.col("included_block").is_not_null())
    is_spot = pl.col("kind").str.starts_with("spot_")
    arb = included.filter(~is_spot)
    spot = included.filter(is_spot)
    won = pl.col("success") & (pl.col("net_profit_quote") > 0)
    arb_wins = arb.filter(won).height
    spot_wins = spot.filter(won).height
    arb_reverted = arb.filter(~pl.col("success")).height
    spot_reverted = spot.filter(~pl.col("success")).height
    n_trades = included.height
    arb_net = _fsum(arb["net_profit_quote"])
    spot_net = _fsum(spot["net_profit_quote"])
    # With no spot trade there is no inventory: the curve's change is the trades' nets
    # and any difference is float noise, which must not make two runs' nets differ.
    if spot.height and eq.size:
        mark_to_market = math.fsum([final, -initial, -arb_net, -spot_net])
    else:
        mark_to_market = 0.0
    net = math.fsum([arb_net, spot_net, mark_to_market])
    gross = _fsum(arb.filter(pl.col("success"))["realized_profit_quote"])
    gas = math.fsum([_fsum(arb["gas_paid_quote"]), _fsum(arb["bribe_paid_quote"])])
    by_route = (
        arb.group_by("route", maintain_order=True)
        .agg(pl.col("net_profit_quote").sum())
        .sort("net_profit_quote", descending=True)
    )
    by_kind = arb.group_by("kind").agg(pl.col("net_profit_quote").sum()).sort("kind")
    dd = drawdown_series(equity) if eq.size else np.zeros(0)
    return {
        "net_profit": net,
        "return_pct": net / initial * 100 if initial else float("nan"),
        "initial_equity": initial,
        "final_equity": final,
        **_risk_figures(equity),
        "win_rate": _ratio(arb_wins + spot_wins, n_trades),
        "max_drawdown": float(dd.max()) if dd.size else 0.0,
        "trade_count": n_trades,
        "order_count": trades.height,
        "revert_rate": _ratio(arb_reverted + spot_reverted, n_trades),
        "not_included": trades.height - n_trades,
        "arbitrage_net_profit": arb_net,
        "arbitrage_trade_count": arb.height,
        "arbitrage_win_rate": _ratio(arb_wins, arb.height),
        "arbitrage_revert_rate": _ratio(arb_reverted, arb.height),
        "spot_net_profit": spot_net,
        "spot_trade_count": spot.height,
        "spot_win_rate": _ratio(spot_wins, spot.height),
        "spot_trades": spot.height,
        "inventory_mark_to_market": mark_to_market,
        "gross_profit": gross,
        "gas_paid": gas,
        "flash_fees": _fsum(arb["flash_fee_quote"]),
        "gas_share_of_profit": gas / gross if gross > 0 else float("nan"),
        "spot_gas_paid": _fsum(spot["gas_paid_quote"]),
        "profit_by_route": dict(by_route.iter_rows()),
        "profit_by_kind": dict(by_kind.iter_rows()),
    }
