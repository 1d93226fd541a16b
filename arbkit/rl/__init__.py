"""RL trading policy (user guide section 3): Gymnasium env, tabular Q-learning, SB3.

Importing this package registers the Gymnasium id ``arbkit/Arbitrage-v0``
(:class:`ArbitrageEnv`; ``gymnasium.make_vec(id, num_envs=n,
vectorization_mode="vector_entry_point")`` gives the numpy-batched
:class:`ArbitrageVectorEnv`). The env, the vector env, the policy and
:func:`simulate_episode` (one learning episode, the user guide's training loop) are
imported on first use, so that reading the configuration (``arbkit.config``) stays
light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from arbkit.rl.config import ArbitrageEnvConfig, RLPolicyConfig, StateBins, StateScales

if TYPE_CHECKING:
    from arbkit.rl.env import ENV_ID, FLASH_OUTCOMES, ArbitrageEnv
    from arbkit.rl.policy import RLArbitragePolicy
    from arbkit.rl.state import ACTIONS, MarketSnapshot, PortfolioState, SymbolOrder
    from arbkit.rl.training import simulate_episode
    from arbkit.rl.vector import ArbitrageVectorEnv

__all__ = [
    "ACTIONS",
    "ENV_ID",
    "FLASH_OUTCOMES",
    "ArbitrageEnv",
    "ArbitrageEnvConfig",
    "ArbitrageVectorEnv",
    "MarketSnapshot",
    "PortfolioState",
    "RLArbitragePolicy",
    "RLPolicyConfig",
    "StateBins",
    "StateScales",
    "SymbolOrder",
    "simulate_episode",
]

_LAZY = {
    "ENV_ID": "arbkit.rl.env",
    "FLASH_OUTCOMES": "arbkit.rl.env",
    "ArbitrageEnv": "arbkit.rl.env",
    "ArbitrageVectorEnv": "arbkit.rl.vector",
    "RLArbitragePolicy": "arbkit.rl.policy",
    "ACTIONS": "arbkit.rl.state",
    "MarketSnapshot": "arbkit.rl.state",
    "SymbolOrder": "arbkit.rl.state",
    "PortfolioState": "arbkit.rl.state",
    "simulate_episode": "arbkit.rl.training",
}

_ID = "arbkit/Arbitrage-v0"


def _register() -> None:
    try:
        import gymnasium
    except ImportError:  # the `rl` extra is not installed: configuration only
        return
    if _ID not in gymnasium.registry:
        gymnasium.register(
            id=_ID,
            entry_point="arbkit.rl.env:ArbitrageEnv",
            vector_entry_point="arbkit.rl.vector:ArbitrageVectorEnv",
        )


_register()


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'arbkit.rl' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
