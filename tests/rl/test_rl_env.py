from __future__ import annotations

import math
import pickle
import warnings
from typing import Any

import gymnasium as gym
import numpy as np
import polars as pl
import pytest
from gymnasium.error import InvalidAction, ResetNeeded
from gymnasium.utils.env_checker import check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import arbkit.rl
from arbkit.errors import ConfigError, DataError
from arbkit.execution import REASONS
from arbkit.market.history import MarketHistory
from arbkit.rl import ArbitrageEnv, ArbitrageEnvConfig
from arbkit.rl._tables import get_tables
from arbkit.rl._uniforms import uniforms
from arbkit.rl.state import ACTIONS, BUY, FLASH_ARB, HOLD, SELL

ENV_ID = "arbkit/Arbitrage-v0"


def rollout(env: gym.Env[Any, Any], seed: int, actions: list[int]) -> list[tuple[Any, ...]]:
    obs, info = env.reset(seed=seed)
    out: list[tuple[Any, ...]] = [(obs.tolist(), sorted(info.items()))]
    for a in actions:
        obs, reward, terminated, truncated, info = env.step(a)
        out.append((obs.tolist(), reward, terminated, truncated, sorted(info.items())))
        if terminated or truncated:
            obs, info = env.reset()
            out.append((obs.tolist(), sorted(info.items())))
    return out


def test_make_registers_the_id_and_needs_no_arguments() -> None:
    assert ENV_ID in gym.registry
    assert arbkit.rl.ENV_ID == ENV_ID
    env = gym.make(ENV_ID)
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    assert env.action_space == gym.spaces.Discrete(4)
    assert obs.dtype == np.float32


@pytest.mark.filterwarnings("ignore:.*is different from the unwrapped version")
def test_gymnasium_check_env_passes_on_make() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(gym.make(ENV_ID).unwrapped)
    check_env(gym.make(ENV_ID))


def test_sb3_check_env_passes_on_make() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sb3_check_env(gym.make(ENV_ID), warn=True)


def test_same_seed_gives_identical_rollouts() -> None:
    actions = np.random.default_rng(1).integers(0, 4, 700).tolist()
    a = rollout(gym.make(ENV_ID, window_blocks=64), 11, actions)
    b = rollout(gym.make(ENV_ID, window_blocks=64), 11, actions)
    assert a == b
    c = rollout(gym.make(ENV_ID, window_blocks=64), 12, actions)
    assert a != c


def test_prefetch_size_does_not_change_the_episodes() -> None:
    actions = np.random.default_rng(2).integers(0, 4, 300).tolist()
    a = rollout(ArbitrageEnv(window_blocks=32, prefetch_episodes=1), 5, actions)
    b = rollout(ArbitrageEnv(window_blocks=32, prefetch_episodes=7), 5, actions)
    assert a == b


def test_env_survives_a_pickle_round_trip_mid_episode() -> None:
    env = ArbitrageEnv(window_blocks=48)
    env.reset(seed=3)
    for a in (BUY, FLASH_ARB, HOLD, SELL, BUY):
        env.step(a)
    clone = pickle.loads(pickle.dumps(env))
    actions = np.random.default_rng(4).integers(0, 4, 200).tolist()
    for a in actions:
        r1 = env.step(a)
        r2 = clone.step(a)
        assert r1[0].tolist() == r2[0].tolist()
        assert r1[1:] == r2[1:]
        if r1[2] or r1[3]:
            assert env.reset()[0].tolist() == clone.reset()[0].tolist()


def test_truncation_at_window_end_is_not_termination() -> None:
    env = ArbitrageEnv(window_blocks=20)
    env.reset(seed=0)
    for i in range(20):
        _, _, terminated, truncated, _ = env.step(HOLD)
        assert not terminated
        assert truncated == (i == 19)
    with pytest.raises(ResetNeeded):
        env.step(HOLD)


def test_risk_limit_terminates_the_episode() -> None:
    env = ArbitrageEnv(window_blocks=200, max_drawdown_frac=0.0005)
    env.reset(seed=0)
    terminated = truncated = False
    steps = 0
    while not (terminated or truncated):
        # round trips pay fees and gas every time
        obs, _, terminated, truncated, info = env.step(BUY if steps % 2 == 0 else SELL)
        steps += 1
    assert terminated and not truncated
    assert obs[2] == 0.0
    assert info["equity_quote"] <= 100_000 - 50.0 + 1e-6


