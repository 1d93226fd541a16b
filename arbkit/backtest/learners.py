"""Build and train the learning policies the backtest compares (pure: no I/O)."""

from __future__ import annotations

from typing import Any

import numpy as np

from arbkit.backtest.policies import DeciderPolicy, RLPolicyAdapter
from arbkit.market.history import MarketHistory

__all__ = ["make_decider", "make_rl_policy"]


def make_decider(train: MarketHistory, *, seed: int, use_model: bool) -> DeciderPolicy:
    """Return an :class:`~arbkit.decider.AdvancedAIDecider` policy, trained on ``train``.

    Both variants replay ``train``'s labelled outcomes into the decider
    (``warm_start``: route success EMAs and stored samples), so that neither starts
    blind. With ``use_model`` the route-success model is also fitted on them and used in
    the score; without it the decider relies on the six factors alone.
    """
    from arbkit.decider import AdvancedAIConfig, AdvancedAIDecider, RouteSuccessPredictor
    from arbkit.decider.training import build_route_dataset

    exec_seed, model_seed, decider_seed = np.random.SeedSequence(seed).spawn(3)
    table = build_route_dataset(train, seed=exec_seed).table
    # the balanced profile, except its 0.15 ETH minimum profit: far above any simulated
    # opportunity, it would refuse every trade
    # Retraining every 100 outcomes (the default) refits the model ~300 times in a 30-day
    # replay; every 2,000 keeps it current at a fraction of the cost.
    cfg = AdvancedAIConfig(
        enable_ml_scoring=use_model, min_profit_eth=0.0, retrain_after_n_samples=2_000
    )
    predictor = None
    if use_model:
        predictor = RouteSuccessPredictor(cfg.route_model)
        predictor.train_model(table, seed=int(model_seed.generate_state(1)[0] % (2**31 - 1)))
    decider = AdvancedAIDecider(cfg, predictor=predictor, seed=decider_seed)
    decider.warm_start(table)
    return DeciderPolicy(decider, name="decider+ml" if use_model else "decider (no ML)")


def make_rl_policy(
    train: MarketHistory, *, seed: int, episodes: int = 200, window_blocks: int = 256
) -> RLPolicyAdapter:
    """Return a tabular Q-learning policy trained on ``train`` (greedy when replayed)."""
    from arbkit.rl.training import train_q_learning

    window = max(2, min(window_blocks, train.n_blocks - 2))
    env_kwargs: dict[str, Any] = {"history": train, "window_blocks": window}
    policy = train_q_learning(env_kwargs, seed=seed, episodes=episodes)
    policy.epsilon = 0.0
    policy.rng = np.random.default_rng(np.random.SeedSequence(seed))
    return RLPolicyAdapter(policy, name="rl (Q-learning)")
