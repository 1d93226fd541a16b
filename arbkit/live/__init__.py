"""The live runners (user guide section 2): dry-run first, on a real node, one replay.

:class:`AIFlashArbitrageRunner` (the advanced decider with the promoted route model),
:class:`FlashArbitrageRunner` (the rule) and :class:`LiveEngine` (an RL policy) share one
loop; :class:`HistoryChain` is the chain layer (embedded anvil or any RPC URL);
:mod:`arbkit.live.safety` holds the stages, stop-loss, caps, kill switch and key handling.

The runners and the chain layer (web3) are imported on first use, so that importing the
configuration (``arbkit.config``) or the command line stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from arbkit.live.config import AIFlashArbConfig
from arbkit.live.safety import KillSwitch, SafetyConfig, StageTracker, TradingStage

if TYPE_CHECKING:
    from arbkit.live.chain_layer import BlockState, HistoryChain, SentTrade
    from arbkit.live.runner import (
        AIFlashArbitrageRunner,
        BlockReport,
        FlashArbitrageRunner,
        LiveEngine,
        RunSummary,
    )

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

_LAZY = {
    "BlockState": "arbkit.live.chain_layer",
    "HistoryChain": "arbkit.live.chain_layer",
    "SentTrade": "arbkit.live.chain_layer",
    "AIFlashArbitrageRunner": "arbkit.live.runner",
    "BlockReport": "arbkit.live.runner",
    "FlashArbitrageRunner": "arbkit.live.runner",
    "LiveEngine": "arbkit.live.runner",
    "RunSummary": "arbkit.live.runner",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'arbkit.live' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
