"""Typed errors shared by every arbkit sub-package.

Every error says what was wrong and where (file, key, row, argument), so that a
user can fix the input without reading arbkit's source.
"""

from __future__ import annotations

__all__ = [
    "AMMError",
    "ArbkitError",
    "ConfigError",
    "DataError",
    "InsufficientInputAmountError",
    "InsufficientLiquidityError",
    "InsufficientOutputAmountError",
    "InvalidPathError",
    "ModelIntegrityError",
    "ValueOutOfRangeError",
]


class ArbkitError(Exception):
    """Base class of every error arbkit raises on purpose."""


class ConfigError(ArbkitError, ValueError):
    """A configuration file, key or value is invalid."""


class DataError(ArbkitError, ValueError):
    """A data file, row or value is malformed."""


class ModelIntegrityError(ArbkitError):
    """A model file does not match the hash recorded for it in the registry."""


class AMMError(ArbkitError, ValueError):
    """An AMM computation was asked for with inputs the on-chain code would reject."""


class InsufficientInputAmountError(AMMError):
    """Mirror of UniswapV2Library's ``INSUFFICIENT_INPUT_AMOUNT`` revert."""


class InsufficientOutputAmountError(AMMError):
    """Mirror of UniswapV2Library's ``INSUFFICIENT_OUTPUT_AMOUNT`` revert."""


class InsufficientLiquidityError(AMMError):
    """Mirror of UniswapV2Library's ``INSUFFICIENT_LIQUIDITY`` revert."""


class InvalidPathError(AMMError):
    """Mirror of UniswapV2Library's ``INVALID_PATH`` revert."""


class ValueOutOfRangeError(AMMError):
    """An amount or reserve lies outside what the EVM types can hold (uint112, uint256)."""
