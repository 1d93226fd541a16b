from __future__ import annotations

from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arbkit.execution import ExecutionConfig
from arbkit.market.amm import get_amount_in, get_amount_out
from arbkit.market.history import MarketHistory
from arbkit.opportunities import ScanConfig, scan_blocks
from arbkit.opportunities.config import FlashSource
from arbkit.rl import ArbitrageEnv
from arbkit.rl.state import BUY, HOLD, SELL

SPOT = "univ3_5bp:USDC-WETH"
WINDOW = 60
BASE_SCAN = ScanConfig(flash_source=FlashSource.AAVE)


@pytest.fixture(scope="module")
def fixed_candidates(small_history: MarketHistory) -> pl.DataFrame:
    """One candidate set for every cost level: costs change what is charged, not the trade."""
    return scan_blocks(
        small_history.pool_states,
        base_fees=small_history.blocks.select("block", "base_fee_wei"),
        cex_quotes=small_history.cex_quotes,
        config=BASE_SCAN.model_copy(update={"max_candidates": 1}),
    )


def make_env(
    history: MarketHistory, candidates: pl.DataFrame, scan: ScanConfig, **options: Any
) -> ArbitrageEnv:
    return ArbitrageEnv(
        history,
        candidates=candidates,
        scan_config=scan,
        execution_config=ExecutionConfig(),
        spot_pool=SPOT,
        window_blocks=WINDOW,
        flash_outcomes="batch",
        prefetch_episodes=1,
        **options,
    )


def run(env: ArbitrageEnv, seed: int, start: int, actions: list[int]) -> list[float]:
    env.reset(seed=seed, options={"start": start})
    rewards = []
    for a in actions:
        _, reward, terminated, truncated, _ = env.step(a)
        rewards.append(float(reward))
        if terminated or truncated:
            break
    return rewards


def with_costs(history: MarketHistory, pool_fee_add: int, base_fee_add: int) -> MarketHistory:
    return MarketHistory(
        history.blocks.with_columns(pl.col("base_fee_wei") + base_fee_add),
        history.pool_states.with_columns(pl.col("fee_bps") + pool_fee_add),
        history.cex_quotes,
        history.aqua_events,
        history.meta,
        swaps=history.swaps,  # the rivals the history recorded: the same contests
    )


@pytest.fixture(scope="module")
def low_env(small_history: MarketHistory, fixed_candidates: pl.DataFrame) -> ArbitrageEnv:
    return make_env(small_history, fixed_candidates, BASE_SCAN)


@pytest.fixture(scope="module")
def flash_candidates(small_history: MarketHistory) -> pl.DataFrame:
    out = scan_blocks(
        small_history.pool_states,
        base_fees=small_history.blocks.select("block", "base_fee_wei"),
        cex_quotes=small_history.cex_quotes,
        config=BASE_SCAN.model_copy(
            # unprofitable routes too: more flash trades to compare, many of them reverting
            update={
                "max_candidates": 1,
                "kinds": ("dex_dex", "triangular"),
                "min_net_profit_quote": -20.0,
            }
        ),
    )
    assert out.height >= 10
    return out


@pytest.fixture(scope="module")
def flash_low_env(small_history: MarketHistory, flash_candidates: pl.DataFrame) -> ArbitrageEnv:
    return make_env(small_history, flash_candidates, BASE_SCAN)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    actions=st.lists(st.integers(0, 3), min_size=WINDOW, max_size=WINDOW),
    seed=st.integers(0, 2**32 - 1),
    start_frac=st.floats(0.0, 1.0),
    gas_multiplier=st.floats(1.0, 4.0),
    base_fee_add=st.integers(0, 2_000_000_000),
)
def test_raising_gas_never_raises_the_reward_of_any_step(
    small_history: MarketHistory,
    fixed_candidates: pl.DataFrame,
    low_env: ArbitrageEnv,
    actions: list[int],
    seed: int,
    start_frac: float,
    gas_multiplier: float,
    base_fee_add: int,
) -> None:
    # every kind of candidate, CEX-DEX included
    high_env = make_env(
        with_costs(small_history, 0, base_fee_add),
        fixed_candidates,
        BASE_SCAN,
        gas_multiplier=gas_multiplier,
    )
    assert_never_higher(low_env, high_env, actions, seed, start_frac)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    actions=st.lists(st.integers(0, 3), min_size=WINDOW, max_size=WINDOW),
    seed=st.integers(0, 2**32 - 1),
    start_frac=st.floats(0.0, 1.0),
    gas_multiplier=st.floats(1.0, 4.0),
    base_fee_add=st.integers(0, 2_000_000_000),
    pool_fee_add=st.integers(0, 40),
    aave_add=st.integers(0, 40),
)
def test_raising_fees_or_gas_never_raises_the_reward_of_any_step(
    small_history: MarketHistory,
    flash_candidates: pl.DataFrame,
    flash_low_env: ArbitrageEnv,
    actions: list[int],
    seed: int,
    start_frac: float,
    gas_multiplier: float,
    base_fee_add: int,
    pool_fee_add: int,
    aave_add: int,
) -> None:
    # flash-loan routes revert exactly when their realised profit is negative, so a fee
    # can only lower what they return; spot trades have no revert check at all
    high_env = make_env(
        with_costs(small_history, pool_fee_add, base_fee_add),
        flash_candidates,
        BASE_SCAN.model_copy(update={"aave_premium_bps": BASE_SCAN.aave_premium_bps + aave_add}),
        gas_multiplier=gas_multiplier,
    )
    assert_never_higher(flash_low_env, high_env, actions, seed, start_frac)


