"""arbkit: research workspace and backtest harness for AI-driven crypto arbitrage.

Sub-packages follow the boxes of the design picture (``market``, ``opportunities``,
``execution``, ``features``, ``decider``, ``rl``, ``backtest``, ``registry``, ``live``,
``aqua``, ``metrics``) plus ``config``. Importing ``arbkit`` does no I/O.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
