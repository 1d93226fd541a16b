from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import numpy as np
import polars as pl
import pytest
from eth_utils.crypto import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from arbkit.aqua.events import (
    AquaEvent,
    Docked,
    Pulled,
    Pushed,
    Shipped,
    events_from_history,
    token_address,
)
from arbkit.aqua.ledger import (
    AquaLedgerError,
    AquaTrade,
    LedgerUpdate,
    MakerLedger,
    PriceBook,
    TokenInfo,
)
from arbkit.errors import DataError
from arbkit.market.history import MarketHistory
from arbkit.market.sim import simulate_market

AQUA = "0x1111113ccf1426a8e30e2bff5e005d929bf6a90a"
MAKER = "0x" + "aa" * 20
MAKER2 = "0x" + "ab" * 20
APP = "0x" + "cc" * 20
WETH = token_address("WETH")
USDC = token_address("USDC")
USDT = token_address("USDT")
E18, E6 = 10**18, 10**6


def strat(n: int) -> tuple[bytes, str]:
    raw = f"strategy-{n}".encode()
    return raw, "0x" + keccak(raw).hex()


S1, H1 = strat(1)
S2, H2 = strat(2)


def tx(n: int) -> str:
    return "0x" + f"{n:064x}"


class Chain:
    """Builds events in chain order: one transaction at a time, log indexes per block."""

    def __init__(self, block: int = 100) -> None:
        self.block = block
        self.log = 0
        self.tx_no = 0
        self.tx = tx(0)

    def new_tx(self, *, next_block: bool = False, block: int | None = None) -> str:
        if block is not None or next_block:
            self.block = block if block is not None else self.block + 1
            self.log = 0
        self.tx_no += 1
        self.tx = tx(self.tx_no)
        return self.tx

    def _common(self, maker: str, h: str) -> dict[str, Any]:
        out = {
            "maker": maker,
            "app": APP,
            "strategy_hash": h,
            "address": AQUA,
            "block": self.block,
            "tx_hash": self.tx,
            "log_index": self.log,
        }
        self.log += 1
        return out

    def shipped(self, raw: bytes, maker: str = MAKER) -> Shipped:
        return Shipped(**self._common(maker, "0x" + keccak(raw).hex()), strategy=raw)

    def docked(self, h: str, maker: str = MAKER) -> Docked:
        return Docked(**self._common(maker, h))

    def pushed(self, h: str, token: str, amount: int, maker: str = MAKER) -> Pushed:
        return Pushed(**self._common(maker, h), token=token, amount=amount)

    def pulled(self, h: str, token: str, amount: int, maker: str = MAKER) -> Pulled:
        return Pulled(**self._common(maker, h), token=token, amount=amount)


def flat_book(weth_usd: float = 3000.0) -> PriceBook:
    tokens = {WETH: TokenInfo("WETH", 18), USDC: TokenInfo("USDC", 6)}
    return PriceBook(tokens, {"WETH": ([0], [weth_usd]), "USDC": ([0], [1.0])})


def kinds(updates: list[LedgerUpdate]) -> list[str]:
    return [u.kind for u in updates]


def ship_pair(c: Chain, raw: bytes, weth: int, usdc: int, maker: str = MAKER) -> list[AquaEvent]:
    c.new_tx(next_block=True)
    h = "0x" + keccak(raw).hex()
    return [c.shipped(raw, maker), c.pushed(h, WETH, weth, maker), c.pushed(h, USDC, usdc, maker)]


# -- classification and pairing --------------------------------------------------------------


