"""Whale following as a backtest policy: the detector's opportunities sent through the one replay.

:class:`AquaFollowingPolicy` is a :class:`~arbkit.backtest.BacktestPolicy`, so the
backtest, the decider's comparison and the live runner's dry-run drive it alike (one
replay, same caps, same P&L). At block ``t`` it reads only what is known at ``t``:

1. the block's Aqua events (the history's ``aqua_events`` of block ``t``) go to
   :class:`~arbkit.aqua.AquaOpportunityDetector`, with the block's time and gas price
   (base fee + the run's tip);
2. each opportunity becomes orders:

   - ``spot`` / ``copy`` ``buy``: a spot buy of the native token worth ``size_usd`` on the
     replay's spot pool, refused when its exact V2 price (``getAmountIn`` on the pool's
     reserves at ``t``) is more than ``max_slippage_bps`` worse than the CEX mid; the
     position is sold ``holding_blocks`` later (what is still held of it);
   - ``spot`` / ``copy`` ``sell``: long only, sells what the follower holds, up to
     ``size_usd``, with the same slippage check (``getAmountOut``);
   - ``flash_loan`` (whale exits): during the next ``counter_window_blocks`` blocks, the
     flash-loan candidates (``dex_dex``, ``triangular``) through the whale's pair's pools
     are offered to the decider (:class:`~arbkit.backtest.policies.DeciderPolicy`: its
     score, threshold and Kelly size), or without one to the rule (best positive
     expected net);
3. with ``arbitrage`` (any other policy), its orders come first and whale following is
   added on top: at most one candidate trade per block, so a flash-loan counter-trade
   waits for a block the arbitrage policy leaves free.
"""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import polars as pl

from arbkit.aqua.config import AquaOpportunityConfig
from arbkit.aqua.detector import AquaOpportunity, AquaOpportunityDetector
from arbkit.aqua.events import AquaEvent, events_from_history
from arbkit.aqua.ledger import PriceBook
from arbkit.backtest.policies import DeciderPolicy, RuleBaseline, as_backtest_policy
from arbkit.backtest.protocol import BacktestPolicy, BlockView, Order, PolicyBase, RunSetup
from arbkit.errors import ConfigError
from arbkit.execution import Outcome
from arbkit.execution.spot import pick_spot_pool
from arbkit.market.amm import get_amount_in, get_amount_out
from arbkit.market.history import MarketHistory
from arbkit.market.tokens import TOKEN_DECIMALS

__all__ = ["FLASH_KINDS", "AquaFollowingPolicy", "HistoryPoolPrices"]

FLASH_KINDS = frozenset({"dex_dex", "triangular"})
"""Candidate kinds a flash-loan counter-trade may take (no inventory, no CEX leg)."""


class HistoryPoolPrices:
    """The spot pools' prices of a market history, per block (the detector's connector).

    Parameters
    ----------
    history
        The market history.
    quote
        The quote token (its price is taken as 1 USD per unit, as the quotes do).
    """

    def __init__(self, history: MarketHistory, quote: str = "USDC") -> None:
        self.history = history
        self.quote = quote
        self._first = int(history.block_numbers[0]) if history.n_blocks else 0
        self._pools: dict[str, tuple[str, int]] = {}
        r0, r1 = history.reserves()
        self._r0, self._r1 = r0, r1

    def pool(self, symbol: str) -> tuple[str, int] | None:
        """Return (spot pool id, its index) of ``symbol`` against the quote, or None."""
        if symbol not in self._pools:
            try:
                pid = pick_spot_pool(self.history, self.quote, symbol)
            except ConfigError:  # the history has no such pool
                return None
            self._pools[symbol] = (pid, self.history.pool_index[pid])
        return self._pools[symbol]

    def reserves(self, symbol: str, block: int) -> tuple[int, int, int] | None:
        """Return (reserve of ``symbol``, reserve of quote, fee bps) at ``block``."""
        found = self.pool(symbol)
        t = block - self._first
        if found is None or not 0 <= t < self.history.n_blocks:
            return None
        _, i = found
        info = self.history.pools[i]
        r0, r1 = int(self._r0[t, i]), int(self._r1[t, i])
        if info.token0 == symbol:
            return r0, r1, int(info.fee_bps)
        return r1, r0, int(info.fee_bps)

    def dex_price_usd(self, symbol: str, block: int) -> float | None:
        """Return the pool's mid price of one ``symbol`` in quote at ``block``."""
        r = self.reserves(symbol, block)
        if r is None or r[0] <= 0:
            return None
        rb, rq, _ = r
        return float((rq / 10 ** TOKEN_DECIMALS[self.quote]) / (rb / 10 ** TOKEN_DECIMALS[symbol]))


