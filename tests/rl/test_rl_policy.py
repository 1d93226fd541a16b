from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from arbkit.errors import ConfigError, ModelIntegrityError
from arbkit.rl import (
    ArbitrageEnv,
    MarketSnapshot,
    PortfolioState,
    RLArbitragePolicy,
    RLPolicyConfig,
    StateBins,
    SymbolOrder,
)
from arbkit.rl.state import ACTIONS, HOLD, encode_states, state_index, state_index_one
from arbkit.rl.training import default_q_config, train_q_learning
from arbkit.rl.training import simulate_episode as library_simulate_episode

SNAPSHOT = MarketSnapshot(
    timestamp=1_700_000_000.0,
    prices={"ETH/USDC": 3_000.0, "BTC/USDT": 60_000.0},
    edge_bps={"ETH/USDC": 4.0},
    volatility_bps={"ETH/USDC": 3.0, "BTC/USDT": 2.0},
    gas_percentile=0.4,
    liquidity_quote={"ETH/USDC": 6e7, "BTC/USDT": 2e7},
)
PORTFOLIO = PortfolioState(
    cash_quote=100_000.0,
    positions={"ETH/USDC": 2.0},
    equity_quote=106_000.0,
    peak_equity_quote=107_000.0,
    max_drawdown_quote=2_000.0,
)


def test_state_index_covers_the_table_and_separates_no_edge() -> None:
    bins = StateBins()
    rng = np.random.default_rng(0)
    states = rng.uniform(-0.5, 1.5, (5_000, 6))
    idx = state_index(states, bins)
    assert idx.min() >= 0 and idx.max() < bins.n_states
    assert idx.tolist() == [state_index_one(s, bins) for s in states]
    zero = np.zeros(6)
    tiny = zero.copy()
    tiny[0] = 1e-6
    assert state_index_one(zero, bins) // (bins.n_states // 10) == 0
    assert state_index_one(tiny, bins) // (bins.n_states // 10) == 1


def test_snapshot_states_use_the_env_normalisation() -> None:
    policy = RLArbitragePolicy(RLPolicyConfig(seed=0))
    state = policy.state_of(PORTFOLIO, SNAPSHOT, "ETH/USDC")
    assert PORTFOLIO.health == pytest.approx(0.5)
    expected = encode_states(
        edge_bps=4.0,
        position_frac=0.2,
        portfolio_health=0.5,
        volatility_bps=3.0,
        gas_percentile=0.4,
        liquidity_quote=6e7,
        scales=policy.config.state_scales,
    )
    assert state.tolist() == expected.tolist()
    # the env's snapshot of its own state encodes to its own observation
    env = ArbitrageEnv(window_blocks=32)
    obs, _ = env.reset(seed=4)
    for _ in range(5):
        obs, *_ = env.step(0)
    env_state = policy.state_of(env.portfolio_state(), env.market_snapshot(), env.symbol)
    np.testing.assert_allclose(env_state[[0, 3, 4, 5]], obs[[0, 3, 4, 5]], rtol=1e-6)
    assert env_state[1] == pytest.approx(obs[1] * env.config.max_position_base / 10.0)


def test_decide_returns_orders_within_limits() -> None:
    cfg = RLPolicyConfig(seed=1, epsilon_start=1.0, target_symbols=("ETH/USDC", "BTC/USDT"))
    policy = RLArbitragePolicy(cfg)
    seen: set[str] = set()
    full = PortfolioState(positions={"ETH/USDC": 10.0, "BTC/USDT": -10.0})
    for _ in range(200):
        for order in policy.decide(full, SNAPSHOT):
            assert isinstance(order, SymbolOrder)
            assert order.symbol in cfg.target_symbols
            seen.add(order.side)
            if order.symbol == "ETH/USDC":
                assert order.side != "buy"
            else:
                assert order.side != "sell"
            assert len(order.state) == 6
    assert seen == {"buy", "sell", "flash_arb"}
    # symbols missing from the snapshot get no orders
    assert policy.decide(PORTFOLIO, MarketSnapshot(prices={"SOL/USDC": 1.0})) == []


def test_untrained_greedy_policy_holds_and_learning_moves_it() -> None:
    policy = RLArbitragePolicy(RLPolicyConfig(seed=0, epsilon_start=0.0, epsilon_end=0.0))
    state = np.array([0.5, 0.0, 1.0, 0.2, 0.5, 0.6], dtype=np.float32)
    assert policy.act(state) == HOLD
    assert policy.decide(PORTFOLIO, SNAPSHOT) == []
    for _ in range(50):
        policy.record_experience(state, "flash_arb", 2.0, state, True, symbol="ETH/USDC")
    assert ACTIONS[policy.act(state)] == "flash_arb"
    assert policy.q_table[policy.state_index(state), 3] == pytest.approx(2.0, rel=0.05)
    assert policy.symbol_rewards["ETH/USDC"] == pytest.approx(100.0)


def test_replay_buffer_is_a_ring_and_replays_batches() -> None:
    cfg = RLPolicyConfig(seed=2, replay_buffer_size=8, batch_size=4)
    policy = RLArbitragePolicy(cfg)
    rng = np.random.default_rng(0)
    for i in range(20):
        s = rng.uniform(0, 1, 6)
        policy.record_experience(s, i % 4, float(i), s, False)
    assert policy._n == 8
    assert sorted(policy._r.tolist()) == [float(i) for i in range(12, 20)]


