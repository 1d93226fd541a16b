"""Configuration of the opportunity scanner."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator

from arbkit.market.gas import CEX_DEX_GAS_UNITS
from arbkit.market.tokens import TOKEN_DECIMALS

__all__ = ["DEFAULT_TOKEN_DECIMALS", "FlashSource", "ScanConfig"]

DEFAULT_TOKEN_DECIMALS: Mapping[str, int] = TOKEN_DECIMALS
"""Default of ``ScanConfig.token_decimals``: :data:`arbkit.market.tokens.TOKEN_DECIMALS`."""


class FlashSource(StrEnum):
    """Where the capital of a DEX route is borrowed within the transaction.

    ``balancer``: Balancer vault flash loan, 0 fee. ``aave``: Aave V3 flash loan,
    premium ``aave_premium_bps`` (5 bps by default, rounded half up like Aave's
    ``percentMul``). ``v2_flash_swap``: take the first pool's output first and repay it
    in the input token (Uniswap V2 flash swap); no fee beyond the pool's own swap fee.
    """

    BALANCER = "balancer"
    AAVE = "aave"
    V2_FLASH_SWAP = "v2_flash_swap"


class ScanConfig(BaseModel):
    """Options of :func:`arbkit.opportunities.scan_block`.

    Gas is modelled per route as ``gas_base_units + gas_per_hop_units * hops +
    flash overhead``; the defaults follow measured mainnet figures (a two-pool backrun
    about 150k gas, a flash-loan arbitrage about 230k).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    quote_token: str = Field("USDC", description="Token all *_quote columns are expressed in.")
    native_token: str = Field("WETH", description="Token gas is paid in (wrapped ETH).")
    flash_source: FlashSource = FlashSource.BALANCER
    aave_premium_bps: int = Field(5, ge=0, le=10_000)
    kinds: tuple[str, ...] = ("dex_dex", "triangular", "cex_dex")
    gas_base_units: int = Field(51_000, ge=0, description="Transaction + executor overhead.")
    gas_per_hop_units: int = Field(60_000, ge=0)
    flash_overhead_units: dict[FlashSource, int] = Field(
        default_factory=lambda: {
            FlashSource.BALANCER: 40_000,
            FlashSource.AAVE: 70_000,
            FlashSource.V2_FLASH_SWAP: 10_000,
        }
    )
    cex_dex_gas_units: int = Field(
        CEX_DEX_GAS_UNITS, ge=0, description="One DEX swap from inventory."
    )
    priority_fee_wei: int = Field(1_000_000_000, ge=0, description="Tip paid per gas unit.")
    cex_fee_bps: float = Field(
        2.0, ge=0, lt=10_000, description="CEX taker fee (a VIP-tier searcher pays about 2 bps)."
    )
    min_net_profit_quote: float = Field(
        0.0, description="Keep candidates whose net profit exceeds this."
    )
    screen_slack: float = Field(
        0.02,
        ge=0,
        description=(
            "Relative slack of the float screen: routes whose float net profit is within this "
            "fraction of the threshold still get the exact integer refinement."
        ),
    )
    max_candidates: int = Field(
        1_000,
        ge=1,
        description=(
            "Most candidates kept per block: survivors of the float screen are refined best "
            "first and refinement stops once this many pass."
        ),
    )
    refine_max_evals: int = Field(
        512,
        ge=8,
        description=(
            "Most exact evaluations per route in the integer refinement. Small pools are always "
            "proven optimal; on deep pools the result is within `profit_gap_bound` base units "
            "of the proven bound (typically 1-2 units)."
        ),
    )
    max_borrow_quote: float | None = Field(
        None, gt=0, description="Cap on a flash-loan route's input, in quote (None: uncapped)."
    )
    token_decimals: dict[str, int] = Field(default_factory=lambda: dict(TOKEN_DECIMALS))
    cex_asset_aliases: dict[str, str] = Field(
        default_factory=lambda: {"ETH": "WETH", "BTC": "WBTC"},
        description="CEX asset name -> on-chain token symbol.",
    )

    @field_validator("kinds")
    @classmethod
    def _check_kinds(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        allowed = {"dex_dex", "triangular", "cex_dex"}
        unknown = [k for k in value if k not in allowed]
        if unknown:
            raise ValueError(f"unknown route kind(s) {unknown}; expected some of {sorted(allowed)}")
        return value

    @field_validator("token_decimals")
    @classmethod
    def _check_decimals(cls, value: dict[str, int]) -> dict[str, int]:
        bad = {k: v for k, v in value.items() if not 0 <= v <= 36}
        if bad:
            raise ValueError(f"token decimals must lie in [0, 36]: {bad}")
        return value
