"""AquaOpportunityDetector: whales, the three opportunity types, the safety features."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from eth_utils.crypto import keccak

from arbkit.aqua import (
    AquaOpportunity,
    AquaOpportunityConfig,
    AquaOpportunityDetector,
    Docked,
    PriceBook,
    Pulled,
    Pushed,
    Shipped,
    TokenInfo,
)
from arbkit.decider import AdvancedAIConfig, AdvancedAIDecider
from arbkit.errors import ArbkitError, ConfigError

AQUA = "0x1111113ccf1426a8e30e2bff5e005d929bf6a90a"
WETH = "0x" + "e0" * 20
USDC = "0x" + "a0" * 20
APP = "0x" + "ab" * 20
WHALE = "0x" + "11" * 20
SMALL = "0x" + "22" * 20
H = 10  # holding blocks in these tests


def _book(prices: list[float]) -> PriceBook:
    """WETH at ``prices[b]`` USD at block ``b``; USDC at 1."""
    blocks = list(range(len(prices)))
    return PriceBook(
        {WETH: TokenInfo("WETH", 18), USDC: TokenInfo("USDC", 6)},
        {"WETH": (blocks, prices), "USDC": (blocks, [1.0] * len(prices))},
    )


class _Chain:
    """Builds a consistent event stream: one tx per call, log indexes per block."""

    def __init__(self) -> None:
        self.log_index: dict[int, int] = {}
        self.tx = 0
        self.nonce = 0

    def _common(self, block: int, maker: str, h: str) -> dict[str, Any]:
        i = self.log_index.get(block, 0)
        self.log_index[block] = i + 1
        return {
            "maker": maker,
            "app": APP,
            "strategy_hash": h,
            "address": AQUA,
            "block": block,
            "tx_hash": "0x" + f"{self.tx:064x}",
            "log_index": i,
        }

    def ship(
        self, block: int, maker: str, weth_usd: float, usdc_usd: float, price: float
    ) -> list[Any]:
        self.tx += 1
        self.nonce += 1
        strategy = self.nonce.to_bytes(32, "big")
        h = "0x" + keccak(strategy).hex()
        return [
            Shipped(**self._common(block, maker, h), strategy=strategy),
            Pushed(
                **self._common(block, maker, h), token=WETH, amount=int(weth_usd / price * 1e18)
            ),
            Pushed(**self._common(block, maker, h), token=USDC, amount=int(usdc_usd * 1e6)),
        ]

    def dock(self, block: int, ship: Shipped) -> list[Any]:
        self.tx += 1
        return [Docked(**self._common(block, ship.maker, ship.strategy_hash))]

    def swap(self, block: int, ship: Shipped, usdc_in: int, weth_out: int) -> list[Any]:
        self.tx += 1
        h = ship.strategy_hash
        return [
            Pushed(**self._common(block, ship.maker, h), token=USDC, amount=usdc_in),
            Pulled(**self._common(block, ship.maker, h), token=WETH, amount=weth_out),
        ]


def _run(det: AquaOpportunityDetector, events: list[Any]) -> list[AquaOpportunity]:
    return asyncio.run(det.process_events(events))


def _cfg(**kw: Any) -> AquaOpportunityConfig:
    base: dict[str, Any] = {
        "holding_blocks": H,
        "strategy_cooldown_s": 0.0,
        "min_track_strategies": 3,
        "min_track_record": 0.6,
    }
    return AquaOpportunityConfig(**{**base, **kw})


def test_whale_entry_is_copied_only_when_copy_trading_is_on() -> None:
    book = _book([2_000.0] * 50)
    c = _Chain()
    events = c.ship(5, WHALE, 80_000, 20_000, 2_000.0)  # 80 % in WETH: long
    off = AquaOpportunityDetector(config=_cfg(), price_fetcher=book)
    assert _run(off, events) == []
    assert off.stats["dropped"] == {"copy_trading_off": 1}
    on = AquaOpportunityDetector(config=_cfg(enable_copy_trading=True), price_fetcher=book)
    (opp,) = _run(on, events)
    assert (opp.kind, opp.execution, opp.side, opp.symbol) == ("whale_entry", "spot", "buy", "WETH")
    assert opp.tilt == pytest.approx(0.8, abs=1e-9)
    assert opp.whale_usd == pytest.approx(100_000.0, rel=1e-9)
    # position_fraction (10 %) of the allocation, then the 5,000 USD position cap
    assert opp.size_usd == 5_000.0
    assert opp.score == 0.5  # a maker never seen: the prior
    assert (opp.block, opp.tx_hash, opp.log_index) == (5, events[0].tx_hash, 0)


def test_ship_is_decided_when_its_transaction_is_complete() -> None:
    book = _book([2_000.0] * 50)
    c = _Chain()
    ship = c.ship(5, WHALE, 20_000, 80_000, 2_000.0)  # 20 % in WETH: short view
    det = AquaOpportunityDetector(config=_cfg(enable_copy_trading=True), price_fetcher=book)
    got: list[AquaOpportunity] = []
    for e in ship:
        got += asyncio.run(det.process_event(e))
    assert got == []  # the allocation may not be complete yet
    (opp,) = asyncio.run(det.flush())
    assert opp.side == "sell"
    # an event of another transaction also closes it
    det2 = AquaOpportunityDetector(config=_cfg(enable_copy_trading=True), price_fetcher=book)
    nxt = c.ship(6, SMALL, 100, 100, 2_000.0)
    out: list[AquaOpportunity] = []
    for e in ship + nxt[:1]:
        out += asyncio.run(det2.process_event(e))
    assert [o.side for o in out] == ["sell"]


def test_small_and_untilted_allocations_are_not_whale_entries() -> None:
    book = _book([2_000.0] * 50)
    c = _Chain()
    det = AquaOpportunityDetector(config=_cfg(enable_copy_trading=True), price_fetcher=book)
    events = c.ship(5, SMALL, 4_000, 4_000, 2_000.0) + c.ship(6, WHALE, 52_000, 48_000, 2_000.0)
    assert _run(det, events) == []
    assert det.stats["dropped"] == {"no_tilt": 1}


def test_redelivered_events_are_ignored() -> None:
    book = _book([2_000.0] * 50)
    c = _Chain()
    events = c.ship(5, WHALE, 80_000, 20_000, 2_000.0)
    det = AquaOpportunityDetector(config=_cfg(enable_copy_trading=True), price_fetcher=book)
    first = _run(det, events)
    again = _run(det, events)
    assert len(first) == 1 and again == []
    assert det.stats["duplicates"] == 3
    assert det.stats["events"] == 3


def _record(prices: list[float], hits: list[bool]) -> tuple[list[Any], _Chain]:
    """A maker ships one small strategy per period, tilted right (hit) or wrong."""
    c = _Chain()
    events: list[Any] = []
    for k, hit in enumerate(hits):
        block = 1 + k * (H + 1)
        up = prices[block + H] > prices[block]
        long = up if hit else not up
        weth, usdc = (700, 300) if long else (300, 700)
        events += c.ship(block, SMALL, weth, usdc, prices[block])
    return events, c


def _zigzag(n: int) -> list[float]:
    return [2_000.0 * (1.01 if (b // (H + 1)) % 2 else 1.0) + b for b in range(n)]


def test_track_record_counts_only_checkable_strategies_and_gates_copies() -> None:
    prices = _zigzag(120)
    events, c = _record(prices, [True, True, True, True])
    det = AquaOpportunityDetector(
        config=_cfg(enable_copy_trading=True), price_fetcher=_book(prices)
    )
    _run(det, events)
    last_ship = events[-3].block
    # at the last ship, its own tilt cannot be checked yet (its holding period is ahead)
    assert det.track_record(SMALL, last_ship) == (4 / 5, 3)
    assert det.track_record(SMALL, last_ship + H) == (5 / 6, 4)
    # a proven maker's next small strategy is copied (strategy_copy, not a whale)
    new = c.ship(last_ship + H + 1, SMALL, 80, 20, prices[last_ship + H + 1])
    (opp,) = _run(det, new)
    assert (opp.kind, opp.execution, opp.side) == ("strategy_copy", "copy", "buy")
    assert opp.score == pytest.approx(5 / 6)
    assert opp.size_usd == pytest.approx(10.0)  # 10 % of the 100 USD allocation


def test_a_maker_that_keeps_missing_is_not_followed_even_as_a_whale() -> None:
    prices = _zigzag(120)
    events, c = _record(prices, [False, False, False, False])
    det = AquaOpportunityDetector(
        config=_cfg(enable_copy_trading=True), price_fetcher=_book(prices)
    )
    _run(det, events)
    b = events[-3].block + H + 1
    assert _run(det, c.ship(b, SMALL, 80_000, 20_000, prices[b])) == []
    assert det.stats["dropped"]["track_record"] >= 1


def test_whale_exit_counter_trades_with_a_flash_loan_or_buys_a_dip() -> None:
    book = _book([2_000.0] * 50)
    c = _Chain()
    big = c.ship(1, WHALE, 60_000, 60_000, 2_000.0)
    small = c.ship(2, SMALL, 15_000, 15_000, 2_000.0)
    cfg = _cfg(flash_loan_min_usd=50_000.0, counter_dip_bps=20.0)

    class Pools:
        def __init__(self, dip_bps: float) -> None:
            self.dip = dip_bps

        def dex_price_usd(self, symbol: str, block: int) -> float:
            return 2_000.0 * (1 - self.dip / 1e4)

    det = AquaOpportunityDetector(config=cfg, price_fetcher=book, uniswap_connector=Pools(30))
    out = _run(det, big + small + c.dock(3, big[0]) + c.dock(4, small[0]))
    assert [(o.kind, o.execution, o.side) for o in out] == [
        ("whale_exit", "flash_loan", None),
        ("whale_exit", "spot", "buy"),
    ]
    assert out[0].whale_usd == pytest.approx(120_000.0)
    assert out[1].size_usd == pytest.approx(3_000.0)
    # no dip: no spot counter-trade; counter-trading off: nothing at all
    det = AquaOpportunityDetector(config=cfg, price_fetcher=book, uniswap_connector=Pools(5))
    assert len(_run(det, big + small + c.dock(5, big[0]) + c.dock(6, small[0]))) == 1
    assert det.stats["dropped"]["no_dip"] == 1
    off = _cfg(enable_counter_trading=False)
    det = AquaOpportunityDetector(config=off, price_fetcher=book)
    assert _run(det, big + c.dock(7, big[0])) == []
    assert det.stats["dropped"]["counter_trading_off"] == 1


def test_gas_price_limit_cooldown_and_exposure_cap() -> None:
    book = _book([2_000.0] * 200)
    c = _Chain()
    cfg = _cfg(
        enable_copy_trading=True,
        max_gas_price_gwei=50.0,
        strategy_cooldown_s=120.0,
        max_total_exposure_usd=7_000.0,
        holding_blocks=100,
    )
    det = AquaOpportunityDetector(config=cfg, price_fetcher=book)
    det.observe_block(5, timestamp_s=1_000.0, gas_price_gwei=80.0)
    assert _run(det, c.ship(5, WHALE, 80_000, 20_000, 2_000.0)) == []
    assert det.stats["dropped"] == {"gas_price": 1}
    det.observe_block(6, timestamp_s=1_012.0, gas_price_gwei=20.0)
    (a,) = _run(det, c.ship(6, WHALE, 80_000, 20_000, 2_000.0))
    det.observe_block(7, timestamp_s=1_024.0)  # 12 s later: the same maker cools down
    assert _run(det, c.ship(7, WHALE, 80_000, 20_000, 2_000.0)) == []
    assert det.stats["dropped"]["cooldown"] == 1
    det.observe_block(20, timestamp_s=1_200.0)  # cooled down; exposure: 5,000 open of 7,000
    (b,) = _run(det, c.ship(20, WHALE, 80_000, 20_000, 2_000.0))
    assert (a.size_usd, b.size_usd) == (5_000.0, 2_000.0)
    det.observe_block(40, timestamp_s=1_500.0)
    assert _run(det, c.ship(40, WHALE, 80_000, 20_000, 2_000.0)) == []
    assert det.stats["dropped"]["exposure_cap"] == 1
    # the holding period ends: the positions are due and the exposure is free again
    due = det.observe_block(106, timestamp_s=2_000.0)
    assert due == [a] and det.open_exposure_usd == 2_000.0


def test_executor_gets_every_opportunity_sync_or_async() -> None:
    book = _book([2_000.0] * 50)
    c = _Chain()
    events = c.ship(5, WHALE, 80_000, 20_000, 2_000.0) + c.ship(6, SMALL, 20_000, 80_000, 2_000.0)

    class Sync:
        def __init__(self) -> None:
            self.seen: list[AquaOpportunity] = []

        def execute(self, opp: AquaOpportunity) -> None:
            self.seen.append(opp)

    class Async(Sync):
        async def execute(self, opp: AquaOpportunity) -> None:  # type: ignore[override]
            await asyncio.sleep(0)
            self.seen.append(opp)

    class Failing:
        def execute(self, opp: AquaOpportunity) -> None:
            raise ArbkitError("node down")

    for ex in (Sync(), Async()):
        det = AquaOpportunityDetector(
            config=_cfg(enable_copy_trading=True), price_fetcher=book, flash_executor=ex
        )
        out = _run(det, events)
        assert ex.seen == out and len(out) == 2 and det.stats["executed"] == 2
    det = AquaOpportunityDetector(
        config=_cfg(enable_copy_trading=True), price_fetcher=book, flash_executor=Failing()
    )
    assert len(_run(det, events)) == 2
    assert det.stats["execution_errors"] == 2


def test_connections_are_per_chain_id_with_a_ledger_each() -> None:
    book = _book([2_000.0] * 50)
    eth, poly, base = object(), object(), object()
    cfg = _cfg(enable_copy_trading=True, chain_ids={"ethereum": 31337, "polygon": 137})
    det = AquaOpportunityDetector(
        w3_ethereum=eth, w3_polygon=poly, config=cfg, price_fetcher=book, connections={8453: base}
    )
    assert det.connections == {31337: eth, 137: poly, 8453: base}
    c = _Chain()
    events = c.ship(5, WHALE, 80_000, 20_000, 2_000.0)
    (a,) = asyncio.run(det.process_events(events, "ethereum"))
    (b,) = asyncio.run(det.process_events(events, "polygon"))  # same logs, other chain
    assert (a.chain_id, b.chain_id) == (31337, 137)
    assert det.ledger("ethereum") is not det.ledger(137)
    with pytest.raises(ConfigError, match="unknown chain 'arbitrum'"):
        det.ledger("arbitrum")
    with pytest.raises(ConfigError, match="no web3 connection"):
        det.watcher(10)


def test_price_fetcher_is_required_and_checked() -> None:
    with pytest.raises(ConfigError, match="needs price_fetcher"):
        AquaOpportunityDetector()
    with pytest.raises(ConfigError, match="PriceBook or a MarketHistory"):
        AquaOpportunityDetector(price_fetcher={"WETH": 2_000})


def test_the_decider_scores_spot_opportunities() -> None:
    prices = _zigzag(120)
    events, c = _record(prices, [True] * 6)
    b = events[-3].block + H + 1
    ship = c.ship(b, SMALL, 800_000, 200_000, prices[b])
    strict = AdvancedAIDecider(AdvancedAIConfig(enable_ml_scoring=False))
    det = AquaOpportunityDetector(
        config=_cfg(enable_copy_trading=True), price_fetcher=_book(prices), ai_decider=strict
    )
    assert _run(det, events) == []  # unknown makers: score 0.5, no edge to pay the fees
    assert det.stats["dropped"]["decider"] >= 1
    lenient = AdvancedAIDecider(
        AdvancedAIConfig(enable_ml_scoring=False, min_profit_eth=0.0, confidence_threshold=0.6)
    )
    det = AquaOpportunityDetector(
        config=_cfg(enable_copy_trading=True), price_fetcher=_book(prices), ai_decider=lenient
    )
    _run(det, events)
    (opp,) = _run(det, ship)
    assert opp.kind == "whale_entry" and opp.score == pytest.approx(7 / 8)
    assert 0 < opp.size_usd <= 5_000.0
    assert opp.expected_edge_bps > 0


def test_an_opportunity_not_traded_frees_its_exposure() -> None:
    book = _book([2_000.0] * 50)
    c = _Chain()
    cfg = _cfg(enable_copy_trading=True, max_total_exposure_usd=6_000.0, holding_blocks=40)
    det = AquaOpportunityDetector(config=cfg, price_fetcher=book)
    (a,) = _run(det, c.ship(5, WHALE, 80_000, 20_000, 2_000.0))
    assert det.open_exposure_usd == 5_000.0
    det.release(a)
    assert det.open_exposure_usd == 0.0
    (b,) = _run(det, c.ship(6, SMALL, 80_000, 20_000, 2_000.0))
    assert b.size_usd == 5_000.0  # the cap did not count the released one


def test_an_event_the_ledger_refuses_is_counted_and_the_stream_goes_on() -> None:
    book = _book([2_000.0] * 50)
    c = _Chain()
    ship = c.ship(1, WHALE, 80_000, 20_000, 2_000.0)
    over = c.swap(2, ship[0], 10**6, 10**30)  # pulls more WETH than the strategy holds
    later = c.ship(3, SMALL, 80_000, 20_000, 2_000.0)
    det = AquaOpportunityDetector(config=_cfg(enable_copy_trading=True), price_fetcher=book)
    out = _run(det, ship + over + later)
    assert det.stats["ledger_errors"] == 1
    assert [o.maker for o in out] == [WHALE, SMALL]  # both ships followed
    ledger = det.ledger()
    assert ledger.balances(WHALE, APP, ship[0].strategy_hash)[WETH] == ship[1].amount
    assert ledger.last_key == (3, later[-1].log_index)
