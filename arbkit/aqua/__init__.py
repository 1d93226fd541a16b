"""Aqua whale following (user guide section 4).

- :mod:`arbkit.aqua.events`: :func:`decode_aqua_log`, the four typed events.
- :mod:`arbkit.aqua.ledger`: :class:`MakerLedger` (balances, trades, track records) and
  :class:`PriceBook` (USD values from a market history, no look-ahead).
- :mod:`arbkit.aqua.detector`: :class:`AquaOpportunityDetector` and
  :class:`AquaOpportunity`.
- :mod:`arbkit.aqua.watch`: :class:`AquaEventWatcher` (``watch_events``: polled logs,
  atomic checkpoint, RPC faults survived).
- :mod:`arbkit.aqua.policy`: :class:`AquaFollowingPolicy` (backtest and dry-run).
- :mod:`arbkit.aqua.chain`: :class:`AquaChain`, an Aqua-compatible contract on the
  embedded chain driven by the simulator's maker flows (imported on use: it needs the
  chain extra).
"""

from __future__ import annotations

from typing import Any

from arbkit.aqua.config import DEFAULT_AQUA_ADDRESSES, AquaOpportunityConfig
from arbkit.aqua.detector import CHAIN_NAMES, AquaOpportunity, AquaOpportunityDetector
from arbkit.aqua.events import (
    AQUA_SIGNATURES,
    AQUA_TOPIC0,
    AquaEvent,
    AquaLogError,
    Docked,
    Pulled,
    Pushed,
    Shipped,
    decode_aqua_log,
    encode_aqua_log,
    events_from_history,
)
from arbkit.aqua.ledger import (
    AquaLedgerError,
    AquaTrade,
    LedgerUpdate,
    MakerLedger,
    MakerStats,
    PriceBook,
    StrategyState,
    StrategyStats,
    TokenInfo,
)

__all__ = [
    "AQUA_SIGNATURES",
    "AQUA_TOPIC0",
    "CHAIN_NAMES",
    "DEFAULT_AQUA_ADDRESSES",
    "AquaChain",
    "AquaClient",
    "AquaEvent",
    "AquaEventWatcher",
    "AquaFollowingPolicy",
    "AquaLedgerError",
    "AquaLogError",
    "AquaOpportunity",
    "AquaOpportunityConfig",
    "AquaOpportunityDetector",
    "AquaTrade",
    "Docked",
    "LedgerUpdate",
    "MakerLedger",
    "MakerStats",
    "PriceBook",
    "Pulled",
    "Pushed",
    "Shipped",
    "StrategyState",
    "StrategyStats",
    "TokenInfo",
    "decode_aqua_log",
    "encode_aqua_log",
    "events_from_history",
]

_LAZY = {
    "AquaChain": "arbkit.aqua.chain",
    "AquaClient": "arbkit.aqua.watch",
    "AquaEventWatcher": "arbkit.aqua.watch",
    "AquaFollowingPolicy": "arbkit.aqua.policy",
}


def __getattr__(name: str) -> Any:
    # the watcher and the chain driver need web3; the policy pulls in the backtest
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'arbkit.aqua' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
