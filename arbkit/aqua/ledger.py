"""The maker ledger: Aqua balances per strategy, trades, and makers' profitability.

Aqua's ``Docked`` carries no amounts, so whoever follows makers keeps a running ledger of
``balances[maker][app][strategyHash][token]`` (``../shared/reference/protocols.md``).
:class:`MakerLedger` is that ledger. Events are applied in chain order
(``(block, log_index)``); each one updates the balances at once (``Pushed`` +amount,
``Pulled`` -amount, exact Python ints) and is classified:

``ship``
    A ``Shipped``: a new lifecycle of the strategy begins (``lifecycle`` 0 for the first
    ship of a key, +1 on each ship after a dock).
``allocation``
    A ``Pushed`` in the same transaction as the strategy's ``Shipped``: the initial
    allocation (no trade).
``pending``
    A ``Pulled`` or ``Pushed`` waiting for its other leg. Legs are buffered per
    (transaction, maker, app, strategyHash, lifecycle).
``trade``
    The later leg of a pair: a ``Pulled`` (tokenOut, out of the strategy) and a
    ``Pushed`` (tokenIn, into it) of the same strategy in one transaction, of two
    different tokens, paired in order of arrival. It carries an :class:`AquaTrade`.
``deposit`` / ``withdrawal``
    A leg left unpaired when its transaction ended (an event of another transaction
    arrived, or :meth:`MakerLedger.flush`): a lone ``Pushed`` or ``Pulled``. The update
    carries the original event and is reported when the transaction is closed.
``dock``
    A ``Docked``: the balances are recorded as ``released`` and zeroed.

Strategies first seen without their ``Shipped`` (watching started late) get status
``unknown`` for that whole lifecycle, even after their dock: they are tracked (negative
balances allowed) but left out of maker sizing and profitability. A ``Pulled`` larger
than a shipped strategy's balance, any event but ``Shipped`` on a docked strategy, a
``Shipped`` on a live one, and an event at or before the last one applied raise
:class:`AquaLedgerError`; a refused event leaves the ledger unchanged.

Rebuilding from the same events gives identical :meth:`MakerLedger.to_frames` whatever
the batches (pending legs carry over from one call to the next); call
:meth:`~MakerLedger.flush` only at the end of the stream (or of a range of whole
transactions): the legs still pending are closed as deposits and withdrawals.

:class:`PriceBook` values token amounts in USD at a block, from a market history's
quotes, without look-ahead.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from itertools import pairwise
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal, overload

import numpy as np
import numpy.typing as npt
import polars as pl

from arbkit.aqua.events import AquaEvent, Docked, Pulled, Pushed, Shipped, token_address
from arbkit.errors import DataError

if TYPE_CHECKING:
    from arbkit.market.history import MarketHistory
    from arbkit.opportunities.config import ScanConfig

__all__ = [
    "AquaLedgerError",
    "AquaTrade",
    "LedgerUpdate",
    "MakerLedger",
    "MakerStats",
    "PriceBook",
    "StrategyKey",
    "StrategyState",
    "StrategyStats",
    "TokenInfo",
    "UpdateKind",
]

StrategyKey = tuple[str, str, str]
"""``(maker, app, strategy_hash)``, as :attr:`AquaEvent.strategy_key`."""

UpdateKind = Literal["ship", "allocation", "trade", "deposit", "withdrawal", "dock", "pending"]
Status = Literal["shipped", "docked", "unknown"]


class AquaLedgerError(DataError):
    """An Aqua event cannot be applied to the ledger (duplicate, out of order, lost logs).

    The message names the event's transaction, log index and block.
    """


def _where(event: AquaEvent) -> str:
    return (
        f"Aqua {event.name} (tx {event.tx_hash}, log index {event.log_index}, block {event.block})"
    )


# -- prices --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """What the price book knows of a token: its symbol and decimals."""

    symbol: str
    decimals: int


class PriceBook:
    """USD value of token amounts at a block, without look-ahead.

    The price of a token at block ``t`` is the last finite price of its series at or
    before ``t`` (a block after the series' end gets its last price; a block before its
    first price gets ``None``).

    Parameters
    ----------
    tokens
        Token address -> :class:`TokenInfo` (addresses are matched lower-case).
    prices
        Symbol -> ``(blocks, usd)``: blocks strictly increasing, USD per whole token at
        each block; non-finite prices are dropped (the previous price stays in force).

    Attributes
    ----------
    tokens
        Read-only address -> :class:`TokenInfo`.

    Raises
    ------
    DataError
        If a series' blocks and prices differ in length or its blocks do not increase.
    """

    __slots__ = ("_scale", "_series", "_symbol_of", "tokens")

    def __init__(
        self,
        tokens: Mapping[str, TokenInfo],
        prices: Mapping[str, tuple[Sequence[int], Sequence[float]]] | None = None,
    ) -> None:
        infos = {addr.lower(): info for addr, info in tokens.items()}
        self.tokens: Mapping[str, TokenInfo] = MappingProxyType(infos)
        self._symbol_of = {addr: info.symbol for addr, info in infos.items()}
        self._scale: dict[str, int] = {addr: 10**info.decimals for addr, info in infos.items()}
        self._series: dict[str, tuple[list[int], list[float]]] = {}
        for symbol, (blocks, values) in (prices or {}).items():
            b = [int(x) for x in blocks]
            v = [float(x) for x in values]
            if len(b) != len(v):
                raise DataError(f"PriceBook: {symbol} has {len(b)} blocks but {len(v)} prices")
            if any(b1 <= b0 for b0, b1 in pairwise(b)):
                raise DataError(f"PriceBook: the blocks of {symbol}'s prices must increase")
            keep = [i for i, x in enumerate(v) if math.isfinite(x)]
            self._series[symbol] = ([b[i] for i in keep], [v[i] for i in keep])

    @classmethod
    def from_history(
        cls,
        history: MarketHistory,
        tokens: Mapping[str, str] | None = None,
        *,
        config: ScanConfig | None = None,
    ) -> PriceBook:
        """Build the price book of a market history, priced as arbkit's scanner prices.

        Prices come from :func:`arbkit.opportunities.price_tokens` (the scanner's and the
        execution model's pricing): the quote token (``USDC`` by default, taken as the
        USD) is 1; a token with a CEX quote gets the best mid of the last quote at or
        before the block (forward-filled, CEX asset names mapped by
        ``cex_asset_aliases``, e.g. ``ETH`` -> ``WETH``); otherwise the deepest pool
        linking it to a priced token, at the block (pool states at block ``t`` are the
        pools after block ``t``). Nothing after the block is read.

        Parameters
        ----------
        history
            The market history (its blocks, pool states and CEX quotes).
        tokens
            Token symbol -> address. Every token of the history's pools, and every symbol
            listed here, is in the book; pool tokens not listed get
            :func:`~arbkit.aqua.events.token_address` (as
            :func:`~arbkit.aqua.events.events_from_history` does). Tokens without
            decimals in ``config.token_decimals`` are left out (unknown).
        config
            Scanner options: ``quote_token``, ``token_decimals``, ``cex_asset_aliases``
            (default :class:`~arbkit.opportunities.ScanConfig`).

        Returns
        -------
        PriceBook
            Every priced token's series over the history's blocks.
        """
        from arbkit.opportunities.config import ScanConfig
        from arbkit.opportunities.scanner import price_tokens

        cfg = config or ScanConfig()
        dec = cfg.token_decimals
        blocks = history.block_numbers
        pools = history.pools if history.n_blocks else ()
        keep = [i for i, p in enumerate(pools) if p.token0 in dec and p.token1 in dec]
        pool_tokens = [(pools[i].token0, pools[i].token1) for i in keep]
        r0 = r1 = np.full((blocks.size, 0), np.nan)
        if keep:
            r0f, r1f = history.reserves_float()
            r0, r1 = r0f[:, keep], r1f[:, keep]
        cex: dict[tuple[str, str], npt.NDArray[np.float64]] = {}
        if history.cex_quotes.height:
            aliases = cfg.cex_asset_aliases
            for symbol in sorted(set(history.cex_quotes["symbol"].to_list())):
                base, _, quote = str(symbol).partition("/")
                if not quote:
                    raise DataError(f"cex_quotes: symbol {symbol!r} is not of the form BASE/QUOTE")
                # the last quote at or before each block (mid of the best bid and ask)
                cex[(aliases.get(base, base), aliases.get(quote, quote))] = _ffill(
                    history.cex_mid(str(symbol))
                )
        whole = price_tokens(pool_tokens, r0, r1, cex, cex, cfg)
        mapping = {s: a.lower() for s, a in (tokens or {}).items()}
        symbols = {t for p in pools for t in (p.token0, p.token1)} | set(mapping)
        infos = {
            mapping.get(s) or token_address(s): TokenInfo(s, int(dec[s]))
            for s in sorted(symbols)
            if s in dec
        }
        block_list = blocks.tolist()
        series = {
            s: (block_list, np.asarray(p, dtype=np.float64).tolist())
            for s, p in whole.items()
            if s in dec
        }
        return cls(infos, series)

    def info(self, token: str) -> TokenInfo | None:
        """Return the symbol and decimals of a token address, ``None`` if unknown."""
        return self.tokens.get(token) or self.tokens.get(token.lower())

    def price_usd(self, token: str, block: int) -> float | None:
        """Return the USD price of one whole token at ``block``.

        Parameters
        ----------
        token
            Token address.
        block
            Block number; the last price at or before it is used.

        Returns
        -------
        float or None
            ``None`` if the token is unknown or has no price at or before ``block``.
        """
        symbol = self._symbol_of.get(token)
        if symbol is None:
            symbol = self._symbol_of.get(token.lower())
            if symbol is None:
                return None
        series = self._series.get(symbol)
        if series is None:
            return None
        blocks, values = series
        i = bisect_right(blocks, block) - 1
        return values[i] if i >= 0 else None

    def usd(self, token: str, amount: int, block: int) -> float | None:
        """Return the USD value of ``amount`` base units of ``token`` at ``block``.

        Parameters
        ----------
        token
            Token address.
        amount
            Base units (any Python int, negative allowed).
        block
            Block number; the last price at or before it is used.

        Returns
        -------
        float or None
            ``None`` if the token is unknown or has no price at or before ``block``.
        """
        price = self.price_usd(token, block)
        if price is None:
            return None
        scale = self._scale.get(token) or self._scale[token.lower()]
        return amount / scale * price

    def value(self, amounts: Mapping[str, int], block: int) -> float | None:
        """Return the USD value of several token amounts, ``None`` if any is unpriced."""
        total = 0.0
        for token, amount in amounts.items():
            if amount == 0:
                continue
            v = self.usd(token, amount, block)
            if v is None:
                return None
            total += v
        return total


def _ffill(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Forward-fill NaNs (leading NaNs stay)."""
    idx = np.where(np.isnan(x), 0, np.arange(x.size))
    np.maximum.accumulate(idx, out=idx)
    return np.asarray(x[idx], dtype=np.float64)


