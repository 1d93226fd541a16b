"""A local anvil node as a context manager, and attaching to any JSON-RPC endpoint.

The anvil binary comes from the npm package ``@foundry-rs/anvil`` pinned in the
project's ``package.json`` (its platform package, e.g. ``@foundry-rs/anvil-linux-amd64``,
carries the executable). Run ``npm ci`` in the project root once to install it.

:class:`AnvilNode` starts anvil on a free loopback port with a fixed chain id and the
well-known anvil test mnemonic, waits until it answers JSON-RPC and, by default,
switches it to manual mining so that tests decide when blocks are made. The node is
stopped by :meth:`AnvilNode.stop`, by the context manager (even when its body raises)
and, as a last resort, at interpreter exit.

Secrets: the mnemonic is passed on anvil's command line but is never logged, never put
in exception text and never shown by ``repr``; anvil runs with ``--silent`` so that its
banner (which lists private keys) is not printed, and any text of anvil's stderr quoted
in an error is scrubbed of 32-byte hex strings and of the mnemonic.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import json
import logging
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self
from urllib.parse import urlsplit

from web3 import Web3
from web3.providers.rpc import HTTPProvider
from web3.types import RPCEndpoint

from arbkit.errors import ArbkitError, ConfigError
from arbkit.redact import redact_url

__all__ = [
    "DEFAULT_CHAIN_ID",
    "DEFAULT_MNEMONIC",
    "NODE_MODULES_ENV",
    "AnvilNode",
    "ChainError",
    "anvil_binary",
    "attach",
    "find_node_modules",
    "redact_url",
]

logger = logging.getLogger(__name__)

#: Environment variable naming the ``node_modules`` folder to use instead of searching.
NODE_MODULES_ENV = "ARBKIT_NODE_MODULES"
#: anvil's default chain id.
DEFAULT_CHAIN_ID = 31337
#: anvil's (and Hardhat's) public test mnemonic: its keys hold test ether only.
DEFAULT_MNEMONIC = "test test test test test test test test test test test junk"

_PROJECT_ROOT = Path(__file__).resolve().parents[2]
_NPM_HINT = (
    "run `npm ci` in the project root (it installs the versions pinned in package-lock.json)"
)
_PLATFORM_PACKAGES = {
    ("linux", "x86_64"): "anvil-linux-amd64",
    ("linux", "amd64"): "anvil-linux-amd64",
    ("linux", "aarch64"): "anvil-linux-arm64",
    ("linux", "arm64"): "anvil-linux-arm64",
    ("darwin", "x86_64"): "anvil-darwin-amd64",
    ("darwin", "arm64"): "anvil-darwin-arm64",
    ("win32", "amd64"): "anvil-win32-amd64",
    ("win32", "x86_64"): "anvil-win32-amd64",
}
_HEX32 = re.compile(r"(0x)?[0-9a-fA-F]{64}")
_PR_SET_PDEATHSIG = 1


class ChainError(ArbkitError, RuntimeError):
    """A node could not be started, reached or driven."""


def find_node_modules(start: Path | str | None = None) -> Path:
    """Return the ``node_modules`` folder holding the project's npm packages.

    Parameters
    ----------
    start
        Folder to search from, walking up to the filesystem root. Defaults to the
        project root (the folder above the ``arbkit`` package).

    Returns
    -------
    Path
        The first ``node_modules`` folder found, or the folder named by the environment
        variable ``ARBKIT_NODE_MODULES`` when it is set.

    Raises
    ------
    ConfigError
        If ``ARBKIT_NODE_MODULES`` names a missing folder, or no ``node_modules`` exists
        at or above ``start`` (the message says to run ``npm ci``).
    """
    override = os.environ.get(NODE_MODULES_ENV)
    if override:
        path = Path(override).expanduser()
        if not path.is_dir():
            raise ConfigError(
                f"{NODE_MODULES_ENV}={override!r} is not a folder; point it at a node_modules "
                f"folder or unset it and {_NPM_HINT}"
            )
        return path.resolve()
    origin = Path(start).resolve() if start is not None else _PROJECT_ROOT
    for folder in (origin, *origin.parents):
        candidate = folder / "node_modules"
        if candidate.is_dir():
            return candidate
    raise ConfigError(
        f"no node_modules folder at or above {origin}; {_NPM_HINT} "
        f"(or set {NODE_MODULES_ENV} to an existing node_modules folder)"
    )


def _platform_package() -> str:
    machine = platform.machine().lower()
    key = (sys.platform, machine)
    if key not in _PLATFORM_PACKAGES:
        raise ConfigError(
            f"@foundry-rs/anvil has no binary package for platform {sys.platform}/{machine}"
        )
    return _PLATFORM_PACKAGES[key]


def anvil_binary(node_modules: Path | None = None) -> Path:
    """Return the path of the anvil executable installed by npm.

    Parameters
    ----------
    node_modules
        The ``node_modules`` folder; found with :func:`find_node_modules` when omitted.

    Raises
    ------
    ConfigError
        If ``node_modules`` or the anvil binary in it is missing (run ``npm ci``).
    """
    modules = node_modules if node_modules is not None else find_node_modules()
    exe = "anvil.exe" if sys.platform == "win32" else "anvil"
    candidates = [
        modules / "@foundry-rs" / _platform_package() / "bin" / exe,
        # Where @foundry-rs/anvil's postinstall puts a binary it had to download itself.
        modules / "@foundry-rs" / "anvil" / exe,
    ]
    for path in candidates:
        if path.is_file():
            return path
    raise ConfigError(
        f"the anvil binary is not installed (looked for {candidates[0]}); {_NPM_HINT}"
    )


def _rpc_post(url: str, method: str, params: list[Any], timeout: float) -> Any:
    """POST one JSON-RPC request with urllib; return its ``result`` or raise ChainError."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
    request = urllib.request.Request(
        url, data=body.encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        reply = json.loads(response.read())
    if "error" in reply:
        raise ChainError(f"{method} failed at {redact_url(url)}: {reply['error']}")
    return reply.get("result")


def _make_web3(url: str, timeout: float) -> Web3:
    provider = HTTPProvider(
        url, request_kwargs={"timeout": timeout}, exception_retry_configuration=None
    )
    return Web3(provider)


def attach(url: str, timeout: float = 5.0) -> Web3:
    """Return a :class:`web3.Web3` for the JSON-RPC endpoint at ``url``, checked to answer.

    Parameters
    ----------
    url
        HTTP(S) JSON-RPC URL (an anvil node, a fork, or a remote endpoint).
    timeout
        Seconds to wait for the ``eth_chainId`` check and, later, for each request.

    Raises
    ------
    ChainError
        If nothing answers ``eth_chainId`` at ``url``. The message names the URL with
        credentials, query string and path removed (see :func:`redact_url`).
    """
    safe = redact_url(url)
    scheme = urlsplit(url).scheme.lower() if "://" in url else ""
    if scheme not in ("http", "https"):
        raise ChainError(f"cannot attach to {safe}: only http:// and https:// URLs are supported")
    w3 = _make_web3(url, timeout)
    try:
        chain_id = w3.eth.chain_id
    except Exception as exc:
        # ``from None``: the underlying exception text repeats the full URL, secrets included.
        raise ChainError(
            f"no JSON-RPC node answered eth_chainId at {safe} within {timeout:g} s "
            f"({type(exc).__name__}); is the node running and the URL right?"
        ) from None
    logger.debug("attached to %s (chain id %d)", safe, chain_id)
    return w3


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Ask Linux to SIGTERM the child when the thread that started it ends.

    Loaded in the parent (``_LIBC``) so that the forked child imports nothing.
    """
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class AnvilNode:
    """A local anvil node on a free loopback port, stopped reliably.

    Parameters
    ----------
    chain_id
        Chain id the node reports (31337 by default).
    mnemonic
        Mnemonic of the dev accounts (anvil's public test mnemonic by default).
        It is never logged or shown.
    accounts
        Number of unlocked dev accounts.
    balance_eth
        Ether balance of each dev account.
    manual_mining
        Turn automine off once started (``evm_setAutomine false``): transactions stay
        pending until :meth:`mine`.
    startup_timeout
        Seconds to wait for anvil to answer ``eth_chainId``.
    stop_timeout
        Seconds to wait after SIGTERM before killing the process.
    request_timeout
        Seconds allowed for each JSON-RPC request made through :attr:`w3`.
    extra_args
        Further anvil command-line arguments (e.g. ``["--hardfork", "cancun"]``).
    node_modules
        Where to find anvil; see :func:`anvil_binary`.

    Examples
    --------
    >>> with AnvilNode() as node:  # doctest: +SKIP
    ...     tx = node.w3.eth.send_transaction({"from": node.accounts[0], ...})
    ...     node.mine()
    """

    def __init__(
        self,
        *,
        chain_id: int = DEFAULT_CHAIN_ID,
        mnemonic: str = DEFAULT_MNEMONIC,
        accounts: int = 10,
        balance_eth: int = 10_000,
        manual_mining: bool = True,
        startup_timeout: float = 15.0,
        stop_timeout: float = 5.0,
        request_timeout: float = 30.0,
        extra_args: list[str] | None = None,
        node_modules: Path | None = None,
    ) -> None:
        if chain_id <= 0:
            raise ConfigError(f"chain_id must be positive, got {chain_id}")
        if accounts <= 0:
            raise ConfigError(f"accounts must be positive, got {accounts}")
        if not mnemonic.strip():
            raise ConfigError("mnemonic must not be empty")
        self.chain_id = chain_id
        self._mnemonic = mnemonic
        self.n_accounts = accounts
        self.balance_eth = balance_eth
        self.manual_mining = manual_mining
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.request_timeout = request_timeout
        self.extra_args = list(extra_args or [])
        self._node_modules = node_modules
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._port: int | None = None
        self._w3: Web3 | None = None
        self._accounts: list[str] = []
        self._lock = threading.Lock()

    # -- life cycle -----------------------------------------------------------------------

    def start(self) -> Self:
        """Start anvil, wait until it answers and apply the mining mode; return ``self``.

        Raises
        ------
        ConfigError
            If the anvil binary is not installed.
        ChainError
            If anvil exits or does not answer within ``startup_timeout`` (twice, when
            the first failure looks like another process taking the chosen port).
        """
        with self._lock:
            if self._proc is not None:
                raise ChainError("this AnvilNode is already running; stop() it first")
            binary = anvil_binary(self._node_modules)
            for attempt in (1, 2):
                try:
                    self._launch(binary)
                    break
                except ChainError as exc:
                    self._terminate()
                    if attempt == 2 or "in use" not in str(exc).lower():
                        raise
                    logger.debug("anvil lost its port to another process; retrying once")
                except BaseException:  # Popen failure, KeyboardInterrupt: leave nothing behind
                    self._terminate()
                    raise
            atexit.register(self.stop)
        try:
            self._w3 = _make_web3(self.url, self.request_timeout)
            self._accounts = list(self._w3.eth.accounts)
            if self.manual_mining:
                self.rpc("evm_setAutomine", False)
        except BaseException:
            self.stop()
            raise
        logger.info("anvil started at %s (pid %d, chain id %d)", self.url, self.pid, self.chain_id)
        return self

    def _launch(self, binary: Path) -> None:
        port = _free_port()
        cmd = [
            str(binary),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--chain-id",
            str(self.chain_id),
            "--accounts",
            str(self.n_accounts),
            "--balance",
            str(self.balance_eth),
            "--mnemonic",
            self._mnemonic,
            "--silent",
            *self.extra_args,
        ]
        # Closed in _terminate(); a file (not a pipe) so that anvil can never block on it.
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115
        use_pdeathsig = (
            sys.platform == "linux" and threading.current_thread() is threading.main_thread()
        )
        self._port = port
        self._proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
            preexec_fn=_die_with_parent if use_pdeathsig else None,
            close_fds=True,
        )
        deadline = time.monotonic() + self.startup_timeout
        last_error = "no answer yet"
        while True:
            code = self._proc.poll()
            if code is not None:
                raise ChainError(
                    f"anvil exited with code {code} before answering on port {port}; "
                    f"its stderr ends with: {self._stderr_tail() or '(nothing)'}"
                )
            try:
                answer = _rpc_post(self.url, "eth_chainId", [], timeout=0.5)
                if int(answer, 16) != self.chain_id:
                    raise ChainError(
                        f"the node at {self.url} reports chain id {int(answer, 16)}, "
                        f"expected {self.chain_id}; another process may own the port (in use)"
                    )
                if self._proc.poll() is not None:
                    raise ChainError(
                        f"anvil exited right after starting; port {port} is in use by "
                        f"another process: {self._stderr_tail() or '(no stderr)'}"
                    )
                return
            except (OSError, ValueError, urllib.error.URLError) as exc:
                last_error = type(exc).__name__
            if time.monotonic() > deadline:
                raise ChainError(
                    f"anvil did not answer eth_chainId at {self.url} within "
                    f"{self.startup_timeout:g} s ({last_error}); its stderr ends with: "
                    f"{self._stderr_tail() or '(nothing)'}"
                )
            time.sleep(0.02)

    def _stderr_tail(self, limit: int = 2000) -> str:
        if self._stderr is None:
            return ""
        try:
            self._stderr.seek(0)
            text = self._stderr.read().decode(errors="replace")
        except (OSError, ValueError):
            return ""
        text = text.replace(self._mnemonic, "<mnemonic>")
        text = _HEX32.sub("<redacted-32-bytes>", text)
        return text[-limit:].strip()

    def _terminate(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                logger.warning("anvil (pid %d) ignored SIGTERM; killing it", proc.pid)
                proc.kill()
                proc.wait()
        elif proc is not None:
            proc.wait()
        if self._stderr is not None:
            with contextlib.suppress(OSError):
                self._stderr.close()
            self._stderr = None

    def stop(self) -> None:
        """Stop the node: SIGTERM, then SIGKILL after ``stop_timeout``; safe to call twice."""
        with self._lock:
            running = self._proc is not None
            self._terminate()
            self._w3 = None
            with contextlib.suppress(Exception):
                atexit.unregister(self.stop)
        if running:
            logger.info("anvil stopped (port %s)", self._port)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"running at {self.url}" if self.running else "stopped"
        return f"AnvilNode(chain_id={self.chain_id}, {state})"

    # -- access ---------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether the anvil process is alive."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int:
        """Process id of the running anvil."""
        if self._proc is None:
            raise ChainError("the node is not running")
        return self._proc.pid

    @property
    def port(self) -> int:
        """Loopback port the node listens on."""
        if self._port is None:
            raise ChainError("the node has not been started")
        return self._port

    @property
    def url(self) -> str:
        """HTTP JSON-RPC URL of the node."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def w3(self) -> Web3:
        """A :class:`web3.Web3` connected to the node over HTTP."""
        if self._w3 is None or not self.running:
            raise ChainError("the node is not running; use it inside `with AnvilNode() as node:`")
        return self._w3

    @property
    def accounts(self) -> list[str]:
        """Checksum addresses of the unlocked dev accounts (``eth_accounts``)."""
        return list(self._accounts)

    # -- JSON-RPC helpers -----------------------------------------------------------------

    def rpc(self, method: str, *params: Any) -> Any:
        """Call a JSON-RPC ``method`` on the node and return its result.

        Raises
        ------
        ChainError
            If the node answers with an error.
        """
        response = self.w3.provider.make_request(RPCEndpoint(method), list(params))
        if "error" in response:
            raise ChainError(f"{method} failed on {self.url}: {response['error']}")
        return response.get("result")

    def mine(self, n: int = 1) -> int:
        """Mine ``n`` blocks (including pending transactions); return the new block number."""
        if n < 1:
            raise ConfigError(f"n must be at least 1, got {n}")
        self.rpc("anvil_mine", hex(n))
        return int(self.w3.eth.block_number)

    def set_automine(self, enabled: bool) -> None:
        """Switch automine on (a block per transaction) or off (blocks only on :meth:`mine`)."""
        self.rpc("evm_setAutomine", enabled)
        self.manual_mining = not enabled

    def snapshot(self) -> str:
        """Record the chain state; return the id that :meth:`revert` takes."""
        return str(self.rpc("evm_snapshot"))

    def revert(self, snapshot_id: str) -> bool:
        """Restore the state recorded by :meth:`snapshot` (each id can be used once).

        Returns
        -------
        bool
            ``True`` when the node reverted, ``False`` for an unknown or used id.
        """
        return bool(self.rpc("evm_revert", snapshot_id))
