"""Aqua's four events, decoded exactly from web3 logs with eth-abi.

1inch Aqua (``balances[maker][app][strategyHash][token]``) emits four events, none of
whose parameters is indexed: a log has topic0 only and every field is ABI-encoded in its
data (``../shared/reference/protocols.md``):

- ``Shipped(address maker, address app, bytes32 strategyHash, bytes strategy)``
- ``Docked(address maker, address app, bytes32 strategyHash)``
- ``Pulled(address maker, address app, bytes32 strategyHash, address token, uint256 amount)``
- ``Pushed(address maker, address app, bytes32 strategyHash, address token, uint256 amount)``

:func:`decode_aqua_log` turns one log into one typed event (:class:`Shipped`,
:class:`Docked`, :class:`Pulled`, :class:`Pushed`) and refuses anything else with an
:class:`AquaLogError` naming the transaction and the log index: a log from an address
that is not configured, an unknown or extra topic, data of the wrong length, a
truncated or non-canonical ``bytes`` field, dirty address padding, or a ``Shipped``
whose ``strategyHash`` is not ``keccak256(strategy)``.

:func:`encode_aqua_log` is the inverse (the log a contract would emit);
:func:`events_from_history` reads the ``aqua_events`` table of a market history.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import polars as pl
from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak

from arbkit.aqua.config import DEFAULT_AQUA_ADDRESSES
from arbkit.errors import DataError

__all__ = [
    "AQUA_EVENT_TYPES",
    "AQUA_SIGNATURES",
    "AQUA_TOPIC0",
    "AquaEvent",
    "AquaLogError",
    "Docked",
    "Pulled",
    "Pushed",
    "Shipped",
    "aqua_event_from_row",
    "decode_aqua_log",
    "encode_aqua_log",
    "events_from_history",
    "order_events",
    "token_address",
]

EventName = Literal["Shipped", "Docked", "Pulled", "Pushed"]

AQUA_EVENT_TYPES: Mapping[str, tuple[tuple[str, str], ...]] = {
    "Shipped": (
        ("maker", "address"),
        ("app", "address"),
        ("strategyHash", "bytes32"),
        ("strategy", "bytes"),
    ),
    "Docked": (("maker", "address"), ("app", "address"), ("strategyHash", "bytes32")),
    "Pulled": (
        ("maker", "address"),
        ("app", "address"),
        ("strategyHash", "bytes32"),
        ("token", "address"),
        ("amount", "uint256"),
    ),
    "Pushed": (
        ("maker", "address"),
        ("app", "address"),
        ("strategyHash", "bytes32"),
        ("token", "address"),
        ("amount", "uint256"),
    ),
}
"""Each event's non-indexed inputs, ``(name, ABI type)``, as in IAqua's ABI."""

AQUA_SIGNATURES: Mapping[str, str] = {
    name: f"{name}({','.join(t for _, t in fields)})" for name, fields in AQUA_EVENT_TYPES.items()
}
"""Each event's canonical signature, e.g. ``Docked(address,address,bytes32)``."""

AQUA_TOPIC0: Mapping[str, str] = {
    name: "0x" + keccak(text=sig).hex() for name, sig in AQUA_SIGNATURES.items()
}
"""Each event's topic0 (``keccak256`` of its signature), 0x-prefixed lower-case hex."""

_BY_TOPIC: dict[bytes, str] = {bytes.fromhex(t[2:]): n for n, t in AQUA_TOPIC0.items()}
_TYPES: dict[str, list[str]] = {n: [t for _, t in f] for n, f in AQUA_EVENT_TYPES.items()}
_STATIC_SIZE = {"Docked": 96, "Pulled": 160, "Pushed": 160}
_ZERO12 = bytes(12)


class AquaLogError(DataError):
    """An Aqua log is malformed, unknown or from an address that is not configured."""


@dataclass(frozen=True, slots=True)
class AquaEvent:
    """Fields every Aqua event has, and where the log came from.

    Attributes
    ----------
    maker, app
        The maker and the app (lower-case 0x addresses).
    strategy_hash
        ``keccak256(strategy)``, 0x-prefixed lower-case hex (32 bytes).
    address
        The contract that emitted the log (lower case).
    block, tx_hash, log_index
        Where the log is: block number, transaction hash (0x hex), index in the block.
    """

    name: ClassVar[EventName]

    maker: str
    app: str
    strategy_hash: str
    address: str
    block: int
    tx_hash: str
    log_index: int

    @property
    def key(self) -> tuple[int, int]:
        """Order of the log on its chain: ``(block, log_index)``."""
        return (self.block, self.log_index)

    @property
    def strategy_key(self) -> tuple[str, str, str]:
        """The strategy the event is about: ``(maker, app, strategy_hash)``."""
        return (self.maker, self.app, self.strategy_hash)


