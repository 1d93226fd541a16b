"""The pipeline's stages as functions: what the notebooks under ``notebooks/pipeline/`` call.

Each stage reads what the previous one wrote and writes files DVC tracks; the notebooks
hold only their parameters, the calls, figures and the metrics they write. The stages:

1. :func:`make_histories`: the training and the held-out test history (simulated, or the
   real Uniswap V2/SushiSwap + Binance data cut in two).
2. :func:`route_dataset`: the route-success training table of the training history,
   through the one replay (its candidates, outcomes and label delay).
3. :func:`train_route_model`: the route model, fitted on the table's earlier rows and
   scored on its later ones (after an embargo of the label delay): accuracy beside the
   majority-class rate, AUC, Brier skill score against the base rate, ECE.
4. :func:`train_rl_policy`: the guide's tabular Q-learning policy, on the training
   history's env.
5. :func:`validate`: the candidates against the tuned rule on the held-out history,
   seed by seed, through the one comparison engine.
6. Promotion (:mod:`arbkit.registry`): the gates of ``params.yaml`` on these metrics.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import polars as pl

from arbkit.backtest import BacktestConfig
from arbkit.errors import ConfigError, DataError
from arbkit.io import write_atomic
from arbkit.market.history import MarketHistory

if TYPE_CHECKING:
    from arbkit.sweep.executor import Executor

__all__ = [
    "RLTrainTask",
    "brier_skill_score",
    "make_histories",
    "project_root",
    "route_dataset",
    "split_by_time",
    "train_rl_policies",
    "train_rl_policy",
    "train_rl_task",
    "train_route_model",
    "validate",
    "write_metrics",
    "write_plot_data",
]


def project_root(start: str | os.PathLike[str] | None = None) -> Path:
    """Return the project's root: the nearest folder at or above ``start`` with ``dvc.yaml``.

    Notebooks run from their own folder in JupyterLab and from the root under DVC; their
    paths are relative to this root either way.

    Raises
    ------
    ConfigError
        If no folder above ``start`` (default the working directory) holds ``dvc.yaml``.
    """
    here = Path(start if start is not None else Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "dvc.yaml").is_file():
            return folder
    raise ConfigError(f"project_root: no dvc.yaml in {here} or above; open the project folder")


def write_metrics(path: str | os.PathLike[str], metrics: Mapping[str, Any]) -> Path:
    """Write a stage's metrics as JSON (sorted keys, atomically): what ``dvc metrics`` reads.

    Non-finite floats are written as ``null`` (JSON has no NaN).
    """

    def clean(v: Any) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, Mapping):
            return {str(k): clean(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [clean(x) for x in v]
        if isinstance(v, np.generic):
            return clean(v.item())
        return v

    data = json.dumps(clean(dict(metrics)), indent=2, sort_keys=True).encode() + b"\n"
    return write_atomic(Path(path), data)


def write_plot_data(path: str | os.PathLike[str], rows: Sequence[Mapping[str, Any]]) -> Path:
    """Write rows for ``dvc plots`` as a JSON list of records (atomically).

    Non-finite floats become ``null``.
    """

    def plain(v: Any) -> Any:
        v = v.item() if isinstance(v, np.generic) else v
        return None if isinstance(v, float) and not math.isfinite(v) else v

    records = [{str(k): plain(v) for k, v in r.items()} for r in rows]
    return write_atomic(Path(path), json.dumps(records, indent=1).encode() + b"\n")


def make_histories(
    source: Literal["sim", "real"] = "sim",
    *,
    seed: int = 0,
    n_blocks: int = 7_200,
    train_blocks: int = 7_200,
    real_data: str | os.PathLike[str] | None = None,
) -> tuple[MarketHistory, MarketHistory]:
    """Return the training and the held-out test history.

    Parameters
    ----------
    source
        ``"sim"``: two independent simulated histories (training seed ``10_000 + seed``,
        test seed ``seed``, as the comparison engine draws them). ``"real"``: the real
        data of ``real_data`` cut in time, the first ``train_blocks`` (at most a third)
        for training, the rest for the test.
    seed, n_blocks, train_blocks
        Seed and sizes.
    real_data
        Folder of the real data (``source="real"``).
    """
    if source == "sim":
        from arbkit.market.sim import simulate_market

        train = simulate_market(seed=10_000 + seed, n_blocks=train_blocks)
        test = simulate_market(seed=seed, n_blocks=n_blocks)
        return train, test
    if source == "real":
        if real_data is None:
            raise ConfigError("make_histories: source='real' needs real_data (a folder)")
        from arbkit.market.real_history import load_real_history

        real = load_real_history(Path(real_data))
        cut = min(train_blocks, real.n_blocks // 3)
        return real.slice(0, cut), real.slice(cut, real.n_blocks)
    raise ConfigError(f"make_histories: source {source!r}: expected 'sim' or 'real'")


def route_dataset(
    history: MarketHistory, *, seed: int, backtest: BacktestConfig | None = None
) -> pl.DataFrame:
    """Return the route-success training table of ``history`` (the one replay's candidates).

    The execution draws come from ``seed``; tip, latency and candidates per block from
    ``backtest``, so the labels are the outcomes the backtest would replay.
    """
    from arbkit.backtest.learners import route_table

    return route_table(history, seed=seed, backtest=backtest)


def split_by_time(
    table: pl.DataFrame, holdout_fraction: float, embargo_blocks: int
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split a table by block: the earlier rows train, the later ones are held out.

    Rows within ``embargo_blocks`` before the first held-out block are dropped, so no
    training label is known after the holdout starts (the label delay).

    Raises
    ------
    ConfigError
        If the fraction is not in (0, 1) or the embargo is negative.
    DataError
        If either part is empty.
    """
    if not 0.0 < holdout_fraction < 1.0:
        raise ConfigError(f"holdout_fraction={holdout_fraction}: must lie in (0, 1)")
    if embargo_blocks < 0:
        raise ConfigError(f"embargo_blocks={embargo_blocks}: must be >= 0")
    blocks = np.sort(table["block"].to_numpy())
    if blocks.size == 0:
        raise DataError("split_by_time: the table is empty")
    first_holdout = int(blocks[min(int(blocks.size * (1.0 - holdout_fraction)), blocks.size - 1)])
    train = table.filter(pl.col("block") < first_holdout - embargo_blocks)
    holdout = table.filter(pl.col("block") >= first_holdout)
    if train.height == 0 or holdout.height == 0:
        raise DataError(
            f"split_by_time: {train.height} training and {holdout.height} held-out rows; "
            "use a longer history or another holdout_fraction"
        )
    return train, holdout


def brier_skill_score(brier: float, base_rate: float) -> float:
    """Return ``1 - brier / (base_rate * (1 - base_rate))``: skill over the base rate.

    NaN when the base rate is 0 or 1 (no skill is measurable on one class).
    """
    ref = base_rate * (1.0 - base_rate)
    return 1.0 - brier / ref if ref > 0 else math.nan


def train_route_model(
    table: pl.DataFrame,
    *,
    seed: int,
    holdout_fraction: float = 0.3,
    embargo_blocks: int | None = None,
    backtest: BacktestConfig | None = None,
) -> tuple[Any, dict[str, float]]:
    """Fit the route-success model on the earlier rows; score it on the later ones.

    Parameters
    ----------
    table
        The :func:`route_dataset` table.
    seed
        LightGBM's seed.
    holdout_fraction
        Share of the rows (the latest) held out.
    embargo_blocks
        Blocks dropped before the holdout; default the label delay of ``backtest``'s
        execution settings.
    backtest
        The execution settings (for the label delay).

    Returns
    -------
    tuple[RouteSuccessPredictor, dict[str, float]]
        The model and its holdout metrics: ``accuracy``, ``majority_rate``, ``auc``,
        ``brier``, ``brier_skill``, ``ece``, ``base_rate``, ``n_train``, ``n_holdout``.
    """
    from arbkit.decider import RouteSuccessPredictor
    from arbkit.decider.metrics import classification_report
    from arbkit.execution import label_delay_blocks

    bt = backtest or BacktestConfig()
    embargo = (
        label_delay_blocks(bt.execution, bt.latency_ms)
        if embargo_blocks is None
        else embargo_blocks
    )
    train, holdout = split_by_time(table, holdout_fraction, embargo)
    predictor = RouteSuccessPredictor()
    predictor.train_model(train, seed=seed)
    p = predictor.predict_proba(holdout)
    y = holdout["success"].cast(pl.Float64).to_numpy()
    rep = classification_report(y, p)
    metrics = {
        "accuracy": rep["accuracy"],
        "majority_rate": rep["majority_accuracy"],
        "auc": rep["auc"],
        "brier": rep["brier"],
        "brier_skill": brier_skill_score(rep["brier"], rep["base_rate"]),
        "ece": rep["ece"],
        "base_rate": rep["base_rate"],
        "n_train": float(train.height),
        "n_holdout": float(holdout.height),
        "embargo_blocks": float(embargo),
    }
    return predictor, metrics


def train_rl_policy(
    history: MarketHistory,
    *,
    seed: int,
    episodes: int = 200,
    window_blocks: int = 256,
    backtest: BacktestConfig | None = None,
    learning_rate: float = 0.05,
    discount_factor: float = 0.5,
    epsilon_end: float = 0.05,
) -> tuple[Any, dict[str, float]]:
    """Train the guide's tabular Q-learning policy on ``history``'s env.

    ``learning_rate``, ``discount_factor`` and ``epsilon_end`` are the Q-learning
    options of :func:`arbkit.rl.training.default_q_config` (``params.yaml``'s
    ``rl_policy``, which ``arbkit sweep --target q_learning --write-params`` can set).

    Returns the policy (greedy: exploration off) and its training metrics: the mean
    episode reward of the first and the last tenth of the episodes.
    """
    from arbkit.backtest.learners import env_kwargs_for
    from arbkit.rl.training import default_q_config, train_q_learning

    config = default_q_config(
        episodes,
        learning_rate=learning_rate,
        discount_factor=discount_factor,
        epsilon_end=epsilon_end,
    )
    policy = train_q_learning(
        env_kwargs_for(history, backtest, window_blocks),
        seed=seed,
        episodes=episodes,
        config=config,
    )
    rewards = np.asarray(policy.episode_rewards, dtype=np.float64)
    tenth = max(rewards.size // 10, 1)
    metrics = {
        "episodes": float(policy.episodes),
        "reward_first_tenth": float(rewards[:tenth].mean()) if rewards.size else math.nan,
        "reward_last_tenth": float(rewards[-tenth:].mean()) if rewards.size else math.nan,
    }
    policy.epsilon = 0.0
    return policy, metrics


@dataclass(frozen=True)
class RLTrainTask:
    """One seed of :func:`train_rl_policies`: the arguments of :func:`train_rl_policy`."""

    history: MarketHistory
    seed: int
    options: tuple[tuple[str, Any], ...]


def train_rl_task(task: RLTrainTask) -> tuple[Any, dict[str, float]]:
    """Run :func:`train_rl_policy` for one task (what every executor runs)."""
    return train_rl_policy(task.history, seed=task.seed, **dict(task.options))


def train_rl_policies(
    history: MarketHistory,
    seeds: Sequence[int],
    *,
    executor: Executor | None = None,
    **options: Any,
) -> list[tuple[Any, dict[str, float]]]:
    """Train one Q-learning policy per seed, each an independent task.

    Parameters
    ----------
    history
        The training history.
    seeds
        One policy per seed.
    executor
        Where the seeds train (:mod:`arbkit.sweep.executor`): this process by default, or
        Ray workers (``make_executor("ray")``). Each seed gives the same policy on either.
    **options
        Keyword arguments of :func:`train_rl_policy` (episodes, window_blocks, ...).

    Returns
    -------
    list
        ``(policy, metrics)`` per seed, in ``seeds`` order.
    """
    from arbkit.sweep.executor import map_ordered

    tasks = [RLTrainTask(history, int(s), tuple(sorted(options.items()))) for s in seeds]
    return map_ordered(train_rl_task, tasks, executor)


def validate(
    train: MarketHistory,
    test: MarketHistory,
    *,
    seeds: Sequence[int],
    route_model: Any = None,
    rl_policy: Any = None,
    backtest: BacktestConfig | None = None,
    progress: Callable[[str], None] | None = None,
    decider: Mapping[str, float] | None = None,
) -> tuple[Any, dict[str, Any]]:
    """Backtest the candidate models against the tuned rule on the held-out history.

    Every policy goes through the one comparison engine
    (:func:`arbkit.backtest.compare.run_comparison`) on ``test`` with the same draws per
    seed: ``foresight`` (the bound), ``rule`` (its threshold tuned on ``train``),
    ``decider_with_model`` with ``route_model`` as given (frozen: not retrained during
    the test) and ``q_learning`` with ``rl_policy`` as given (greedy). ``decider``
    sets the decider's ``confidence_threshold`` and ``min_profit_eth`` and its
    ``bid_share`` (coinbase transfer as a share of the expected net); default the
    decider's defaults and no transfer.

    Returns
    -------
    tuple[ComparisonResult, dict[str, Any]]
        The comparison and its metrics: per policy ``net_<name>`` (mean over seeds),
        and per candidate ``<name>_vs_rule`` (mean paired difference), ``<name>_vs_rule_std``
        and ``<name>_ahead_seeds`` (seeds where it beat the rule).
    """
    from arbkit.backtest.compare import ComparisonConfig, run_comparison
    from arbkit.backtest.learners import make_decider
    from arbkit.backtest.policies import RLPolicyAdapter

    bt = backtest or BacktestConfig()
    builders: dict[str, Callable[[MarketHistory, int], Any]] = {}
    names = ["foresight", "rule"]
    if route_model is not None:
        names.append("decider_with_model")
        # the candidate route model as the live runner uses it: no win-probability model
        # (not a pipeline artifact yet), so no bid of its own
        # ``decider``: its confidence threshold, minimum profit and bid share
        # (``params.yaml``'s ``validate.decider``, set by ``arbkit sweep --write-params``)
        opts = dict(decider or {})
        share = float(opts.pop("bid_share", 0.0))
        builders["decider_with_model"] = lambda tr, s: make_decider(
            tr,
            seed=s,
            use_model=True,
            backtest=bt,
            predictor=route_model,
            bid=False,
            overrides=opts,
            bid_share=share,
        )
    if rl_policy is not None:
        names.append("q_learning")

        def _q(tr: MarketHistory, s: int) -> Any:
            rl_policy.epsilon = 0.0
            rl_policy.rng = np.random.default_rng(np.random.SeedSequence(s))
            return RLPolicyAdapter(rl_policy, name="q_learning")

        builders["q_learning"] = _q
    cfg = ComparisonConfig(policies=tuple(names), seeds=tuple(seeds), backtest=bt)
    result = run_comparison(cfg, histories=(train, test), builders=builders, progress=progress)
    metrics: dict[str, Any] = {"seeds": len(seeds), "bound": float(np.mean(result.bounds))}
    nets = {name: [float(r["net_profit"]) for r in runs] for name, runs in result.runs.items()}
    for name, values in nets.items():
        metrics[f"net_{name}"] = float(np.mean(values))
    for name in ("decider_with_model", "q_learning"):
        if name not in nets:
            continue
        diff = np.asarray(nets[name]) - np.asarray(nets["rule"])
        metrics[f"{name}_vs_rule"] = float(diff.mean())
        metrics[f"{name}_vs_rule_std"] = float(diff.std(ddof=1)) if diff.size > 1 else 0.0
        metrics[f"{name}_ahead_seeds"] = int((diff > 0).sum())
    return result, metrics
