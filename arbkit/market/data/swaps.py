"""Uniswap V2 and V3 subgraph swap exports as a swaps table (:data:`SWAPS_SCHEMA`).

Amounts are decimal strings in whole tokens, scaled exactly to base units with
each row's token decimals (by symbol). The ``errors`` argument is described in
:mod:`arbkit.market.data`; ``Swap`` logs read from the chain are decoded by
:mod:`arbkit.market.data.v2_logs` into the same columns.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Literal, overload

import polars as pl

from arbkit.errors import DataError
from arbkit.market.data._rows import (
    INT128_MAX,
    UINT112_MAX,
    Errors,
    LoadReport,
    add_reasons,
    check_errors,
    finish,
    flag_duplicates,
    int_check,
    int_value,
    is_missing,
    read_bytes,
    read_csv,
    require_columns,
    scaled_column,
)
from arbkit.market.tokens import ERC20_TOKEN_DECIMALS

if TYPE_CHECKING:
    import os

__all__ = ["SWAPS_SCHEMA", "load_uniswap_swaps"]

SWAPS_SCHEMA: Mapping[str, pl.DataType] = {
    "block": pl.Int64(),  # null for subgraph exports (no block number kept)
    "timestamp": pl.Int64(),  # UTC seconds; null for logs without blockTimestamp
    "tx_hash": pl.String(),
    "log_index": pl.Int64(),  # null for subgraph exports
    "pool": pl.String(),
    "venue": pl.String(),
    "token0": pl.String(),
    "token1": pl.String(),
    "amount0": pl.Int128(),  # base units, pool perspective: > 0 into the pool
    "amount1": pl.Int128(),
    "amount0_in": pl.Int128(),
    "amount1_in": pl.Int128(),
    "amount0_out": pl.Int128(),
    "amount1_out": pl.Int128(),
}
"""Executed swaps, one row per swap event."""


_HASH_ID_RE = r"^(0x[0-9a-fA-F]{64})[-#](\d+)$"


def _symbol_expr(src: str, which: str) -> pl.Expr:
    pattern = rf"""['"]{which}['"]\s*:\s*\{{\s*['"]symbol['"]\s*:\s*['"]([^'"]*)['"]"""
    return pl.col(src).str.extract(pattern, 1)


@overload
def load_uniswap_swaps(
    path: str | os.PathLike[str],
    *,
    venue: str | None = None,
    decimals: Mapping[str, int] = ERC20_TOKEN_DECIMALS,
    errors: Literal["raise"] = "raise",
) -> pl.DataFrame: ...
@overload
def load_uniswap_swaps(
    path: str | os.PathLike[str],
    *,
    venue: str | None = None,
    decimals: Mapping[str, int] = ERC20_TOKEN_DECIMALS,
    errors: Literal["report"],
) -> tuple[pl.DataFrame, LoadReport]: ...
def load_uniswap_swaps(
    path: str | os.PathLike[str],
    *,
    venue: str | None = None,
    decimals: Mapping[str, int] = ERC20_TOKEN_DECIMALS,
    errors: Errors = "raise",
) -> pl.DataFrame | tuple[pl.DataFrame, LoadReport]:
    """Load a Uniswap V2 or V3 subgraph swap export as a swaps table.

    Two formats are recognised by their header:

    - V2: ``amount0In, amount0Out, amount1In, amount1Out, id, pair, timestamp``,
      ``id = <tx hash>-<n>`` where ``n`` is the swap's position among the swaps
      of its transaction (the subgraph's numbering, not the log index);
    - V3: ``amount0, amount1, id, pool, timestamp``, signed amounts from the
      pool's side, ``id = <tx hash>#<n>`` where ``n`` is the pool's transaction
      counter (again not the log index).

    ``pair``/``pool`` hold the token symbols as ``{'token0': {'symbol': 'WETH'}, ...}``.

    Parameters
    ----------
    path
        The CSV file.
    venue
        Venue name; ``"uniswap_v2"`` or ``"uniswap_v3"`` from the format when omitted.
    decimals
        Decimals by token symbol, to scale the decimal amounts to exact base units
        (default: :data:`arbkit.market.tokens.ERC20_TOKEN_DECIMALS`).
    errors
        ``"raise"`` or ``"report"``; see the module docstring.

    Returns
    -------
    pl.DataFrame or (pl.DataFrame, LoadReport)
        Rows with the columns of :data:`SWAPS_SCHEMA` plus ``subgraph_index``
        (the ``n`` above), sorted by time. ``amount0``/``amount1`` are signed
        from the pool's side (positive: paid into the pool). ``block`` and
        ``log_index`` are null (not in the exports); ``pool`` is
        ``"<venue>:<token0>/<token1>"`` (no address is kept). Rows whose symbols
        are not the expected pair (e.g. spoof tokens also named ``WETH``) are
        kept with their own ``token0``/``token1``: filter on them.

    Raises
    ------
    DataError
        If the format is not recognised, or (with ``errors="raise"``) a row is
        malformed: bad id or time, unknown token symbol, an amount that is not
        a decimal or has more fractional digits than its token.
    """
    check_errors(errors)
    p = Path(path)
    df = read_csv(p, read_bytes(p))
    if "amount0In" in df.columns:
        fmt = "v2"
        require_columns(
            p, df, ["amount0In", "amount0Out", "amount1In", "amount1Out", "id", "pair", "timestamp"]
        )
        symbols_col = "pair"
    elif "amount0" in df.columns:
        fmt = "v3"
        require_columns(p, df, ["amount0", "amount1", "id", "pool", "timestamp"])
        symbols_col = "pool"
    else:
        raise DataError(f"{p}: missing column 'amount0In' (V2 export) or 'amount0' (V3 export)")
    venue_name = venue if venue is not None else f"uniswap_{fmt}"

    df = df.with_columns(
        _symbol_expr(symbols_col, "token0").alias("__token0"),
        _symbol_expr(symbols_col, "token1").alias("__token1"),
        pl.col("id").str.strip_chars().str.extract(_HASH_ID_RE, 1).str.to_lowercase().alias("__tx"),
        pl.col("id")
        .str.strip_chars()
        .str.extract(_HASH_ID_RE, 2)
        .cast(pl.Int64, strict=False)
        .alias("__n"),
    )
    known = list(decimals)
    symbol_reason = (
        pl.when(pl.col("__token0").is_null() | pl.col("__token1").is_null())
        .then(
            pl.format(
                f"column {symbols_col!r}: no token0/token1 symbols in {{}}", pl.col(symbols_col)
            )
        )
        .when(~pl.col("__token0").is_in(known))
        .then(pl.format("unknown token symbol {} (pass its decimals)", pl.col("__token0")))
        .when(~pl.col("__token1").is_in(known))
        .then(pl.format("unknown token symbol {} (pass its decimals)", pl.col("__token1")))
        .otherwise(pl.lit(None, dtype=pl.String))
    )
    id_reason = (
        pl.when(is_missing("id"))
        .then(pl.lit("missing value in column 'id'"))
        .when(pl.col("__tx").is_null() | pl.col("__n").is_null())
        .then(pl.format("column 'id': expected '<0x tx hash>-<n>' or '#<n>', got {}", pl.col("id")))
        .otherwise(pl.lit(None, dtype=pl.String))
    )
    df = add_reasons(df, id_reason, int_check("timestamp"), symbol_reason)
    dec0 = [decimals.get(s) if s is not None else None for s in df["__token0"].to_list()]
    dec1 = [decimals.get(s) if s is not None else None for s in df["__token1"].to_list()]

    if fmt == "v2":
        parsed = {
            out: scaled_column(df, src, dec, signed=False, max_abs=UINT112_MAX, name=out)
            for out, src, dec in (
                ("amount0_in", "amount0In", dec0),
                ("amount0_out", "amount0Out", dec0),
                ("amount1_in", "amount1In", dec1),
                ("amount1_out", "amount1Out", dec1),
            )
        }
        df = add_reasons(df, *(reason for _, reason in parsed.values()))
        df = df.with_columns(*(values for values, _ in parsed.values()))
        df = df.with_columns(
            (pl.col("amount0_in") - pl.col("amount0_out")).alias("amount0"),
            (pl.col("amount1_in") - pl.col("amount1_out")).alias("amount1"),
        )
    else:
        a0, a0_reason = scaled_column(
            df, "amount0", dec0, signed=True, max_abs=INT128_MAX, name="amount0"
        )
        a1, a1_reason = scaled_column(
            df, "amount1", dec1, signed=True, max_abs=INT128_MAX, name="amount1"
        )
        df = add_reasons(df, a0_reason, a1_reason).with_columns(a0, a1)
        zero = pl.lit(0, dtype=pl.Int128)
        same_sign = ((pl.col("amount0") > 0) & (pl.col("amount1") > 0)) | (
            (pl.col("amount0") < 0) & (pl.col("amount1") < 0)
        )
        df = add_reasons(
            df,
            pl.when(same_sign)
            .then(
                pl.lit(
                    "amount0 and amount1 have the same sign "
                    "(a swap pays in one token and out the other)"
                )
            )
            .otherwise(pl.lit(None, dtype=pl.String)),
        ).with_columns(
            *(
                pl.when(pl.col(f"amount{i}") > zero)
                .then(pl.col(f"amount{i}"))
                .otherwise(zero)
                .alias(f"amount{i}_in")
                for i in (0, 1)
            ),
            *(
                pl.when(pl.col(f"amount{i}") < zero)
                .then(zero - pl.col(f"amount{i}"))
                .otherwise(zero)
                .alias(f"amount{i}_out")
                for i in (0, 1)
            ),
        )
    df = flag_duplicates(df, "id", "id")
    columns: list[pl.Expr | str] = [
        pl.lit(None, dtype=pl.Int64).alias("block"),
        int_value("timestamp").alias("timestamp"),
        pl.col("__tx").alias("tx_hash"),
        pl.lit(None, dtype=pl.Int64).alias("log_index"),
        pl.format(f"{venue_name}:{{}}/{{}}", pl.col("__token0"), pl.col("__token1")).alias("pool"),
        pl.lit(venue_name).alias("venue"),
        pl.col("__token0").alias("token0"),
        pl.col("__token1").alias("token1"),
        *(pl.col(c).cast(pl.Int128) for c in list(SWAPS_SCHEMA)[8:]),
        pl.col("__n").alias("subgraph_index"),
    ]
    return finish(p, df, columns, errors, sort_by=["timestamp", "tx_hash", "subgraph_index"])
