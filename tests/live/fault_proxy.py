"""A fault-injecting JSON-RPC proxy for the live runner's tests (loopback only).

:class:`FaultProxy` listens on ``127.0.0.1`` and forwards each JSON-RPC POST body (a
single request or a batch) to a node's URL. Once armed, it injects faults, drawn from
a seeded schedule (a share ``rate`` of requests, kinds in ``kinds``) or queued one-shot
per method with :meth:`FaultProxy.inject`:

``timeout``
    Sleep past the client's timeout, then close without answering (nothing forwarded).
``http500``, ``http429``
    Answer with that HTTP status (nothing forwarded).
``drop``
    Close the connection without answering (nothing forwarded).
``no_method``
    A JSON-RPC "method not found" answer (-32601), as a node without the method gives
    (only by :meth:`FaultProxy.inject`, not in the seeded schedule).
``rpc_error``
    Answer a JSON-RPC error object (one per item for a batch; nothing forwarded).
``stale``
    For a batch of ``eth_call`` at a block number: read the previous block instead and
    answer that (a lagging node); other requests are forwarded untouched.
``forward_drop``
    Forward the request, then close without answering: the node acted (a transaction
    was received, a block mined), the client never hears.

:meth:`FaultProxy.outage` closes every connection unanswered for a while (a node
restart). Faults wait until the proxy is armed: by :meth:`FaultProxy.arm`, or by the
first batch request when ``arm_on_batch`` (the live runner's first pool read, after the
deployment, which is not fault tolerant by design).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections import Counter, deque
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np

FAULT_KINDS = ("timeout", "http500", "http429", "drop", "rpc_error", "stale", "forward_drop")
"""Every fault the proxy injects."""

BATCH = "batch"
"""The key of :meth:`FaultProxy.inject` for batch requests."""


@dataclass(frozen=True)
class Injected:
    """One injected fault: the request's method (``batch:eth_call`` for a batch) and kind."""

    method: str
    kind: str


def _is_stale_able(payload: Any) -> bool:
    return (
        isinstance(payload, list)
        and bool(payload)
        and all(
            isinstance(item, dict)
            and item.get("method") == "eth_call"
            and len(item.get("params", [])) >= 2
            and isinstance(item["params"][1], str)
            and item["params"][1].startswith("0x")
            and int(item["params"][1], 16) > 0
            for item in payload
        )
    )


