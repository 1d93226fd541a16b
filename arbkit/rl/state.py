"""The guide's 6-D state, its normalisation and discretisation, and the policy's inputs.

The state of section 3 of the user guide, in observation order:

====  ==================  ===========  =============================================
idx   name                range        raw quantity
====  ==================  ===========  =============================================
0     edge_quality        [0, 1]       net edge of the best candidate, bps (after gas)
1     position_pct        [-1, 1]      position / max position (signed)
2     portfolio_health    [0, 1]       1 - drawdown from peak / drawdown limit
3     volatility          [0, 1]       realised per-block volatility, bps
4     gas_percentile      [0, 1]       base fee's percentile in a trailing window
5     liquidity           [0, 1]       log10 depth of the spot pool above a floor
====  ==================  ===========  =============================================

:func:`encode_states` is the one normalisation, used by the env for its observations and
by :class:`~arbkit.rl.RLArbitragePolicy` for snapshots; :func:`state_index` maps states
to Q-table rows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from arbkit.rl.config import StateBins, StateScales

__all__ = [
    "ACTIONS",
    "BUY",
    "FLASH_ARB",
    "HOLD",
    "OBS_HIGH",
    "OBS_LOW",
    "SELL",
    "STATE_FIELDS",
    "MarketSnapshot",
    "PortfolioState",
    "SymbolOrder",
    "encode_states",
    "normalise_edge",
    "normalise_liquidity",
    "normalise_volatility",
    "state_index",
    "state_index_one",
]

FloatArray = npt.NDArray[np.float64]
F32Array = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]

ACTIONS: tuple[str, ...] = ("buy", "sell", "hold", "flash_arb")
"""Action names; an action's index in this tuple is its id in ``Discrete(4)``."""
BUY, SELL, HOLD, FLASH_ARB = 0, 1, 2, 3

STATE_FIELDS: tuple[str, ...] = (
    "edge_quality",
    "position_pct",
    "portfolio_health",
    "volatility",
    "gas_percentile",
    "liquidity",
)
OBS_LOW: F32Array = np.array([0.0, -1.0, 0.0, 0.0, 0.0, 0.0], dtype=np.float32)
OBS_HIGH: F32Array = np.ones(6, dtype=np.float32)


def normalise_edge(edge_bps: npt.ArrayLike, scales: StateScales) -> FloatArray:
    """Map net edges (bps) to ``[0, 1]``; NaN (no candidate) maps to 0."""
    x = np.nan_to_num(np.asarray(edge_bps, dtype=np.float64), nan=0.0)
    return np.clip(x / scales.edge_scale_bps, 0.0, 1.0)


def normalise_volatility(volatility_bps: npt.ArrayLike, scales: StateScales) -> FloatArray:
    """Map per-block volatilities (bps) to ``[0, 1]``; NaN maps to 0."""
    x = np.nan_to_num(np.asarray(volatility_bps, dtype=np.float64), nan=0.0)
    return np.clip(x / scales.volatility_scale_bps, 0.0, 1.0)


def normalise_liquidity(depth_quote: npt.ArrayLike, scales: StateScales) -> FloatArray:
    """Map pool depths (quote) to ``[0, 1]`` on a log10 scale; NaN or <= 0 maps to 0."""
    x = np.nan_to_num(np.asarray(depth_quote, dtype=np.float64), nan=0.0)
    with np.errstate(divide="ignore"):
        decades = np.log10(np.maximum(x, 0.0) / scales.liquidity_floor_quote)
    return np.clip(decades / scales.liquidity_decades, 0.0, 1.0)


def encode_states(
    *,
    edge_bps: npt.ArrayLike,
    position_frac: npt.ArrayLike,
    portfolio_health: npt.ArrayLike,
    volatility_bps: npt.ArrayLike,
    gas_percentile: npt.ArrayLike,
    liquidity_quote: npt.ArrayLike,
    scales: StateScales,
) -> F32Array:
    """Normalise raw state quantities into observations (see the module table).

    Parameters
    ----------
    edge_bps
        Net edge of the best candidate after gas, bps (0 or NaN: no candidate).
    position_frac
        Position divided by the largest allowed position (signed).
    portfolio_health
        ``1 - drawdown / drawdown limit``.
    volatility_bps
        Realised per-block volatility of the traded asset, bps.
    gas_percentile
        Percentile of the current base fee in a trailing window, in ``[0, 1]``.
    liquidity_quote
        Depth of the traded pool in quote.
    scales
        Normalisation constants.

    Returns
    -------
    numpy.ndarray
        float32 array of shape ``(..., 6)`` within ``[OBS_LOW, OBS_HIGH]``.
    """
    cols = (
        normalise_edge(edge_bps, scales),
        np.clip(np.nan_to_num(np.asarray(position_frac, dtype=np.float64)), -1.0, 1.0),
        np.clip(np.nan_to_num(np.asarray(portfolio_health, dtype=np.float64)), 0.0, 1.0),
        normalise_volatility(volatility_bps, scales),
        np.clip(np.nan_to_num(np.asarray(gas_percentile, dtype=np.float64)), 0.0, 1.0),
        normalise_liquidity(liquidity_quote, scales),
    )
    return np.stack(np.broadcast_arrays(*cols), axis=-1).astype(np.float32)


