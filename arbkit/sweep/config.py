"""Options of a sweep: what is searched, on which history, with which folds."""

from __future__ import annotations

import hashlib
import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from arbkit.backtest.config import BacktestConfig, WalkForwardConfig
from arbkit.errors import ConfigError

__all__ = ["DEFAULT_SPACES", "SWEEP_TARGETS", "ParamSpec", "SweepConfig"]

SWEEP_TARGETS = ("decider", "q_learning")
"""What a sweep can tune, by the policy names of the comparison and the pipeline."""


class ParamSpec(BaseModel):
    """One searched parameter: a float or integer range, optionally log-scaled.

    ``default`` is the value the pipeline uses today: trial 0 of every sweep runs the
    defaults, so the report shows the best trial beside them.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    low: float
    high: float
    default: float
    """The starting value (trial 0)."""
    log: bool = False
    integer: bool = False

    @model_validator(mode="after")
    def _check(self) -> ParamSpec:
        if not self.low < self.high:
            raise ValueError(f"low={self.low} must be below high={self.high}")
        if not self.low <= self.default <= self.high:
            raise ValueError(f"default={self.default} outside [{self.low}, {self.high}]")
        if self.log and self.low <= 0:
            raise ValueError(f"a log range needs low > 0, got {self.low}")
        if self.integer and not (float(self.low).is_integer() and float(self.high).is_integer()):
            raise ValueError("an integer range needs integer bounds")
        return self


DEFAULT_SPACES: dict[str, dict[str, ParamSpec]] = {
    # the decider as the pipeline validates it (route model, no win model): its
    # confidence threshold, its minimum profit, and its bid (a coinbase transfer as a
    # share of the expected net profit)
    "decider": {
        "confidence_threshold": ParamSpec(low=0.0, high=0.85, default=0.7),
        "min_profit_eth": ParamSpec(low=0.0, high=0.002, default=0.0),
        "bid_share": ParamSpec(low=0.0, high=0.6, default=0.0),
    },
    # the tabular Q-learning policy of the pipeline's train_rl stage
    "q_learning": {
        "learning_rate": ParamSpec(low=0.005, high=0.5, default=0.05, log=True),
        "discount_factor": ParamSpec(low=0.0, high=0.95, default=0.5),
        "epsilon_end": ParamSpec(low=0.01, high=0.3, default=0.05, log=True),
        "episodes": ParamSpec(low=20, high=300, default=200, integer=True),
    },
}
"""The search space of each target (the defaults are the pipeline's values)."""


class SweepConfig(BaseModel):
    """Options of :func:`arbkit.sweep.run_sweep`.

    Parameters
    ----------
    target
        What is tuned: ``decider`` or ``q_learning`` (:data:`SWEEP_TARGETS`).
    trials
        Trials in all. Trial 0 runs the space's defaults; Optuna's TPE sampler picks
        the others.
    batch_size
        Trials asked of Optuna at a time; their results are told back together, in
        trial order, before the next batch is asked. Fixed by the sweep, never by the
        number of workers, so that every trial's parameters are the same on any
        executor.
    startup_trials
        Trials drawn at random (seeded) before TPE models the results.
    seed
        The sweep's seed: Optuna's sampler, each trial's seed (with its parameters),
        the execution draws of the folds, and the simulated history.
    data
        A saved history (``MarketHistory.save``, e.g. ``data/pipeline/train``) to
        walk forward over; default a simulated one.
    real_data
        Or a folder of real data (``../shared/data/real``).
    n_blocks
        Blocks of the simulated history (seed ``10_000 + seed``: a training history,
        never a test one).
    walk_forward
        Folds: each trial trains on every fold's train window and is scored on its
        test window (purged by the label delay).
    backtest
        Backtest options of every fold.
    window_blocks
        ``q_learning``: the episode length of training.
    space
        Parameter ranges, default :data:`DEFAULT_SPACES` of the target.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    target: Literal["decider", "q_learning"] = "decider"
    trials: int = Field(16, ge=1)
    batch_size: int = Field(8, ge=1)
    startup_trials: int = Field(8, ge=0)
    seed: int = Field(0, ge=0)
    data: str | None = None
    real_data: str | None = None
    n_blocks: int = Field(7_200, ge=100)
    walk_forward: WalkForwardConfig = Field(
        default_factory=lambda: WalkForwardConfig(
            train_blocks=2_400, test_blocks=1_200, max_folds=3
        )
    )
    backtest: BacktestConfig = Field(default_factory=BacktestConfig)
    window_blocks: int = Field(256, ge=2)
    space: dict[str, ParamSpec] | None = None

    @model_validator(mode="after")
    def _check(self) -> SweepConfig:
        if self.data is not None and self.real_data is not None:
            raise ValueError("give data or real_data, not both")
        if self.space is not None:
            known = set(DEFAULT_SPACES[self.target])
            unknown = sorted(set(self.space) - known)
            if unknown:
                raise ValueError(
                    f"space {unknown}: not parameters of {self.target} "
                    f"(expected some of {sorted(known)})"
                )
        return self

    def resolved_space(self) -> dict[str, ParamSpec]:
        """Return the searched ranges: the target's defaults, updated by ``space``."""
        return {**DEFAULT_SPACES[self.target], **(self.space or {})}

    def with_defaults(self, values: dict[str, float]) -> SweepConfig:
        """Return this sweep starting from ``values`` (trial 0 runs them).

        Raises
        ------
        ConfigError
            If a value is not a parameter of the target or lies outside its range.
        """
        space = dict(self.resolved_space())
        for name, value in values.items():
            if name not in space:
                raise ConfigError(f"{name}: not a parameter of {self.target}")
            spec = space[name]
            if not spec.low <= value <= spec.high:
                raise ConfigError(
                    f"{name}={value} lies outside the searched range [{spec.low}, {spec.high}]"
                )
            space[name] = spec.model_copy(update={"default": float(value)})
        return self.model_copy(update={"space": space})

    def fingerprint(self) -> str:
        """Return a hash of everything that decides the trials' results.

        ``trials`` is left out: a finished sweep extended to more trials reuses its
        ledger (the first trials are the same).
        """
        payload = self.model_dump(mode="json", exclude={"trials", "space"})
        payload["space"] = {k: v.model_dump() for k, v in self.resolved_space().items()}
        blob = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(blob).hexdigest()
