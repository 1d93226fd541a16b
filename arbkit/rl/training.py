"""Training on the env: tabular Q-learning episodes and stable-baselines3 PPO / DQN.

:func:`simulate_episode` runs one learning episode of :class:`RLArbitragePolicy` (the
user guide's "RL Policy Training" loop calls it before ``policy.end_episode``);
:func:`train_q_learning` repeats it. The training functions take the env's keyword
arguments and an explicit seed and return the trained model; nothing is written to
disk (the caller saves what it wants).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from arbkit.errors import ConfigError
from arbkit.rl.config import RLPolicyConfig, StateBins
from arbkit.rl.env import ArbitrageEnv
from arbkit.rl.policy import RLArbitragePolicy

if TYPE_CHECKING:
    from stable_baselines3.common.base_class import BaseAlgorithm

__all__ = [
    "SB3_DEFAULTS",
    "TRAINING_BINS",
    "default_q_config",
    "simulate_episode",
    "train_q_learning",
    "train_sb3",
]

SB3_DEFAULTS: Mapping[str, Mapping[str, Any]] = {
    "ppo": {
        "n_steps": 1024,
        "batch_size": 256,
        "n_epochs": 5,
        "learning_rate": 3e-4,
        "gamma": 0.99,
        "ent_coef": 0.01,
        "policy_kwargs": {"net_arch": [64, 64]},
    },
    "dqn": {
        "learning_rate": 5e-4,
        "buffer_size": 50_000,
        "learning_starts": 1_000,
        "batch_size": 64,
        "gamma": 0.99,
        "train_freq": 4,
        "target_update_interval": 1_000,
        "exploration_fraction": 0.3,
        "exploration_final_eps": 0.02,
        "policy_kwargs": {"net_arch": [64, 64]},
    },
}
"""Hyper-parameters used by :func:`train_sb3` unless overridden."""


TRAINING_BINS = StateBins(
    edge_quality=4,
    position_pct=3,
    portfolio_health=2,
    volatility=2,
    gas_percentile=2,
    liquidity=2,
)
"""Coarse bins for training from scratch: 192 states that a few hundred episodes visit.

