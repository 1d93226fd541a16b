"""Tests of ``arbkit data fetch-logs`` against a local JSON-RPC server with recorded answers.

The server speaks HTTP on 127.0.0.1, so web3's real ``HTTPProvider`` (requests, JSON-RPC
encoding, result formatters) runs end to end. Logs are encoded like a Uniswap V2 pair
emits them: ``Sync(uint112,uint112)`` and ``Swap(address indexed sender, uint256 amount0In,
uint256 amount1In, uint256 amount0Out, uint256 amount1Out, address indexed to)``.
"""

from __future__ import annotations

import http.server
import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from eth_abi.abi import encode
from typer.testing import CliRunner, Result

from arbkit.cli import app
from arbkit.market.tables import read_table
from arbkit.redact import redact_url, scrub_url

runner = CliRunner()

SYNC_TOPIC0 = "0x1c411e9a96e071241c2f21f7726b17ae89e3cab4c78be50e062b03a9fffbbad1"
SWAP_TOPIC0 = "0xd78ad95fa46c994b6551d0da85fc275fe613ce37657fb8d5e3d130840159d822"
UINT112_MAX = 2**112 - 1

POOL = "0x0d4a11d5EEaaC28EC3F61d100daF4d40471f1852"  # Uniswap V2 WETH/USDT
TOKEN0 = "0x" + "c0" * 20
TOKEN1 = "0x" + "da" * 20
ROUTER = "0x7a250d5630B4cF539739dF2C5dAcb4c659F2488D"
TRADER = "0x" + "22" * 20
API_KEY = "0123456789abcdef0123456789abcdef"  # 32 characters, like an Infura project id


def tx_hash(n: int) -> str:
    return "0x" + f"{n:064x}"


def word(address: str) -> str:
    return "0x" + "00" * 12 + address[2:].lower()


def sync_log(reserve0: int, reserve1: int, *, block: int, index: int, tx: int) -> dict[str, Any]:
    """Return an ``eth_getLogs`` entry, as a node sends it, for a ``Sync`` log."""
    return {
        "address": POOL.lower(),
        "topics": [SYNC_TOPIC0],
        "data": "0x" + encode(["uint112", "uint112"], [reserve0, reserve1]).hex(),
        "blockNumber": hex(block),
        "blockHash": "0x" + f"{block:064x}",
        "transactionHash": tx_hash(tx),
        "transactionIndex": "0x0",
        "logIndex": hex(index),
        "removed": False,
    }


def swap_log(
    amounts: tuple[int, int, int, int], *, block: int, index: int, tx: int
) -> dict[str, Any]:
    """Return an ``eth_getLogs`` entry for a ``Swap`` log (sender and to indexed)."""
    return {
        "address": POOL.lower(),
        "topics": [SWAP_TOPIC0, word(ROUTER), word(TRADER)],
        "data": "0x" + encode(["uint256"] * 4, list(amounts)).hex(),
        "blockNumber": hex(block),
        "blockHash": "0x" + f"{block:064x}",
        "transactionHash": tx_hash(tx),
        "transactionIndex": "0x0",
        "logIndex": hex(index),
        "removed": False,
    }


# (block, reserve0, reserve1) after each Sync; reserves that no float64 holds exactly
R0 = 2**100 + 7
R1 = 123_456_789_012_345_678_901_234_567_891
SYNCS = [
    (100, R0, R1),
    (100, R0 + 10**18, R1 - 3_987_654_321),
    (104, UINT112_MAX, 1),
    (109, 5, UINT112_MAX - 1),
]
SWAP_AMOUNTS = (10**18, 0, 0, 3_987_654_321)  # amount0In, amount1In, amount0Out, amount1Out


