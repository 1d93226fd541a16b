"""The guide's entry point: ``python run_live_arbitrage.py --enable-ai --ai-mode conservative``.

The same command as ``arbkit live`` (dry-run unless ``--execute``; ``--help`` lists every option).
"""

from __future__ import annotations

import typer

from arbkit.live.cli import live

if __name__ == "__main__":
    typer.run(live)
