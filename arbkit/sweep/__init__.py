"""Scale-out: parameter sweeps, walk-forward folds and multi-seed training as tasks.

One code path, two executors: :class:`InProcessExecutor` (the default) runs tasks in
this process, :class:`RayExecutor` on Ray (every core of this machine, or a cluster by
address). Only :mod:`arbkit.sweep.ray_executor` imports Ray.

::

    from arbkit.sweep import SweepConfig, make_executor, run_sweep

    with make_executor("ray") as ex:          # or make_executor("local")
        result = run_sweep(SweepConfig(target="decider", trials=16), executor=ex)
    print(result.best.params, result.best.value)
"""

from arbkit.sweep.config import DEFAULT_SPACES, SWEEP_TARGETS, ParamSpec, SweepConfig
from arbkit.sweep.executor import (
    EXECUTORS,
    Executor,
    InProcessExecutor,
    make_executor,
    map_ordered,
)
from arbkit.sweep.ray_executor import RayExecutor
from arbkit.sweep.report import (
    format_sweep,
    read_current_settings,
    sweep_metrics,
    write_best_params,
    write_sweep_reports,
)
from arbkit.sweep.run import SweepResult, TrialLedger, TrialRecord, run_sweep, trial_seed

__all__ = [
    "DEFAULT_SPACES",
    "EXECUTORS",
    "SWEEP_TARGETS",
    "Executor",
    "InProcessExecutor",
    "ParamSpec",
    "RayExecutor",
    "SweepConfig",
    "SweepResult",
    "TrialLedger",
    "TrialRecord",
    "format_sweep",
    "make_executor",
    "map_ordered",
    "read_current_settings",
    "run_sweep",
    "sweep_metrics",
    "trial_seed",
    "write_best_params",
    "write_sweep_reports",
]
