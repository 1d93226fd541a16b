"""Build and train the learning policies the backtest compares (pure: no I/O).

Every learner trains on the same execution settings as the backtest that scores it
(scanner, execution model, latency, tip, candidates per block): the RL envs run the one
replay with them, and the decider's training labels come from the same candidates.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import polars as pl

from arbkit.backtest.config import BacktestConfig
from arbkit.backtest.policies import ActorPolicy, DeciderPolicy, RLPolicyAdapter
from arbkit.market.history import MarketHistory

if TYPE_CHECKING:
    from arbkit.decider import RouteSuccessPredictor
    from arbkit.decider.bidding import BidConfig, WinProbabilityModel

__all__ = [
    "bid_table",
    "decider_seeds",
    "env_kwargs_for",
    "make_decider",
    "make_rl_policy",
    "make_sb3_policy",
    "rl_env_kwargs",
    "route_table",
    "train_win_model",
]


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


def _dataset_table(
    history: MarketHistory,
    seed: int | np.random.SeedSequence,
    backtest: BacktestConfig | None,
    bids: BidConfig | None,
) -> pl.DataFrame:
    from arbkit.decider.training import TradePolicy, build_route_dataset

    bt = backtest or BacktestConfig()
    return build_route_dataset(
        history,
        seed=seed,
        scan_config=bt.scan,
        execution_config=bt.execution,
        policy=TradePolicy(priority_fee_wei=bt.priority_fee_wei, latency_ms=bt.latency_ms),
        max_candidates=bt.max_candidates,
        bids=bids,
    ).table


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
    return _dataset_table(history, seed, backtest, None)


def bid_table(
    history: MarketHistory,
    *,
    seed: int | np.random.SeedSequence,
    backtest: BacktestConfig | None = None,
    bids: BidConfig | None = None,
) -> pl.DataFrame:
    """Return the win-probability model's training table of ``history``.

    :func:`route_table`'s candidates, each sent with random coinbase transfers
    (:func:`arbkit.decider.bidding.draw_exploration_bids`) through the one execution
    model; the table gains the bid columns and features.
    """
    from arbkit.decider.bidding import BidConfig

    return _dataset_table(history, seed, backtest, bids or BidConfig())


def decider_seeds(seed: int) -> list[np.random.SeedSequence]:
    """Return the decider's four seed streams for ``seed``.

    Execution draws, route model, decider, win-probability model: every learner that
    needs one of them (the deciders, the RL policies' bids) derives it here.
    """
    return np.random.SeedSequence(seed).spawn(4)


def train_win_model(
    history: MarketHistory,
    *,
    seed: int | np.random.SeedSequence,
    backtest: BacktestConfig | None = None,
    bids: BidConfig | None = None,
    holdout_fraction: float = 0.2,
) -> tuple[WinProbabilityModel, dict[str, Any]]:
    """Train the win-probability model on ``history``; score it on its latest rows.

    The rows are ordered by block: the latest ``holdout_fraction`` are held out (never
    seen by the booster or the calibration) and score the model (``report``: the
    classification metrics, ECE included, the reliability bins, and whether ``P(win)``
    never falls along the bid grid on any row); the booster and its calibration fit the
    rest as :meth:`RouteSuccessPredictor.fit` does.

    Returns
    -------
    tuple[WinProbabilityModel, dict]
        The fitted model and its held-out report.
    """
    from arbkit.decider.bidding import WinProbabilityModel
    from arbkit.features import ROUTE_FEATURE_NAMES

    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    data_seed, fit_seed = ss.spawn(2)
    table = bid_table(history, seed=data_seed, backtest=backtest, bids=bids).sort(
        "block", maintain_order=True
    )
    cut = round(table.height * (1.0 - holdout_fraction))
    model = WinProbabilityModel(bids)
    model.train_model(table[:cut], seed=int(fit_seed.generate_state(1)[0] % (2**31 - 1)))
    report = model.reliability(table[cut:])
    report["n_train"] = cut
    report["n_holdout"] = table.height - cut
    # the property the decider relies on, on every row it saw: a higher bid never lowers P(win)
    p = model.predict_grid(
        table.select(ROUTE_FEATURE_NAMES).to_numpy(),
        np.asarray(model.bid_config.grid_share),
        table["expected_net_quote"].to_numpy(),
        table["eth_price_quote"].to_numpy(),
        table["rival_bid_eth"].to_numpy(),
    )
    report["monotone_in_bid"] = bool(np.all(np.diff(p, axis=1) >= 0))
    return model, report


def make_decider(
    train: MarketHistory,
    *,
    seed: int,
    use_model: bool,
    backtest: BacktestConfig | None = None,
    predictor: RouteSuccessPredictor | None = None,
    bid: bool = True,
    win_model: WinProbabilityModel | None = None,
    bid_share: float = 0.0,
    overrides: Mapping[str, Any] | None = None,
    min_bid_share: float = 0.0,
) -> DeciderPolicy:
    """Return an :class:`~arbkit.decider.AdvancedAIDecider` policy, trained on ``train``.

    Both variants replay ``train``'s labelled outcomes into the decider
    (``warm_start``: route success EMAs and stored samples), so that neither starts
    blind. With ``use_model`` the route-success model is also fitted on them and used in
    the score, and (``bid``) the win-probability model is trained on ``train`` too
    (:func:`train_win_model`): the decider then chooses each trade's bid. Without it
    the decider relies on the six factors alone and bids ``bid_share`` of its expected
    net profit (tuned by the comparison). A ``predictor`` or ``win_model`` given is used
    as it is instead (a candidate model to validate): not refitted on ``train``, and the
    route model not retrained during the replay. ``overrides`` replaces fields of the
    decider's :class:`~arbkit.decider.AdvancedAIConfig` (the comparison tunes the
    confidence threshold and the minimum profit with it); ``min_bid_share`` is the
    smallest positive share of the expected net the model's decider bids.
    """
    from arbkit.decider import AdvancedAIConfig, AdvancedAIDecider, RouteSuccessPredictor

    bt = backtest or BacktestConfig()
    exec_seed, model_seed, decider_seed, bid_seed = decider_seeds(seed)
    table = route_table(train, seed=exec_seed, backtest=bt)
    # the balanced profile, except its 0.15 ETH minimum profit: far above any simulated
    # opportunity, it would refuse every trade
    # Retraining every 100 outcomes (the default) refits the model ~300 times in a 30-day
    # replay; every 2,000 keeps it current at a fraction of the cost.
    frozen = predictor is not None
    settings: dict[str, Any] = {
        "enable_ml_scoring": use_model,
        "min_profit_eth": 0.0,
        "retrain_after_n_samples": 2**62 if frozen else 2_000,
    }
    cfg = AdvancedAIConfig(**{**settings, **dict(overrides or {})})
    if use_model and predictor is None:
        predictor = RouteSuccessPredictor(cfg.route_model)
        predictor.train_model(table, seed=int(model_seed.generate_state(1)[0] % (2**31 - 1)))
    if use_model and bid and win_model is None:
        win_model, _ = train_win_model(train, seed=bid_seed, backtest=bt)
    if win_model is not None and min_bid_share != win_model.bid_config.min_share:
        # the same fitted model, bidding at least min_bid_share of the expected net
        win_model = copy.copy(win_model)
        win_model.bid_config = win_model.bid_config.model_copy(update={"min_share": min_bid_share})
    decider = AdvancedAIDecider(
        cfg,
        predictor=predictor,
        seed=decider_seed,
        win_model=win_model if use_model and bid else None,
    )
    decider.warm_start(table)
    return DeciderPolicy(
        decider,
        name="decider_with_model" if use_model else "decider_without_model",
        bid_share=0.0 if use_model and bid else bid_share,
    )


def rl_env_kwargs(
    train: MarketHistory,
    *,
    seed: int,
    window_blocks: int,
    backtest: BacktestConfig | None,
    bid: bool,
) -> tuple[dict[str, Any], WinProbabilityModel | None]:
    """Return the RL env's arguments on ``train``, with the decider's bids when ``bid``.

    With ``bid`` the win-probability model is trained on ``train`` exactly as
    :func:`make_decider` trains it for the same seed, and every training candidate
    carries the decider's bid for it (:func:`arbkit.decider.bidding.candidate_bids`):
    the env's ``flash_arb`` sends it, and the reward is net of it.
    """
    from arbkit.backtest.engine import get_replay
    from arbkit.decider.bidding import candidate_bids

    kwargs = env_kwargs_for(train, backtest, window_blocks)
    if not bid:
        return kwargs, None
    bt = backtest or BacktestConfig()
    model, _ = train_win_model(train, seed=decider_seeds(seed)[3], backtest=bt)
    replay = get_replay(train, bt)
    cands = replay.candidates
    bids = candidate_bids(
        cands,
        train,
        model,
        run_tip_wei=replay.priority_fee_wei,
        revert_gas_fraction=bt.execution.revert_gas_fraction,
    )
    kwargs["candidates"] = cands.with_columns(pl.Series("bribe_wei", bids, dtype=pl.Int64))
    kwargs["priority_fee_wei"] = model.bid_config.priority_fee_wei
    return kwargs, model


def make_rl_policy(
    train: MarketHistory,
    *,
    seed: int,
    episodes: int = 200,
    window_blocks: int = 256,
    backtest: BacktestConfig | None = None,
    bid: bool = True,
) -> RLPolicyAdapter:
    """Return a tabular Q-learning policy trained on ``train`` (greedy when replayed).

    With ``bid`` its ``flash_arb`` sends the decider's bid (:func:`rl_env_kwargs`); the
    returned adapter's ``bid_model`` carries the model that prices the test candidates'
    bids.
    """
    from arbkit.rl.training import train_q_learning

    kwargs, model = rl_env_kwargs(
        train, seed=seed, window_blocks=window_blocks, backtest=backtest, bid=bid
    )
    policy = train_q_learning(kwargs, seed=seed, episodes=episodes)
    policy.epsilon = 0.0
    policy.rng = np.random.default_rng(np.random.SeedSequence(seed))
    adapter = RLPolicyAdapter(policy, name="q_learning")
    adapter.bid_model = model
    return adapter


def make_sb3_policy(
    algo: Literal["ppo", "dqn"],
    train: MarketHistory,
    *,
    seed: int,
    total_timesteps: int,
    window_blocks: int = 256,
    backtest: BacktestConfig | None = None,
    bid: bool = True,
) -> ActorPolicy:
    """Return a stable-baselines3 PPO or DQN agent trained on ``train`` (deterministic).

    ``bid`` as for :func:`make_rl_policy`.
    """
    from arbkit.rl.evaluate import sb3_actor
    from arbkit.rl.training import train_sb3

    kwargs, win_model = rl_env_kwargs(
        train, seed=seed, window_blocks=window_blocks, backtest=backtest, bid=bid
    )
    model = train_sb3(algo, kwargs, seed=seed, total_timesteps=total_timesteps)
    actor = ActorPolicy(sb3_actor(model), name=algo)
    actor.bid_model = win_model
    return actor
