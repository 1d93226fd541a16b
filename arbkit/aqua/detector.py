"""The Aqua opportunity detector: whale tracking and the three opportunity types.

:class:`AquaOpportunityDetector` keeps one :class:`~arbkit.aqua.ledger.MakerLedger` per
chain, fed by :meth:`~AquaOpportunityDetector.process_event` in chain order, and turns
what makers do into :class:`AquaOpportunity` objects:

``whale_entry`` (copy)
    A maker ships a strategy whose allocation is worth at least
    ``min_pushed_amount_usd``. The allocation's tilt (the USD share of the pair's
    volatile token, ``w``) is the whale's view: ``w > 0.5 + min_tilt`` reads as long the
    volatile token (``buy``), ``w < 0.5 - min_tilt`` as short (``sell``, long-only: only
    what the follower holds). A pair of two stablecoins holds no view and is not
    followed. A whale whose record is checked (``min_track_strategies``) must score at
    least ``min_track_record``; one without a record yet is copied only with
    ``copy_unproven_whales``. Needs ``enable_copy_trading``.
``strategy_copy`` (replicate)
    A maker with a proven track record (at least ``min_track_strategies`` strategies
    whose tilt can be checked, and a hit rate of at least ``min_track_record``) ships
    any strategy: replicate its tilt, whatever its size. Needs ``enable_copy_trading``.
``whale_exit`` (counter-trade)
    A whale docks: its released balances are worth at least ``min_pushed_amount_usd``.
    Counter-trade the dip: an arbitrage on the whale's pair with a flash loan when the
    released value is at least ``flash_loan_min_usd`` (the pools a whale's exit hits are
    where the dip is), else a spot buy when the pool trades at least
    ``counter_dip_bps`` below the market. Needs ``enable_counter_trading``.

**Track record.** A maker's tilt "hits" when the volatile token's return over the
``holding_blocks`` after the ship has the tilt's sign; only strategies shipped at least
``holding_blocks`` before the current block count (nothing is read from the future).
The score is the Laplace-smoothed hit rate ``(hits + 1) / (n + 2)``: 0.5 for a maker
never seen, which is also the confidence of an opportunity.

**Scoring.** With an ``ai_decider``, every spot opportunity is offered to it as an
:class:`~arbkit.decider.AICandidate`: edge = ``(2 score - 1)`` times the expected absolute
move of the volatile token over the holding period (measured on past quotes), costs =
two swaps' gas, pool fees and price impact, confidence = the score. The decider's
threshold, minimum profit and Kelly sizing decide; a rejected opportunity is dropped
and counted. Without a decider, spot opportunities need ``score >= min_track_record``
when the maker has a record, and the size is ``position_fraction`` of the allocation.

**Safety.** Every opportunity is capped at ``max_position_size_usd`` and the open
exposure at ``max_total_exposure_usd``; none is emitted while the gas price exceeds
``max_gas_price_gwei``, nor within ``strategy_cooldown_s`` of the last one following the
same strategy or maker; spot trades carry ``max_slippage_bps`` (the executor refuses a
fill worse than that against the market price). Copy trading is off unless configured
(``enable_copy_trading``, the aggressive risk profile, ``AQUA_ENABLE_COPY_TRADING``).

**Execution.** The opportunities are returned; when a ``flash_executor`` is given, each
one is handed to it (``execute(opportunity)``, awaited when it is a coroutine). The
backtest and the live runner use :class:`~arbkit.aqua.policy.AquaFollowingPolicy`, which
sends them as orders through the one replay and the runner's caps.
"""

from __future__ import annotations

import inspect
import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from arbkit.aqua.config import CHAIN_NAMES, AquaOpportunityConfig
from arbkit.aqua.events import AquaEvent, Docked, Shipped
from arbkit.aqua.ledger import (
    AquaLedgerError,
    LedgerUpdate,
    MakerLedger,
    PriceBook,
    StrategyState,
)
from arbkit.errors import ArbkitError, ConfigError
from arbkit.execution.spot import SPOT_GAS_UNITS
from arbkit.market.tokens import STABLECOINS

__all__ = [
    "CHAIN_NAMES",
    "AquaOpportunity",
    "AquaOpportunityDetector",
    "OpportunityKind",
]

