"""Read many Uniswap V2 pairs' reserves at one block in one JSON-RPC round trip.

:func:`read_reserves` sends every pair's ``getReserves()`` (and, unless cached,
``token0()`` / ``token1()``) as ``eth_call`` s pinned to one block number, in a single
JSON-RPC batch: one HTTP POST whose body is a JSON array. The batch goes through the
provider's own ``make_batch_request`` (web3 8's :class:`~web3.providers.rpc.HTTPProvider`
reuses its session, headers and timeout), not through ``w3.batch_requests()``: web3's
batcher formats the answers and raises on the first failed item without saying which
item failed, while the raw answers let every failure name its pair.

Consistency: all calls of a batch name the same block *number*. A block tag
(``"latest"``, ``"safe"``, ``"finalized"``, ``"earliest"``) is first resolved to a
number with one ``eth_getBlockByNumber`` request, because a batch cannot feed one
answer into another and nodes (anvil included) may run a batch's items concurrently:
an ``eth_blockNumber`` placed in the same batch as calls at ``"latest"`` would not prove
that they read the same block. So a tag costs two round trips, a number one.

Amounts are Python ints decoded with eth-abi (``uint112, uint112, uint32``); floats are
never involved. Transient transport failures (connection refused or reset, timeouts,
HTTP 408/425/429/5xx) are retried a bounded number of times with exponential backoff;
every other failure, and the last transient one, raises
:class:`~arbkit.chain.node.ChainError`. Error messages show the endpoint through
:func:`~arbkit.chain.node.redact_url` only, and never chain the transport exception
(its text repeats the full URL, credentials included).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final, TypeVar

from eth_abi.abi import decode
from eth_abi.exceptions import DecodingError
from eth_typing import ChecksumAddress
from eth_utils.crypto import keccak
from web3 import Web3
from web3.exceptions import TimeExhausted
from web3.types import RPCEndpoint

from arbkit.chain.node import ChainError, redact_url
from arbkit.errors import ConfigError

__all__ = [
    "BLOCK_TAGS",
    "DEFAULT_ATTEMPTS",
    "DEFAULT_BACKOFF",
    "PairReserves",
    "ReserveTracker",
    "TokenCache",
    "read_reserves",
    "resolve_block",
]

logger = logging.getLogger(__name__)

#: Block tags accepted for ``block`` (``"pending"`` is not a mined block, so it is refused).
BLOCK_TAGS: Final = frozenset({"latest", "safe", "finalized", "earliest"})
#: Tries per request (the first one included) when the transport fails transiently.
DEFAULT_ATTEMPTS: Final = 3
#: Seconds before the first retry; doubled before each further one.
DEFAULT_BACKOFF: Final = 0.1

#: Pair address -> (token0, token1). A pair's tokens never change once it exists.
TokenCache = MutableMapping[ChecksumAddress, tuple[ChecksumAddress, ChecksumAddress]]

_RETRY_STATUS: Final = frozenset({408, 425, 429, 500, 502, 503, 504})
_RESERVES_TYPES: Final = ("uint112", "uint112", "uint32")
_HEX_QUANTITY = re.compile(r"0x[0-9a-fA-F]+")
_T = TypeVar("_T")


def _selector(signature: str) -> str:
    return "0x" + keccak(text=signature)[:4].hex()


_GET_RESERVES: Final = _selector("getReserves()")  # 0x0902f1ac
_TOKEN0: Final = _selector("token0()")  # 0x0dfe1681
_TOKEN1: Final = _selector("token1()")  # 0xd21220a7
_CALL_NAMES: Final = {_GET_RESERVES: "getReserves()", _TOKEN0: "token0()", _TOKEN1: "token1()"}


@dataclass(frozen=True)
class PairReserves:
    """One pair's reserves as stored at the end of one block.

    Attributes
    ----------
    pair
        Checksum address of the UniswapV2Pair.
    block
        Number of the block whose state was read (a tag is resolved to its number).
    reserve0, reserve1
        ``getReserves()`` amounts of ``token0`` and ``token1`` in base units (uint112).
    block_timestamp_last
        Timestamp (mod 2**32) of the pair's last reserve update.
    token0, token1
        The pair's tokens, ``token0`` being the one with the lower address.
    """

    pair: ChecksumAddress
    block: int
    reserve0: int
    reserve1: int
    block_timestamp_last: int
    token0: ChecksumAddress
    token1: ChecksumAddress

    @property
    def reserves(self) -> tuple[int, int]:
        """``(reserve0, reserve1)``."""
        return self.reserve0, self.reserve1


# -- transport ---------------------------------------------------------------------------


def _endpoint(w3: Web3) -> str:
    uri = getattr(w3.provider, "endpoint_uri", None)
    if isinstance(uri, str) and uri:
        return redact_url(uri)
    return f"<{type(w3.provider).__name__}>"


def _http_status(exc: BaseException) -> int | None:
    status = getattr(getattr(exc, "response", None), "status_code", None)
    return status if isinstance(status, int) else None


def _is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` is a transport failure worth retrying.

    requests' exceptions derive from :class:`OSError`; those that are also
    :class:`ValueError` (invalid URL, missing schema) are configuration mistakes.
    """
    if isinstance(exc, TimeExhausted | TimeoutError):
        return True
    if isinstance(exc, OSError) and not isinstance(exc, ValueError):
        status = _http_status(exc)
        return status is None or status in _RETRY_STATUS
    return False


