"""Compile the project's Solidity sources with the pinned solc-js, caching the result.

The compiler is the npm package ``solc`` pinned in the project's ``package.json``
(``npm ci`` in the project root installs it; it is the Emscripten build of solc, run
by Node.js, so nothing is downloaded at run time). :func:`compile_contracts` sends a
standard-JSON input to a small Node driver on stdin and reads the standard-JSON output
on stdout (``subprocess.run`` with a timeout, no shell).

Sources: by default every ``*.sol`` file under the project's ``contracts/`` folder
(beside the ``arbkit`` package). Each file's source unit name is its path relative to
the project root (``contracts/ArbkitToken.sol``), or its absolute path when it lies
outside; relative imports between the files given resolve among them. No import
callback is installed, so an import of a file that is not among the sources is a
compile error (pass that file in ``sources`` too).

Output: ``{contract_name: {"abi", "bytecode", "deployed_bytecode"}}``, the shape
:func:`arbkit.chain.uniswap.load_artifact` returns (``0x``-prefixed lower-case hex;
``"0x"`` for interfaces and abstract contracts). :func:`deploy_compiled` deploys one.

Errors: a Solidity error raises :class:`SolidityError` (both a
:class:`~arbkit.chain.node.ChainError` and a :class:`~arbkit.errors.DataError`) whose
message lists every error as ``file:line:column: Type: message``; warnings are logged
(logger ``arbkit.chain.solidity``) and do not stop the build. Without ``node`` on
``PATH`` or without the ``solc`` package, :class:`~arbkit.errors.ConfigError` says to
install Node.js 20 and run ``npm ci``.

Cache: a result is stored as ``solc-<key>.json`` under ``cache_dir`` (default
``build/contracts/`` in the project root), written atomically. ``key`` is the sha256 of
a canonical JSON document holding the cache format, the solc package version and the
sha256 of its ``soljson.js``, the compiler settings, and every source's unit name and
sha256 of its bytes, so changing any of them misses. A hit is read without running Node.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eth_typing import ChecksumAddress
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.types import TxParams

from arbkit.chain.node import ChainError, find_node_modules
from arbkit.chain.uniswap import GAS_DEPLOY, mine_and_wait
from arbkit.errors import ConfigError, DataError
from arbkit.io import sha256_file, write_atomic

__all__ = [
    "DEFAULT_EVM_VERSION",
    "SOLC_PACKAGE",
    "SolidityError",
    "compile_contracts",
    "contracts_dir",
    "default_cache_dir",
    "deploy_compiled",
    "load_contract",
    "solc_version",
]

logger = logging.getLogger(__name__)

#: npm package of the compiler (solc-js).
SOLC_PACKAGE = "solc"
#: EVM version compiled for: supported by anvil and by every chain arbkit talks to.
DEFAULT_EVM_VERSION = "cancun"
#: Seconds allowed for one run of the Node driver.
NODE_TIMEOUT = 180.0
#: Bumped when the cache file's layout changes.
CACHE_FORMAT = 1

_PROJECT_ROOT = Path(__file__).resolve().parents[2]
_INSTALL_HINT = "install Node.js 20 and run `npm ci` in the project root"
_MAX_LISTED_ERRORS = 25
_OUTPUT_SELECTION = ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]

# argv[1]: path of the solc package; argv[2]: "version" or "compile" (input on stdin).
_DRIVER = r"""
const fs = require('fs');
const solc = require(process.argv[1]);
const version = JSON.stringify(solc.version());
if (process.argv[2] === 'version') {
  process.stdout.write('{"version":' + version + '}');
} else {
  const output = solc.compile(fs.readFileSync(0, 'utf8'));
  process.stdout.write('{"version":' + version + ',"output":' + output + '}');
}
"""


class SolidityError(ChainError, DataError):
    """solc rejected a source; the message lists each error as ``file:line:col: ...``."""


# -- locations ---------------------------------------------------------------------------


def contracts_dir() -> Path:
    """Return the project's ``contracts/`` folder (beside the ``arbkit`` package)."""
    return _PROJECT_ROOT / "contracts"


def default_cache_dir() -> Path:
    """Return the default cache folder, ``build/contracts/`` in the project root."""
    return _PROJECT_ROOT / "build" / "contracts"


def _solc_dir() -> Path:
    try:
        modules = find_node_modules()
    except ConfigError as exc:
        raise ConfigError(f"the solc compiler (npm package solc) is unavailable: {exc}") from None
    package = modules / SOLC_PACKAGE
    if not (package / "package.json").is_file() or not (package / "soljson.js").is_file():
        raise ConfigError(f"the npm package solc is not installed in {modules}; {_INSTALL_HINT}")
    return package