def recorded_logs() -> list[dict[str, Any]]:
    (b0, r00, r01), (b1, r10, r11), (b2, r20, r21), (b3, r30, r31) = SYNCS
    return [
        sync_log(r00, r01, block=b0, index=0, tx=1),
        swap_log(SWAP_AMOUNTS, block=b1, index=2, tx=2),
        sync_log(r10, r11, block=b1, index=1, tx=2),
        sync_log(r20, r21, block=b2, index=5, tx=3),
        sync_log(r30, r31, block=b3, index=0, tx=4),
        sync_log(9, 9, block=250, index=0, tx=5),  # outside the ranges asked for
    ]


class RecordedNode:
    """A JSON-RPC server on 127.0.0.1 answering from recorded logs; it logs every request."""

    def __init__(self, logs: list[dict[str, Any]], *, max_results: int | None = None) -> None:
        self.logs = logs
        self.max_results = max_results
        self.requests: list[tuple[str, Any]] = []
        self.http_paths: list[str] = []
        node = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                node.http_paths.append(self.path)
                node.requests.append((body["method"], body["params"]))
                try:
                    answer = node.answer(*node.requests[-1])
                except Exception as exc:  # a bug in the test server: say so in the reply
                    answer = {"error": {"code": -32603, "message": f"test server: {exc!r}"}}
                reply = {"jsonrpc": "2.0", "id": body["id"], **answer}
                payload = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def __enter__(self) -> RecordedNode:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v3/{API_KEY}"

    def answer(self, method: str, params: Any) -> dict[str, Any]:
        if method == "eth_chainId":
            return {"result": "0x1"}
        if method == "eth_getLogs":
            (flt,) = params
            start, end = int(flt["fromBlock"], 16), int(flt["toBlock"], 16)
            topics = set(flt["topics"][0])
            addresses = flt["address"] if isinstance(flt["address"], list) else [flt["address"]]
            wanted = {a.lower() for a in addresses}
            found = [
                log
                for log in self.logs
                if start <= int(log["blockNumber"], 16) <= end
                and log["address"] in wanted
                and log["topics"][0] in topics
            ]
            if self.max_results is not None and len(found) > self.max_results:
                message = f"query returned more than {self.max_results} results"
                return {"error": {"code": -32005, "message": message}}
            return {"result": found}
        if method == "eth_call":
            call = params[0]
            tokens = {"0x0dfe1681": TOKEN0, "0xd21220a7": TOKEN1}
            if call["to"].lower() != POOL.lower():
                return {"result": "0x"}  # no contract there: an empty answer
            return {"result": word(tokens[call["data"]])}
        return {"error": {"code": -32601, "message": f"the method {method} does not exist"}}

    def log_ranges(self) -> list[tuple[int, int]]:
        return [
            (int(p[0]["fromBlock"], 16), int(p[0]["toBlock"], 16))
            for method, p in self.requests
            if method == "eth_getLogs"
        ]


@pytest.fixture
def node() -> Iterator[RecordedNode]:
    with RecordedNode(recorded_logs()) as server:
        yield server


def fetch(url: str, *args: str) -> Result:
    return runner.invoke(app, ["data", "fetch-logs", "--rpc-url", url, *args])


def pool_args(start: int = 100, end: int = 109, pool: str = POOL) -> list[str]:
    return ["--pool", pool, "--from-block", str(start), "--to-block", str(end)]


def assert_fails(result: Result, *fragments: str) -> None:
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)  # a clean exit, not a crash
    assert "Traceback" not in result.output
    assert result.stdout == ""
    assert result.stderr.startswith("error: ")
    message = " ".join(result.stderr.split())  # rich may wrap lines; typer.echo does not
    for fragment in fragments:
        assert fragment in message, message
    assert API_KEY not in result.output


# ----------------------------------------------------------------------------- wiring


