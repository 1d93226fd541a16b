"""Fetch a Uniswap V2 pair's ``Sync`` and ``Swap`` logs, and its tokens, from a node over web3.

web3 is imported inside the functions (and for type checking only at module
level), so that importing :mod:`arbkit.market.data` stays fast. The logs are
decoded by :func:`arbkit.market.data.v2_logs.decode_v2_logs`.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from arbkit.errors import ArbkitError, DataError
from arbkit.market.data.v2_logs import (
    SWAP_TOPIC0,
    SYNC_TOPIC0,
    DecodedLogs,
    PoolMeta,
    decode_v2_logs,
)
from arbkit.redact import redact_url, scrub_url

if TYPE_CHECKING:
    from eth_typing import ChecksumAddress
    from web3 import Web3
    from web3.types import FilterParams

__all__ = ["LogFetchError", "RetryPolicy", "fetch_v2_logs", "read_pair_tokens"]

logger = logging.getLogger(__name__)

_TOKEN0_SELECTOR = "0x0dfe1681"  # token0()
_TOKEN1_SELECTOR = "0xd21220a7"  # token1()

# Answers meaning "the result (or the block range) is too large": the range is split.
# Each alternative names results, logs, a response size or a block range, so that a
# rate limit ("limit exceeded"), "invalid params", "execution reverted" or "unknown
# block" never matches.
_TOO_LARGE = re.compile(
    r"more than [\d,]+ (?:results|logs)"
    r"|too many (?:results|logs|blocks)"
    r"|(?:result|response|log)s? (?:set |size )?(?:is |was )?(?:too (?:large|big)|exceed)"
    r"|response size"
    r"|(?:block )?range (?:is |was )?too (?:wide|large|big|long)"
    r"|(?:block )?range (?:limit )?(?:exceed|is limited)"
    r"|exceed\w* (?:the )?(?:max\w* )?(?:block )?range"
    r"|max(?:imum)? (?:block )?range"
    r"|limited to (?:a )?[\d,]+k? ?(?:block|range)"
    r"|ranges? over [\d,]+ blocks"
    r"|exceeds max results"
    r"|query timeout exceeded|query timed out",
    re.IGNORECASE,
)
# JSON-RPC answers meaning "later": the request is retried.
_TRANSIENT = re.compile(
    r"rate limit|rate exceeded|request rate|too many requests|limit exceeded|compute units"
    r"|capacity|temporarily unavailable|try again",
    re.IGNORECASE,
)
_TRANSIENT_HTTP = frozenset({408, 425, 429, 500, 502, 503, 504})
_MAX_RETRY_AFTER_S = 60.0


class LogFetchError(ArbkitError):
    """``eth_getLogs`` failed for a block range and will not succeed by retrying or splitting.

    Attributes
    ----------
    from_block, to_block
        The block range of the request that failed (both included).
    endpoint
        The node's URL with its credentials masked.
    """

    def __init__(self, message: str, *, from_block: int, to_block: int, endpoint: str) -> None:
        super().__init__(message)
        self.from_block = from_block
        self.to_block = to_block
        self.endpoint = endpoint


@dataclass(frozen=True)
class RetryPolicy:
    """How :func:`fetch_v2_logs` retries a request that failed for a transient reason.

    Transient: HTTP 408, 425, 429 and 5xx, a timeout, a dropped connection, or a
    JSON-RPC error saying the caller is rate limited. The wait before retry *k*
    (1-based) is ``backoff_s * 2**(k-1)``, at most ``max_backoff_s``, or the server's
    ``Retry-After`` (at most 60 s) when it sends one.

    Parameters
    ----------
    retries
        Retries of one request after its first attempt (0: no retry).
    backoff_s
        Wait before the first retry, in seconds.
    max_backoff_s
        Longest wait between two attempts, in seconds.
    """

    retries: int = 4
    backoff_s: float = 0.5
    max_backoff_s: float = 8.0

    def __post_init__(self) -> None:
        if self.retries < 0:
            raise ValueError(f"retries must be >= 0, got {self.retries}")
        for name in ("backoff_s", "max_backoff_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0.0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")


_SPLIT = object()


def _rpc_error(error: object) -> tuple[int | None, str]:
    # (code, message) of a JSON-RPC error object, whatever its shape.
    if isinstance(error, Mapping):
        code = error.get("code")
        message = str(error.get("message", error))
        data = error.get("data")
        if isinstance(data, str) and data and data not in message:
            message = f"{message} ({data})"
        return (code if isinstance(code, int) else None), message
    return None, str(error)


def _http_body_error(response: Any) -> str | None:
    # The JSON-RPC error message some nodes send with a non-2xx status, if any.
    try:
        body = json.loads(response.text)
    except (ValueError, TypeError, AttributeError):
        return None
    if isinstance(body, Mapping) and "error" in body:
        return _rpc_error(body["error"])[1]
    return None


def _retry_after(response: Any) -> float | None:
    try:
        value = float(response.headers.get("Retry-After", ""))
    except (ValueError, TypeError, AttributeError):
        return None
    return min(max(value, 0.0), _MAX_RETRY_AFTER_S) if math.isfinite(value) else None


def _get_logs_once(
    w3: Web3,
    address: ChecksumAddress,
    start: int,
    end: int,
    policy: RetryPolicy,
    endpoint_url: str,
) -> list[Mapping[str, Any]] | object:
    # One block range: its logs, or _SPLIT when the node says the answer is too large.
    # Transient failures are retried; anything else raises LogFetchError at once.
    import requests
    from eth_typing import HexStr
    from web3.exceptions import Web3RPCError

    params: FilterParams = {
        "address": address,
        "fromBlock": start,
        "toBlock": end,
        "topics": [[HexStr(SYNC_TOPIC0), HexStr(SWAP_TOPIC0)]],
    }
    endpoint = redact_url(endpoint_url) if endpoint_url else "the node"
    where = f"eth_getLogs for blocks {start}-{end} at {endpoint}"
    attempt = 0
    while True:
        wait: float | None = None
        try:
            return [dict(log) for log in w3.eth.get_logs(params)]
        except Web3RPCError as exc:
            code, message = _rpc_error((exc.rpc_response or {}).get("error", str(exc)))
            reason = f"node error {code}: {message}" if code is not None else message
            too_large = bool(_TOO_LARGE.search(message))
            transient = not too_large and (code == 429 or bool(_TRANSIENT.search(message)))
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else None
            body = _http_body_error(exc.response)
            reason = f"HTTP {status} {getattr(exc.response, 'reason', '') or ''}".rstrip()
            if body:
                reason = f"{reason}: {body}"
            too_large = status == 413 or bool(body and _TOO_LARGE.search(body))
            transient = not too_large and status in _TRANSIENT_HTTP
            wait = _retry_after(exc.response) if exc.response is not None else None
        except requests.Timeout:
            reason = "the node did not answer in time (timeout)"
            too_large, transient = False, True
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
            reason = f"connection failed ({type(exc).__name__})"
            too_large, transient = False, True
        reason = scrub_url(reason, endpoint_url)
        if too_large:
            if start < end:
                return _SPLIT
            raise LogFetchError(
                f"{where} failed: the node refuses even a single block as too large ({reason})",
                from_block=start,
                to_block=end,
                endpoint=endpoint,
            )
        if not transient:
            raise LogFetchError(
                f"{where} failed: {reason} (not a size limit, so the range was not split)",
                from_block=start,
                to_block=end,
                endpoint=endpoint,
            )
        if attempt >= policy.retries:
            raise LogFetchError(
                f"{where} failed: {reason}, still after {policy.retries} "
                f"{'retry' if policy.retries == 1 else 'retries'}; try again later, with a "
                "longer timeout or a smaller chunk size",
                from_block=start,
                to_block=end,
                endpoint=endpoint,
            )
        attempt += 1
        if wait is None:
            wait = min(policy.backoff_s * 2 ** (attempt - 1), policy.max_backoff_s)
        logger.warning(
            "%s: %s; retry %d of %d in %.3g s", where, reason, attempt, policy.retries, wait
        )
        time.sleep(wait)


def _get_logs(
    w3: Web3,
    address: ChecksumAddress,
    start: int,
    end: int,
    policy: RetryPolicy,
    endpoint_url: str,
) -> list[Mapping[str, Any]]:
    # Fetch one chunk, halving a range while the node says its answer is too large.
    logs: list[Mapping[str, Any]] = []
    todo = [(start, end)]
    while todo:
        lo, hi = todo.pop()
        got = _get_logs_once(w3, address, lo, hi, policy, endpoint_url)
        if isinstance(got, list):
            logs.extend(got)
            continue
        middle = (lo + hi) // 2
        logger.info("eth_getLogs for blocks %d-%d too large: splitting it in two", lo, hi)
        todo += [(middle + 1, hi), (lo, middle)]  # the lower half first: logs stay in order
    return logs


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
    retry: RetryPolicy | None = None,
) -> DecodedLogs:
    """Fetch and decode a Uniswap V2 pair's ``Sync`` and ``Swap`` logs over a block range.

    Calls ``w3.eth.get_logs`` with the pool's address and both topic0 values,
    ``chunk_size`` blocks at a time. Each request's failure is handled by its kind:

    * too large -- HTTP 413, or a node error saying the result or the block range is
      too large (``query returned more than 10000 results``, ``block range is too
      wide``, ``Log response size exceeded``...): the range is split in halves, down to
      single blocks;
    * transient -- HTTP 408, 425, 429 or 5xx, a timeout, a dropped connection, a
      rate-limit error: retried after a backoff (see :class:`RetryPolicy`);
    * anything else (``invalid params``, ``execution reverted``, ``unknown block``...):
      a :class:`LogFetchError` at once, without splitting.

    web3's own retries should be off (``exception_retry_configuration=None`` on the
    ``HTTPProvider``), or they run before these.

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
    retry
        Retries of transient failures; ``RetryPolicy()`` (4 retries from 0.5 s) when
        ``None``.

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
    LogFetchError
        If a request fails for good: retries exhausted, a node error that is not a
        size limit, or a single block too large. The message names the block range
        and the endpoint, its credentials masked.
    """
    from web3 import Web3 as _Web3

    if from_block < 0 or to_block < from_block:
        raise ValueError(f"invalid block range [{from_block}, {to_block}]")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    policy = RetryPolicy() if retry is None else retry
    endpoint_url = str(getattr(w3.provider, "endpoint_uri", "") or "")
    address = _Web3.to_checksum_address(pool)
    if meta is None:
        token0, token1 = read_pair_tokens(w3, address)
        meta = PoolMeta(token0=token0, token1=token1)
    logs: list[Mapping[str, Any]] = []
    for start in range(from_block, to_block + 1, chunk_size):
        end = min(start + chunk_size - 1, to_block)
        logs.extend(_get_logs(w3, address, start, end, policy, endpoint_url))
    return decode_v2_logs(logs, pool_meta={address: meta})
