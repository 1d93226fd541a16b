"""Batched reserve reads: one JSON-RPC round trip, exact ints, consistent blocks, clear errors."""

from __future__ import annotations

import json
import socket
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest
import requests
from web3 import Web3
from web3.contract import Contract
from web3.providers.base import JSONBaseProvider
from web3.providers.rpc import HTTPProvider

from arbkit.chain.node import AnvilNode, ChainError, attach
from arbkit.chain.reader import PairReserves, ReserveTracker, read_reserves, resolve_block
from arbkit.chain.uniswap import (
    UniswapV2Deployment,
    create_pair_with_liquidity,
    deploy_erc20,
    deploy_uniswap_v2,
    erc20_contract,
    mine_and_wait,
)
from arbkit.errors import ConfigError
from arbkit.market.amm import get_amount_out

GAS = 300_000
N_PAIRS = 5
# Distinct, non-round liquidity per pair (base units, 18 decimals).
LIQUIDITY = [((i + 1) * 10**21 + 7 * i, (3 * i + 2) * 10**20 + 11 * i) for i in range(N_PAIRS)]


@dataclass
class Market:
    node: AnvilNode
    deployment: UniswapV2Deployment
    pairs: list[Contract]
    block: int  # head after the liquidity was added

    @property
    def addresses(self) -> list[str]:
        return [p.address for p in self.pairs]


@pytest.fixture(scope="module")
def market(npm_packages: Path) -> Iterator[Market]:
    with AnvilNode() as node:
        w3, deployer = node.w3, node.accounts[0]
        deployment = deploy_uniswap_v2(w3, deployer)
        tokens = [deploy_erc20(w3, deployer, f"T{i}", f"T{i}", 18, 10**30) for i in range(4)]
        pairs = [
            create_pair_with_liquidity(deployment, a, b, amount_a, amount_b, deployer)
            for (a, b), (amount_a, amount_b) in zip(
                combinations(tokens, 2), LIQUIDITY, strict=False
            )
        ]
        yield Market(node, deployment, pairs, int(w3.eth.block_number))


@pytest.fixture
def clean(market: Market) -> Iterator[Market]:
    """The market, reverted to its initial state afterwards (for tests that swap)."""
    snap = market.node.snapshot()
    try:
        yield market
    finally:
        assert market.node.revert(snap)


def one_by_one(pair: Contract, block: int) -> tuple[int, int, int]:
    r0, r1, ts = pair.functions.getReserves().call(block_identifier=block)
    return int(r0), int(r1), int(ts)


def swap_token0_in(market: Market, pair: Contract, amount_in: int) -> tuple[int, int]:
    """Swap ``amount_in`` of token0 for token1 in one block; return the expected reserves."""
    w3, trader = market.node.w3, market.node.accounts[0]
    r0, r1, _ = one_by_one(pair, int(w3.eth.block_number))
    out = get_amount_out(amount_in, r0, r1)
    token0 = erc20_contract(w3, pair.functions.token0().call())
    tx = {"from": trader, "gas": GAS}
    hashes = [
        token0.functions.transfer(pair.address, amount_in).transact(tx),
        pair.functions.swap(0, out, trader, b"").transact(tx),
    ]
    mine_and_wait(w3, hashes)
    return r0 + amount_in, r1 - out


class CountingProxy:
    """HTTP proxy in front of a node recording every POST body (a JSON object or array).

    ``drop`` makes it close the next connections without answering, as a flaky
    network would.
    """

    def __init__(self, upstream: str, drop: int = 0) -> None:
        self.upstream = upstream
        self.bodies: list[Any] = []
        self.drop = drop
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with proxy._lock:
                    proxy.bodies.append(json.loads(body))
                    dropped = proxy.drop > 0
                    proxy.drop -= dropped
                if dropped:
                    self.close_connection = True
                    return
                request = urllib.request.Request(
                    proxy.upstream, data=body, headers={"Content-Type": "application/json"}
                )
                with urllib.request.urlopen(request, timeout=10) as response:
                    data = response.read()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def proxy(market: Market) -> Iterator[CountingProxy]:
    running = CountingProxy(market.node.url)
    try:
        yield running
    finally:
        running.close()


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# -- on anvil with the real Uniswap V2 ---------------------------------------------------


