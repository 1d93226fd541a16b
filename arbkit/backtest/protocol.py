"""What a backtest policy sees and sends: the interface between policies and the engine.

A policy sees the market only through a :class:`BlockView` (the one replay's view of a
block) and answers with :class:`Order` objects; :class:`BacktestPolicy` declares every
hook the :class:`~arbkit.backtest.Simulator` reads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import polars as pl

from arbkit.execution import ExecutionConfig, Outcome
from arbkit.market.history import MarketHistory
from arbkit.opportunities import ScanConfig

__all__ = ["BacktestPolicy", "BlockView", "Order", "PolicyBase", "PortfolioView", "RunSetup"]


@dataclass(frozen=True)
class Order:
    """What a policy asks for at a block.

    Either a candidate (``cand_id``, from :attr:`BlockView.candidates`) or a spot swap
    (``side`` ``"buy"`` or ``"sell"`` of the native token against the quote token, for
    ``amount_quote``).

    Attributes
    ----------
    cand_id
        Candidate to execute.
    amount_in
        Size in the candidate's start token (default: the candidate's optimal size).
        Never above the optimal size.
    priority_fee_wei, bribe_wei
        Tip per gas and coinbase transfer (default: the run's tip, and the candidate's
        default bid: its ``bribe_wei`` column when the candidates carry one, else 0).
    side, amount_quote
        Spot swap of one lot of the native token worth ``amount_quote`` at the block's
        price, on the replay's spot pool (:mod:`arbkit.execution.spot`): ``buy`` takes
        exactly the lot (exact output; refused when the cash is short), ``sell`` gives
        exactly the lot (refused when the holding is smaller: long only).
    tag
        Anything the policy wants back in :meth:`BacktestPolicy.on_outcome`.
    """

    cand_id: int | None = None
    amount_in: int | None = None
    priority_fee_wei: int | None = None
    bribe_wei: int | None = None
    side: str | None = None
    amount_quote: float = 0.0
    tag: Any = None


@dataclass(frozen=True)
class PortfolioView:
    """The policy's portfolio at a block (valued at that block's prices)."""

    equity_quote: float
    initial_equity_quote: float
    cash_quote: float
    native_units: int
    native_value_quote: float
    eth_price_quote: float
    pnl_quote: float
    drawdown: float

    @property
    def position_fraction(self) -> float:
        """Share of equity held in the native token."""
        return self.native_value_quote / self.equity_quote if self.equity_quote > 0 else 0.0

    @property
    def health(self) -> float:
        """Equity relative to the starting equity, clipped to ``[0, 1]``."""
        return float(min(1.0, max(0.0, self.equity_quote / self.initial_equity_quote)))

    @property
    def equity_eth(self) -> float:
        """Equity in ETH."""
        return self.equity_quote / self.eth_price_quote if self.eth_price_quote > 0 else 0.0


@dataclass(frozen=True)
class BlockView:
    """What a policy sees at block ``block`` (position ``t`` in the history)."""

    t: int
    block: int
    timestamp: int
    candidates: pl.DataFrame
    regime: Mapping[str, Any]
    portfolio: PortfolioView


@dataclass(frozen=True)
class RunSetup:
    """What every policy learns before a run: the options and the market data, no outcomes.

    The draws and outcomes of the run are not in it: only a policy that declares
    ``foresight = True`` receives them (``on_foresight``).

    Attributes
    ----------
    history
        The replayed market data, for causal features (a policy reads block ``t`` and
        earlier at block ``t``).
    candidates
        The replay's candidates of every block (scanner estimates derived from
        ``history``, no outcomes), indexed by ``cand_id``: for a policy that prepares its
        columnar view once and reads, at block ``t``, only the rows it is offered.
    n_blocks, first_block
        Size and first block number of the replayed history.
    seed
        The run's seed.
    scan, execution
        Scanner and execution-model options.
    latency_ms, priority_fee_wei, max_candidates
        Latency and default tip of the run's orders, candidates per block.
    """

    history: MarketHistory
    candidates: pl.DataFrame
    n_blocks: int
    first_block: int
    seed: int
    scan: ScanConfig
    execution: ExecutionConfig
    latency_ms: float
    priority_fee_wei: int
    max_candidates: int


@runtime_checkable
class BacktestPolicy(Protocol):
    """The interface the :class:`~arbkit.backtest.Simulator` drives: every hook it reads.

    Attributes
    ----------
    name
        The policy's one name in code, CLI and reports.
    every_block
        Called at every block (True) or only at blocks with candidates it may trade.
    foresight
        Only a policy that says True here receives the run's candidates and draws in
        advance, through ``on_foresight(replay, draws)`` (the foresight policy).
    upper_bound_quote
        An upper bound of every policy's net on the run, or None.
    calibration
        ``(model probability, success)`` of its trades, for the reliability report.

    :class:`PolicyBase` gives the defaults.
    """

    name: str
    every_block: bool
    foresight: bool
    upper_bound_quote: float | None
    calibration: list[tuple[float, bool]]

    def on_start(self, setup: RunSetup) -> None:
        """Prepare for a run (options and market data, no outcomes)."""
        ...

    def on_block(self, view: BlockView) -> Sequence[Order]:
        """Return the orders for this block."""
        ...

    def on_outcome(self, order: Order, outcome: Outcome, view: BlockView) -> None:
        """Learn from an order's outcome, revealed when the replay says it is known."""
        ...


class PolicyBase:
    """Defaults of the :class:`BacktestPolicy` hooks: no foresight, no bound, no learning."""

    name: str = "policy"
    every_block: bool = False
    foresight: bool = False
    upper_bound_quote: float | None = None

    def __init__(self) -> None:
        self.calibration: list[tuple[float, bool]] = []
        # what a tuning chose, and what it earned on the training history (reports)
        self.tuned: dict[str, Any] = {}
        # a win-probability model pricing the default orders' bids (RL policies)
        self.bid_model: Any = None

    def on_start(self, setup: RunSetup) -> None:
        """Do nothing before the run."""

    def on_block(self, view: BlockView) -> Sequence[Order]:
        """Send nothing."""
        return ()

    def on_outcome(self, order: Order, outcome: Outcome, view: BlockView) -> None:
        """Do nothing with an outcome."""
