"""Configuration of the execution model."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ExecutionConfig"]


class ExecutionConfig(BaseModel):
    """Options of :class:`arbkit.execution.ExecutionModel`.

    The defaults describe a searcher sending public transactions on mainnet: a 1 gwei
    tip is included in the next block almost surely, rivals bid about what the simulated
    history says (``competitor_tip_wei`` of the blocks table), and a trade that reverts
    on its minimum-profit check still pays for the gas it burnt.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    block_time_s: float = Field(12.0, gt=0, description="Seconds between blocks.")
    inclusion_tip_scale_wei: int = Field(
        100_000_000,
        gt=0,
        description=(
            "Tip scale of the inclusion probability: a trade is included in each eligible "
            "block with probability 1 - exp(-tip / scale)."
        ),
    )
    max_delay_blocks: int = Field(
        2,
        ge=0,
        description="Blocks a trade may wait past its first eligible block before it expires.",
    )
    competition: bool = Field(True, description="Model rivals that take the edge first.")
    certain_inclusion: bool = Field(
        False,
        description=(
            "Include every trade at its first eligible block whatever its tip (for upper "
            "bounds such as the backtest's oracle)."
        ),
    )
    rival_rate_per_block: float = Field(
        0.08, ge=0, description="Hazard of a rival taking a 0 bps edge, per block of exposure."
    )
    rival_edge_scale_bps: float = Field(
        40.0, gt=0, description="Edge at which the rival hazard doubles (larger edges draw more)."
    )
    default_competitor_tip_wei: int = Field(
        1_000_000_000,
        ge=0,
        description="Rivals' tip per gas when the history has no competitor_tip_wei column.",
    )
    rival_gas_units: int = Field(
        150_000, gt=0, description="Gas of a rival's arbitrage (spreads its coinbase bribe)."
    )
    revert_gas_fraction: float = Field(
        1.0,
        gt=0,
        le=1,
        description=(
            "Share of the trade's gas a revert burns. The minimum-profit check is the last "
            "step of an arbitrage, so a revert burns nearly all of it."
        ),
    )
    revert_protection: bool = Field(
        False,
        description=(
            "Send through a private relay that drops reverting bundles: a trade that would "
            "revert is not included and pays nothing."
        ),
    )
    charge_gas: bool = Field(
        True, description="Charge gas and coinbase bribes (off: costs switched off)."
    )
    charge_flash_fee: bool = Field(True, description="Charge the flash-loan premium.")
