"""``arbkit data fetch-logs`` against a node that fails: HTTP errors, timeouts, node errors.

A JSON-RPC server on 127.0.0.1 (``http.server`` in a thread) answers ``eth_getLogs``
through a script that decides, per request, to answer, to fail with an HTTP status, to
stall past the client's timeout or to send a JSON-RPC error. web3's real
``HTTPProvider`` and the command's real retry and split logic run end to end; nothing
of arbkit is mocked and nothing leaves the machine.
"""

from __future__ import annotations

import http.server
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_abi.abi import encode
from typer.testing import CliRunner, Result

from arbkit.cli import app
from arbkit.market.tables import read_table

runner = CliRunner()

SYNC_TOPIC0 = "0x1c411e9a96e071241c2f21f7726b17ae89e3cab4c78be50e062b03a9fffbbad1"
POOL = "0x0d4a11d5EEaaC28EC3F61d100daF4d40471f1852"
API_KEY = "k3yInPath"  # short on purpose: masked whatever its length
QUERY_KEY = "q9"
USER, PASSWORD = "alice", "pw"
META = ["--token0", "WETH", "--token1", "USDT"]


def sync_log(block: int) -> dict[str, Any]:
    return {
        "address": POOL.lower(),
        "topics": [SYNC_TOPIC0],
        "data": "0x" + encode(["uint112", "uint112"], [block, 2 * block]).hex(),
        "blockNumber": hex(block),
        "blockHash": "0x" + f"{block:064x}",
        "transactionHash": "0x" + f"{block:064x}",
        "transactionIndex": "0x0",
        "logIndex": "0x0",
        "removed": False,
    }


# What the script returns for one eth_getLogs request:
#   None                          -> the logs of the range
#   ("http", status, body|None)   -> that HTTP status (with a JSON-RPC error body if given)
#   ("rpc", code, message)        -> HTTP 200 with a JSON-RPC error
#   ("stall", seconds)            -> sleep, then answer normally (past the client timeout)
Action = tuple[Any, ...] | None
Script = Callable[[int, int, int], Action]  # (from_block, to_block, n-th try of that range)


class FaultyNode:
    """A JSON-RPC server on 127.0.0.1 whose ``eth_getLogs`` answers follow a script."""

    def __init__(self, script: Script, *, blocks: range = range(100, 116)) -> None:
        self.script = script
        self.logs = [sync_log(b) for b in blocks]
        self.ranges: list[tuple[int, int]] = []
        self.paths: set[str] = set()
        self.lock = threading.Lock()
        node = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                node.paths.add(self.path)
                status, headers, reply = node.answer(body)
                payload = json.dumps(reply).encode()
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass  # the client gave up waiting (a timeout test)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def answer(self, body: dict[str, Any]) -> tuple[int, dict[str, str], dict[str, Any]]:
        head = {"jsonrpc": "2.0", "id": body["id"]}
        if body["method"] == "eth_chainId":
            return 200, {}, {**head, "result": "0x1"}
        if body["method"] != "eth_getLogs":
            return 200, {}, {**head, "error": {"code": -32601, "message": "no such method"}}
        (flt,) = body["params"]
        start, end = int(flt["fromBlock"], 16), int(flt["toBlock"], 16)
        with self.lock:
            tries = self.ranges.count((start, end))
            self.ranges.append((start, end))
        action = self.script(start, end, tries)
        if action is not None and action[0] == "stall":
            time.sleep(action[1])
            action = None
        if action is None:
            found = [log for log in self.logs if start <= int(log["blockNumber"], 16) <= end]
            return 200, {}, {**head, "result": found}
        if action[0] == "rpc":
            return 200, {}, {**head, "error": {"code": action[1], "message": action[2]}}
        _, status, message, *rest = action
        headers = rest[0] if rest else {}
        error = {"code": -32000, "message": message or "request failed"}
        return status, headers, {**head, "error": error}

    def __enter__(self) -> FaultyNode:
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
        return f"http://{USER}:{PASSWORD}@127.0.0.1:{self.port}/v2/{API_KEY}?apikey={QUERY_KEY}"


@pytest.fixture
def serve() -> Iterator[Callable[[Script], FaultyNode]]:
    nodes: list[FaultyNode] = []

    def start(script: Script) -> FaultyNode:
        node = FaultyNode(script).__enter__()
        nodes.append(node)
        return node

    yield start
    for node in nodes:
        node.__exit__()