logger = logging.getLogger(__name__)

OpportunityKind = Literal["whale_entry", "whale_exit", "strategy_copy"]
Execution = Literal["spot", "copy", "flash_loan"]


@dataclass(frozen=True)
class AquaOpportunity:
    """One thing worth doing because of what a maker did.

    Attributes
    ----------
    kind
        ``whale_entry``, ``whale_exit`` or ``strategy_copy``.
    execution
        ``spot`` (a spot buy or sell), ``copy`` (a spot position replicating a
        strategy's tilt) or ``flash_loan`` (an arbitrage on the pair, flash-funded).
    side
        ``buy`` or ``sell`` of ``symbol`` for spot and copy; ``None`` for flash loans.
    symbol, token
        The volatile token of the strategy's pair: symbol and address.
    pair
        The pair's two token symbols.
    chain_id, maker, app, strategy_hash
        Whose action it follows.
    block, tx_hash, log_index
        The event that triggered it (known at ``block``).
    size_usd
        Notional to trade, after the caps.
    whale_usd
        The whale's allocation (entries, copies) or released balances (exits), in USD.
    tilt
        USD share of the volatile token in the allocation (``None`` for exits).
    score
        The maker's track-record score, the opportunity's confidence.
    expected_edge_bps
        Expected move in the trade's favour over the holding period, in bps.
    holding_blocks
        Blocks after which a spot or copy position is closed.
    max_slippage_bps
        Worst fill accepted against the market price.
    reason
        Why it was emitted, in words.
    """

    kind: OpportunityKind
    execution: Execution
    side: Literal["buy", "sell"] | None
    symbol: str
    token: str
    pair: tuple[str, str]
    chain_id: int
    maker: str
    app: str
    strategy_hash: str
    block: int
    tx_hash: str
    log_index: int
    size_usd: float
    whale_usd: float
    tilt: float | None
    score: float
    expected_edge_bps: float
    holding_blocks: int
    max_slippage_bps: float
    reason: str


@dataclass
class _ShipRecord:
    """A maker's shipped allocation, for its track record (the hit is checked once)."""

    block: int
    tilt: float
    volatile: str
    other: str
    hit: bool | None = None


@dataclass
class _ChainState:
    ledger: MakerLedger
    pending_ships: list[tuple[Shipped, int]] = field(default_factory=list)
    last_tx: str | None = None
    ships: dict[str, list[_ShipRecord]] = field(default_factory=dict)


@dataclass
class _Open:
    opportunity: AquaOpportunity
    until_block: int


