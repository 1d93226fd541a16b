"""Token metadata: the one table of token decimals, by symbol.

Every layer that converts between whole tokens and base units (the loaders of
:mod:`arbkit.market.data`, the simulator, calibration, the scanner's
``ScanConfig.token_decimals``, the features) takes its decimals from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

__all__ = ["ERC20_TOKEN_DECIMALS", "NON_ERC20_SYMBOLS", "STABLECOINS", "TOKEN_DECIMALS"]

TOKEN_DECIMALS: Mapping[str, int] = MappingProxyType(
    {
        "WETH": 18,
        "ETH": 18,
        "USDC": 6,
        "USDT": 6,
        "DAI": 18,
        "WBTC": 8,
        "BTC": 8,
    }
)
"""Decimals by symbol: the mainnet ERC-20 tokens of the real datasets and the simulator,
plus the native and CEX asset names ``ETH`` and ``BTC``.

Read-only: copy it (``dict(TOKEN_DECIMALS)``) to extend it.
"""

STABLECOINS: frozenset[str] = frozenset({"USDC", "USDT", "DAI"})
"""Symbols of :data:`TOKEN_DECIMALS` pegged to the US dollar."""

NON_ERC20_SYMBOLS: frozenset[str] = frozenset({"ETH", "BTC"})
"""Symbols of :data:`TOKEN_DECIMALS` that name no ERC-20 token (native ether, bitcoin)."""

ERC20_TOKEN_DECIMALS: Mapping[str, int] = MappingProxyType(
    {s: d for s, d in TOKEN_DECIMALS.items() if s not in NON_ERC20_SYMBOLS}
)
"""The ERC-20 entries of :data:`TOKEN_DECIMALS`: what a symbol read from a pool may be.

The on-chain loaders default to this view, so that a pool token calling itself
``ETH`` or ``BTC`` (a spoof: neither is an ERC-20 token) is reported as unknown
rather than scaled with the decimals of the native asset.
"""
