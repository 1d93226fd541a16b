"""decode_aqua_log: exact against eth-abi and the real ABI; malformed logs refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from eth_abi.abi import encode
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from hypothesis import given, settings
from hypothesis import strategies as st
from web3.datastructures import AttributeDict

from arbkit.aqua import (
    AQUA_SIGNATURES,
    AQUA_TOPIC0,
    DEFAULT_AQUA_ADDRESSES,
    AquaLogError,
    Docked,
    Pulled,
    Pushed,
    Shipped,
    decode_aqua_log,
    encode_aqua_log,
)
from arbkit.aqua.events import AQUA_EVENT_TYPES, events_from_history

AQUA = DEFAULT_AQUA_ADDRESSES[0]
TX = "0x" + "ab" * 32

addresses = st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex())
common = {
    "maker": addresses,
    "app": addresses,
    "address": st.sampled_from(DEFAULT_AQUA_ADDRESSES),
    "block": st.integers(0, 2**40),
    "tx_hash": st.binary(min_size=32, max_size=32).map(lambda b: "0x" + b.hex()),
    "log_index": st.integers(0, 10_000),
}
hashes = st.binary(min_size=32, max_size=32).map(lambda b: "0x" + b.hex())


@st.composite
def shipped(draw: st.DrawFn) -> Shipped:
    strategy = draw(st.binary(max_size=300))
    fields = {k: draw(v) for k, v in common.items()}
    return Shipped(**fields, strategy_hash="0x" + keccak(strategy).hex(), strategy=strategy)


def _with_amount(cls: type[Pulled] | type[Pushed]) -> st.SearchStrategy[Any]:
    return st.builds(
        cls,
        **common,
        strategy_hash=hashes,
        token=addresses,
        amount=st.integers(0, 2**256 - 1),
    )


events = st.one_of(
    shipped(),
    st.builds(Docked, **common, strategy_hash=hashes),
    _with_amount(Pulled),
    _with_amount(Pushed),
)


@settings(max_examples=300, deadline=None)
@given(events)
def test_decoding_round_trips_logs_built_with_eth_abi(event: Any) -> None:
    log = encode_aqua_log(event)
    # the data is exactly eth-abi's encoding of the event's fields, topic0 only
    names = [n for n, _ in AQUA_EVENT_TYPES[event.name]]
    values: list[Any] = [event.maker, event.app, bytes.fromhex(event.strategy_hash[2:])]
    values += [getattr(event, n) for n in ("strategy", "token", "amount") if n in names]
    types = [t for _, t in AQUA_EVENT_TYPES[event.name]]
    assert log["data"] == encode(types, values)
    assert log["topics"] == [bytes.fromhex(AQUA_TOPIC0[event.name][2:])]
    assert decode_aqua_log(log) == event
    # as web3 hands it over: AttributeDict, HexBytes, checksum address
    web3_log = AttributeDict(
        {
            **log,
            "address": event.address.upper().replace("0X", "0x"),
            "topics": [HexBytes(t) for t in log["topics"]],
            "data": HexBytes(log["data"]),
            "transactionHash": HexBytes(log["transactionHash"]),
        }
    )
    assert decode_aqua_log(web3_log) == event


def test_topics_and_signatures_are_the_protocols(real_data: Path, require: Any) -> None:
    folder = require(real_data / "aqua_1inch_abi", "the real Aqua ABI (aqua_1inch_abi)")
    facts = json.loads((folder / "IAqua.topics_and_selectors.json").read_text())
    real = {f["signature"].split("(")[0]: f for f in facts if f["kind"] == "event"}
    assert set(real) == set(AQUA_TOPIC0)
    for name, fact in real.items():
        assert AQUA_SIGNATURES[name] == fact["signature"]
        assert AQUA_TOPIC0[name] == fact["topic0"]
    abi = json.loads((folder / "IAqua.abi.json").read_text())
    for item in (i for i in abi if i["type"] == "event"):
        assert [(x["name"], x["type"]) for x in item["inputs"]] == list(
            AQUA_EVENT_TYPES[item["name"]]
        )
        assert not any(x["indexed"] for x in item["inputs"])  # topic0 only


def _pulled_log(**over: Any) -> dict[str, Any]:
    e = Pulled(
        maker="0x" + "11" * 20,
        app="0x" + "22" * 20,
        strategy_hash="0x" + "33" * 32,
        address=AQUA,
        block=7,
        tx_hash=TX,
        log_index=4,
        token="0x" + "44" * 20,
        amount=10**18,
    )
    return {**encode_aqua_log(e), **over}


def _shipped_log(strategy: bytes = b"x" * 40) -> dict[str, Any]:
    e = Shipped(
        maker="0x" + "11" * 20,
        app="0x" + "22" * 20,
        strategy_hash="0x" + keccak(strategy).hex(),
        address=AQUA,
        block=7,
        tx_hash=TX,
        log_index=4,
        strategy=strategy,
    )
    return encode_aqua_log(e)


def _dirty(data: bytes, word: int) -> bytes:
    b = bytearray(data)
    b[32 * word] = 1
    return bytes(b)


BAD: dict[str, tuple[dict[str, Any], str]] = {
    "unknown topic": (
        _pulled_log(topics=[keccak(text="Transfer(address,address,uint256)")]),
        "unknown topic0",
    ),
    "indexed (extra) topic": (
        _pulled_log(topics=[bytes.fromhex(AQUA_TOPIC0["Pulled"][2:]), b"\0" * 32]),
        "2 topics",
    ),
    "no topic": (_pulled_log(topics=[]), "0 topics"),
    "short data": (_pulled_log(data=_pulled_log()["data"][:-1]), "data is 159 bytes"),
    "long data": (_pulled_log(data=_pulled_log()["data"] + b"\0" * 32), "data is 192 bytes"),
    "wrong address": (_pulled_log(address="0x" + "99" * 20), "not a configured Aqua contract"),
    "dirty address padding": (_pulled_log(data=_dirty(_pulled_log()["data"], 3)), "address"),
    "truncated dynamic bytes": (
        {**_shipped_log(), "data": _shipped_log()["data"][:-32]},
        "truncated",
    ),
    "non-canonical offset": (
        {
            **_shipped_log(),
            "data": _shipped_log()["data"][:96]
            + (160).to_bytes(32, "big")
            + _shipped_log()["data"][128:],
        },
        "not canonically encoded",
    ),
    "hash is not keccak(strategy)": (
        {
            **_shipped_log(),
            "data": _shipped_log()["data"][:64] + b"\x01" * 32 + _shipped_log()["data"][96:],
        },
        "keccak256",
    ),
    "no transaction": (_pulled_log(transactionHash=None), "missing transactionHash"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_malformed_logs_are_refused_naming_the_transaction_and_log_index(case: str) -> None:
    log, why = BAD[case]
    with pytest.raises(AquaLogError, match=why) as info:
        decode_aqua_log(log)
    if case != "no transaction":
        assert TX in str(info.value) and "log index 4" in str(info.value)


def test_address_check_can_be_widened_or_left_to_the_caller() -> None:
    log = _pulled_log(address="0x" + "99" * 20)
    assert decode_aqua_log(log, addresses=["0x" + "99" * 20]).address == "0x" + "99" * 20
    assert decode_aqua_log(log, addresses=None).address == "0x" + "99" * 20


def test_history_rows_become_typed_events() -> None:
    from arbkit.market.sim import simulate_market

    h = simulate_market({"aqua_ship_rate": 1 / 20}, seed=2, n_blocks=400)
    evs = events_from_history(h.aqua_events)
    assert len(evs) == h.aqua_events.height > 0
    assert [e.key for e in evs] == sorted(e.key for e in evs)
    for e in evs:
        assert decode_aqua_log(encode_aqua_log(e)) == e
    ships = [e for e in evs if isinstance(e, Shipped)]
    assert ships and all(keccak(s.strategy) == bytes.fromhex(s.strategy_hash[2:]) for s in ships)
