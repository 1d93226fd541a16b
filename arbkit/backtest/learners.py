"""Build and train the learning policies the backtest compares (pure: no I/O).

Every learner trains on the same execution settings as the backtest that scores it
(scanner, execution model, latency, tip, candidates per block): the RL envs run the one
replay with them, and the decider's training labels come from the same candidates.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import polars as pl

from arbkit.backtest.config import BacktestConfig
from arbkit.backtest.policies import ActorPolicy, DeciderPolicy, RLPolicyAdapter
from arbkit.market.history import MarketHistory

if TYPE_CHECKING:
    from arbkit.decider import RouteSuccessPredictor

__all__ = ["env_kwargs_for", "make_decider", "make_rl_policy", "make_sb3_policy", "route_table"]


def env_kwargs_for(
    train: MarketHistory, backtest: BacktestConfig | None, window_blocks: int
) -> dict[str, Any]:
    """Return :class:`arbkit.rl.ArbitrageEnv` arguments replaying ``train`` like ``backtest``."""
    bt = backtest or BacktestConfig()
    warmup = min(100, max(0, train.n_blocks - 4))
    window = max(2, min(window_blocks, train.n_blocks - warmup - 2))
    return {
        "history": train,
        "window_blocks": window,
        "warmup_blocks": warmup,
        "execution_config": bt.execution,
        "scan_config": bt.scan,
        "latency_ms": bt.latency_ms,
        "priority_fee_wei": bt.priority_fee_wei,
        "max_candidates": bt.max_candidates,
    }


def route_table(
    history: MarketHistory,
    *,
    seed: int | np.random.SeedSequence,
    backtest: BacktestConfig | None = None,
) -> pl.DataFrame:
    """Return the route-success training table of ``history`` as the backtest replays it.

    The one replay's candidates with ``backtest``'s tip, latency and candidates per
    block, and their outcomes on draws from ``seed``
    (:func:`arbkit.decider.training.build_route_dataset`).
    """
    from arbkit.decider.training import TradePolicy, build_route_dataset

    bt = backtest or BacktestConfig()
    return build_route_dataset(
        history,
        seed=seed,
        scan_config=bt.scan,
        execution_config=bt.execution,
        policy=TradePolicy(priority_fee_wei=bt.priority_fee_wei, latency_ms=bt.latency_ms),
        max_candidates=bt.max_candidates,
    ).table


def make_decider(
    train: MarketHistory,
    *,
    seed: int,
    use_model: bool,
    backtest: BacktestConfig | None = None,
    predictor: RouteSuccessPredictor | None = None,
) -> DeciderPolicy:
    """Return an :class:`~arbkit.decider.AdvancedAIDecider` policy, trained on ``train``.

    Both variants replay ``train``'s labelled outcomes into the decider
    (``warm_start``: route success EMAs and stored samples), so that neither starts
    blind. With ``use_model`` the route-success model is also fitted on them and used in
    the score; without it the decider relies on the six factors alone. A ``predictor``
    given is used as it is instead (a candidate model to validate): not refitted on
    ``train`` and not retrained during the replay.
    """
    from arbkit.decider import AdvancedAIConfig, AdvancedAIDecider, RouteSuccessPredictor

    bt = backtest or BacktestConfig()
    exec_seed, model_seed, decider_seed = np.random.SeedSequence(seed).spawn(3)
    table = route_table(train, seed=exec_seed, backtest=bt)
    # the balanced profile, except its 0.15 ETH minimum profit: far above any simulated
    # opportunity, it would refuse every trade
    # Retraining every 100 outcomes (the default) refits the model ~300 times in a 30-day
    # replay; every 2,000 keeps it current at a fraction of the cost.
    frozen = predictor is not None
    cfg = AdvancedAIConfig(
        enable_ml_scoring=use_model,
        min_profit_eth=0.0,
        retrain_after_n_samples=2**62 if frozen else 2_000,
    )
    if use_model and predictor is None:
        predictor = RouteSuccessPredictor(cfg.route_model)
        predictor.train_model(table, seed=int(model_seed.generate_state(1)[0] % (2**31 - 1)))
    decider = AdvancedAIDecider(cfg, predictor=predictor, seed=decider_seed)
    decider.warm_start(table)
    return DeciderPolicy(
        decider, name="decider_with_model" if use_model else "decider_without_model"
    )


def make_rl_policy(
    train: MarketHistory,
    *,
    seed: int,
    episodes: int = 200,
    window_blocks: int = 256,
    backtest: BacktestConfig | None = None,
) -> RLPolicyAdapter:
    """Return a tabular Q-learning policy trained on ``train`` (greedy when replayed)."""
    from arbkit.rl.training import train_q_learning

    policy = train_q_learning(
        env_kwargs_for(train, backtest, window_blocks), seed=seed, episodes=episodes
    )
    policy.epsilon = 0.0
    policy.rng = np.random.default_rng(np.random.SeedSequence(seed))
    return RLPolicyAdapter(policy, name="q_learning")


def make_sb3_policy(
    algo: Literal["ppo", "dqn"],
    train: MarketHistory,
    *,
    seed: int,
    total_timesteps: int,
    window_blocks: int = 256,
    backtest: BacktestConfig | None = None,
) -> ActorPolicy:
    """Return a stable-baselines3 PPO or DQN agent trained on ``train`` (deterministic)."""
    from arbkit.rl.evaluate import sb3_actor
    from arbkit.rl.training import train_sb3

    model = train_sb3(
        algo,
        env_kwargs_for(train, backtest, window_blocks),
        seed=seed,
        total_timesteps=total_timesteps,
    )
    return ActorPolicy(sb3_actor(model), name=algo)
