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

from typing import TYPE_CHECKING, Any

from arbkit.aqua.config import DEFAULT_AQUA_ADDRESSES, AquaOpportunityConfig

if TYPE_CHECKING:  # the real types for type checkers; at run time they load on first use
    from arbkit.aqua.chain import AquaChain
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
    from arbkit.aqua.policy import AquaFollowingPolicy
    from arbkit.aqua.watch import AquaClient, AquaEventWatcher

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

# everything but the configuration is imported on first use: decoding needs eth-abi (the
# chain extra), the watcher and the chain driver web3, the policy the backtest; importing
# arbkit (the CLI, the config) must not pull them in
_LAZY = {
    "AQUA_SIGNATURES": "arbkit.aqua.events",
    "AQUA_TOPIC0": "arbkit.aqua.events",
    "AquaEvent": "arbkit.aqua.events",
    "AquaLogError": "arbkit.aqua.events",
    "Docked": "arbkit.aqua.events",
    "Pulled": "arbkit.aqua.events",
    "Pushed": "arbkit.aqua.events",
    "Shipped": "arbkit.aqua.events",
    "decode_aqua_log": "arbkit.aqua.events",
    "encode_aqua_log": "arbkit.aqua.events",
    "events_from_history": "arbkit.aqua.events",
    "AquaLedgerError": "arbkit.aqua.ledger",
    "AquaTrade": "arbkit.aqua.ledger",
    "LedgerUpdate": "arbkit.aqua.ledger",
    "MakerLedger": "arbkit.aqua.ledger",
    "MakerStats": "arbkit.aqua.ledger",
    "PriceBook": "arbkit.aqua.ledger",
    "StrategyState": "arbkit.aqua.ledger",
    "StrategyStats": "arbkit.aqua.ledger",
    "TokenInfo": "arbkit.aqua.ledger",
    "CHAIN_NAMES": "arbkit.aqua.detector",
    "AquaOpportunity": "arbkit.aqua.detector",
    "AquaOpportunityDetector": "arbkit.aqua.detector",
    "AquaChain": "arbkit.aqua.chain",
    "AquaClient": "arbkit.aqua.watch",
    "AquaEventWatcher": "arbkit.aqua.watch",
    "AquaFollowingPolicy": "arbkit.aqua.policy",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'arbkit.aqua' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