def _describe(exc: BaseException) -> str:
    status = _http_status(exc)
    return type(exc).__name__ + (f", HTTP {status}" if status is not None else "")


def _with_retries(
    w3: Web3,
    send: Callable[[], _T],
    what: str,
    attempts: int,
    backoff: float,
    sleep: Callable[[float], None] = time.sleep,
) -> _T:
    """Run ``send`` up to ``attempts`` times while it fails transiently."""
    for attempt in range(1, attempts + 1):
        try:
            return send()
        except ChainError:
            raise
        except Exception as exc:
            where = _endpoint(w3)
            if not _is_transient(exc):
                # ``from None``: the transport exception's text repeats the full URL.
                raise ChainError(
                    f"{what} at {where} failed ({_describe(exc)}); not retried"
                ) from None
            if attempt == attempts:
                raise ChainError(
                    f"{what} at {where} failed after {attempts} attempt"
                    f"{'s' if attempts != 1 else ''} ({_describe(exc)}); "
                    "is the node running and reachable?"
                ) from None
            delay = backoff * 2 ** (attempt - 1)
            logger.debug(
                "%s at %s failed (%s); retry %d/%d in %.2f s",
                what,
                where,
                _describe(exc),
                attempt,
                attempts - 1,
                delay,
            )
            sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


def _rpc_error_text(error: object) -> str:
    if not isinstance(error, Mapping):
        return f"JSON-RPC error {error!r}"
    text = f"JSON-RPC error {error.get('code')}: {error.get('message')}"
    data = error.get("data")
    if isinstance(data, str) and data not in ("", "0x"):
        text += f" (data {data[:138]}{'...' if len(data) > 138 else ''})"
    return text


