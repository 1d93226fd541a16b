"""Load the real datasets into arbkit's tables, and decode Uniswap V2 logs.

Every loader returns the tables of :mod:`arbkit.market.tables` (extra columns
allowed, never fewer): ``pool_states`` from reserve snapshots and ``Sync`` logs,
normalised OHLCV bars and synthetic ``cex_quotes`` from exchange CSVs, ``blocks``
from block-header dumps, and a ``swaps`` table (:data:`SWAPS_SCHEMA`) from
subgraph swap exports and ``Swap`` logs.

Exactness
---------
Token amounts and reserves are exact integers in token base units (polars
``Int128``). Decimal strings such as ``"168470.348470848558122848"`` are parsed
as strings with :class:`decimal.Decimal` and scaled by ``10**decimals`` with
integer arithmetic; nothing goes through a float. A value that is not a whole
number of base units (more significant fractional digits than the token has) is
refused. Prices and volumes of exchange bars are floats (features, screening).

Malformed rows
--------------
Every file loader takes ``errors``:

- ``errors="raise"`` (default): raise :class:`~arbkit.errors.DataError` at the
  first malformed row, as ``"<file>:<line>: <problem>"`` with the 1-based line
  number in the file, plus how many more rows are malformed.
- ``errors="report"``: return ``(table, LoadReport)``; the table holds every
  good row, and the report lists every malformed row as ``(line, reason)``.
  No row is ever dropped silently: each input row is either in the table or in
  the report (blank lines are not rows and are skipped).

Problems with the whole file (missing or empty file, no data rows, a missing
column, a record spanning several lines, invalid JSON) always raise
``DataError`` naming the file and, where it applies, the column.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, overload

import polars as pl

from arbkit.errors import DataError
from arbkit.market.tables import POOL_STATES_SCHEMA

if TYPE_CHECKING:
    import os

    from eth_typing import ChecksumAddress
    from web3 import Web3
    from web3.types import FilterParams

__all__ = [
    "KLINES_SCHEMA",
    "SWAPS_SCHEMA",
    "SWAP_TOPIC0",
    "SYNC_TOPIC0",
    "TOKEN_DECIMALS",
    "UINT112_MAX",
    "DecodedLogs",
    "LoadReport",
    "PoolMeta",
    "VenuePair",
    "decode_v2_logs",
    "fetch_v2_logs",
    "klines_to_cex_quotes",
    "load_binance_1m",
    "load_block_headers",
    "load_cryptodatadownload_klines",
    "load_kraken_1m",
    "load_reserve_snapshots",
    "load_uniswap_swaps",
    "load_univ2_sushi_pair",
]

Errors = Literal["raise", "report"]

UINT112_MAX = 2**112 - 1
"""Largest Uniswap V2 reserve (``uint112``)."""

_INT128_MAX = 2**127 - 1
_INT64_MAX = 2**63 - 1

SYNC_TOPIC0 = "0x1c411e9a96e071241c2f21f7726b17ae89e3cab4c78be50e062b03a9fffbbad1"
"""``keccak256("Sync(uint112,uint112)")``."""

SWAP_TOPIC0 = "0xd78ad95fa46c994b6551d0da85fc275fe613ce37657fb8d5e3d130840159d822"
"""``keccak256("Swap(address,uint256,uint256,uint256,uint256,address)")``."""

_TOKEN0_SELECTOR = "0x0dfe1681"  # token0()
_TOKEN1_SELECTOR = "0xd21220a7"  # token1()

TOKEN_DECIMALS: Mapping[str, int] = {"USDC": 6, "DAI": 18, "WETH": 18, "USDT": 6, "WBTC": 8}
"""Decimals of the mainnet tokens that appear in the real datasets, by symbol."""

KLINES_SCHEMA: Mapping[str, pl.DataType] = {
    "timestamp": pl.Int64(),  # UTC seconds, bar open time
    "interval_s": pl.Int64(),  # bar length in seconds
    "open": pl.Float64(),
    "high": pl.Float64(),
    "low": pl.Float64(),
    "close": pl.Float64(),
    "volume": pl.Float64(),  # base asset units
    "volume_quote": pl.Float64(),  # quote asset units; null when the file has none
    "trade_count": pl.Int64(),  # null when the file has none
}
"""Normalised OHLCV bars returned by the exchange loaders."""

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

_LINE = "__line"
_REASON = "__reason"
_DECIMAL_RE = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_HASH_ID_RE = r"^(0x[0-9a-fA-F]{64})[-#](\d+)$"


@dataclass(frozen=True)
class LoadReport:
    """Outcome of a loader run with ``errors="report"``.

    Attributes
    ----------
    path
        The file read.
    rows_read
        Data rows in the file (blank lines excluded).
    problems
        One ``(line, reason)`` per malformed row, 1-based file line numbers,
        in file order. These rows are not in the returned table.
    """

    path: Path
    rows_read: int
    problems: list[tuple[int, str]] = field(default_factory=list)

    @property
    def rows_kept(self) -> int:
        """Return the number of rows in the returned table."""
        return self.rows_read - len(self.problems)


class VenuePair(NamedTuple):
    """Uniswap V2 and SushiSwap ``pool_states`` of one pair, row ``i`` of both at the same time."""

    uniswap: pl.DataFrame
    sushiswap: pl.DataFrame


@dataclass(frozen=True)
class PoolMeta:
    """What the chain does not say in a log: the pool's venue, tokens and fee.

    Attributes
    ----------
    venue
        Venue name, e.g. ``"uniswap_v2"`` or ``"sushiswap"``.
    token0, token1
        Token ids (addresses or symbols) in the pair's order.
    fee_bps
        Swap fee in basis points (30 for Uniswap V2).
    """

    venue: str = "uniswap_v2"
    token0: str | None = None
    token1: str | None = None
    fee_bps: int = 30


class DecodedLogs(NamedTuple):
    """Tables decoded from Uniswap V2 pair logs.

    Attributes
    ----------
    pool_states
        One row per ``Sync`` log (the reserves after the log's transaction step).
    swaps
        One row per ``Swap`` log.
    ignored
        Logs that were neither ``Sync`` nor ``Swap`` (e.g. ``Mint``, ``Transfer``)
        or were flagged ``removed`` by the node (chain reorganisation).
    """

    pool_states: pl.DataFrame
    swaps: pl.DataFrame
    ignored: int


# ----------------------------------------------------------------------------- helpers


def _check_errors(errors: str) -> None:
    if errors not in ("raise", "report"):
        raise ValueError(f"errors must be 'raise' or 'report', got {errors!r}")


def _check_decimals(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 77:
        raise ValueError(f"{name} must be an int in [0, 77], got {value!r}")


def _read_bytes(path: Path) -> bytes:
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    raw = path.read_bytes()
    if not raw.strip():
        raise DataError(f"{path}: empty file")
    return raw


def _physical_lines(raw: bytes) -> list[bytes]:
    lines = raw.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return lines


def _ragged_lines(lines: Sequence[bytes], first_line: int, n_fields: int) -> dict[int, str]:
    found: dict[int, str] = {}
    for offset, line in enumerate(lines):
        text = line.decode("utf-8", errors="replace").rstrip("\r")
        if not text.strip():
            continue
        fields = next(csv.reader([text]))
        if len(fields) != n_fields:
            found[first_line + offset] = f"expected {n_fields} fields, found {len(fields)}"
    return found


def _read_csv(
    path: Path,
    raw: bytes,
    *,
    skip_lines: int = 0,
    has_header: bool = True,
    names: Sequence[str] | None = None,
) -> pl.DataFrame:
    # Parse a CSV into string columns plus the file line of each row and a null reason.
    lines = _physical_lines(raw)
    header_lines = skip_lines + (1 if has_header else 0)
    if len(lines) <= header_lines:
        raise DataError(f"{path}: no data rows")
    data_lines = lines[header_lines:]
    if has_header:
        header = next(csv.reader([lines[skip_lines].decode("utf-8", errors="replace")]))
        n_fields = len(header)
    else:
        n_fields = len(names) if names is not None else 0

    def read(truncate: bool) -> pl.DataFrame:
        return pl.read_csv(
            io.BytesIO(raw),
            skip_rows=skip_lines,
            has_header=has_header,
            new_columns=list(names) if names is not None else None,
            infer_schema=False,
            encoding="utf8-lossy",
            truncate_ragged_lines=truncate,
        )

    ragged: dict[int, str] = {}
    try:
        df = read(truncate=False)
    except pl.exceptions.PolarsError as exc:
        ragged = _ragged_lines(data_lines, header_lines + 1, n_fields)
        if not ragged:
            raise DataError(f"{path}: unreadable CSV ({exc})") from exc
        df = read(truncate=True)
    if df.height != len(data_lines):
        raise DataError(
            f"{path}: parsed {df.height} records from {len(data_lines)} data lines; "
            "records spanning several lines (quoted line breaks) are not supported"
        )
    blank = [not line.strip() for line in data_lines]
    # Short rows come back padded with nulls: find them to name the real problem.
    if not ragged and any(df.null_count().row(0)):
        ragged = _ragged_lines(data_lines, header_lines + 1, n_fields)
    lines_col = pl.int_range(header_lines + 1, header_lines + 1 + df.height, eager=True)
    reasons = [ragged.get(line) for line in lines_col.to_list()]
    df = df.with_columns(
        lines_col.cast(pl.Int64).alias(_LINE),
        pl.Series(_REASON, reasons, dtype=pl.String),
    ).filter(~pl.Series(blank, dtype=pl.Boolean))
    if df.height == 0:
        raise DataError(f"{path}: no data rows")
    return df


def _require_columns(path: Path, df: pl.DataFrame, columns: Iterable[str]) -> None:
    present = [c for c in df.columns if c not in (_LINE, _REASON)]
    for column in columns:
        if column not in df.columns:
            raise DataError(f"{path}: missing column {column!r} (columns: {', '.join(present)})")


def _missing(src: str) -> pl.Expr:
    return pl.col(src).is_null() | (pl.col(src).str.strip_chars() == "")


def _float_check(src: str, *, positive: bool = False, non_negative: bool = False) -> pl.Expr:
    value = pl.col(src).str.strip_chars().cast(pl.Float64, strict=False)
    expr = (
        pl.when(_missing(src))
        .then(pl.lit(f"missing value in column {src!r}"))
        .when(value.is_null() | value.is_nan() | value.is_infinite())
        .then(pl.format(f"column {src!r}: not a number: {{}}", pl.col(src)))
    )
    if positive:
        expr = expr.when(value <= 0).then(
            pl.format(f"column {src!r}: must be positive, got {{}}", pl.col(src))
        )
    if non_negative:
        expr = expr.when(value < 0).then(
            pl.format(f"column {src!r}: must not be negative, got {{}}", pl.col(src))
        )
    return expr.otherwise(pl.lit(None, dtype=pl.String))


def _float_value(src: str) -> pl.Expr:
    return pl.col(src).str.strip_chars().cast(pl.Float64, strict=False)


def _int_check(src: str) -> pl.Expr:
    text = pl.col(src).str.strip_chars()
    return (
        pl.when(_missing(src))
        .then(pl.lit(f"missing value in column {src!r}"))
        .when(~text.str.contains(r"^\d+$"))
        .then(pl.format(f"column {src!r}: not a non-negative integer: {{}}", pl.col(src)))
        .when(text.cast(pl.Int64, strict=False).is_null())
        .then(pl.format(f"column {src!r}: out of range: {{}}", pl.col(src)))
        .otherwise(pl.lit(None, dtype=pl.String))
    )


def _int_value(src: str) -> pl.Expr:
    return pl.col(src).str.strip_chars().cast(pl.Int64, strict=False)


def _datetime_check(src: str, fmt: str) -> pl.Expr:
    return (
        pl.when(_missing(src))
        .then(pl.lit(f"missing value in column {src!r}"))
        .when(_datetime_value(src, fmt).is_null())
        .then(pl.format(f"column {src!r}: not a date-time like {fmt!r}: {{}}", pl.col(src)))
        .otherwise(pl.lit(None, dtype=pl.String))
    )


def _datetime_value(src: str, fmt: str) -> pl.Expr:
    text = pl.col(src).str.strip_chars()
    if "%z" in fmt or "%:z" in fmt:
        parsed = text.str.to_datetime(fmt, strict=False, time_unit="us")
    else:
        parsed = text.str.to_datetime(fmt, time_zone="UTC", strict=False, time_unit="us")
    return parsed.dt.epoch("s")


def _parse_scaled(text: str | None, decimals: int, *, signed: bool, max_abs: int) -> int | str:
    # Return ``text * 10**decimals`` as an exact int, or the reason it is not one.
    if text is None or not text.strip():
        return "missing value"
    stripped = text.strip()
    if not _DECIMAL_RE.fullmatch(stripped):
        return f"not a decimal number: {text!r}"
    sign, digit_tuple, exponent = Decimal(stripped).as_tuple()
    assert isinstance(exponent, int)  # the regex excludes NaN and infinities
    digits = "".join(map(str, digit_tuple)).lstrip("0")
    shift = exponent + decimals
    if not digits:
        value = 0
    elif shift >= 0:
        if len(digits) + shift > 80:
            return f"{text!r} is out of range"
        value = int(digits) * 10**shift
    else:
        kept = len(digits) + shift
        if kept <= 0 or digits[kept:].strip("0"):
            return f"{text!r} has more fractional digits than the token's {decimals} decimals"
        value = int(digits[:kept])
    if sign:
        value = -value
    if value < 0 and not signed:
        return f"negative value {text!r}"
    if abs(value) > max_abs:
        return f"{text!r} is out of range (|value| above {max_abs} base units)"
    return value


def _scaled_column(
    df: pl.DataFrame,
    src: str,
    decimals: int | Sequence[int | None],
    *,
    signed: bool,
    max_abs: int,
    name: str | None = None,
) -> tuple[pl.Series, pl.Series]:
    # Parse a decimal string column exactly; return the Int128 values and the reasons.
    texts = df[src].to_list()
    if isinstance(decimals, int):
        per_row: Sequence[int | None] = [decimals] * len(texts)
    else:
        per_row = decimals
    values: list[int | None] = []
    reasons: list[str | None] = []
    for text, dec in zip(texts, per_row, strict=True):
        if dec is None:  # the row's token is unknown; that problem is reported elsewhere
            values.append(None)
            reasons.append(None)
            continue
        parsed = _parse_scaled(text, dec, signed=signed, max_abs=max_abs)
        if isinstance(parsed, str):
            values.append(None)
            reasons.append(f"column {src!r}: {parsed}")
        else:
            values.append(parsed)
            reasons.append(None)
    return (
        pl.Series(name or src, values, dtype=pl.Int128),
        pl.Series(f"__r_{src}", reasons, dtype=pl.String),
    )


def _add_reasons(df: pl.DataFrame, *reasons: pl.Expr | pl.Series) -> pl.DataFrame:
    # Keep the first problem of each row: earlier checks win.
    exprs = [pl.col(_REASON)] + [pl.lit(r) if isinstance(r, pl.Series) else r for r in reasons]
    return df.with_columns(pl.coalesce(exprs).alias(_REASON))


def _flag_duplicates(df: pl.DataFrame, key: str, what: str) -> pl.DataFrame:
    valid = pl.col(_REASON).is_null()
    first_line = pl.when(valid).then(pl.col(_LINE)).min().over(key)
    duplicate = valid & (pl.col(_LINE) != first_line)
    reason = pl.when(duplicate).then(
        pl.format(f"duplicate {what} {{}} (first on line {{}})", pl.col(key), first_line)
    )
    return _add_reasons(df, reason.otherwise(pl.lit(None, dtype=pl.String)))


def _finish(
    path: Path,
    df: pl.DataFrame,
    columns: Sequence[pl.Expr | str],
    errors: Errors,
    *,
    sort_by: Sequence[str],
) -> pl.DataFrame | tuple[pl.DataFrame, LoadReport]:
    bad = df.filter(pl.col(_REASON).is_not_null()).sort(_LINE)
    problems = list(zip(bad[_LINE].to_list(), bad[_REASON].to_list(), strict=True))
    if errors == "raise" and problems:
        line, reason = problems[0]
        more = len(problems) - 1
        suffix = (
            f" (and {more} more malformed rows; load with errors='report' to list them)"
            if more
            else ""
        )
        raise DataError(f"{path}:{line}: {reason}{suffix}")
    good = (
        df.filter(pl.col(_REASON).is_null())
        .select(columns)
        .sort(list(sort_by), maintain_order=True)
    )
    if errors == "report":
        return good, LoadReport(path=path, rows_read=df.height, problems=problems)
    return good


# ----------------------------------------------------------------------------- reserves


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
    _check_errors(errors)
    _check_decimals("decimals0", decimals0)
    _check_decimals("decimals1", decimals1)
    p = Path(path)
    df = _read_csv(p, _read_bytes(p))
    _require_columns(p, df, ["datetime", "reserve0", "reserve1"])
    fmt = "%Y-%m-%d %H:%M:%S"
    r0, r0_reason = _scaled_column(df, "reserve0", decimals0, signed=False, max_abs=UINT112_MAX)
    r1, r1_reason = _scaled_column(df, "reserve1", decimals1, signed=False, max_abs=UINT112_MAX)
    df = _add_reasons(df, _datetime_check("datetime", fmt), r0_reason, r1_reason)
    df = df.with_columns(
        _datetime_value("datetime", fmt).alias("timestamp"),
        r0.alias("__reserve0"),
        r1.alias("__reserve1"),
    )
    df = _flag_duplicates(df, "timestamp", "timestamp")
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
    return _finish(p, df, columns, errors, sort_by=["timestamp"])


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
        if symbol not in TOKEN_DECIMALS:
            raise DataError(
                f"pair {pair!r}: unknown token {symbol!r} (known: {sorted(TOKEN_DECIMALS)})"
            )
    frames = [
        load_reserve_snapshots(
            base / folder / f"{parts[0]}_{parts[1]}.csv",
            venue=venue,
            token0=token0,
            token1=token1,
            decimals0=TOKEN_DECIMALS[token0],
            decimals1=TOKEN_DECIMALS[token1],
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


# ----------------------------------------------------------------------------- exchange bars


def _bars_table(
    path: Path,
    df: pl.DataFrame,
    *,
    time_check: pl.Expr,
    time_value: pl.Expr,
    names: Mapping[str, str],
    interval_s: int | None,
    errors: Errors,
) -> pl.DataFrame | tuple[pl.DataFrame, LoadReport]:
    # Validate OHLCV string columns named by ``names`` (target -> source) into KLINES rows.
    checks = [time_check]
    checks += [_float_check(names[c], positive=True) for c in ("open", "high", "low", "close")]
    checks += [
        _float_check(names[c], non_negative=True) for c in ("volume", "volume_quote") if c in names
    ]
    if "trade_count" in names:
        checks.append(_int_check(names["trade_count"]))
    df = _add_reasons(df, *checks)
    o, h, lo, c = (_float_value(names[k]) for k in ("open", "high", "low", "close"))
    inconsistent = pl.when((h < pl.max_horizontal(o, c, lo)) | (lo > pl.min_horizontal(o, c, h)))
    df = _add_reasons(
        df,
        inconsistent.then(
            pl.lit("inconsistent bar: high below open/close/low or low above them")
        ).otherwise(pl.lit(None, dtype=pl.String)),
    )
    df = df.with_columns(time_value.alias("timestamp"))
    df = _flag_duplicates(df, "timestamp", "timestamp")
    if interval_s is None:
        interval_s = _infer_interval(path, df)
    columns = [
        pl.col("timestamp"),
        pl.lit(interval_s, dtype=pl.Int64).alias("interval_s"),
        *(_float_value(names[k]).alias(k) for k in ("open", "high", "low", "close", "volume")),
        (
            _float_value(names["volume_quote"])
            if "volume_quote" in names
            else pl.lit(None, dtype=pl.Float64)
        ).alias("volume_quote"),
        (
            _int_value(names["trade_count"])
            if "trade_count" in names
            else pl.lit(None, dtype=pl.Int64)
        ).alias("trade_count"),
    ]
    return _finish(path, df, columns, errors, sort_by=["timestamp"])


def _infer_interval(path: Path, df: pl.DataFrame) -> int:
    times = df.filter(pl.col(_REASON).is_null())["timestamp"].sort()
    steps = times.diff().drop_nulls().filter(times.diff().drop_nulls() > 0)
    if steps.len() == 0:
        raise DataError(
            f"{path}: cannot infer the bar interval from fewer than 2 bars; pass interval_s"
        )
    return int(steps.mode().min())  # type: ignore[arg-type]


@overload
def load_cryptodatadownload_klines(
    path: str | os.PathLike[str],
    *,
    interval_s: int | None = None,
    errors: Literal["raise"] = "raise",
) -> pl.DataFrame: ...
@overload
def load_cryptodatadownload_klines(
    path: str | os.PathLike[str],
    *,
    interval_s: int | None = None,
    errors: Literal["report"],
) -> tuple[pl.DataFrame, LoadReport]: ...
def load_cryptodatadownload_klines(
    path: str | os.PathLike[str],
    *,
    interval_s: int | None = None,
    errors: Errors = "raise",
) -> pl.DataFrame | tuple[pl.DataFrame, LoadReport]:
    """Load a CryptoDataDownload OHLCV CSV as bars sorted oldest first.

    The format: line 1 is a banner (the site's URL), line 2 the header
    (``Unix, Date, Symbol, Open, High, Low, Close, Volume <BASE>, Volume <QUOTE>,
    tradecount``), then rows newest first. ``Unix`` is in milliseconds in recent
    exports and in seconds in older ones; both are accepted row by row.

    Parameters
    ----------
    path
        The CSV file.
    interval_s
        Bar length in seconds; inferred as the most common step between bars
        when omitted (gaps in the data do not change it).
    errors
        ``"raise"`` or ``"report"``; see the module docstring.

    Returns
    -------
    pl.DataFrame or (pl.DataFrame, LoadReport)
        Bars with the columns of :data:`KLINES_SCHEMA`; ``timestamp`` is the bar's
        open time in UTC seconds, ``volume`` the first ``Volume`` column (base
        asset), ``volume_quote`` the second.

    Raises
    ------
    DataError
        If the banner line or a column is missing, the file is empty, or (with
        ``errors="raise"``) a row is malformed.
    """
    _check_errors(errors)
    p = Path(path)
    raw = _read_bytes(p)
    first = _physical_lines(raw)[0].decode("utf-8", errors="replace")
    if "close" in (f.strip().lower() for f in next(csv.reader([first]))):
        raise DataError(
            f"{p}:1: banner line missing: CryptoDataDownload files start with the site's URL "
            "line before the header"
        )
    df = _read_csv(p, raw, skip_lines=1)
    lower = {c.strip().lower(): c for c in df.columns if c not in (_LINE, _REASON)}
    names: dict[str, str] = {}
    for key in ("open", "high", "low", "close"):
        if key not in lower:
            raise DataError(f"{p}: missing column {key.capitalize()!r}")
        names[key] = lower[key]
    volumes = [lower[c] for c in lower if c.startswith("volume")]
    if not volumes:
        raise DataError(f"{p}: missing column 'Volume <BASE>'")
    names["volume"] = volumes[0]
    if len(volumes) > 1:
        names["volume_quote"] = volumes[1]
    if "tradecount" in lower:
        names["trade_count"] = lower["tradecount"]
    unix = lower.get("unix") or lower.get("unix timestamp")
    if unix is not None:
        raw_time = pl.col(unix).str.strip_chars().cast(pl.Int64, strict=False)
        is_ms = raw_time >= 10**11
        time_value = pl.when(is_ms).then(raw_time // 1000).otherwise(raw_time)
        time_check = (
            pl.when(_missing(unix))
            .then(pl.lit(f"missing value in column {unix!r}"))
            .when(raw_time.is_null() | (raw_time < 0))
            .then(pl.format(f"column {unix!r}: not a Unix time: {{}}", pl.col(unix)))
            .when(is_ms & (raw_time % 1000 != 0))
            .then(pl.format(f"column {unix!r}: not a whole second: {{}}", pl.col(unix)))
            .otherwise(pl.lit(None, dtype=pl.String))
        )
    elif "date" in lower:
        fmt = "%Y-%m-%d %H:%M:%S"
        time_value = _datetime_value(lower["date"], fmt)
        time_check = _datetime_check(lower["date"], fmt)
    else:
        raise DataError(f"{p}: missing column 'Unix' (or 'Date')")
    return _bars_table(
        p,
        df,
        time_check=time_check,
        time_value=time_value,
        names=names,
        interval_s=interval_s,
        errors=errors,
    )


@overload
def load_binance_1m(
    path: str | os.PathLike[str], *, errors: Literal["raise"] = "raise"
) -> pl.DataFrame: ...
@overload
def load_binance_1m(
    path: str | os.PathLike[str], *, errors: Literal["report"]
) -> tuple[pl.DataFrame, LoadReport]: ...
def load_binance_1m(
    path: str | os.PathLike[str], *, errors: Errors = "raise"
) -> pl.DataFrame | tuple[pl.DataFrame, LoadReport]:
    """Load Binance(.US) 1-minute klines (``open_time, open, high, low, close, volume``).

    ``open_time`` is an ISO date-time with offset, e.g. ``2023-03-01 00:00:00+00:00``.

    Parameters
    ----------
    path
        The CSV file.
    errors
        ``"raise"`` or ``"report"``; see the module docstring.

    Returns
    -------
    pl.DataFrame or (pl.DataFrame, LoadReport)
        Bars with the columns of :data:`KLINES_SCHEMA`, ``interval_s`` 60,
        ``volume_quote`` and ``trade_count`` null (not in the file).

    Raises
    ------
    DataError
        If the file is missing or empty, a column is missing, or (with
        ``errors="raise"``) a row is malformed.
    """
    _check_errors(errors)
    p = Path(path)
    df = _read_csv(p, _read_bytes(p))
    _require_columns(p, df, ["open_time", "open", "high", "low", "close", "volume"])
    fmt = "%Y-%m-%d %H:%M:%S%:z"
    return _bars_table(
        p,
        df,
        time_check=_datetime_check("open_time", fmt),
        time_value=_datetime_value("open_time", fmt),
        names={k: k for k in ("open", "high", "low", "close", "volume")},
        interval_s=60,
        errors=errors,
    )


@overload
def load_kraken_1m(
    path: str | os.PathLike[str], *, errors: Literal["raise"] = "raise"
) -> pl.DataFrame: ...
@overload
def load_kraken_1m(
    path: str | os.PathLike[str], *, errors: Literal["report"]
) -> tuple[pl.DataFrame, LoadReport]: ...
def load_kraken_1m(
    path: str | os.PathLike[str], *, errors: Errors = "raise"
) -> pl.DataFrame | tuple[pl.DataFrame, LoadReport]:
    """Load Kraken 1-minute OHLCVT bars (no header; Unix seconds, OHLC, volume[, count]).

    Kraken writes a bar only for minutes with trades, so the bars are sparse.

    Parameters
    ----------
    path
        The CSV file (6 or 7 columns, Unix seconds first).
    errors
        ``"raise"`` or ``"report"``; see the module docstring.

    Returns
    -------
    pl.DataFrame or (pl.DataFrame, LoadReport)
        Bars with the columns of :data:`KLINES_SCHEMA`, ``interval_s`` 60,
        ``volume_quote`` null, ``trade_count`` from the 7th column when present.

    Raises
    ------
    DataError
        If the file is missing or empty, has another number of columns, or
        (with ``errors="raise"``) a row is malformed (a header line is one).
    """
    _check_errors(errors)
    p = Path(path)
    raw = _read_bytes(p)
    first = next(line for line in _physical_lines(raw) if line.strip())
    n_fields = len(next(csv.reader([first.decode("utf-8", errors="replace")])))
    base = ["time", "open", "high", "low", "close", "volume"]
    if n_fields not in (6, 7):
        raise DataError(
            f"{p}: expected 6 or 7 columns (time, open, high, low, close, volume[, count]), "
            f"found {n_fields}"
        )
    names = base + (["trade_count"] if n_fields == 7 else [])
    df = _read_csv(p, raw, has_header=False, names=names)
    text = pl.col("time").str.strip_chars()
    time_check = (
        pl.when(_missing("time"))
        .then(pl.lit("missing value in column 'time'"))
        .when(~text.str.contains(r"^\d{1,12}$"))
        .then(pl.format("column 'time': not a Unix time in seconds: {}", pl.col("time")))
        .otherwise(pl.lit(None, dtype=pl.String))
    )
    return _bars_table(
        p,
        df,
        time_check=time_check,
        time_value=text.cast(pl.Int64, strict=False),
        names={k: k for k in names[1:]},
        interval_s=60,
        errors=errors,
    )


def klines_to_cex_quotes(
    df: pl.DataFrame,
    venue: str,
    symbol: str,
    *,
    half_spread_bps: float = 1.0,
    size_base: float | None = None,
) -> pl.DataFrame:
    """Turn OHLCV bars into a synthetic cex_quotes table (bid/ask around each close).

    Bars carry trades, not an order book: the quote is synthetic. ``bid`` and
    ``ask`` are ``close * (1 -/+ half_spread_bps / 1e4)``, stamped at the bar's
    *close* time (``timestamp + interval_s``), the first moment the close price
    is known, so that as-of joins on the quote time never look ahead.

    Parameters
    ----------
    df
        Bars with at least ``timestamp``, ``interval_s`` and ``close``
        (the output of the kline loaders).
    venue
        Venue name for the ``venue`` column, e.g. ``"binance"``.
    symbol
        ``BASE/QUOTE``, e.g. ``"ETH/USDC"``.
    half_spread_bps
        Assumed half of the bid-ask spread in basis points (1 bp is typical of
        the top of book of liquid majors on large exchanges).
    size_base
        Size quoted on each side in base units; null sizes (unknown depth) when omitted.

    Returns
    -------
    pl.DataFrame
        cex_quotes rows sorted by time, plus ``mid`` (the close) and
        ``bar_open_timestamp``.

    Raises
    ------
    DataError
        If a required column is missing from ``df``.
    ValueError
        If ``half_spread_bps`` is negative or not finite, or ``size_base`` is negative.
    """
    if not 0 <= half_spread_bps < 10_000:
        raise ValueError(f"half_spread_bps must be in [0, 10000), got {half_spread_bps!r}")
    if size_base is not None and not size_base >= 0:
        raise ValueError(f"size_base must be >= 0, got {size_base!r}")
    for column in ("timestamp", "interval_s", "close"):
        if column not in df.columns:
            raise DataError(f"klines table: missing column {column!r}")
    h = half_spread_bps / 10_000
    size = pl.lit(size_base, dtype=pl.Float64)
    quotes = df.select(
        (pl.col("timestamp") + pl.col("interval_s")).cast(pl.Int64).alias("timestamp"),
        pl.lit(venue).alias("venue"),
        pl.lit(symbol).alias("symbol"),
        (pl.col("close") * (1 - h)).cast(pl.Float64).alias("bid"),
        (pl.col("close") * (1 + h)).cast(pl.Float64).alias("ask"),
        size.alias("bid_size"),
        size.alias("ask_size"),
        pl.col("close").cast(pl.Float64).alias("mid"),
        pl.col("timestamp").cast(pl.Int64).alias("bar_open_timestamp"),
    ).sort("timestamp")
    return quotes


# ----------------------------------------------------------------------------- swaps


def _symbol_expr(src: str, which: str) -> pl.Expr:
    pattern = rf"""['"]{which}['"]\s*:\s*\{{\s*['"]symbol['"]\s*:\s*['"]([^'"]*)['"]"""
    return pl.col(src).str.extract(pattern, 1)


@overload
def load_uniswap_swaps(
    path: str | os.PathLike[str],
    *,
    venue: str | None = None,
    decimals: Mapping[str, int] = TOKEN_DECIMALS,
    errors: Literal["raise"] = "raise",
) -> pl.DataFrame: ...
@overload
def load_uniswap_swaps(
    path: str | os.PathLike[str],
    *,
    venue: str | None = None,
    decimals: Mapping[str, int] = TOKEN_DECIMALS,
    errors: Literal["report"],
) -> tuple[pl.DataFrame, LoadReport]: ...
def load_uniswap_swaps(
    path: str | os.PathLike[str],
    *,
    venue: str | None = None,
    decimals: Mapping[str, int] = TOKEN_DECIMALS,
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
        Decimals by token symbol, to scale the decimal amounts to exact base units.
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
    _check_errors(errors)
    p = Path(path)
    df = _read_csv(p, _read_bytes(p))
    if "amount0In" in df.columns:
        fmt = "v2"
        _require_columns(
            p, df, ["amount0In", "amount0Out", "amount1In", "amount1Out", "id", "pair", "timestamp"]
        )
        symbols_col = "pair"
    elif "amount0" in df.columns:
        fmt = "v3"
        _require_columns(p, df, ["amount0", "amount1", "id", "pool", "timestamp"])
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
        pl.when(_missing("id"))
        .then(pl.lit("missing value in column 'id'"))
        .when(pl.col("__tx").is_null() | pl.col("__n").is_null())
        .then(pl.format("column 'id': expected '<0x tx hash>-<n>' or '#<n>', got {}", pl.col("id")))
        .otherwise(pl.lit(None, dtype=pl.String))
    )
    df = _add_reasons(df, id_reason, _int_check("timestamp"), symbol_reason)
    dec0 = [decimals.get(s) if s is not None else None for s in df["__token0"].to_list()]
    dec1 = [decimals.get(s) if s is not None else None for s in df["__token1"].to_list()]

    if fmt == "v2":
        parsed = {
            out: _scaled_column(df, src, dec, signed=False, max_abs=UINT112_MAX, name=out)
            for out, src, dec in (
                ("amount0_in", "amount0In", dec0),
                ("amount0_out", "amount0Out", dec0),
                ("amount1_in", "amount1In", dec1),
                ("amount1_out", "amount1Out", dec1),
            )
        }
        df = _add_reasons(df, *(reason for _, reason in parsed.values()))
        df = df.with_columns(*(values for values, _ in parsed.values()))
        df = df.with_columns(
            (pl.col("amount0_in") - pl.col("amount0_out")).alias("amount0"),
            (pl.col("amount1_in") - pl.col("amount1_out")).alias("amount1"),
        )
    else:
        a0, a0_reason = _scaled_column(
            df, "amount0", dec0, signed=True, max_abs=_INT128_MAX, name="amount0"
        )
        a1, a1_reason = _scaled_column(
            df, "amount1", dec1, signed=True, max_abs=_INT128_MAX, name="amount1"
        )
        df = _add_reasons(df, a0_reason, a1_reason).with_columns(a0, a1)
        zero = pl.lit(0, dtype=pl.Int128)
        same_sign = ((pl.col("amount0") > 0) & (pl.col("amount1") > 0)) | (
            (pl.col("amount0") < 0) & (pl.col("amount1") < 0)
        )
        df = _add_reasons(
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
    df = _flag_duplicates(df, "id", "id")
    columns: list[pl.Expr | str] = [
        pl.lit(None, dtype=pl.Int64).alias("block"),
        _int_value("timestamp").alias("timestamp"),
        pl.col("__tx").alias("tx_hash"),
        pl.lit(None, dtype=pl.Int64).alias("log_index"),
        pl.format(f"{venue_name}:{{}}/{{}}", pl.col("__token0"), pl.col("__token1")).alias("pool"),
        pl.lit(venue_name).alias("venue"),
        pl.col("__token0").alias("token0"),
        pl.col("__token1").alias("token1"),
        *(pl.col(c).cast(pl.Int128) for c in list(SWAPS_SCHEMA)[8:]),
        pl.col("__n").alias("subgraph_index"),
    ]
    return _finish(p, df, columns, errors, sort_by=["timestamp", "tx_hash", "subgraph_index"])


# ----------------------------------------------------------------------------- blocks

_BLOCK_ALIASES: Mapping[str, tuple[str, ...]] = {
    "block": ("number", "block", "block_number", "blockNumber"),
    "timestamp": ("timestamp",),
    "base_fee_wei": ("base_fee_per_gas", "base_fee_wei", "baseFeePerGas"),
    "base_fee_gwei": ("base_fee_gwei",),
    "gas_used": ("gas_used", "gasUsed"),
    "gas_limit": ("gas_limit", "gasLimit"),
    "gas_target": ("gas_target",),
    "transaction_count": ("transaction_count",),
    "avg_priority_fee_wei": ("avg_priority_fee",),
    "max_priority_fee_wei": ("max_priority_fee",),
    "min_priority_fee_wei": ("min_priority_fee",),
}
_BLOCK_INT_KEYS = frozenset(
    alias
    for target, aliases in _BLOCK_ALIASES.items()
    if target != "base_fee_gwei"
    for alias in aliases
)
_BLOCK_INT_EXTRAS = (
    "gas_target",
    "transaction_count",
    "avg_priority_fee_wei",
    "max_priority_fee_wei",
    "min_priority_fee_wei",
)


def _json_records(path: Path, raw: bytes) -> tuple[list[int], list[Any]]:
    # Parse a JSON array, keeping the 1-based line on which each element starts.
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc})") from exc
    decoder = json.JSONDecoder()
    ws = re.compile(r"\s*")

    def skip(i: int) -> int:
        match = ws.match(text, i)
        assert match is not None
        return match.end()

    def line_of(i: int) -> int:
        return text.count("\n", 0, i) + 1

    i = skip(0)
    if i >= len(text) or text[i] != "[":
        raise DataError(f"{path}:{line_of(i)}: expected a JSON array of block objects")
    i = skip(i + 1)
    lines: list[int] = []
    records: list[Any] = []
    line, counted = 1, 0
    if i < len(text) and text[i] == "]":
        raise DataError(f"{path}: no data rows")
    while True:
        try:
            obj, end = decoder.raw_decode(text, i)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg})") from exc
        line += text.count("\n", counted, i)
        counted = i
        lines.append(line)
        records.append(obj)
        i = skip(end)
        if i < len(text) and text[i] == ",":
            i = skip(i + 1)
            continue
        if i < len(text) and text[i] == "]":
            break
        raise DataError(f"{path}:{line_of(i)}: invalid JSON (expected ',' or ']')")
    if skip(i + 1) != len(text):
        raise DataError(f"{path}:{line_of(skip(i + 1))}: invalid JSON (data after the array)")
    return lines, records