def assert_never_higher(
    low_env: ArbitrageEnv, high_env: ArbitrageEnv, actions: list[int], seed: int, frac: float
) -> None:
    start = low_env.start_low + int(frac * (low_env.start_high - low_env.start_low))
    low = run(low_env, seed, start, actions)
    high = run(high_env, seed, start, actions)
    # equity is lower at every step, so the risk limit can only stop the costly run earlier
    assert len(high) <= len(low)
    for i, (h, lo) in enumerate(zip(high, low, strict=False)):
        assert h <= lo, f"step {i}: reward {h} with higher costs > {lo}"


def test_higher_costs_lower_the_reward_of_a_trading_sequence(
    small_history: MarketHistory, fixed_candidates: pl.DataFrame, low_env: ArbitrageEnv
) -> None:
    actions = [BUY, 3, SELL, 3, 3, BUY, HOLD, SELL] * 7 + [3] * 4
    high_env = make_env(
        with_costs(small_history, 0, 10**9), fixed_candidates, BASE_SCAN, gas_multiplier=2.0
    )
    low = run(low_env, 4, 300, actions)
    high = run(high_env, 4, 300, actions)
    assert sum(high) < sum(low)
    assert all(h <= lo for h, lo in zip(high, low, strict=True))


def test_buy_then_sell_at_an_unchanged_price_loses_exactly_fees_and_gas(
    flat_history: MarketHistory,
) -> None:
    env = ArbitrageEnv(flat_history, spot_pool=SPOT, window_blocks=100, warmup_blocks=0)
    env.reset(seed=0, options={"start": 5})
    _, r_buy, _, _, i_buy = env.step(BUY)
    _, r_sell, _, _, i_sell = env.step(SELL)
    assert i_buy["executed"] and i_sell["executed"]
    assert i_sell["position_base"] == 0.0
    total = float(r_buy) + float(r_sell)
    # independently: the exact AMM amounts on the unchanged pool
    tb = env.tables
    p = flat_history.pool_index[SPOT]
    r0, r1 = flat_history.reserves()
    r_usdc, r_weth = int(r0[5, p]), int(r1[5, p])  # USDC is token0
    lot = tb.lot_units[5]
    paid = get_amount_in(lot, r_usdc, r_weth, 5)
    got = get_amount_out(lot, r_weth, r_usdc, 5)
    assert paid == tb.buy_amount_in[5]
    gas = tb.buy_gas[5] + tb.sell_gas[6]
    fees_and_slippage = (paid - got) / 1e6
    assert got < paid
    assert gas > 0
    assert total == pytest.approx(-(fees_and_slippage + gas), abs=1e-6)
    assert total < 0


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(actions=st.lists(st.sampled_from([BUY, SELL, HOLD]), min_size=1, max_size=80))
def test_no_round_trip_at_an_unchanged_price_ever_profits(
    flat_history: MarketHistory, actions: list[int]
) -> None:
    env = ArbitrageEnv(flat_history, spot_pool=SPOT, window_blocks=100, warmup_blocks=0)
    env.reset(seed=1, options={"start": 0})
    total = 0.0
    trades = 0
    for a in actions:
        _, reward, _, _, info = env.step(a)
        total += float(reward)
        trades += int(info["executed"])
        if trades and abs(info["position_base"]) < 1e-9:
            assert total < 0, f"flat after {trades} trades with total reward {total}"
            assert total <= -trades * float(env.tables.buy_gas.min()) + 1e-6
