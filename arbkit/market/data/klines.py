"""Exchange OHLCV bars (CryptoDataDownload, Binance, Kraken CSVs), and synthetic CEX quotes.

Each loader returns bars with the columns of :data:`KLINES_SCHEMA`, oldest first,
``timestamp`` the bar's open time in UTC seconds; prices and volumes are floats.
:func:`klines_to_cex_quotes` turns bars into a ``cex_quotes`` table stamped at
each bar's close, so that as-of joins never look ahead. The ``errors`` argument
is described in :mod:`arbkit.market.data`.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Literal, overload

import polars as pl

from arbkit.errors import DataError
from arbkit.market.data._rows import (
    LINE,
    REASON,
    Errors,
    LoadReport,
    add_reasons,
    check_errors,
    datetime_check,
    datetime_value,
    finish,
    flag_duplicates,
    float_check,
    float_value,
    int_check,
    int_value,
    is_missing,
    physical_lines,
    read_bytes,
    read_csv,
    require_columns,
)

if TYPE_CHECKING:
    import os

__all__ = [
    "KLINES_SCHEMA",
    "klines_to_cex_quotes",
    "load_binance_1m",
    "load_cryptodatadownload_klines",
    "load_kraken_1m",
]

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
    checks += [float_check(names[c], positive=True) for c in ("open", "high", "low", "close")]
    checks += [
        float_check(names[c], non_negative=True) for c in ("volume", "volume_quote") if c in names
    ]
    if "trade_count" in names:
        checks.append(int_check(names["trade_count"]))
    df = add_reasons(df, *checks)
    o, h, lo, c = (float_value(names[k]) for k in ("open", "high", "low", "close"))
    inconsistent = pl.when((h < pl.max_horizontal(o, c, lo)) | (lo > pl.min_horizontal(o, c, h)))
    df = add_reasons(
        df,
        inconsistent.then(
            pl.lit("inconsistent bar: high below open/close/low or low above them")
        ).otherwise(pl.lit(None, dtype=pl.String)),
    )
    df = df.with_columns(time_value.alias("timestamp"))
    df = flag_duplicates(df, "timestamp", "timestamp")
    if interval_s is None:
        interval_s = _infer_interval(path, df)
    columns = [
        pl.col("timestamp"),
        pl.lit(interval_s, dtype=pl.Int64).alias("interval_s"),
        *(float_value(names[k]).alias(k) for k in ("open", "high", "low", "close", "volume")),
        (
            float_value(names["volume_quote"])
            if "volume_quote" in names
            else pl.lit(None, dtype=pl.Float64)
        ).alias("volume_quote"),
        (
            int_value(names["trade_count"])
            if "trade_count" in names
            else pl.lit(None, dtype=pl.Int64)
        ).alias("trade_count"),
    ]
    return finish(path, df, columns, errors, sort_by=["timestamp"])


def _infer_interval(path: Path, df: pl.DataFrame) -> int:
    times = df.filter(pl.col(REASON).is_null())["timestamp"].sort()
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
    check_errors(errors)
    p = Path(path)
    raw = read_bytes(p)
    first = physical_lines(raw)[0].decode("utf-8", errors="replace")
    if "close" in (f.strip().lower() for f in next(csv.reader([first]))):
        raise DataError(
            f"{p}:1: banner line missing: CryptoDataDownload files start with the site's URL "
            "line before the header"
        )
    df = read_csv(p, raw, skip_lines=1)
    lower = {c.strip().lower(): c for c in df.columns if c not in (LINE, REASON)}
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
            pl.when(is_missing(unix))
            .then(pl.lit(f"missing value in column {unix!r}"))
            .when(raw_time.is_null() | (raw_time < 0))
            .then(pl.format(f"column {unix!r}: not a Unix time: {{}}", pl.col(unix)))
            .when(is_ms & (raw_time % 1000 != 0))
            .then(pl.format(f"column {unix!r}: not a whole second: {{}}", pl.col(unix)))
            .otherwise(pl.lit(None, dtype=pl.String))
        )
    elif "date" in lower:
        fmt = "%Y-%m-%d %H:%M:%S"
        time_value = datetime_value(lower["date"], fmt)
        time_check = datetime_check(lower["date"], fmt)
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
    check_errors(errors)
    p = Path(path)
    df = read_csv(p, read_bytes(p))
    require_columns(p, df, ["open_time", "open", "high", "low", "close", "volume"])
    fmt = "%Y-%m-%d %H:%M:%S%:z"
    return _bars_table(
        p,
        df,
        time_check=datetime_check("open_time", fmt),
        time_value=datetime_value("open_time", fmt),
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
    check_errors(errors)
    p = Path(path)
    raw = read_bytes(p)
    first = next(line for line in physical_lines(raw) if line.strip())
    n_fields = len(next(csv.reader([first.decode("utf-8", errors="replace")])))
    base = ["time", "open", "high", "low", "close", "volume"]
    if n_fields not in (6, 7):
        raise DataError(
            f"{p}: expected 6 or 7 columns (time, open, high, low, close, volume[, count]), "
            f"found {n_fields}"
        )
    names = base + (["trade_count"] if n_fields == 7 else [])
    df = read_csv(p, raw, has_header=False, names=names)
    text = pl.col("time").str.strip_chars()
    time_check = (
        pl.when(is_missing("time"))
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