def test_batch_equals_each_pairs_own_get_reserves(market: Market) -> None:
    w3, block = market.node.w3, market.block
    got = read_reserves(w3, market.addresses, block)
    assert [r.pair for r in got] == market.addresses
    for pair, reading, liquidity in zip(market.pairs, got, LIQUIDITY, strict=True):
        assert isinstance(reading, PairReserves)
        assert reading.block == block
        assert (reading.reserve0, reading.reserve1, reading.block_timestamp_last) == one_by_one(
            pair, block
        )
        assert sorted(reading.reserves) == sorted(liquidity)  # exactly what was added
        assert all(type(v) is int for v in (reading.reserve0, reading.reserve1))
        assert (reading.token0, reading.token1) == (
            pair.functions.token0().call(),
            pair.functions.token1().call(),
        )
    # Order and duplicates follow the input; the latest block is resolved to a number.
    reversed_twice = [*market.addresses[::-1], market.addresses[0].lower()]
    again = read_reserves(w3, reversed_twice)
    assert [r.pair for r in again] == [*market.addresses[::-1], market.addresses[0]]
    assert {r.block for r in again} == {int(w3.eth.block_number)}
    with pytest.raises(ConfigError, match="pending"):
        read_reserves(w3, market.addresses, "pending")


def test_batch_is_one_http_request(market: Market, proxy: CountingProxy) -> None:
    w3 = attach(proxy.url)
    block = market.block
    proxy.bodies.clear()

    cache: dict[Any, Any] = {}
    first = read_reserves(w3, market.addresses, block, token_cache=cache)
    assert len(proxy.bodies) == 1, "one HTTP POST for every pair"
    (body,) = proxy.bodies
    assert isinstance(body, list) and len(body) == 3 * N_PAIRS  # getReserves, token0, token1
    assert {item["method"] for item in body} == {"eth_call"}
    assert {item["params"][1] for item in body} == {hex(block)}, "all pinned to one block"
    assert {item["params"][0]["to"] for item in body} == set(market.addresses)
    assert set(cache) == set(market.addresses)

    proxy.bodies.clear()
    second = read_reserves(w3, market.addresses, block, token_cache=cache)
    assert second == first
    assert len(proxy.bodies) == 1 and len(proxy.bodies[0]) == N_PAIRS  # tokens came from cache

    # Control: the proxy does see one request per call when calls are not batched.
    proxy.bodies.clear()
    for pair in market.pairs:
        w3.eth.contract(address=pair.address, abi=pair.abi).functions.getReserves().call(
            block_identifier=block
        )
    calls = [b for b in proxy.bodies if isinstance(b, dict) and b["method"] == "eth_call"]
    assert len(calls) == N_PAIRS  # (plus web3's own eth_chainId look-ups)

    # A tag costs one request to pin its number, then the one batch at that number.
    proxy.bodies.clear()
    latest = read_reserves(w3, market.addresses, "latest", token_cache=cache)
    head = int(market.node.w3.eth.block_number)
    assert [type(b).__name__ for b in proxy.bodies] == ["dict", "list"]
    assert proxy.bodies[0]["method"] == "eth_getBlockByNumber"
    assert {item["params"][1] for item in proxy.bodies[1]} == {hex(head)}
    assert {r.block for r in latest} == {head}


def test_old_block_returns_old_reserves_after_a_swap(clean: Market) -> None:
    market, w3 = clean, clean.node.w3
    before = market.block
    target = market.pairs[2]
    expected = swap_token0_in(market, target, 12_345 * 10**15 + 17)
    after = int(w3.eth.block_number)
    assert after > before

    old = read_reserves(w3, market.addresses, before)
    new = read_reserves(w3, market.addresses, after)
    assert [r.reserves for r in old] == [one_by_one(p, before)[:2] for p in market.pairs]
    assert old[2].reserves != new[2].reserves
    assert new[2].reserves == expected
    assert [r.reserves for i, r in enumerate(new) if i != 2] == [
        r.reserves for i, r in enumerate(old) if i != 2
    ]
    # Before the pairs existed there is nothing to read: a clear error, not zeros.
    with pytest.raises(ChainError, match=rf"at block 1 .*{market.addresses[0]}"):
        read_reserves(w3, market.addresses[:1], 1)


