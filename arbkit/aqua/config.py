"""Configuration of the Aqua opportunity detector (whale following)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["CHAIN_NAMES", "DEFAULT_AQUA_ADDRESSES", "AquaOpportunityConfig"]

DEFAULT_AQUA_ADDRESSES: tuple[str, ...] = (
    "0x1111113ccf1426a8e30e2bff5e005d929bf6a90a",
    "0x4a055aa172c98ec32de118b9b5b6ac8b4099a580",
)
"""Aqua protocol contract address(es) watched by default."""

CHAIN_NAMES: Mapping[str, int] = MappingProxyType({"ethereum": 1, "polygon": 137})
"""Chain names the detector's keyword arguments refer to, and their default chain ids."""

_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


class AquaOpportunityConfig(BaseModel):
    """Options of :class:`arbkit.aqua.AquaOpportunityDetector`.

    Parameters
    ----------
    min_pushed_amount_usd
        Smallest ``Pushed`` (deposit) amount, in USD, that counts as a whale movement.
    enable_copy_trading
        Copy whale entries and successful strategies. Off by default (risky).
        Risk-profile controlled.
    enable_counter_trading
        Counter-trade price dips after whale exits.
    max_position_size_usd
        Cap on the size of one trade, in USD.
    max_slippage_bps
        Slippage protection: the trade's minimum output allows at most this slippage.
    max_gas_price_gwei
        Skip opportunities while the gas price exceeds this, in gwei.
    strategy_cooldown_s
        Minimum time between two trades following the same strategy, in seconds.
    flash_loan_min_usd
        Opportunities at least this large, in USD, are executed with a flash loan.
    aqua_contract_addresses
        Aqua contracts whose events are watched (stored lower case): by default the
        address the Aqua SDK lists on 17 chains and the AquaRouter deployed on Ethereum
        mainnet (block 24,750,232).
    chain_ids
        Chain name -> chain id of the detector's connections (``w3_ethereum`` is
        ``ethereum``, ``w3_polygon`` is ``polygon``).
    holding_blocks
        Blocks a copied position is held before it is closed; also the horizon over
        which a maker's tilt is checked for its track record.
    min_tilt
        Smallest distance of an allocation's volatile-token share from 50 % that reads
        as a view (``buy`` above, ``sell`` below).
    min_track_strategies
        Checked strategies a maker needs before its track record counts.
    min_track_record
        Smallest track-record score (Laplace-smoothed hit rate) to copy a maker.
    copy_unproven_whales
        Copy a whale entry of a maker whose track record is not checked yet (fewer than
        ``min_track_strategies`` strategies).
    position_fraction
        Share of the whale's allocation (or released balances) to trade, before the caps.
    max_total_exposure_usd
        Cap on the USD notional of all open copied positions together.
    counter_dip_bps
        How far below the market the pool must trade after a whale exit for a spot
        counter-trade, in bps.
    counter_window_blocks
        Blocks after a whale exit during which a flash-loan counter-trade is looked for.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    min_pushed_amount_usd: float = Field(10_000.0, ge=0, strict=True)
    enable_copy_trading: bool = Field(False, strict=True)
    enable_counter_trading: bool = Field(True, strict=True)
    max_position_size_usd: float = Field(5_000.0, gt=0, strict=True)
    max_slippage_bps: float = Field(50.0, ge=0, le=10_000, strict=True)
    max_gas_price_gwei: float = Field(100.0, gt=0, strict=True)
    strategy_cooldown_s: float = Field(300.0, ge=0, strict=True)
    flash_loan_min_usd: float = Field(50_000.0, ge=0, strict=True)
    aqua_contract_addresses: tuple[str, ...] = DEFAULT_AQUA_ADDRESSES
    chain_ids: dict[str, int] = Field(default_factory=lambda: dict(CHAIN_NAMES))
    holding_blocks: int = Field(300, ge=1, strict=True)
    min_tilt: float = Field(0.1, ge=0, le=0.5)
    min_track_strategies: int = Field(3, ge=0, strict=True)
    min_track_record: float = Field(0.6, ge=0, le=1)
    copy_unproven_whales: bool = Field(True, strict=True)
    position_fraction: float = Field(0.1, gt=0, le=1)
    max_total_exposure_usd: float = Field(20_000.0, gt=0)
    counter_dip_bps: float = Field(20.0, ge=0)
    counter_window_blocks: int = Field(5, ge=1, strict=True)

    @field_validator("aqua_contract_addresses")
    @classmethod
    def _check_addresses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("must list at least one address")
        bad = [a for a in value if _ADDRESS.fullmatch(a) is None]
        if bad:
            raise ValueError(f"not 0x-prefixed 20-byte hex addresses: {bad}")
        lowered = tuple(a.lower() for a in value)
        if len(set(lowered)) != len(lowered):
            raise ValueError("addresses must be unique")
        return lowered
