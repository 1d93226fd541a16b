"""Uniswap V2 and SushiSwap reserve snapshots (subgraph pair-snapshot CSVs) as pool_states.

The folder ``dex_univ2_sushiswap_reserves_2020_2022`` holds one CSV per venue and
pair (``uniswapv2/usdc_weth.csv``, ``sushiswap/usdc_weth.csv``, ...) with
decimal-scaled reserves sampled every few hours. :func:`load_reserve_snapshots`
reads one file exactly; :func:`load_univ2_sushi_pair` reads both venues of a
pair and aligns them on their common timestamps. Exactness and the ``errors``
argument are described in :mod:`arbkit.market.data`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal, NamedTuple, overload

import polars as pl

from arbkit.errors import DataError
from arbkit.market.data._rows import (
    UINT112_MAX,
    Errors,
    LoadReport,
    add_reasons,
    check_decimals,
    check_errors,
    datetime_check,
    datetime_value,
    finish,
    flag_duplicates,
    read_bytes,
    read_csv,
    require_columns,
    scaled_column,
)
from arbkit.market.tokens import ERC20_TOKEN_DECIMALS

if TYPE_CHECKING:
    import os

__all__ = ["VenuePair", "load_reserve_snapshots", "load_univ2_sushi_pair"]


class VenuePair(NamedTuple):
    """Uniswap V2 and SushiSwap ``pool_states`` of one pair, row ``i`` of both at the same time."""

    uniswap: pl.DataFrame
    sushiswap: pl.DataFrame


@overload
def load_reserve_snapshots(
    path: str | os.PathLike[str],
    *,
    venue: str,
    token0: str,
    token1: str,
    decimals0: int,
    decimals1: int,
    fee_bps: int = 30,
    pool: str | None = None,
    errors: Literal["raise"] = "raise",
) -> pl.DataFrame: ...
@overload
def load_reserve_snapshots(
    path: str | os.PathLike[str],
    *,
    venue: str,
    token0: str,
    token1: str,
    decimals0: int,
    decimals1: int,
    fee_bps: int = 30,
    pool: str | None = None,
    errors: Literal["report"],
) -> tuple[pl.DataFrame, LoadReport]: ...
def load_reserve_snapshots(
    path: str | os.PathLike[str],
    *,
    venue: str,
    token0: str,
    token1: str,
    decimals0: int,
    decimals1: int,
    fee_bps: int = 30,
    pool: str | None = None,
    errors: Errors = "raise",
) -> pl.DataFrame | tuple[pl.DataFrame, LoadReport]:
    """Load a subgraph pair-snapshot CSV (``datetime, reserve0, reserve1, ...``) as pool_states.

    The files of ``dex_univ2_sushiswap_reserves_2020_2022`` hold decimal-scaled
    reserves (``"168470.348470848558122848"`` WETH); they are parsed exactly and
    scaled to base units (``168470348470848558122848``).

    Parameters
    ----------
    path
        The CSV file.
    venue
        Venue name written in the ``venue`` column, e.g. ``"uniswap_v2"``.
    token0, token1
        Token ids in the pair's order (the file name's order for these files).
    decimals0, decimals1
        Decimals of ``token0`` and ``token1``.
    fee_bps
        Swap fee of the pool in basis points.
    pool
        Pool id; ``"<venue>:<token0>/<token1>"`` when omitted (the files keep no address).
    errors
        ``"raise"`` or ``"report"``; see the module docstring.

    Returns
    -------
    pl.DataFrame or (pl.DataFrame, LoadReport)
        pool_states rows sorted by time, plus ``timestamp`` (UTC seconds of the
        sampled block). ``block`` is a null ``Int64``: the snapshots carry the
        block's time but not its number, so join on ``timestamp``.

    Raises
    ------
    DataError
        If the file is missing or empty, a column is missing, or (with
        ``errors="raise"``) a row is malformed: unparsable time, duplicate time,
        a reserve that is not a decimal, negative, above ``uint112`` or with
        more fractional digits than the token has.
    """
    check_errors(errors)
    check_decimals("decimals0", decimals0)
    check_decimals("decimals1", decimals1)
    p = Path(path)
    df = read_csv(p, read_bytes(p))
    require_columns(p, df, ["datetime", "reserve0", "reserve1"])
    fmt = "%Y-%m-%d %H:%M:%S"
    r0, r0_reason = scaled_column(df, "reserve0", decimals0, signed=False, max_abs=UINT112_MAX)
    r1, r1_reason = scaled_column(df, "reserve1", decimals1, signed=False, max_abs=UINT112_MAX)
    df = add_reasons(df, datetime_check("datetime", fmt), r0_reason, r1_reason)
    df = df.with_columns(
        datetime_value("datetime", fmt).alias("timestamp"),
        r0.alias("__reserve0"),
        r1.alias("__reserve1"),
    )
    df = flag_duplicates(df, "timestamp", "timestamp")
    columns = [
        pl.lit(None, dtype=pl.Int64).alias("block"),
        pl.lit(pool if pool is not None else f"{venue}:{token0}/{token1}").alias("pool"),
        pl.lit(venue).alias("venue"),
        pl.lit(token0).alias("token0"),
        pl.lit(token1).alias("token1"),
        pl.col("__reserve0").alias("reserve0"),
        pl.col("__reserve1").alias("reserve1"),
        pl.lit(fee_bps, dtype=pl.Int64).alias("fee_bps"),
        pl.col("timestamp"),
    ]
    return finish(p, df, columns, errors, sort_by=["timestamp"])


def load_univ2_sushi_pair(
    root: str | os.PathLike[str], pair: str, *, fee_bps: int = 30
) -> VenuePair:
    """Load one pair from Uniswap V2 and SushiSwap, aligned on their common timestamps.

    Parameters
    ----------
    root
        The ``dex_univ2_sushiswap_reserves_2020_2022`` folder (holding
        ``uniswapv2/`` and ``sushiswap/``), or the real-data folder that contains it.
    pair
        ``"<token0>_<token1>"`` in lower case, e.g. ``"usdc_weth"``; the token
        order is the file name's order and is the pair's on-chain order.
    fee_bps
        Swap fee of both pools in basis points.

    Returns
    -------
    VenuePair
        ``(uniswap, sushiswap)`` pool_states frames with the same ``timestamp``
        in each row (``block`` is null; see :func:`load_reserve_snapshots`).
        Venues are ``"uniswap_v2"`` and ``"sushiswap"``.

    Raises
    ------
    DataError
        If ``pair`` names an unknown token, a file is missing or any row is malformed.
    """
    base = Path(root)
    nested = base / "dex_univ2_sushiswap_reserves_2020_2022"
    if nested.is_dir():
        base = nested
    parts = pair.lower().split("_")
    if len(parts) != 2:
        raise DataError(f"pair {pair!r}: expected '<token0>_<token1>', e.g. 'usdc_weth'")
    token0, token1 = (s.upper() for s in parts)
    for symbol in (token0, token1):
        if symbol not in ERC20_TOKEN_DECIMALS:
            raise DataError(
                f"pair {pair!r}: unknown token {symbol!r} (known: {sorted(ERC20_TOKEN_DECIMALS)})"
            )
    frames = [
        load_reserve_snapshots(
            base / folder / f"{parts[0]}_{parts[1]}.csv",
            venue=venue,
            token0=token0,
            token1=token1,
            decimals0=ERC20_TOKEN_DECIMALS[token0],
            decimals1=ERC20_TOKEN_DECIMALS[token1],
            fee_bps=fee_bps,
        )
        for folder, venue in (("uniswapv2", "uniswap_v2"), ("sushiswap", "sushiswap"))
    ]
    common = frames[0].select("timestamp").join(frames[1].select("timestamp"), on="timestamp")
    uni, sushi = (
        common.join(f, on="timestamp", how="left").select(f.columns).sort("timestamp")
        for f in frames
    )
    return VenuePair(uniswap=uni, sushiswap=sushi)
