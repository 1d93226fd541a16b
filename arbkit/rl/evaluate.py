"""Held-out evaluation of RL policies: actors, and the RL comparison's entry point.

The RL comparison is the one comparison (:func:`arbkit.backtest.compare.run_comparison`):
PPO, DQN (stable-baselines3) and tabular Q-learning train in :class:`ArbitrageEnv` (the
one replay) on a training history; they, the tuned rule and random are then backtested
by the same :class:`~arbkit.backtest.Simulator` on an independent test history, with the
foresight upper bound. Run it with ``python -m arbkit.rl.evaluate`` (``--help``).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from arbkit.errors import ConfigError
from arbkit.rl.policy import RLArbitragePolicy
from arbkit.rl.state import ACTIONS, FLASH_ARB, HOLD

if TYPE_CHECKING:
    from stable_baselines3.common.base_class import BaseAlgorithm

__all__ = [
    "RL_POLICIES",
    "Actor",
    "main",
    "q_actor",
    "random_actor",
    "rule_actor",
    "sb3_actor",
]

F32Array = npt.NDArray[np.float32]
Actor = Callable[[F32Array], int]
"""A policy as the evaluation sees it: observation -> action id."""


def rule_actor(min_edge: float = 0.0) -> Actor:
    """Return the rule baseline: ``flash_arb`` when the net edge clears costs, else hold.

    The observation's edge is the best candidate's expected profit after gas, so any
    positive value means the trade is expected to pay for its costs.
    """

    def act(obs: F32Array) -> int:
        return FLASH_ARB if float(obs[0]) > min_edge else HOLD

    return act


def random_actor(rng: np.random.Generator) -> Actor:
    """Return uniformly random actions drawn from ``rng``."""

    def act(obs: F32Array) -> int:
        return int(rng.integers(len(ACTIONS)))

    return act


def q_actor(policy: RLArbitragePolicy) -> Actor:
    """Return the greedy actions of a Q-learning policy (no exploration)."""

    def act(obs: F32Array) -> int:
        return policy.act(obs, explore=False)

    return act


def sb3_actor(model: BaseAlgorithm) -> Actor:
    """Return the deterministic actions of a stable-baselines3 model."""

    def act(obs: F32Array) -> int:
        action, _ = model.predict(obs, deterministic=True)
        return int(np.asarray(action).reshape(-1)[0])

    return act


RL_POLICIES = ("foresight", "ppo", "dqn", "q_learning", "rule", "random")


def main(argv: Sequence[str] | None = None) -> None:
    """Run the RL comparison and write ``reports/rl/comparison.md`` (and its JSON)."""
    import json

    from arbkit.backtest.compare import ComparisonConfig, format_comparison, run_comparison
    from arbkit.io import write_atomic

    d = ComparisonConfig()
    parser = argparse.ArgumentParser(prog="python -m arbkit.rl.evaluate", description=__doc__)
    parser.add_argument("--seeds", type=int, nargs="+", default=list(d.seeds))
    parser.add_argument("--train-blocks", type=int, default=d.train_blocks)
    parser.add_argument("--test-blocks", type=int, default=d.n_blocks)
    parser.add_argument("--window-blocks", type=int, default=d.window_blocks)
    parser.add_argument("--ppo-timesteps", type=int, default=d.ppo_timesteps)
    parser.add_argument("--dqn-timesteps", type=int, default=d.dqn_timesteps)
    parser.add_argument("--q-episodes", type=int, default=d.q_episodes)
    parser.add_argument("--policies", nargs="+", default=list(RL_POLICIES))
    parser.add_argument("--out", type=Path, default=Path("reports/rl/comparison.md"))
    parser.add_argument("--torch-threads", type=int, default=1)
    args = parser.parse_args(argv)
    try:
        config = ComparisonConfig(
            policies=tuple(args.policies),
            seeds=tuple(args.seeds),
            n_blocks=args.test_blocks,
            train_blocks=args.train_blocks,
            window_blocks=args.window_blocks,
            ppo_timesteps=args.ppo_timesteps,
            dqn_timesteps=args.dqn_timesteps,
            q_episodes=args.q_episodes,
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    import torch

    torch.set_num_threads(args.torch_threads)
    result = run_comparison(config, progress=lambda line: print(line, flush=True))
    text = format_comparison(result, title="RL policies on held-out history", base="rule")
    out: Path = args.out
    write_atomic(out, text.encode())
    payload = {"per_seed": result.table().to_dicts(), "bounds": result.bounds}
    write_atomic(out.with_suffix(".json"), json.dumps(payload, indent=2).encode())
    print(text)


if __name__ == "__main__":
    main()