def test_the_data_group_is_registered_and_web3_stays_lazy() -> None:
    result = runner.invoke(app, ["data", "--help"])
    assert result.exit_code == 0, result.output
    assert "fetch-logs" in result.output
    code = (
        "import sys, arbkit.cli; print(sorted(m for m in ('web3', 'eth_abi') if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert loaded.stdout.strip() == "[]"


# ----------------------------------------------------------------------------- success


def test_fetch_logs_writes_the_exact_reserves_and_swaps(node: RecordedNode, tmp_path: Path) -> None:
    out = tmp_path / "logs"
    meta = ["--venue", "uniswap_v2", "--fee-bps", "30", "--token0", "WETH", "--token1", "USDT"]
    result = fetch(node.url, *pool_args(), "--out", str(out), *meta)
    assert result.exit_code == 0, result.output
    assert API_KEY not in result.output
    assert f"http://127.0.0.1:{node.port}/..." in result.output
    assert "pool_states: 4 rows" in result.output and "swaps: 1 rows" in result.output
    assert str(out / "pool_states.parquet") in result.output
    assert node.http_paths and set(node.http_paths) == {f"/v3/{API_KEY}"}
    assert [m for m, _ in node.requests] == ["eth_chainId", "eth_getLogs"]  # tokens given

    states = read_table(out / "pool_states.parquet")
    assert states["block"].to_list() == [b for b, _, _ in SYNCS]
    assert states["reserve0"].to_list() == [r0 for _, r0, _ in SYNCS]
    assert states["reserve1"].to_list() == [r1 for _, _, r1 in SYNCS]
    assert all(type(v) is int for v in states["reserve0"].to_list())
    assert states["log_index"].to_list() == [0, 1, 5, 0]
    assert states["tx_hash"].to_list() == [tx_hash(n) for n in (1, 2, 3, 4)]
    assert states["pool"].unique().to_list() == [POOL.lower()]
    assert states["token0"].unique().to_list() == ["WETH"]
    assert states["token1"].unique().to_list() == ["USDT"]
    assert states["fee_bps"].unique().to_list() == [30]
    # on disk the exact integers are Decimal(38, 0), never floats
    raw = pl.read_parquet(out / "pool_states.parquet")
    assert raw.schema["reserve0"] == pl.Decimal(38, 0)

    swaps = read_table(out / "swaps.parquet")
    assert swaps.height == 1
    row = swaps.row(0, named=True)
    assert (row["block"], row["log_index"], row["tx_hash"]) == (100, 2, tx_hash(2))
    amount0_in, amount1_in, amount0_out, amount1_out = SWAP_AMOUNTS
    assert (row["amount0_in"], row["amount1_in"]) == (amount0_in, amount1_in)
    assert (row["amount0_out"], row["amount1_out"]) == (amount0_out, amount1_out)
    assert (row["amount0"], row["amount1"]) == (10**18, -3_987_654_321)
    assert (row["sender"], row["recipient"]) == (ROUTER.lower(), TRADER)


def test_a_chunked_range_gives_the_same_tables(node: RecordedNode, tmp_path: Path) -> None:
    whole = fetch(node.url, *pool_args(), "--out", str(tmp_path / "whole"))
    assert whole.exit_code == 0, whole.output
    assert node.log_ranges() == [(100, 109)]
    node.requests.clear()
    chunked = fetch(node.url, *pool_args(), "--out", str(tmp_path / "chunked"), "--chunk-size", "3")
    assert chunked.exit_code == 0, chunked.output
    assert node.log_ranges() == [(100, 102), (103, 105), (106, 108), (109, 109)]
    for name in ("pool_states.parquet", "swaps.parquet"):
        a, b = read_table(tmp_path / "whole" / name), read_table(tmp_path / "chunked" / name)
        assert a.height > 0 and a.equals(b)
    states = read_table(tmp_path / "chunked" / "pool_states.parquet")
    assert states["reserve0"].to_list() == [r0 for _, r0, _ in SYNCS]


def test_default_meta_reads_the_tokens_and_default_out_folder(
    node: RecordedNode, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = fetch(node.url, *pool_args(100, 104, pool=POOL.lower()))
    assert result.exit_code == 0, result.output
    folder = tmp_path / "data" / "raw" / f"v2_logs_{POOL.lower()}_100_104"
    states = read_table(folder / "pool_states.parquet")
    assert states["block"].to_list() == [100, 100, 104]
    assert states["token0"].unique().to_list() == [TOKEN0]
    assert states["token1"].unique().to_list() == [TOKEN1]
    assert states["venue"].unique().to_list() == ["uniswap_v2"]
    assert [m for m, _ in node.requests].count("eth_call") == 2
    assert (folder / "swaps.parquet").is_file()


def test_venue_alone_still_reads_the_tokens(node: RecordedNode, tmp_path: Path) -> None:
    result = fetch(
        node.url, *pool_args(), "--out", str(tmp_path), "--venue", "sushiswap", "--fee-bps", "25"
    )
    assert result.exit_code == 0, result.output
    states = read_table(tmp_path / "pool_states.parquet")
    assert states["venue"].unique().to_list() == ["sushiswap"]
    assert states["fee_bps"].unique().to_list() == [25]
    assert states["token0"].unique().to_list() == [TOKEN0]


def test_an_empty_range_writes_empty_tables(node: RecordedNode, tmp_path: Path) -> None:
    result = fetch(node.url, *pool_args(200, 240), "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "pool_states: 0 rows (no Sync log in the range)" in result.output
    assert read_table(tmp_path / "pool_states.parquet").height == 0
    assert read_table(tmp_path / "swaps.parquet").height == 0


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"ws://127.0.0.1:8546/v3/{API_KEY}", "ws://127.0.0.1:8546/... has scheme 'ws'"),
        (f"file:///tmp/{API_KEY}", "--rpc-url has scheme 'file'"),
        ("localhost:8545", "has scheme 'localhost'"),
        ("127.0.0.1", "--rpc-url has no scheme"),
        (f"https:///v3/{API_KEY}", "--rpc-url has no host"),
    ],
)
def test_a_url_that_is_not_http_is_refused(url: str, shown: str, tmp_path: Path) -> None:
    result = fetch(url, *pool_args(), "--out", str(tmp_path))
    assert_fails(result, "--rpc-url", shown)
    assert not any(tmp_path.iterdir())


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.parametrize("userinfo", ["alice:hunter2hunter2", "u:p"])
def test_an_unreachable_node_is_named_with_its_credentials_masked(
    userinfo: str, tmp_path: Path
) -> None:
    port = closed_port()
    url = f"http://{userinfo}@127.0.0.1:{port}/v3/{API_KEY}"
    result = fetch(url, *pool_args(), "--out", str(tmp_path / "out"))
    assert_fails(
        result,
        f"cannot connect to the RPC node at http://127.0.0.1:{port}/...",
        "([Errno 111] Connection refused)",
    )
    assert f"{userinfo}@" not in result.output and "hunter2" not in result.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("pool", "problem"),
    [
        ("0x12", "--pool '0x12' is not an address"),
        ("not-an-address", "--pool 'not-an-address' is not an address"),
        (POOL[2:], "is not an address (expected 0x and 40 hex digits)"),
        (POOL[:-1] + "3", f"--pool {POOL[:-1]}3 has an invalid EIP-55 checksum"),
    ],
)
def test_a_bad_pool_address_is_refused(node: RecordedNode, pool: str, problem: str) -> None:
    assert_fails(fetch(node.url, *pool_args(pool=pool)), problem)
    assert node.requests == []  # refused before any request


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (pool_args(109, 100), "--from-block 109 is after --to-block 100"),
        (pool_args(-1, 100), "--from-block must be >= 0, got -1"),
        ([*pool_args(), "--chunk-size", "0"], "--chunk-size must be >= 1, got 0"),
        ([*pool_args(), "--fee-bps", "10001"], "--fee-bps must be in [0, 10000]"),
        ([*pool_args(), "--token0", "WETH"], "give both --token0 and --token1"),
    ],
)
def test_bad_arguments_are_refused_before_connecting(
    node: RecordedNode, args: list[str], problem: str
) -> None:
    assert_fails(fetch(node.url, *args), problem)
    assert node.requests == []