def fetch(node: FaultyNode, out: Path, *args: str, start: int = 100, end: int = 115) -> Result:
    return runner.invoke(
        app,
        [
            "data", "fetch-logs", "--rpc-url", node.url, "--pool", POOL,
            "--from-block", str(start), "--to-block", str(end), "--out", str(out),
            "--retry-backoff", "0.01", *META, *args,
        ],
    )  # fmt: skip


def assert_no_secret(text: str) -> None:
    for secret in (API_KEY, f"apikey={QUERY_KEY}", f"{USER}:", f":{PASSWORD}@"):
        assert secret not in text, text


def assert_fetched_every_block(result: Result, out: Path) -> None:
    assert result.exit_code == 0, result.output
    assert_no_secret(result.output)
    blocks = read_table(out / "pool_states.parquet")["block"].to_list()
    assert blocks == list(range(100, 116))  # every block once, in order


def assert_fails(result: Result, *fragments: str) -> str:
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    message = " ".join(result.stderr.split())
    assert message.startswith("error: ")
    for fragment in fragments:
        assert fragment in message, message
    assert_no_secret(result.output)
    return message


def larger_than(blocks: int, answer: Action) -> Script:
    """A node that refuses, with ``answer``, any range of more than ``blocks`` blocks."""
    return lambda start, end, _: answer if end - start + 1 > blocks else None


# ----------------------------------------------------------------------------- too large


def test_http_413_splits_the_range_until_the_node_answers(
    serve: Callable[[Script], FaultyNode], tmp_path: Path
) -> None:
    node = serve(larger_than(4, ("http", 413, None)))
    result = fetch(node, tmp_path)
    assert_fetched_every_block(result, tmp_path)
    assert node.ranges == [
        (100, 115),
        (100, 107),
        (100, 103),
        (104, 107),
        (108, 115),
        (108, 111),
        (112, 115),
    ]
    assert node.paths == {f"/v2/{API_KEY}?apikey={QUERY_KEY}"}  # the real URL was used


@pytest.mark.parametrize(
    "answer",
    [
        ("rpc", -32005, "query returned more than 10000 results"),
        ("rpc", -32602, "Log response size exceeded. You can make eth_getLogs requests with "
         "up to a 2K block range and no limit on the response size"),
        ("rpc", -32000, "block range is too wide"),
        ("rpc", -32000, "exceed maximum block range: 5000"),
        ("rpc", -32005, "query exceeds max results 20000, retry with the range 100-103"),
        ("rpc", -32000, "eth_getLogs is limited to a 10,000 range"),
        ("http", 400, "Query returned more than 10000 results. Try with this block range"),
        ("http", 503, "response size should not greater than 10000000 bytes"),
    ],
    ids=lambda a: f"{a[0]}-{a[1]}",
)  # fmt: skip
def test_a_too_large_answer_splits_the_range(
    serve: Callable[[Script], FaultyNode], tmp_path: Path, answer: Action
) -> None:
    node = serve(larger_than(8, answer))
    result = fetch(node, tmp_path)
    assert_fetched_every_block(result, tmp_path)
    assert node.ranges == [(100, 115), (100, 107), (108, 115)]  # split once, not retried


def test_a_single_block_still_too_large_fails_naming_it(
    serve: Callable[[Script], FaultyNode], tmp_path: Path
) -> None:
    node = serve(larger_than(0, ("rpc", -32005, "query returned more than 10000 results")))
    result = fetch(node, tmp_path, "--chunk-size", "4", start=100, end=103)
    assert_fails(
        result,
        f"eth_getLogs for blocks 100-100 at http://127.0.0.1:{node.port}/... failed",
        "refuses even a single block as too large",
        "query returned more than 10000 results",
    )
    assert node.ranges == [(100, 103), (100, 101), (100, 100)]
    assert not any(tmp_path.iterdir())


# ----------------------------------------------------------------------------- unrelated