def test_reward_is_the_sum_of_its_components_and_the_change_of_equity() -> None:
    env = ArbitrageEnv(window_blocks=128)
    _, info = env.reset(seed=9)
    equity = info["equity_quote"]
    rng = np.random.default_rng(0)
    for _ in range(128):
        _, reward, terminated, truncated, info = env.step(int(rng.integers(0, 4)))
        parts = ((info["reward_trade"] + info["reward_gas"]) + info["reward_flash"]) + info[
            "reward_mtm"
        ]
        assert reward == parts
        assert info["equity_quote"] == pytest.approx(equity + reward, abs=1e-9)
        equity = info["equity_quote"]
        if terminated or truncated:
            break


def test_position_limit_rejects_trades_beyond_it() -> None:
    env = ArbitrageEnv(window_blocks=64, max_position_base=5.0)  # lots are ~3.3 WETH
    env.reset(seed=0)
    _, _, _, _, info = env.step(BUY)
    assert info["executed"]
    assert info["position_base"] > 3
    _, _, _, _, info = env.step(BUY)
    assert not info["executed"]
    assert info["reward_trade"] == 0.0 and info["reward_gas"] == 0.0
    assert abs(info["position_base"]) <= 5.0


def test_flash_arb_reward_is_the_execution_models_outcome_credited_when_known() -> None:
    env = ArbitrageEnv(window_blocks=256)
    env.reset(seed=1, options={"start": 500})
    rewards, sent, codes, blocks = [], [], [], []
    for _ in range(256):
        _, _, _, _, info = env.step(FLASH_ARB)
        rewards.append(info["reward_flash"])
        blocks.append(info["block"])
        if info["flash_candidate"] >= 0:
            sent.append(info["flash_candidate"])
            codes.append(info["flash_outcome"])
    # what reset drew: a start draw and a key per episode; the key's uniforms, a pair per
    # candidate slot
    g, _ = gym.utils.seeding.np_random(1)
    row = g.integers(0, 2**63, size=(env.config.prefetch_episodes, 2), dtype=np.int64)[0]
    m = env.max_window_candidates
    draws = uniforms(int(row[1]), 2 * m).reshape(m, 2)
    rp = env.replay
    lo = int(rp.starts[500])
    outs = [
        rp.model.execute(rp.trade(c), draws=(float(draws[c - lo, 0]), float(draws[c - lo, 1])))
        for c in sent
    ]
    assert [REASONS[c] for c in codes] == [o.reason for o in outs]
    assert "ok" in [o.reason for o in outs]
    # each net is credited at its including block (the step whose next block it is), and
    # the episode's rewards add up to the net of every trade it sent
    credited: dict[int, float] = {}
    for o in outs:
        if o.included_block is not None:
            credited[o.included_block] = credited.get(o.included_block, 0.0) + o.net_profit_quote
    for blk, r in zip(blocks[:-1], rewards[:-1], strict=True):
        assert r == credited.get(blk, 0.0)
    assert math.fsum(rewards) == pytest.approx(math.fsum(o.net_profit_quote for o in outs))
    assert min(rewards) < 0  # reverted or re-priced trades pay gas


def test_cells_and_model_agree_on_random_and_boundary_draws() -> None:
    env = ArbitrageEnv()
    cells = env.replay.cells
    assert cells.exact
    rng = np.random.default_rng(7)
    m = env.replay.candidates.height
    rows = rng.integers(0, m, 4_000)
    draws = rng.random((4_000, 2))
    # include exact cell boundaries among the draws
    draws[:500, 0] = rng.choice(cells.inclusion_bounds.ravel(), size=500)
    draws[500:1000, 1] = rng.choice(np.minimum(cells.rival_bounds.ravel(), 0.99), size=500)
    got = cells.lookup(rows, draws)
    want = env.replay.default_outcome_arrays(rows, draws)
    for a, b in zip(got, want, strict=True):
        assert np.array_equal(a, b)


