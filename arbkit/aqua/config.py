"""Configuration of the Aqua opportunity detector (whale following)."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["DEFAULT_AQUA_ADDRESSES", "AquaOpportunityConfig"]

DEFAULT_AQUA_ADDRESSES: tuple[str, ...] = ("0x1111113ccf1426a8e30e2bff5e005d929bf6a90a",)
"""Aqua protocol contract address(es) watched by default."""

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
        Aqua contracts whose events are watched (stored lower case).
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