@dataclass(frozen=True, slots=True)
class Shipped(AquaEvent):
    """A maker shipped a strategy (its allocation follows as ``Pushed`` in the same tx)."""

    name: ClassVar[EventName] = "Shipped"
    strategy: bytes


@dataclass(frozen=True, slots=True)
class Docked(AquaEvent):
    """A maker docked a strategy: its balances are released (the event has no amounts)."""

    name: ClassVar[EventName] = "Docked"


@dataclass(frozen=True, slots=True)
class Pulled(AquaEvent):
    """``amount`` of ``token`` left the maker's strategy (to a taker, through the app)."""

    name: ClassVar[EventName] = "Pulled"
    token: str
    amount: int


@dataclass(frozen=True, slots=True)
class Pushed(AquaEvent):
    """``amount`` of ``token`` entered the maker's strategy (an allocation or a taker's)."""

    name: ClassVar[EventName] = "Pushed"
    token: str
    amount: int


_CLASSES: dict[str, type[AquaEvent]] = {
    "Shipped": Shipped,
    "Docked": Docked,
    "Pulled": Pulled,
    "Pushed": Pushed,
}


def _hex(value: Any) -> str:
    if isinstance(value, str):
        return value.lower() if value.startswith(("0x", "0X")) else "0x" + value.lower()
    return "0x" + bytes(value).hex()


def _bytes(value: Any) -> bytes:
    if isinstance(value, str):
        return bytes.fromhex(value[2:] if value.startswith(("0x", "0X")) else value)
    return bytes(value)


def _field(log: Mapping[str, Any], *names: str) -> Any:
    for n in names:
        if n in log and log[n] is not None:
            return log[n]
    return None


def _address_ok(word: bytes) -> bool:
    return word[:12] == _ZERO12


