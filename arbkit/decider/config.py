"""Configuration of the advanced AI decider (6-factor scoring, GBM success model, Kelly sizing).

The defaults of the profile-controlled options (``confidence_threshold``,
``kelly_fraction``, ``max_leverage``, ``max_flash_borrow_eth``, ``min_profit_eth``) are
the values of the ``balanced`` risk profile, see :data:`arbkit.config.RISK_PROFILES`.
"""

from __future__ import annotations

import math
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["AdvancedAIConfig", "FactorWeights", "RoutePredictorConfig", "ScoringParams"]

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


class ScoringParams(BaseModel):
    """Scales of the six scoring factors (see :mod:`arbkit.decider.scoring`).

    Parameters
    ----------
    edge_scale_bps
        Net margin (bps of notional) at which the edge-quality factor reaches
        ``1 - 1/e``: ``edge_quality = 1 - exp(-max(net_margin_bps, 0) / edge_scale_bps)``.
    regime_label_scores
        Market-regime factor per regime label, before the volatility discount.
    volatility_scale
        Annualised volatility at which the regime factor is discounted by ``1/e``.
    depth_scale
        Pool depth, in multiples of the trade's notional, at which the route-depth
        part of the liquidity factor reaches ``1 - 1/e``.
    gas_percentile_penalty
        Fraction of the gas-efficiency factor lost when the base fee is at its
        trailing maximum (percentile 1).
    age_scale_blocks
        Edge age (blocks) at which the execution-risk factor is discounted by ``1/e``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    edge_scale_bps: float = Field(20.0, gt=0, strict=True)
    regime_label_scores: dict[str, float] = Field(
        default_factory=lambda: {"stable": 1.0, "trending": 0.7, "volatile": 0.4}
    )
    volatility_scale: float = Field(2.0, gt=0, strict=True)
    depth_scale: float = Field(20.0, gt=0, strict=True)
    gas_percentile_penalty: float = Field(0.5, ge=0, le=1, strict=True)
    age_scale_blocks: float = Field(3.0, gt=0, strict=True)

    @model_validator(mode="after")
    def _check_labels(self) -> Self:
        missing = {"stable", "trending", "volatile"} - set(self.regime_label_scores)
        if missing:
            raise ValueError(f"regime_label_scores lacks label(s) {sorted(missing)}")
        bad = {k: v for k, v in self.regime_label_scores.items() if not 0 <= v <= 1}
        if bad:
            raise ValueError(f"regime_label_scores must lie in [0, 1]: {bad}")
        return self


class RoutePredictorConfig(BaseModel):
    """Hyper-parameters of :class:`arbkit.decider.RouteSuccessPredictor`.

    Parameters
    ----------
    n_estimators
        Boosting rounds.
    learning_rate
        Shrinkage of each tree.
    num_leaves
        Leaves per tree.
    min_child_samples
        Minimum samples per leaf.
    reg_lambda
        L2 regularisation of the leaf values.
    feature_fraction
        Share of the features each tree may split on (sampled with the seed).
    calibration
        ``"platt"`` (logistic on the raw score, default), ``"isotonic"`` (monotone
        step function) or ``"none"``.
    calibration_fraction
        Share of the training rows, the latest by block, held out to fit the
        calibration.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    n_estimators: int = Field(200, ge=1, le=10_000, strict=True)
    learning_rate: float = Field(0.02, gt=0, le=1, strict=True)
    num_leaves: int = Field(5, ge=2, le=1024, strict=True)
    min_child_samples: int = Field(150, ge=1, strict=True)
    reg_lambda: float = Field(10.0, ge=0, strict=True)
    feature_fraction: float = Field(0.8, gt=0, le=1, strict=True)
    calibration: Literal["isotonic", "platt", "none"] = "platt"
    calibration_fraction: float = Field(0.25, gt=0, lt=1, strict=True)


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
    ml_blend_weight
        Weight of the model's calibrated success probability in the confidence when
        the model is used; the rest comes from the model-free estimate (the route's
        success EMA shrunk towards the candidate's own confidence).
    route_prior_success
        Success EMA of a route before its first recorded outcome.
    route_prior_strength
        Pseudo-count of the candidate's own confidence when it is blended with the
        route's EMA: ``p = (n * ema + k * confidence) / (n + k)`` after ``n`` outcomes.
    revert_gas_fraction
        Gas paid by a failed trade as a fraction of the candidate's ``gas_cost_quote``
        (when the candidate does not give ``revert_gas_quote``).
    min_training_samples
        Fewest recorded samples (with both outcomes present) before the decider
        (re)trains its model.
    max_training_samples
        Most recorded samples kept for retraining (the oldest are dropped).
    rank_by
        How accepted candidates are ranked: ``"score_weighted_ev"`` (score times
        expected value, default), ``"expected_value"`` or ``"score"``.
    scoring
        Scales of the six scoring factors.
    route_model
        Hyper-parameters of the route-success model.
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
    ml_blend_weight: float = Field(1.0, ge=0, le=1, strict=True)
    route_prior_success: float = Field(0.5, ge=0, le=1, strict=True)
    route_prior_strength: float = Field(10.0, ge=0, strict=True)
    revert_gas_fraction: float = Field(1.0, ge=0, strict=True)
    min_training_samples: int = Field(200, ge=2, strict=True)
    max_training_samples: int = Field(100_000, ge=2, strict=True)
    rank_by: Literal["score_weighted_ev", "expected_value", "score"] = "score_weighted_ev"
    scoring: ScoringParams = Field(default_factory=ScoringParams)
    route_model: RoutePredictorConfig = Field(default_factory=RoutePredictorConfig)

    @model_validator(mode="after")
    def _check_thresholds(self) -> Self:
        if self.high_confidence_threshold < self.confidence_threshold:
            raise ValueError(
                f"high_confidence_threshold ({self.high_confidence_threshold:g}) must be >= "
                f"confidence_threshold ({self.confidence_threshold:g})"
            )
        if self.max_training_samples < self.min_training_samples:
            raise ValueError(
                f"max_training_samples ({self.max_training_samples}) must be >= "
                f"min_training_samples ({self.min_training_samples})"
            )
        return self