# -- records -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AquaTrade:
    """One taker swap through a maker's strategy (a ``Pushed`` and a ``Pulled`` paired).

    Attributes
    ----------
    block, tx_hash, log_index
        Where the trade is; ``log_index`` is the later leg's.
    maker, app, strategy_hash
        The strategy traded against.
    token_in, amount_in
        What went into the strategy (the ``Pushed``; the taker's payment), base units.
    token_out, amount_out
        What left it (the ``Pulled``; the taker's proceeds), base units.
    usd_in, usd_out
        Their USD values at the trade block's quotes (``None`` if unpriced).
    maker_edge_usd
        ``usd_in - usd_out``: what the maker earned at market prices.
    decimals_in, decimals_out
        The tokens' decimals (``None`` if unknown), for :attr:`price`.
    lifecycle
        The strategy's lifecycle (see :class:`StrategyState`).
    """

    block: int
    tx_hash: str
    log_index: int
    maker: str
    app: str
    strategy_hash: str
    token_in: str
    amount_in: int
    token_out: str
    amount_out: int
    usd_in: float | None
    usd_out: float | None
    maker_edge_usd: float | None
    decimals_in: int | None = None
    decimals_out: int | None = None
    lifecycle: int = 0

    @property
    def strategy_key(self) -> StrategyKey:
        """``(maker, app, strategy_hash)``."""
        return (self.maker, self.app, self.strategy_hash)

    @property
    def price(self) -> float | None:
        """Whole ``token_out`` per whole ``token_in``; ``None`` if decimals are unknown."""
        if self.decimals_in is None or self.decimals_out is None or self.amount_in == 0:
            return None
        return float(
            Fraction(
                self.amount_out * 10**self.decimals_in,
                self.amount_in * 10**self.decimals_out,
            )
        )