def test_non_pair_address_is_named_in_the_error(market: Market) -> None:
    w3, block = market.node.w3, market.block
    eoa = market.node.accounts[5]
    factory = market.deployment.factory_address
    with pytest.raises(ChainError) as info:
        read_reserves(w3, [*market.addresses, eoa], block)
    text = str(info.value)
    assert eoa in text and f"block {block}" in text and "returned 0 bytes" in text
    assert not any(address in text for address in market.addresses)
    with pytest.raises(
        ChainError, match=rf"{factory}: getReserves\(\): JSON-RPC error 3: .*revert"
    ):
        read_reserves(w3, [market.addresses[0], factory], block)


def test_json_rpc_error_object_is_reported_with_code(market: Market) -> None:
    future = market.block + 1_000
    with pytest.raises(ChainError, match=rf"block {future}.*JSON-RPC error -32602: .*block"):
        read_reserves(market.node.w3, market.addresses, future)


def test_tracker_reports_only_the_changed_pair(clean: Market) -> None:
    market, w3 = clean, clean.node.w3
    tracker = ReserveTracker(w3, [*market.addresses, market.addresses[1].lower()])
    assert tracker.pairs == tuple(market.addresses)
    first = tracker.poll(market.block)
    assert [r.pair for r in first] == market.addresses  # everything on the first poll
    assert tracker.poll(market.block) == []
    market.node.mine()
    assert tracker.poll() == []  # a new block, same reserves

    expected = swap_token0_in(market, market.pairs[3], 5 * 10**18 + 3)
    changed = tracker.poll()
    assert [r.pair for r in changed] == [market.addresses[3]]
    assert changed[0].reserves == expected
    assert changed[0].block == int(w3.eth.block_number) == tracker.block
    assert tracker.last[market.addresses[3]].reserves == expected
    assert tracker.poll() == []
    tracker.reset()
    assert len(tracker.poll()) == N_PAIRS


def test_transient_connection_drops_are_retried(market: Market) -> None:
    flaky = CountingProxy(market.node.url)
    try:
        w3 = attach(flaky.url)
        flaky.bodies.clear()
        flaky.drop = 2
        got = read_reserves(w3, market.addresses, market.block, backoff=0.01)
        assert [r.reserves for r in got] == [one_by_one(p, market.block)[:2] for p in market.pairs]
        assert len(flaky.bodies) == 3  # two dropped, the third answered
        flaky.drop = 2
        with pytest.raises(ChainError, match=r"failed after 2 attempts \(ConnectionError\)"):
            read_reserves(w3, market.addresses, market.block, attempts=2, backoff=0.01)
    finally:
        flaky.close()


