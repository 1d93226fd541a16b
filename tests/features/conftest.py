"""Fixtures of the feature tests: a small simulated history and hand-built price paths."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl
import pytest

from arbkit.market.history import MarketHistory
from arbkit.market.sim import simulate_market
from arbkit.market.tables import AQUA_EVENTS_SCHEMA, INT

FIRST_BLOCK = 1_000


def make_history(
    prices: Sequence[float],
    *,
    base_fees: Sequence[int] | None = None,
    cex: bool = True,
    block_time_s: int = 12,
) -> MarketHistory:
    """One USDC/WETH pool (and an ETH/USDC CEX quote) following ``prices`` (USDC per ETH)."""
    n = len(prices)
    blocks = list(range(FIRST_BLOCK, FIRST_BLOCK + n))
    fees = list(base_fees) if base_fees is not None else [10**9] * n
    weth = 1_000 * 10**18
    pool_states = pl.DataFrame(
        {
            "block": blocks,
            "pool": ["uni:USDC-WETH"] * n,
            "venue": ["uni"] * n,
            "token0": ["USDC"] * n,
            "token1": ["WETH"] * n,
            "reserve0": [round(p * 1_000 * 10**6) for p in prices],
            "reserve1": [weth] * n,
            "fee_bps": [30] * n,
        },
        schema_overrides={"reserve0": INT, "reserve1": INT},
    )
    quotes = pl.DataFrame(
        {
            "timestamp": [1_700_000_000 + i * block_time_s for i in range(n)],
            "venue": ["cex"] * n,
            "symbol": ["ETH/USDC"] * n,
            "bid": [p - 0.5 for p in prices],
            "ask": [p + 0.5 for p in prices],
            "bid_size": [10.0] * n,
            "ask_size": [10.0] * n,
            "block": blocks,
        }
    )
    if not cex:
        quotes = quotes.clear()
    blocks_df = pl.DataFrame(
        {
            "block": blocks,
            "timestamp": [1_700_000_000 + i * block_time_s for i in range(n)],
            "base_fee_wei": fees,
            "gas_used": [15_000_000] * n,
            "gas_limit": [30_000_000] * n,
        }
    )
    return MarketHistory(
        blocks_df, pool_states, quotes, pl.DataFrame(schema=dict(AQUA_EVENTS_SCHEMA))
    )


@pytest.fixture(scope="session")
def history_factory() -> object:
    return make_history


@pytest.fixture(scope="session")
def sim_history() -> MarketHistory:
    return simulate_market(seed=3, n_blocks=1_500)


@pytest.fixture(scope="session")
def sim_labelled(sim_history: MarketHistory) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Candidates (with ``age_blocks``) of the simulated history and their outcomes."""
    import numpy as np

    from arbkit.execution import ExecutionModel
    from arbkit.features import add_edge_age
    from arbkit.opportunities import scan_blocks

    h = sim_history
    candidates = add_edge_age(
        scan_blocks(
            h.pool_states,
            base_fees=h.blocks.select("block", "base_fee_wei"),
            cex_quotes=h.cex_quotes,
        )
    )
    outcomes = ExecutionModel(h).execute_batch(candidates, rng=np.random.default_rng(0))
    return candidates, outcomes
