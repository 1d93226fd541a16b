"""The one execution model shared by the backtest, the Gymnasium env and the dry-run."""

from arbkit.execution.config import ExecutionConfig
from arbkit.execution.model import (
    OUTCOME_COLUMNS,
    REASONS,
    ExecutionModel,
    Outcome,
    SwapOutcomes,
    Trade,
)

__all__ = [
    "OUTCOME_COLUMNS",
    "REASONS",
    "ExecutionConfig",
    "ExecutionModel",
    "Outcome",
    "SwapOutcomes",
    "Trade",
]
