"""The sweep: Optuna asks, the executor evaluates walk-forward folds, a ledger keeps them.

Why Ray core tasks with Optuna's ask-and-tell, not Ray Tune with ``OptuneSearch``: Tune
suggests a trial's parameters when a worker frees up, so with more than one worker the
parameters depend on which trial finished first, and the same sweep gives different
trials on 1 and on 2 workers. Here Optuna is asked a fixed batch of trials
(``batch_size``), every (trial, fold) is an independent task, and the batch's results are
told back in trial order before the next batch is asked: the trials' parameters and
seeds are a function of the sweep alone. Tasks are also finer than trials (one fold
each), which keeps two workers busy on a small sweep.

Each finished trial is written at once to a ledger (JSON, replaced atomically). A sweep
started again with the same options replays Optuna's asks, takes every finished trial's
result from the ledger, and evaluates only the others: nothing finished is redone or
lost. Ray retries a task whose worker died.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from arbkit.backtest.config import BacktestConfig
from arbkit.backtest.walkforward import Fold, FoldTask, fold_windows, run_fold
from arbkit.errors import ArbkitError, ConfigError, DataError
from arbkit.execution import label_delay_blocks
from arbkit.io import write_atomic
from arbkit.market.history import MarketHistory
from arbkit.sweep.config import ParamSpec, SweepConfig
from arbkit.sweep.executor import Executor, InProcessExecutor

__all__ = [
    "LEDGER_FORMAT",
    "SweepResult",
    "SweepTask",
    "TrialLedger",
    "TrialRecord",
    "evaluate_fold",
    "load_history",
    "run_sweep",
    "trial_seed",
]

LEDGER_FORMAT = "arbkit-sweep-ledger/1"


def trial_seed(sweep_seed: int, params: Mapping[str, float]) -> int:
    """Return a trial's seed: a function of the sweep's seed and the trial's parameters.

    The parameters are hashed in a canonical form (sorted names, ``repr`` of each value),
    so the seed never depends on when or where the trial runs.
    """
    canon = json.dumps({k: repr(float(v)) for k, v in params.items()}, sort_keys=True)
    digest = hashlib.sha256(canon.encode()).digest()
    words = np.frombuffer(digest, dtype=np.uint32).tolist()
    seq = np.random.SeedSequence([int(sweep_seed), *words])
    return int(seq.generate_state(1, dtype=np.uint32)[0])


@functools.cache
def code_fingerprint() -> str:
    """Return a hash of the arbkit package's source: a ledger is valid for one version only.

    A trial's result depends on the code as much as on its options; a ledger written by
    other code is not resumed from.
    """
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        h.update(path.relative_to(root).as_posix().encode())
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def fold_policy_seed(seed: int, fold: int) -> int:
    """Return the training seed of one fold of a trial whose seed is ``seed``."""
    seq = np.random.SeedSequence([int(seed), int(fold)])
    return int(seq.generate_state(1, dtype=np.uint32)[0])


# -- the task ----------------------------------------------------------------------------


@dataclass(frozen=True)
class HistorySource:
    """Where a worker finds the history: a saved one, real data, or a simulation."""

    data: str | None
    real_data: str | None
    seed: int
    n_blocks: int


_HISTORIES: dict[HistorySource, MarketHistory] = {}


def load_history(source: HistorySource) -> MarketHistory:
    """Return the history of ``source``, loaded once per process (each worker caches it)."""
    if source not in _HISTORIES:
        if source.data is not None:
            history = MarketHistory.load(source.data)
        elif source.real_data is not None:
            from arbkit.market.real_history import load_real_history

            history = load_real_history(source.real_data)
        else:
            from arbkit.market.sim import simulate_market

            history = simulate_market(seed=source.seed, n_blocks=source.n_blocks)
        _HISTORIES.clear()  # one history at a time: a worker may serve many sweeps
        _HISTORIES[source] = history
    return _HISTORIES[source]


@dataclass(frozen=True)
class SweepTask:
    """One fold of one trial: everything its evaluation needs, seeds included."""

    target: str
    params: tuple[tuple[str, float], ...]
    source: HistorySource
    fold: Fold
    backtest: BacktestConfig
    policy_seed: int
    window_blocks: int
    trial: int


def make_target_policy(
    target: str, params: Mapping[str, float], backtest: BacktestConfig, window_blocks: int
) -> Callable[[MarketHistory, int], Any]:
    """Return ``make_policy(train, seed)`` for a sweep target with the trial's parameters.

    The policies are built as the pipeline builds them: ``decider`` as the validate
    stage's decider (route model fitted on ``train``, no win model, ``bid_share`` of the
    expected net as coinbase transfer); ``q_learning`` as the train_rl stage's policy,
    replayed greedily.
    """
    if target == "decider":

        def make_decider_policy(train: MarketHistory, seed: int) -> Any:
            from arbkit.backtest.learners import make_decider

            return make_decider(
                train,
                seed=seed,
                use_model=True,
                backtest=backtest,
                bid=False,
                overrides={
                    "confidence_threshold": float(params["confidence_threshold"]),
                    "min_profit_eth": float(params["min_profit_eth"]),
                },
                bid_share=float(params["bid_share"]),
            )

        return make_decider_policy
    if target == "q_learning":

        def make_q_policy(train: MarketHistory, seed: int) -> Any:
            from arbkit.backtest.policies import RLPolicyAdapter
            from arbkit.workspace.stages import train_rl_policy

            policy, _ = train_rl_policy(
                train,
                seed=seed,
                episodes=int(params["episodes"]),
                window_blocks=window_blocks,
                backtest=backtest,
                learning_rate=float(params["learning_rate"]),
                discount_factor=float(params["discount_factor"]),
                epsilon_end=float(params["epsilon_end"]),
            )
            policy.rng = np.random.default_rng(np.random.SeedSequence(seed))
            return RLPolicyAdapter(policy, name="q_learning")

        return make_q_policy
    raise ConfigError(f"sweep target {target!r}: expected decider or q_learning")


def evaluate_fold(task: SweepTask) -> dict[str, Any]:
    """Evaluate one fold of one trial (the function every executor runs).

    The fold goes through :func:`arbkit.backtest.walkforward.run_fold`, the walk-forward
    backtest's own code path: train on the train window, replay the test window.
    """
    t0 = time.perf_counter()
    history = load_history(task.source)
    params = dict(task.params)
    make_policy = make_target_policy(task.target, params, task.backtest, task.window_blocks)
    res = run_fold(FoldTask(make_policy, history, task.fold, task.backtest, task.policy_seed))
    return {
        "fold": task.fold.index,
        "net_profit": float(res["net_profit"]),
        "trade_count": int(res["trade_count"]),
        "win_rate": _finite(res.get("win_rate")),
        "revert_rate": _finite(res.get("revert_rate")),
        "seconds": time.perf_counter() - t0,
        "pid": os.getpid(),
    }


def _finite(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


# -- the ledger ---------------------------------------------------------------------------


@dataclass
class TrialRecord:
    """A finished trial: its parameters, seed, objective and folds."""

    number: int
    params: dict[str, float]
    seed: int
    value: float
    folds: list[dict[str, Any]]
    seconds: float

    def result(self) -> dict[str, Any]:
        """Return what must be identical on any executor (no timings, no pids)."""
        keep = ("fold", "net_profit", "trade_count", "win_rate", "revert_rate")
        return {
            "number": self.number,
            "params": self.params,
            "seed": self.seed,
            "value": self.value,
            "folds": [{k: f[k] for k in keep} for f in self.folds],
        }


class TrialLedger:
    """The finished trials of one sweep, in a JSON file replaced atomically per trial.

    Parameters
    ----------
    path
        The file (created on the first finished trial).
    config
        The sweep it belongs to: a ledger written by a sweep with other options, or by
        another version of arbkit's code, is refused (its trials would not be this
        sweep's).

    Raises
    ------
    DataError
        If the file is not a sweep ledger (unreadable, corrupt, another format).
    ConfigError
        If it belongs to a sweep with other options or to other code.
    """

    def __init__(self, path: str | os.PathLike[str], config: SweepConfig) -> None:
        self.path = Path(path)
        self.config = config
        self.fingerprint = config.fingerprint()
        self.code = code_fingerprint()
        self.trials: dict[int, TrialRecord] = {}
        if self.path.exists():
            self._load()

    def _load(self) -> None:
        try:
            doc = json.loads(self.path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DataError(f"sweep ledger {self.path}: unreadable ({exc})") from None
        if not isinstance(doc, dict) or doc.get("format") != LEDGER_FORMAT:
            raise DataError(f"sweep ledger {self.path}: not a {LEDGER_FORMAT} file")
        if doc.get("fingerprint") != self.fingerprint:
            raise ConfigError(
                f"sweep ledger {self.path} belongs to a sweep with other options "
                f"(target, seed, history, folds or space): give another --ledger, or "
                f"delete it to start over"
            )
        if doc.get("code") != self.code:
            raise ConfigError(
                f"sweep ledger {self.path} was written by another version of arbkit's code: "
                "its trials may differ from this code's; give another --ledger, or delete it "
                "to start over"
            )
        try:
            for t in doc["trials"]:
                rec = TrialRecord(
                    number=int(t["number"]),
                    params={str(k): float(v) for k, v in t["params"].items()},
                    seed=int(t["seed"]),
                    value=float(t["value"]),
                    folds=list(t["folds"]),
                    seconds=float(t["seconds"]),
                )
                self.trials[rec.number] = rec
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"sweep ledger {self.path}: bad trial entry ({exc!r})") from None

    def add(self, record: TrialRecord) -> None:
        """Record a finished trial and write the ledger (old file or whole new one)."""
        self.trials[record.number] = record
        doc = {
            "format": LEDGER_FORMAT,
            "fingerprint": self.fingerprint,
            "code": self.code,
            "config": self.config.model_dump(mode="json", exclude={"trials"}),
            "trials": [vars(self.trials[n]) for n in sorted(self.trials)],
        }
        write_atomic(self.path, (json.dumps(doc, indent=1) + "\n").encode())


# -- the sweep ----------------------------------------------------------------------------


@dataclass
class SweepResult:
    """A finished sweep.

    Attributes
    ----------
    config
        Its options.
    trials
        Every trial, by number.
    evaluated
        Trials evaluated by this run.
    resumed
        Trials taken from the ledger (finished by an earlier run).
    executor, workers, nodes
        Where it ran.
    seconds
        Wall time of this run (the executor's start-up apart).
    startup_seconds
        The executor's start-up (Ray's ``init``), before any task.
    """

    config: SweepConfig
    trials: list[TrialRecord]
    evaluated: int
    resumed: int
    executor: str
    workers: int
    nodes: int = 1
    seconds: float = 0.0
    startup_seconds: float = 0.0
    ledger: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def best(self) -> TrialRecord:
        """The trial with the highest objective (the first of equals)."""
        return max(self.trials, key=lambda t: (t.value, -t.number))

    @property
    def start(self) -> TrialRecord:
        """Trial 0: the starting setting (the space's defaults)."""
        return self.trials[0]

    def results(self) -> list[dict[str, Any]]:
        """Return every trial's executor-independent result, by number."""
        return [t.result() for t in self.trials]


def _suggest(trial: Any, space: Mapping[str, ParamSpec]) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, spec in space.items():
        if spec.integer:
            out[name] = float(trial.suggest_int(name, int(spec.low), int(spec.high), log=spec.log))
        else:
            out[name] = float(trial.suggest_float(name, spec.low, spec.high, log=spec.log))
    return out


def plan_folds(config: SweepConfig, history: MarketHistory) -> list[Fold]:
    """Return the sweep's walk-forward folds on ``history`` (purged by the label delay)."""
    delay = label_delay_blocks(config.backtest.execution, config.backtest.latency_ms)
    return fold_windows(history.n_blocks, config.walk_forward, delay)


def run_sweep(
    config: SweepConfig | None = None,
    *,
    executor: Executor | None = None,
    ledger: str | os.PathLike[str] | None = None,
    progress: Callable[[TrialRecord, int, int], None] | None = None,
) -> SweepResult:
    """Run (or resume) a sweep; return every trial.

    Parameters
    ----------
    config
        The sweep (:class:`SweepConfig`).
    executor
        Where the folds run (default this process; ``make_executor("ray")`` for Ray).
    ledger
        The ledger of finished trials; a sweep started again with it resumes.
    progress
        Called after each trial with ``(trial, finished, total)``.

    Returns
    -------
    SweepResult

    Raises
    ------
    ConfigError
        For a ledger of another sweep, or a ledger whose trials disagree with Optuna's
        replayed asks.
    ArbkitError
        If a task fails (after Ray's retries).
    """
    import optuna

    cfg = config or SweepConfig()
    ex = executor or InProcessExecutor()
    book = TrialLedger(ledger, cfg) if ledger is not None else None
    done: dict[int, TrialRecord] = dict(book.trials) if book is not None else {}
    space = cfg.resolved_space()
    # absolute paths: a Ray worker need not share the driver's working directory (on a
    # cluster, every node needs the data at that path)
    source = HistorySource(
        str(Path(cfg.data).resolve()) if cfg.data is not None else None,
        str(Path(cfg.real_data).resolve()) if cfg.real_data is not None else None,
        10_000 + cfg.seed,
        cfg.n_blocks,
    )
    folds = plan_folds(cfg, load_history(source))

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=cfg.seed, n_startup_trials=cfg.startup_trials)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.enqueue_trial({k: (int(v.default) if v.integer else v.default) for k, v in space.items()})

    t0 = time.perf_counter()
    records: dict[int, TrialRecord] = {}
    evaluated = resumed = 0
    number = 0
    while number < cfg.trials:
        batch = [study.ask() for _ in range(min(cfg.batch_size, cfg.trials - number))]
        number += len(batch)
        params = {t.number: _suggest(t, space) for t in batch}
        seeds = {n: trial_seed(cfg.seed, p) for n, p in params.items()}
        todo: list[SweepTask] = []
        for t in batch:
            p = params[t.number]
            if t.number in done:
                if done[t.number].params != p:
                    raise ConfigError(
                        f"sweep ledger {ledger}: trial {t.number} has parameters "
                        f"{done[t.number].params}, the sweep now asks {p} (a different "
                        "Optuna version?): give another --ledger"
                    )
                records[t.number] = done[t.number]
                resumed += 1
                if progress is not None:
                    progress(records[t.number], len(records), cfg.trials)
                continue
            for f in folds:
                todo.append(
                    SweepTask(
                        target=cfg.target,
                        params=tuple(sorted(p.items())),
                        source=source,
                        fold=f,
                        backtest=cfg.backtest.model_copy(
                            update={"seed": cfg.seed + f.index, "progress": False}
                        ),
                        policy_seed=fold_policy_seed(seeds[t.number], f.index),
                        window_blocks=cfg.window_blocks,
                        trial=t.number,
                    )
                )
        pending: dict[int, list[dict[str, Any]]] = {}
        for i, out in ex.imap_unordered(evaluate_fold, todo):
            task = todo[i]
            pending.setdefault(task.trial, []).append(out)
            if len(pending[task.trial]) < len(folds):
                continue
            fold_out = sorted(pending.pop(task.trial), key=lambda r: r["fold"])
            rec = TrialRecord(
                number=task.trial,
                params=params[task.trial],
                seed=seeds[task.trial],
                value=float(sum(r["net_profit"] for r in fold_out)),
                folds=fold_out,
                seconds=float(sum(r["seconds"] for r in fold_out)),
            )
            records[rec.number] = rec
            evaluated += 1
            if book is not None:
                book.add(rec)
            if progress is not None:
                progress(rec, len(records), cfg.trials)
        for t in batch:
            study.tell(t, records[t.number].value)
    seconds = time.perf_counter() - t0
    if not records:
        raise ArbkitError("sweep: no trial ran")
    nodes = int(getattr(ex, "nodes", 1))
    return SweepResult(
        config=cfg,
        trials=[records[n] for n in sorted(records)],
        evaluated=evaluated,
        resumed=resumed,
        executor=ex.name,
        workers=ex.workers,
        nodes=nodes,
        seconds=seconds,
        startup_seconds=float(getattr(ex, "startup_seconds", 0.0)),
        ledger=str(ledger) if ledger is not None else None,
        extra={"folds": [{"index": f.index, "train": f.train, "test": f.test} for f in folds]},
    )
