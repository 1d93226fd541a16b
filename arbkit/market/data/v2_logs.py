"""Decode Uniswap V2 pair ``Sync`` and ``Swap`` logs into pool_states and swaps.

Pure decoding of ``eth_getLogs`` objects, no network: :mod:`arbkit.market.data.v2_fetch`
fetches the logs from a node. Reserves and amounts are exact integers in token
base units, checked against ``uint112``. A malformed log raises
:class:`~arbkit.errors.DataError` naming its transaction hash and log index.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import polars as pl

from arbkit.errors import DataError
from arbkit.market.data._rows import UINT112_MAX
from arbkit.market.data.swaps import SWAPS_SCHEMA
from arbkit.market.tables import POOL_STATES_SCHEMA

__all__ = ["SWAP_TOPIC0", "SYNC_TOPIC0", "DecodedLogs", "PoolMeta", "decode_v2_logs"]

SYNC_TOPIC0 = "0x1c411e9a96e071241c2f21f7726b17ae89e3cab4c78be50e062b03a9fffbbad1"
"""``keccak256("Sync(uint112,uint112)")``."""

SWAP_TOPIC0 = "0xd78ad95fa46c994b6551d0da85fc275fe613ce37657fb8d5e3d130840159d822"
"""``keccak256("Swap(address,uint256,uint256,uint256,uint256,address)")``."""


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
