"""Configuration of the feature builders (windows, regime thresholds, label timing)."""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from arbkit.opportunities.config import DEFAULT_TOKEN_DECIMALS

__all__ = ["FeatureConfig"]


class FeatureConfig(BaseModel):
    """Options of :func:`arbkit.features.build_regime_features` and the route features.

    Every window counts blocks and ends at the block the feature belongs to (that block
    included), so a feature at block ``t`` uses data of blocks ``<= t`` only.

    Parameters
    ----------
    quote_token
        Token every ``*_quote`` value is expressed in.
    native_token
        Token whose price drives the volatility (gas is paid in it, too).
    price_symbol
        CEX symbol of the native token against the quote token; its best mid is the
        reference price where quoted, else the deepest native/quote pool's price.
    token_decimals
        Decimals of the pool tokens (to turn reserves into whole tokens).
    volatility_window_blocks
        Window of the realised volatility.
    trend_window_blocks
        Window of the trend t-statistic.
    liquidity_window_blocks
        Window over which the current total pool liquidity is ranked.
    gas_window_blocks
        Window over which the current base fee is ranked.
    volatile_threshold
        Annualised volatility from which a block is labelled ``volatile``.
    trending_threshold
        Absolute trend t-statistic from which a (non-volatile) block is labelled
        ``trending``.
    route_ema_alpha
        Weight of the newest outcome in a route's success EMA (equal to the decider's
        ``AdvancedAIConfig.route_ema_alpha`` so that training and serving agree).
    route_prior_success
        Value of a route's success EMA before its first known outcome.
    label_delay_blocks
        An outcome of a trade decided at block ``s`` is known from block
        ``s + label_delay_blocks`` on; route features at ``t`` use outcomes with
        ``s <= t - label_delay_blocks`` only.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    quote_token: str = "USDC"
    native_token: str = "WETH"
    price_symbol: str = "ETH/USDC"
    token_decimals: dict[str, int] = Field(default_factory=lambda: dict(DEFAULT_TOKEN_DECIMALS))
    volatility_window_blocks: int = Field(50, ge=2)
    trend_window_blocks: int = Field(100, ge=2)
    liquidity_window_blocks: int = Field(300, ge=1)
    gas_window_blocks: int = Field(300, ge=1)
    volatile_threshold: float = Field(1.0, gt=0)
    trending_threshold: float = Field(2.5, gt=0)
    route_ema_alpha: float = Field(0.10, gt=0, le=1)
    route_prior_success: float = Field(0.5, ge=0, le=1)
    label_delay_blocks: int = Field(3, ge=1)

    @model_validator(mode="after")
    def _check_tokens(self) -> Self:
        for token in (self.quote_token, self.native_token):
            if token not in self.token_decimals:
                raise ValueError(f"token {token!r} has no entry in token_decimals")
        return self
