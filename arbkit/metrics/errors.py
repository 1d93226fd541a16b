"""Typed errors of :mod:`arbkit.metrics`."""

from __future__ import annotations

from arbkit.errors import ArbkitError

__all__ = ["MetricsStoreError", "MetricsValueError"]


class MetricsValueError(ArbkitError, ValueError):
    """A value passed to the metrics collector is invalid (NaN, infinite, negative, wrong type)."""


class MetricsStoreError(ArbkitError):
    """The metrics database cannot be opened or is not an arbkit metrics database."""
