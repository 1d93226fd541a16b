"""Aqua events from a node, as the user guide consumes them (``aqua_client.watch_events()``).

:class:`AquaEventWatcher` (alias :data:`AquaClient`, the guide's ``aqua_client``) polls
``eth_getLogs`` for the four Aqua events in block ranges, decodes every log itself and
yields typed events (:mod:`arbkit.aqua.events`) in chain order::

    watcher = AquaEventWatcher(w3, checkpoint="aqua.checkpoint.json")
    async with contextlib.aclosing(watcher.watch_events()) as events:
        async for event in events:
            await detector.process_event(event)

What the node answers is never trusted: each log is decoded with
:func:`arbkit.aqua.events.decode_aqua_log` against the configured addresses, and a log
that is malformed, from another address, outside the requested range, a duplicate or
``removed`` (a reorg) is logged, counted in :attr:`AquaEventWatcher.stats` and skipped;
the logs around it are still yielded.

RPC calls run in a worker thread (the event loop is never blocked) through
:func:`arbkit.live.chain_layer.with_retries`: transient faults are retried with
exponential backoff and, once the retries are exhausted, raised as
:class:`arbkit.chain.node.ChainError`. A range the node refuses as too large is halved.

Checkpoint
----------
With ``checkpoint=``, the position is kept in a JSON file::

    {"version": 1, "chain_id": 1, "addresses": [...], "next_block": 123,
     "last_event": [122, 7] | null}

``next_block`` is the first block not yet fully consumed; ``last_event`` is the
``(block, log_index)`` of the last event consumed. An event counts as consumed once the
consumer has received it and asked for the next one, or closed the stream. The file is
written atomically (temporary file, fsync, ``os.replace``) after every event of a block
range has been consumed (at once for a range without events), and when the stream ends
or is closed. A restart resumes at ``next_block`` and skips every event whose key is
``<= last_event``: a graceful stop (``aclose``, ``break`` inside ``aclosing``) delivers
each event exactly once over the restarts; after a hard kill, only the events of the
range in flight since the last write are delivered again (never one the file records).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from web3 import Web3
from web3.exceptions import Web3RPCError

from arbkit.aqua.config import DEFAULT_AQUA_ADDRESSES
from arbkit.aqua.events import AQUA_TOPIC0, AquaEvent, AquaLogError, decode_aqua_log
from arbkit.errors import ConfigError, DataError
from arbkit.io import write_atomic
from arbkit.live.chain_layer import with_retries

__all__ = [
    "CHECKPOINT_VERSION",
    "MAX_REJECTED",
    "AquaClient",
    "AquaEventWatcher",
    "WatchStats",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

CHECKPOINT_VERSION = 1
"""Version of the checkpoint file's format."""

MAX_REJECTED = 1_000
"""Rejected logs kept in :attr:`WatchStats.rejected` (the oldest are dropped)."""

_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_TOO_LARGE = re.compile(
    r"range|too (many|large|big|wide)|more than|exceed|limit|response size|max(imum)? results",
    re.IGNORECASE,
)
_RATE_LIMITED = re.compile(r"rate.?limit|too many requests|per second", re.IGNORECASE)
_LIMIT_EXCEEDED = -32005
_GROW_AFTER = 16
"""Ranges fetched in a row at a halved size before the size is doubled again."""
_CHECKPOINT_KEYS = frozenset({"version", "chain_id", "addresses", "next_block", "last_event"})