def decode_aqua_log(
    log: Mapping[str, Any],
    addresses: Iterable[str] | None = DEFAULT_AQUA_ADDRESSES,
) -> AquaEvent:
    """Decode one Aqua log into its typed event.

    Parameters
    ----------
    log
        A web3 log (``AttributeDict`` or mapping) with ``address``, ``topics``, ``data``,
        ``blockNumber``, ``transactionHash`` and ``logIndex``; hex strings or bytes.
    addresses
        The configured Aqua contracts; a log from any other address is refused.
        ``None`` accepts any address (for logs already filtered by address).

    Returns
    -------
    AquaEvent
        A :class:`Shipped`, :class:`Docked`, :class:`Pulled` or :class:`Pushed`.

    Raises
    ------
    AquaLogError
        If the log is not a well-formed Aqua event from a configured address; the message
        names the transaction, the log index and the block.
    """
    tx = _field(log, "transactionHash", "transaction_hash", "tx_hash")
    where_tx = _hex(tx) if tx is not None else "?"
    log_index = _field(log, "logIndex", "log_index")
    block = _field(log, "blockNumber", "block_number", "block")
    where = f"Aqua log (tx {where_tx}, log index {log_index}, block {block})"
    if tx is None or log_index is None or block is None:
        raise AquaLogError(f"{where}: missing transactionHash, logIndex or blockNumber")
    address = _field(log, "address")
    if address is None:
        raise AquaLogError(f"{where}: no address")
    address = _hex(address)
    if addresses is not None:
        allowed = {a.lower() for a in addresses}
        if address not in allowed:
            raise AquaLogError(f"{where}: address {address} is not a configured Aqua contract")
    topics = _field(log, "topics") or []
    if len(topics) != 1:
        raise AquaLogError(
            f"{where}: {len(topics)} topics; Aqua events have topic0 only (nothing indexed)"
        )
    topic0 = _bytes(topics[0])
    name = _BY_TOPIC.get(topic0)
    if name is None:
        raise AquaLogError(f"{where}: unknown topic0 0x{topic0.hex()}")
    data = _bytes(_field(log, "data") or b"")
    static = _STATIC_SIZE.get(name)
    if static is not None and len(data) != static:
        raise AquaLogError(f"{where}: {name} data is {len(data)} bytes, expected {static}")
    if name == "Shipped":
        if len(data) < 160 or int.from_bytes(data[96:128], "big") != 128:
            raise AquaLogError(f"{where}: Shipped data is truncated or not canonically encoded")
        length = int.from_bytes(data[128:160], "big")
        padded = 160 + -(-length // 32) * 32
        if len(data) != padded:
            raise AquaLogError(
                f"{where}: Shipped strategy declares {length} bytes but the data holds "
                f"{len(data) - 160} (truncated or trailing bytes)"
            )
    for i, (_, abi_type) in enumerate(AQUA_EVENT_TYPES[name][:4]):
        if abi_type == "address" and not _address_ok(data[32 * i : 32 * i + 32]):
            raise AquaLogError(f"{where}: {name} field {i} is not a clean address word")
    try:
        values = abi_decode(_TYPES[name], data)
    except Exception as exc:  # eth-abi raises several types for malformed data
        raise AquaLogError(f"{where}: {name} data does not decode: {exc}") from None
    common = {
        "maker": values[0].lower(),
        "app": values[1].lower(),
        "strategy_hash": "0x" + values[2].hex(),
        "address": address,
        "block": int(block),
        "tx_hash": where_tx,
        "log_index": int(log_index),
    }
    if name == "Shipped":
        strategy = bytes(values[3])
        if keccak(strategy) != values[2]:
            raise AquaLogError(f"{where}: Shipped strategyHash is not keccak256(strategy)")
        return Shipped(**common, strategy=strategy)
    if name == "Docked":
        return Docked(**common)
    cls = Pulled if name == "Pulled" else Pushed
    return cls(**common, token=values[3].lower(), amount=int(values[4]))


def encode_aqua_log(event: AquaEvent) -> dict[str, Any]:
    """Return the web3-style log a contract emits for ``event`` (the inverse of decoding).

    Parameters
    ----------
    event
        Any Aqua event.

    Returns
    -------
    dict
        ``address``, ``topics`` (topic0 only), ``data`` (bytes), ``blockNumber``,
        ``transactionHash`` (bytes), ``logIndex`` and ``removed``.
    """
    name = event.name
    values: list[Any] = [event.maker, event.app, _bytes(event.strategy_hash)]
    if isinstance(event, Shipped):
        values.append(event.strategy)
    elif isinstance(event, Pulled | Pushed):
        values += [event.token, event.amount]
    return {
        "address": event.address,
        "topics": [bytes.fromhex(AQUA_TOPIC0[name][2:])],
        "data": abi_encode(_TYPES[name], values),
        "blockNumber": event.block,
        "transactionHash": _bytes(event.tx_hash),
        "logIndex": event.log_index,
        "removed": False,
    }


def token_address(symbol: str) -> str:
    """Return the stand-in address of a simulated token symbol (``keccak('arbkit:' + s)``).

    Simulated histories name tokens by symbol; events need addresses. A chain run maps
    symbols to its deployed tokens instead (``tokens=`` of :func:`events_from_history`).
    """
    return "0x" + keccak(text=f"arbkit:token:{symbol}")[-20:].hex()


def aqua_event_from_row(
    row: Mapping[str, Any],
    *,
    address: str,
    tokens: Mapping[str, str] | None = None,
) -> AquaEvent:
    """Build the event of one ``aqua_events`` row (see :func:`events_from_history`)."""
    name = row["event"]
    where = f"aqua_events row (block {row.get('block')}, log index {row.get('log_index')})"
    if name not in _CLASSES:
        raise DataError(f"{where}: unknown event {name!r}")
    common: dict[str, Any] = {
        "maker": str(row["maker"]).lower(),
        "app": str(row["app"]).lower(),
        "strategy_hash": str(row["strategy_hash"]).lower(),
        "address": address.lower(),
        "block": int(row["block"]),
        "tx_hash": str(row["tx_hash"]).lower(),
        "log_index": int(row["log_index"]),
    }
    if name == "Shipped":
        raw = row.get("strategy")
        if raw is None:
            raise DataError(
                f"{where}: a Shipped row needs the 'strategy' bytes (histories simulated "
                "before arbkit recorded them cannot be turned into logs; simulate again)"
            )
        return Shipped(**common, strategy=_bytes(raw))
    if name == "Docked":
        return Docked(**common)
    token, amount = row.get("token"), row.get("amount")
    if token is None or amount is None:
        raise DataError(f"{where}: a {name} row needs token and amount")
    token = str(token)
    if not token.startswith("0x"):
        token = (tokens or {}).get(token) or token_address(token)
    cls = Pulled if name == "Pulled" else Pushed
    return cls(**common, token=token.lower(), amount=int(amount))


def events_from_history(
    aqua_events: pl.DataFrame,
    *,
    address: str = DEFAULT_AQUA_ADDRESSES[0],
    tokens: Mapping[str, str] | None = None,
) -> list[AquaEvent]:
    """Return a history's ``aqua_events`` table as typed events, in log order.

    Parameters
    ----------
    aqua_events
        The table (``block``, ``tx_hash``, ``log_index``, ``event``, ``maker``, ``app``,
        ``strategy_hash``, ``token``, ``amount`` and, for ``Shipped``, ``strategy``).
    address
        The Aqua contract the events are attributed to.
    tokens
        Token symbol -> address; symbols not listed get :func:`token_address`.
    """
    rows = aqua_events.sort(["block", "log_index"]).iter_rows(named=True)
    return [aqua_event_from_row(r, address=address, tokens=tokens) for r in rows]


def order_events(events: Sequence[AquaEvent]) -> list[AquaEvent]:
    """Return ``events`` sorted by chain order ``(block, log_index)``."""
    return sorted(events, key=lambda e: e.key)
