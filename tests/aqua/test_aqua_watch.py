"""AquaEventWatcher on a real node: order, malformed logs, restarts, RPC faults, tailing.

Real logs come from a 18-byte emitter installed with ``anvil_setCode`` at both configured
Aqua addresses and at one stranger address. Its calldata is ``topic0 (32 bytes) || data``
and it runs ``LOG1(data, topic0)``: any topic and any data, malformed ones included.
Malformed logs are interleaved with valid ones in the same blocks. A lying node (a
:class:`fault_proxy.FaultProxy` that rewrites ``eth_getLogs``) drops the address and
topic filter, adds removed, duplicated and out-of-range logs, or refuses large ranges.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import re
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_utils import keccak
from hexbytes import HexBytes
from web3 import Web3

from arbkit.aqua.config import DEFAULT_AQUA_ADDRESSES
from arbkit.aqua.events import (
    AquaEvent,
    Docked,
    Pulled,
    Pushed,
    Shipped,
    encode_aqua_log,
)
from arbkit.aqua.watch import AquaClient, AquaEventWatcher
from arbkit.chain import AnvilNode
from arbkit.chain.node import ChainError, attach
from arbkit.errors import ConfigError, DataError

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "live"))
from fault_proxy import FaultProxy

EMITTER = "0x" + "60203603" + "80" + "6020" + "6000" + "37" + "6000" + "35" + "90" + "6000a100"
"""Runtime code: ``LOG1(calldata[32:], calldata[:32])`` then ``STOP``."""

AQUA = DEFAULT_AQUA_ADDRESSES
STRANGER = "0x" + "ba" * 20
UNKNOWN_TOPIC = keccak(text="NotAqua(address,address,bytes32)")
MALFORMED_ON_HONEST_NODE = ("short_data", "truncated_bytes", "bad_hash")
"""Malformed logs an honest node returns (right address, an Aqua topic0)."""
MALFORMED = (*MALFORMED_ON_HONEST_NODE, "unknown_topic", "stranger")

BATCH = 2
"""Blocks per eth_getLogs in most runs (the scenario's 9 blocks make 5 ranges)."""


# -- the chain -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def node(anvil_tooling: None) -> Iterator[AnvilNode]:
    """An anvil node (manual mining) with the emitter at both Aqua addresses and a stranger."""
    with AnvilNode() as anvil:
        for address in (*AQUA, STRANGER):
            anvil.rpc("anvil_setCode", address, EMITTER)
        yield anvil


def _addr(i: int) -> str:
    return "0x" + keccak(text=f"party{i}")[-20:].hex()


def _template(kind: str, i: int, address: str = AQUA[0]) -> AquaEvent:
    strategy = (f"strategy {i} ".encode() * 7)[: 40 + i]
    common: dict[str, Any] = {
        "maker": _addr(i),
        "app": _addr(1000 + i),
        "strategy_hash": "0x" + keccak(strategy).hex(),
        "address": address,
        "block": 0,
        "tx_hash": "0x" + "00" * 32,
        "log_index": 0,
    }
    if kind == "Shipped":
        return Shipped(**common, strategy=strategy)
    if kind == "Docked":
        return Docked(**common)
    cls = Pulled if kind == "Pulled" else Pushed
    return cls(**common, token=_addr(2000 + i), amount=10**18 + i)


def _raw(event: AquaEvent) -> tuple[bytes, bytes]:
    log = encode_aqua_log(event)
    return bytes(log["topics"][0]), bytes(log["data"])


def _malformed(kind: str, i: int) -> tuple[str, bytes, bytes]:
    """``(address, topic0, data)`` of a malformed log of ``kind``."""
    if kind == "unknown_topic":
        return AQUA[0], UNKNOWN_TOPIC, _raw(_template("Docked", i))[1]
    if kind == "short_data":
        topic, data = _raw(_template("Docked", i))
        return AQUA[1], topic, data[:64]
    if kind == "truncated_bytes":
        topic, data = _raw(_template("Shipped", i))
        return AQUA[0], topic, data[:-32]
    if kind == "bad_hash":
        shipped = _template("Shipped", i)
        topic, data = _raw(dataclasses.replace(shipped, strategy_hash="0x" + keccak(b"x").hex()))
        return AQUA[1], topic, data
    if kind == "stranger":
        topic, data = _raw(_template("Pulled", i))
        return STRANGER, topic, data
    raise AssertionError(kind)


@dataclasses.dataclass
class Mined:
    """Blocks mined by :func:`mine`: their range, the valid events, the malformed txs."""

    first: int
    last: int
    events: list[AquaEvent]
    malformed: dict[str, set[str]]


Item = tuple[str, bytes, bytes, AquaEvent | None, str]
"""``(to, topic0, data, template of a valid event or None, malformed kind or '')``."""


def mine(node: AnvilNode, plan: list[list[Item]]) -> Mined:
    """Send each block's items in order, mine it; return the events as the chain placed them."""
    w3 = node.w3
    first = int(w3.eth.block_number) + 1
    events: list[AquaEvent] = []
    malformed: dict[str, set[str]] = {}
    for items in plan:
        sent = []
        for to, topic, data, template, label in items:
            tx = w3.eth.send_transaction(
                {
                    "from": node.accounts[0],
                    "to": Web3.to_checksum_address(to),
                    "data": HexBytes(topic + data),
                    "gas": 500_000,
                }
            )
            sent.append((tx, template, label))
        node.mine()
        for tx, template, label in sent:
            receipt = w3.eth.get_transaction_receipt(tx)
            assert receipt["status"] == 1
            (log,) = receipt["logs"]
            tx_hash = "0x" + bytes(receipt["transactionHash"]).hex()
            if template is not None:
                events.append(
                    dataclasses.replace(
                        template,
                        block=int(receipt["blockNumber"]),
                        tx_hash=tx_hash,
                        log_index=int(log["logIndex"]),
                    )
                )
            else:
                malformed.setdefault(label, set()).add(tx_hash)
    events.sort(key=lambda e: e.key)
    return Mined(first, int(w3.eth.block_number), events, malformed)


def valid(kind: str, i: int, address: str = AQUA[0]) -> Item:
    """A valid event's item."""
    event = _template(kind, i, address)
    topic, data = _raw(event)
    return (address, topic, data, event, "")


def bad(kind: str, i: int) -> Item:
    """A malformed log's item."""
    to, topic, data = _malformed(kind, i)
    return (to, topic, data, None, kind)


KINDS = ("Shipped", "Pushed", "Pulled", "Docked")


@pytest.fixture(scope="module")
def scenario(node: AnvilNode) -> Mined:
    """Nine blocks: valid events of every kind from both addresses, malformed ones between."""
    plan: list[list[Item]] = [
        [valid("Shipped", 1), bad("short_data", 1), valid("Pushed", 1), valid("Pushed", 2)],
        [bad("unknown_topic", 2), valid("Pulled", 3, AQUA[1]), bad("stranger", 3)],
        [],
        [valid("Docked", 4), bad("truncated_bytes", 4), valid("Shipped", 5, AQUA[1])],
        [bad("bad_hash", 5), valid("Pushed", 6), bad("short_data", 6), valid("Pulled", 7)],
        [valid("Pushed", 8, AQUA[1])],
        [],
        [bad("stranger", 9), bad("unknown_topic", 9), valid("Docked", 10), bad("bad_hash", 10)],
        [valid("Shipped", 11), bad("truncated_bytes", 11), valid("Pulled", 12, AQUA[1])],
    ]
    mined = mine(node, plan)
    assert mined.last - mined.first + 1 == len(plan)
    assert {type(e).__name__ for e in mined.events} == set(KINDS)
    return mined


# -- helpers ------------------------------------------------------------------------------


def run(
    watcher: AquaEventWatcher,
    stop: Callable[[AquaEvent, list[AquaEvent]], bool] | None = None,
    timeout: float = 90.0,
) -> list[AquaEvent]:
    """Consume ``watcher``'s stream (until ``stop`` says so), closing it properly."""

    async def main() -> list[AquaEvent]:
        got: list[AquaEvent] = []
        async with contextlib.aclosing(watcher.watch_events()) as stream:
            async for event in stream:
                got.append(event)
                if stop is not None and stop(event, got):
                    break
        return got

    return asyncio.run(asyncio.wait_for(main(), timeout))


def watcher_for(w3: Web3, mined: Mined, **kwargs: Any) -> AquaEventWatcher:
    """A watcher over ``mined``'s blocks, quick retries, ``BATCH`` blocks per range."""
    options: dict[str, Any] = {
        "from_block": mined.first,
        "to_block": mined.last,
        "batch_blocks": BATCH,
        "backoff_s": 0.01,
        "poll_interval_s": 0.01,
    }
    options.update(kwargs)
    return AquaEventWatcher(w3, **options)


def batch_of(block: int, mined: Mined) -> int:
    """Index of the range ``block`` falls in (``BATCH`` blocks from ``mined.first``)."""
    return (block - mined.first) // BATCH


def no_temp_files(folder: Path) -> bool:
    """No temporary file of an atomic write is left in ``folder``."""
    return not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


class LyingNode(FaultProxy):
    """A proxy whose ``eth_getLogs`` lies: no filter, extra logs, or a range limit."""

    def __init__(
        self,
        upstream: str,
        *,
        strip_filter: bool = False,
        extras: bool = False,
        max_range: int | None = None,
    ) -> None:
        super().__init__(upstream, arm_on_batch=False)
        self.strip_filter = strip_filter
        self.extras = extras
        self.max_range = max_range
        self.ranges: list[tuple[int, int]] = []
        self.refused = 0

    def _forward(self, body: bytes) -> tuple[int, bytes]:
        payload = json.loads(body)
        if not (isinstance(payload, dict) and payload.get("method") == "eth_getLogs"):
            return super()._forward(body)
        flt = dict(payload["params"][0])
        lo, hi = int(flt["fromBlock"], 16), int(flt["toBlock"], 16)
        if self.max_range is not None and hi - lo + 1 > self.max_range:
            self.refused += 1
            message = f"query exceeds max block range {self.max_range}"
            error = {"code": -32005, "message": message}
            return 200, json.dumps({"jsonrpc": "2.0", "id": payload["id"], "error": error}).encode()
        self.ranges.append((lo, hi))
        if self.strip_filter:
            flt.pop("address", None)
            flt.pop("topics", None)
        status, answer = super()._forward(json.dumps({**payload, "params": [flt]}).encode())
        reply = json.loads(answer)
        logs = reply.get("result") or []
        if self.extras and logs:
            first = logs[0]
            logs.append({**first, "removed": True, "logIndex": "0x3e7"})  # reorged away
            logs.append(dict(first))  # the same log twice
            logs.append({**first, "blockNumber": hex(hi + 1), "logIndex": "0x3e8"})  # not asked
            answer = json.dumps(reply).encode()
        return status, answer


# -- tests --------------------------------------------------------------------------------


def test_yields_every_valid_event_in_order_and_rejects_malformed(
    node: AnvilNode, scenario: Mined, caplog: pytest.LogCaptureFixture
) -> None:
    watcher = watcher_for(node.w3, scenario, addresses=AQUA)
    with caplog.at_level(logging.WARNING, logger="arbkit.aqua.watch"):
        got = run(watcher)
    assert got == scenario.events  # every field, chain order, nothing else
    assert [e.key for e in got] == sorted(e.key for e in got)
    assert {type(e) for e in got} == {Shipped, Docked, Pulled, Pushed}
    assert {e.address for e in got} == set(AQUA)
    shipped = next(e for e in got if isinstance(e, Shipped))
    assert shipped.strategy == (b"strategy 1 " * 7)[:41]
    # the honest node filters the stranger and the unknown topic; the decoder the rest
    expected_bad = set().union(*(scenario.malformed[k] for k in MALFORMED_ON_HONEST_NODE))
    stats = watcher.stats
    assert {tx for tx, _, _ in stats.rejected} == expected_bad
    assert stats.rejected_total == len(expected_bad) == 6
    assert all(index is not None and "log index" in why for _, index, why in stats.rejected)
    assert stats.events == len(got)
    assert stats.logs == len(got) + len(expected_bad)
    assert stats.batches == 5
    assert stats.last_block == scenario.last
    assert stats.retries == 0
    assert len([r for r in caplog.records if "skipped a log" in r.getMessage()]) == 6


def test_never_trusts_the_node_filter(node: AnvilNode, scenario: Mined) -> None:
    with LyingNode(node.url, strip_filter=True, extras=True) as liar:
        watcher = watcher_for(attach(liar.url), scenario, addresses=AQUA)
        got = run(watcher)
    assert got == scenario.events
    stats = watcher.stats
    rejected = {tx for tx, _, _ in stats.rejected}
    for kind in MALFORMED:
        assert scenario.malformed[kind] <= rejected, kind
    reasons = " | ".join(why for _, _, why in stats.rejected)
    for words in (
        "is not a configured Aqua contract",
        "unknown topic0",
        "expected 96",
        "truncated",
        "strategyHash is not keccak256(strategy)",
        "was returned twice",
        "outside the range",
    ):
        assert words in reasons
    assert len(liar.ranges) == 5  # each range has logs: one removed log added to each
    assert stats.removed == 5
    assert stats.rejected_total == 10 + 2 * 5  # 10 malformed, a duplicate and a stray per range


def test_a_range_too_large_for_the_node_is_halved(node: AnvilNode, scenario: Mined) -> None:
    with LyingNode(node.url, max_range=3) as limited:
        watcher = watcher_for(attach(limited.url), scenario, addresses=AQUA, batch_blocks=8)
        got = run(watcher)
    assert got == scenario.events
    assert limited.refused >= 1
    assert watcher.stats.range_halvings == limited.refused
    assert all(hi - lo + 1 <= 3 for lo, hi in limited.ranges)
    covered = sorted(b for lo, hi in limited.ranges for b in range(lo, hi + 1))
    assert covered == list(range(scenario.first, scenario.last + 1))  # no gap, no overlap
    assert watcher.stats.retries == 0  # a refusal is not retried as is


def test_graceful_stop_and_restart_deliver_each_event_exactly_once(
    node: AnvilNode, scenario: Mined, tmp_path: Path
) -> None:
    path = tmp_path / "aqua.json"
    cut = next(
        i
        for i, e in enumerate(scenario.events)
        if batch_of(e.block, scenario) >= 2
        and i > 0
        and batch_of(scenario.events[i - 1].block, scenario) == batch_of(e.block, scenario)
    )  # an event in the middle of the third range or later

    first = watcher_for(node.w3, scenario, checkpoint=path)
    part1 = run(first, stop=lambda e, got: len(got) == cut + 1)
    assert part1 == scenario.events[: cut + 1]
    state = json.loads(path.read_text())
    stopped_at = scenario.events[cut]
    assert state == first.checkpoint_state()
    assert state == {
        "version": 1,
        "chain_id": node.chain_id,
        "addresses": sorted(a.lower() for a in DEFAULT_AQUA_ADDRESSES),
        "next_block": scenario.first + BATCH * batch_of(stopped_at.block, scenario),
        "last_event": list(stopped_at.key),
    }
    assert no_temp_files(tmp_path)

    # from_block is ignored once a checkpoint exists
    second = watcher_for(node.w3, scenario, checkpoint=path, from_block=0)
    part2 = run(second, stop=lambda e, got: len(got) == 2)  # and once more, two events
    third = watcher_for(node.w3, scenario, checkpoint=path, from_block=0)
    part3 = run(third)
    assert part1 + part2 + part3 == scenario.events
    assert json.loads(path.read_text())["next_block"] == scenario.last + 1
    assert no_temp_files(tmp_path)

    # the stream is over: a restart yields nothing (and does not need from_block)
    assert run(watcher_for(node.w3, scenario, checkpoint=path, from_block=None)) == []


def test_hard_kill_between_ranges_resumes_exactly_once(
    node: AnvilNode, scenario: Mined, tmp_path: Path
) -> None:
    path, copy = tmp_path / "aqua.json", tmp_path / "killed.json"
    received: list[AquaEvent] = []
    snapshot: list[AquaEvent] = []
    calls = 0

    def kill_before_third_range(method: str, params: Any) -> None:
        nonlocal calls
        if method == "eth_getLogs":
            calls += 1
            if calls == 3:  # two ranges consumed and written; the third not asked yet
                shutil.copy(path, copy)
                snapshot.extend(received)

    with FaultProxy(node.url, arm_on_batch=False) as proxy:
        proxy.before_forward = kill_before_third_range
        watcher = watcher_for(attach(proxy.url), scenario, checkpoint=path)

        def record(event: AquaEvent, got: list[AquaEvent]) -> bool:
            received.append(event)
            return False

        run(watcher, stop=record)
    assert calls == 5 and snapshot
    assert json.loads(copy.read_text())["next_block"] == scenario.first + 2 * BATCH
    resumed = run(watcher_for(node.w3, scenario, checkpoint=copy))
    assert snapshot + resumed == scenario.events  # no duplicate, no gap


def test_hard_kill_mid_range_redelivers_only_the_unwritten_range(
    node: AnvilNode, scenario: Mined, tmp_path: Path
) -> None:
    path, copy = tmp_path / "aqua.json", tmp_path / "killed.json"
    # the second event of a range holding several
    kill = next(
        i
        for i, e in enumerate(scenario.events)
        if i > 0
        and batch_of(e.block, scenario) >= 1
        and batch_of(scenario.events[i - 1].block, scenario) == batch_of(e.block, scenario)
    )

    def stop(event: AquaEvent, got: list[AquaEvent]) -> bool:
        if len(got) == kill + 1:
            shutil.copy(path, copy)  # the kill: what is on disk now
            return True
        return False

    before = run(watcher_for(node.w3, scenario, checkpoint=path), stop=stop)
    written = json.loads(copy.read_text())
    in_flight = batch_of(scenario.events[kill].block, scenario)
    assert written["next_block"] == scenario.first + BATCH * in_flight
    after = run(watcher_for(node.w3, scenario, checkpoint=copy))
    assert set(before) | set(after) == set(scenario.events)  # no gap
    assert len(after) == len(set(after))
    assert all(e.block >= written["next_block"] for e in after)  # nothing written comes back
    again = [e for e in before if e in set(after)]
    assert again == [e for e in before if batch_of(e.block, scenario) == in_flight]
    assert len(again) == 2
    # the graceful close wrote the event it was holding: that restart repeats nothing
    assert run(watcher_for(node.w3, scenario, checkpoint=path)) == scenario.events[kill + 1 :]


def test_a_corrupt_or_foreign_checkpoint_is_refused(
    node: AnvilNode, scenario: Mined, tmp_path: Path
) -> None:
    path = tmp_path / "aqua.json"
    good = {
        "version": 1,
        "chain_id": node.chain_id,
        "addresses": list(AQUA),
        "next_block": scenario.first,
        "last_event": None,
    }
    corrupt = [
        "",
        "{not json",
        json.dumps(good)[:-10],
        "[1, 2]",
        json.dumps({k: v for k, v in good.items() if k != "last_event"}),
        json.dumps({**good, "next_block": -1}),
        json.dumps({**good, "next_block": "12"}),
        json.dumps({**good, "last_event": [3]}),
        json.dumps({**good, "version": 99}),
    ]
    for text in corrupt:
        path.write_text(text)
        with pytest.raises(DataError, match=re.escape(str(path))):
            run(watcher_for(node.w3, scenario, checkpoint=path))
        assert path.read_text() == text  # never overwritten, never restarted from 0
    foreign = [
        ({**good, "chain_id": 1}, "chain id 1"),
        ({**good, "addresses": ["0x" + "11" * 20]}, "addresses"),
    ]
    for state, words in foreign:
        path.write_text(json.dumps(state))
        with pytest.raises(ConfigError, match=words) as info:
            run(watcher_for(node.w3, scenario, checkpoint=path))
        assert str(path) in str(info.value)
    path.write_text(json.dumps(good))
    assert run(watcher_for(node.w3, scenario, checkpoint=path)) == scenario.events
    with pytest.raises(ConfigError, match="chain id"):
        run(watcher_for(node.w3, scenario, chain_id=1))
    assert no_temp_files(tmp_path)


def test_rpc_faults_cost_retries_not_events(
    node: AnvilNode, scenario: Mined, tmp_path: Path
) -> None:
    kinds = ("timeout", "http500", "http429", "drop", "rpc_error", "forward_drop")
    with FaultProxy(
        node.url, seed=11, rate=0.3, kinds=kinds, timeout_sleep_s=1.5, arm_on_batch=False
    ) as proxy:
        w3 = attach(proxy.url, timeout=1.0)
        proxy.arm()
        watcher = watcher_for(
            w3, scenario, batch_blocks=1, retries=10, checkpoint=tmp_path / "aqua.json"
        )
        got = run(watcher)
    assert got == scenario.events
    assert watcher.stats.retries > 0
    assert watcher.stats.retries == len(proxy.injected)
    assert len({i.kind for i in proxy.injected}) >= 3, proxy.injected
    assert json.loads((tmp_path / "aqua.json").read_text())["next_block"] == scenario.last + 1


def test_exhausted_retries_raise_and_the_checkpoint_resumes(
    node: AnvilNode, scenario: Mined, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "aqua.json"
    first_range = [e for e in scenario.events if batch_of(e.block, scenario) == 0]
    with FaultProxy(node.url, arm_on_batch=False) as proxy:
        host = proxy.url.removeprefix("http://")
        w3 = attach(f"http://user:hunter2secret@{host}/v3/topsecretkey", timeout=1.0)
        proxy.arm()
        watcher = watcher_for(w3, scenario, checkpoint=path, retries=3)

        def fail_next_ranges(event: AquaEvent, got: list[AquaEvent]) -> bool:
            if event == first_range[-1]:
                proxy.inject("eth_getLogs", "http500", times=3)
            return False

        with caplog.at_level(logging.DEBUG, logger="arbkit"), pytest.raises(ChainError) as info:
            run(watcher, stop=fail_next_ranges)
    message = str(info.value)
    assert "eth_getLogs" in message and "after 3 attempts" in message
    assert "hunter2secret" not in message and "topsecretkey" not in message
    ours = " ".join(r.getMessage() for r in caplog.records if r.name.startswith("arbkit"))
    assert "hunter2secret" not in ours and "topsecretkey" not in ours
    assert watcher.stats.retries == 2
    state = json.loads(path.read_text())
    assert state["next_block"] == scenario.first + BATCH
    assert state["last_event"] == list(first_range[-1].key)
    rest = run(watcher_for(node.w3, scenario, checkpoint=path))
    assert first_range + rest == scenario.events


def test_live_tailing_yields_events_mined_after_catching_up(node: AnvilNode) -> None:
    old = mine(node, [[valid("Shipped", 50), valid("Pushed", 50)]])
    pauses: list[int] = []
    received: list[AquaEvent] = []
    new: list[Mined] = []

    async def sleep(seconds: float) -> None:
        pauses.append(len(received))
        if len(pauses) == 1:  # caught up: two blocks of events arrive
            new.append(mine(node, [[valid("Pulled", 51, AQUA[1])], [valid("Docked", 52)]]))
        elif len(pauses) == 2:  # one confirmation more
            new.append(mine(node, [[]]))
        await asyncio.sleep(0)

    watcher = AquaEventWatcher(
        node.w3, from_block=old.first, confirmations=1, poll_interval_s=0.01, sleep=sleep
    )
    # a confirmation for the old block
    mine(node, [[]])

    def stop(event: AquaEvent, got: list[AquaEvent]) -> bool:
        received.append(event)
        return len(got) == 4

    got = run(watcher, stop=stop, timeout=60)
    assert got == old.events + new[0].events
    # first pause once the old events were out; the second when the newest block of events
    # still lacked its confirmation (its event waited for the next block)
    assert pauses[:2] == [2, 3]
    assert watcher.stats.events == 4


def test_arguments_and_position(node: AnvilNode) -> None:
    assert AquaClient is AquaEventWatcher
    w3 = node.w3
    for kwargs in (
        {"addresses": []},
        {"addresses": ["0x1234"]},
        {"addresses": [AQUA[0], AQUA[0].upper().replace("0X", "0x")]},
        {"batch_blocks": 0},
        {"retries": 0},
        {"confirmations": -1},
        {"from_block": 10, "to_block": 9},
        {"from_block": -1},
        {"poll_interval_s": -1.0},
    ):
        with pytest.raises(ConfigError):
            AquaEventWatcher(w3, **kwargs)
    watcher = AquaEventWatcher(w3, from_block=0, to_block=0)
    assert watcher.checkpoint_state() is None
    assert run(watcher) == []
    assert watcher.checkpoint_state() == {
        "version": 1,
        "chain_id": node.chain_id,
        "addresses": sorted(AQUA),
        "next_block": 1,
        "last_event": None,
    }