def _node_binary() -> str:
    node = shutil.which("node")
    if node is None:
        raise ConfigError(f"Node.js (`node`) was not found on PATH; {_INSTALL_HINT}")
    return node


@functools.lru_cache(maxsize=8)
def _solc_identity(package: Path, size: int, mtime_ns: int) -> tuple[str, str]:
    """Return (package version, sha256 of soljson.js); memoised per file state."""
    try:
        meta = json.loads((package / "package.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(
            f"{package / 'package.json'} is unreadable ({exc}); {_INSTALL_HINT}"
        ) from None
    version = meta.get("version") if isinstance(meta, dict) else None
    if not isinstance(version, str) or not version:
        raise ConfigError(f"{package / 'package.json'} has no version; {_INSTALL_HINT}")
    return version, sha256_file(package / "soljson.js")


def _identity(package: Path) -> tuple[str, str]:
    stat = (package / "soljson.js").stat()
    return _solc_identity(package, stat.st_size, stat.st_mtime_ns)


# -- running Node ------------------------------------------------------------------------


def _run_driver(mode: str, stdin: str = "") -> dict[str, Any]:
    package = _solc_dir()
    node = _node_binary()
    cmd = [node, "-e", _DRIVER, str(package), mode]
    try:
        proc = subprocess.run(
            cmd,
            input=stdin.encode("utf-8"),
            capture_output=True,
            timeout=NODE_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ChainError(f"solc-js did not finish within {NODE_TIMEOUT:g} s") from None
    except OSError as exc:
        raise ConfigError(f"cannot run Node.js at {node} ({exc}); {_INSTALL_HINT}") from None
    stderr = proc.stderr.decode("utf-8", errors="replace").strip()
    if proc.returncode != 0:
        raise ChainError(
            f"solc-js (node {mode}) exited with code {proc.returncode}: "
            f"{stderr[-2000:] or '(no stderr)'}"
        )
    try:
        reply = json.loads(proc.stdout)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        head = proc.stdout[:200].decode("utf-8", errors="replace")
        raise ChainError(f"solc-js printed no JSON ({exc}); stdout starts with {head!r}") from None
    if not isinstance(reply, dict) or not isinstance(reply.get("version"), str):
        raise ChainError("solc-js answered without a version")
    return reply


def solc_version() -> str:
    """Return the long version of the installed solc-js, e.g. ``0.8.37+commit.f401782d...``.

    Runs Node once per state of the installed compiler (the answer is memoised).

    Raises
    ------
    ConfigError
        If ``node`` or the npm package ``solc`` is missing.
    """
    package = _solc_dir()
    stat = (package / "soljson.js").stat()
    return _solc_long_version(package, stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=8)
def _solc_long_version(package: Path, size: int, mtime_ns: int) -> str:
    version: str = _run_driver("version")["version"]
    return version


# -- sources and cache key ---------------------------------------------------------------


def _unit_name(path: Path) -> str:
    try:
        return path.relative_to(_PROJECT_ROOT).as_posix()
    except ValueError:
        return path.as_posix()


def _read_sources(sources: Sequence[Path | str] | None) -> dict[str, bytes]:
    if sources is None:
        folder = contracts_dir()
        if not folder.is_dir():
            raise ConfigError(f"the contracts folder {folder} does not exist")
        paths = sorted(folder.rglob("*.sol"))
        if not paths:
            raise DataError(f"no *.sol files under {folder}")
    else:
        paths = [Path(p).expanduser() for p in sources]
        if not paths:
            raise DataError("compile_contracts got an empty list of sources")
    result: dict[str, bytes] = {}
    for path in paths:
        resolved = path.resolve()
        if not resolved.is_file():
            raise DataError(f"Solidity source {path} not found")
        try:
            data = resolved.read_bytes()
            data.decode("utf-8")
        except OSError as exc:
            raise DataError(f"cannot read Solidity source {path}: {exc}") from exc
        except UnicodeDecodeError as exc:
            raise DataError(f"Solidity source {path} is not UTF-8 ({exc})") from None
        result[_unit_name(resolved)] = data
    return dict(sorted(result.items()))


def _settings(optimize_runs: int, evm_version: str) -> dict[str, Any]:
    if isinstance(optimize_runs, bool) or not isinstance(optimize_runs, int):
        raise ConfigError(f"optimize_runs must be an int, got {optimize_runs!r}")
    if not 0 <= optimize_runs < 2**32:
        raise ConfigError(f"optimize_runs must be in [0, 2**32), got {optimize_runs}")
    return {
        "optimizer": {"enabled": True, "runs": optimize_runs},
        "evmVersion": evm_version,
        "outputSelection": {"*": {"*": list(_OUTPUT_SELECTION)}},
    }


def _cache_key(
    identity: tuple[str, str], settings: dict[str, Any], sources: dict[str, bytes]
) -> str:
    document = {
        "format": CACHE_FORMAT,
        "solc": {"version": identity[0], "soljson_sha256": identity[1]},
        "settings": settings,
        "sources": [[name, hashlib.sha256(data).hexdigest()] for name, data in sources.items()],
    }
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _read_cache(path: Path, key: str) -> dict[str, dict[str, Any]] | None:
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or data.get("key") != key:
            raise ValueError("the key does not match")
        contracts = data["contracts"]
        if not isinstance(contracts, dict) or not all(
            isinstance(a, dict) and {"abi", "bytecode", "deployed_bytecode"} <= a.keys()
            for a in contracts.values()
        ):
            raise ValueError("malformed contracts")
    except (OSError, UnicodeDecodeError, ValueError, KeyError) as exc:
        logger.warning("ignoring unusable solc cache file %s (%s); recompiling", path, exc)
        return None
    return contracts


# -- compiling ---------------------------------------------------------------------------


def _line_col(source: bytes | None, offset: object) -> tuple[int, int] | None:
    if source is None or not isinstance(offset, int) or offset < 0:
        return None
    head = source[:offset]
    line = head.count(b"\n") + 1
    col = len(head) - (head.rfind(b"\n") + 1) + 1
    return line, col


def _describe(error: dict[str, Any], sources: dict[str, bytes]) -> str:
    kind = error.get("type") or error.get("severity") or "Error"
    message = str(error.get("message") or error.get("formattedMessage") or "").strip()
    where = error.get("sourceLocation")
    if isinstance(where, dict) and where.get("file"):
        file = str(where["file"])
        position = _line_col(sources.get(file), where.get("start"))
        place = f"{file}:{position[0]}:{position[1]}" if position else file
    else:
        place = "<solc>"
    return f"{place}: {kind}: {message}"


def _hex(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise ChainError(f"solc output for {where} has no bytecode string")
    text = value[2:] if value.startswith(("0x", "0X")) else value
    return "0x" + text.lower()


def _collect(output: dict[str, Any]) -> dict[str, dict[str, Any]]:
    contracts: dict[str, dict[str, Any]] = {}
    origin: dict[str, str] = {}
    by_file = output.get("contracts") or {}
    for file in sorted(by_file):
        for name in sorted(by_file[file]):
            entry = by_file[file][name]
            where = f"{file}:{name}"
            if name in contracts:
                raise DataError(
                    f"contract name {name} is defined in both {origin[name]} and {file}; "
                    "rename one (artifacts are keyed by contract name)"
                )
            evm = entry.get("evm") or {}
            contracts[name] = {
                "abi": entry.get("abi") or [],
                "bytecode": _hex((evm.get("bytecode") or {}).get("object"), where),
                "deployed_bytecode": _hex((evm.get("deployedBytecode") or {}).get("object"), where),
            }
            origin[name] = file
    return contracts


def _compile(
    sources: dict[str, bytes], settings: dict[str, Any], expected_version: str
) -> tuple[str, dict[str, dict[str, Any]], list[str]]:
    standard_input = {
        "language": "Solidity",
        "sources": {name: {"content": data.decode("utf-8")} for name, data in sources.items()},
        "settings": settings,
    }
    reply = _run_driver("compile", json.dumps(standard_input))
    version = str(reply["version"])
    if not version.startswith(expected_version):
        logger.warning(
            "solc-js reports version %s but its package.json says %s", version, expected_version
        )
    output = reply.get("output")
    if not isinstance(output, dict):
        raise ChainError("solc-js returned no standard-JSON output")
    problems = [e for e in output.get("errors") or [] if isinstance(e, dict)]
    errors = [_describe(e, sources) for e in problems if e.get("severity") == "error"]
    warnings = [_describe(e, sources) for e in problems if e.get("severity") == "warning"]
    if errors:
        shown = errors[:_MAX_LISTED_ERRORS]
        more = len(errors) - len(shown)
        tail = f"\n... and {more} more" if more else ""
        raise SolidityError(
            f"solc {version} found {len(errors)} error(s) in {', '.join(sources)}:\n"
            + "\n".join(shown)
            + tail
        )
    return version, _collect(output), warnings


def compile_contracts(
    sources: Sequence[Path | str] | None = None,
    *,
    optimize_runs: int = 200,
    cache_dir: Path | None = None,
    evm_version: str = DEFAULT_EVM_VERSION,
) -> dict[str, dict[str, Any]]:
    """Compile Solidity sources with the pinned solc-js; reuse the on-disk cache on a hit.

    Parameters
    ----------
    sources
        ``.sol`` files to compile together; every ``*.sol`` under the project's
        ``contracts/`` folder when omitted.
    optimize_runs
        The optimizer's ``runs`` setting (the optimizer is always on).
    cache_dir
        Folder of the cache files; ``build/contracts/`` in the project root by default.
    evm_version
        Target EVM version (:data:`DEFAULT_EVM_VERSION` by default).

    Returns
    -------
    dict
        ``{contract_name: {"abi": list, "bytecode": "0x...", "deployed_bytecode": "0x..."}}``
        for every contract, interface and library in the sources.

    Raises
    ------
    SolidityError
        If solc reports an error; the message lists each as ``file:line:col: Type: msg``.
    ConfigError
        If Node.js or the npm package ``solc`` is missing (on a cache miss), or an
        argument is invalid.
    DataError
        If a source is missing or not UTF-8, or two contracts share a name.
    ChainError
        If the Node driver crashes or times out.
    """
    settings = _settings(optimize_runs, evm_version)
    texts = _read_sources(sources)
    package = _solc_dir()
    identity = _identity(package)
    key = _cache_key(identity, settings, texts)
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    cache_file = folder / f"solc-{key}.json"
    cached = _read_cache(cache_file, key)
    if cached is not None:
        logger.debug("solc cache hit %s", cache_file)
        return cached
    version, contracts, warnings = _compile(texts, settings, identity[0])
    for warning in warnings:
        logger.warning("solc: %s", warning)
    record = {
        "format": CACHE_FORMAT,
        "key": key,
        "solc_version": version,
        "settings": settings,
        "sources": list(texts),
        "warnings": warnings,
        "contracts": contracts,
    }
    write_atomic(cache_file, json.dumps(record, indent=1, sort_keys=True).encode("utf-8"))
    logger.info(
        "compiled %d contract(s) from %d source(s) with solc %s into %s",
        len(contracts),
        len(texts),
        version,
        cache_file,
    )
    return contracts


def load_contract(
    name: str,
    *,
    sources: Sequence[Path | str] | None = None,
    optimize_runs: int = 200,
    cache_dir: Path | None = None,
) -> dict[str, Any]:
    """Compile (cached) and return the artifact of contract ``name``.

    Raises
    ------
    DataError
        If no source defines ``name`` (the message lists the contracts found).
    """
    contracts = compile_contracts(sources, optimize_runs=optimize_runs, cache_dir=cache_dir)
    if name not in contracts:
        raise DataError(
            f"no contract named {name!r} in the compiled sources; found: "
            f"{', '.join(sorted(contracts)) or 'none'}"
        )
    return contracts[name]


def deploy_compiled(
    w3: Web3,
    deployer: str,
    contract: str | dict[str, Any],
    *args: Any,
    gas: int = GAS_DEPLOY,
    cache_dir: Path | None = None,
) -> Contract:
    """Deploy a compiled contract (a name for :func:`load_contract`, or its artifact).

    Works with automine on or off (see :func:`arbkit.chain.uniswap.mine_and_wait`).

    Raises
    ------
    DataError
        If the contract is unknown or has no creation code (an interface).
    ChainError
        If the deployment reverts.
    """
    artifact = (
        load_contract(contract, cache_dir=cache_dir) if isinstance(contract, str) else contract
    )
    what = contract if isinstance(contract, str) else "the contract"
    if len(artifact.get("bytecode", "")) <= 2:
        raise DataError(f"{what} has no creation code (an interface or abstract contract?)")
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    tx: TxParams = {"from": Web3.to_checksum_address(deployer), "gas": gas}
    tx_hash = HexBytes(factory.constructor(*args).transact(tx))
    (receipt,) = mine_and_wait(w3, [tx_hash])
    address: ChecksumAddress | None = receipt.get("contractAddress")
    if not address:
        raise ChainError(f"deploying {what} produced no contract address")
    return w3.eth.contract(address=address, abi=artifact["abi"])
