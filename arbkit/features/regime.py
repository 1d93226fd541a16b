"""Market-regime features per block: realised volatility, trend, liquidity and gas percentiles.

Every feature at block ``t`` is computed from blocks ``<= t`` only (trailing windows,
forward fills, no centring), so ``build_regime_features(history[:t])`` equals the first
``t`` rows of ``build_regime_features(history)``; a test checks it.

Columns of :func:`build_regime_features`
-----------------------------------------
================================  ==========================  =================================
column                            unit                        window
================================  ==========================  =================================
``block``                         block number                --
``timestamp``                     UTC seconds                 --
``eth_price_quote``               quote per native token      block ``t`` (CEX mid, else the
                                                              deepest native/quote pool;
                                                              forward-filled when absent)
``log_return``                    log price change            blocks ``t-1, t`` (0 at the start)
``volatility``                    annualised fraction         ``volatility_window_blocks``:
                                                              sample std of
                                                              ``log_return / sqrt(dt_s)`` times
                                                              ``sqrt(seconds per year)``; 0 until
                                                              two returns are known
``trend_tstat``                   unitless                    ``trend_window_blocks``: mean
                                                              return over its standard error
``total_liquidity_quote``         quote                       block ``t``: sum over pools of
                                                              twice the value of the side held
                                                              in the quote (else native) token
``liquidity``                     percentile in ``[0, 1]``    ``liquidity_window_blocks``
``base_fee_wei``                  wei per gas                 block ``t``
``gas_percentile``                percentile in ``[0, 1]``    ``gas_window_blocks``
``regime_label``                  stable|volatile|trending    from ``volatility`` and
                                                              ``trend_tstat``
================================  ==========================  =================================

A trailing percentile is the mid-rank of the current value among the window's values:
``(n_less + (n_equal - 1) / 2) / (n - 1)``, 0.5 for a window of one value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Self

import numpy as np
import numpy.typing as npt
import polars as pl

from arbkit.errors import DataError
from arbkit.features.config import FeatureConfig
from arbkit.market.history import MarketHistory

__all__ = [
    "REGIME_COLUMNS",
    "REGIME_LABELS",
    "SECONDS_PER_YEAR",
    "MarketRegime",
    "build_regime_features",
    "label_regimes",
    "trailing_percentile_rank",
]

FloatArray = npt.NDArray[np.float64]

SECONDS_PER_YEAR: Final = 365.25 * 24 * 3600
REGIME_LABELS: Final = ("stable", "volatile", "trending")
REGIME_COLUMNS: Final = (
    "block",
    "timestamp",
    "eth_price_quote",
    "log_return",
    "volatility",
    "trend_tstat",
    "total_liquidity_quote",
    "liquidity",
    "base_fee_wei",
    "gas_percentile",
    "regime_label",
)
_CHUNK_ROWS = 4096


@dataclass(frozen=True, slots=True)
class MarketRegime:
    """State of the market the decider conditions on.

    Parameters
    ----------
    volatility
        Annualised realised volatility of the native token's price (0.25 = 25 %/year).
    liquidity
        Liquidity score in ``[0, 1]``: trailing percentile of the total pool liquidity.
    gas_percentile
        Trailing percentile of the current base fee, in ``[0, 1]``.
    regime_label
        ``"stable"``, ``"volatile"`` or ``"trending"``.
    trend
        Trend t-statistic of the native token's price (signed, unitless).
    eth_price_quote
        Price of the native token (ETH) in the quote token, used to turn the risk
        profile's ETH limits into quote; ``None`` when unknown.
    block
        Block the regime was measured at, if known.

    Raises
    ------
    ValueError
        If a value is not finite, a score lies outside ``[0, 1]``, the volatility is
        negative or the label is unknown.
    """

    volatility: float
    liquidity: float
    gas_percentile: float
    regime_label: str = "stable"
    trend: float = 0.0
    eth_price_quote: float | None = None
    block: int | None = None

    def __post_init__(self) -> None:
        for name in ("volatility", "liquidity", "gas_percentile", "trend"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value):
                raise ValueError(f"MarketRegime.{name} must be a finite number, got {value!r}")
        if self.volatility < 0:
            raise ValueError(f"MarketRegime.volatility must be >= 0, got {self.volatility!r}")
        for name in ("liquidity", "gas_percentile"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"MarketRegime.{name} must lie in [0, 1], got {value!r}")
        if self.regime_label not in REGIME_LABELS:
            raise ValueError(
                f"MarketRegime.regime_label must be one of {REGIME_LABELS}, "
                f"got {self.regime_label!r}"
            )
        price = self.eth_price_quote
        if price is not None and not (math.isfinite(price) and price > 0):
            raise ValueError(f"MarketRegime.eth_price_quote must be > 0, got {price!r}")

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Self:
        """Build a regime from one row of :func:`build_regime_features`.

        Parameters
        ----------
        row
            A mapping with the columns of :data:`REGIME_COLUMNS`.

        Returns
        -------
        MarketRegime
        """
        price = row.get("eth_price_quote")
        return cls(
            volatility=float(row["volatility"]),
            liquidity=float(row["liquidity"]),
            gas_percentile=float(row["gas_percentile"]),
            regime_label=str(row["regime_label"]),
            trend=float(row["trend_tstat"]),
            eth_price_quote=float(price) if price is not None and math.isfinite(price) else None,
            block=int(row["block"]),
        )


def trailing_percentile_rank(values: FloatArray, window: int) -> FloatArray:
    """Return the mid-rank percentile of each value within its trailing window.

    Parameters
    ----------
    values
        One value per row, oldest first; NaN values are ignored in the windows and
        give NaN.
    window
        Number of rows in each window, the current row included.

    Returns
    -------
    numpy.ndarray
        ``(n_less + (n_equal - 1) / 2) / (n - 1)`` per row, in ``[0, 1]``; 0.5 when the
        window holds one value.
    """
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    x = np.asarray(values, dtype=np.float64)
    out = np.full(x.shape[0], np.nan)
    padded = np.concatenate([np.full(window - 1, np.nan), x])
    for lo in range(0, x.shape[0], _CHUNK_ROWS):
        hi = min(lo + _CHUNK_ROWS, x.shape[0])
        win = np.lib.stride_tricks.sliding_window_view(padded[lo : hi + window - 1], window)
        cur = x[lo:hi, None]
        n = np.sum(~np.isnan(win), axis=1)
        less = np.sum(win < cur, axis=1)
        equal = np.sum(win == cur, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            rank = np.where(n > 1, (less + (equal - 1) / 2.0) / (n - 1), 0.5)
        out[lo:hi] = np.where(np.isnan(x[lo:hi]), np.nan, rank)
    return out


def label_regimes(
    volatility: FloatArray,
    trend_tstat: FloatArray,
    *,
    volatile_threshold: float,
    trending_threshold: float,
) -> npt.NDArray[np.str_]:
    """Label each block ``volatile``, ``trending`` or ``stable``.

    ``volatile`` when the volatility reaches ``volatile_threshold``; otherwise
    ``trending`` when ``|trend_tstat|`` reaches ``trending_threshold``; otherwise
    ``stable``.

    Parameters
    ----------
    volatility
        Annualised volatility per block.
    trend_tstat
        Trend t-statistic per block.
    volatile_threshold, trending_threshold
        The thresholds above.

    Returns
    -------
    numpy.ndarray
        One label per block.
    """
    vol = np.nan_to_num(np.asarray(volatility, dtype=np.float64))
    trend = np.nan_to_num(np.asarray(trend_tstat, dtype=np.float64))
    return np.where(
        vol >= volatile_threshold,
        "volatile",
        np.where(np.abs(trend) >= trending_threshold, "trending", "stable"),
    )


def _reference_price(history: MarketHistory, cfg: FeatureConfig) -> FloatArray:
    """Quote per native token per block: CEX mid, else the deepest native/quote pool."""
    price = history.cex_mid(cfg.price_symbol)
    r0, r1 = history.reserves_float()
    dec = cfg.token_decimals
    best_depth = np.full(history.n_blocks, -np.inf)
    pool_price = np.full(history.n_blocks, np.nan)
    for j, info in enumerate(history.pools):
        if {info.token0, info.token1} != {cfg.native_token, cfg.quote_token}:
            continue
        if info.token0 == cfg.native_token:
            native, quote = r0[:, j], r1[:, j]
        else:
            native, quote = r1[:, j], r0[:, j]
        whole_quote = quote / 10.0 ** dec[cfg.quote_token]
        p = whole_quote / (native / 10.0 ** dec[cfg.native_token])
        better = np.isfinite(p) & (whole_quote > best_depth)
        pool_price = np.where(better, p, pool_price)
        best_depth = np.where(better, whole_quote, best_depth)
    price = np.where(np.isfinite(price) & (price > 0), price, pool_price)
    # forward fill (causal) where neither source has a price
    valid = np.isfinite(price)
    idx = np.where(valid, np.arange(price.shape[0]), -1)
    np.maximum.accumulate(idx, out=idx)
    return np.where(idx >= 0, price[np.maximum(idx, 0)], np.nan)


def _total_liquidity(history: MarketHistory, price: FloatArray, cfg: FeatureConfig) -> FloatArray:
    r0, r1 = history.reserves_float()
    dec = cfg.token_decimals
    total = np.zeros(history.n_blocks)
    for j, info in enumerate(history.pools):
        for token in (info.token0, info.token1):
            if token not in dec:
                raise DataError(
                    f"pool {info.pool!r}: token {token!r} has no decimals in FeatureConfig"
                )
        if cfg.quote_token in (info.token0, info.token1):
            reserve = r0[:, j] if info.token0 == cfg.quote_token else r1[:, j]
            total += 2.0 * reserve / 10.0 ** dec[cfg.quote_token]
        elif cfg.native_token in (info.token0, info.token1):
            reserve = r0[:, j] if info.token0 == cfg.native_token else r1[:, j]
            total += 2.0 * np.nan_to_num(reserve / 10.0 ** dec[cfg.native_token] * price)
    return total


def build_regime_features(
    history: MarketHistory, config: FeatureConfig | None = None
) -> pl.DataFrame:
    """Compute the regime features of every block of ``history`` (see the module docstring).

    Parameters
    ----------
    history
        The market history.
    config
        Windows, thresholds and tokens.

    Returns
    -------
    polars.DataFrame
        One row per block with the columns of :data:`REGIME_COLUMNS`.

    Raises
    ------
    DataError
        If the history is empty or no block has a price for the native token.
    """
    cfg = config or FeatureConfig()
    n = history.n_blocks
    if n == 0:
        raise DataError("build_regime_features: the history has no blocks")
    price = _reference_price(history, cfg)
    if not np.isfinite(price).any():
        raise DataError(
            f"build_regime_features: no price for {cfg.native_token} in {cfg.quote_token} "
            f"(no {cfg.price_symbol} CEX quote and no {cfg.native_token}/{cfg.quote_token} pool)"
        )
    timestamps = history.blocks["timestamp"].to_numpy().astype(np.float64)
    log_p = np.log(price)
    log_ret = np.zeros(n)
    log_ret[1:] = np.nan_to_num(np.diff(log_p))
    dt = np.ones(n)
    dt[1:] = np.maximum(np.diff(timestamps), 1.0)
    scaled = log_ret / np.sqrt(dt)
    scaled[0] = np.nan  # no return into the first block

    frame = pl.DataFrame({"scaled": scaled, "ret": np.where(np.arange(n) == 0, np.nan, log_ret)})
    frame = frame.with_columns(pl.col("scaled", "ret").fill_nan(None))
    wv, wt = cfg.volatility_window_blocks, cfg.trend_window_blocks
    stats = frame.select(
        (pl.col("scaled").rolling_std(wv, min_samples=2) * math.sqrt(SECONDS_PER_YEAR)).alias(
            "vol"
        ),
        pl.col("ret").rolling_mean(wt, min_samples=2).alias("mean"),
        pl.col("ret").rolling_std(wt, min_samples=2).alias("std"),
        pl.col("ret").is_not_null().cast(pl.Int64).rolling_sum(wt, min_samples=1).alias("count"),
    )
    vol = stats["vol"].fill_null(0.0).to_numpy()
    mean = stats["mean"].fill_null(0.0).to_numpy()
    std = stats["std"].fill_null(0.0).to_numpy()
    count = stats["count"].to_numpy().astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        tstat = np.where(std > 0, mean / (std / np.sqrt(np.maximum(count, 1.0))), 0.0)

    liquidity_quote = _total_liquidity(history, price, cfg)
    base_fee = history.base_fee_wei.astype(np.float64)
    labels = label_regimes(
        vol,
        tstat,
        volatile_threshold=cfg.volatile_threshold,
        trending_threshold=cfg.trending_threshold,
    )
    return pl.DataFrame(
        {
            "block": history.block_numbers,
            "timestamp": history.blocks["timestamp"].to_numpy().astype(np.int64),
            "eth_price_quote": price,
            "log_return": log_ret,
            "volatility": vol,
            "trend_tstat": tstat,
            "total_liquidity_quote": liquidity_quote,
            "liquidity": trailing_percentile_rank(liquidity_quote, cfg.liquidity_window_blocks),
            "base_fee_wei": history.base_fee_wei,
            "gas_percentile": trailing_percentile_rank(base_fee, cfg.gas_window_blocks),
            "regime_label": labels.astype(str).tolist(),
        }
    )