def state_index(states: npt.ArrayLike, bins: StateBins) -> IntArray:
    """Return the Q-table row of each normalised state.

    Every dimension is cut into equal bins over its range, except the edge: its bin 0
    holds exactly the states without an edge (``edge <= 0``) and the positive edges
    share the other bins, so "no candidate" is never confused with a small one.

    Parameters
    ----------
    states
        Normalised states, shape ``(6,)`` or ``(n, 6)``.
    bins
        Bins per dimension.

    Returns
    -------
    numpy.ndarray
        int64 rows in ``[0, bins.n_states)``, shape ``()`` or ``(n,)``.
    """
    x = np.asarray(states, dtype=np.float64)
    if x.shape[-1:] != (6,):
        raise ValueError(f"states must have 6 columns (the guide's state), got shape {x.shape}")
    n = bins.as_tuple()
    x = np.nan_to_num(x)
    edge = np.where(x[..., 0] <= 0.0, 0, 1 + np.clip(np.floor(x[..., 0] * (n[0] - 1)), 0, n[0] - 2))
    pos = np.clip(np.floor((x[..., 1] + 1.0) * 0.5 * n[1]), 0, n[1] - 1)
    idx = edge.astype(np.int64) * n[1] + pos.astype(np.int64)
    for d in range(2, 6):
        b = np.clip(np.floor(x[..., d] * n[d]), 0, n[d] - 1).astype(np.int64)
        idx = idx * n[d] + b
    return np.asarray(idx, dtype=np.int64)


def state_index_one(state: npt.ArrayLike, bins: StateBins) -> int:
    """Return the Q-table row of one state (same result as :func:`state_index`, faster)."""
    x = [float(v) for v in np.asarray(state, dtype=np.float64).reshape(-1).tolist()]
    if len(x) != 6:
        raise ValueError(f"a state has 6 values (the guide's state), got {len(x)}")
    x = [0.0 if v != v else v for v in x]  # NaN -> 0, as nan_to_num
    n = bins.as_tuple()
    edge = 0 if x[0] <= 0.0 else 1 + min(max(math.floor(x[0] * (n[0] - 1)), 0), n[0] - 2)
    idx = edge * n[1] + min(max(math.floor((x[1] + 1.0) * 0.5 * n[1]), 0), n[1] - 1)
    for d in range(2, 6):
        idx = idx * n[d] + min(max(math.floor(x[d] * n[d]), 0), n[d] - 1)
    return idx


@dataclass(frozen=True)
class MarketSnapshot:
    """What the market looks like at one moment, per traded symbol.

    Attributes
    ----------
    timestamp
        UTC seconds.
    prices
        Mid price per symbol (``BASE/QUOTE`` -> quote per base).
    edge_bps
        Net edge (after gas) of the best arbitrage candidate per symbol, bps; absent
        symbols have none.
    volatility_bps
        Realised per-block volatility per symbol, bps.
    gas_percentile
        Percentile of the current base fee in a trailing window, in ``[0, 1]``.
    liquidity_quote
        Depth of the pool each symbol trades on, in quote.
    block
        Block number, when known.
    """

    timestamp: float = 0.0
    prices: Mapping[str, float] = field(default_factory=dict)
    edge_bps: Mapping[str, float] = field(default_factory=dict)
    volatility_bps: Mapping[str, float] = field(default_factory=dict)
    gas_percentile: float = 0.5
    liquidity_quote: Mapping[str, float] = field(default_factory=dict)
    block: int | None = None


@dataclass(frozen=True)
class PortfolioState:
    """Holdings and risk state of the trading account.

    Attributes
    ----------
    cash_quote
        Cash in the quote currency.
    positions
        Position per symbol in units of the base asset (negative: short).
    equity_quote
        Current equity (cash plus positions at market).
    peak_equity_quote
        Highest equity so far; ``None`` means the current equity is the peak.
    max_drawdown_quote
        Drawdown from the peak at which trading stops (health 0).
    """

    cash_quote: float = 0.0
    positions: Mapping[str, float] = field(default_factory=dict)
    equity_quote: float = 0.0
    peak_equity_quote: float | None = None
    max_drawdown_quote: float = math.inf

    @property
    def health(self) -> float:
        """``1 - (peak - equity) / max_drawdown``, clipped to ``[0, 1]``."""
        peak = self.equity_quote if self.peak_equity_quote is None else self.peak_equity_quote
        drawdown = max(peak - self.equity_quote, 0.0)
        if math.isinf(self.max_drawdown_quote):
            return 1.0
        if self.max_drawdown_quote <= 0:
            return 0.0
        return min(max(1.0 - drawdown / self.max_drawdown_quote, 0.0), 1.0)


@dataclass(frozen=True)
class SymbolOrder:
    """An order on a symbol, as :meth:`~arbkit.rl.RLArbitragePolicy.decide` produces it.

    Not tied to a candidate: the backtest's :class:`arbkit.backtest.Order` (a candidate
    of the replay, or a spot swap) is what an adapter turns it into at a block.

    Attributes
    ----------
    symbol
        ``BASE/QUOTE``.
    side
        ``buy`` or ``sell`` (spot, ``quantity`` base units) or ``flash_arb`` (execute the
        best arbitrage candidate of the symbol; the scanner sizes it, ``quantity`` is 0).
    quantity
        Base units to buy or sell.
    state
        The normalised state the decision saw (for :meth:`record_experience`).
    """

    symbol: str
    side: Literal["buy", "sell", "flash_arb"]
    quantity: float
    state: tuple[float, ...] = ()