class _Queue:
    """The detector's executor inside the policy: keeps what it is handed."""

    def __init__(self) -> None:
        self.items: list[AquaOpportunity] = []

    def execute(self, opportunity: AquaOpportunity) -> None:
        self.items.append(opportunity)


class AquaFollowingPolicy(PolicyBase):
    """Follow Aqua whales in a backtest or a dry-run (see the module docstring).

    Parameters
    ----------
    config
        The detector's options; copy trading is on only if they say so.
    ai_decider
        Scores the spot opportunities (:class:`AquaOpportunityDetector`).
    arbitrage
        A policy whose orders come first (plain arbitrage); ``None`` follows whales only.
    name
        The policy's name in reports (default ``aqua_follow`` or ``<arbitrage>+aqua``).
    events
        Where a block's Aqua events come from: ``events(block)`` returns them with the
        history's block number (the live runner reads them from the chain's logs);
        ``None`` reads the history's ``aqua_events`` table.

    Attributes
    ----------
    detector
        The run's detector (after ``on_start``).
    log
        What happened to every opportunity: ``(block, kind, execution, side, action)``.
    """

    every_block = True

    def __init__(
        self,
        config: AquaOpportunityConfig | None = None,
        *,
        ai_decider: Any = None,
        arbitrage: Any = None,
        name: str | None = None,
        events: Callable[[int], Sequence[AquaEvent]] | None = None,
    ) -> None:
        super().__init__()
        self._source = events
        self.tokens: dict[str, str] | None = None  # symbol -> address on the chain, if any
        self.config = config or AquaOpportunityConfig()
        self.ai_decider = ai_decider
        self.arbitrage: BacktestPolicy | None = (
            None if arbitrage is None else as_backtest_policy(arbitrage)
        )
        default = "aqua_follow" if self.arbitrage is None else f"{self.arbitrage.name}+aqua"
        self.name = name or default
        self.detector: AquaOpportunityDetector | None = None
        self.log: list[tuple[int, str, str, str | None, str]] = []
        self._queue = _Queue()
        self._events: dict[int, list[AquaEvent]] = {}
        self._counters: list[tuple[int, AquaOpportunity]] = []  # (last block, opportunity)

    # -- the run -------------------------------------------------------------------------

    def on_start(self, setup: RunSetup) -> None:
        """Build the run's detector and index the history's Aqua events by block."""
        if self.arbitrage is not None:
            self.arbitrage.on_start(setup)
        history = setup.history
        self._native = setup.scan.native_token
        self._quote = setup.scan.quote_token
        self._tip_wei = setup.priority_fee_wei
        self._pools = HistoryPoolPrices(history, self._quote)
        book = PriceBook.from_history(history, self.tokens)
        self.detector = AquaOpportunityDetector(
            config=self.config,
            ai_decider=self.ai_decider,
            uniswap_connector=self._pools,
            price_fetcher=book,
            flash_executor=self._queue,
        )
        spot = self._pools.pool(self._native)
        if spot is not None:
            self.detector.spot_fee_bps = float(history.pools[spot[1]].fee_bps)
        self._base_fee = history.base_fee_wei
        self._first = int(history.block_numbers[0]) if history.n_blocks else 0
        self._events = defaultdict(list)
        if self._source is None:
            for e in events_from_history(history.aqua_events, tokens=self.tokens):
                self._events[e.block].append(e)
        self._pair_pools: dict[frozenset[str], set[str]] = defaultdict(set)
        for p in history.pools:
            self._pair_pools[frozenset((p.token0, p.token1))].add(p.pool)
        self._counters = []
        self._counter_ids: set[int] = set()
        self.log = []
        # flash-loan counter-trades: the decider picks among the whale's pair's candidates
        # (its score, threshold and size), or the best positive expected net without one
        self._chooser: BacktestPolicy = (
            DeciderPolicy(self.ai_decider) if self.ai_decider is not None else RuleBaseline()
        )
        self._chooser.on_start(setup)

    def on_block(self, view: BlockView) -> Sequence[Order]:
        """Return the arbitrage policy's orders, then whale following's."""
        det = self.detector
        if det is None:
            raise RuntimeError("on_start was not called")
        orders: list[Order] = []
        if self.arbitrage is not None and (
            self.arbitrage.every_block or view.candidates.height > 0
        ):
            orders += list(self.arbitrage.on_block(view))
        t, block = view.t, view.block
        gwei = (int(self._base_fee[t]) + int(self._tip_wei)) / 1e9
        # the detector keeps the open positions (a buy not filled was released from them)
        due = det.observe_block(block, timestamp_s=float(view.timestamp), gas_price_gwei=gwei)
        events = self._source(block) if self._source is not None else self._events.get(block)
        if events:
            _run_now(det.process_events(events))
        price = float(view.regime.get("eth_price_quote") or math.nan)
        held = view.portfolio.native_value_quote
        # bought positions due: sell what is still held of them
        for opp in due:
            if opp.side != "buy":
                continue
            amount = min(opp.size_usd, 0.995 * held)
            if amount > 1.0:
                orders.append(Order(side="sell", amount_quote=amount, tag="aqua_close"))
                held -= amount
        taken = any(o.cand_id is not None for o in orders)
        for opp in self._queue.items:
            if opp.execution == "flash_loan":
                self._counters.append((block + opp.holding_blocks, opp))
                continue
            action, sold = self._spot(opp, view, price, held, orders)
            held -= sold
            if action not in ("buy", "sell"):
                det.release(opp)  # not traded: no exposure
            self.log.append((block, opp.kind, opp.execution, opp.side, action))
        self._queue.items.clear()
        self._counters = [c for c in self._counters if c[0] >= block]
        if not taken and self._counters:
            order = self._counter(view)
            if order is not None:
                orders.append(order)
        return orders

    def _spot(
        self, opp: AquaOpportunity, view: BlockView, price: float, held: float, orders: list[Order]
    ) -> tuple[str, float]:
        """Turn a spot or copy opportunity into an order: ``(action, quote value sold)``."""
        if opp.symbol != self._native or not (math.isfinite(price) and price > 0):
            return "not_spot_tradable", 0.0
        side = opp.side or "buy"
        amount = opp.size_usd if side == "buy" else min(opp.size_usd, 0.995 * held)
        if side == "sell" and amount <= 1.0:
            return "nothing_held", 0.0  # long only
        if self._slippage_bps(side, amount, view.block, price) > opp.max_slippage_bps:
            return "slippage", 0.0
        if side == "buy" and amount > view.portfolio.cash_quote:
            return "cash", 0.0
        orders.append(Order(side=side, amount_quote=amount, tag=opp))
        if side == "buy":
            return "buy", 0.0  # closed by the detector's observe_block after holding_blocks
        return "sell", amount

    def _slippage_bps(self, side: str, size_quote: float, block: int, price: float) -> float:
        """Exact V2 cost of a spot lot on the pool's reserves at ``block`` vs the CEX mid, bps.

        A buy pays ``getAmountIn(lot)`` of quote for the lot; a sell receives
        ``getAmountOut(lot)``; both against the lot's value at the CEX mid (fee included).
        """
        r = self._pools.reserves(self._native, block)
        if r is None:
            return math.inf
        rb, rq, fee = r
        lot = int(size_quote / price * 10 ** TOKEN_DECIMALS[self._native])
        if lot <= 0 or lot >= rb:
            return math.inf
        fair = price * lot / 10 ** TOKEN_DECIMALS[self._native]
        scale = 10 ** TOKEN_DECIMALS[self._quote]
        if side == "buy":
            return float(1e4 * (get_amount_in(lot, rq, rb, fee) / scale / fair - 1.0))
        return float(1e4 * (1.0 - get_amount_out(lot, rb, rq, fee) / scale / fair))

    def _counter(self, view: BlockView) -> Order | None:
        """Offer the whale's pair's flash-loan candidates to the counter-trade chooser."""
        c = view.candidates
        if c.height == 0:
            return None
        pools = set().union(*(self._pair_pools[frozenset(o.pair)] for _, o in self._counters))
        mask = [
            kind in FLASH_KINDS and bool(pools.intersection(route))
            for kind, route in zip(c["kind"].to_list(), c["route"].to_list(), strict=True)
        ]
        offered = c.filter(pl.Series(mask, dtype=pl.Boolean))
        if offered.height == 0:
            return None
        chosen = [
            o
            for o in self._chooser.on_block(dataclasses.replace(view, candidates=offered))
            if o.cand_id is not None
        ]
        if not chosen:
            return None
        self._counter_ids.add(int(chosen[0].cand_id))  # type: ignore[arg-type]
        self.log.append((view.block, "whale_exit", "flash_loan", None, "arbitrage"))
        return chosen[0]

    def on_outcome(self, order: Order, outcome: Outcome, view: BlockView) -> None:
        """Pass each outcome to the policy that sent the order (arbitrage or counter-trade)."""
        if order.cand_id is not None and int(order.cand_id) in self._counter_ids:
            self._counter_ids.discard(int(order.cand_id))
            self._chooser.on_outcome(order, outcome, view)
        elif self.arbitrage is not None and not _ours(order.tag):
            self.arbitrage.on_outcome(order, outcome, view)


def _run_now(coro: Any) -> Any:
    """Run a detector coroutine to completion from sync code (inside an event loop too).

    With the policy's own executor (a list) the detector's coroutines never suspend,
    so one step completes them; no event loop is needed.
    """
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    coro.close()
    raise RuntimeError("an Aqua executor that suspends cannot run inside the policy")


def _ours(tag: Any) -> bool:
    return isinstance(tag, AquaOpportunity) or tag == "aqua_close"