def _json_field_text(value: Any, *, integer: bool) -> str | None:
    # Render a JSON value as the CSV text the same checks understand (hex ints as decimal).
    if value is None:
        return None
    if isinstance(value, bool):
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if integer and isinstance(value, str) and value.lower().startswith("0x"):
        try:
            return str(int(value, 16))
        except ValueError:
            return value
    return value if isinstance(value, str) else repr(value)


def _blocks_frame_from_json(path: Path, raw: bytes) -> pl.DataFrame:
    lines, records = _json_records(path, raw)
    keys: dict[str, None] = {}
    for record in records:
        if isinstance(record, dict):
            keys.update(dict.fromkeys(record))
    columns: dict[str, list[str | None]] = {k: [] for k in keys}
    reasons: list[str | None] = []
    for record in records:
        if not isinstance(record, dict):
            reasons.append(f"expected a JSON object, got {type(record).__name__}")
            for k in keys:
                columns[k].append(None)
            continue
        reasons.append(None)
        for k in keys:
            columns[k].append(_json_field_text(record.get(k), integer=k in _BLOCK_INT_KEYS))
    return pl.DataFrame(
        {
            **{k: pl.Series(k, v, dtype=pl.String) for k, v in columns.items()},
            _LINE: pl.Series(_LINE, lines, dtype=pl.Int64),
            _REASON: pl.Series(_REASON, reasons, dtype=pl.String),
        }
    )


