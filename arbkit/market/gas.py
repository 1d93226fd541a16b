"""EIP-1559 gas arithmetic on integers (wei), and conversion of gas costs to a quote token."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import numpy.typing as npt

from arbkit.errors import ArbkitError

__all__ = [
    "BASE_FEE_MAX_CHANGE_DENOMINATOR",
    "CEX_DEX_GAS_UNITS",
    "ELASTICITY_MULTIPLIER",
    "GasError",
    "effective_gas_price",
    "fee_paid_wei",
    "gas_cost_in_quote",
    "next_base_fee",
    "next_base_fees",
]

ELASTICITY_MULTIPLIER = 2
BASE_FEE_MAX_CHANGE_DENOMINATOR = 8
WEI_PER_ETH = 10**18

CEX_DEX_GAS_UNITS = 110_000
"""Gas of the on-chain leg of a CEX-DEX arbitrage: one DEX swap from inventory (mainnet figure)."""


class GasError(ArbkitError, ValueError):
    """A gas quantity is negative, not an integer, or inconsistent."""


def _nonneg_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise GasError(f"{name} must be an integer, got {value!r}")
    if value < 0:
        raise GasError(f"{name} must be non-negative, got {value}")
    return int(value)


def next_base_fee(base_fee_wei: int, gas_used: int, gas_limit: int) -> int:
    """Return the next block's base fee under EIP-1559.

    Parameters
    ----------
    base_fee_wei
        Base fee of the parent block.
    gas_used, gas_limit
        Gas used by and gas limit of the parent block. The target is
        ``gas_limit // 2``.

    Returns
    -------
    int
        Unchanged at target; above it ``base + max(base * delta // target // 8, 1)``;
        below it ``base - base * delta // target // 8``.

    Raises
    ------
    GasError
        If an argument is negative or not an integer, or ``gas_used > gas_limit``.
    """
    base = _nonneg_int("base_fee_wei", base_fee_wei)
    used = _nonneg_int("gas_used", gas_used)
    limit = _nonneg_int("gas_limit", gas_limit)
    if used > limit:
        raise GasError(f"gas_used={used} exceeds gas_limit={limit}")
    target = limit // ELASTICITY_MULTIPLIER
    if target == 0:
        raise GasError(f"gas_limit={limit} gives a zero gas target")
    if used == target:
        return base
    if used > target:
        delta = base * (used - target) // target // BASE_FEE_MAX_CHANGE_DENOMINATOR
        return base + max(delta, 1)
    return base - base * (target - used) // target // BASE_FEE_MAX_CHANGE_DENOMINATOR


def next_base_fees(
    base_fee_wei: npt.NDArray[np.int64],
    gas_used: npt.NDArray[np.int64],
    gas_limit: npt.NDArray[np.int64],
) -> npt.NDArray[np.int64]:
    """Vectorised :func:`next_base_fee` over int64 arrays, exact.

    Where ``base_fee * gas_limit`` could overflow int64 the rows are computed on Python
    integers instead.

    Raises
    ------
    GasError
        If a value is negative, ``gas_used > gas_limit`` or a limit is below 2.
    """
    base = np.asarray(base_fee_wei, dtype=np.int64)
    used = np.asarray(gas_used, dtype=np.int64)
    limit = np.asarray(gas_limit, dtype=np.int64)
    if (base < 0).any() or (used < 0).any() or (limit <= 1).any() or (used > limit).any():
        raise GasError("base fees and gas must be non-negative with 0 <= gas_used <= gas_limit")
    if base.size and (base.astype(np.float64) * limit.astype(np.float64)).max() >= 2.0**62:
        # products could overflow int64: compute on exact Python ints instead
        exact = [
            next_base_fee(int(b), int(u), int(g)) for b, u, g in zip(base, used, limit, strict=True)
        ]
        return np.asarray(exact, dtype=np.int64)
    target = limit // ELASTICITY_MULTIPLIER
    up = np.maximum(base * (used - target) // target // BASE_FEE_MAX_CHANGE_DENOMINATOR, 1)
    down = base * (target - used) // target // BASE_FEE_MAX_CHANGE_DENOMINATOR
    return np.where(used > target, base + up, np.where(used < target, base - down, base))


def effective_gas_price(
    base_fee_wei: int, priority_fee_wei: int, max_fee_wei: int | None = None
) -> int:
    """Return the price per gas a type-2 transaction pays: ``min(max_fee, base + tip)``.

    Parameters
    ----------
    base_fee_wei
        Base fee of the including block.
    priority_fee_wei
        ``maxPriorityFeePerGas``.
    max_fee_wei
        ``maxFeePerGas``; ``None`` means uncapped.

    Raises
    ------
    GasError
        If the max fee is below the base fee (the transaction is not includable).
    """
    base = _nonneg_int("base_fee_wei", base_fee_wei)
    tip = _nonneg_int("priority_fee_wei", priority_fee_wei)
    if max_fee_wei is None:
        return base + tip
    cap = _nonneg_int("max_fee_wei", max_fee_wei)
    if cap < base:
        raise GasError(f"max_fee_wei={cap} is below the base fee {base}: not includable")
    return min(cap, base + tip)


def fee_paid_wei(gas_used: int, effective_gas_price_wei: int) -> int:
    """Return the fee a transaction pays: ``gas_used * effective_gas_price`` (wei)."""
    return _nonneg_int("gas_used", gas_used) * _nonneg_int(
        "effective_gas_price_wei", effective_gas_price_wei
    )


def gas_cost_in_quote(
    fee_wei: int, eth_price_quote: float | Fraction | str, quote_decimals: int
) -> int:
    """Convert a fee in wei to base units of a quote token, rounding up (a cost).

    Parameters
    ----------
    fee_wei
        Fee in wei.
    eth_price_quote
        Price of one ETH in whole quote tokens (e.g. ``3000.5`` USDC); finite, positive.
    quote_decimals
        Decimals of the quote token.

    Returns
    -------
    int
        ``ceil(fee_wei * price * 10**quote_decimals / 10**18)``.
    """
    fee = _nonneg_int("fee_wei", fee_wei)
    if isinstance(eth_price_quote, float) and not math.isfinite(eth_price_quote):
        raise GasError(f"eth_price_quote must be finite, got {eth_price_quote!r}")
    price = (
        Fraction(str(eth_price_quote))
        if isinstance(eth_price_quote, float)
        else Fraction(eth_price_quote)
    )
    if price <= 0:
        raise GasError(f"eth_price_quote must be positive, got {eth_price_quote!r}")
    decimals = _nonneg_int("quote_decimals", quote_decimals)
    value = fee * price * 10**decimals / WEI_PER_ETH
    return int(-((-value.numerator) // value.denominator))
