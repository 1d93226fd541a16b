"""A :class:`MarketHistory` from the real Uniswap V2 / SushiSwap snapshots and Binance bars.

The reserve snapshots in ``dex_univ2_sushiswap_reserves_2020_2022`` are ~3.7 h apart and
carry no block numbers; the CEX leg is Binance's hourly ETH/USDC bars. The history built
here uses each common snapshot time as one step: ``block`` is the snapshot's position (a
pseudo block, ``first_block + i``), ``timestamp`` is the real time. The CEX quote of a step
is the last bar that had closed by then (bid/ask around the close). The snapshots have
no base fees, so one assumed base fee (and half-full blocks) applies to every step.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from arbkit.errors import DataError
from arbkit.market.data import (
    klines_to_cex_quotes,
    load_cryptodatadownload_klines,
    load_univ2_sushi_pair,
)
from arbkit.market.history import MarketHistory
from arbkit.market.tables import AQUA_EVENTS_SCHEMA, BLOCKS_SCHEMA, CEX_QUOTES_SCHEMA

__all__ = ["REAL_PAIRS", "load_real_history"]

REAL_PAIRS = ("usdc_weth", "weth_usdt", "dai_weth", "wbtc_weth")
_KLINES = Path("cex_binance_ethusdc_1h_2018_2022") / "Binance_ETHUSDC_1h.csv"


def load_real_history(
    data_dir: str | os.PathLike[str],
    pairs: Sequence[str] = ("usdc_weth", "weth_usdt"),
    *,
    base_fee_wei: int = 30_000_000_000,
    cex_half_spread_bps: float = 1.0,
    first_block: int = 0,
) -> MarketHistory:
    """Build a history from the real reserve snapshots (both venues) and Binance ETH/USDC.

    Parameters
    ----------
    data_dir
        The real-data folder (``../shared/data/real``).
    pairs
        Pairs from :data:`REAL_PAIRS`; both venues of each become pools. Steps are the
        snapshot times common to every pair.
    base_fee_wei
        Assumed base fee of every step (30 gwei by default, typical of 2020-22).
    cex_half_spread_bps
        Half spread of the synthetic quote around each hourly close.
    first_block
        Number of the first pseudo block.

    Raises
    ------
    DataError
        If a file is missing or malformed, a pair is unknown, or the pairs share no
        snapshot time.
    """
    root = Path(data_dir)
    unknown = [p for p in pairs if p not in REAL_PAIRS]
    if unknown or not pairs:
        raise DataError(f"load_real_history: unknown pair(s) {unknown}; choose from {REAL_PAIRS}")
    frames: list[pl.DataFrame] = []
    common: set[int] | None = None
    for pair in pairs:
        venues = load_univ2_sushi_pair(root, pair)
        both = pl.concat([venues.uniswap, venues.sushiswap])
        times = set(both["timestamp"].to_list())
        common = times if common is None else common & times
        frames.append(both)
    if not common:
        raise DataError(f"load_real_history: pairs {list(pairs)} share no snapshot time")
    steps = pl.DataFrame({"timestamp": sorted(common)}, schema={"timestamp": pl.Int64})
    steps = steps.with_row_index("i").with_columns(
        (pl.col("i").cast(pl.Int64) + first_block).alias("block")
    )
    states = (
        pl.concat(frames)
        .drop("block")
        .join(steps.select("timestamp", "block"), on="timestamp", how="inner")
        .unique(["block", "pool"], keep="first", maintain_order=True)
        .sort(["block", "pool"])
    )
    n = steps.height
    blocks = pl.DataFrame(
        {
            "block": steps["block"],
            "timestamp": steps["timestamp"],
            "base_fee_wei": [base_fee_wei] * n,
            "gas_used": [15_000_000] * n,
            "gas_limit": [30_000_000] * n,
        },
        schema_overrides=dict(BLOCKS_SCHEMA),
    )
    kline_path = root / _KLINES
    if not kline_path.exists():
        raise DataError(f"{kline_path}: missing (the CEX leg of the real history)")
    bars = load_cryptodatadownload_klines(kline_path)
    quotes = klines_to_cex_quotes(
        bars, "binance", "ETH/USDC", half_spread_bps=cex_half_spread_bps
    ).sort("timestamp")
    asof = steps.select("timestamp", "block").join_asof(
        quotes.select("timestamp", "bid", "ask", "bid_size", "ask_size").rename(
            {"timestamp": "quote_ts"}
        ),
        left_on="timestamp",
        right_on="quote_ts",
        strategy="backward",
    )
    asof = asof.filter(pl.col("bid").is_not_null())
    cex = asof.select(
        pl.col("quote_ts").alias("timestamp"),
        pl.lit("binance").alias("venue"),
        pl.lit("ETH/USDC").alias("symbol"),
        "bid",
        "ask",
        "bid_size",
        "ask_size",
        "block",
    )
    cex = cex.select([pl.col(k).cast(v) for k, v in CEX_QUOTES_SCHEMA.items()] + [pl.col("block")])
    history = MarketHistory(
        blocks,
        states.select(list(dict.fromkeys(["block", *states.columns]))),
        cex,
        pl.DataFrame(schema=dict(AQUA_EVENTS_SCHEMA)),
        {
            "source": "real: dex_univ2_sushiswap_reserves_2020_2022 + Binance ETH/USDC 1h",
            "pairs": list(pairs),
            "assumed_base_fee_wei": base_fee_wei,
            "note": "pseudo blocks: one per common reserve snapshot (~3.7 h apart)",
        },
    )
    return history