The guide's default (31,250 states) leaves most rows unvisited after ~10^5 steps, and
an unvisited row holds, so the policy misses trades in states it never saw.
"""


def default_q_config(
    episodes: int,
    seed: int | None = None,
    *,
    learning_rate: float = 0.05,
    discount_factor: float = 0.5,
    epsilon_end: float = 0.05,
) -> RLPolicyConfig:
    """Return the Q-learning options used by :func:`train_q_learning` by default.

    :data:`TRAINING_BINS`, step size 0.05 and discount 0.5 (rewards are mostly
    immediate: flash profits land with the decision, a held position's revaluation is
    noise around zero). Exploration decays from 1 to ``epsilon_end`` (0.05) over the
    first 60 % of ``episodes``; the policy is never saved during training
    (``save_every_episodes`` beyond the run). ``learning_rate``, ``discount_factor``
    and ``epsilon_end`` are what ``arbkit sweep --target q_learning`` tunes.
    """
    if not 0.0 < epsilon_end <= 1.0:
        raise ConfigError(f"epsilon_end={epsilon_end}: must lie in (0, 1]")
    decay = float(epsilon_end ** (1.0 / max(1.0, 0.6 * episodes)))
    return RLPolicyConfig(
        learning_rate=float(learning_rate),
        discount_factor=float(discount_factor),
        n_bins=TRAINING_BINS,
        epsilon_start=1.0,
        epsilon_end=float(epsilon_end),
        epsilon_decay=min(decay, 1.0),
        batch_size=32,
        replay_buffer_size=20_000,
        save_every_episodes=episodes + 1,
        seed=seed,
    )


@functools.cache
def _default_env() -> ArbitrageEnv:
    """Return the env of :func:`simulate_episode` when none is given (built once)."""
    return ArbitrageEnv()


def simulate_episode(
    policy: RLArbitragePolicy,
    env: ArbitrageEnv | None = None,
    *,
    seed: int | None = None,
) -> float:
    """Run one episode of ``env`` with ``policy``, learning from every transition.

    Resets the env, then until the episode ends: ``policy.act`` (epsilon-greedy) picks
    the action, ``env.step`` applies it and ``policy.record_experience`` learns from the
    transition. The caller closes the episode (``policy.end_episode(total)``, which
    decays exploration and saves every ``save_every_episodes`` episodes), as in the
    user guide::

        for episode in range(1000):
            total_reward = simulate_episode(policy)
            policy.end_episode(total_reward)

    Parameters
    ----------
    policy
        The policy; its own generator drives exploration and replay sampling.
    env
        The environment; default one :class:`ArbitrageEnv` on the default history
        (``simulate_market(seed=0)``), built on first use and kept for the process.
    seed
        Seeds the env's reset (window start and the window's draws); ``None``
        continues the env's generator, so consecutive episodes differ (a fresh env
        reset without a seed draws its seed from the OS).

    Returns
    -------
    float
        The episode's total reward.
    """
    env = _default_env() if env is None else env
    obs, _ = env.reset(seed=seed)
    total = 0.0
    done = False
    while not done:
        action = policy.act(obs)
        nxt, reward, terminated, truncated, _ = env.step(action)
        r = float(reward)
        policy.record_experience(obs, action, r, nxt, terminated, env.symbol)
        total += r
        obs = nxt
        done = terminated or truncated
    return total


def train_q_learning(
    env_kwargs: Mapping[str, Any],
    *,
    seed: int,
    episodes: int,
    config: RLPolicyConfig | None = None,
) -> RLArbitragePolicy:
    """Train :class:`RLArbitragePolicy` on :class:`ArbitrageEnv` episodes.

    Parameters
    ----------
    env_kwargs
        Keyword arguments of :class:`ArbitrageEnv`.
    seed
        Seeds the env and the policy (split with ``np.random.SeedSequence``).
    episodes
        Episodes to train.
    config
        Policy options (default :func:`default_q_config`); its ``seed`` is ignored.

    Returns
    -------
    RLArbitragePolicy
        The trained policy (exploration left at its final epsilon).

    Notes
    -----
    The loop is the user guide's: ``simulate_episode`` then ``policy.end_episode``,
    the env seeded at its first reset only.
    """
    if episodes < 1:
        raise ConfigError(f"episodes={episodes}: need at least one")
    env_seq, policy_seq = np.random.SeedSequence(seed).spawn(2)
    cfg = config or default_q_config(episodes)
    policy = RLArbitragePolicy(cfg, rng=np.random.default_rng(policy_seq))
    env = ArbitrageEnv(**dict(env_kwargs))
    env_seed: int | None = int(env_seq.generate_state(1)[0])
    for _ in range(episodes):
        total = simulate_episode(policy, env, seed=env_seed)
        env_seed = None  # later episodes continue the env's generator
        policy.end_episode(total)
    return policy


def train_sb3(
    algo: Literal["ppo", "dqn"],
    env_kwargs: Mapping[str, Any],
    *,
    seed: int,
    total_timesteps: int,
    hyperparams: Mapping[str, Any] | None = None,
    n_envs: int = 1,
) -> BaseAlgorithm:
    """Train a stable-baselines3 PPO or DQN agent on :class:`ArbitrageEnv`.

    Parameters
    ----------
    algo
        ``"ppo"`` or ``"dqn"``.
    env_kwargs
        Keyword arguments of :class:`ArbitrageEnv`.
    seed
        Passed to SB3 (``seed=``) and used to seed the envs.
    total_timesteps
        Environment steps to train for.
    hyperparams
        Overrides of :data:`SB3_DEFAULTS`.
    n_envs
        Parallel copies of the env (``DummyVecEnv``).

    Returns
    -------
    stable_baselines3.common.base_class.BaseAlgorithm
        The trained model (``device="cpu"``).
    """
    from stable_baselines3 import DQN, PPO
    from stable_baselines3.common.env_util import make_vec_env

    if algo not in SB3_DEFAULTS:
        raise ConfigError(f"algo {algo!r}: expected 'ppo' or 'dqn'")
    if total_timesteps < 1:
        raise ConfigError(f"total_timesteps={total_timesteps}: need at least one")
    params: dict[str, Any] = {**SB3_DEFAULTS[algo], **dict(hyperparams or {})}
    kwargs = dict(env_kwargs)
    vec = make_vec_env(ArbitrageEnv, n_envs=n_envs, seed=seed, env_kwargs=kwargs)
    cls = PPO if algo == "ppo" else DQN
    model = cls("MlpPolicy", vec, seed=seed, device="cpu", verbose=0, **params)
    model.learn(total_timesteps=total_timesteps)
    return model
