"""Shared fixtures of the RL tests: small simulated histories and constant-price ones."""

from __future__ import annotations

import polars as pl
import pytest

from arbkit.market.history import MarketHistory
from arbkit.market.sim import simulate_market


@pytest.fixture(scope="session")
def small_history() -> MarketHistory:
    """A 700-block simulated history (seed 3)."""
    return simulate_market(seed=3, n_blocks=700)


def constant_history(source: MarketHistory, n_blocks: int, at: int = 0) -> MarketHistory:
    """Return ``n_blocks`` copies of block ``at`` of ``source``: every price is unchanged."""
    first = int(source.block_numbers[0])
    b0 = source.blocks.slice(at, 1)
    new_numbers = pl.Series("block", [first + i for i in range(n_blocks)], dtype=pl.Int64)
    blocks = pl.concat([b0] * n_blocks).with_columns(
        new_numbers, (pl.col("timestamp") + 12 * pl.int_range(pl.len())).alias("timestamp")
    )
    ps0 = source.pool_states.filter(pl.col("block") == first + at)
    pool_states = pl.concat(
        [
            ps0.with_columns(pl.lit(first + i, dtype=pl.Int64).alias("block"))
            for i in range(n_blocks)
        ]
    )
    q0 = source.cex_quotes.filter(pl.col("block") == first + at)
    quotes = pl.concat(
        [q0.with_columns(pl.lit(first + i, dtype=pl.Int64).alias("block")) for i in range(n_blocks)]
    )
    return MarketHistory(blocks, pool_states, quotes, source.aqua_events.clear(), {"constant": at})


@pytest.fixture(scope="session")
def flat_history(small_history: MarketHistory) -> MarketHistory:
    """120 blocks at the prices, reserves and base fee of block 10 of ``small_history``."""
    return constant_history(small_history, 120, at=10)
