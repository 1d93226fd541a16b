"""Fetch a Uniswap V2 pair's ``Sync`` and ``Swap`` logs, and its tokens, from a node over web3.

web3 is imported inside the functions (and for type checking only at module
level), so that importing :mod:`arbkit.market.data` stays fast. The logs are
decoded by :func:`arbkit.market.data.v2_logs.decode_v2_logs`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from arbkit.errors import DataError
from arbkit.market.data.v2_logs import (
    SWAP_TOPIC0,
    SYNC_TOPIC0,
    DecodedLogs,
    PoolMeta,
    decode_v2_logs,
)

if TYPE_CHECKING:
    from eth_typing import ChecksumAddress
    from web3 import Web3
    from web3.types import FilterParams

__all__ = ["fetch_v2_logs", "read_pair_tokens"]

_TOKEN0_SELECTOR = "0x0dfe1681"  # token0()
_TOKEN1_SELECTOR = "0xd21220a7"  # token1()

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


def read_pair_tokens(w3: Web3, pool: str) -> tuple[str, str]:
    """Read a Uniswap V2 pair's token addresses from its ``token0()`` and ``token1()``.

    Parameters
    ----------
    w3
        A connected :class:`web3.Web3`.
    pool
        The pair's address (any case).

    Returns
    -------
    tuple of str
        ``(token0, token1)`` addresses in lower case, in the pair's order.

    Raises
    ------
    DataError
        If an answer is not an ABI-encoded address (the contract is not a
        Uniswap V2 pair, or there is no contract at ``pool``).
    """
    from web3 import Web3 as _Web3

    address = _Web3.to_checksum_address(pool)
    return (
        _call_address(w3, address, _TOKEN0_SELECTOR),
        _call_address(w3, address, _TOKEN1_SELECTOR),
    )


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
        token0, token1 = read_pair_tokens(w3, address)
        meta = PoolMeta(token0=token0, token1=token1)
    logs: list[Mapping[str, Any]] = []
    for start in range(from_block, to_block + 1, chunk_size):
        logs.extend(_get_logs(w3, address, start, min(start + chunk_size - 1, to_block)))
    return decode_v2_logs(logs, pool_meta={address: meta})