def _batch(
    w3: Web3, requests: list[tuple[RPCEndpoint, Any]], what: str, attempts: int, backoff: float
) -> list[dict[str, Any]]:
    """Send ``requests`` as one JSON-RPC batch; return the answers in request order."""
    make_batch = getattr(w3.provider, "make_batch_request", None)
    if not callable(make_batch):
        raise ChainError(
            f"{type(w3.provider).__name__} cannot send JSON-RPC batches; use an HTTP provider"
        )

    def send() -> Any:
        try:
            return make_batch(requests)
        except NotImplementedError:
            raise ChainError(
                f"{type(w3.provider).__name__} cannot send JSON-RPC batches; use an HTTP provider"
            ) from None
        except ValueError as exc:  # the body was not JSON
            if isinstance(exc, OSError):
                raise
            raise ChainError(
                f"{what} at {_endpoint(w3)}: the answer is not JSON-RPC ({type(exc).__name__})"
            ) from None

    answer = _with_retries(w3, send, what, attempts, backoff)
    if isinstance(answer, Mapping):  # the node rejected the whole batch with one error
        raise ChainError(
            f"{what} at {_endpoint(w3)} was rejected as a whole: "
            f"{_rpc_error_text(answer.get('error', answer))}"
        )
    if not isinstance(answer, list) or len(answer) != len(requests):
        got = len(answer) if isinstance(answer, list) else type(answer).__name__
        raise ChainError(
            f"{what} at {_endpoint(w3)}: expected {len(requests)} answers in the batch, got {got}"
        )
    if not all(isinstance(item, Mapping) for item in answer):
        raise ChainError(f"{what} at {_endpoint(w3)}: the batch answer holds non-objects")
    return [dict(item) for item in answer]


def _parse_block(block: int | str) -> int | str:
    """Return a block number, or a tag from :data:`BLOCK_TAGS` to resolve."""
    if isinstance(block, bool):
        raise ConfigError(f"block must be a block number or a tag, got {block!r}")
    if isinstance(block, int):
        if block < 0:
            raise ConfigError(f"block number must not be negative, got {block}")
        return block
    if isinstance(block, str):
        text = block.strip()
        if text.lower() in BLOCK_TAGS:
            return text.lower()
        if _HEX_QUANTITY.fullmatch(text):
            return int(text, 16)
        if text.isdigit():
            return int(text)
    raise ConfigError(
        f"block must be a number, a 0x-hex number or one of {sorted(BLOCK_TAGS)}, got {block!r}"
        + (" (a pending block has no settled state to read)" if block == "pending" else "")
    )


def resolve_block(
    w3: Web3,
    block: int | str = "latest",
    *,
    attempts: int = DEFAULT_ATTEMPTS,
    backoff: float = DEFAULT_BACKOFF,
) -> int:
    """Return the number of ``block``: itself for a number, one request for a tag.

    Raises
    ------
    ConfigError
        If ``block`` is neither a non-negative number nor a tag of :data:`BLOCK_TAGS`.
    ChainError
        If the node cannot be reached or does not know the tag (e.g. ``"finalized"``
        on a chain without finality).
    """
    parsed = _parse_block(block)
    if isinstance(parsed, int):
        return parsed
    _check_retry_args(attempts, backoff)
    what = f"eth_getBlockByNumber({parsed!r})"

    def send() -> Any:
        try:
            return w3.provider.make_request(RPCEndpoint("eth_getBlockByNumber"), [parsed, False])
        except ValueError as exc:
            if isinstance(exc, OSError):
                raise
            raise ChainError(
                f"{what} at {_endpoint(w3)}: the answer is not JSON-RPC ({type(exc).__name__})"
            ) from None

    response = _with_retries(w3, send, what, attempts, backoff)
    if "error" in response:
        raise ChainError(f"{what} at {_endpoint(w3)} failed: {_rpc_error_text(response['error'])}")
    result = response.get("result")
    number = result.get("number") if isinstance(result, Mapping) else None
    if not isinstance(number, str) or not _HEX_QUANTITY.fullmatch(number):
        raise ChainError(f"{what} at {_endpoint(w3)} returned no block number: {result!r:.200}")
    return int(number, 16)


# -- reading -----------------------------------------------------------------------------


def _checksum(address: object) -> ChecksumAddress:
    if not isinstance(address, str):
        raise ConfigError(f"a pair address must be a hex string, got {address!r}")
    try:
        return Web3.to_checksum_address(address)
    except ValueError:
        raise ConfigError(f"{address!r} is not a 20-byte hex address") from None


def _check_retry_args(attempts: int, backoff: float) -> None:
    if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
        raise ConfigError(f"attempts must be an int of at least 1, got {attempts!r}")
    if not backoff >= 0:
        raise ConfigError(f"backoff must be a non-negative number of seconds, got {backoff!r}")


