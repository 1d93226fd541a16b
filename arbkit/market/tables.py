"""Schemas of the data contracts in DESIGN.md, and exact parquet I/O.

Token amounts and reserves are exact integers. In memory they are polars ``Int128``
(uint112 reserves and realistic amounts fit); on disk they are written as
``Decimal(38, 0)``, which every parquet reader understands, and never as floats.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import polars as pl

from arbkit.errors import DataError
from arbkit.io import open_atomic

__all__ = [
    "AQUA_EVENTS_SCHEMA",
    "BLOCKS_SCHEMA",
    "CANDIDATES_SCHEMA",
    "CEX_QUOTES_SCHEMA",
    "OUTCOMES_SCHEMA",
    "POOL_STATES_SCHEMA",
    "SWAPS_SCHEMA",
    "read_table",
    "validate_table",
    "write_table",
]

INT = pl.Int128
"""Exact integer dtype for token amounts (base units) and reserves."""

BLOCKS_SCHEMA: Mapping[str, pl.DataType] = {
    "block": pl.Int64(),
    "timestamp": pl.Int64(),  # UTC seconds
    "base_fee_wei": pl.Int64(),
    "gas_used": pl.Int64(),
    "gas_limit": pl.Int64(),
}

POOL_STATES_SCHEMA: Mapping[str, pl.DataType] = {
    "block": pl.Int64(),
    "pool": pl.String(),
    "venue": pl.String(),
    "token0": pl.String(),
    "token1": pl.String(),
    "reserve0": INT(),
    "reserve1": INT(),
    "fee_bps": pl.Int64(),
}

CEX_QUOTES_SCHEMA: Mapping[str, pl.DataType] = {
    "timestamp": pl.Int64(),  # UTC seconds
    "venue": pl.String(),
    "symbol": pl.String(),  # BASE/QUOTE, e.g. ETH/USDC
    "bid": pl.Float64(),
    "ask": pl.Float64(),
    "bid_size": pl.Float64(),  # base units of the asset (e.g. ETH), not wei
    "ask_size": pl.Float64(),
}

AQUA_EVENTS_SCHEMA: Mapping[str, pl.DataType] = {
    "block": pl.Int64(),
    "tx_hash": pl.String(),
    "log_index": pl.Int64(),
    "event": pl.String(),
    "maker": pl.String(),
    "app": pl.String(),
    "strategy_hash": pl.String(),
    "token": pl.String(),
    "amount": INT(),
}

SWAPS_SCHEMA: Mapping[str, pl.DataType] = {
    "block": pl.Int64(),
    "seq": pl.Int64(),  # order of the swap within its block
    "pool": pl.String(),
    "kind": pl.String(),  # noise | rival
    "sells_token0": pl.Boolean(),
    "amount_in": INT(),  # base units of the token sold
    "amount_out": INT(),  # base units of the token bought
}

CANDIDATES_SCHEMA: Mapping[str, pl.DataType] = {
    "block": pl.Int64(),
    "route": pl.List(pl.String()),
    "kind": pl.String(),  # dex_dex | cex_dex | triangular
    "symbol": pl.String(),
    "start_token": pl.String(),
    "flash_source": pl.String(),
    "amount_in": INT(),
    "expected_profit": INT(),  # start token base units, after AMM and flash fees, before gas
    "flash_fee": INT(),  # start token base units
    "profit_gap_bound": INT(),  # 0 when expected_profit is proven maximal, else the most missed
    "edge_bps": pl.Float64(),
    "notional_quote": pl.Float64(),
    "expected_profit_quote": pl.Float64(),
    "gas_units": pl.Int64(),
    "gas_cost_quote": pl.Float64(),
    "flash_fee_quote": pl.Float64(),
    "slippage_quote": pl.Float64(),
    "liquidity_quote": pl.Float64(),
    "net_profit_quote": pl.Float64(),
}

OUTCOMES_SCHEMA: Mapping[str, pl.DataType] = {
    "block": pl.Int64(),
    "route": pl.List(pl.String()),
    "included_block": pl.Int64(),
    "success": pl.Boolean(),
    "realized_profit": INT(),
    "gas_used": pl.Int64(),
    "gas_paid": INT(),  # wei
    "reason": pl.String(),
}


def validate_table(df: pl.DataFrame, schema: Mapping[str, pl.DataType], *, name: str) -> None:
    """Check that ``df`` has every column of ``schema`` with its dtype.

    Parameters
    ----------
    df
        The table to check. Extra columns are allowed (contracts may grow).
    schema
        Column name to dtype.
    name
        The table's name, used in the error message.

    Raises
    ------
    DataError
        If a column is missing or has another dtype.
    """
    for column, dtype in schema.items():
        if column not in df.columns:
            raise DataError(f"table {name!r}: missing column {column!r}")
        if df.schema[column] != dtype:
            raise DataError(
                f"table {name!r}: column {column!r} has dtype {df.schema[column]}, expected {dtype}"
            )


def _to_disk(df: pl.DataFrame) -> pl.DataFrame:
    casts = [pl.col(c).cast(pl.Decimal(38, 0)) for c, t in df.schema.items() if t == pl.Int128]
    return df.with_columns(casts) if casts else df


def _from_disk(df: pl.DataFrame) -> pl.DataFrame:
    casts = [
        pl.col(c).cast(pl.Int128)
        for c, t in df.schema.items()
        if isinstance(t, pl.Decimal) and t.scale == 0
    ]
    return df.with_columns(casts) if casts else df


def write_table(df: pl.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write ``df`` to parquet atomically, exact integers as ``Decimal(38, 0)``.

    The file is written to a temporary name in the same directory and renamed, so
    a crash never leaves a half-written file under ``path``.

    Parameters
    ----------
    df
        The table.
    path
        Destination ``.parquet`` file; parent directories are created.

    Returns
    -------
    Path
        The path written.
    """
    target = Path(path)
    with open_atomic(target) as handle:
        _to_disk(df).write_parquet(handle, statistics=True)
    return target


def read_table(path: str | os.PathLike[str]) -> pl.DataFrame:
    """Read a parquet table written by :func:`write_table`, exact integers as ``Int128``.

    Raises
    ------
    DataError
        If the file is missing or is not a readable parquet file.
    """
    source = Path(path)
    try:
        df = pl.read_parquet(source)
    except FileNotFoundError as exc:
        raise DataError(f"{source}: no such file") from exc
    except Exception as exc:  # polars raises several types for corrupt files
        raise DataError(f"{source}: not a readable parquet file ({exc})") from exc
    return _from_disk(df)
