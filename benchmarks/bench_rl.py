"""Steps per second of the arbitrage env: single, vectorised, and SB3 PPO training.

Run: ``make bench`` or ``.venv/bin/python benchmarks/bench_rl.py``. Prints figures; asserts
nothing. Every figure includes the real work of the env: episodes draw the execution
model's uniforms and read the flash trades' outcomes, spot trades use the precomputed
exact swap outcomes, and resets are counted.
"""

from __future__ import annotations

import time
from typing import Any

import gymnasium as gym
import numpy as np
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

import arbkit.rl  # noqa: F401  (registers the id)
from arbkit.rl import ArbitrageEnv, ArbitrageVectorEnv


def single_env(steps: int, **kw: Any) -> tuple[float, int]:
    env = ArbitrageEnv(**kw)
    env.reset(seed=0)
    actions = np.random.default_rng(0).integers(0, 4, steps).tolist()
    step, reset = env.step, env.reset
    resets = 0
    t0 = time.perf_counter()
    for a in actions:
        _, _, terminated, truncated, _ = step(a)
        if terminated or truncated:
            reset()
            resets += 1
    return steps / (time.perf_counter() - t0), resets


def made_env(steps: int) -> float:
    env = gym.make("arbkit/Arbitrage-v0")
    env.reset(seed=0)
    actions = np.random.default_rng(0).integers(0, 4, steps).tolist()
    t0 = time.perf_counter()
    for a in actions:
        _, _, terminated, truncated, _ = env.step(a)
        if terminated or truncated:
            env.reset()
    return steps / (time.perf_counter() - t0)


def vector_env(lanes: int, episodes: int, **kw: Any) -> tuple[float, float, float]:
    venv = ArbitrageVectorEnv(lanes, **kw)
    n_steps = venv.window * episodes
    actions = np.random.default_rng(0).integers(0, 4, (n_steps, lanes))
    t0 = time.perf_counter()
    venv.reset(seed=0)
    t_reset = time.perf_counter() - t0
    for a in actions:
        venv.step(a)
    total = time.perf_counter() - t0
    # the step alone: episodes already drawn (a fresh prefetch covers them)
    venv.reset(seed=1)
    short = actions[: venv.window // 2]
    t1 = time.perf_counter()
    for a in short:
        venv.step(a)
    step_only = short.size / (time.perf_counter() - t1)
    return actions.size / total, step_only, t_reset


def ppo_training(timesteps: int) -> float:
    import torch

    from arbkit.rl.training import train_sb3

    torch.set_num_threads(1)
    train_sb3("ppo", {}, seed=0, total_timesteps=256)  # warm-up (imports, first graph)
    t0 = time.perf_counter()
    train_sb3("ppo", {}, seed=0, total_timesteps=timesteps)
    return timesteps / (time.perf_counter() - t0)


def q_training(episodes: int) -> float:
    from arbkit.rl.training import train_q_learning

    train_q_learning({}, seed=0, episodes=1)
    t0 = time.perf_counter()
    train_q_learning({}, seed=0, episodes=episodes)
    return episodes * 256 / (time.perf_counter() - t0)


def main() -> None:
    ArbitrageEnv()  # build and cache the default history's tables outside the timings
    ArbitrageEnv(flash_outcomes="batch")
    with threadpool_limits(1):
        sps, resets = single_env(400_000)
        print(
            f"single env (ArbitrageEnv, random actions):      {sps:>12,.0f} steps/s "
            f"({resets} resets included)"
        )
        sps_b, _ = single_env(100_000, flash_outcomes="batch")
        print(f"single env, flash_outcomes='batch':             {sps_b:>12,.0f} steps/s")
        print(
            f"single env via gym.make (checker wrappers):     {made_env(100_000):>12,.0f} steps/s"
        )
        for lanes in (256, 1024):
            total, step_only, t_reset = vector_env(lanes, episodes=48)
            print(
                f"vector env, {lanes:>4} lanes, 48 episodes each:   {total:>12,.0f} lane-steps/s "
                f"end to end (first reset {t_reset:.2f} s); step alone {step_only:,.0f}"
            )
        total_b, step_b, _ = vector_env(1024, episodes=4, flash_outcomes="batch")
        print(
            f"vector env, 1024 lanes, flash_outcomes='batch': {total_b:>12,.0f} lane-steps/s "
            f"end to end; step alone {step_b:,.0f}"
        )
    print(f"SB3 PPO training (MlpPolicy 64x64, 1 thread):   {ppo_training(8_192):>12,.0f} steps/s")
    print(f"tabular Q-learning training (replay batch 32):  {q_training(100):>12,.0f} steps/s")


if __name__ == "__main__":
    main()