@dataclass
class WatchStats:
    """What a watcher has done so far (cumulative over its :meth:`watch_events` runs).

    Attributes
    ----------
    batches
        Block ranges fully consumed.
    logs
        Logs the node returned.
    events
        Events yielded and consumed.
    rejected
        ``(tx_hash, log_index, reason)`` of the last :data:`MAX_REJECTED` logs refused
        (malformed, from another address, outside the range asked for, duplicated).
    rejected_total
        Every log refused.
    removed
        Logs skipped because the node flagged them ``removed`` (a reorg).
    retries
        RPC calls retried after a transient fault.
    range_halvings
        Times a block range was halved because the node refused it as too large.
    last_block
        Last block fully consumed (``None`` before the first range).
    """

    batches: int = 0
    logs: int = 0
    events: int = 0
    rejected: list[tuple[str, int | None, str]] = field(default_factory=list)
    rejected_total: int = 0
    removed: int = 0
    retries: int = 0
    range_halvings: int = 0
    last_block: int | None = None


class _RangeTooLargeError(Exception):
    """The node refused an ``eth_getLogs`` range as too large (not retried as is)."""


def _rpc_error_code(exc: Web3RPCError) -> int | None:
    response = exc.rpc_response
    error = response.get("error") if isinstance(response, Mapping) else None
    code = error.get("code") if isinstance(error, Mapping) else None
    return code if isinstance(code, int) else None


def _too_large(exc: Web3RPCError) -> bool:
    message = str(exc.message)
    if _RATE_LIMITED.search(message):
        return False  # some providers answer -32005 to a rate limit too: retry as is
    return _rpc_error_code(exc) == _LIMIT_EXCEEDED or bool(_TOO_LARGE.search(message))


def _checked_addresses(addresses: Sequence[str]) -> tuple[str, ...]:
    if isinstance(addresses, str):
        addresses = (addresses,)
    if not addresses:
        raise ConfigError("AquaEventWatcher: addresses must list at least one Aqua contract")
    bad = [a for a in addresses if not isinstance(a, str) or _ADDRESS.fullmatch(a) is None]
    if bad:
        raise ConfigError(f"AquaEventWatcher: not 0x-prefixed 20-byte hex addresses: {bad}")
    lowered = tuple(sorted({a.lower() for a in addresses}))
    if len(lowered) != len(addresses):
        raise ConfigError("AquaEventWatcher: addresses must be unique")
    return lowered


def _nonneg_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _log_where(log: Any) -> tuple[str, int | None]:
    tx: Any = None
    index: Any = None
    if isinstance(log, Mapping):
        tx = log.get("transactionHash")
        index = log.get("logIndex")
    if isinstance(tx, bytes | bytearray):
        tx = "0x" + bytes(tx).hex()
    return (str(tx) if tx is not None else "?", index if isinstance(index, int) else None)


