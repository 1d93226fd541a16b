"""Configuration of the execution model."""

from __future__ import annotations

from typing import Literal

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
    rival_presence: Literal["auto", "history", "hazard"] = Field(
        "auto",
        description=(
            "Who contests a trade: 'history' - a rival is there when the history's swaps "
            "table has a rival swap on a route pool in the including block; 'hazard' - a "
            "rival shows up at the hazard rate below; 'auto' - history when the history "
            "records its swaps, else hazard."
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
        180_000, gt=0, description="Gas of a rival's arbitrage (prices its tip per gas)."
    )
    rival_bid_volume_elasticity: float = Field(
        0.505,
        ge=0,
        description=(
            "How the rival's bid grows with the contested trade's volume: "
            "C0 * (V / reference) ** elasticity (the slope of log bribe on log volume of "
            "2023-08-08's 4,968 CEX-DEX arbitrages)."
        ),
    )
    rival_bid_reference_volume_quote: float = Field(
        8_618.0,
        gt=0,
        description="Volume (quote) at which the rival bids the block's bid C0 (the real median).",
    )
    rival_bid_cap_share: float | None = Field(
        0.5,
        gt=0,
        description=(
            "A rival never bids more than the edge is worth to it: this share of the gross "
            "edge (edge_bps / 1e4 * volume). The profit of the optimal trade across a "
            "constant-product gap is half its gross edge (the other half is price impact), "
            "hence 0.5. None: no cap."
        ),
    )
    auction_sharpness: float = Field(
        4.0,
        gt=0,
        description=(
            "k of the smooth builder's auction: the rival wins with C**k / (B**k + C**k) "
            "(B, C: our and the rival's total payment to the builder); large k is the sharp "
            "first-price auction."
        ),
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
