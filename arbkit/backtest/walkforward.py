"""Walk-forward validation: train window, purge gap, test window; retrain per fold."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from arbkit.backtest.analytics import compute_metrics
from arbkit.backtest.config import BacktestConfig, WalkForwardConfig
from arbkit.backtest.engine import BacktestResult, Simulator
from arbkit.errors import ConfigError
from arbkit.execution import check_label_delay, label_delay_blocks
from arbkit.market.history import MarketHistory

__all__ = [
    "Fold",
    "FoldTask",
    "WalkForwardResult",
    "fold_windows",
    "pool_folds",
    "run_fold",
    "walk_forward",
]

if TYPE_CHECKING:
    from arbkit.sweep.executor import Executor

PolicyFactory = Callable[[MarketHistory, int], Any]


@dataclass(frozen=True)
class Fold:
    """Positions (not block numbers) of one fold's windows, ``[start, stop)``."""

    index: int
    train: tuple[int, int]
    test: tuple[int, int]


@dataclass(frozen=True)
class WalkForwardResult:
    """Per-fold results and the pooled result over all test windows."""

    folds: tuple[Fold, ...]
    results: tuple[BacktestResult, ...]
    pooled: BacktestResult

    def table(self) -> pl.DataFrame:
        """Return one row of headline metrics per fold, plus the pooled row."""
        keys = ("net_profit", "sharpe", "win_rate", "trade_count", "revert_rate", "max_drawdown")
        rows = []
        for f, r in zip(self.folds, self.results, strict=True):
            rows.append({"fold": str(f.index), **{k: _num(r[k]) for k in keys}})
        rows.append({"fold": "pooled", **{k: _num(self.pooled[k]) for k in keys}})
        return pl.DataFrame(rows)


def fold_windows(n_blocks: int, config: WalkForwardConfig, purge_blocks: int = 0) -> list[Fold]:
    """Return the folds that fit in ``n_blocks`` blocks.

    ``purge_blocks`` is used when ``config.purge_blocks`` is None.

    Raises
    ------
    ConfigError
        If not even one fold fits.
    """
    purge = config.purge_blocks if config.purge_blocks is not None else purge_blocks
    step = config.step_blocks or config.test_blocks
    folds: list[Fold] = []
    start = 0
    while True:
        train = (start, start + config.train_blocks)
        test_start = train[1] + purge
        test = (test_start, test_start + config.test_blocks)
        if test[1] > n_blocks:
            break
        folds.append(Fold(len(folds), train, test))
        if config.max_folds is not None and len(folds) >= config.max_folds:
            break
        start += step
    if not folds:
        need = config.train_blocks + purge + config.test_blocks
        raise ConfigError(
            f"walk_forward: a fold needs {need} blocks (train + purge + test), the history "
            f"has {n_blocks}"
        )
    return folds


@dataclass(frozen=True)
class FoldTask:
    """One fold as an independent task: what :func:`run_fold` needs, and nothing else.

    ``policy_seed`` seeds ``make_policy`` (training); ``backtest.seed`` the execution
    draws of the test window.
    """

    make_policy: PolicyFactory
    history: MarketHistory
    fold: Fold
    backtest: BacktestConfig
    policy_seed: int


def run_fold(task: FoldTask) -> BacktestResult:
    """Train a fresh policy on the fold's train window and backtest it on its test window.

    A pure function of ``task`` (its seeds travel with it): the same result in this
    process or on any Ray worker.
    """
    f = task.fold
    policy = task.make_policy(task.history.slice(*f.train), task.policy_seed)
    return Simulator(policy, task.history.slice(*f.test), task.backtest).run_sync()


def pool_folds(
    folds: tuple[Fold, ...], results: tuple[BacktestResult, ...], backtest: BacktestConfig
) -> WalkForwardResult:
    """Return the walk-forward result of per-fold results (see :func:`walk_forward`)."""
    bt = backtest
    # pooled: chain the test windows' P&L from the first window's starting equity
    curves: list[pl.DataFrame] = []
    offset = 0.0
    for r in results:
        eq = r.equity
        pnl = eq["equity_quote"].to_numpy() - float(eq["equity_quote"][0])
        if curves:
            offset = float(curves[-1]["equity_quote"][-1]) - float(results[0].equity[0, 2])
        curves.append(
            eq.with_columns(
                pl.Series("equity_quote", float(results[0].equity[0, 2]) + offset + pnl)
            )
        )
    equity = pl.concat(curves)
    trades = pl.concat([r.trades for r in results])
    metrics = compute_metrics(trades, equity, blocks_per_day=bt.blocks_per_day)
    metrics.update(
        {
            "policy": results[0]["policy"],
            "n_blocks": int(equity.height),
            "folds": len(folds),
            "fold_net_profit_mean": float(np.mean([r["net_profit"] for r in results])),
            "fold_net_profit_std": float(np.std([r["net_profit"] for r in results])),
        }
    )
    return WalkForwardResult(tuple(folds), tuple(results), BacktestResult(metrics, trades, equity))


def walk_forward(
    make_policy: PolicyFactory,
    history: MarketHistory,
    config: WalkForwardConfig | None = None,
    backtest: BacktestConfig | None = None,
    *,
    executor: Executor | None = None,
) -> WalkForwardResult:
    """Train a fresh policy on each fold's train window and backtest it on its test window.

    Parameters
    ----------
    make_policy
        ``make_policy(train_history, seed) -> policy``: build and train a policy using only
        the train window (e.g. fit a route-success model, train an RL policy).
    history
        The whole history.
    config
        Fold sizes.
    backtest
        Backtest options; fold ``k`` runs with seed ``backtest.seed + k`` (its training
        and its draws).
    executor
        Where the folds run (:mod:`arbkit.sweep.executor`): in this process by default,
        or as Ray tasks (``make_executor("ray")``; ``make_policy`` and the history are
        pickled to the workers). The result is the same on either.

    Returns
    -------
    WalkForwardResult
        Per-fold results and the pooled result: the test windows' trades together and
        their P&L chained into one equity curve.
    """
    wf = config or WalkForwardConfig()
    bt = backtest or BacktestConfig()
    # labels decided near the end of a training window are known only later: purge them
    delay = label_delay_blocks(bt.execution, bt.latency_ms)
    if wf.purge_blocks is not None:
        check_label_delay(wf.purge_blocks, bt.execution, bt.latency_ms)
    folds = fold_windows(history.n_blocks, wf, delay)
    from arbkit.sweep.executor import map_ordered

    tasks = [
        FoldTask(
            make_policy,
            history,
            f,
            bt.model_copy(update={"seed": bt.seed + f.index}),
            bt.seed + f.index,
        )
        for f in folds
    ]
    results = map_ordered(run_fold, tasks, executor)
    return pool_folds(tuple(folds), tuple(results), bt)


def _num(x: Any) -> float | None:
    return None if x is None else float(x)
