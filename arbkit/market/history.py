"""The market-history object shared by the scanner, execution model, features, env and backtest.

A :class:`MarketHistory` holds the DESIGN.md tables for a run of consecutive blocks:

``blocks``
    One row per block (``block``, ``timestamp``, ``base_fee_wei``, ``gas_used``,
    ``gas_limit``); simulated histories add ``competitor_tip_wei`` (the priority fee per
    gas the competing arbitrageurs bid at that block) and ``regime``.
``pool_states``
    One row per (block, pool), dense: every pool has a state at every block. The state
    at block ``t`` is the pool after all transactions of block ``t``.
``cex_quotes``
    The ``cex_quotes`` contract plus a ``block`` column (the quote seen at that block).
``aqua_events``
    The ``aqua_events`` contract.
``swaps``
    Optional: the swaps that made the pool states, in order (``block``, ``seq``,
    ``pool``, ``kind`` noise or rival, ``sells_token0``, exact ``amount_in`` and
    ``amount_out``). The simulator records them; a history built from state snapshots
    has none. The live chain layer replays them one by one as real transactions.

Histories are immutable; :meth:`MarketHistory.head` and slicing give the history up to a
block, which is how look-ahead tests cut it. :meth:`MarketHistory.save` writes parquet
files and a manifest of content hashes; :meth:`MarketHistory.load` refuses files whose
hash does not match.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from arbkit.errors import DataError
from arbkit.io import sha256_file
from arbkit.market.tables import (
    AQUA_EVENTS_SCHEMA,
    BLOCKS_SCHEMA,
    CEX_QUOTES_SCHEMA,
    POOL_STATES_SCHEMA,
    SWAPS_SCHEMA,
    read_table,
    validate_table,
    write_table,
)

__all__ = ["MANIFEST_NAME", "MarketHistory", "PoolInfo", "empty_swaps"]

MANIFEST_NAME = "manifest.json"
_TABLES = ("blocks", "pool_states", "cex_quotes", "aqua_events")
_OPTIONAL_TABLES = ("swaps",)


def empty_swaps() -> pl.DataFrame:
    """Return an empty ``swaps`` table."""
    return pl.DataFrame(schema=dict(SWAPS_SCHEMA))


IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
ObjArray = npt.NDArray[np.object_]


@dataclass(frozen=True)
class PoolInfo:
    """Static description of one pool: id, venue, tokens and fee."""

    pool: str
    venue: str
    token0: str
    token1: str
    fee_bps: int


@dataclass(frozen=True, eq=False)
class MarketHistory:
    """Consecutive blocks of market data in the DESIGN.md tables.

    Parameters
    ----------
    blocks, pool_states, cex_quotes, aqua_events
        The tables (see the module docstring). ``cex_quotes`` needs a ``block`` column.
    meta
        Free-form JSON-serialisable description (source, seed, params, block time).
    swaps
        The swaps behind the pool states, when known (see the module docstring).

    Raises
    ------
    DataError
        If a table breaks its contract, blocks are not consecutive and increasing, or a
        pool is missing at some block.
    """

    blocks: pl.DataFrame
    pool_states: pl.DataFrame
    cex_quotes: pl.DataFrame
    aqua_events: pl.DataFrame
    meta: Mapping[str, Any] = field(default_factory=dict)
    swaps: pl.DataFrame = field(default_factory=empty_swaps)

    def __post_init__(self) -> None:
        validate_table(self.blocks, BLOCKS_SCHEMA, name="blocks")
        validate_table(self.pool_states, POOL_STATES_SCHEMA, name="pool_states")
        validate_table(self.cex_quotes, CEX_QUOTES_SCHEMA, name="cex_quotes")
        validate_table(self.aqua_events, AQUA_EVENTS_SCHEMA, name="aqua_events")
        validate_table(self.swaps, SWAPS_SCHEMA, name="swaps")
        if self.swaps.height and self.blocks.height:
            first, last = self.blocks["block"].min(), self.blocks["block"].max()
            outside = self.swaps.filter(~pl.col("block").is_between(first, last))
            unknown = set(self.swaps["pool"].unique().to_list()) - set(
                self.pool_states["pool"].unique().to_list()
            )
            if outside.height or unknown:
                raise DataError(
                    "swaps: "
                    + (
                        f"block {outside['block'][0]} is outside the history"
                        if outside.height
                        else f"pool(s) {sorted(unknown)} not in pool_states"
                    )
                )
        if "block" not in self.cex_quotes.columns:
            raise DataError("cex_quotes: a MarketHistory needs a 'block' column on CEX quotes")
        b = self.blocks["block"].to_numpy()
        if b.size and not np.all(np.diff(b) == 1):
            raise DataError("blocks: block numbers must be consecutive and increasing")
        n_pools = self.pool_states["pool"].n_unique()
        if self.pool_states.height != b.size * n_pools:
            raise DataError(
                f"pool_states: {self.pool_states.height} rows for {b.size} blocks x {n_pools} "
                "pools; a history needs every pool's state at every block"
            )
        if self.pool_states.height:
            per_block = self.pool_states.group_by("block").agg(
                pl.col("pool").n_unique().alias("pools"), pl.len().alias("rows")
            )
            bad = per_block.filter((pl.col("pools") != n_pools) | (pl.col("rows") != n_pools))
            if bad.height:
                blk = int(bad.sort("block")["block"][0])
                raise DataError(
                    f"pool_states: block {blk} does not hold exactly one state of each of the "
                    f"{n_pools} pools (a pool is missing or repeated)"
                )
        if self.pool_states.height:
            ps_blocks = self.pool_states["block"]
            if ps_blocks.min() != (b[0] if b.size else None) or ps_blocks.max() != (
                b[-1] if b.size else None
            ):
                raise DataError("pool_states: blocks differ from the blocks table")

    # -- shape ---------------------------------------------------------------------------
    @property
    def n_blocks(self) -> int:
        """Number of blocks."""
        return self.blocks.height

    def __len__(self) -> int:
        return self.n_blocks

    @cached_property
    def block_numbers(self) -> IntArray:
        """Block numbers, ascending (int64)."""
        return self.blocks["block"].to_numpy().astype(np.int64)

    @cached_property
    def _sorted_states(self) -> pl.DataFrame:
        return self.pool_states.sort(["block", "pool"])

    @cached_property
    def pools(self) -> tuple[PoolInfo, ...]:
        """The pools, sorted by id; the column order of :meth:`reserves`."""
        first = self._sorted_states.filter(pl.col("block") == self.block_numbers[0])
        return tuple(
            PoolInfo(r["pool"], r["venue"], r["token0"], r["token1"], int(r["fee_bps"]))
            for r in first.iter_rows(named=True)
        )

    @cached_property
    def pool_index(self) -> dict[str, int]:
        """Pool id -> column in :meth:`reserves`."""
        return {p.pool: i for i, p in enumerate(self.pools)}

    @cached_property
    def _reserves(self) -> tuple[ObjArray, ObjArray]:
        s = self._sorted_states
        n, m = self.n_blocks, len(self.pools)
        r0 = np.empty(n * m, dtype=object)
        r1 = np.empty(n * m, dtype=object)
        r0[:] = s["reserve0"].to_list()
        r1[:] = s["reserve1"].to_list()
        return r0.reshape(n, m), r1.reshape(n, m)

    def reserves(self) -> tuple[ObjArray, ObjArray]:
        """Exact reserves as object arrays of Python ints, shape (n_blocks, n_pools)."""
        return self._reserves

    @cached_property
    def _reserves_float(self) -> tuple[FloatArray, FloatArray]:
        s = self._sorted_states
        n, m = self.n_blocks, len(self.pools)
        r0 = s["reserve0"].cast(pl.Float64).to_numpy().reshape(n, m)
        r1 = s["reserve1"].cast(pl.Float64).to_numpy().reshape(n, m)
        return r0, r1

    def reserves_float(self) -> tuple[FloatArray, FloatArray]:
        """Reserves as float64 (for features and screening only), shape (n_blocks, n_pools)."""
        return self._reserves_float

    @cached_property
    def base_fee_wei(self) -> IntArray:
        """Base fee per block (int64 wei)."""
        return self.blocks["base_fee_wei"].to_numpy().astype(np.int64)

    def cex_mid(self, symbol: str) -> FloatArray:
        """Best mid price of ``symbol`` across CEX venues at each block (NaN where absent)."""
        q = (
            self.cex_quotes.filter(pl.col("symbol") == symbol)
            .group_by("block")
            .agg(pl.col("bid").max(), pl.col("ask").min())
        )
        out = np.full(self.n_blocks, np.nan)
        if q.height:
            idx = q["block"].to_numpy() - self.block_numbers[0]
            ok = (idx >= 0) & (idx < self.n_blocks)
            out[idx[ok]] = ((q["bid"] + q["ask"]) / 2).to_numpy()[ok]
        return out

    # -- slicing -------------------------------------------------------------------------
    def slice(self, start: int, stop: int) -> MarketHistory:
        """Return the blocks at positions ``[start, stop)`` (positions, not block numbers)."""
        start, stop, _ = builtins.slice(start, stop).indices(self.n_blocks)
        if stop <= start:
            raise DataError(f"slice [{start}, {stop}) of a {self.n_blocks}-block history is empty")
        lo, hi = int(self.block_numbers[start]), int(self.block_numbers[stop - 1])

        def cut(df: pl.DataFrame) -> pl.DataFrame:
            return df.filter(pl.col("block").is_between(lo, hi))

        # the quote in force at the first block may be older than the slice: carry it in
        quotes = cut(self.cex_quotes)
        before = self.cex_quotes.filter(pl.col("block") <= lo)
        if before.height:
            carried = (
                before.sort("block")
                .group_by("symbol", "venue", maintain_order=True)
                .last()
                .join(
                    quotes.filter(pl.col("block") == lo).select("symbol", "venue"),
                    on=["symbol", "venue"],
                    how="anti",
                )
                .with_columns(pl.lit(lo, dtype=pl.Int64).alias("block"))
                .select(quotes.columns)
            )
            if carried.height:
                quotes = pl.concat([carried, quotes]).sort("block", maintain_order=True)

        return MarketHistory(
            cut(self.blocks),
            cut(self.pool_states),
            quotes,
            cut(self.aqua_events),
            {**self.meta, "slice": [lo, hi]},
            cut(self.swaps),
        )

    def head(self, n: int) -> MarketHistory:
        """Return the first ``n`` blocks (the history as known at its ``n``-th block)."""
        return self.slice(0, n)

    def __getitem__(self, key: builtins.slice) -> MarketHistory:
        if not isinstance(key, slice) or key.step not in (None, 1):
            raise TypeError("MarketHistory supports only contiguous slices, e.g. history[:t]")
        start, stop, _ = key.indices(self.n_blocks)
        return self.slice(start, stop)

    # -- persistence ---------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the tables as parquet plus ``manifest.json`` (meta and sha256 of each file).

        The directory is written next to its destination and renamed into place, so a
        failure leaves no half-written history. The output is byte-identical for equal
        histories. An existing destination is replaced only if it holds a saved history
        and nothing else.

        Raises
        ------
        DataError
            If the destination is a file, or a folder holding anything but a saved history
            (nothing of the user's is ever deleted).
        """
        dest = Path(path).resolve()
        ours = {MANIFEST_NAME, *(f"{t}.parquet" for t in (*_TABLES, *_OPTIONAL_TABLES))}
        if dest.exists():
            if not dest.is_dir():
                raise DataError(f"{dest}: exists and is not a folder; choose a new folder")
            present = {p.name for p in dest.iterdir()}
            if present and (MANIFEST_NAME not in present or not present <= ours):
                raise DataError(
                    f"{dest}: not empty and not (only) a saved MarketHistory; refusing to "
                    "overwrite it, choose a new or empty folder"
                )
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
        try:
            files: dict[str, str] = {}
            names = [*_TABLES, *(t for t in _OPTIONAL_TABLES if getattr(self, t).height)]
            for name in names:
                f = write_table(getattr(self, name), tmp / f"{name}.parquet")
                files[f"{name}.parquet"] = sha256_file(f)
            meta_json = json.dumps(dict(self.meta), sort_keys=True, default=str)
            files["meta"] = hashlib.sha256(meta_json.encode()).hexdigest()
            manifest = {
                "format": "arbkit.market_history/1",
                "n_blocks": self.n_blocks,
                "first_block": int(self.block_numbers[0]) if self.n_blocks else None,
                "last_block": int(self.block_numbers[-1]) if self.n_blocks else None,
                "meta": dict(self.meta),
                "files": files,
            }
            (tmp / MANIFEST_NAME).write_text(
                json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n"
            )
            if dest.exists():
                old = dest.with_name(f".{dest.name}.old")
                if old.exists():
                    shutil.rmtree(old)
                dest.rename(old)
                tmp.rename(dest)
                shutil.rmtree(old)
            else:
                tmp.rename(dest)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return dest

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> MarketHistory:
        """Read a history written by :meth:`save`, checking every file against the manifest.

        Raises
        ------
        DataError
            If the manifest is missing or malformed, or a file is missing or its sha256
            differs from the manifest.
        """
        src = Path(path)
        man_path = src / MANIFEST_NAME
        try:
            manifest = json.loads(man_path.read_text())
            files = manifest["files"]
        except FileNotFoundError as exc:
            raise DataError(f"{man_path}: no manifest; not a saved MarketHistory") from exc
        except (ValueError, KeyError, TypeError) as exc:
            raise DataError(f"{man_path}: malformed manifest ({exc})") from exc
        meta = manifest.get("meta", {})
        if "meta" in files:
            meta_hash = hashlib.sha256(json.dumps(meta, sort_keys=True, default=str).encode())
            if meta_hash.hexdigest() != files["meta"]:
                raise DataError(f"{man_path}: meta does not match its sha256; it was changed")
        tables: dict[str, pl.DataFrame] = {}
        optional = [t for t in _OPTIONAL_TABLES if f"{t}.parquet" in files]
        for name in (*_TABLES, *optional):
            fname = f"{name}.parquet"
            f = src / fname
            if fname not in files or not f.exists():
                raise DataError(f"{f}: missing from the saved history")
            digest = sha256_file(f)
            if digest != files[fname]:
                raise DataError(
                    f"{f}: sha256 {digest[:12]}... does not match the manifest "
                    f"({str(files[fname])[:12]}...); the file was changed"
                )
            tables[name] = read_table(f)
        return cls(
            tables["blocks"],
            tables["pool_states"],
            tables["cex_quotes"],
            tables["aqua_events"],
            meta,
            tables.get("swaps", empty_swaps()),
        )

    def content_hash(self) -> str:
        """Return a sha256 over the tables (independent of file layout).

        The optional ``swaps`` table counts only when it has rows, so a history without
        swaps keeps the hash it had before the table existed.
        """
        h = hashlib.sha256()
        for name in (*_TABLES, *(t for t in _OPTIONAL_TABLES if getattr(self, t).height)):
            df: pl.DataFrame = getattr(self, name)
            h.update(name.encode())
            h.update(str(df.schema).encode())
            for col in df.columns:
                h.update(col.encode())
                h.update(repr(df[col].to_list()).encode())
        return h.hexdigest()