def _stale(payload: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for item in payload:
        params = list(item["params"])
        params[1] = hex(int(params[1], 16) - 1)
        out.append({**item, "params": params})
    return out


def _rpc_error(
    payload: Any, code: int = -32603, message: str = "injected fault: internal error"
) -> Any:
    def one(item: Any) -> dict[str, Any]:
        rid = item.get("id") if isinstance(item, dict) else None
        error = {"code": code, "message": message}
        return {"jsonrpc": "2.0", "id": rid, "error": error}

    return [one(i) for i in payload] if isinstance(payload, list) else one(payload)


class FaultProxy:
    """A threaded HTTP proxy in front of a JSON-RPC node that injects faults.

    Parameters
    ----------
    upstream
        The node's URL.
    seed
        Seed of the fault schedule.
    rate
        Share of requests (once armed) that get a fault from ``kinds``.
    kinds
        Fault kinds of the schedule (see the module notes).
    methods
        Methods the schedule may hit (a batch counts as its items' methods); ``None``:
        all.
    timeout_sleep_s
        How long a ``timeout`` fault holds the request (longer than the client's
        timeout).
    arm_on_batch
        Arm on the first batch request.
    stale_after_mine_only
        ``stale`` faults (scheduled or queued) hit only batches sent after an ``evm_mine`` and
        before the next ``txpool_status`` (the runner's read of a block it just played,
        not the read it computes the next block's order flow from).
    """

    def __init__(
        self,
        upstream: str,
        *,
        seed: int = 0,
        rate: float = 0.0,
        kinds: Sequence[str] = FAULT_KINDS,
        methods: Collection[str] | None = None,
        timeout_sleep_s: float = 1.5,
        arm_on_batch: bool = True,
        stale_after_mine_only: bool = False,
    ) -> None:
        unknown = set(kinds) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}")
        self.upstream = upstream
        self.rate = rate
        self.kinds = tuple(kinds)
        self.methods = None if methods is None else frozenset(methods)
        self.timeout_sleep_s = timeout_sleep_s
        self.arm_on_batch = arm_on_batch
        self.stale_after_mine_only = stale_after_mine_only
        self._after_mine = False
        self.armed = False
        self.before_forward: Callable[[str, Any], None] | None = None
        self.requests: Counter[str] = Counter()
        self.injected: list[Injected] = []
        self.outage_drops = 0
        self._rng = np.random.default_rng(np.random.SeedSequence(seed))
        self._queued: dict[str, deque[tuple[str, object]]] = {}
        self._outage_until = 0.0
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- life cycle -------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The proxy's URL."""
        if self._server is None:
            raise RuntimeError("FaultProxy: call start() first")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FaultProxy:
        """Listen on a free loopback port and serve in a daemon thread."""
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                proxy._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        server.block_on_close = False
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- control ----------------------------------------------------------------------

    def arm(self) -> None:
        """Start injecting faults."""
        self.armed = True

    def inject(self, method: str, kind: str, times: int = 1, *, first_param: object = None) -> None:
        """Queue ``kind`` for the next ``times`` requests of ``method`` (or :data:`BATCH`).

        With ``first_param``, only requests whose first parameter equals it are hit (e.g.
        ``eth_getBlockByNumber`` of ``"pending"``).
        """
        if kind not in (*FAULT_KINDS, "no_method"):
            raise ValueError(f"unknown fault kind {kind!r}")
        with self._lock:
            self._queued.setdefault(method, deque()).extend([(kind, first_param)] * times)

    def outage(self, seconds: float) -> None:
        """Close every connection unanswered for ``seconds`` from now."""
        self._outage_until = time.monotonic() + seconds

    def count(self, kind: str) -> int:
        """Faults of ``kind`` injected so far."""
        return sum(1 for i in self.injected if i.kind == kind)

    # -- serving ----------------------------------------------------------------------

    def _choose(self, payload: Any) -> tuple[str, str | None]:
        batch = isinstance(payload, list)
        items = payload if batch else [payload]
        names = [str(i.get("method", "?")) if isinstance(i, dict) else "?" for i in items]
        label = f"{BATCH}:{names[0]}" if batch else names[0]
        with self._lock:
            for name in names:
                self.requests[name] += 1
            if names[0] == "evm_mine":
                self._after_mine = True
            elif names[0] == "txpool_status":
                self._after_mine = False
            if batch and self.arm_on_batch:
                self.armed = True
            if not self.armed:
                return label, None
            queue = self._queued.get(BATCH if batch else names[0])
            if queue:
                kind, first = queue[0]
                params = None if batch else payload.get("params")
                if first is not None and not (params and params[0] == first):
                    pass  # not this request
                elif kind == "stale" and self.stale_after_mine_only and not self._after_mine:
                    pass  # wait for the read of a block just mined
                else:
                    queue.popleft()
                    return label, kind
            if self.rate <= 0 or not self.kinds:
                return label, None
            if self.methods is not None and not set(names) <= self.methods:
                return label, None
            if self._rng.random() >= self.rate:
                return label, None
            stale_ok = _is_stale_able(payload) and (
                self._after_mine or not self.stale_after_mine_only
            )
            kinds = [k for k in self.kinds if k != "stale" or stale_ok]
            return label, str(kinds[int(self._rng.integers(len(kinds)))])

    def _forward(self, body: bytes) -> tuple[int, bytes]:
        request = urllib.request.Request(
            self.upstream, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            return int(response.status), response.read()

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length", 0))
        body = handler.rfile.read(length)
        if time.monotonic() < self._outage_until:
            with self._lock:
                self.outage_drops += 1
            return  # the server closes the connection: no answer
        payload = json.loads(body)
        label, kind = self._choose(payload)
        if kind == "stale" and not _is_stale_able(payload):
            kind = None  # a stale read only makes sense for a batch of eth_calls
        if kind is not None:
            with self._lock:
                self.injected.append(Injected(label, kind))
        if kind == "timeout":
            time.sleep(self.timeout_sleep_s)
            return
        if kind == "drop":
            return
        if kind in ("http500", "http429"):
            self._reply(handler, 500 if kind == "http500" else 429, b'{"error": "injected"}')
            return
        if kind == "rpc_error":
            self._reply(handler, 200, json.dumps(_rpc_error(payload)).encode())
            return
        if kind == "no_method":  # what a node without the method answers
            answer = _rpc_error(payload, -32601, "Method not found")
            self._reply(handler, 200, json.dumps(answer).encode())
            return
        if kind == "stale":
            body = json.dumps(_stale(payload)).encode()
        hook = self.before_forward
        if hook is not None and isinstance(payload, dict):
            hook(str(payload.get("method")), payload.get("params"))
        status, answer = self._forward(body)
        if kind == "forward_drop":
            return
        self._reply(handler, status, answer)

    @staticmethod
    def _reply(handler: BaseHTTPRequestHandler, status: int, body: bytes) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        if status == 429:
            handler.send_header("Retry-After", "0")
        handler.end_headers()
        handler.wfile.write(body)
