"""The live runners (user guide section 2): dry-run first, on a real node, one replay.

:class:`AIFlashArbitrageRunner` (the advanced decider with the promoted route model),
:class:`FlashArbitrageRunner` (the rule) and :class:`LiveEngine` (an RL policy) share one
loop; :class:`HistoryChain` is the chain layer (embedded anvil or any RPC URL);
:mod:`arbkit.live.safety` holds the stages, stop-loss, caps, kill switch and key handling.
"""

from __future__ import annotations

from arbkit.live.chain_layer import BlockState, HistoryChain, SentTrade
from arbkit.live.config import AIFlashArbConfig
from arbkit.live.runner import (
    AIFlashArbitrageRunner,
    BlockReport,
    FlashArbitrageRunner,
    LiveEngine,
    RunSummary,
)
from arbkit.live.safety import KillSwitch, SafetyConfig, StageTracker, TradingStage

__all__ = [
    "AIFlashArbConfig",
    "AIFlashArbitrageRunner",
    "BlockReport",
    "BlockState",
    "FlashArbitrageRunner",
    "HistoryChain",
    "KillSwitch",
    "LiveEngine",
    "RunSummary",
    "SafetyConfig",
    "SentTrade",
    "StageTracker",
    "TradingStage",
]