def _return_data(result: object) -> bytes:
    if not isinstance(result, str) or not result.startswith(("0x", "0X")):
        raise ValueError(f"the result is not 0x-hex: {result!r:.80}")
    return bytes.fromhex(result[2:])


def read_reserves(
    w3: Web3,
    pairs: Sequence[str],
    block: int | str = "latest",
    *,
    token_cache: TokenCache | None = None,
    attempts: int = DEFAULT_ATTEMPTS,
    backoff: float = DEFAULT_BACKOFF,
) -> list[PairReserves]:
    """Read every pair's ``getReserves()`` at one block in one JSON-RPC batch.

    Parameters
    ----------
    w3
        Connection whose provider can send batches (HTTP or IPC).
    pairs
        UniswapV2Pair addresses (any case). A pair listed twice is read once.
    block
        Block number (int or ``0x``-hex), or a tag of :data:`BLOCK_TAGS`; a tag is
        resolved to its number first (one more request), so every call reads one block.
    token_cache
        Pair -> ``(token0, token1)``. Pairs found there are not asked for their tokens;
        the others are (in the same batch) and are added once the batch succeeds.
        Without a cache, every read asks for the tokens. Keep one cache per chain: the
        same address can hold different pairs on different chains.
    attempts
        Tries per request (the first included) on transient transport failures.
    backoff
        Seconds before the first retry, doubled before each further one.

    Returns
    -------
    list[PairReserves]
        One entry per address of ``pairs``, in the same order; all with the same ``block``.

    Raises
    ------
    ConfigError
        If an address, ``block``, ``attempts`` or ``backoff`` is invalid.
    ChainError
        If the node cannot be reached (after the retries), rejects the batch, or a call
        fails or answers something that is not a pair's ``getReserves()`` / ``token0()``
        / ``token1()``: the message names every failed pair, the block and the
        JSON-RPC error code and message.
    """
    _check_retry_args(attempts, backoff)
    addresses = [_checksum(p) for p in pairs]
    _parse_block(block)  # refuse a bad block before any request
    if not addresses:
        return []
    number = resolve_block(w3, block, attempts=attempts, backoff=backoff)
    unique = list(dict.fromkeys(addresses))
    block_hex = hex(number)
    calls: list[tuple[ChecksumAddress, str]] = []
    for pair in unique:
        calls.append((pair, _GET_RESERVES))
        if token_cache is None or pair not in token_cache:
            calls.extend(((pair, _TOKEN0), (pair, _TOKEN1)))
    requests: list[tuple[RPCEndpoint, Any]] = [
        (RPCEndpoint("eth_call"), [{"to": pair, "data": selector}, block_hex])
        for pair, selector in calls
    ]
    what = f"batch of {len(requests)} eth_call(s) on {len(unique)} pair(s) at block {number}"
    answers = _batch(w3, requests, what, attempts, backoff)

    reserves: dict[ChecksumAddress, tuple[int, int, int]] = {}
    tokens: dict[ChecksumAddress, dict[str, ChecksumAddress]] = {}
    failures: dict[ChecksumAddress, str] = {}
    for (pair, selector), answer in zip(calls, answers, strict=True):
        name = _CALL_NAMES[selector]
        if "error" in answer:
            failures.setdefault(pair, f"{name}: {_rpc_error_text(answer['error'])}")
            continue
        try:
            data = _return_data(answer.get("result"))
            if selector == _GET_RESERVES:
                if len(data) != 96:
                    raise ValueError(f"returned {len(data)} bytes, a pair returns 96")
                r0, r1, ts = decode(_RESERVES_TYPES, data)
                reserves[pair] = (int(r0), int(r1), int(ts))
            else:
                if len(data) != 32:
                    raise ValueError(f"returned {len(data)} bytes, a pair returns 32")
                (token,) = decode(("address",), data)
                tokens.setdefault(pair, {})[selector] = Web3.to_checksum_address(token)
        except (ValueError, DecodingError) as exc:
            failures.setdefault(pair, f"{name} {exc}")
    if failures:
        listed = "; ".join(f"{pair}: {why}" for pair, why in list(failures.items())[:5])
        more = f"; and {len(failures) - 5} more" if len(failures) > 5 else ""
        raise ChainError(
            f"reading reserves at block {number} from {_endpoint(w3)} failed for "
            f"{len(failures)} of {len(unique)} pair(s) (not Uniswap V2 pairs at that block?): "
            f"{listed}{more}"
        )

    results: dict[ChecksumAddress, PairReserves] = {}
    for pair in unique:
        got = tokens.get(pair)
        if got is not None:
            pair_tokens = (got[_TOKEN0], got[_TOKEN1])
            if token_cache is not None:
                token_cache[pair] = pair_tokens
        else:
            assert token_cache is not None  # tokens were only skipped for cached pairs
            pair_tokens = token_cache[pair]
        r0, r1, ts = reserves[pair]
        results[pair] = PairReserves(
            pair=pair,
            block=number,
            reserve0=r0,
            reserve1=r1,
            block_timestamp_last=ts,
            token0=pair_tokens[0],
            token1=pair_tokens[1],
        )
    return [results[pair] for pair in addresses]