def test_epsilon_decays_per_episode_and_saves_every_n(tmp_path: Path) -> None:
    path = tmp_path / "models" / "q.npz"
    cfg = RLPolicyConfig(
        seed=0,
        epsilon_start=0.2,
        epsilon_end=0.05,
        epsilon_decay=0.5,
        save_every_episodes=3,
        model_path=path,
    )
    policy = RLArbitragePolicy(cfg)
    saved = [policy.end_episode(float(i)) for i in range(7)]
    assert saved == [None, None, path, None, None, path, None]
    assert policy.epsilon == 0.05
    assert path.exists() and path.with_name("q.npz.sha256").exists()
    loaded = RLArbitragePolicy.load(path)
    assert loaded.episodes == 6
    assert loaded.episode_rewards == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]


def test_save_load_round_trip_and_integrity(tmp_path: Path) -> None:
    policy = train_q_learning({"window_blocks": 32}, seed=3, episodes=5)
    path = policy.save(tmp_path / "policy.npz")
    loaded = RLArbitragePolicy.load(path)
    assert np.array_equal(loaded.q_table, policy.q_table)
    assert loaded.config == policy.config
    assert loaded.epsilon == policy.epsilon
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError, match="does not match"):
        RLArbitragePolicy.load(path)
    other = policy.save(tmp_path / "other.npz")
    other.with_name("other.npz.sha256").unlink()
    with pytest.raises(ModelIntegrityError, match="sidecar"):
        RLArbitragePolicy.load(other)
    small = RLPolicyConfig(n_bins=StateBins(edge_quality=2))
    policy.save(tmp_path / "third.npz")
    with pytest.raises(ConfigError, match="does not fit"):
        RLArbitragePolicy.load(tmp_path / "third.npz", config=small)


def test_bad_inputs_raise_typed_errors() -> None:
    policy = RLArbitragePolicy(RLPolicyConfig(seed=0))
    with pytest.raises(ConfigError, match="action 'jump'"):
        policy.record_experience(np.zeros(6), "jump", 0.0, np.zeros(6), False)
    with pytest.raises(ConfigError, match="finite"):
        policy.record_experience(np.zeros(6), "hold", float("nan"), np.zeros(6), False)
    with pytest.raises(ValueError, match="6 values"):
        policy.act(np.zeros(5))
    with pytest.raises(ValueError, match="trade_size"):
        RLPolicyConfig(trade_size=20.0, max_position_size=10.0)


def test_q_learning_is_seeded() -> None:
    a = train_q_learning({"window_blocks": 64}, seed=5, episodes=40)
    b = train_q_learning({"window_blocks": 64}, seed=5, episodes=40)
    assert np.array_equal(a.q_table, b.q_table)
    assert a.episode_rewards == b.episode_rewards
    assert default_q_config(40).save_every_episodes > 40


def test_guide_rl_usage_example_runs_with_only_imports_changed(guide: Path) -> None:
    text = guide.read_text()
    start = text.index("### 3. RL Trading Policy")
    block = re.search(r"```python\n(.*?)```", text[start:], re.S)
    assert block is not None
    code = block.group(1)
    assert "from src.ai.rl_policy import RLArbitragePolicy, RLPolicyConfig" in code
    code = code.replace(
        "from src.ai.rl_policy import RLArbitragePolicy, RLPolicyConfig",
        "from arbkit.rl import RLArbitragePolicy, RLPolicyConfig",
    ).replace(
        "from src.core.policy import MarketSnapshot, PortfolioState",
        "from arbkit.rl import MarketSnapshot, PortfolioState",
    )
    # The guide leaves the snapshot's fields and the states as placeholders (`...` and
    # undefined names): fill them, change nothing else.
    code = code.replace("MarketSnapshot(...)", "MarketSnapshot(**SNAPSHOT_FIELDS)")
    code = code.replace("PortfolioState(...)", "PortfolioState(**PORTFOLIO_FIELDS)")
    namespace: dict[str, object] = {
        "SNAPSHOT_FIELDS": {
            "prices": {"ETH/USDC": 3_000.0, "BTC/USDT": 60_000.0},
            "edge_bps": {"ETH/USDC": 5.0},
            "gas_percentile": 0.3,
        },
        "PORTFOLIO_FIELDS": {"cash_quote": 10_000.0, "equity_quote": 10_000.0},
        "state": np.full(6, 0.5),
        "next_state": np.full(6, 0.4),
    }
    exec(compile(code, "guide-section-3", "exec"), namespace)
    orders = namespace["orders"]
    assert isinstance(orders, list)
    assert all(isinstance(o, SymbolOrder) for o in orders)
    policy = namespace["policy"]
    assert isinstance(policy, RLArbitragePolicy)
    assert policy.config.target_symbols == ("ETH/USDC", "BTC/USDT")
    assert policy._n == 1


def test_guide_training_loop_saves_every_100_episodes(tmp_path: Path) -> None:
    # user guide, "RL Policy Training", with the library's simulate_episode on a small env
    # (tests/rl/test_simulate_episode.py runs the loop on the default env)
    config = RLPolicyConfig(seed=0, model_path=tmp_path / "rl_policy_model.npz")
    env = ArbitrageEnv(window_blocks=8)
    env.reset(seed=0)

    def simulate_episode(policy: RLArbitragePolicy) -> float:
        return library_simulate_episode(policy, env)

    policy = RLArbitragePolicy(config)

    # Simulate episodes
    for episode in range(250):  # noqa: B007 (the guide's loop, verbatim)
        # Run episode
        total_reward = simulate_episode(policy)

        # End episode
        policy.end_episode(total_reward)

    # Model automatically saves every 100 episodes
    saved = RLArbitragePolicy.load(config.model_path)
    assert saved.episodes == 200
    assert policy.episodes == 250
