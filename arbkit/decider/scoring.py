"""Six-factor opportunity scoring: pure array kernels.

Each factor lies in ``[0, 1]`` (higher is better); the score is their weighted sum with
:class:`arbkit.decider.FactorWeights` (weights sum to 1, so the score lies in
``[0, 1]``). With ``gross = notional * edge_bps / 1e4``,
``pre_gas = gross - slippage - flash_fee`` and ``net = pre_gas - gas`` at the
candidate's own size, and :class:`arbkit.decider.ScoringParams` ``s``:

==================  ==========================================================================
factor              formula
==================  ==========================================================================
edge_quality        ``1 - exp(-max(net / notional * 1e4, 0) / s.edge_scale_bps)``
execution_risk      ``(1 - clip(slippage / gross, 0, 1)) * exp(-age_blocks / s.age_scale_blocks)``
                    (0 when ``gross <= 0``): the share of the edge left after price impact
                    (deep trades into the curve are the first to revert when the price
                    moves), discounted for stale edges (rivals take those first)
market_regime       ``s.regime_label_scores[label] * exp(-volatility / s.volatility_scale)``
liquidity           ``(regime.liquidity + depth) / 2`` with
                    ``depth = 1 - exp(-liquidity / (notional * s.depth_scale))``;
                    ``regime.liquidity`` alone when the route's depth is unknown
gas_efficiency      ``(1 - clip(gas / pre_gas, 0, 1)) * (1 - s.gas_percentile_penalty *
                    gas_percentile)`` (0 when ``pre_gas <= 0``)
route_history       the route's success EMA (``route_prior_success`` before its first outcome)
==================  ==========================================================================
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np
import numpy.typing as npt

from arbkit.decider.config import FactorWeights, ScoringParams
from arbkit.features.regime import MarketRegime

__all__ = ["FACTOR_NAMES", "factor_matrix", "factors_one", "score_candidates"]

FloatArray = npt.NDArray[np.float64]
FACTOR_NAMES: Final = (
    "edge_quality",
    "execution_risk",
    "market_regime",
    "liquidity",
    "gas_efficiency",
    "route_history",
)
"""Factor names in column order of :func:`factor_matrix` (the order of ``FactorWeights``)."""


def factor_matrix(
    edge_bps: FloatArray,
    notional_quote: FloatArray,
    gas_cost_quote: FloatArray,
    flash_fee_quote: FloatArray,
    slippage_quote: FloatArray,
    liquidity_quote: FloatArray,
    age_blocks: FloatArray,
    route_ema: FloatArray,
    regime: MarketRegime,
    params: ScoringParams,
) -> FloatArray:
    """Compute the six factors of every candidate (formulas in the module docstring).

    Parameters
    ----------
    edge_bps, notional_quote, gas_cost_quote, flash_fee_quote, slippage_quote
        Candidate columns at the candidate's own size.
    liquidity_quote
        Depth of each route's shallowest pool (NaN when unknown).
    age_blocks
        Blocks each edge had already existed.
    route_ema
        Each route's success EMA.
    regime
        The current market regime.
    params
        Factor scales.

    Returns
    -------
    numpy.ndarray
        Shape ``(n, 6)``, columns in :data:`FACTOR_NAMES`, values in ``[0, 1]``.
    """
    n = notional_quote.shape[0]
    out = np.empty((n, 6))
    gross = notional_quote * edge_bps * 1e-4
    pre_gas = gross - slippage_quote - flash_fee_quote
    net = pre_gas - gas_cost_quote
    margin_bps = np.maximum(net / notional_quote * 1e4, 0.0)
    out[:, 0] = -np.expm1(-margin_bps / params.edge_scale_bps)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        slip_share = np.where(gross > 0, slippage_quote / gross, 1.0)
        gas_share = np.where(pre_gas > 0, gas_cost_quote / pre_gas, 1.0)
        depth = -np.expm1(-liquidity_quote / (notional_quote * params.depth_scale))
    staleness = np.exp(-age_blocks / params.age_scale_blocks)
    out[:, 1] = (1.0 - np.clip(slip_share, 0.0, 1.0)) * staleness
    out[:, 2] = params.regime_label_scores[regime.regime_label] * math.exp(
        -regime.volatility / params.volatility_scale
    )
    out[:, 3] = np.where(np.isnan(depth), regime.liquidity, 0.5 * (regime.liquidity + depth))
    out[:, 4] = (1.0 - np.clip(gas_share, 0.0, 1.0)) * (
        1.0 - params.gas_percentile_penalty * regime.gas_percentile
    )
    out[:, 5] = route_ema
    return out


def score_candidates(factors: FloatArray, weights: FactorWeights) -> FloatArray:
    """Return the weighted score ``factors @ weights`` of every candidate, in ``[0, 1]``.

    Parameters
    ----------
    factors
        Output of :func:`factor_matrix`.
    weights
        The six factor weights.

    Returns
    -------
    numpy.ndarray
        One score per candidate.
    """
    w = np.fromiter(weights.as_dict().values(), dtype=np.float64, count=6)
    return np.asarray(factors @ w, dtype=np.float64)


def factors_one(
    edge_bps: float,
    notional_quote: float,
    gas_cost_quote: float,
    flash_fee_quote: float,
    slippage_quote: float,
    liquidity_quote: float,
    age_blocks: float,
    route_ema: float,
    regime: MarketRegime,
    params: ScoringParams,
) -> tuple[float, float, float, float, float, float]:
    """Return the six factors of one candidate, as :func:`factor_matrix` would.

    The scalar twin of :func:`factor_matrix` for the single-candidate hot path; a test
    checks that both agree.
    """
    gross = notional_quote * edge_bps * 1e-4
    pre_gas = gross - slippage_quote - flash_fee_quote
    net = pre_gas - gas_cost_quote
    margin_bps = max(net / notional_quote * 1e4, 0.0)
    slip_share = slippage_quote / gross if gross > 0 else 1.0
    gas_share = gas_cost_quote / pre_gas if pre_gas > 0 else 1.0
    if math.isnan(liquidity_quote):
        liquidity = regime.liquidity
    else:
        depth = -math.expm1(-liquidity_quote / (notional_quote * params.depth_scale))
        liquidity = 0.5 * (regime.liquidity + depth)
    return (
        -math.expm1(-margin_bps / params.edge_scale_bps),
        (1.0 - min(max(slip_share, 0.0), 1.0)) * math.exp(-age_blocks / params.age_scale_blocks),
        params.regime_label_scores[regime.regime_label]
        * math.exp(-regime.volatility / params.volatility_scale),
        liquidity,
        (1.0 - min(max(gas_share, 0.0), 1.0))
        * (1.0 - params.gas_percentile_penalty * regime.gas_percentile),
        route_ema,
    )