def test_an_address_that_is_not_a_pair_is_explained(node: RecordedNode, tmp_path: Path) -> None:
    other = "0x" + "ee" * 20
    result = fetch(node.url, *pool_args(pool=other), "--out", str(tmp_path))
    assert_fails(result, "did not return token addresses from token0()/token1()", "--token0")
    assert not any(tmp_path.iterdir())


def test_a_node_error_is_reported_without_a_traceback(tmp_path: Path) -> None:
    logs = [sync_log(1, 2, block=5, index=i, tx=i) for i in range(3)]
    meta = ["--token0", "WETH", "--token1", "USDT"]
    with RecordedNode(logs, max_results=2) as server:
        result = fetch(server.url, *pool_args(5, 5), "--out", str(tmp_path), *meta)
    assert_fails(result, "query returned more than 2 results")
    assert not any(tmp_path.iterdir())


# ----------------------------------------------------------------------------- masking


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        (f"https://mainnet.infura.io/v3/{API_KEY}", "https://mainnet.infura.io/..."),
        (
            "https://eth-mainnet.g.alchemy.com/v2/AbC-dEf_1234567890123456",
            "https://eth-mainnet.g.alchemy.com/...",
        ),
        ("https://eth-mainnet.g.alchemy.com/v2/k3y", "https://eth-mainnet.g.alchemy.com/..."),
        (f"https://name.quiknode.pro/{API_KEY}/", "https://name.quiknode.pro/..."),
        ("https://user:pa55word@node.example:8545/rpc", "https://node.example:8545/..."),
        ("https://only-a-key@node.example/", "https://node.example"),
        ("https://rpc.example/?apikey=abc&chain=", "https://rpc.example"),
        ("https://rpc.example?apikey=x", "https://rpc.example"),
        ("http://127.0.0.1:8545", "http://127.0.0.1:8545"),
        ("https://rpc.example/" + "a" * 4, "https://rpc.example/..."),  # short keys too
        ("https://rpc.example/" + "a" * 21, "https://rpc.example/..."),
        ("http://[::1", "<unparseable URL>"),
    ],
)
def test_redact_url_masks_every_credential_whatever_its_length(url: str, masked: str) -> None:
    assert redact_url(url) == masked


def test_scrub_removes_the_credentials_from_a_message() -> None:
    url = f"https://bob:s3cret@rpc.example:8545/v3/{API_KEY}?token=xyz"
    message = (
        f"401 Client Error: Unauthorized for url: {url} "
        f"(HTTPSConnectionPool(host='rpc.example', port=8545): url: /v3/{API_KEY}?token=xyz) "
        f"bob:s3cret@rpc.example, key {API_KEY}, token=xyz"
    )
    scrubbed = scrub_url(message, url)
    for secret in ("bob", "s3cret", API_KEY, "xyz"):
        assert secret not in scrubbed
    assert "for url: https://rpc.example:8545/... (" in scrubbed
    assert "url: /...)" in scrubbed
    assert "***@rpc.example, key ***, token=***" in scrubbed


def test_scrub_leaves_unrelated_text_alone_when_a_secret_is_short() -> None:
    url = "http://u:p@127.0.0.1:8545/k3y?k=1"
    message = f"POST {url} failed: [Errno 111] Connection refused (u:p@host, k=1, up, 1, k3y)"
    assert scrub_url(message, url) == (
        "POST http://127.0.0.1:8545/... failed: [Errno 111] Connection refused "
        "(***@host, k=***, up, 1, k3y)"
    )