def test_closed_node_fails_clearly_after_retries(
    npm_packages: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with AnvilNode() as node:
        w3, url = node.w3, node.url
    sent: list[int] = []
    original = w3.provider.make_batch_request  # type: ignore[attr-defined]

    def counting(batch: Any) -> Any:
        sent.append(len(batch))
        return original(batch)

    monkeypatch.setattr(w3.provider, "make_batch_request", counting)
    pair = "0x" + "11" * 20
    with pytest.raises(ChainError) as info:
        read_reserves(w3, [pair], 7, attempts=3, backoff=0.01)
    assert sent == [3, 3, 3]  # getReserves, token0, token1; tried three times
    text = str(info.value)
    assert f"at {url} failed after 3 attempts (ConnectionError)" in text
    assert "block 7" in text and "running" in text
    assert info.value.__cause__ is None and info.value.__suppress_context__
    with pytest.raises(ChainError, match=r"eth_getBlockByNumber\('latest'\).*after 3 attempts"):
        read_reserves(w3, [pair], attempts=3, backoff=0.01)


# -- without a node ----------------------------------------------------------------------


def test_credentials_in_the_url_never_reach_the_error() -> None:
    port = _closed_port()
    url = f"http://alice:hunter2@127.0.0.1:{port}/v3/SECRETKEY?apikey=QUERYKEY"
    w3 = Web3(HTTPProvider(url, exception_retry_configuration=None))
    for block in (5, "latest"):
        with pytest.raises(ChainError) as info:
            read_reserves(w3, ["0x" + "22" * 20], block, attempts=2, backoff=0)
        text = str(info.value)
        assert f"http://127.0.0.1:{port}/..." in text
        assert not any(s in text for s in ("alice", "hunter2", "SECRETKEY", "QUERYKEY"))
        assert info.value.__cause__ is None and info.value.__suppress_context__


class ScriptedProvider(JSONBaseProvider):
    """Answers each batch with the next scripted reply (a value, a callable or an exception)."""

    endpoint_uri = "https://bob:pw@rpc.example.org/v2/KEY"

    def __init__(self, *replies: Any) -> None:
        super().__init__()
        self.replies = list(replies)
        self.batches: list[list[Any]] = []

    def make_batch_request(self, batch: Any) -> Any:
        self.batches.append(list(batch))
        reply = self.replies.pop(0)
        if isinstance(reply, BaseException):
            raise reply
        return reply(batch) if callable(reply) else reply


def _answers(*results: Any) -> Any:
    def reply(batch: Any) -> list[dict[str, Any]]:
        assert len(batch) == len(results)
        return [
            {"jsonrpc": "2.0", "id": i, **(r if isinstance(r, dict) else {"result": r})}
            for i, r in enumerate(results)
        ]

    return reply


PAIR = Web3.to_checksum_address("0x" + "ab" * 20)
TOKEN0, TOKEN1 = "0x" + "00" * 12 + "01" * 20, "0x" + "00" * 12 + "02" * 20


def _word(value: int) -> str:
    return value.to_bytes(32, "big").hex()


def _http_error(status: int) -> requests.HTTPError:
    response = requests.Response()
    response.status_code = status
    return requests.HTTPError(
        f"{status} for url: https://rpc.example.org/v2/KEY", response=response
    )


def test_decoding_is_exact_and_rejects_short_or_oversized_data() -> None:
    big = 2**112 - 1
    good = "0x" + _word(big) + _word(3) + _word(2**32 - 1)
    provider = ScriptedProvider(
        _answers(good, TOKEN0, TOKEN1),
        _answers("0x" + _word(1) + _word(2), TOKEN0, TOKEN1),
        _answers("0x" + _word(2**112) + _word(1) + _word(1), TOKEN0, TOKEN1),
        {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "batch too large"}},
        lambda batch: [],
    )
    w3 = Web3(provider)
    (reading,) = read_reserves(w3, [PAIR.lower()], 9)
    token0 = Web3.to_checksum_address(TOKEN0[-40:])
    token1 = Web3.to_checksum_address(TOKEN1[-40:])
    assert reading == PairReserves(PAIR, 9, big, 3, 2**32 - 1, token0, token1)
    assert provider.batches[0][0] == ("eth_call", [{"to": PAIR, "data": "0x0902f1ac"}, "0x9"])
    with pytest.raises(ChainError, match=rf"block 9 .*{PAIR}: getReserves\(\) returned 64 bytes"):
        read_reserves(w3, [PAIR], 9)
    with pytest.raises(ChainError, match=rf"{PAIR}: getReserves\(\) .*[Pp]adding"):
        read_reserves(w3, [PAIR], 9)  # a value above uint112
    with pytest.raises(ChainError, match=r"rejected as a whole: JSON-RPC error -32600: batch too"):
        read_reserves(w3, [PAIR], 9)
    with pytest.raises(ChainError, match="expected 3 answers in the batch, got 0"):
        read_reserves(w3, [PAIR], 9)


def test_http_status_decides_between_retry_and_failure() -> None:
    reply = _answers("0x" + _word(5) + _word(6) + _word(7), TOKEN0, TOKEN1)
    provider = ScriptedProvider(_http_error(503), _http_error(429), reply, _http_error(401))
    w3 = Web3(provider)
    (reading,) = read_reserves(w3, [PAIR], 3, attempts=3, backoff=0)
    assert reading.reserves == (5, 6) and len(provider.batches) == 3
    with pytest.raises(ChainError, match=r"HTTP 401\); not retried") as info:
        read_reserves(w3, [PAIR], 3, attempts=3, backoff=0)
    assert len(provider.batches) == 4
    assert "https://rpc.example.org/..." in str(info.value)
    assert "KEY" not in str(info.value) and "bob" not in str(info.value)


def test_arguments_are_checked_before_any_request() -> None:
    w3 = Web3(ScriptedProvider())
    for bad_block in (-1, True, "pending", "soon", 1.5):
        with pytest.raises(ConfigError):
            read_reserves(w3, [PAIR], bad_block)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="20-byte"):
        read_reserves(w3, ["0x1234"], 1)
    with pytest.raises(ConfigError, match="attempts"):
        read_reserves(w3, [PAIR], 1, attempts=0)
    with pytest.raises(ConfigError, match="at least one"):
        ReserveTracker(w3, [])
    assert read_reserves(w3, [], "latest") == []
    assert resolve_block(w3, "0x1f") == 31 and resolve_block(w3, 12) == 12
