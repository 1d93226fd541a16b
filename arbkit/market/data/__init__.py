"""Load the real datasets into arbkit's tables, and decode Uniswap V2 logs.

Every loader returns the tables of :mod:`arbkit.market.tables` (extra columns
allowed, never fewer). One module per source and format:

:mod:`~arbkit.market.data.reserves`
    ``pool_states`` from Uniswap V2 / SushiSwap subgraph reserve snapshots.
:mod:`~arbkit.market.data.klines`
    Normalised OHLCV bars (:data:`KLINES_SCHEMA`) from CryptoDataDownload,
    Binance and Kraken CSVs, and synthetic ``cex_quotes`` from bars.
:mod:`~arbkit.market.data.swaps`
    A ``swaps`` table (:data:`SWAPS_SCHEMA`) from Uniswap V2 / V3 subgraph exports.
:mod:`~arbkit.market.data.blocks`
    ``blocks`` from block-header dumps (CSV or JSON).
:mod:`~arbkit.market.data.v2_logs`
    ``pool_states`` and ``swaps`` decoded from Uniswap V2 ``Sync`` and ``Swap`` logs.
:mod:`~arbkit.market.data.v2_fetch`
    Those logs, and a pair's tokens, fetched from a node over web3.

Every public name of those modules is importable from here.

Exactness
---------
Token amounts and reserves are exact integers in token base units (polars
``Int128``). Decimal strings such as ``"168470.348470848558122848"`` are parsed
as strings with :class:`decimal.Decimal` and scaled by ``10**decimals`` with
integer arithmetic; nothing goes through a float. A value that is not a whole
number of base units (more significant fractional digits than the token has) is
refused. Prices and volumes of exchange bars are floats (features, screening).
Decimals by symbol come from :mod:`arbkit.market.tokens`; :data:`TOKEN_DECIMALS`
here is its ERC-20 view, the loaders' default.

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

from arbkit.market.data._rows import UINT112_MAX, LoadReport
from arbkit.market.data.blocks import load_block_headers
from arbkit.market.data.klines import (
    KLINES_SCHEMA,
    klines_to_cex_quotes,
    load_binance_1m,
    load_cryptodatadownload_klines,
    load_kraken_1m,
)
from arbkit.market.data.reserves import VenuePair, load_reserve_snapshots, load_univ2_sushi_pair
from arbkit.market.data.swaps import SWAPS_SCHEMA, load_uniswap_swaps
from arbkit.market.data.v2_fetch import fetch_v2_logs, read_pair_tokens
from arbkit.market.data.v2_logs import (
    SWAP_TOPIC0,
    SYNC_TOPIC0,
    DecodedLogs,
    PoolMeta,
    decode_v2_logs,
)
from arbkit.market.tokens import ERC20_TOKEN_DECIMALS as TOKEN_DECIMALS

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
    "read_pair_tokens",
]
