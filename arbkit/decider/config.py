"""Configuration of the advanced AI decider (6-factor scoring, GBM success model, Kelly sizing).

The defaults of the profile-controlled options (``confidence_threshold``,
``kelly_fraction``, ``max_leverage``, ``max_flash_borrow_eth``, ``min_profit_eth``) are
the values of the ``balanced`` risk profile, see :data:`arbkit.config.RISK_PROFILES`.
"""

from __future__ import annotations

import math
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["AdvancedAIConfig", "FactorWeights"]

_WEIGHT_SUM_TOLERANCE = 1e-6


class FactorWeights(BaseModel):
    """Weights of the six scoring factors of the decider.

    Each weight is non-negative and the six weights sum to 1 (within 1e-6), so that a
    score built from factors in ``[0, 1]`` also lies in ``[0, 1]``.

    Parameters
    ----------
    edge_quality
        Weight of the profitability of the edge (net edge after costs).
    execution_risk
        Weight of the execution risk (slippage, revert and competition risk).
    market_regime
        Weight of the market regime (volatility, trend).
    liquidity
        Weight of the depth of the route's pools.
    gas_efficiency
        Weight of the gas cost relative to the expected profit.
    route_history
        Weight of the historical success rate of the route (EMA of outcomes).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    edge_quality: float = Field(0.30, ge=0, le=1, strict=True)
    execution_risk: float = Field(0.20, ge=0, le=1, strict=True)
    market_regime: float = Field(0.15, ge=0, le=1, strict=True)
    liquidity: float = Field(0.15, ge=0, le=1, strict=True)
    gas_efficiency: float = Field(0.10, ge=0, le=1, strict=True)
    route_history: float = Field(0.10, ge=0, le=1, strict=True)

    @model_validator(mode="after")
    def _check_sum(self) -> Self:
        total = math.fsum(self.as_dict().values())
        if abs(total - 1.0) > _WEIGHT_SUM_TOLERANCE:
            raise ValueError(f"the six factor weights must sum to 1, they sum to {total:.6g}")
        return self

    def as_dict(self) -> dict[str, float]:
        """Return the weights keyed by factor name, in scoring order.

        Returns
        -------
        dict[str, float]
            ``{"edge_quality": ..., ..., "route_history": ...}``.
        """
        return {
            "edge_quality": self.edge_quality,
            "execution_risk": self.execution_risk,
            "market_regime": self.market_regime,
            "liquidity": self.liquidity,
            "gas_efficiency": self.gas_efficiency,
            "route_history": self.route_history,
        }


class AdvancedAIConfig(BaseModel):
    """Options of :class:`arbkit.decider.AdvancedAIDecider`.

    Parameters
    ----------
    confidence_threshold
        Minimum confidence (0-1) a candidate needs to be executed. Risk-profile controlled.
    enable_ml_scoring
        Blend the GBM route-success probability into the confidence when a trained
        model is available.
    kelly_fraction
        Fraction of the full Kelly size to trade (fractional Kelly). Risk-profile controlled.
    max_leverage
        Cap on notional / portfolio value. Risk-profile controlled.
    max_flash_borrow_eth
        Cap on the amount borrowed by one flash loan, in ETH. Risk-profile controlled.
    min_profit_eth
        Minimum expected net profit of an executed trade, in ETH. Risk-profile controlled.
    max_position_fraction
        Cap on the capital committed to one trade as a fraction of the portfolio value
        (portfolio health constraint applied after Kelly sizing).
    factor_weights
        Weights of the six scoring factors.
    high_confidence_threshold
        Confidence from which a decision counts as high-confidence (the live runner
        boosts its size). Must be at least ``confidence_threshold``.
    route_ema_alpha
        Smoothing factor of the exponential moving average of each route's success rate
        (weight of the newest outcome).
    retrain_after_n_samples
        Retrain the route-success model after this many new recorded outcomes.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    confidence_threshold: float = Field(0.70, ge=0, le=1, strict=True)
    enable_ml_scoring: bool = Field(True, strict=True)
    kelly_fraction: float = Field(0.25, gt=0, le=1, strict=True)
    max_leverage: float = Field(3.0, ge=1, le=100, strict=True)
    max_flash_borrow_eth: float = Field(100.0, gt=0, strict=True)
    min_profit_eth: float = Field(0.15, ge=0, strict=True)
    max_position_fraction: float = Field(0.20, gt=0, le=1, strict=True)
    factor_weights: FactorWeights = Field(default_factory=FactorWeights)
    high_confidence_threshold: float = Field(0.85, ge=0, le=1, strict=True)
    route_ema_alpha: float = Field(0.10, gt=0, le=1, strict=True)
    retrain_after_n_samples: int = Field(100, ge=1, strict=True)

    @model_validator(mode="after")
    def _check_thresholds(self) -> Self:
        if self.high_confidence_threshold < self.confidence_threshold:
            raise ValueError(
                f"high_confidence_threshold ({self.high_confidence_threshold:g}) must be >= "
                f"confidence_threshold ({self.confidence_threshold:g})"
            )
        return self
