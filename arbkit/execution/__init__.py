"""The one execution model and the one replay.

Shared by the backtest, the Gymnasium env, the decider's evaluation and the dry-run.
"""

from arbkit.execution.config import ExecutionConfig
from arbkit.execution.model import (
    OUTCOME_COLUMNS,
    REASONS,
    ExecutionModel,
    Outcome,
    SwapOutcomes,
    Trade,
)
from arbkit.execution.replay import (
    NOT_INCLUDED,
    GapLedger,
    LaneLedger,
    OutcomeCells,
    Replay,
    add_edge_age,
    check_label_delay,
    label_delay_blocks,
    route_keys,
)
from arbkit.execution.spot import LOT_DECIMALS, SPOT_GAS_UNITS, SpotFills, lot_step_units

__all__ = [
    "LOT_DECIMALS",
    "NOT_INCLUDED",
    "OUTCOME_COLUMNS",
    "REASONS",
    "SPOT_GAS_UNITS",
    "ExecutionConfig",
    "ExecutionModel",
    "GapLedger",
    "LaneLedger",
    "Outcome",
    "OutcomeCells",
    "Replay",
    "SpotFills",
    "SwapOutcomes",
    "Trade",
    "add_edge_age",
    "check_label_delay",
    "label_delay_blocks",
    "lot_step_units",
    "route_keys",
]
