"""AquaChain on anvil: our Aqua contract's logs are the real Aqua's, balances follow a tally."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from eth_utils.crypto import keccak
from web3 import Web3
from web3.exceptions import ContractLogicError

from arbkit.aqua.chain import AquaChain, aqua_artifacts
from arbkit.aqua.config import DEFAULT_AQUA_ADDRESSES
from arbkit.aqua.events import (
    AQUA_TOPIC0,
    Pulled,
    Pushed,
    Shipped,
    aqua_event_from_row,
    decode_aqua_log,
    encode_aqua_log,
)
from arbkit.chain import AnvilNode, anvil_binary, solc_version
from arbkit.chain.solidity import deploy_compiled
from arbkit.chain.uniswap import mine_and_wait
from arbkit.errors import ConfigError, DataError
from arbkit.market.tables import AQUA_EVENTS_SCHEMA

SCHEMA = {**AQUA_EVENTS_SCHEMA, "strategy": pl.String()}
E18, E6 = 10**18, 10**6


def _addr(label: str) -> str:
    return "0x" + keccak(text=f"test:aqua:{label}")[-20:].hex()


MAKER1, MAKER2, APP = _addr("maker1"), _addr("maker2"), _addr("app")
STRAT_A = b"strategy A: WETH/USDC, 8 bp spread" + bytes(range(40))
STRAT_B = b"strategy B"
HASH_A, HASH_B = "0x" + keccak(STRAT_A).hex(), "0x" + keccak(STRAT_B).hex()


# -- building aqua_events tables by hand (the simulator's new format) ----------------------


@dataclass
class _Table:
    rows: list[dict[str, Any]] = field(default_factory=list)
    _log: dict[int, int] = field(default_factory=dict)
    _tx: int = 0

    def _tx_hash(self, block: int) -> str:
        self._tx += 1
        return "0x" + keccak(text=f"tx:{block}:{self._tx}").hex()

    def _row(self, block: int, tx: str, event: str, maker: str, hash_: str, **kw: Any) -> None:
        i = self._log.get(block, 0)
        self._log[block] = i + 1
        row = {
            "block": block,
            "tx_hash": tx,
            "log_index": i,
            "event": event,
            "maker": maker,
            "app": APP,
            "strategy_hash": hash_,
            "token": None,
            "amount": None,
            "strategy": None,
        }
        self.rows.append({**row, **kw})

    def ship(self, block: int, maker: str, strategy: bytes, alloc: dict[str, int]) -> None:
        tx, h = self._tx_hash(block), "0x" + keccak(strategy).hex()
        self._row(block, tx, "Shipped", maker, h, strategy="0x" + strategy.hex())
        for token, amount in alloc.items():
            self._row(block, tx, "Pushed", maker, h, token=token, amount=amount)

    def swap(
        self, block: int, maker: str, h: str, t_in: str, a_in: int, t_out: str, a_out: int
    ) -> None:
        tx = self._tx_hash(block)
        self._row(block, tx, "Pushed", maker, h, token=t_in, amount=a_in)
        self._row(block, tx, "Pulled", maker, h, token=t_out, amount=a_out)

    def dock(self, block: int, maker: str, h: str) -> None:
        self._row(block, self._tx_hash(block), "Docked", maker, h)

    def frame(self) -> pl.DataFrame:
        return pl.DataFrame(self.rows, schema=SCHEMA)


def _scenario() -> pl.DataFrame:
    t = _Table()
    t.ship(100, MAKER1, STRAT_A, {"WETH": 10 * E18, "USDC": 30_000 * E6})
    t.ship(100, MAKER2, STRAT_B, {"WETH": 5 * E18, "USDC": 1_000 * E6})
    t.swap(101, MAKER1, HASH_A, "USDC", 3_000 * E6, "WETH", 99 * E18 // 100)
    t.swap(101, MAKER2, HASH_B, "WETH", 1 * E18, "USDC", 900 * E6)
    t.swap(102, MAKER1, HASH_A, "WETH", 2 * E18, "USDC", 5_900 * E6)
    t.swap(103, MAKER1, HASH_A, "WETH", 1 * E18, "USDC", 2_950 * E6)
    t.dock(103, MAKER1, HASH_A)  # after a trade in the same block: order must hold
    t.swap(103, MAKER2, HASH_B, "USDC", 2_000 * E6, "WETH", 6 * E18 // 10)
    t.dock(104, MAKER2, HASH_B)
    t.ship(104, MAKER1, STRAT_A, {"WETH": 1 * E18})  # a docked strategy ships again
    return t.frame()


class _Tally:
    """An independent ledger of the rows: (maker, app, hash, token) -> (balance, status)."""

    def __init__(self) -> None:
        self.state: dict[tuple[str, str, str, str], tuple[int, int]] = {}
        self.tokens: dict[tuple[str, str, str], list[str]] = {}

    def apply(self, rows: pl.DataFrame, addr: Callable[[str], str]) -> None:
        for tx in rows.sort("log_index").partition_by("tx_hash", maintain_order=True):
            r = tx.to_dicts()
            key = (r[0]["maker"], r[0]["app"], r[0]["strategy_hash"])
            if r[0]["event"] == "Shipped":
                toks = [addr(x["token"]) for x in r[1:]]
                self.tokens[key] = toks
                for x in r[1:]:
                    self.state[(*key, addr(x["token"]))] = (int(x["amount"]), len(toks))
            elif r[0]["event"] == "Docked":
                for tok in self.tokens[key]:
                    self.state[(*key, tok)] = (0, 255)
            else:
                for x in r:
                    k = (*key, addr(x["token"]))
                    bal, n = self.state[k]
                    sign = 1 if x["event"] == "Pushed" else -1
                    self.state[k] = (bal + sign * int(x["amount"]), n)


# -- fixtures ---------------------------------------------------------------------------


def _tooling() -> None:
    try:
        anvil_binary()
        solc_version()
    except ConfigError as exc:
        msg = f"the npm chain tooling or Node.js is not installed ({exc})"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{msg} -- CI must install Node.js 20 and run `npm ci`", pytrace=False)
        pytest.skip(msg)


@pytest.fixture(scope="module")
def node() -> Iterator[AnvilNode]:
    _tooling()
    with AnvilNode() as n:  # automine off, as in HistoryChain
        yield n


@pytest.fixture(scope="module")
def chain(node: AnvilNode) -> AquaChain:
    w3, deployer = node.w3, node.accounts[0]
    tokens = {
        sym: deploy_compiled(w3, deployer, "ArbkitToken", f"t {sym}", sym, dec, 10**30, deployer)
        for sym, dec in (("WETH", 18), ("USDC", 6))
    }
    return AquaChain(w3, {s: c.address for s, c in tokens.items()})


@pytest.fixture(scope="module")
def abi_dir(real_data: Path, require: Callable[[Path, str], Path]) -> Path:
    return require(real_data / "aqua_1inch_abi", "the real Aqua ABI (aqua_1inch_abi)")


def _erc20(chain: AquaChain, sym: str) -> Any:
    return chain._token(chain.tokens[sym])


def _wallets(chain: AquaChain) -> dict[tuple[str, str], int]:
    out = {}
    for sym in chain.tokens:
        token = _erc20(chain, sym)
        for who in (MAKER1, MAKER2, chain.taker):
            out[(who.lower(), sym)] = int(
                token.functions.balanceOf(Web3.to_checksum_address(who)).call()
            )
        out[("supply", sym)] = int(token.functions.totalSupply().call())
    return out


@dataclass
class _Step:
    block: int
    rows: pl.DataFrame
    logs: list[Any]
    pending_before_mine: int
    chain_block_unchanged: bool
    balances: dict[tuple[str, str, str, str], tuple[int, int]]
    tally: dict[tuple[str, str, str, str], tuple[int, int]]
    wallets_before: dict[tuple[str, str], int]
    wallets_after: dict[tuple[str, str], int]


@pytest.fixture(scope="module")
def played(node: AnvilNode, chain: AquaChain) -> list[_Step]:
    """Play blocks 100..103 with send_block + one mined block each (as HistoryChain does)."""
    table = _scenario()
    tally = _Tally()
    steps = []
    for block in (100, 101, 102, 103):
        rows = table.filter(pl.col("block") == block)
        before = _wallets(chain)
        head = node.w3.eth.block_number
        hashes = chain.send_block(rows)
        pending = int(node.rpc("txpool_status")["pending"], 16)
        unchanged = node.w3.eth.block_number == head
        # as HistoryChain does: the history's base fee for the block about to be mined
        node.rpc("anvil_setNextBlockBaseFeePerGas", hex(30 * 10**9 + block))
        receipts = mine_and_wait(node.w3, hashes)
        assert len({r["blockNumber"] for r in receipts}) == 1
        assert node.w3.eth.get_block(receipts[0]["blockNumber"])["baseFeePerGas"] == (
            30 * 10**9 + block
        )
        logs = [
            log
            for r in receipts
            for log in r["logs"]
            if log["address"].lower() == DEFAULT_AQUA_ADDRESSES[0]
        ]
        tally.apply(rows, lambda s: chain.tokens[s].lower())
        balances = {k: chain.raw_balances(*k) for k in tally.state}
        steps.append(
            _Step(
                block,
                rows,
                logs,
                pending,
                unchanged,
                balances,
                dict(tally.state),
                before,
                _wallets(chain),
            )
        )
        assert pending == len(hashes)
    return steps


# -- tests --------------------------------------------------------------------------------


def test_compiled_abi_matches_the_real_iaqua(abi_dir: Path) -> None:
    real = json.loads((abi_dir / "IAqua.abi.json").read_text())
    ours = aqua_artifacts()["ArbkitAqua"]["abi"]

    def norm(entries: list[dict[str, Any]], kind: str) -> dict[str, Any]:
        def strip(x: Any) -> Any:
            if isinstance(x, dict):
                return {k: strip(v) for k, v in x.items() if k != "internalType"}
            if isinstance(x, list):
                return [strip(v) for v in x]
            return x

        return {e["name"]: strip(e) for e in entries if e["type"] == kind}

    assert norm(ours, "event") == norm(real, "event")
    assert norm(ours, "function") == norm(real, "function")
    assert not any(i.get("indexed") for e in ours if e["type"] == "event" for i in e["inputs"])
    facts = json.loads((abi_dir / "IAqua.topics_and_selectors.json").read_text())
    for fact in facts:
        digest = keccak(text=fact["signature"])
        if fact["kind"] == "event":
            assert (
                "0x" + digest.hex()
                == fact["topic0"]
                == AQUA_TOPIC0[fact["signature"].split("(")[0]]
            )
        else:
            assert "0x" + digest[:4].hex() == fact["selector"]
    sigs = {
        e["name"] + "(" + ",".join(i["type"] for i in e["inputs"]) + ")"
        for e in ours
        if e["type"] in ("function", "event")
    }
    assert sigs == {f["signature"] for f in facts}


def test_send_block_sends_without_mining(played: list[_Step]) -> None:
    for step in played:
        assert step.chain_block_unchanged
        assert step.pending_before_mine > 0


def test_every_log_is_exactly_its_row(played: list[_Step], chain: AquaChain, abi_dir: Path) -> None:
    facts = json.loads((abi_dir / "IAqua.topics_and_selectors.json").read_text())
    real_topic = {f["signature"].split("(")[0]: f["topic0"] for f in facts if f["kind"] == "event"}
    seen = 0
    for step in played:
        rows = step.rows.sort("log_index").to_dicts()
        assert len(step.logs) == len(rows)  # chain order is the rows' order, across senders
        for log, row in zip(step.logs, rows, strict=True):
            assert len(log["topics"]) == 1
            assert "0x" + bytes(log["topics"][0]).hex() == real_topic[row["event"]]
            got = decode_aqua_log(log)
            want = aqua_event_from_row(row, address=DEFAULT_AQUA_ADDRESSES[0], tokens=chain.tokens)
            assert type(got) is type(want)
            assert (got.maker, got.app, got.strategy_hash) == (
                row["maker"],
                row["app"],
                row["strategy_hash"],
            )
            if isinstance(got, Shipped):
                assert isinstance(want, Shipped)
                assert got.strategy == want.strategy
            if isinstance(got, Pulled | Pushed):
                assert isinstance(want, Pulled | Pushed)
                assert got.token == chain.tokens[row["token"]].lower() == want.token
                assert got.amount == row["amount"]
            data = bytes(log["data"])
            assert data == encode_aqua_log(got)["data"] == encode_aqua_log(want)["data"]
            seen += 1
    assert seen == sum(s.rows.height for s in played)


def test_raw_balances_follow_the_running_tally(played: list[_Step], chain: AquaChain) -> None:
    for step in played:
        assert step.balances == step.tally, f"block {step.block}"
    weth, usdc = (c.lower() for c in (chain.tokens["WETH"], chain.tokens["USDC"]))
    last = played[-1].balances
    assert last[(MAKER1, APP, HASH_A, weth)] == (0, 255)  # docked after its trade in block 103
    assert last[(MAKER1, APP, HASH_A, usdc)] == (0, 255)
    assert played[-2].balances[(MAKER1, APP, HASH_A, weth)] == (12 * E18 - 99 * E18 // 100, 2)
    assert last[(MAKER2, APP, HASH_B, weth)] == (5 * E18 + E18 - 6 * E18 // 10, 2)
    assert last[(MAKER2, APP, HASH_B, usdc)] == ((1_000 - 900 + 2_000) * E6, 2)


def test_tokens_really_move(played: list[_Step], chain: AquaChain) -> None:
    taker = chain.taker.lower()
    for step in played:
        delta: dict[tuple[str, str], int] = {}
        minted: dict[str, int] = {}
        for tx in step.rows.sort("log_index").partition_by("tx_hash", maintain_order=True):
            r = tx.to_dicts()
            maker = r[0]["maker"]
            if r[0]["event"] == "Shipped":  # allocation credited to the maker's wallet
                for x in r[1:]:
                    delta[(maker, x["token"])] = delta.get((maker, x["token"]), 0) + x["amount"]
                    minted[x["token"]] = minted.get(x["token"], 0) + x["amount"]
            elif r[0]["event"] == "Pushed":
                push, pull = r
                for k, v in (
                    ((maker, push["token"]), push["amount"]),
                    ((maker, pull["token"]), -pull["amount"]),
                    ((taker, pull["token"]), pull["amount"]),
                ):
                    delta[k] = delta.get(k, 0) + v
                minted[push["token"]] = minted.get(push["token"], 0) + push["amount"]
        for key, before in step.wallets_before.items():
            after = step.wallets_after[key]
            if key[0] == "supply":
                assert after - before == minted.get(key[1], 0)
            else:
                assert after - before == delta.get(key, 0), (step.block, key)
    # the taker paid what it swapped in: it holds exactly what it was pulled
    final = played[-1].wallets_after
    assert final[(taker, "WETH")] == 99 * E18 // 100 + 6 * E18 // 10
    assert final[(taker, "USDC")] == (900 + 5_900 + 2_950) * E6


def test_reverts_and_replay(played: list[_Step], chain: AquaChain, node: AnvilNode) -> None:
    weth, usdc = chain.tokens["WETH"], chain.tokens["USDC"]
    app = chain.apps[Web3.to_checksum_address(APP)]
    aqua = chain.aqua
    m1, m2 = Web3.to_checksum_address(MAKER1), Web3.to_checksum_address(MAKER2)
    hb = bytes.fromhex(HASH_B[2:])
    ha = bytes.fromhex(HASH_A[2:])
    bal_usdc, count = chain.raw_balances(MAKER2, APP, HASH_B, "USDC")
    assert count == 2 and bal_usdc > 0
    # pull: up to the balance passes, one more reverts (directly and through the app)
    aqua.functions.pull(m2, hb, usdc, bal_usdc, chain.taker).call({"from": app.address})
    with pytest.raises(ContractLogicError, match="pull exceeds"):
        aqua.functions.pull(m2, hb, usdc, bal_usdc + 1, chain.taker).call({"from": app.address})
    with pytest.raises(ContractLogicError, match="pull exceeds"):
        app.functions.swap(m2, hb, weth, 0, usdc, bal_usdc + 1, chain.taker).call(
            {"from": chain.taker}
        )
    # push to the docked strategy A reverts; to the live B it passes
    assert chain.raw_balances(MAKER1, APP, HASH_A, "USDC") == (0, 255)
    with pytest.raises(ContractLogicError, match="not live"):
        aqua.functions.push(m1, app.address, ha, weth, 0).call({"from": chain.taker})
    with pytest.raises(ContractLogicError, match="not live"):
        app.functions.swap(m1, ha, weth, 0, usdc, 0, chain.taker).call({"from": chain.taker})
    aqua.functions.push(m2, app.address, hb, weth, 0).call({"from": chain.taker})
    with pytest.raises(ContractLogicError, match="not live"):
        aqua.functions.dock(app.address, ha, [weth, usdc]).call({"from": m1})
    # a live strategy cannot be shipped again; dock must list exactly its tokens
    with pytest.raises(ContractLogicError, match="already live"):
        aqua.functions.ship(app.address, STRAT_B, [weth], [1]).call({"from": m2})
    with pytest.raises(ContractLogicError, match="strategy's tokens"):
        aqua.functions.dock(app.address, hb, [weth]).call({"from": m2})
    assert aqua.functions.safeBalances(m2, app.address, hb, weth, usdc).call() == [
        chain.raw_balances(MAKER2, APP, HASH_B, "WETH")[0],
        bal_usdc,
    ]
    with pytest.raises(ContractLogicError, match="live strategy"):
        aqua.functions.safeBalances(m1, app.address, ha, weth, usdc).call()

    # block 104 with replay(): B docks, A ships again (one token)
    events = chain.replay(_scenario(), blocks=[104])
    assert [e.name for e in events] == ["Docked", "Shipped", "Pushed"]
    assert all(e.address == DEFAULT_AQUA_ADDRESSES[0] for e in events)
    assert chain.raw_balances(MAKER2, APP, HASH_B, "USDC") == (0, 255)
    assert chain.raw_balances(MAKER1, APP, HASH_A, "WETH") == (E18, 1)
    assert chain.raw_balances(MAKER1, APP, HASH_A, "USDC") == (0, 255)
    with pytest.raises(ContractLogicError, match="not live"):
        aqua.functions.push(m2, app.address, hb, weth, 0).call({"from": chain.taker})
    assert set(chain.live_strategies) == {(m1, app.address, HASH_A)}


def test_bad_blocks_are_refused_before_anything_is_sent(
    played: list[_Step], chain: AquaChain, node: AnvilNode
) -> None:
    t = _Table()
    t.swap(200, MAKER1, "0x" + "00" * 32, "WETH", 1, "USDC", 1)
    unknown = t.frame()
    lone = _Table()
    lone._row(200, "0x01", "Pulled", MAKER1, HASH_A, token="WETH", amount=1)
    bad_hash = _Table()
    bad_hash.ship(200, _addr("m3"), b"x", {"WETH": 1})
    for row in bad_hash.rows:
        row["strategy_hash"] = HASH_B
    good_then_bad = _Table()
    good_then_bad.ship(200, _addr("m4"), b"fine", {"WETH": 1})
    good_then_bad.dock(200, _addr("m5"), HASH_B)
    cases = {
        "not live": unknown,
        "are not a ship": lone.frame(),
        "keccak256": bad_hash.frame(),
        "not shipped here": good_then_bad.frame(),
    }
    before = int(node.rpc("txpool_status")["pending"], 16)
    for message, frame in cases.items():
        with pytest.raises(DataError, match=message):
            chain.send_block(frame)
    assert int(node.rpc("txpool_status")["pending"], 16) == before
    with pytest.raises(DataError, match="not one of the chain's tokens"):
        chain.token_address("DAI")