@pytest.mark.parametrize(
    "answer",
    [
        ("rpc", -32602, "invalid params"),
        ("rpc", 3, "execution reverted"),
        ("rpc", -32000, "unknown block"),
        ("rpc", -32000, "header not found"),
        ("rpc", -32602, "invalid block range params"),
        ("http", 400, "invalid argument 0: hex string without 0x prefix"),
        ("http", 401, "invalid project id"),
        ("http", 404, None),
    ],
    ids=lambda a: f"{a[0]}-{a[1]}-{a[2]}",
)
def test_an_unrelated_error_fails_at_once_without_splitting(
    serve: Callable[[Script], FaultyNode], tmp_path: Path, answer: Action
) -> None:
    node = serve(lambda *_: answer)
    result = fetch(node, tmp_path)
    assert answer is not None
    shown = "HTTP " + str(answer[1]) if answer[0] == "http" else str(answer[2])
    assert_fails(
        result,
        f"eth_getLogs for blocks 100-115 at http://127.0.0.1:{node.port}/... failed",
        shown,
        "not a size limit, so the range was not split",
    )
    assert node.ranges == [(100, 115)]  # one request: no split, no retry
    assert not any(tmp_path.iterdir())


# ----------------------------------------------------------------------------- transient


@pytest.mark.parametrize(
    "answer",
    [
        ("http", 429, None, {"Retry-After": "0"}),
        ("http", 500, None),
        ("http", 502, None),
        ("http", 503, "upstream unavailable"),
        ("http", 504, None),
        ("rpc", -32005, "project ID request rate exceeded"),
        ("rpc", 429, "Your app has exceeded its compute units per second capacity"),
        ("stall", 1.5),
    ],
    ids=lambda a: f"{a[0]}-{a[1]}",
)
def test_a_transient_failure_is_retried_with_backoff(
    serve: Callable[[Script], FaultyNode],
    tmp_path: Path,
    answer: Action,
    caplog: pytest.LogCaptureFixture,
) -> None:
    node = serve(lambda start, end, tries: answer if tries < 2 else None)
    with caplog.at_level(logging.WARNING, logger="arbkit.market.data.v2_fetch"):
        result = fetch(node, tmp_path, "--timeout", "0.5")
    assert_fetched_every_block(result, tmp_path)
    assert node.ranges == [(100, 115)] * 3  # two failures, then the answer: never split
    retries = [r.getMessage() for r in caplog.records]
    assert len(retries) == 2
    assert all("retry" in r and "blocks 100-115" in r for r in retries)
    assert_no_secret(" ".join(retries))


def test_retries_exhausted_fail_naming_the_range_and_the_masked_endpoint(
    serve: Callable[[Script], FaultyNode], tmp_path: Path
) -> None:
    node = serve(lambda start, end, _: ("http", 503, None) if start >= 108 else None)
    result = fetch(node, tmp_path, "--chunk-size", "8", "--retries", "2")
    assert_fails(
        result,
        f"eth_getLogs for blocks 108-115 at http://127.0.0.1:{node.port}/... failed",
        "HTTP 503 Service Unavailable",
        "still after 2 retries",
    )
    assert node.ranges == [(100, 107)] + [(108, 115)] * 3
    assert not any(tmp_path.iterdir())  # nothing half-written


def test_a_node_that_never_answers_in_time_fails_clearly(
    serve: Callable[[Script], FaultyNode], tmp_path: Path
) -> None:
    node = serve(lambda *_: ("stall", 1.0))
    started = time.monotonic()
    result = fetch(node, tmp_path, "--timeout", "0.2", "--retries", "1")
    assert time.monotonic() - started < 5.0
    assert_fails(
        result,
        f"eth_getLogs for blocks 100-115 at http://127.0.0.1:{node.port}/... failed",
        "did not answer in time (timeout)",
        "still after 1 retry",
    )
    assert node.ranges == [(100, 115)] * 2


def test_a_node_error_echoing_the_key_is_scrubbed(
    serve: Callable[[Script], FaultyNode], tmp_path: Path
) -> None:
    node = serve(lambda *_: ("rpc", -32000, f"unknown key /v2/{API_KEY}?apikey={QUERY_KEY}"))
    result = fetch(node, tmp_path)
    message = assert_fails(result, "unknown key /...")
    assert QUERY_KEY not in message


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["--timeout", "0"], "--timeout must be a number of seconds > 0, got 0.0"),
        (["--retries", "-1"], "--retries must be >= 0, got -1"),
        (["--retry-backoff", "-1"], "--retry-backoff must be a number of seconds >= 0"),
    ],
)
def test_bad_retry_options_are_refused_before_connecting(
    serve: Callable[[Script], FaultyNode], tmp_path: Path, args: list[str], problem: str
) -> None:
    node = serve(lambda *_: None)
    assert_fails(fetch(node, tmp_path, *args), problem)
    assert node.ranges == []
