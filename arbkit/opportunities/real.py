"""Scans of the real Uniswap V2 / SushiSwap reserve snapshots (../shared/data/real)."""

from __future__ import annotations

import os

import polars as pl

from arbkit.market.data import load_univ2_sushi_pair
from arbkit.opportunities.config import ScanConfig
from arbkit.opportunities.scanner import scan_reserve_snapshots

__all__ = ["UNIV2_SUSHI_PAIRS", "scan_univ2_sushi", "summarise_univ2_sushi"]

UNIV2_SUSHI_PAIRS = ("usdc_weth", "dai_weth", "weth_usdt", "wbtc_weth")
_PRICE_PAIR = "usdc_weth"


def scan_univ2_sushi(
    root: str | os.PathLike[str],
    pair: str,
    *,
    base_fee_wei: int,
    config: ScanConfig | None = None,
) -> tuple[pl.DataFrame, int]:
    """Scan one pair's Uniswap V2 vs SushiSwap snapshots for dex_dex arbitrage.

    Pairs without the quote token are valued through the Uniswap V2 USDC/WETH pool of
    the same snapshot (added as a pricing pool; it forms no route of its own).

    Parameters
    ----------
    root
        The real-data folder (or the dataset folder itself).
    pair
        One of :data:`UNIV2_SUSHI_PAIRS`.
    base_fee_wei
        Assumed base fee (the snapshots predate or lack per-block base fees).
    config
        Scanner options; ``kinds`` is forced to ``("dex_dex",)``.

    Returns
    -------
    tuple[polars.DataFrame, int]
        The candidates (``block`` holds the snapshot timestamp) and the number of
        snapshots scanned.
    """
    cfg = (config or ScanConfig()).model_copy(update={"kinds": ("dex_dex",)})
    venues = load_univ2_sushi_pair(root, pair)
    states = pl.concat([venues.uniswap, venues.sushiswap])
    if pair != _PRICE_PAIR:
        times = venues.sushiswap.select("timestamp")
        ref = load_univ2_sushi_pair(root, _PRICE_PAIR).uniswap.join(
            times, on="timestamp", how="semi"
        )
        states = pl.concat(
            [states, ref.with_columns(pl.lit("price_ref").alias("venue"))], how="vertical_relaxed"
        )
    return scan_reserve_snapshots(
        states, base_fee_wei=base_fee_wei, config=cfg
    ), venues.sushiswap.height


def summarise_univ2_sushi(
    root: str | os.PathLike[str],
    *,
    base_fees_gwei: tuple[float, ...] = (0.0, 30.0, 100.0),
    config: ScanConfig | None = None,
) -> pl.DataFrame:
    """Count the opportunities that survive gas and fees, per pair and gas level.

    Returns
    -------
    polars.DataFrame
        Columns ``pair``, ``snapshots``, ``base_fee_gwei``, ``candidates``,
        ``share_pct``, ``net_profit_quote`` (sum), ``best_net_profit_quote``.
    """
    rows = []
    for pair in UNIV2_SUSHI_PAIRS:
        for gwei in base_fees_gwei:
            cands, n = scan_univ2_sushi(root, pair, base_fee_wei=round(gwei * 1e9), config=config)
            rows.append(
                {
                    "pair": pair,
                    "snapshots": n,
                    "base_fee_gwei": gwei,
                    "candidates": cands.height,
                    "share_pct": 100.0 * cands["block"].n_unique() / n if n else 0.0,
                    "net_profit_quote": float(cands["net_profit_quote"].sum())
                    if cands.height
                    else 0.0,
                    "best_net_profit_quote": float(
                        cands.select(pl.col("net_profit_quote").max()).item()
                    )
                    if cands.height
                    else 0.0,
                }
            )
    return pl.DataFrame(rows)