class AquaOpportunityDetector:
    """Follow Aqua makers: keep their ledger, find whales, emit opportunities.

    Parameters
    ----------
    w3_ethereum, w3_polygon
        Web3 connections to Ethereum and Polygon (either may be ``None``); their chain ids
        are ``config.chain_ids`` (``ethereum`` 1, ``polygon`` 137 by default). More
        chains go in ``connections``.
    config
        The detector's options (:class:`AquaOpportunityConfig`).
    ai_decider
        An :class:`~arbkit.decider.AdvancedAIDecider` that scores spot opportunities (see
        the module docstring); ``None`` uses the track-record rule.
    uniswap_connector
        Anything with ``dex_price_usd(symbol, block) -> float | None`` (the price of a
        token on its spot pool), for the dip check of whale exits; ``None`` skips spot
        counter-trades (flash-loan counter-trades need no price).
    price_fetcher
        The quotes that value tokens: a :class:`~arbkit.aqua.ledger.PriceBook` or a
        :class:`~arbkit.market.history.MarketHistory` (its CEX quotes).
    flash_executor
        Anything with ``execute(opportunity)`` (sync or async); each emitted opportunity
        is handed to it. ``None``: the opportunities are only returned.
    connections
        More chains: chain id -> web3 connection.
    tokens
        Token symbol -> address on the watched chain (default: the price book's).

    Attributes
    ----------
    stats
        Counters: events, duplicates, opportunities by kind, dropped by reason, executed.
    opportunities
        Every opportunity emitted, in order.
    connections
        Chain id -> web3 connection.
    prices
        The :class:`~arbkit.aqua.ledger.PriceBook` every ledger values with.
    spot_fee_bps
        Fee of the pool spot trades go through, charged twice (in and out) in the edge
        offered to the decider; 30 unless the caller knows its pool
        (:class:`~arbkit.aqua.policy.AquaFollowingPolicy` sets its spot pool's).
    """

    def __init__(
        self,
        w3_ethereum: Any = None,
        w3_polygon: Any = None,
        config: AquaOpportunityConfig | None = None,
        ai_decider: Any = None,
        uniswap_connector: Any = None,
        price_fetcher: Any = None,
        flash_executor: Any = None,
        *,
        connections: Mapping[int, Any] | None = None,
        tokens: Mapping[str, str] | None = None,
    ) -> None:
        self.config = config or AquaOpportunityConfig()
        self.ai_decider = ai_decider
        self.uniswap_connector = uniswap_connector
        self.flash_executor = flash_executor
        ids = self.config.chain_ids
        self.connections: dict[int, Any] = {}
        if w3_ethereum is not None:
            self.connections[ids["ethereum"]] = w3_ethereum
        if w3_polygon is not None:
            self.connections[ids["polygon"]] = w3_polygon
        self.connections.update(dict(connections or {}))
        self.prices = _price_book(price_fetcher, tokens)
        self._chains: dict[int, _ChainState] = {}
        self._open: list[_Open] = []
        self._last_action_s: dict[tuple[str, ...], float] = {}
        self._block = -1
        self._timestamp_s: float | None = None
        self._gas_price_gwei: float | None = None
        self.spot_fee_bps = 30.0  # the spot pool's fee; the policy sets its pool's
        self._move_cache: dict[tuple[str, int], float | None] = {}
        self.opportunities: list[AquaOpportunity] = []
        self.stats: dict[str, Any] = {
            "events": 0,
            "duplicates": 0,
            "opportunities": {"whale_entry": 0, "whale_exit": 0, "strategy_copy": 0},
            "dropped": {},
            "executed": 0,
            "execution_errors": 0,
            "ledger_errors": 0,
        }

    # -- chains -----------------------------------------------------------------------

    def chain_id(self, chain: int | str) -> int:
        """Return the chain id of ``chain`` (a name of ``config.chain_ids`` or an id)."""
        if isinstance(chain, int):
            return chain
        try:
            return self.config.chain_ids[chain]
        except KeyError:
            raise ConfigError(
                f"unknown chain {chain!r}; configured: {sorted(self.config.chain_ids)}"
            ) from None

    def ledger(self, chain: int | str = "ethereum") -> MakerLedger:
        """Return the maker ledger of a chain."""
        return self._state(self.chain_id(chain)).ledger

    def _state(self, chain_id: int) -> _ChainState:
        state = self._chains.get(chain_id)
        if state is None:
            state = _ChainState(MakerLedger(self.prices))
            self._chains[chain_id] = state
        return state

    def watcher(self, chain: int | str = "ethereum", **kwargs: Any) -> Any:
        """Return an :class:`~arbkit.aqua.watch.AquaEventWatcher` on the chain's connection.

        ``kwargs`` go to the watcher (``checkpoint``, ``from_block``, ``batch_blocks``...);
        the addresses are ``config.aqua_contract_addresses``.
        """
        from arbkit.aqua.watch import AquaEventWatcher

        cid = self.chain_id(chain)
        w3 = self.connections.get(cid)
        if w3 is None:
            raise ConfigError(f"no web3 connection for chain {chain!r} (id {cid})")
        kwargs.setdefault("addresses", self.config.aqua_contract_addresses)
        kwargs.setdefault("chain_id", cid)
        return AquaEventWatcher(w3, **kwargs)

    # -- the market's state --------------------------------------------------------------

    def observe_block(
        self, block: int, *, timestamp_s: float | None = None, gas_price_gwei: float | None = None
    ) -> list[AquaOpportunity]:
        """Tell the detector the current block, its time and gas price; close due positions.

        Returns
        -------
        list of AquaOpportunity
            The spot and copy positions whose holding period ended (to be closed).
        """
        self._block = max(self._block, block)
        if timestamp_s is not None:
            self._timestamp_s = timestamp_s
        if gas_price_gwei is not None:
            self._gas_price_gwei = gas_price_gwei
        due = [o.opportunity for o in self._open if o.until_block <= block]
        self._open = [o for o in self._open if o.until_block > block]
        return due

    def release(self, opportunity: AquaOpportunity) -> None:
        """Forget an opportunity's position: it was not traded (its exposure is free)."""
        self._open = [o for o in self._open if o.opportunity is not opportunity]

    @property
    def open_exposure_usd(self) -> float:
        """USD notional of the spot and copy positions still open."""
        return sum(o.opportunity.size_usd for o in self._open)

    # -- events --------------------------------------------------------------------------

    async def process_event(
        self, event: AquaEvent, chain: int | str = "ethereum"
    ) -> list[AquaOpportunity]:
        """Apply one Aqua event and return the opportunities it completes.

        Events of a chain must come in chain order; one already applied (same or earlier
        ``(block, log_index)``, e.g. re-delivered after a restart) is ignored. One the
        ledger refuses (a pull beyond the strategy's balance, an event after its dock:
        logs were lost upstream) is logged, counted in ``stats["ledger_errors"]`` and
        skipped; the ledger is unchanged and the stream goes on. A ship's
        opportunity is decided once its transaction is complete (the allocation's
        ``Pushed`` follow the ``Shipped``): at the next event of another transaction, or
        at :meth:`flush`.

        Parameters
        ----------
        event
            A decoded event (:func:`~arbkit.aqua.decode_aqua_log`).
        chain
            The chain it comes from (name or id).
        """
        cid = self.chain_id(chain)
        state = self._state(cid)
        last = state.ledger.last_key
        if last is not None and event.key <= last:
            self.stats["duplicates"] += 1
            return []
        self.stats["events"] += 1
        self._block = max(self._block, event.block)
        found: list[AquaOpportunity] = []
        if state.last_tx is not None and event.tx_hash != state.last_tx:
            found += self._close_ships(cid, state)
        try:
            updates = state.ledger.apply(event)
        except AquaLedgerError as exc:
            # the ledger refused it and is unchanged (e.g. a pull beyond the balance: logs
            # were lost upstream); say so and keep following the rest of the stream
            self.stats["ledger_errors"] += 1
            logger.warning("Aqua event not applied: %s", exc)
            return await self._emit(found)
        state.last_tx = event.tx_hash
        found += self._on_updates(cid, state, updates)
        return await self._emit(found)

    async def flush(self, chain: int | str = "ethereum") -> list[AquaOpportunity]:
        """Close the last transaction of a chain: decide its pending ships."""
        cid = self.chain_id(chain)
        state = self._state(cid)
        state.ledger.flush()
        state.last_tx = None
        return await self._emit(self._close_ships(cid, state))

    async def process_events(
        self, events: Iterable[AquaEvent], chain: int | str = "ethereum"
    ) -> list[AquaOpportunity]:
        """Apply events in order, then :meth:`flush`; return every opportunity."""
        out: list[AquaOpportunity] = []
        for e in events:
            out += await self.process_event(e, chain)
        return out + await self.flush(chain)

    def _on_updates(
        self, cid: int, state: _ChainState, updates: Iterable[LedgerUpdate]
    ) -> list[AquaOpportunity]:
        found: list[AquaOpportunity] = []
        for u in updates:
            if u.kind == "ship" and isinstance(u.event, Shipped):
                state.pending_ships.append((u.event, cid))
            elif u.kind == "dock" and isinstance(u.event, Docked):
                opp = self._exit(cid, state, u.event)
                if opp is not None:
                    found.append(opp)
        return found

    def _close_ships(self, cid: int, state: _ChainState) -> list[AquaOpportunity]:
        found: list[AquaOpportunity] = []
        for ship, _ in state.pending_ships:
            opp = self._entry(cid, state, ship)
            if opp is not None:
                found.append(opp)
        state.pending_ships.clear()
        return found

    # -- the three opportunity types --------------------------------------------------------

    def _drop(self, reason: str) -> None:
        d = self.stats["dropped"]
        d[reason] = d.get(reason, 0) + 1

    def _pair(self, st: StrategyState) -> tuple[str, str, str, str] | None:
        """Return (volatile symbol, its address, other symbol, other address) of a strategy."""
        infos = []
        for token in sorted(st.allocation or st.released or st.balances):
            info = self.prices.info(token)
            if info is None:
                return None
            infos.append((info.symbol, token))
        if len(infos) != 2:
            return None
        (s0, a0), (s1, a1) = sorted(infos)
        if s0 in STABLECOINS and s1 not in STABLECOINS:
            return s1, a1, s0, a0
        return s0, a0, s1, a1

    def _tilt(
        self, st: StrategyState, pair: tuple[str, str, str, str], block: int
    ) -> tuple[float, float] | None:
        """Return (USD share of the volatile token, allocation USD) at ``block``."""
        _, vol_addr, _, other_addr = pair
        v = self.prices.usd(vol_addr, st.allocation.get(vol_addr, 0), block)
        o = self.prices.usd(other_addr, st.allocation.get(other_addr, 0), block)
        if v is None or o is None or v + o <= 0:
            return None
        return v / (v + o), v + o

    def track_record(
        self, maker: str, block: int | None = None, chain: int | str = "ethereum"
    ) -> tuple[float, int]:
        """Return a maker's score and the number of strategies it rests on, at ``block``.

        A strategy counts once ``holding_blocks`` have passed since its ship (its tilt
        could be checked against the volatile token's return over that period).
        """
        blk = self._block if block is None else block
        h = self.config.holding_blocks
        hits = n = 0
        for rec in self._state(self.chain_id(chain)).ships.get(maker, ()):
            if rec.block + h > blk or abs(rec.tilt - 0.5) < self.config.min_tilt:
                continue
            if rec.hit is None:
                p0 = self.prices.price_usd(rec.volatile, rec.block)
                p1 = self.prices.price_usd(rec.volatile, rec.block + h)
                q0 = self.prices.price_usd(rec.other, rec.block)
                q1 = self.prices.price_usd(rec.other, rec.block + h)
                if not (p0 and p1 and q0 and q1):
                    continue
                rec.hit = (rec.tilt > 0.5) == ((p1 / p0) / (q1 / q0) > 1.0)
            n += 1
            hits += int(rec.hit)
        return (hits + 1) / (n + 2), n

    def _expected_move_bps(self, token: str, block: int) -> float:
        """Mean absolute return of ``token`` over ``holding_blocks``, from past quotes, in bps."""
        h = self.config.holding_blocks
        key = (token, block // max(h, 1))
        if key in self._move_cache:
            return self._move_cache[key] or 0.0
        moves = []
        for k in range(1, 41):
            b1, b0 = block - (k - 1) * h, block - k * h
            if b0 < 0:
                break
            p1, p0 = self.prices.price_usd(token, b1), self.prices.price_usd(token, b0)
            if p1 and p0:
                moves.append(abs(math.log(p1 / p0)))
        value = 1e4 * sum(moves) / len(moves) if len(moves) >= 5 else None
        self._move_cache[key] = value
        return value or 0.0

    def _gate(self, keys: tuple[tuple[str, ...], ...]) -> str | None:
        cfg = self.config
        if self._gas_price_gwei is not None and self._gas_price_gwei > cfg.max_gas_price_gwei:
            return "gas_price"
        now = self._now_s()
        for k in keys:
            last = self._last_action_s.get(k)
            if last is not None and now - last < cfg.strategy_cooldown_s:
                return "cooldown"
        return None

    def _now_s(self) -> float:
        return self._timestamp_s if self._timestamp_s is not None else 12.0 * self._block

    def _entry(self, cid: int, state: _ChainState, ship: Shipped) -> AquaOpportunity | None:
        cfg = self.config
        st = state.ledger.strategy(ship.strategy_key)
        if st is None or st.status != "shipped":
            return None
        pair = self._pair(st)
        tilt = None if pair is None else self._tilt(st, pair, ship.block)
        if pair is None or tilt is None:
            self._drop("unpriced")
            return None
        w, alloc_usd = tilt
        if pair[0] in STABLECOINS:
            # both tokens are stable: the tilt is no view on a price; not followed, and
            # left out of the track record
            self._drop("stable_pair")
            return None
        score, n = self.track_record(ship.maker, ship.block, cid)
        state.ships.setdefault(ship.maker, []).append(_ShipRecord(ship.block, w, pair[1], pair[3]))
        whale = alloc_usd >= cfg.min_pushed_amount_usd
        proven = n >= cfg.min_track_strategies and score >= cfg.min_track_record
        if not (whale or proven):
            return None
        kind: OpportunityKind = "whale_entry" if whale else "strategy_copy"
        if not cfg.enable_copy_trading:
            self._drop("copy_trading_off")
            return None
        if n >= cfg.min_track_strategies and score < cfg.min_track_record:
            self._drop("track_record")
            return None
        if n < cfg.min_track_strategies and not cfg.copy_unproven_whales:
            self._drop("unproven")
            return None
        if abs(w - 0.5) < cfg.min_tilt:
            self._drop("no_tilt")
            return None
        blocked = self._gate(((ship.maker,), ship.strategy_key))
        if blocked:
            self._drop(blocked)
            return None
        side: Literal["buy", "sell"] = "buy" if w > 0.5 else "sell"
        move = self._expected_move_bps(pair[1], ship.block)
        edge = (2.0 * score - 1.0) * move
        size = min(cfg.max_position_size_usd, cfg.position_fraction * alloc_usd)
        room = cfg.max_total_exposure_usd - self.open_exposure_usd
        if room <= 0:
            self._drop("exposure_cap")
            return None
        size = min(size, room)
        if self.ai_decider is not None:
            decided = self._decide(pair, side, size, score, edge, ship.block)
            if decided is None:
                self._drop("decider")
                return None
            size = decided
        opp = AquaOpportunity(
            kind=kind,
            execution="spot" if kind == "whale_entry" else "copy",
            side=side,
            **self._about(cid, ship, pair),
            size_usd=size,
            whale_usd=alloc_usd,
            tilt=w,
            score=score,
            expected_edge_bps=edge,
            holding_blocks=cfg.holding_blocks,
            max_slippage_bps=cfg.max_slippage_bps,
            reason=(
                f"{'whale' if whale else 'proven maker'} ships {alloc_usd:,.0f} USD "
                f"{w:.0%} in {pair[0]} (score {score:.2f} over {n})"
            ),
        )
        self._open.append(_Open(opp, ship.block + cfg.holding_blocks))
        self._mark((ship.maker,), ship.strategy_key)
        return opp

    def _exit(self, cid: int, state: _ChainState, dock: Docked) -> AquaOpportunity | None:
        cfg = self.config
        st = state.ledger.strategy(dock.strategy_key)
        if st is None or st.status != "docked":
            return None
        pair = self._pair(st)
        if pair is None:
            self._drop("unpriced")
            return None
        released = self.prices.value(st.released, dock.block)
        if released is None:
            self._drop("unpriced")
            return None
        if released < cfg.min_pushed_amount_usd:
            return None
        if not cfg.enable_counter_trading:
            self._drop("counter_trading_off")
            return None
        blocked = self._gate(((dock.maker, "exit"), (*dock.strategy_key, "exit")))
        if blocked:
            self._drop(blocked)
            return None
        score, _ = self.track_record(dock.maker, dock.block, cid)
        flash = released >= cfg.flash_loan_min_usd
        if not flash:
            dip = self._dip_bps(pair[0], pair[1], dock.block)
            if dip is None or dip < cfg.counter_dip_bps:
                self._drop("no_dip")
                return None
        size = min(cfg.max_position_size_usd, cfg.position_fraction * released)
        if not flash:
            room = cfg.max_total_exposure_usd - self.open_exposure_usd
            if room <= 0:
                self._drop("exposure_cap")
                return None
            size = min(size, room)
        opp = AquaOpportunity(
            kind="whale_exit",
            execution="flash_loan" if flash else "spot",
            side=None if flash else "buy",
            **self._about(cid, dock, pair),
            size_usd=size,
            whale_usd=released,
            tilt=None,
            score=score,
            expected_edge_bps=0.0,
            holding_blocks=cfg.counter_window_blocks if flash else cfg.holding_blocks,
            max_slippage_bps=cfg.max_slippage_bps,
            reason=f"whale docks {released:,.0f} USD on {pair[0]}/{pair[2]}",
        )
        if not flash:
            self._open.append(_Open(opp, dock.block + cfg.holding_blocks))
        self._mark((dock.maker, "exit"), (*dock.strategy_key, "exit"))
        return opp

    @staticmethod
    def _about(cid: int, event: AquaEvent, pair: tuple[str, str, str, str]) -> dict[str, Any]:
        """Return the fields of an opportunity that say what it follows (pair, event)."""
        return {
            "symbol": pair[0],
            "token": pair[1],
            "pair": (pair[0], pair[2]),
            "chain_id": cid,
            "maker": event.maker,
            "app": event.app,
            "strategy_hash": event.strategy_hash,
            "block": event.block,
            "tx_hash": event.tx_hash,
            "log_index": event.log_index,
        }

    def _dip_bps(self, symbol: str, token: str, block: int) -> float | None:
        conn = self.uniswap_connector
        if conn is None or not hasattr(conn, "dex_price_usd"):
            return None
        dex = conn.dex_price_usd(symbol, block)
        cex = self.prices.price_usd(token, block)
        if not dex or not cex:
            return None
        return float(1e4 * (cex - dex) / cex)

    def _decide(
        self,
        pair: tuple[str, str, str, str],
        side: str,
        size_usd: float,
        score: float,
        edge_bps: float,
        block: int,
    ) -> float | None:
        from arbkit.decider import AICandidate

        cfg = self.config
        price = self.prices.price_usd(pair[1], block) or 0.0
        eth = self.prices.price_usd(self._native_address(), block) or price or None
        gwei = self._gas_price_gwei if self._gas_price_gwei is not None else 1.0
        # a round trip: the buy and the sale, at the gas the replay charges a spot swap
        gas_usd = 2 * SPOT_GAS_UNITS * gwei * 1e-9 * (eth or 0.0)
        cand = AICandidate(
            symbol=f"{pair[0]}/{pair[2]}",
            edge_bps=edge_bps - 2 * self.spot_fee_bps,
            notional_quote=max(size_usd, 1e-9),
            gas_cost_quote=gas_usd,
            flash_fee_quote=0.0,
            # impact of a lot this size is refused above max_slippage_bps at execution
            slippage_quote=0.0,
            confidence=score,
            kind="cex_dex",
            route=(f"aqua:{side}:{pair[0]}",),
            eth_price_quote=eth,
        )
        value_eth = max(cfg.max_total_exposure_usd / (eth or 1.0), 1e-9)
        try:
            decision = self.ai_decider.pick_best([cand], portfolio_value_eth=value_eth)
        except ArbkitError as exc:
            logger.warning("decider refused an Aqua opportunity: %s", exc)
            return None
        if decision is None:
            return None
        return float(min(size_usd, decision.size_quote))

    def _native_address(self) -> str:
        for addr, info in self.prices.tokens.items():
            if info.symbol in ("WETH", "ETH"):
                return addr
        return ""

    def _mark(self, *keys: tuple[str, ...]) -> None:
        now = self._now_s()
        for k in keys:
            self._last_action_s[k] = now

    async def _emit(self, found: list[AquaOpportunity]) -> list[AquaOpportunity]:
        for opp in found:
            self.stats["opportunities"][opp.kind] += 1
            self.opportunities.append(opp)
            logger.info("aqua opportunity: %s %s", opp.kind, opp.reason)
            if self.flash_executor is not None:
                try:
                    result = self.flash_executor.execute(opp)
                    if inspect.isawaitable(result):
                        await result
                    self.stats["executed"] += 1
                except ArbkitError as exc:
                    self.stats["execution_errors"] += 1
                    logger.warning("aqua execution failed (%s): %s", opp.kind, exc)
        return found


def _price_book(price_fetcher: Any, tokens: Mapping[str, str] | None) -> PriceBook:
    if isinstance(price_fetcher, PriceBook):
        return price_fetcher
    from arbkit.market.history import MarketHistory

    if isinstance(price_fetcher, MarketHistory):
        return PriceBook.from_history(price_fetcher, tokens)
    if price_fetcher is None:
        raise ConfigError(
            "AquaOpportunityDetector needs price_fetcher: a PriceBook or a MarketHistory "
            "(the quotes that value makers' tokens)"
        )
    raise ConfigError(
        f"price_fetcher must be a PriceBook or a MarketHistory, got {type(price_fetcher).__name__}"
    )
