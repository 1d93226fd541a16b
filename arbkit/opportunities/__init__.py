"""Opportunity scanning: every block's routes, float screen, exact integer refinement."""

from __future__ import annotations

from arbkit.opportunities.config import FlashSource, ScanConfig
from arbkit.opportunities.scanner import (
    RouteSet,
    build_routes,
    price_tokens,
    scan_block,
    scan_blocks,
    scan_reserve_snapshots,
)

__all__ = [
    "FlashSource",
    "RouteSet",
    "ScanConfig",
    "build_routes",
    "price_tokens",
    "scan_block",
    "scan_blocks",
    "scan_reserve_snapshots",
]
