"""Per-block header dumps (CSV, or a JSON array of block objects) as a blocks table.

Base fees and gas are exact integers (wei, gas units); a base fee written in
gwei is converted exactly to wei. The ``errors`` argument is described in
:mod:`arbkit.market.data`; in a JSON file a malformed block is reported at the
line where its object starts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

import polars as pl

from arbkit.errors import DataError
from arbkit.market.data._rows import (
    INT64_MAX,
    LINE,
    REASON,
    Errors,
    LoadReport,
    add_reasons,
    check_errors,
    finish,
    flag_duplicates,
    int_check,
    int_value,
    read_bytes,
    read_csv,
    require_columns,
    scaled_column,
)

if TYPE_CHECKING:
    import os

__all__ = ["load_block_headers"]

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
            LINE: pl.Series(LINE, lines, dtype=pl.Int64),
            REASON: pl.Series(REASON, reasons, dtype=pl.String),
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
    check_errors(errors)
    p = Path(path)
    raw = read_bytes(p)
    is_json = p.suffix.lower() == ".json"
    df = _blocks_frame_from_json(p, raw) if is_json else read_csv(p, raw)
    source: dict[str, str] = {}
    for target, aliases in _BLOCK_ALIASES.items():
        for alias in aliases:
            if alias in df.columns:
                source[target] = alias
                break
    for target in ("block", "timestamp"):
        if target not in source:
            require_columns(p, df, [_BLOCK_ALIASES[target][0]])
    if "base_fee_wei" not in source and "base_fee_gwei" not in source:
        raise DataError(f"{p}: missing column 'base_fee_per_gas' (or 'base_fee_gwei')")

    checks = [
        int_check(source[c])
        for c in ("block", "timestamp", "base_fee_wei", "gas_used", "gas_limit", *_BLOCK_INT_EXTRAS)
        if c in source
    ]
    df = add_reasons(df, *checks)
    if "base_fee_wei" in source:
        base_fee = int_value(source["base_fee_wei"])
    else:
        values, reason = scaled_column(
            df, source["base_fee_gwei"], 9, signed=False, max_abs=INT64_MAX, name="__base_fee"
        )
        df = add_reasons(df, reason).with_columns(values)
        base_fee = pl.col("__base_fee").cast(pl.Int64)
    df = df.with_columns(int_value(source["block"]).alias("__block"))
    df = flag_duplicates(df, "__block", "block")
    if "gas_used" in source and "gas_limit" in source:
        df = add_reasons(
            df,
            pl.when(int_value(source["gas_used"]) > int_value(source["gas_limit"]))
            .then(pl.lit("gas_used above gas_limit"))
            .otherwise(pl.lit(None, dtype=pl.String)),
        )

    def optional(target: str) -> pl.Expr:
        if target in source:
            return int_value(source[target]).alias(target)
        return pl.lit(None, dtype=pl.Int64).alias(target)

    columns: list[pl.Expr | str] = [
        pl.col("__block").alias("block"),
        int_value(source["timestamp"]).alias("timestamp"),
        base_fee.alias("base_fee_wei"),
        optional("gas_used"),
        optional("gas_limit"),
        *(optional(c) for c in _BLOCK_INT_EXTRAS if c in source),
    ]
    if "miner" in df.columns:
        columns.append(pl.col("miner"))
    return finish(p, df, columns, errors, sort_by=["block"])
