"""Configuration of the feature builders (windows, regime thresholds, label timing)."""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from arbkit.execution.config import ExecutionConfig
from arbkit.execution.replay import check_label_delay, label_delay_blocks
from arbkit.market.tokens import TOKEN_DECIMALS

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
        ``s <= t - label_delay_blocks`` only. ``None`` (the default) derives it from the
        execution settings (:func:`arbkit.execution.label_delay_blocks`: latency and
        inclusion delay); a value below that is refused by :meth:`label_delay`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    quote_token: str = "USDC"
    native_token: str = "WETH"
    price_symbol: str = "ETH/USDC"
    token_decimals: dict[str, int] = Field(default_factory=lambda: dict(TOKEN_DECIMALS))
    volatility_window_blocks: int = Field(50, ge=2)
    trend_window_blocks: int = Field(100, ge=2)
    liquidity_window_blocks: int = Field(300, ge=1)
    gas_window_blocks: int = Field(300, ge=1)
    volatile_threshold: float = Field(1.0, gt=0)
    trending_threshold: float = Field(2.5, gt=0)
    route_ema_alpha: float = Field(0.10, gt=0, le=1)
    route_prior_success: float = Field(0.5, ge=0, le=1)
    label_delay_blocks: int | None = Field(None, ge=1)

    def label_delay(self, execution: ExecutionConfig | None = None, latency_ms: float = 0.0) -> int:
        """Return the label delay under ``execution`` and ``latency_ms``.

        The configured value, checked, or the derived one when none is set.

        Raises
        ------
        ConfigError
            If the configured delay would let a feature see an outcome before its
            including block.
        """
        exe = execution or ExecutionConfig()
        if self.label_delay_blocks is None:
            return label_delay_blocks(exe, latency_ms)
        check_label_delay(self.label_delay_blocks, exe, latency_ms)
        return self.label_delay_blocks

    def for_execution(
        self, execution: ExecutionConfig | None = None, latency_ms: float = 0.0
    ) -> FeatureConfig:
        """Return this config with its label delay fixed for ``execution`` (see above)."""
        return self.model_copy(
            update={"label_delay_blocks": self.label_delay(execution, latency_ms)}
        )

    @model_validator(mode="after")
    def _check_tokens(self) -> Self:
        for token in (self.quote_token, self.native_token):
            if token not in self.token_decimals:
                raise ValueError(f"token {token!r} has no entry in token_decimals")
        return self