@overload
def load_block_headers(
    path: str | os.PathLike[str], *, errors: Literal["raise"] = "raise"
) -> pl.DataFrame: ...
@overload
def load_block_headers(
    path: str | os.PathLike[str], *, errors: Literal["report"]
) -> tuple[pl.DataFrame, LoadReport]: ...
def load_block_headers(
    path: str | os.PathLike[str], *, errors: Errors = "raise"
) -> pl.DataFrame | tuple[pl.DataFrame, LoadReport]:
    """Load per-block header data (CSV or a JSON array of objects) as a blocks table.

    Columns are recognised by name: ``number`` (or ``block``), ``timestamp``,
    the base fee as ``base_fee_per_gas`` (wei) or ``base_fee_gwei`` (a decimal
    gwei string, converted exactly to wei), and optionally ``gas_used``,
    ``gas_limit``, ``gas_target``, ``transaction_count``,
    ``avg/max/min_priority_fee`` (wei). JSON values may be ints or ``0x`` hex.

    Parameters
    ----------
    path
        A ``.json`` file (array of block objects) or a CSV file.
    errors
        ``"raise"`` or ``"report"``; see the module docstring. JSON problems are
        reported at the line where the block's object starts.

    Returns
    -------
    pl.DataFrame or (pl.DataFrame, LoadReport)
        blocks rows sorted by block: ``block, timestamp, base_fee_wei, gas_used,
        gas_limit`` (null ``Int64`` columns when the file lacks them), then
        whichever of ``gas_target, transaction_count, avg_priority_fee_wei,
        max_priority_fee_wei, min_priority_fee_wei, miner`` the file has.
        Derived float columns (``eth_burned``, ``block_fullness``) are dropped:
        recompute them exactly from the integers. A gwei file carries only the
        precision it was written with (6 decimals = 1000 wei).

    Raises
    ------
    DataError
        If the file is missing, empty, not valid JSON, lacks the block, time or
        base-fee column, or (with ``errors="raise"``) a row is malformed.
    """
    _check_errors(errors)
    p = Path(path)
    raw = _read_bytes(p)
    is_json = p.suffix.lower() == ".json"
    df = _blocks_frame_from_json(p, raw) if is_json else _read_csv(p, raw)
    source: dict[str, str] = {}
    for target, aliases in _BLOCK_ALIASES.items():
        for alias in aliases:
            if alias in df.columns:
                source[target] = alias
                break
    for target in ("block", "timestamp"):
        if target not in source:
            _require_columns(p, df, [_BLOCK_ALIASES[target][0]])
    if "base_fee_wei" not in source and "base_fee_gwei" not in source:
        raise DataError(f"{p}: missing column 'base_fee_per_gas' (or 'base_fee_gwei')")

    checks = [
        _int_check(source[c])
        for c in ("block", "timestamp", "base_fee_wei", "gas_used", "gas_limit", *_BLOCK_INT_EXTRAS)
        if c in source
    ]
    df = _add_reasons(df, *checks)
    if "base_fee_wei" in source:
        base_fee = _int_value(source["base_fee_wei"])
    else:
        values, reason = _scaled_column(
            df, source["base_fee_gwei"], 9, signed=False, max_abs=_INT64_MAX, name="__base_fee"
        )
        df = _add_reasons(df, reason).with_columns(values)
        base_fee = pl.col("__base_fee").cast(pl.Int64)
    df = df.with_columns(_int_value(source["block"]).alias("__block"))
    df = _flag_duplicates(df, "__block", "block")
    if "gas_used" in source and "gas_limit" in source:
        df = _add_reasons(
            df,
            pl.when(_int_value(source["gas_used"]) > _int_value(source["gas_limit"]))
            .then(pl.lit("gas_used above gas_limit"))
            .otherwise(pl.lit(None, dtype=pl.String)),
        )

    def optional(target: str) -> pl.Expr:
        if target in source:
            return _int_value(source[target]).alias(target)
        return pl.lit(None, dtype=pl.Int64).alias(target)

    columns: list[pl.Expr | str] = [
        pl.col("__block").alias("block"),
        _int_value(source["timestamp"]).alias("timestamp"),
        base_fee.alias("base_fee_wei"),
        optional("gas_used"),
        optional("gas_limit"),
        *(optional(c) for c in _BLOCK_INT_EXTRAS if c in source),
    ]
    if "miner" in df.columns:
        columns.append(pl.col("miner"))
    return _finish(p, df, columns, errors, sort_by=["block"])