def test_features_are_causal(small_history: MarketHistory) -> None:
    cfg = ArbitrageEnvConfig()
    head = small_history[:400]
    from arbkit.execution import ExecutionConfig
    from arbkit.opportunities import ScanConfig

    full_t, _ = get_tables(small_history, cfg, ExecutionConfig(), ScanConfig(), None)
    head_t, _ = get_tables(head, cfg, ExecutionConfig(), ScanConfig(), None)
    assert np.array_equal(full_t.features[:400], head_t.features)
    assert np.array_equal(full_t.mark[:400], head_t.mark)
    # the replay's candidates of a block (and their edge age) are the same scanning the
    # head or the whole history
    full_r = ArbitrageEnv(small_history, window_blocks=64).replay.candidates
    head_r = ArbitrageEnv(head, window_blocks=64).replay.candidates
    cols = ["block", "route", "amount_in", "net_profit_quote", "age_blocks"]
    assert (
        full_r.filter(pl.col("block") <= head.block_numbers[-1])
        .select(cols)
        .equals(head_r.select(cols))
    )


def test_explicit_start_and_its_bounds() -> None:
    env = ArbitrageEnv(window_blocks=64)
    _, info = env.reset(seed=0, options={"start": env.start_low})
    assert info["block"] == env.tables.block_numbers[env.start_low]
    with pytest.raises(ConfigError, match="options\\['start'\\]"):
        env.reset(options={"start": env.start_high + 1})


def test_bad_arguments_raise_typed_errors_naming_them(small_history: MarketHistory) -> None:
    with pytest.raises(ConfigError, match="window_blocks"):
        ArbitrageEnv(window_blocks=0)
    with pytest.raises(ConfigError, match="no_such_option"):
        ArbitrageEnv(no_such_option=1)
    with pytest.raises(ConfigError, match="fits no window"):
        ArbitrageEnv(small_history[:150], window_blocks=100)
    with pytest.raises(ConfigError, match="spot_pool"):
        ArbitrageEnv(small_history, spot_pool="nope")
    with pytest.raises(ConfigError, match="quote token"):
        ArbitrageEnv(small_history, spot_pool="uniswap_v2:WETH-USDT")
    with pytest.raises(DataError, match="candidates lack"):
        ArbitrageEnv(small_history, candidates=pl.DataFrame({"block": [1]}))
    env = ArbitrageEnv(window_blocks=8)
    env.reset(seed=0)
    with pytest.raises(InvalidAction):
        env.step(4)


def test_render_ansi_and_policy_bridges() -> None:
    env = ArbitrageEnv(window_blocks=16, render_mode="ansi")
    env.reset(seed=0)
    env.step(BUY)
    text = env.render()
    assert text is not None and "WETH" in text and "equity" in text
    snap = env.market_snapshot()
    port = env.portfolio_state()
    assert env.symbol == "ETH/USDC"
    assert snap.prices[env.symbol] > 0
    assert port.positions[env.symbol] > 0
    assert port.health == 1.0 or 0.0 <= port.health < 1.0
    assert ACTIONS == ("buy", "sell", "hold", "flash_arb")


def test_history_without_candidates_makes_flash_arb_a_no_op(small_history: MarketHistory) -> None:
    from arbkit.market.tables import CANDIDATES_SCHEMA

    empty = pl.DataFrame(schema=dict(CANDIDATES_SCHEMA))
    env = ArbitrageEnv(small_history, candidates=empty, window_blocks=32)
    env.reset(seed=0)
    for _ in range(32):
        _, _, _, _, info = env.step(FLASH_ARB)
        assert info["reward_flash"] == 0.0
        assert info["flash_outcome"] == len(REASONS)  # no_candidate
        assert obs_edge_is_zero(env)


def obs_edge_is_zero(env: ArbitrageEnv) -> bool:
    return bool(env.tables.features[env.current_index, 0] == 0.0)


def test_revert_protection_reads_outcomes_batch_by_batch(small_history: MarketHistory) -> None:
    from arbkit.execution import ExecutionConfig

    env = ArbitrageEnv(
        small_history, execution_config=ExecutionConfig(revert_protection=True), window_blocks=64
    )
    assert not env.replay.cells.exact  # a relay's drops do not split into cells
    env.reset(seed=2)
    codes = []
    for _ in range(64):
        _, _, _, _, info = env.step(FLASH_ARB)
        codes.append(info["flash_outcome"])
        if info["flash_outcome"] not in (0, len(REASONS)):
            assert info["reward_flash"] == 0.0  # dropped by the relay: nothing paid
    assert any(c != len(REASONS) for c in codes)