@dataclass(frozen=True, slots=True)
class LedgerUpdate:
    """What applying one event did.

    Attributes
    ----------
    event
        The event classified (for ``deposit`` and ``withdrawal``, the earlier leg that
        stayed unpaired, reported when its transaction closed).
    kind
        ``ship``, ``allocation``, ``trade``, ``deposit``, ``withdrawal``, ``dock`` or
        ``pending`` (see the module docstring).
    trade
        The trade, for ``kind == "trade"``.
    strategy
        The strategy key.
    lifecycle
        The strategy's lifecycle the event belongs to.
    """

    event: AquaEvent
    kind: UpdateKind
    trade: AquaTrade | None
    strategy: StrategyKey
    lifecycle: int = 0


@dataclass(frozen=True)
class StrategyState:
    """Snapshot of one lifecycle of a strategy (amounts in base units, token -> amount).

    Attributes
    ----------
    key
        ``(maker, app, strategy_hash)``.
    lifecycle
        0 for the first ship of the key (or its first sighting), +1 on each re-ship.
    status
        ``shipped`` (live), ``docked``, or ``unknown``: first seen without its
        ``Shipped``; it stays ``unknown`` after a dock (see :attr:`docked`) and is left
        out of maker sizing and profitability.
    strategy
        The strategy bytes (``None`` if the ``Shipped`` was not seen).
    ship_block, ship_tx
        Where it was shipped (``None`` if unknown).
    dock_block, dock_tx
        Where it was docked (``None`` while live).
    allocation
        What the ship pushed.
    balances
        Current balances (zeros once docked; negative possible for ``unknown``).
    released
        The balances at dock (empty while live).
    trades, deposits, withdrawals
        Counts of paired trades and of lone ``Pushed`` / ``Pulled`` legs.
    volume_usd
        Sum of the trades' ``usd_in`` (``usd_out`` when ``usd_in`` is unpriced).
    maker_edge_usd
        Sum of the trades' priced maker edges (trade-time quotes).
    allocation_usd
        The allocation valued at the ship block (``None`` if unpriced or unknown).
    """

    key: StrategyKey
    lifecycle: int
    status: Status
    strategy: bytes | None
    ship_block: int | None
    ship_tx: str | None
    dock_block: int | None
    dock_tx: str | None
    allocation: dict[str, int]
    balances: dict[str, int]
    released: dict[str, int]
    trades: int
    deposits: int
    withdrawals: int
    volume_usd: float
    maker_edge_usd: float
    allocation_usd: float | None

    @property
    def docked(self) -> bool:
        """Whether this lifecycle has been docked (whatever its status)."""
        return self.dock_block is not None