class ReserveTracker:
    """Follow a fixed set of pairs and report the ones whose reserves changed.

    Each :meth:`poll` reads every tracked pair in one batch (the tokens only on the
    first successful poll) and returns the pairs whose ``(reserve0, reserve1)`` differ
    from the previous successful poll; the first poll returns them all. A failed poll
    raises and leaves the remembered state as it was.

    Parameters
    ----------
    w3
        Connection to the chain (see :func:`read_reserves`).
    pairs
        Pair addresses to follow; duplicates are dropped, order is kept.
    attempts, backoff
        Retry policy of each poll (see :func:`read_reserves`).
    """

    def __init__(
        self,
        w3: Web3,
        pairs: Sequence[str],
        *,
        attempts: int = DEFAULT_ATTEMPTS,
        backoff: float = DEFAULT_BACKOFF,
    ) -> None:
        _check_retry_args(attempts, backoff)
        self._pairs = tuple(dict.fromkeys(_checksum(p) for p in pairs))
        if not self._pairs:
            raise ConfigError("ReserveTracker needs at least one pair address")
        self._w3 = w3
        self._attempts = attempts
        self._backoff = backoff
        self._tokens: dict[ChecksumAddress, tuple[ChecksumAddress, ChecksumAddress]] = {}
        self._last: dict[ChecksumAddress, PairReserves] = {}

    @property
    def pairs(self) -> tuple[ChecksumAddress, ...]:
        """The tracked pair addresses (checksummed)."""
        return self._pairs

    @property
    def last(self) -> Mapping[ChecksumAddress, PairReserves]:
        """Reserves of every pair at the last successful poll (empty before it)."""
        return MappingProxyType(dict(self._last))

    @property
    def block(self) -> int | None:
        """Block of the last successful poll, or ``None``."""
        return next(iter(self._last.values())).block if self._last else None

    def poll(self, block: int | str = "latest") -> list[PairReserves]:
        """Read all tracked pairs at ``block``; return those whose reserves changed.

        Returns
        -------
        list[PairReserves]
            Changed pairs in tracking order (all of them on the first poll).

        Raises
        ------
        ChainError, ConfigError
            As :func:`read_reserves`.
        """
        current = read_reserves(
            self._w3,
            self._pairs,
            block,
            token_cache=self._tokens,
            attempts=self._attempts,
            backoff=self._backoff,
        )
        changed = [
            now
            for now in current
            if (before := self._last.get(now.pair)) is None or before.reserves != now.reserves
        ]
        self._last = {now.pair: now for now in current}
        return changed

    def reset(self) -> None:
        """Forget the remembered reserves: the next poll reports every pair."""
        self._last = {}

    def __repr__(self) -> str:
        return f"ReserveTracker({len(self._pairs)} pairs, last block {self.block})"
