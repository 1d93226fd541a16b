"""The bundled example market: one block of 3 pairs x 3 venues and two CEX quotes.

Reserves are exact integers with hand-set price gaps (a 1 % cheaper WETH on one venue,
a CEX bid above the pools), so a scan finds dex_dex, triangular and cex_dex candidates.
It is a fixture for the CLI and docs, not calibrated history: ``arbkit.market.sim``
produces that.
"""

from __future__ import annotations

from importlib import resources

import polars as pl

from arbkit.market.tables import INT

__all__ = ["load_example_market"]


def load_example_market() -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Return the example ``(pool_states, cex_quotes, blocks)`` tables."""
    data = resources.files("arbkit") / "data"
    with resources.as_file(data / "example_pool_states.csv") as path:
        pools = pl.read_csv(path, schema_overrides={"reserve0": INT, "reserve1": INT})
    with resources.as_file(data / "example_cex_quotes.csv") as path:
        quotes = pl.read_csv(path)
    with resources.as_file(data / "example_blocks.csv") as path:
        blocks = pl.read_csv(path)
    return pools, quotes, blocks
