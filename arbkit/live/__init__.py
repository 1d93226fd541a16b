"""AI flash-arbitrage runner (user guide section 2). So far: its configuration."""

from __future__ import annotations

from arbkit.live.config import AIFlashArbConfig

__all__ = ["AIFlashArbConfig"]
