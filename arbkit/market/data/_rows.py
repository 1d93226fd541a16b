"""Row-level parsing shared by the file loaders of :mod:`arbkit.market.data`.

Private to the package. :func:`read_csv` turns a file into string columns plus,
per row, its 1-based file line (column :data:`LINE`) and its first problem
(column :data:`REASON`, null while the row is good). Loaders add problems with
the ``*_check`` expressions and :func:`add_reasons` (earlier checks win), convert
with the ``*_value`` expressions and :func:`scaled_column` (exact decimal
strings to base units), then :func:`finish` raises on, or reports, the malformed
rows and returns the good ones.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Literal

import polars as pl

from arbkit.errors import DataError
from arbkit.market.amm import MAX_UINT112

Errors = Literal["raise", "report"]

UINT112_MAX = MAX_UINT112  # the pair contract's reserve bound, from the AMM math
"""Largest Uniswap V2 reserve (``uint112``)."""

INT128_MAX = 2**127 - 1
INT64_MAX = 2**63 - 1

LINE = "__line"
REASON = "__reason"
_DECIMAL_RE = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


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


def check_errors(errors: str) -> None:
    if errors not in ("raise", "report"):
        raise ValueError(f"errors must be 'raise' or 'report', got {errors!r}")


def check_decimals(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 77:
        raise ValueError(f"{name} must be an int in [0, 77], got {value!r}")


def read_bytes(path: Path) -> bytes:
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    raw = path.read_bytes()
    if not raw.strip():
        raise DataError(f"{path}: empty file")
    return raw


def physical_lines(raw: bytes) -> list[bytes]:
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


def read_csv(
    path: Path,
    raw: bytes,
    *,
    skip_lines: int = 0,
    has_header: bool = True,
    names: Sequence[str] | None = None,
) -> pl.DataFrame:
    # Parse a CSV into string columns plus the file line of each row and a null reason.
    lines = physical_lines(raw)
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
        lines_col.cast(pl.Int64).alias(LINE),
        pl.Series(REASON, reasons, dtype=pl.String),
    ).filter(~pl.Series(blank, dtype=pl.Boolean))
    if df.height == 0:
        raise DataError(f"{path}: no data rows")
    return df


def require_columns(path: Path, df: pl.DataFrame, columns: Iterable[str]) -> None:
    present = [c for c in df.columns if c not in (LINE, REASON)]
    for column in columns:
        if column not in df.columns:
            raise DataError(f"{path}: missing column {column!r} (columns: {', '.join(present)})")


def is_missing(src: str) -> pl.Expr:
    return pl.col(src).is_null() | (pl.col(src).str.strip_chars() == "")


def float_check(src: str, *, positive: bool = False, non_negative: bool = False) -> pl.Expr:
    value = pl.col(src).str.strip_chars().cast(pl.Float64, strict=False)
    expr = (
        pl.when(is_missing(src))
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


def float_value(src: str) -> pl.Expr:
    return pl.col(src).str.strip_chars().cast(pl.Float64, strict=False)


def int_check(src: str) -> pl.Expr:
    text = pl.col(src).str.strip_chars()
    return (
        pl.when(is_missing(src))
        .then(pl.lit(f"missing value in column {src!r}"))
        .when(~text.str.contains(r"^\d+$"))
        .then(pl.format(f"column {src!r}: not a non-negative integer: {{}}", pl.col(src)))
        .when(text.cast(pl.Int64, strict=False).is_null())
        .then(pl.format(f"column {src!r}: out of range: {{}}", pl.col(src)))
        .otherwise(pl.lit(None, dtype=pl.String))
    )


def int_value(src: str) -> pl.Expr:
    return pl.col(src).str.strip_chars().cast(pl.Int64, strict=False)


def datetime_check(src: str, fmt: str) -> pl.Expr:
    return (
        pl.when(is_missing(src))
        .then(pl.lit(f"missing value in column {src!r}"))
        .when(datetime_value(src, fmt).is_null())
        .then(pl.format(f"column {src!r}: not a date-time like {fmt!r}: {{}}", pl.col(src)))
        .otherwise(pl.lit(None, dtype=pl.String))
    )


def datetime_value(src: str, fmt: str) -> pl.Expr:
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


def scaled_column(
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


def add_reasons(df: pl.DataFrame, *reasons: pl.Expr | pl.Series) -> pl.DataFrame:
    # Keep the first problem of each row: earlier checks win.
    exprs = [pl.col(REASON)] + [pl.lit(r) if isinstance(r, pl.Series) else r for r in reasons]
    return df.with_columns(pl.coalesce(exprs).alias(REASON))


def flag_duplicates(df: pl.DataFrame, key: str, what: str) -> pl.DataFrame:
    valid = pl.col(REASON).is_null()
    first_line = pl.when(valid).then(pl.col(LINE)).min().over(key)
    duplicate = valid & (pl.col(LINE) != first_line)
    reason = pl.when(duplicate).then(
        pl.format(f"duplicate {what} {{}} (first on line {{}})", pl.col(key), first_line)
    )
    return add_reasons(df, reason.otherwise(pl.lit(None, dtype=pl.String)))


def finish(
    path: Path,
    df: pl.DataFrame,
    columns: Sequence[pl.Expr | str],
    errors: Errors,
    *,
    sort_by: Sequence[str],
) -> pl.DataFrame | tuple[pl.DataFrame, LoadReport]:
    bad = df.filter(pl.col(REASON).is_not_null()).sort(LINE)
    problems = list(zip(bad[LINE].to_list(), bad[REASON].to_list(), strict=True))
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
        df.filter(pl.col(REASON).is_null()).select(columns).sort(list(sort_by), maintain_order=True)
    )
    if errors == "report":
        return good, LoadReport(path=path, rows_read=df.height, problems=problems)
    return good
