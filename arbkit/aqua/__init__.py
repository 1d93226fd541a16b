"""Aqua opportunity detector (user guide section 4). So far: its configuration."""

from __future__ import annotations

from arbkit.aqua.config import DEFAULT_AQUA_ADDRESSES, AquaOpportunityConfig

__all__ = ["DEFAULT_AQUA_ADDRESSES", "AquaOpportunityConfig"]