# ----------------------------------------------------------------------------- logs


def _log_bytes(value: Any, what: str, where: str) -> bytes:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, str):
        text = value[2:] if value[:2].lower() == "0x" else value
        try:
            return bytes.fromhex(text)
        except ValueError:
            pass
    raise DataError(f"{where}: {what} is not hex or bytes: {value!r}")


def _log_int(value: Any, what: str, where: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            return int(value, 16) if value[:2].lower() == "0x" else int(value)
        except ValueError:
            pass
    raise DataError(f"{where}: {what} is not an integer: {value!r}")


def _log_where(log: Mapping[str, Any]) -> tuple[str, int | None, str]:
    raw_tx = log.get("transactionHash")
    try:
        tx = "0x" + _log_bytes(raw_tx, "transactionHash", "log").hex()
    except DataError:
        tx = repr(raw_tx)
    try:
        index: int | None = _log_int(log.get("logIndex"), "logIndex", "log")
    except DataError:
        index = None
    shown = index if index is not None else repr(log.get("logIndex"))
    return tx, index, f"log (tx {tx}, log index {shown})"


def _topic_address(topic: bytes, name: str, where: str) -> str:
    if len(topic) != 32 or any(topic[:12]):
        raise DataError(f"{where}: indexed {name} is not an ABI-encoded address: 0x{topic.hex()}")
    return "0x" + topic[12:].hex()


_POOL_STATE_COLUMNS: Mapping[str, pl.DataType] = {
    **POOL_STATES_SCHEMA,
    "timestamp": pl.Int64(),
    "tx_hash": pl.String(),
    "log_index": pl.Int64(),
}
_LOG_SWAP_COLUMNS: Mapping[str, pl.DataType] = {
    **SWAPS_SCHEMA,
    "sender": pl.String(),
    "recipient": pl.String(),
}


def decode_v2_logs(
    logs: Iterable[Mapping[str, Any]], *, pool_meta: Mapping[str, PoolMeta]
) -> DecodedLogs:
    """Decode Uniswap V2 pair ``Sync`` and ``Swap`` logs into pool_states and swaps.

    Logs are ``eth_getLogs`` objects as a node or web3 returns them: ``address``,
    ``topics`` (hex strings or bytes), ``data`` (hex or bytes), ``blockNumber``,
    ``transactionHash``, ``logIndex`` (ints or hex strings), optional
    ``blockTimestamp`` and ``removed``.

    Parameters
    ----------
    logs
        The logs, in any order.
    pool_meta
        Venue, tokens and fee of each pool, keyed by pool address (any case).
        A log from an address not listed here is refused.

    Returns
    -------
    DecodedLogs
        ``pool_states`` (one row per ``Sync``: the pool_states columns plus
        ``timestamp``, ``tx_hash``, ``log_index``) and ``swaps`` (one row per
        ``Swap``: :data:`SWAPS_SCHEMA` plus ``sender``, ``recipient``), both sorted by
        ``(block, log_index)``; pool addresses in lower case. Other events and
        removed logs are counted in ``ignored``.

    Raises
    ------
    DataError
        Naming the log's transaction hash and log index, if a log comes from an
        unconfigured address, has a wrong number of topics, data of the wrong
        length, a reserve above ``uint112``, a swap amount above ``uint112`` or a
        malformed field.
    """
    from eth_abi.abi import decode

    meta_by_address = {address.lower(): meta for address, meta in pool_meta.items()}
    states: list[dict[str, Any]] = []
    swaps: list[dict[str, Any]] = []
    ignored = 0
    for log in logs:
        tx, log_index, where = _log_where(log)
        if log_index is None:
            raise DataError(f"{where}: logIndex is not an integer")
        if log.get("removed"):
            ignored += 1
            continue
        address_raw = log.get("address")
        address = (
            "0x" + _log_bytes(address_raw, "address", where).hex()
            if isinstance(address_raw, bytes | bytearray)
            else str(address_raw).lower()
        )
        meta = meta_by_address.get(address)
        if meta is None:
            raise DataError(f"{where}: address {address_raw!r} is not a configured pool")
        topics_raw = log.get("topics")
        if not isinstance(topics_raw, Sequence) or isinstance(topics_raw, str | bytes):
            raise DataError(f"{where}: topics is not a list: {topics_raw!r}")
        topics = [_log_bytes(t, "topic", where) for t in topics_raw]
        if not topics:
            ignored += 1  # anonymous events: neither Sync nor Swap
            continue
        topic0 = "0x" + topics[0].hex()
        if topic0 not in (SYNC_TOPIC0, SWAP_TOPIC0):
            ignored += 1
            continue
        data = _log_bytes(log.get("data"), "data", where)
        block = _log_int(log.get("blockNumber"), "blockNumber", where)
        timestamp = (
            _log_int(log["blockTimestamp"], "blockTimestamp", where)
            if log.get("blockTimestamp") is not None
            else None
        )
        common = {
            "block": block,
            "timestamp": timestamp,
            "tx_hash": tx,
            "log_index": log_index,
            "pool": address,
            "venue": meta.venue,
            "token0": meta.token0,
            "token1": meta.token1,
        }
        if topic0 == SYNC_TOPIC0:
            if len(topics) != 1:
                raise DataError(f"{where}: Sync has 1 topic, this log has {len(topics)}")
            if len(data) != 64:
                raise DataError(f"{where}: Sync data must be 64 bytes, got {len(data)}")
            words = [int.from_bytes(data[i : i + 32], "big") for i in (0, 32)]
            for name, word in zip(("reserve0", "reserve1"), words, strict=True):
                if word > UINT112_MAX:
                    raise DataError(f"{where}: {name} {word} is above uint112 max {UINT112_MAX}")
            reserve0, reserve1 = decode(["uint112", "uint112"], data, strict=True)
            states.append(
                {**common, "reserve0": reserve0, "reserve1": reserve1, "fee_bps": meta.fee_bps}
            )
        else:
            if len(topics) != 3:
                raise DataError(
                    f"{where}: Swap has 3 topics (sender, to indexed), this log has {len(topics)}"
                )
            if len(data) != 128:
                raise DataError(f"{where}: Swap data must be 128 bytes, got {len(data)}")
            amounts = decode(["uint256"] * 4, data, strict=True)
            names = ("amount0_in", "amount1_in", "amount0_out", "amount1_out")
            for name, amount in zip(names, amounts, strict=True):
                if amount > UINT112_MAX:
                    raise DataError(
                        f"{where}: {name} {amount} is above uint112 max (pair balances are uint112)"
                    )
            row = dict(zip(names, amounts, strict=True))
            swaps.append(
                {
                    **common,
                    "amount0": row["amount0_in"] - row["amount0_out"],
                    "amount1": row["amount1_in"] - row["amount1_out"],
                    **row,
                    "sender": _topic_address(topics[1], "sender", where),
                    "recipient": _topic_address(topics[2], "to", where),
                }
            )
    pool_states = pl.DataFrame(states, schema=dict(_POOL_STATE_COLUMNS))
    swaps_df = pl.DataFrame(swaps, schema=dict(_LOG_SWAP_COLUMNS))
    return DecodedLogs(
        pool_states=pool_states.sort("block", "log_index"),
        swaps=swaps_df.sort("block", "log_index"),
        ignored=ignored,
    )


_LIMIT_ERROR = re.compile(
    r"more than|too many|limit|exceed|range|too large|response size|timeout", re.IGNORECASE
)


def _get_logs(w3: Web3, address: ChecksumAddress, start: int, end: int) -> list[Mapping[str, Any]]:
    # Fetch one block range, halving it while the node says the answer is too large.
    from eth_typing import HexStr
    from web3.exceptions import Web3RPCError

    params: FilterParams = {
        "address": address,
        "fromBlock": start,
        "toBlock": end,
        "topics": [[HexStr(SYNC_TOPIC0), HexStr(SWAP_TOPIC0)]],
    }
    try:
        return [dict(log) for log in w3.eth.get_logs(params)]
    except Web3RPCError as exc:
        if start == end or not _LIMIT_ERROR.search(str(exc)):
            raise
        middle = (start + end) // 2
        return _get_logs(w3, address, start, middle) + _get_logs(w3, address, middle + 1, end)


def _call_address(w3: Web3, pool: ChecksumAddress, selector: str) -> str:
    from eth_abi.abi import decode
    from eth_abi.exceptions import DecodingError
    from eth_typing import HexStr

    result = w3.eth.call({"to": pool, "data": HexStr(selector)})
    try:
        (address,) = decode(["address"], bytes(result))
    except DecodingError as exc:
        raise DataError(
            f"{pool}: answer to call {selector} is not an address ({len(bytes(result))} bytes); "
            "is this a Uniswap V2 pair? Pass the pool's tokens explicitly"
        ) from exc
    return str(address).lower()


def fetch_v2_logs(
    w3: Web3,
    pool: str,
    from_block: int,
    to_block: int,
    *,
    chunk_size: int = 2_000,
    meta: PoolMeta | None = None,
) -> DecodedLogs:
    """Fetch and decode a Uniswap V2 pair's ``Sync`` and ``Swap`` logs over a block range.

    Calls ``w3.eth.get_logs`` with the pool's address and both topic0 values,
    ``chunk_size`` blocks at a time; a chunk the node refuses as too large
    (result-count or range limits) is split in halves and retried.

    Parameters
    ----------
    w3
        A connected :class:`web3.Web3`.
    pool
        The pair's address.
    from_block, to_block
        First and last block, both included.
    chunk_size
        Blocks per ``eth_getLogs`` request.
    meta
        Venue, tokens and fee of the pool. When omitted the venue is
        ``"uniswap_v2"``, the fee 30 bps, and the token addresses are read from
        the pair's ``token0()`` and ``token1()``.

    Returns
    -------
    DecodedLogs
        As :func:`decode_v2_logs`.

    Raises
    ------
    ValueError
        If the block range or ``chunk_size`` is invalid.
    DataError
        If a log is malformed (see :func:`decode_v2_logs`).
    web3.exceptions.Web3RPCError
        If the node refuses a request that cannot be split further.
    """
    from web3 import Web3 as _Web3

    if from_block < 0 or to_block < from_block:
        raise ValueError(f"invalid block range [{from_block}, {to_block}]")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    address = _Web3.to_checksum_address(pool)
    if meta is None:
        meta = PoolMeta(
            token0=_call_address(w3, address, _TOKEN0_SELECTOR),
            token1=_call_address(w3, address, _TOKEN1_SELECTOR),
        )
    logs: list[Mapping[str, Any]] = []
    for start in range(from_block, to_block + 1, chunk_size):
        logs.extend(_get_logs(w3, address, start, min(start + chunk_size - 1, to_block)))
    return decode_v2_logs(logs, pool_meta={address: meta})
