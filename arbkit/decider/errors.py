"""Typed errors of the decider."""

from __future__ import annotations

from arbkit.errors import ArbkitError

__all__ = ["DeciderError", "ModelNotTrainedError"]


class DeciderError(ArbkitError, ValueError):
    """The decider was given input it cannot decide on (bad candidate, missing ETH price)."""


class ModelNotTrainedError(ArbkitError, RuntimeError):
    """A route-success model was asked to predict or save before it was trained or loaded."""