def test_ship_pushes_are_allocation_and_a_pull_push_pair_is_a_trade_with_direction() -> None:
    c = Chain()
    ledger = MakerLedger(flat_book())
    ups = ledger.apply_many(ship_pair(c, S1, 10 * E18, 30_000 * E6))
    assert kinds(ups) == ["ship", "allocation", "allocation"]
    st_ = ledger.strategy((MAKER, APP, H1))
    assert st_ is not None and st_.status == "shipped" and st_.lifecycle == 0
    assert st_.allocation == st_.balances == {WETH: 10 * E18, USDC: 30_000 * E6}
    assert st_.strategy == S1 and st_.ship_tx == c.tx and st_.allocation_usd == 60_000.0

    # taker buys 3,000 USDC with 1.01 WETH: Pulled (USDC out) first, then Pushed (WETH in)
    c.new_tx(next_block=True)
    first = ledger.apply(c.pulled(H1, USDC, 3_000 * E6))
    assert kinds(first) == ["pending"]
    assert ledger.balances(MAKER, APP, H1)[USDC] == 27_000 * E6  # balances move at once
    second = ledger.apply(c.pushed(H1, WETH, 101 * E18 // 100))
    assert kinds(second) == ["trade"]
    trade = second[0].trade
    assert isinstance(trade, AquaTrade)
    assert (trade.token_in, trade.amount_in) == (WETH, 101 * E18 // 100)
    assert (trade.token_out, trade.amount_out) == (USDC, 3_000 * E6)
    assert (trade.block, trade.tx_hash, trade.log_index) == (c.block, c.tx, 1)
    assert trade.price == pytest.approx(3_000 / 1.01, rel=1e-15)  # USDC per WETH
    assert trade.usd_in == pytest.approx(3_030.0) and trade.usd_out == pytest.approx(3_000.0)
    assert trade.maker_edge_usd == pytest.approx(30.0)
    assert ledger.balances(MAKER, APP, H1) == {WETH: 1101 * E18 // 100, USDC: 27_000 * E6}

    # the other direction, Pushed first: taker sells 3,000 USDC for 0.99 WETH
    c.new_tx()
    assert kinds(ledger.apply(c.pushed(H1, USDC, 3_000 * E6))) == ["pending"]
    (up,) = ledger.apply(c.pulled(H1, WETH, 99 * E18 // 100))
    assert up.kind == "trade" and up.trade is not None
    assert (up.trade.token_in, up.trade.token_out) == (USDC, WETH)
    assert up.trade.price == pytest.approx(0.99 / 3_000, rel=1e-15)
    assert ledger.flush() == []
    assert len(ledger.trades) == 2 and ledger.trades[-1] is up.trade
    s = ledger.strategy((MAKER, APP, H1))
    assert s is not None and s.trades == 2 and s.deposits == s.withdrawals == 0
    assert s.maker_edge_usd == pytest.approx(30.0 + 30.0)
    assert s.volume_usd == pytest.approx(3_030.0 + 3_000.0)


def test_unpaired_legs_become_deposit_or_withdrawal_when_their_transaction_ends() -> None:
    c = Chain()
    ledger = MakerLedger(flat_book())
    ledger.apply_many(ship_pair(c, S1, 10 * E18, 30_000 * E6))
    c.new_tx(next_block=True)
    lone = c.pushed(H1, WETH, E18)
    assert kinds(ledger.apply(lone)) == ["pending"]
    assert ledger.pending == 1
    c.new_tx()
    ups = ledger.apply(c.pulled(H1, USDC, 5 * E6))  # another tx: the lone push was a deposit
    assert kinds(ups) == ["deposit", "pending"] and ups[0].event == lone
    ups = ledger.flush()
    assert kinds(ups) == ["withdrawal"] and isinstance(ups[0].event, Pulled)
    assert ledger.pending == 0 and len(ledger.trades) == 0
    s = ledger.strategy((MAKER, APP, H1))
    assert s is not None and (s.deposits, s.withdrawals, s.trades) == (1, 1, 0)
    assert s.balances == {WETH: 11 * E18, USDC: 29_995 * E6}


def test_legs_pair_in_order_of_arrival_per_strategy_and_never_same_token() -> None:
    c = Chain()
    ledger = MakerLedger()
    ledger.apply_many(ship_pair(c, S1, 10 * E18, 30_000 * E6))
    ledger.apply_many(ship_pair(c, S2, 10 * E18, 30_000 * E6))
    c.new_tx(next_block=True)
    events = [
        c.pulled(H1, USDC, 100 * E6),  # a: S1 out
        c.pushed(H2, WETH, 2 * E18),  # b: S2 in
        c.pushed(H1, USDC, 7 * E6),  # c: same token as a: no pair
        c.pulled(H2, USDC, 6_000 * E6),  # d: pairs with b
        c.pushed(H1, WETH, E18 // 10),  # e: pairs with a (first pending, other token)
        c.pulled(H1, WETH, E18 // 20),  # f: pairs with c
    ]
    ups = ledger.apply_many(events)
    assert kinds(ups) == ["pending", "pending", "pending", "trade", "trade", "trade"]
    t_d, t_e, t_f = (u.trade for u in ups[3:])
    assert t_d is not None and (t_d.strategy_hash, t_d.amount_in, t_d.amount_out) == (
        H2,
        2 * E18,
        6_000 * E6,
    )
    assert t_e is not None and (t_e.token_in, t_e.amount_out) == (WETH, 100 * E6)
    assert t_f is not None and (t_f.token_in, t_f.amount_in, t_f.token_out) == (
        USDC,
        7 * E6,
        WETH,
    )
    assert t_d.price is None and t_d.usd_in is None and t_d.maker_edge_usd is None  # no book
    assert ledger.flush() == []


def test_dock_releases_balances_and_a_reship_starts_a_new_lifecycle() -> None:
    c = Chain()
    ledger = MakerLedger(flat_book())
    ledger.apply_many(ship_pair(c, S1, 10 * E18, 30_000 * E6))
    c.new_tx(next_block=True)
    ledger.apply_many([c.pulled(H1, USDC, 3_000 * E6), c.pushed(H1, WETH, E18)])
    c.new_tx(next_block=True)
    dock = c.docked(H1)
    ups = ledger.apply(dock)
    assert kinds(ups) == ["dock"]
    s = ledger.strategy((MAKER, APP, H1))
    assert s is not None and s.status == "docked" and s.docked and s.dock_block == dock.block
    assert s.released == {WETH: 11 * E18, USDC: 27_000 * E6}
    assert s.balances == {WETH: 0, USDC: 0}
    assert ledger.balances(MAKER, APP, H1) == {WETH: 0, USDC: 0}

    ups = ledger.apply_many(ship_pair(c, S1, E18, 1_000 * E6))  # same hash, new lifecycle
    assert kinds(ups) == ["ship", "allocation", "allocation"]
    assert all(u.lifecycle == 1 for u in ups)
    now = ledger.strategy((MAKER, APP, H1))
    old = ledger.strategy((MAKER, APP, H1), lifecycle=0)
    assert now is not None and now.lifecycle == 1 and now.status == "shipped"
    assert now.allocation == now.balances == {WETH: E18, USDC: 1_000 * E6}
    assert now.trades == 0 and now.released == {}
    assert old is not None and old.status == "docked" and old.trades == 1
    assert [x.lifecycle for x in ledger.strategies()] == [0, 1]
    frames = ledger.to_frames()
    assert frames["strategies"]["lifecycle"].to_list() == [0, 1]
    assert frames["strategies"]["status"].to_list() == ["docked", "shipped"]
    assert frames["balances"].height == 4


def test_strategy_first_seen_without_ship_is_unknown_allows_negative_and_is_excluded() -> None:
    c = Chain()
    ledger = MakerLedger(flat_book())
    c.new_tx(next_block=True)
    ups = ledger.apply_many([c.pulled(H1, USDC, 500 * E6), c.pushed(H1, WETH, E18 // 6)])
    assert kinds(ups) == ["pending", "trade"]  # trades of unknown strategies are still trades
    s = ledger.strategy((MAKER, APP, H1))
    assert s is not None and s.status == "unknown" and s.ship_block is None
    assert s.balances == {USDC: -500 * E6, WETH: E18 // 6}
    assert s.allocation_usd is None
    c.new_tx(next_block=True)
    ledger.apply(c.docked(H1))
    s = ledger.strategy((MAKER, APP, H1))
    assert s is not None and s.status == "unknown" and s.docked  # unknown for the lifecycle
    assert s.released == {USDC: -500 * E6, WETH: E18 // 6}
    stats = ledger.strategy_stats((MAKER, APP, H1))
    assert stats.pnl_vs_hold_usd is None and stats.realised
    ms = ledger.maker_stats(MAKER)
    assert (ms.strategies, ms.live, ms.docked, ms.unknown, ms.trades) == (0, 0, 0, 1, 0)
    assert ms.profitable_share is None
    ledger.apply_many(ship_pair(c, S1, E18, 3_000 * E6))  # a fresh, complete lifecycle
    s = ledger.strategy((MAKER, APP, H1))
    assert s is not None and s.status == "shipped" and s.lifecycle == 1
    ms = ledger.maker_stats(MAKER)
    assert (ms.strategies, ms.live, ms.unknown) == (1, 1, 1)
    assert ms.allocation_usd == ms.largest_allocation_usd == pytest.approx(6_000.0)
    # a dock of a strategy never seen at all
    c.new_tx(next_block=True)
    ledger.apply(c.docked(H2))
    s2 = ledger.strategy((MAKER, APP, H2))
    assert s2 is not None and s2.status == "unknown" and s2.docked and s2.released == {}


# -- errors --------------------------------------------------------------------------------


def _assert_refused(ledger: MakerLedger, event: AquaEvent, *words: str) -> None:
    before = ledger.to_frames()
    last, pending = ledger.last_key, ledger.pending
    with pytest.raises(AquaLedgerError) as err:
        ledger.apply(event)
    msg = str(err.value)
    assert event.tx_hash in msg and f"log index {event.log_index}" in msg
    assert f"block {event.block}" in msg
    for w in words:
        assert w in msg
    assert isinstance(err.value, DataError)
    assert ledger.last_key == last and ledger.pending == pending  # unchanged
    for name, frame in ledger.to_frames().items():
        assert_frame_equal(frame, before[name])


def test_duplicates_and_out_of_order_events_are_refused() -> None:
    c = Chain()
    ledger = MakerLedger()
    events = ship_pair(c, S1, E18, 3_000 * E6)
    ledger.apply_many(events)
    assert ledger.last_key == (events[-1].block, events[-1].log_index)
    _assert_refused(ledger, events[-1], "duplicate or out of order")
    _assert_refused(ledger, events[0], "duplicate or out of order")
    c.new_tx(block=c.block - 1)
    _assert_refused(ledger, c.pushed(H1, WETH, 1), "out of order")


def test_over_pull_event_after_dock_and_ship_of_live_strategy_are_refused() -> None:
    c = Chain()
    ledger = MakerLedger()
    ledger.apply_many(ship_pair(c, S1, E18, 3_000 * E6))
    c.new_tx(next_block=True)
    _assert_refused(ledger, c.pulled(H1, USDC, 3_000 * E6 + 1), "underflow", "logs were lost")
    _assert_refused(ledger, c.pulled(H1, USDT, 1), "underflow")  # a token it never held
    ledger.apply(c.pulled(H1, USDC, 3_000 * E6))  # exactly the balance is fine
    c.new_tx(next_block=True)
    _assert_refused(ledger, c.shipped(S1), "already live", "docked before")
    ledger.apply(c.docked(H1))
    c.new_tx(next_block=True)
    _assert_refused(ledger, c.pushed(H1, WETH, 1), "docked at block")
    _assert_refused(ledger, c.pulled(H1, WETH, 1), "docked at block")
    _assert_refused(ledger, c.docked(H1), "docked at block")
    # an unknown strategy (first seen mid-life) may go negative; shipping it while live cannot
    c.new_tx(next_block=True)
    ledger.apply(c.pulled(H2, WETH, 5 * E18))
    assert ledger.balances(MAKER, APP, H2) == {WETH: -5 * E18}
    _assert_refused(ledger, c.shipped(S2), "already live")


def test_uint256_amounts_are_exact_and_frames_hold_decimal_strings() -> None:
    c = Chain()
    ledger = MakerLedger()
    big = 2**256 - 1
    ledger.apply_many(ship_pair(c, S1, big, 1))
    c.new_tx(next_block=True)
    ledger.apply_many([c.pulled(H1, WETH, big - 5), c.pushed(H1, USDC, big - 1)])
    ledger.flush()
    assert ledger.balances(MAKER, APP, H1) == {WETH: 5, USDC: big}
    f = ledger.to_frames()
    assert f["balances"].schema["balance"] == pl.String
    assert set(f["balances"]["balance"].to_list()) == {"5", str(big)}
    assert f["trades"]["amount_in"].to_list() == [str(big - 1)]


# -- identical rebuilds, whatever the batches -----------------------------------------------


@dataclass
class _Gen:
    rng: random.Random
    chain: Chain = field(default_factory=Chain)
    live: dict[tuple[str, bytes], dict[str, int]] = field(default_factory=dict)
    docked: list[tuple[str, bytes]] = field(default_factory=list)
    unknown_live: list[tuple[str, str]] = field(default_factory=list)
    n_strat: int = 0


def _hash(raw: bytes) -> str:
    return "0x" + keccak(raw).hex()


def generate_stream(seed: int, n_tx: int) -> list[AquaEvent]:
    """A random valid event stream: ships, trades, deposits, withdrawals, docks, re-ships,
    unknown strategies, several strategies in one transaction."""
    g = _Gen(random.Random(seed))
    rng, c = g.rng, g.chain
    out: list[AquaEvent] = []
    tokens = (WETH, USDC, USDT)

    def trade_legs(maker: str, raw: bytes, bal: dict[str, int]) -> list[tuple[Any, ...]]:
        h = _hash(raw)
        t_out, t_in = rng.sample(sorted(bal), 2)
        amt_out = rng.randint(0, bal[t_out])
        amt_in = rng.randint(1, 10**20)
        bal[t_out] -= amt_out
        bal[t_in] += amt_in
        legs = [(c.pulled, h, t_out, amt_out, maker), (c.pushed, h, t_in, amt_in, maker)]
        if rng.random() < 0.5:
            legs.reverse()
        return legs

    for _ in range(n_tx):
        c.new_tx(next_block=rng.random() < 0.4)
        roll = rng.random()
        if roll < 0.2 or not g.live:
            if g.docked and rng.random() < 0.4:
                maker, raw = g.docked.pop(rng.randrange(len(g.docked)))
            else:
                g.n_strat += 1
                maker, raw = rng.choice((MAKER, MAKER2)), f"gen-{seed}-{g.n_strat}".encode()
            h = _hash(raw)
            out.append(c.shipped(raw, maker))
            bal = {}
            for t in rng.sample(tokens, rng.choice((2, 3))):
                bal[t] = rng.randint(0, 10**21)
                out.append(c.pushed(h, t, bal[t], maker))
            g.live[(maker, raw)] = bal
        elif roll < 0.55:
            # one or two trades, possibly of two strategies, legs interleaved
            keys = rng.sample(sorted(g.live), min(len(g.live), rng.choice((1, 2))))
            legs = [trade_legs(m, r, g.live[(m, r)]) for m, r in keys]
            for make, h, t, amt, m in (x for pair in zip(*legs, strict=True) for x in pair):
                out.append(make(h, t, amt, m))
        elif roll < 0.65:
            m, r = rng.choice(sorted(g.live))
            t = rng.choice(sorted(g.live[(m, r)]))
            amt = rng.randint(0, 10**18)
            g.live[(m, r)][t] += amt
            out.append(c.pushed(_hash(r), t, amt, m))
        elif roll < 0.75:
            m, r = rng.choice(sorted(g.live))
            t = rng.choice(sorted(g.live[(m, r)]))
            amt = rng.randint(0, g.live[(m, r)][t])
            g.live[(m, r)][t] -= amt
            out.append(c.pulled(_hash(r), t, amt, m))
        elif roll < 0.85:
            m, r = rng.choice(sorted(g.live))
            del g.live[(m, r)]
            out.append(c.docked(_hash(r), m))
            g.docked.append((m, r))
        else:
            # a strategy first seen mid-life, then maybe docked
            if g.unknown_live and rng.random() < 0.3:
                m, h = g.unknown_live.pop(rng.randrange(len(g.unknown_live)))
                out.append(c.docked(h, m))
                continue
            g.n_strat += 1
            m, h = MAKER2, _hash(f"late-{seed}-{g.n_strat}".encode())
            g.unknown_live.append((m, h))
            out.append(c.pulled(h, USDC, rng.randint(1, 10**9), m))
            if rng.random() < 0.5:
                out.append(c.pushed(h, WETH, rng.randint(1, 10**18), m))
    return out


def _rebuild(
    events: list[AquaEvent], cuts: list[int], book: PriceBook | None
) -> tuple[MakerLedger, list[LedgerUpdate]]:
    ledger = MakerLedger(book)
    ups: list[LedgerUpdate] = []
    bounds = [0, *sorted(set(cuts)), len(events)]
    for lo, hi in pairwise(bounds):
        if hi - lo == 1 and lo % 2:
            ups += ledger.apply(events[lo])
        else:
            ups += ledger.apply_many(events[lo:hi])
    ups += ledger.flush()
    return ledger, ups


def _three_token_book() -> PriceBook:
    tokens = {WETH: TokenInfo("WETH", 18), USDC: TokenInfo("USDC", 6), USDT: TokenInfo("USDT", 6)}
    blocks = list(range(100, 400))
    return PriceBook(
        tokens,
        {
            "WETH": (blocks, [3000.0 + 7.0 * math.sin(b) for b in blocks]),
            "USDC": ([100], [1.0]),
            "USDT": (blocks[::3], [1.0 + 1e-4 * (b % 5) for b in blocks[::3]]),
        },
    )


_STREAMS: dict[int, list[AquaEvent]] = {}


def _stream(seed: int) -> list[AquaEvent]:
    if seed not in _STREAMS:
        _STREAMS[seed] = generate_stream(seed, 60)
    return _STREAMS[seed]


def test_generated_stream_is_valid_and_covers_every_kind() -> None:
    book = _three_token_book()
    seen: set[str] = set()
    for seed in range(4):
        events = _stream(seed)
        assert [e.key for e in events] == sorted({e.key for e in events})
        _, ups = _rebuild(events, [], book)
        seen |= set(kinds(ups))
    assert seen == {"ship", "allocation", "trade", "deposit", "withdrawal", "dock", "pending"}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 7),
    cuts=st.lists(st.integers(0, 400), max_size=25),
)
def test_any_batch_split_rebuilds_identical_frames_and_updates(seed: int, cuts: list[int]) -> None:
    events = _stream(seed)
    book = _three_token_book()
    cuts = [x for x in cuts if x <= len(events)]
    ref, ref_ups = _rebuild(events, [], book)
    one, one_ups = _rebuild(events, list(range(len(events) + 1)), book)
    got, got_ups = _rebuild(events, cuts, book)
    frames = ref.to_frames()
    for ledger, ups in ((one, one_ups), (got, got_ups)):
        assert ups == ref_ups
        for name, frame in ledger.to_frames().items():
            assert_frame_equal(frame, frames[name])
        assert [ledger.maker_stats(m) for m in ledger.makers()] == [
            ref.maker_stats(m) for m in ref.makers()
        ]
    # every event yields one update of its own; each pending leg is later closed once
    own = [u for u in ref_ups if u.kind not in ("deposit", "withdrawal")]
    assert [u.event for u in own] == events
    count = {k: sum(u.kind == k for u in ref_ups) for k in ("pending", "trade")}
    closes = sum(u.kind in ("deposit", "withdrawal") for u in ref_ups)
    assert count["pending"] == count["trade"] + closes
    # balances are the running sum of the legs, per lifecycle; docking releases them
    expect: dict[tuple[str, str, str], dict[str, int]] = {}
    for e in events:
        if isinstance(e, Shipped):
            expect[e.strategy_key] = {}
        elif isinstance(e, Docked):
            expect[e.strategy_key] = dict.fromkeys(expect.get(e.strategy_key, {}), 0)
        elif isinstance(e, Pushed | Pulled):
            b = expect.setdefault(e.strategy_key, {})
            b[e.token] = b.get(e.token, 0) + (e.amount if isinstance(e, Pushed) else -e.amount)
    for key, bal in expect.items():
        assert ref.balances(*key) == bal


# -- prices and profitability ----------------------------------------------------------------


@pytest.fixture(scope="module")
def history() -> MarketHistory:
    return simulate_market(seed=11, n_blocks=300)


def test_price_book_takes_the_last_price_at_or_before_the_block() -> None:
    book = PriceBook(
        {WETH.upper().replace("0X", "0x"): TokenInfo("WETH", 18), USDC: TokenInfo("USDC", 6)},
        {"WETH": ([10, 20, 30], [100.0, float("nan"), 300.0])},
    )
    assert book.price_usd(WETH, 9) is None
    assert book.price_usd(WETH, 10) == book.price_usd(WETH, 29) == 100.0  # NaN skipped
    assert book.price_usd(WETH, 30) == book.price_usd(WETH, 10**9) == 300.0
    assert book.usd(WETH, 3 * E18 // 2, 15) == 150.0
    assert book.usd(WETH.upper().replace("0X", "0x"), -E18, 15) == -100.0
    assert book.usd(USDC, E6, 15) is None  # known token, no prices
    assert book.usd(USDT, E6, 15) is None and book.info(USDT) is None
    assert book.info(WETH) == TokenInfo("WETH", 18)
    with pytest.raises(DataError, match="increase"):
        PriceBook({}, {"WETH": ([2, 2], [1.0, 1.0])})
    with pytest.raises(DataError, match="2 blocks but 1 prices"):
        PriceBook({}, {"WETH": ([1, 2], [1.0])})


def test_price_book_from_history_uses_cex_mids_and_reads_nothing_ahead(
    history: MarketHistory,
) -> None:
    book = PriceBook.from_history(history)
    assert {i.symbol for i in book.tokens.values()} == {"WETH", "USDC", "USDT"}
    assert book.tokens[WETH] == TokenInfo("WETH", 18)
    blocks = history.block_numbers
    mid = history.cex_mid("ETH/USDC")
    for i in (0, 17, 150, 299):
        assert book.price_usd(WETH, int(blocks[i])) == pytest.approx(mid[i], rel=1e-12)
        assert book.price_usd(USDC, int(blocks[i])) == 1.0
    assert book.price_usd(WETH, int(blocks[0]) - 1) is None
    # no look-ahead: the book of the history cut at block t prices t (and before) alike
    for k in (1, 40, 200):
        cut = PriceBook.from_history(history.head(k))
        for i in {0, k // 2, k - 1}:
            b = int(blocks[i])
            for tok in (WETH, USDC, USDT):
                assert cut.price_usd(tok, b) == book.price_usd(tok, b)
    # quotes missing for some blocks: the last quote at or before is used
    b0 = int(blocks[100])
    gap = history.cex_quotes.filter(~pl.col("block").is_between(b0 + 1, b0 + 9))
    holed = MarketHistory(
        history.blocks,
        history.pool_states,
        gap,
        history.aqua_events,
        history.meta,
        history.swaps,
    )
    hb = PriceBook.from_history(holed, {"DAI": "0x" + "da" * 20, "XYZ": "0x" + "ee" * 20})
    for b in range(b0, b0 + 10):
        assert hb.price_usd(WETH, b) == pytest.approx(mid[100], rel=1e-12)
    assert hb.price_usd(WETH, b0 + 10) == pytest.approx(mid[110], rel=1e-12)
    assert hb.info("0x" + "da" * 20) == TokenInfo("DAI", 18)  # listed, no price
    assert hb.price_usd("0x" + "da" * 20, b0) is None
    assert hb.info("0x" + "ee" * 20) is None  # no decimals: unknown


def test_vs_hold_pnl_and_maker_edge_by_hand(history: MarketHistory) -> None:
    book = PriceBook.from_history(history)
    blocks = history.block_numbers
    mid = history.cex_mid("ETH/USDC")
    b_ship, b_trade, b_mark, b_dock = (int(blocks[i]) for i in (20, 60, 90, 150))
    p_ship, p_trade, p_mark, p_dock = (float(mid[i]) for i in (20, 60, 90, 150))

    c = Chain(block=b_ship)
    ledger = MakerLedger(book)
    c.new_tx()
    ledger.apply_many(
        [c.shipped(S1), c.pushed(H1, WETH, 10 * E18), c.pushed(H1, USDC, 30_000 * E6)]
    )
    c.new_tx(block=b_trade)
    # taker pays 1 WETH, takes 2,990 USDC
    ledger.apply_many([c.pulled(H1, USDC, 2_990 * E6), c.pushed(H1, WETH, E18)])
    (trade,) = ledger.trades
    assert trade.usd_in == pytest.approx(p_trade, rel=1e-12)  # trade-block quotes only
    assert trade.maker_edge_usd == pytest.approx(p_trade - 2_990.0, rel=1e-12)
    # the trade's value does not depend on quotes after its block
    cut_book = PriceBook.from_history(history.head(61))
    assert cut_book.usd(WETH, E18, b_trade) == trade.usd_in

    # unrealised at b_mark: (11 WETH + 27,010 USDC) - (10 WETH + 30,000 USDC) at b_mark
    live = ledger.strategy_stats((MAKER, APP, H1), block=b_mark)
    assert not live.realised and live.valuation_block == b_mark
    assert live.pnl_vs_hold_usd == pytest.approx(p_mark - 2_990.0, rel=1e-9)
    assert live.allocation_usd == pytest.approx(10 * p_ship + 30_000.0, rel=1e-12)
    default = ledger.strategy_stats((MAKER, APP, H1))  # at the last applied block
    assert default.valuation_block == b_trade
    assert default.pnl_vs_hold_usd == pytest.approx(p_trade - 2_990.0, rel=1e-9)

    # a second strategy of another maker, shipped and never traded, stays live
    c.new_tx(block=b_trade + 1)
    ledger.apply_many([c.shipped(S2, MAKER2), c.pushed(H2, WETH, E18, MAKER2)])

    c.new_tx(block=b_dock)
    ledger.apply(c.docked(H1))
    done = ledger.strategy_stats((MAKER, APP, H1), block=b_mark)  # docked: valued at dock
    assert done.realised and done.valuation_block == b_dock
    assert done.pnl_vs_hold_usd == pytest.approx(p_dock - 2_990.0, rel=1e-9)
    assert done.maker_edge_usd == pytest.approx(p_trade - 2_990.0, rel=1e-12)
    assert done.trades == 1 and done.volume_usd == pytest.approx(p_trade, rel=1e-12)

    ms = ledger.maker_stats(MAKER, block=b_mark)
    assert (ms.strategies, ms.live, ms.docked, ms.trades) == (1, 0, 1, 1)
    assert ms.realised_pnl_usd == pytest.approx(p_dock - 2_990.0, rel=1e-9)
    assert ms.unrealised_pnl_usd == 0.0 and ms.allocation_usd == 0.0
    assert ms.largest_allocation_usd is None
    assert ms.profitable_share == (1.0 if p_dock > 2_990.0 else 0.0)
    assert ms.maker_edge_usd == pytest.approx(p_trade - 2_990.0, rel=1e-12)
    m2 = ledger.maker_stats(MAKER2, block=b_mark)
    assert (m2.strategies, m2.live, m2.docked, m2.profitable_share) == (1, 1, 0, None)
    assert m2.allocation_usd == pytest.approx(float(mid[61]), rel=1e-12)
    assert m2.unrealised_pnl_usd == pytest.approx(0.0, abs=1e-9)
    assert ledger.makers() == sorted([MAKER, MAKER2])
    assert ledger.maker_stats("0x" + "00" * 20).strategies == 0
    with pytest.raises(KeyError):
        ledger.strategy_stats((MAKER, APP, "0x" + "00" * 32))
    np.testing.assert_allclose(
        ledger.to_frames()["trades"]["usd_in"].to_numpy(), [p_trade], rtol=1e-12
    )


def test_a_simulated_history_replays_through_the_ledger_in_any_batches() -> None:
    h = simulate_market(seed=5, n_blocks=2_000)
    if "strategy" not in h.aqua_events.columns:
        pytest.skip("this simulator does not record Shipped strategies yet")
    events = events_from_history(h.aqua_events)
    book = PriceBook.from_history(h)
    ledger, ups = _rebuild(events, [], book)
    counts = {k: sum(u.kind == k for u in ups) for k in {u.kind for u in ups}}
    n_ship = sum(isinstance(e, Shipped) for e in events)
    assert counts.get("ship") == n_ship > 0
    assert counts.get("trade", 0) == counts.get("pending", 0) > 0  # takers' swaps all pair
    for s in ledger.strategies():
        assert s.status != "unknown" and s.allocation_usd is not None
        assert sum(s.allocation.values()) > 0
    for t in ledger.trades:
        assert t.usd_in is not None and t.maker_edge_usd is not None
        assert abs(t.maker_edge_usd) < 0.01 * t.usd_in + 1e-6
    other, _ = _rebuild(events, list(range(0, len(events), 7)), book)
    for name, frame in other.to_frames().items():
        assert_frame_equal(frame, ledger.to_frames()[name])
