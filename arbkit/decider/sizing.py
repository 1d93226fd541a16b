"""Fractional Kelly sizing of arbitrage trades, capped by the risk profile: pure array kernels.

The model of a trade of notional ``S`` (quote)
-----------------------------------------------
A candidate is quoted at its own size ``S0`` (the profit-maximising AMM size when it
comes from the scanner) with edge ``e = edge_bps / 1e4``, flash fee ``F0``, slippage
``L0`` and gas ``g``. Flash fees are proportional to size and constant-product price
impact is quadratic in it to first order, so with ``phi = F0 / S0`` and
``c = L0 / S0**2``

    ``net(S) = (e - phi) * S - c * S**2 - g``

which equals the candidate's net at ``S0`` and is maximal at ``S* = (e - phi) / (2 c)``.
The trade is never sized above ``S_amm``: ``S0`` when the candidate is marked as sized
at the exact AMM optimum (the scanner's candidates), else ``min(S0, S*)`` (``S*``
guards hand-made candidates). A failed trade
pays ``G`` (the revert gas) and nothing else: a flash loan that reverts returns the
loan.

Kelly
-----
Staking ``S`` wins ``b = net(S_amm) / S_amm`` per unit with probability ``p`` and loses
``a = G / S_amm`` per unit otherwise, so the log-optimal stake, as a fraction of the
portfolio ``W`` (quote), is ``f* = p / a - (1 - p) / b`` (``f* <= 0`` whenever the
expected value ``p * net - (1 - p) * G`` is not positive). The decider stakes
``kelly_fraction * f* * W``.

Caps (all in quote), the smallest wins
--------------------------------------
``amm``            ``S_amm``
``flash_borrow``   ``max_flash_borrow_eth * eth_price`` (flash-loan routes)
``leverage``       ``leverage * W`` (``leverage`` grows with confidence, see the decider)
``position``       ``max_position_fraction * W`` for inventory (``cex_dex``) trades, whose
                   notional is the portfolio's own capital

Portfolio health also refuses a trade whose revert gas exceeds
``max_position_fraction * W``. Gas does not shrink with size, so a capped trade is
re-evaluated at its final size and refused (size 0) unless its net profit reaches
``min_profit_quote`` and its expected value is positive.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = [
    "BINDING_NAMES",
    "REJECT_REASONS",
    "Sizing",
    "SizingOne",
    "amm_net_profit",
    "size_one",
    "size_trades",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

BINDING_NAMES: Final = ("none", "kelly", "amm", "flash_borrow", "leverage", "position")
"""What bound each size: ``none`` for refused trades, else the binding limit."""
REJECT_REASONS: Final = (
    "",
    "unprofitable_after_costs",
    "negative_ev",
    "revert_gas_over_health",
    "below_min_profit",
)
"""Why a trade was refused (``""``: accepted)."""


@dataclass(frozen=True, eq=False)
class Sizing:
    """Result of :func:`size_trades`, one entry per candidate.

    Attributes
    ----------
    size_quote
        Chosen notional (0 when refused).
    net_quote
        Net profit on success at the capped size (before refusal), quote.
    ev_quote
        ``p * net_quote - (1 - p) * revert_gas`` at that size, quote.
    amm_size_quote
        ``S_amm``, the profit-maximising size.
    kelly_full
        Full-Kelly ``f*`` (fraction of the portfolio as notional; may be negative).
    binding
        Index into :data:`BINDING_NAMES`.
    reject
        Index into :data:`REJECT_REASONS`.
    """

    size_quote: FloatArray
    net_quote: FloatArray
    ev_quote: FloatArray
    amm_size_quote: FloatArray
    kelly_full: FloatArray
    binding: IntArray
    reject: IntArray

    @property
    def accepted(self) -> npt.NDArray[np.bool_]:
        """Whether each trade is taken (size > 0)."""
        return np.asarray(self.reject == 0, dtype=np.bool_)


def amm_net_profit(
    size_quote: FloatArray,
    notional_quote: FloatArray,
    edge_bps: FloatArray,
    gas_cost_quote: FloatArray,
    flash_fee_quote: FloatArray,
    slippage_quote: FloatArray,
) -> FloatArray:
    """Return ``net(S)`` of the sizing model (module docstring) at ``S = size_quote``.

    Parameters
    ----------
    size_quote
        Notional to evaluate.
    notional_quote, edge_bps, gas_cost_quote, flash_fee_quote, slippage_quote
        The candidate as quoted at its own size.

    Returns
    -------
    numpy.ndarray
        Net profit after gas on success, quote.
    """
    rate = edge_bps * 1e-4 - flash_fee_quote / notional_quote
    curve = slippage_quote / (notional_quote * notional_quote)
    return np.asarray(
        rate * size_quote - curve * size_quote * size_quote - gas_cost_quote, dtype=np.float64
    )


def size_trades(
    p_success: FloatArray,
    notional_quote: FloatArray,
    edge_bps: FloatArray,
    gas_cost_quote: FloatArray,
    flash_fee_quote: FloatArray,
    slippage_quote: FloatArray,
    revert_gas_quote: FloatArray,
    is_flash: npt.NDArray[np.bool_],
    amm_optimal: npt.NDArray[np.bool_] | bool = False,
    *,
    portfolio_quote: FloatArray | float,
    kelly_fraction: float,
    max_flash_borrow_quote: FloatArray | float,
    leverage: FloatArray | float,
    max_position_fraction: float,
    min_profit_quote: FloatArray | float,
) -> Sizing:
    """Size every candidate by fractional Kelly under the caps (see the module docstring).

    Parameters
    ----------
    p_success
        Calibrated success probability per candidate.
    notional_quote, edge_bps, gas_cost_quote, flash_fee_quote, slippage_quote
        The candidate as quoted at its own size.
    revert_gas_quote
        Gas lost when the trade fails.
    is_flash
        Flash-loan funded (else inventory).
    amm_optimal
        Whether ``notional_quote`` is the exact AMM optimum (then ``S_amm = S0``).
    portfolio_quote
        Portfolio value ``W`` in quote.
    kelly_fraction
        Fraction of the full Kelly stake.
    max_flash_borrow_quote
        Largest flash loan, quote.
    leverage
        Largest notional over ``W``.
    max_position_fraction
        Portfolio-health cap (see the module docstring).
    min_profit_quote
        Smallest acceptable net profit on success, quote.

    Returns
    -------
    Sizing
    """
    p = np.clip(p_success, 0.0, 1.0)
    q = 1.0 - p
    w = np.asarray(portfolio_quote, dtype=np.float64)
    rate = edge_bps * 1e-4 - flash_fee_quote / notional_quote
    curve = slippage_quote / (notional_quote * notional_quote)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        s_star = np.where(curve > 0, np.maximum(rate, 0.0) / (2.0 * curve), np.inf)
        s_amm = np.where(
            rate > 0, np.where(amm_optimal, notional_quote, np.minimum(notional_quote, s_star)), 0.0
        )
        net_amm = rate * s_amm - curve * s_amm * s_amm - gas_cost_quote
        win = p / revert_gas_quote - q / net_amm
        kelly_full = np.where(
            net_amm > 0,
            np.where(revert_gas_quote > 0, s_amm * win, np.where(p > 0, np.inf, -np.inf)),
            -np.inf,
        )
        stake = np.where(kelly_full > 0, kelly_fraction * kelly_full * w, 0.0)
    inf = np.full_like(s_amm, np.inf)
    caps = np.stack(
        [
            stake,
            s_amm,
            np.where(is_flash, max_flash_borrow_quote, inf),
            np.broadcast_to(leverage * w, s_amm.shape),
            np.where(is_flash, inf, max_position_fraction * w),
        ]
    )
    which = np.argmin(caps, axis=0)
    size = np.maximum(np.take_along_axis(caps, which[None, :], axis=0)[0], 0.0)
    net = rate * size - curve * size * size - gas_cost_quote
    ev = p * net - q * revert_gas_quote
    reject = np.zeros(size.shape, dtype=np.int64)
    reject = np.where(net < np.maximum(min_profit_quote, 0.0), 4, reject)
    reject = np.where((net <= 0) | (ev <= 0) | ~(size > 0), 2, reject)
    reject = np.where(revert_gas_quote > max_position_fraction * w, 3, reject)
    reject = np.where(~(net_amm > 0), 1, reject)
    ok = reject == 0
    return Sizing(
        size_quote=np.where(ok, size, 0.0),
        net_quote=net,
        ev_quote=ev,
        amm_size_quote=s_amm,
        kelly_full=kelly_full,
        binding=np.where(ok, which + 1, 0).astype(np.int64),
        reject=reject,
    )


@dataclass(frozen=True, slots=True)
class SizingOne:
    """Result of :func:`size_one` (the fields of :class:`Sizing` for one candidate)."""

    size_quote: float
    net_quote: float
    ev_quote: float
    amm_size_quote: float
    kelly_full: float
    binding: int
    reject: int


def size_one(
    p_success: float,
    notional_quote: float,
    edge_bps: float,
    gas_cost_quote: float,
    flash_fee_quote: float,
    slippage_quote: float,
    revert_gas_quote: float,
    is_flash: bool,
    amm_optimal: bool = False,
    *,
    portfolio_quote: float,
    kelly_fraction: float,
    max_flash_borrow_quote: float,
    leverage: float,
    max_position_fraction: float,
    min_profit_quote: float,
) -> SizingOne:
    """Size one candidate, as :func:`size_trades` would.

    The scalar twin of :func:`size_trades` for the single-candidate hot path (plain
    float arithmetic); a test checks that both agree.
    """
    p = min(max(p_success, 0.0), 1.0)
    q = 1.0 - p
    w = portfolio_quote
    inf = math.inf
    rate = edge_bps * 1e-4 - flash_fee_quote / notional_quote
    curve = slippage_quote / (notional_quote * notional_quote)
    s_star = max(rate, 0.0) / (2.0 * curve) if curve > 0 else inf
    s_amm = notional_quote if amm_optimal else min(notional_quote, s_star)
    if not rate > 0:
        s_amm = 0.0
    net_amm = rate * s_amm - curve * s_amm * s_amm - gas_cost_quote
    if net_amm > 0:
        if revert_gas_quote > 0:
            kelly_full = s_amm * (p / revert_gas_quote - q / net_amm)
        else:
            kelly_full = inf if p > 0 else -inf
    else:
        kelly_full = -inf
    stake = kelly_fraction * kelly_full * w if kelly_full > 0 else 0.0
    caps = (
        stake,
        s_amm,
        max_flash_borrow_quote if is_flash else inf,
        leverage * w,
        inf if is_flash else max_position_fraction * w,
    )
    which = 0
    for j in range(1, 5):
        if caps[j] < caps[which] or (math.isnan(caps[j]) and not math.isnan(caps[which])):
            which = j
        if math.isnan(caps[which]):
            break
    size = max(caps[which], 0.0) if not math.isnan(caps[which]) else math.nan
    net = rate * size - curve * size * size - gas_cost_quote
    ev = p * net - q * revert_gas_quote
    if not net_amm > 0:
        reject = 1
    elif revert_gas_quote > max_position_fraction * w:
        reject = 3
    elif net <= 0 or ev <= 0 or not size > 0:
        reject = 2
    elif net < max(min_profit_quote, 0.0):
        reject = 4
    else:
        reject = 0
    ok = reject == 0
    return SizingOne(
        size_quote=size if ok else 0.0,
        net_quote=net,
        ev_quote=ev,
        amm_size_quote=s_amm,
        kelly_full=kelly_full,
        binding=which + 1 if ok else 0,
        reject=reject,
    )
