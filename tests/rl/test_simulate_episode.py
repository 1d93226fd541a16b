"""simulate_episode: the user guide's "RL Policy Training" loop, and train_q_learning's episodes."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from arbkit.market.history import MarketHistory
from arbkit.rl import ArbitrageEnv, RLArbitragePolicy, RLPolicyConfig, simulate_episode
from arbkit.rl.training import default_q_config, train_q_learning


def _guide_training_loop(guide: Path) -> str:
    text = guide.read_text()
    start = text.index("## Performance Optimization")
    start = text.index("### 2. RL Policy Training", start)
    block = re.search(r"```python\n(.*?)```", text[start:], re.S)
    assert block is not None
    return block.group(1)


def _run_episodes(
    policy: RLArbitragePolicy, env: ArbitrageEnv | None, episodes: int, seed: int
) -> list[float]:
    rewards = []
    for i in range(episodes):
        total = simulate_episode(policy, env, seed=seed if i == 0 else None)
        policy.end_episode(total)
        rewards.append(total)
    return rewards


def test_guide_loop_on_the_default_env_saves_every_100_episodes(
    guide: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = _guide_training_loop(guide)
    assert "total_reward = simulate_episode(policy)" in code
    assert "for episode in range(1000):" in code
    # the guide's block has no import line: add one; run 200 episodes instead of 1000
    code = "from arbkit.rl import RLArbitragePolicy, simulate_episode\n" + code.replace(
        "range(1000)", "range(200)"
    )
    saved_at: list[int] = []
    save = RLArbitragePolicy.save

    def spy(self: RLArbitragePolicy, path: str | Path | None = None) -> Path:
        saved_at.append(self.episodes)
        return save(self, path)

    monkeypatch.setattr(RLArbitragePolicy, "save", spy)
    config = RLPolicyConfig(seed=0, model_path=tmp_path / "rl_policy_model.npz")
    assert config.save_every_episodes == 100
    namespace: dict[str, object] = {"config": config}
    exec(compile(code, "guide-rl-training", "exec"), namespace)

    policy = namespace["policy"]
    assert isinstance(policy, RLArbitragePolicy)
    assert policy.episodes == 200
    assert saved_at == [100, 200]
    loaded = RLArbitragePolicy.load(config.model_path)
    assert loaded.episodes == 200
    np.testing.assert_array_equal(loaded.q_table, policy.q_table)
    assert loaded.episode_rewards == policy.episode_rewards
    assert np.any(policy.q_table != 0.0)  # it learnt from the transitions


def test_same_seeds_give_the_same_rewards(small_history: MarketHistory) -> None:
    def run(env_seed: int) -> tuple[list[float], np.ndarray]:
        env = ArbitrageEnv(small_history, window_blocks=16)
        policy = RLArbitragePolicy(RLPolicyConfig(seed=3, save_every_episodes=10**6))
        return _run_episodes(policy, env, 15, env_seed), policy.q_table

    rewards, q = run(11)
    again, q_again = run(11)
    assert rewards == again
    np.testing.assert_array_equal(q, q_again)
    other, _ = run(12)
    assert other != rewards


def test_the_default_env_is_shared_and_seeded_by_seed() -> None:
    def run() -> list[float]:
        policy = RLArbitragePolicy(RLPolicyConfig(seed=5, save_every_episodes=10**6))
        return _run_episodes(policy, None, 3, seed=21)

    assert run() == run()


@pytest.mark.parametrize(("window", "seed", "episodes"), [(16, 4, 30), (32, 9, 12)])
def test_train_q_learning_equals_a_loop_of_simulate_episode(
    small_history: MarketHistory, window: int, seed: int, episodes: int
) -> None:
    kwargs = {"history": small_history, "window_blocks": window}
    trained = train_q_learning(kwargs, seed=seed, episodes=episodes)

    # the same seeds by hand: env and policy children of SeedSequence(seed)
    env_seq, policy_seq = np.random.SeedSequence(seed).spawn(2)
    policy = RLArbitragePolicy(default_q_config(episodes), rng=np.random.default_rng(policy_seq))
    env = ArbitrageEnv(**kwargs)
    rewards = _run_episodes(policy, env, episodes, int(env_seq.generate_state(1)[0]))

    np.testing.assert_array_equal(trained.q_table, policy.q_table)
    assert trained.episode_rewards == rewards
    assert trained.epsilon == policy.epsilon


def test_simulate_episode_is_the_transition_loop_train_q_learning_ran(
    small_history: MarketHistory,
) -> None:
    # reference: train_q_learning's loop before simulate_episode was factored out of it
    def reference(env: ArbitrageEnv, policy: RLArbitragePolicy, episodes: int) -> list[float]:
        out = []
        obs, _ = env.reset(seed=8)
        for _ in range(episodes):
            total, done = 0.0, False
            while not done:
                action = policy.act(obs)
                nxt, reward, terminated, truncated, _ = env.step(action)
                r = float(reward)
                policy.record_experience(obs, action, r, nxt, terminated, env.symbol)
                total += r
                obs = nxt
                done = terminated or truncated
            policy.end_episode(total)
            out.append(total)
            obs, _ = env.reset()
        return out

    def fresh() -> tuple[ArbitrageEnv, RLArbitragePolicy]:
        env = ArbitrageEnv(small_history, window_blocks=16)
        policy = RLArbitragePolicy(default_q_config(20), rng=np.random.default_rng(2))
        return env, policy

    env_a, ref_policy = fresh()
    expected = reference(env_a, ref_policy, 20)
    env_b, policy = fresh()
    assert _run_episodes(policy, env_b, 20, seed=8) == expected
    np.testing.assert_array_equal(policy.q_table, ref_policy.q_table)
    assert policy.symbol_rewards == ref_policy.symbol_rewards