@dataclass(frozen=True)
class StrategyStats:
    """Profitability of one strategy lifecycle.

    Attributes
    ----------
    key, lifecycle, status, ship_block, dock_block, trades, volume_usd, maker_edge_usd,
    allocation_usd
        As in :class:`StrategyState`.
    pnl_vs_hold_usd
        Value of the balances (the released balances if docked) minus the value of the
        allocation, both at the same quotes: the dock block's when docked (realised),
        else ``valuation_block``'s (unrealised). ``None`` if unpriced or ``unknown``.
    realised
        Whether the P&L is realised (the strategy is docked).
    valuation_block
        The block whose quotes valued ``pnl_vs_hold_usd``.
    """

    key: StrategyKey
    lifecycle: int
    status: Status
    ship_block: int | None
    dock_block: int | None
    trades: int
    volume_usd: float
    maker_edge_usd: float
    allocation_usd: float | None
    pnl_vs_hold_usd: float | None
    realised: bool
    valuation_block: int | None


@dataclass(frozen=True)
class MakerStats:
    """One maker's track record, over the lifecycles whose ``Shipped`` was seen.

    Attributes
    ----------
    maker
        The maker's address.
    strategies
        Lifecycles shipped (``unknown`` ones are counted in ``unknown`` only).
    live
        Shipped and not docked.
    allocation_usd
        Sum of the live strategies' allocations at their ship blocks (priced ones).
    largest_allocation_usd
        Largest live allocation (``None`` if none is live and priced).
    trades, volume_usd, maker_edge_usd
        Sums over the lifecycles.
    realised_pnl_usd
        Sum of the docked strategies' vs-hold P&L (priced ones).
    unrealised_pnl_usd
        Sum of the live strategies' vs-hold P&L at ``valuation_block`` (priced ones).
    docked
        Docked lifecycles.
    profitable_share
        Share of the docked strategies with a priced P&L whose P&L is above 0
        (``None`` if none).
    unknown
        Lifecycles first seen without their ``Shipped`` (left out of everything else).
    valuation_block
        The block whose quotes valued the live strategies.
    """

    maker: str
    strategies: int
    live: int
    allocation_usd: float
    largest_allocation_usd: float | None
    trades: int
    volume_usd: float
    maker_edge_usd: float
    realised_pnl_usd: float
    unrealised_pnl_usd: float
    docked: int
    profitable_share: float | None
    unknown: int = 0
    valuation_block: int | None = None


class _Life:
    """One lifecycle of a strategy, mutable (the ledger's own record)."""

    __slots__ = (
        "allocation",
        "app",
        "balances",
        "complete",
        "deposits",
        "dock_block",
        "dock_tx",
        "edge_usd",
        "lifecycle",
        "maker",
        "released",
        "ship_block",
        "ship_tx",
        "strategy",
        "strategy_hash",
        "trades",
        "volume_usd",
        "withdrawals",
    )

    def __init__(self, key: StrategyKey, lifecycle: int, complete: bool) -> None:
        self.maker, self.app, self.strategy_hash = key
        self.lifecycle = lifecycle
        self.complete = complete
        self.strategy: bytes | None = None
        self.ship_block: int | None = None
        self.ship_tx: str | None = None
        self.dock_block: int | None = None
        self.dock_tx: str | None = None
        self.allocation: dict[str, int] = {}
        self.balances: dict[str, int] = {}
        self.released: dict[str, int] = {}
        self.trades = 0
        self.deposits = 0
        self.withdrawals = 0
        self.volume_usd = 0.0
        self.edge_usd = 0.0

    @property
    def key(self) -> StrategyKey:
        return (self.maker, self.app, self.strategy_hash)

    @property
    def status(self) -> Status:
        if not self.complete:
            return "unknown"
        return "docked" if self.dock_block is not None else "shipped"


_Leg = tuple[Pulled | Pushed, _Life]