class AquaEventWatcher:
    """Yield the Aqua events of a node in chain order, surviving RPC faults and restarts.

    Parameters
    ----------
    w3
        A connected :class:`web3.Web3` (``arbkit.chain.node.attach(url)``).
    addresses
        The Aqua contracts whose events are watched (e.g.
        ``AquaOpportunityConfig.aqua_contract_addresses``); logs from any other address
        are refused.
    checkpoint
        Path of the checkpoint file (see the module notes); ``None`` keeps the position
        in memory only.
    from_block
        First block to scan when there is no checkpoint; ``None``: the first block after
        the confirmed head at start (only new events). Ignored when the checkpoint exists.
    to_block
        Last block to scan, then the stream ends (it waits for the chain to get there);
        ``None``: follow the head forever.
    batch_blocks
        Blocks per ``eth_getLogs`` call (halved, for a while, when the node refuses a
        range as too large).
    confirmations
        Blocks kept between the head and the last block scanned (reorg safety).
    poll_interval_s
        Pause when caught up with the head.
    retries
        Attempts of each RPC call, the first included.
    backoff_s
        First pause between attempts; doubled after each failure.
    chain_id
        Expected chain id; checked against the node's. ``None``: the node's.
    sleep
        The async pause when caught up (``asyncio.sleep`` by default; injectable).

    Raises
    ------
    ConfigError
        If an argument is invalid.
    """

    def __init__(
        self,
        w3: Web3,
        *,
        addresses: Sequence[str] = DEFAULT_AQUA_ADDRESSES,
        checkpoint: str | Path | None = None,
        from_block: int | None = None,
        to_block: int | None = None,
        batch_blocks: int = 1_000,
        confirmations: int = 0,
        poll_interval_s: float = 2.0,
        retries: int = 5,
        backoff_s: float = 0.2,
        chain_id: int | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        self.addresses = _checked_addresses(addresses)
        for name, value, low in (
            ("batch_blocks", batch_blocks, 1),
            ("retries", retries, 1),
            ("confirmations", confirmations, 0),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ConfigError(f"AquaEventWatcher: {name} must be an integer >= {low}")
        for name, block in (("from_block", from_block), ("to_block", to_block)):
            if block is not None and not _nonneg_int(block):
                raise ConfigError(f"AquaEventWatcher: {name} must be a block number >= 0")
        if from_block is not None and to_block is not None and to_block < from_block:
            raise ConfigError(
                f"AquaEventWatcher: to_block {to_block} is before from_block {from_block}"
            )
        if not poll_interval_s >= 0 or not backoff_s >= 0:
            raise ConfigError("AquaEventWatcher: poll_interval_s and backoff_s must be >= 0")
        if chain_id is not None and not (_nonneg_int(chain_id) and chain_id > 0):
            raise ConfigError("AquaEventWatcher: chain_id must be a positive integer")
        self.w3 = w3
        self.checkpoint = Path(checkpoint) if checkpoint is not None else None
        self.from_block = from_block
        self.to_block = to_block
        self.batch_blocks = batch_blocks
        self.confirmations = confirmations
        self.poll_interval_s = float(poll_interval_s)
        self.retries = retries
        self.backoff_s = float(backoff_s)
        self.chain_id = chain_id
        self._sleep: Callable[[float], Awaitable[None]] = sleep or asyncio.sleep
        self.stats = WatchStats()
        self._span = batch_blocks
        self._ok_streak = 0
        self._next_block: int | None = None
        self._last_event: tuple[int, int] | None = None
        self._running = False
        self._filter_address = [Web3.to_checksum_address(a) for a in self.addresses]
        self._topics = [list(AQUA_TOPIC0.values())]

    # -- position -------------------------------------------------------------------------

    def checkpoint_state(self) -> dict[str, Any] | None:
        """Return the consumed position as the checkpoint file holds it.

        Returns
        -------
        dict or None
            ``{"version", "chain_id", "addresses", "next_block", "last_event"}``, or
            ``None`` before the position is known (the stream has not started).
        """
        if self._next_block is None or self.chain_id is None:
            return None
        return {
            "version": CHECKPOINT_VERSION,
            "chain_id": self.chain_id,
            "addresses": list(self.addresses),
            "next_block": self._next_block,
            "last_event": list(self._last_event) if self._last_event is not None else None,
        }

    def _save(self) -> None:
        state = self.checkpoint_state()
        if self.checkpoint is None or state is None:
            return
        text = json.dumps(state, indent=2, sort_keys=True) + "\n"
        write_atomic(self.checkpoint, text.encode())

    def _load(self) -> dict[str, Any] | None:
        path = self.checkpoint
        if path is None or not path.exists():
            return None
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise DataError(
                f"Aqua checkpoint {path} is unreadable or not JSON ({type(exc).__name__}: "
                f"{exc}); fix or delete it (deleting restarts from from_block)"
            ) from None
        where = f"Aqua checkpoint {path}"
        if not isinstance(state, dict) or set(state) != _CHECKPOINT_KEYS:
            raise DataError(
                f"{where} is corrupt: expected the keys {sorted(_CHECKPOINT_KEYS)}, "
                f"got {sorted(state) if isinstance(state, dict) else type(state).__name__}"
            )
        if state["version"] != CHECKPOINT_VERSION:
            raise DataError(f"{where} has version {state['version']!r}, expected 1")
        last = state["last_event"]
        if (
            not (_nonneg_int(state["chain_id"]) and _nonneg_int(state["next_block"]))
            or not isinstance(state["addresses"], list)
            or not all(isinstance(a, str) for a in state["addresses"])
            or not (
                last is None
                or (isinstance(last, list) and len(last) == 2 and all(map(_nonneg_int, last)))
            )
        ):
            raise DataError(
                f"{where} is corrupt: chain_id and next_block must be block numbers, "
                "addresses a list of strings, last_event [block, log_index] or null"
            )
        if state["chain_id"] != self.chain_id:
            raise ConfigError(
                f"{where} was written for chain id {state['chain_id']}, but the node is on "
                f"chain id {self.chain_id}; use another checkpoint file for this chain"
            )
        theirs = sorted(a.lower() for a in state["addresses"])
        if theirs != list(self.addresses):
            raise ConfigError(
                f"{where} was written for the Aqua addresses {theirs}, but this watcher "
                f"watches {list(self.addresses)}; use another checkpoint file"
            )
        return state

    # -- RPC --------------------------------------------------------------------------------

    def _count_retry(self, exc: BaseException) -> None:
        self.stats.retries += 1
        logger.debug("Aqua watcher: retrying after %s", type(exc).__name__)

    async def _call(self, what: str, fn: Callable[[], T]) -> T:
        return await asyncio.to_thread(
            with_retries,
            what,
            fn,
            attempts=self.retries,
            backoff_s=self.backoff_s,
            on_retry=self._count_retry,
        )

    async def _safe_head(self) -> int:
        head = await self._call("eth_blockNumber", lambda: int(self.w3.eth.block_number))
        return head - self.confirmations

    async def _get_logs(self, start: int, end: int) -> tuple[int, list[Any]]:
        """Return ``(end, logs)`` of ``[start, end]``, ``end`` lowered if the node asks."""
        while True:

            def fetch(lo: int = start, hi: int = end) -> list[Any]:
                try:
                    return list(
                        self.w3.eth.get_logs(
                            {
                                "fromBlock": lo,
                                "toBlock": hi,
                                "address": self._filter_address,
                                "topics": self._topics,
                            }
                        )
                    )
                except Web3RPCError as exc:
                    if hi > lo and _too_large(exc):
                        raise _RangeTooLargeError(str(exc.message)) from None
                    raise

            try:
                logs = await self._call(f"eth_getLogs of blocks {start}-{end}", fetch)
            except _RangeTooLargeError as exc:
                self.stats.range_halvings += 1
                end = start + (end - start + 1) // 2 - 1
                self._span = end - start + 1
                self._ok_streak = 0
                logger.info(
                    "Aqua watcher: the node refused a range (%s); now %d blocks", exc, self._span
                )
                continue
            self._ok_streak += 1
            if self._span < self.batch_blocks and self._ok_streak >= _GROW_AFTER:
                self._span = min(self.batch_blocks, self._span * 2)  # probe a larger range
                self._ok_streak = 0
            return end, logs

    # -- decoding ---------------------------------------------------------------------------

    def _reject(self, log: Any, reason: str) -> None:
        tx, index = _log_where(log)
        self.stats.rejected_total += 1
        self.stats.rejected.append((tx, index, reason))
        if len(self.stats.rejected) > MAX_REJECTED:
            del self.stats.rejected[: len(self.stats.rejected) - MAX_REJECTED]
        logger.warning("Aqua watcher: skipped a log: %s", reason)

    def _decode(self, logs: Sequence[Any], start: int, end: int) -> list[AquaEvent]:
        events: dict[tuple[int, int], AquaEvent] = {}
        for log in logs:
            self.stats.logs += 1
            if isinstance(log, Mapping) and log.get("removed") is True:
                self.stats.removed += 1
                continue
            try:
                event = decode_aqua_log(log, self.addresses)
            except AquaLogError as exc:
                self._reject(log, str(exc))
                continue
            if not start <= event.block <= end:
                self._reject(
                    log,
                    f"Aqua log (tx {event.tx_hash}, log index {event.log_index}) is in block "
                    f"{event.block}, outside the range {start}-{end} asked for",
                )
                continue
            if event.key in events:
                self._reject(
                    log,
                    f"Aqua log (tx {event.tx_hash}, log index {event.log_index}, block "
                    f"{event.block}) was returned twice",
                )
                continue
            events[event.key] = event
        last = self._last_event
        return [e for k, e in sorted(events.items()) if last is None or k > last]

    # -- the stream -------------------------------------------------------------------------

    async def _start(self) -> None:
        node_chain = await self._call("eth_chainId", lambda: int(self.w3.eth.chain_id))
        if self.chain_id is None:
            self.chain_id = node_chain
        elif self.chain_id != node_chain:
            raise ConfigError(
                f"AquaEventWatcher: expected chain id {self.chain_id}, the node is on "
                f"chain id {node_chain}"
            )
        if self._next_block is not None:
            return  # a later run of the same watcher continues where the last one stopped
        state = self._load()
        if state is not None:
            self._next_block = int(state["next_block"])
            last = state["last_event"]
            self._last_event = (int(last[0]), int(last[1])) if last is not None else None
            logger.info(
                "Aqua watcher: resuming from %s at block %d", self.checkpoint, self._next_block
            )
        elif self.from_block is not None:
            self._next_block = self.from_block
        else:
            self._next_block = max(0, await self._safe_head() + 1)

    async def watch_events(self) -> AsyncIterator[AquaEvent]:
        """Yield the Aqua events, in chain order ``(block, log_index)``.

        Use it in ``contextlib.aclosing`` (or call ``aclose()``) when stopping early, so
        that the checkpoint records the events consumed.

        Yields
        ------
        AquaEvent
            :class:`~arbkit.aqua.events.Shipped`, ``Docked``, ``Pulled`` or ``Pushed``.

        Raises
        ------
        ChainError
            When an RPC call still fails after ``retries`` attempts (the checkpoint keeps
            the last position consumed; a restart resumes there).
        ConfigError
            If the node's chain id is not ``chain_id``, or the checkpoint was written for
            another chain or other addresses.
        DataError
            If the checkpoint file is corrupt.
        RuntimeError
            If this watcher is already streaming.
        """
        if self._running:
            raise RuntimeError("this AquaEventWatcher is already streaming; use one stream")
        self._running = True
        in_flight: tuple[int, int] | None = None
        failed = False
        try:
            await self._start()
            while True:
                assert self._next_block is not None  # set by _start
                if self.to_block is not None and self._next_block > self.to_block:
                    return
                target = await self._safe_head()
                if self.to_block is not None:
                    target = min(target, self.to_block)
                if self._next_block > target:
                    await self._sleep(self.poll_interval_s)
                    continue
                start = self._next_block
                end, logs = await self._get_logs(start, min(target, start + self._span - 1))
                for event in self._decode(logs, start, end):
                    in_flight = event.key
                    yield event
                    in_flight = None
                    self._last_event = event.key
                    self.stats.events += 1
                self._next_block = end + 1
                self.stats.batches += 1
                self.stats.last_block = end
                self._save()
        except BaseException as exc:
            failed = not isinstance(exc, GeneratorExit)
            raise
        finally:
            self._running = False
            if in_flight is not None:  # closed while the consumer held it: consumed
                self._last_event = in_flight
                self.stats.events += 1
            try:
                self._save()
            except OSError as exc:
                if not failed:
                    raise
                logger.error("Aqua watcher: could not write the checkpoint: %s", exc)


AquaClient = AquaEventWatcher
"""The user guide's name for the watcher (``aqua_client.watch_events()``)."""