class _View(Sequence[AquaTrade]):
    """Read-only view of the ledger's trade list (no copy)."""

    __slots__ = ("_items",)

    def __init__(self, items: list[AquaTrade]) -> None:
        self._items = items

    @overload
    def __getitem__(self, i: int) -> AquaTrade: ...
    @overload
    def __getitem__(self, i: slice) -> list[AquaTrade]: ...
    def __getitem__(self, i: int | slice) -> AquaTrade | list[AquaTrade]:
        return self._items[i]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[AquaTrade]:
        return iter(self._items)

    def __repr__(self) -> str:
        return f"<{len(self._items)} Aqua trades>"


# -- the ledger ----------------------------------------------------------------------------


class MakerLedger:
    """Running Aqua balances per (maker, app, strategyHash, token), trades and track records.

    See the module docstring for the classification of events and the errors.

    Parameters
    ----------
    prices
        Values trades, allocations and P&L in USD; ``None``: every USD figure is
        ``None`` (or 0 in sums).

    Attributes
    ----------
    prices
        The price book.
    last_key
        ``(block, log_index)`` of the last event applied (``None`` before the first);
        callers skip events at or before it (re-deliveries).
    """

    def __init__(self, prices: PriceBook | None = None) -> None:
        self.prices = prices
        self.last_key: tuple[int, int] | None = None
        self._current: dict[StrategyKey, _Life] = {}
        self._lives: list[_Life] = []
        self._by_maker: dict[str, list[_Life]] = {}
        self._trades: list[AquaTrade] = []
        self._pending_tx: str | None = None
        self._pending: dict[StrategyKey, list[_Leg]] = {}

    # -- applying events -----------------------------------------------------------------

    def apply(self, event: AquaEvent) -> list[LedgerUpdate]:
        """Apply one event (in chain order) and return what it did.

        If the event starts a new transaction, the legs of the previous one still
        unpaired are closed first (``deposit`` / ``withdrawal`` updates, in log order),
        then the event's own update follows.

        Parameters
        ----------
        event
            A :class:`Shipped`, :class:`Docked`, :class:`Pulled` or :class:`Pushed`.

        Returns
        -------
        list of LedgerUpdate
            The closed legs of the previous transaction, then this event's update.

        Raises
        ------
        AquaLedgerError
            If the event is at or before :attr:`last_key` (duplicate or out of order), a
            ``Pulled`` exceeds a shipped strategy's balance, an event other than
            ``Shipped`` hits a docked strategy, or a ``Shipped`` hits a live one. The
            ledger is left unchanged.
        """
        key = (event.block, event.log_index)
        last = self.last_key
        if last is not None and key <= last:
            raise AquaLedgerError(
                f"{_where(event)} is at or before the last applied event (block {last[0]}, "
                f"log index {last[1]}): duplicate or out of order; events must come in "
                "chain order (skip those at or before ledger.last_key)"
            )
        skey = event.strategy_key
        life = self._current.get(skey)
        # validate everything before changing anything
        if isinstance(event, Shipped):
            if life is not None and life.dock_block is None:
                raise AquaLedgerError(
                    f"{_where(event)}: strategy {event.strategy_hash} of maker {event.maker} "
                    f"is already live ({life.status}, shipped in tx {life.ship_tx}); "
                    "strategies are immutable: it must be docked before it is shipped again"
                )
        elif life is not None and life.dock_block is not None:
            raise AquaLedgerError(
                f"{_where(event)}: strategy {event.strategy_hash} of maker {event.maker} was "
                f"docked at block {life.dock_block} (tx {life.dock_tx}); only a new "
                "Shipped may follow (were logs lost?)"
            )
        elif (
            type(event) is Pulled
            and life is not None
            and life.complete
            and life.balances.get(event.token, 0) < event.amount
        ):
            raise AquaLedgerError(
                f"{_where(event)}: pulls {event.amount} of token {event.token} but strategy "
                f"{event.strategy_hash} of maker {event.maker} holds "
                f"{life.balances.get(event.token, 0)}; Aqua would revert on underflow, "
                "so logs were lost"
            )

        out: list[LedgerUpdate] = []
        if self._pending_tx is not None and event.tx_hash != self._pending_tx:
            self._close(out)
        self._pending_tx = event.tx_hash
        self.last_key = key

        if isinstance(event, Pulled | Pushed):
            if life is None:
                life = self._new_life(skey, 0, complete=False)
            if type(event) is Pushed:
                life.balances[event.token] = life.balances.get(event.token, 0) + event.amount
                if life.ship_tx == event.tx_hash and life.complete:
                    life.allocation[event.token] = (
                        life.allocation.get(event.token, 0) + event.amount
                    )
                    out.append(LedgerUpdate(event, "allocation", None, skey, life.lifecycle))
                    return out
            else:
                life.balances[event.token] = life.balances.get(event.token, 0) - event.amount
            out.append(self._leg(event, life, skey))
        elif isinstance(event, Shipped):
            n = 0 if life is None else life.lifecycle + 1
            life = self._new_life(skey, n, complete=True)
            life.strategy = event.strategy
            life.ship_block = event.block
            life.ship_tx = event.tx_hash
            out.append(LedgerUpdate(event, "ship", None, skey, n))
        elif isinstance(event, Docked):
            if life is None:
                life = self._new_life(skey, 0, complete=False)
            life.released = dict(life.balances)
            life.balances = dict.fromkeys(life.balances, 0)
            life.dock_block = event.block
            life.dock_tx = event.tx_hash
            out.append(LedgerUpdate(event, "dock", None, skey, life.lifecycle))
        else:  # pragma: no cover - AquaEvent has four kinds
            raise AquaLedgerError(f"{_where(event)}: not an Aqua event kind the ledger knows")
        return out

    def apply_many(self, events: Iterable[AquaEvent]) -> list[LedgerUpdate]:
        """Apply events in chain order; pending legs stay pending (no :meth:`flush`).

        Raises
        ------
        AquaLedgerError
            As :meth:`apply`; the events before the refused one stay applied.
        """
        out: list[LedgerUpdate] = []
        apply = self.apply
        for e in events:
            out += apply(e)
        return out

    def flush(self) -> list[LedgerUpdate]:
        """Close the last transaction: its unpaired legs become deposits and withdrawals.

        Call it at the end of the stream, or of a range of whole transactions: a later
        event of the same transaction is classified on its own.
        """
        out: list[LedgerUpdate] = []
        self._close(out)
        self._pending_tx = None
        return out

    @property
    def pending(self) -> int:
        """Number of legs waiting for their pair in the current transaction."""
        return sum(len(v) for v in self._pending.values())

    def _new_life(self, key: StrategyKey, lifecycle: int, *, complete: bool) -> _Life:
        life = _Life(key, lifecycle, complete)
        self._current[key] = life
        self._lives.append(life)
        self._by_maker.setdefault(key[0], []).append(life)
        return life

    def _leg(self, event: Pulled | Pushed, life: _Life, skey: StrategyKey) -> LedgerUpdate:
        legs = self._pending.get(skey)
        if legs:
            want = Pushed if type(event) is Pulled else Pulled
            for i, (other, olife) in enumerate(legs):
                if type(other) is want and olife is life and other.token != event.token:
                    del legs[i]
                    trade = self._trade(event, other, life)
                    return LedgerUpdate(event, "trade", trade, skey, life.lifecycle)
            legs.append((event, life))
        else:
            self._pending[skey] = [(event, life)]
        return LedgerUpdate(event, "pending", None, skey, life.lifecycle)

    def _trade(self, later: Pulled | Pushed, earlier: Pulled | Pushed, life: _Life) -> AquaTrade:
        pushed, pulled = (later, earlier) if type(later) is Pushed else (earlier, later)
        block = later.block
        prices = self.prices
        usd_in = usd_out = edge = None
        dec_in = dec_out = None
        if prices is not None:
            usd_in = prices.usd(pushed.token, pushed.amount, block)
            usd_out = prices.usd(pulled.token, pulled.amount, block)
            i_in, i_out = prices.info(pushed.token), prices.info(pulled.token)
            dec_in = i_in.decimals if i_in is not None else None
            dec_out = i_out.decimals if i_out is not None else None
            if usd_in is not None and usd_out is not None:
                edge = usd_in - usd_out
                life.edge_usd += edge
        volume = usd_in if usd_in is not None else usd_out
        if volume is not None:
            life.volume_usd += volume
        life.trades += 1
        trade = AquaTrade(
            block=block,
            tx_hash=later.tx_hash,
            log_index=later.log_index,
            maker=later.maker,
            app=later.app,
            strategy_hash=later.strategy_hash,
            token_in=pushed.token,
            amount_in=pushed.amount,
            token_out=pulled.token,
            amount_out=pulled.amount,
            usd_in=usd_in,
            usd_out=usd_out,
            maker_edge_usd=edge,
            decimals_in=dec_in,
            decimals_out=dec_out,
            lifecycle=life.lifecycle,
        )
        self._trades.append(trade)
        return trade

    def _close(self, out: list[LedgerUpdate]) -> None:
        if not self._pending:
            return
        legs = [leg for v in self._pending.values() for leg in v]
        self._pending.clear()
        legs.sort(key=lambda leg: leg[0].log_index)
        for event, life in legs:
            if type(event) is Pushed:
                life.deposits += 1
                out.append(LedgerUpdate(event, "deposit", None, life.key, life.lifecycle))
            else:
                life.withdrawals += 1
                out.append(LedgerUpdate(event, "withdrawal", None, life.key, life.lifecycle))

    # -- reading -------------------------------------------------------------------------

    @property
    def trades(self) -> Sequence[AquaTrade]:
        """Every trade, in chain order (a read-only view, not a copy)."""
        return _View(self._trades)

    def balances(self, maker: str, app: str, strategy_hash: str) -> dict[str, int]:
        """Return a copy of a strategy's current balances (base units; ``{}`` if unseen)."""
        life = self._current.get((maker, app, strategy_hash))
        return dict(life.balances) if life is not None else {}

    def strategy(self, key: StrategyKey, lifecycle: int | None = None) -> StrategyState | None:
        """Return a snapshot of a strategy's current (or given) lifecycle, ``None`` if unseen."""
        life = self._life(key, lifecycle)
        return self._snapshot(life) if life is not None else None

    def strategies(self) -> list[StrategyState]:
        """Return snapshots of every lifecycle, by (maker, app, strategy_hash, lifecycle)."""
        return [self._snapshot(life) for life in self._sorted_lives()]

    def makers(self) -> list[str]:
        """Return the makers seen, sorted."""
        return sorted(self._by_maker)

    def _life(self, key: StrategyKey, lifecycle: int | None) -> _Life | None:
        life = self._current.get(key)
        if life is None or lifecycle is None or life.lifecycle == lifecycle:
            return life
        for other in self._by_maker.get(key[0], []):
            if other.key == key and other.lifecycle == lifecycle:
                return other
        return None

    def _sorted_lives(self) -> list[_Life]:
        return sorted(self._lives, key=lambda x: (x.maker, x.app, x.strategy_hash, x.lifecycle))

    def _allocation_usd(self, life: _Life) -> float | None:
        if self.prices is None or not life.complete or life.ship_block is None:
            return None
        return self.prices.value(life.allocation, life.ship_block)

    def _snapshot(self, life: _Life) -> StrategyState:
        return StrategyState(
            key=life.key,
            lifecycle=life.lifecycle,
            status=life.status,
            strategy=life.strategy,
            ship_block=life.ship_block,
            ship_tx=life.ship_tx,
            dock_block=life.dock_block,
            dock_tx=life.dock_tx,
            allocation=dict(life.allocation),
            balances=dict(life.balances),
            released=dict(life.released),
            trades=life.trades,
            deposits=life.deposits,
            withdrawals=life.withdrawals,
            volume_usd=life.volume_usd,
            maker_edge_usd=life.edge_usd,
            allocation_usd=self._allocation_usd(life),
        )

    def _stats(self, life: _Life, block: int | None) -> StrategyStats:
        docked = life.dock_block is not None
        at = life.dock_block if docked else block
        if at is None and self.last_key is not None:
            at = self.last_key[0]
        pnl: float | None = None
        if self.prices is not None and life.complete and at is not None:
            held = self.prices.value(life.released if docked else life.balances, at)
            hold = self.prices.value(life.allocation, at)
            if held is not None and hold is not None:
                pnl = held - hold
        return StrategyStats(
            key=life.key,
            lifecycle=life.lifecycle,
            status=life.status,
            ship_block=life.ship_block,
            dock_block=life.dock_block,
            trades=life.trades,
            volume_usd=life.volume_usd,
            maker_edge_usd=life.edge_usd,
            allocation_usd=self._allocation_usd(life),
            pnl_vs_hold_usd=pnl,
            realised=docked,
            valuation_block=at,
        )

    def strategy_stats(
        self, key: StrategyKey, block: int | None = None, lifecycle: int | None = None
    ) -> StrategyStats:
        """Return a strategy lifecycle's profitability.

        Parameters
        ----------
        key
            ``(maker, app, strategy_hash)``.
        block
            The quotes that value a live strategy (default: the last applied block);
            a docked one is valued at its dock block.
        lifecycle
            Which lifecycle (default: the current one).

        Raises
        ------
        KeyError
            If the ledger has not seen that strategy (lifecycle).
        """
        life = self._life(key, lifecycle)
        if life is None:
            raise KeyError(f"no Aqua strategy {key} (lifecycle {lifecycle}) in the ledger")
        return self._stats(life, block)

    def maker_stats(self, maker: str, block: int | None = None) -> MakerStats:
        """Return a maker's track record over its shipped lifecycles.

        Parameters
        ----------
        maker
            The maker's address (an unseen maker gets zeros).
        block
            The quotes that value live strategies (default: the last applied block).
        """
        at = block if block is not None else (self.last_key[0] if self.last_key else None)
        n = live = docked = unknown = trades = profitable = priced_docked = 0
        alloc = volume = edge = realised = unrealised = 0.0
        largest: float | None = None
        for life in self._by_maker.get(maker, []):
            if not life.complete:
                unknown += 1
                continue
            n += 1
            trades += life.trades
            volume += life.volume_usd
            edge += life.edge_usd
            st = self._stats(life, at)
            if life.dock_block is not None:
                docked += 1
                if st.pnl_vs_hold_usd is not None:
                    priced_docked += 1
                    realised += st.pnl_vs_hold_usd
                    profitable += st.pnl_vs_hold_usd > 0
            else:
                live += 1
                if st.allocation_usd is not None:
                    alloc += st.allocation_usd
                    largest = (
                        st.allocation_usd if largest is None else max(largest, st.allocation_usd)
                    )
                if st.pnl_vs_hold_usd is not None:
                    unrealised += st.pnl_vs_hold_usd
        return MakerStats(
            maker=maker,
            strategies=n,
            live=live,
            allocation_usd=alloc,
            largest_allocation_usd=largest,
            trades=trades,
            volume_usd=volume,
            maker_edge_usd=edge,
            realised_pnl_usd=realised,
            unrealised_pnl_usd=unrealised,
            docked=docked,
            profitable_share=profitable / priced_docked if priced_docked else None,
            unknown=unknown,
            valuation_block=at,
        )

    def to_frames(self) -> dict[str, pl.DataFrame]:
        """Return the ledger as tables, deterministic and sorted (for identical rebuilds).

        Token amounts are exact **decimal strings** (``pl.String``): Aqua amounts are
        uint256 and balances may be negative for ``unknown`` strategies, which neither
        ``Int128`` nor polars' ``Decimal`` (38 digits at most) can hold.

        Returns
        -------
        dict of str to polars.DataFrame
            ``balances``: one row per (maker, app, strategy_hash, lifecycle, token) with
            ``balance``, ``allocation``, ``released``; ``trades``: every trade in chain
            order; ``strategies``: one row per lifecycle (status, ship and dock, counts,
            USD sums, ``strategy`` as 0x hex).
        """
        lives = self._sorted_lives()
        bal: dict[str, list[object]] = {
            k: []
            for k in (
                "maker",
                "app",
                "strategy_hash",
                "lifecycle",
                "token",
                "balance",
                "allocation",
                "released",
            )
        }
        for life in lives:
            for token in sorted({*life.balances, *life.allocation, *life.released}):
                for k, v in (
                    ("maker", life.maker),
                    ("app", life.app),
                    ("strategy_hash", life.strategy_hash),
                    ("lifecycle", life.lifecycle),
                    ("token", token),
                    ("balance", str(life.balances.get(token, 0))),
                    ("allocation", str(life.allocation.get(token, 0))),
                    ("released", str(life.released.get(token, 0))),
                ):
                    bal[k].append(v)
        s, i64, f64 = pl.String, pl.Int64, pl.Float64
        balances = pl.DataFrame(
            bal,
            schema={
                "maker": s,
                "app": s,
                "strategy_hash": s,
                "lifecycle": i64,
                "token": s,
                "balance": s,
                "allocation": s,
                "released": s,
            },
        )
        trades_schema = {
            "block": i64,
            "tx_hash": s,
            "log_index": i64,
            "maker": s,
            "app": s,
            "strategy_hash": s,
            "lifecycle": i64,
            "token_in": s,
            "amount_in": s,
            "token_out": s,
            "amount_out": s,
            "usd_in": f64,
            "usd_out": f64,
            "maker_edge_usd": f64,
            "price": f64,
        }
        ordered = sorted(self._trades, key=lambda t: (t.block, t.log_index))
        trades = pl.DataFrame(
            [
                (
                    t.block,
                    t.tx_hash,
                    t.log_index,
                    t.maker,
                    t.app,
                    t.strategy_hash,
                    t.lifecycle,
                    t.token_in,
                    str(t.amount_in),
                    t.token_out,
                    str(t.amount_out),
                    t.usd_in,
                    t.usd_out,
                    t.maker_edge_usd,
                    t.price,
                )
                for t in ordered
            ],
            schema=trades_schema,
            orient="row",
        )
        strat_schema = {
            "maker": s,
            "app": s,
            "strategy_hash": s,
            "lifecycle": i64,
            "status": s,
            "strategy": s,
            "ship_block": i64,
            "ship_tx": s,
            "dock_block": i64,
            "dock_tx": s,
            "trades": i64,
            "deposits": i64,
            "withdrawals": i64,
            "volume_usd": f64,
            "maker_edge_usd": f64,
            "allocation_usd": f64,
        }
        strategies = pl.DataFrame(
            [
                (
                    x.maker,
                    x.app,
                    x.strategy_hash,
                    x.lifecycle,
                    x.status,
                    None if x.strategy is None else "0x" + x.strategy.hex(),
                    x.ship_block,
                    x.ship_tx,
                    x.dock_block,
                    x.dock_tx,
                    x.trades,
                    x.deposits,
                    x.withdrawals,
                    x.volume_usd,
                    x.edge_usd,
                    self._allocation_usd(x),
                )
                for x in lives
            ],
            schema=strat_schema,
            orient="row",
        )
        return {"balances": balances, "trades": trades, "strategies": strategies}
