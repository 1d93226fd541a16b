"""Safety layer of the live runner: stages, stop-loss, risk caps, kill switch, keys, nonces.

The user guide's "Safety Guidelines" ask to start in dry-run, graduate through small
positions on a proven track record, set stop-loss thresholds, keep an emergency shutdown
ready and never leak the signing key. Each of those is one component here, with no chain
dependency: clocks, times and the node's nonce come in as arguments or callables, so every
component is tested without sleeping or a node.

Components
----------
:class:`TradingStage`, :class:`StagePolicy`, :class:`StageTracker`
    The testing progression ``simulation -> dry_run -> small_positions -> full_size``.
    The stage never advances by itself: :meth:`StageTracker.promote` moves up one stage
    only when the current stage's :class:`StageGate` is met; :meth:`StageTracker.demote`
    is always allowed. :func:`require_execution_allowed` refuses ``enable_execution``
    below ``small_positions``.
:class:`StopLoss`
    Daily loss and drawdown limits; once halted, halted until the operator resets it.
:class:`RiskCaps`
    Per-trade caps: position size, gas price, trades per block and per UTC day.
:class:`KillSwitch`
    Tripped by a file, SIGINT/SIGTERM or :meth:`KillSwitch.trip`; never raises in the
    middle of a block.
:func:`load_private_key`, :class:`SecretKey`, :class:`RedactSecrets`
    The signing key read from the environment only, unprintable, scrubbed from logs.
:class:`NonceManager`
    Local nonce allocation with gap refill and resync, thread-safe.

All times are timezone-aware UTC :class:`~datetime.datetime`. Importing this module does
no I/O and installs no signal handler.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import re
import signal
import threading
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Final, Literal, NoReturn, Self

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
)

from arbkit.errors import ArbkitError, ConfigError, DataError
from arbkit.io import write_atomic

__all__ = [
    "CapCheck",
    "ExecutionNotAllowedError",
    "KillSwitch",
    "NonceManager",
    "OutcomeRecord",
    "PrivateKeyError",
    "RedactSecrets",
    "RiskCap",
    "RiskCaps",
    "RiskCapsConfig",
    "SafetyConfig",
    "SecretKey",
    "StageError",
    "StageFileError",
    "StageGate",
    "StageLockedError",
    "StagePolicy",
    "StageReview",
    "StageTracker",
    "StageTransition",
    "StopLoss",
    "StopLossConfig",
    "TrackRecord",
    "TradingStage",
    "is_nonce_error",
    "load_private_key",
    "require_execution_allowed",
    "review_stage",
]

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _require_aware(value: datetime, what: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} = {value!r}: must be timezone-aware (UTC)")
    return value.astimezone(UTC)


# --------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------


class StageError(ArbkitError):
    """A stage transition or a stage-dependent action was refused."""


class StageLockedError(StageError):
    """:meth:`StageTracker.promote` was called while the next stage is still locked."""


class ExecutionNotAllowedError(StageError, ConfigError):
    """``enable_execution`` was asked for below the ``small_positions`` stage."""


class StageFileError(DataError):
    """The stage state file cannot be read, parsed or validated."""


class PrivateKeyError(ConfigError):
    """The signing key is missing or malformed; the message never contains the key."""


# --------------------------------------------------------------------------------------
# Stages
# --------------------------------------------------------------------------------------


class TradingStage(StrEnum):
    """Step of the guide's testing progression, from safest to riskiest.

    ``simulation`` replays historical data; ``dry_run`` decides on live data and sends
    nothing; ``small_positions`` sends trades capped by :class:`StagePolicy`;
    ``full_size`` sends trades at the size the strategy chose. Compare stages with
    :attr:`rank`, not with ``<`` (a :class:`~enum.StrEnum` compares as text).
    """

    SIMULATION = "simulation"
    DRY_RUN = "dry_run"
    SMALL_POSITIONS = "small_positions"
    FULL_SIZE = "full_size"

    @property
    def rank(self) -> int:
        """Position in the progression, 0 for ``simulation``."""
        return _STAGES.index(self)

    @property
    def next_stage(self) -> TradingStage | None:
        """Stage above this one, ``None`` for ``full_size``."""
        rank = self.rank
        return _STAGES[rank + 1] if rank + 1 < len(_STAGES) else None

    @property
    def previous_stage(self) -> TradingStage | None:
        """Stage below this one, ``None`` for ``simulation``."""
        rank = self.rank
        return _STAGES[rank - 1] if rank > 0 else None

    @property
    def sends_transactions(self) -> bool:
        """Whether execution may be enabled at this stage."""
        return self.rank >= _STAGES.index(TradingStage.SMALL_POSITIONS)


_STAGES: Final[tuple[TradingStage, ...]] = tuple(TradingStage)


class StageGate(BaseModel):
    """Track record a stage needs before the next stage unlocks.

    Every threshold must hold at once. Profits, drawdowns and sizes are in quote units
    (the runner's accounting token, ETH by default); for ``simulation`` and ``dry_run``
    they are the would-be figures of the decisions made.

    Parameters
    ----------
    min_records
        Minimum number of recorded outcomes (decisions in simulation and dry-run,
        trades afterwards).
    min_success_rate
        Minimum share of successful outcomes, in [0, 1].
    min_net_profit_quote
        Minimum cumulative net profit over the stage (may be negative to only bound
        losses).
    max_drawdown_quote
        Largest allowed peak-to-trough fall of the cumulative net profit; ``None``
        means unbounded.
    min_elapsed_s
        Minimum time spent in the stage, in seconds, from the moment it was entered.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    min_records: int = Field(0, ge=0, strict=True)
    min_success_rate: float = Field(0.0, ge=0, le=1)
    min_net_profit_quote: float = 0.0
    max_drawdown_quote: float | None = Field(None, ge=0)
    min_elapsed_s: float = Field(0.0, ge=0)


class StagePolicy(BaseModel):
    """Unlock thresholds of each stage and the size cap of ``small_positions``.

    The defaults follow the guide: a 60 % success rate (its model-validation bar),
    24 hours of dry-run monitoring before live trading and 48 hours of small positions
    before full size.

    Parameters
    ----------
    simulation
        Gate from ``simulation`` to ``dry_run`` (no elapsed-time requirement: a replay
        runs faster than the clock).
    dry_run
        Gate from ``dry_run`` to ``small_positions``.
    small_positions
        Gate from ``small_positions`` to ``full_size``.
    small_positions_fraction
        At ``small_positions``, a trade is at most this fraction of the size the strategy
        chose, in (0, 1].
    small_positions_max_size_quote
        At ``small_positions``, absolute cap on a trade's size in quote units; ``None``
        leaves only the fraction.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    simulation: StageGate = StageGate(min_records=100, min_success_rate=0.6)
    dry_run: StageGate = StageGate(min_records=50, min_success_rate=0.6, min_elapsed_s=24 * 3600.0)
    small_positions: StageGate = StageGate(
        min_records=50, min_success_rate=0.6, min_elapsed_s=48 * 3600.0
    )
    small_positions_fraction: float = Field(0.10, gt=0, le=1)
    small_positions_max_size_quote: float | None = Field(None, gt=0)

    def gate(self, stage: TradingStage) -> StageGate | None:
        """Return the gate that leads out of ``stage``.

        Parameters
        ----------
        stage
            Current stage.

        Returns
        -------
        StageGate | None
            Thresholds to unlock the next stage; ``None`` at ``full_size``.
        """
        gates = {
            TradingStage.SIMULATION: self.simulation,
            TradingStage.DRY_RUN: self.dry_run,
            TradingStage.SMALL_POSITIONS: self.small_positions,
        }
        return gates.get(stage)

    def cap_size(self, stage: TradingStage, size_quote: float) -> float:
        """Return the size a trade may have at ``stage``.

        Parameters
        ----------
        stage
            Current stage.
        size_quote
            Size the strategy chose, in quote units (>= 0).

        Returns
        -------
        float
            ``size_quote`` scaled by :attr:`small_positions_fraction` and clipped to
            :attr:`small_positions_max_size_quote` at ``small_positions``; unchanged at
            the other stages (simulation and dry-run send nothing, so their would-be
            trades keep the strategy's size).
        """
        if not math.isfinite(size_quote) or size_quote < 0:
            raise ValueError(f"size_quote = {size_quote!r}: must be finite and >= 0")
        if stage is not TradingStage.SMALL_POSITIONS:
            return size_quote
        capped = size_quote * self.small_positions_fraction
        if self.small_positions_max_size_quote is not None:
            capped = min(capped, self.small_positions_max_size_quote)
        return capped


def require_execution_allowed(stage: TradingStage, *, enable_execution: bool) -> None:
    """Refuse to send transactions below ``small_positions``.

    Parameters
    ----------
    stage
        Current stage (from :attr:`StageTracker.stage`).
    enable_execution
        The runner's ``enable_execution`` switch.

    Raises
    ------
    ExecutionNotAllowedError
        ``enable_execution`` is true and ``stage`` is ``simulation`` or ``dry_run``.
    """
    if enable_execution and not stage.sends_transactions:
        raise ExecutionNotAllowedError(
            f"enable_execution = True is not allowed at stage {stage.value!r}: "
            f"execution needs stage {TradingStage.SMALL_POSITIONS.value!r} or above; "
            "set enable_execution = False or promote the stage once its track record "
            "unlocks it"
        )


class OutcomeRecord(BaseModel):
    """Outcome of one decision (simulation, dry-run) or one trade (live stages).

    Parameters
    ----------
    timestamp
        When the decision was made, timezone-aware (UTC); a replay time in simulation.
    success
        Whether the trade succeeded (or would have, in simulation and dry-run).
    net_profit_quote
        Realised (or would-be) net profit after gas and fees, in quote units.
    stage
        Stage the decision was made at.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    timestamp: AwareDatetime
    success: bool = Field(strict=True)
    net_profit_quote: float
    stage: TradingStage


class TrackRecord(BaseModel):
    """Running summary of a stage's outcomes: all the gates need, in constant space.

    Parameters
    ----------
    count
        Number of outcomes.
    successes
        Number of successful outcomes.
    net_profit_quote
        Cumulative net profit.
    peak_profit_quote
        Highest cumulative net profit reached, starting from 0.
    max_drawdown_quote
        Largest fall of the cumulative net profit from its running peak.
    first_at, last_at
        Timestamps of the first and last outcome, ``None`` when empty.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    count: int = Field(0, ge=0, strict=True)
    successes: int = Field(0, ge=0, strict=True)
    net_profit_quote: float = 0.0
    peak_profit_quote: float = Field(0.0, ge=0)
    max_drawdown_quote: float = Field(0.0, ge=0)
    first_at: AwareDatetime | None = None
    last_at: AwareDatetime | None = None

    @property
    def success_rate(self) -> float | None:
        """Share of successful outcomes, ``None`` when there is none."""
        return self.successes / self.count if self.count else None

    def add(self, outcome: OutcomeRecord) -> TrackRecord:
        """Return the summary with ``outcome`` appended.

        Parameters
        ----------
        outcome
            Next outcome.

        Returns
        -------
        TrackRecord
            New summary (this one is frozen).
        """
        net = self.net_profit_quote + outcome.net_profit_quote
        peak = max(self.peak_profit_quote, net)
        at = outcome.timestamp
        return TrackRecord(
            count=self.count + 1,
            successes=self.successes + int(outcome.success),
            net_profit_quote=net,
            peak_profit_quote=peak,
            max_drawdown_quote=max(self.max_drawdown_quote, peak - net),
            first_at=at if self.first_at is None else min(self.first_at, at),
            last_at=at if self.last_at is None else max(self.last_at, at),
        )

    @classmethod
    def from_records(cls, records: Iterable[OutcomeRecord], *, stage: TradingStage) -> TrackRecord:
        """Summarise the outcomes of ``records`` made at ``stage``, in order.

        Parameters
        ----------
        records
            Outcomes in the order they happened; those of other stages are skipped.
        stage
            Stage to summarise.

        Returns
        -------
        TrackRecord
            Summary of the matching outcomes.
        """
        track = cls()
        for record in records:
            if record.stage is stage:
                track = track.add(record)
        return track


@dataclass(frozen=True, slots=True)
class StageReview:
    """Whether the stage after :attr:`stage` is unlocked, and why not.

    Attributes
    ----------
    stage
        Current stage.
    next_stage
        Stage a promotion would move to; ``None`` at ``full_size``.
    unmet
        One readable line per unmet threshold, with the value and the requirement.
    """

    stage: TradingStage
    next_stage: TradingStage | None
    unmet: tuple[str, ...]

    @property
    def unlocked(self) -> bool:
        """Whether :meth:`StageTracker.promote` would succeed."""
        return self.next_stage is not None and not self.unmet

    @property
    def reason(self) -> str:
        """Readable verdict, listing every unmet threshold."""
        if self.next_stage is None:
            return f"{self.stage.value} is the last stage"
        head = f"{self.stage.value} -> {self.next_stage.value}"
        if not self.unmet:
            return f"{head} unlocked"
        return f"{head} locked: " + "; ".join(self.unmet)


def review_stage(
    stage: TradingStage,
    track: TrackRecord,
    gate: StageGate | None,
    *,
    entered_at: datetime,
    now: datetime,
) -> StageReview:
    """Check a stage's track record against the gate that leads out of it.

    Parameters
    ----------
    stage
        Current stage.
    track
        Track record of the current stage (see :meth:`TrackRecord.from_records`).
    gate
        Thresholds to meet (``StagePolicy.gate(stage)``); ``None`` at ``full_size``.
    entered_at
        When the stage was entered (timezone-aware).
    now
        Current time (timezone-aware).

    Returns
    -------
    StageReview
        The verdict and every unmet threshold.
    """
    entered_at = _require_aware(entered_at, "entered_at")
    now = _require_aware(now, "now")
    next_stage = stage.next_stage
    if next_stage is None or gate is None:
        return StageReview(stage, None, ())
    unmet: list[str] = []
    if track.count < gate.min_records:
        unmet.append(f"records {track.count} < {gate.min_records} required")
    rate = track.success_rate
    if rate is None:
        if gate.min_success_rate > 0:
            unmet.append(f"success rate n/a (no records) < {gate.min_success_rate:.1%} required")
    elif rate < gate.min_success_rate:
        unmet.append(f"success rate {rate:.1%} < {gate.min_success_rate:.1%} required")
    if track.net_profit_quote < gate.min_net_profit_quote:
        unmet.append(
            f"net profit {track.net_profit_quote:.6g} < "
            f"{gate.min_net_profit_quote:.6g} required (quote units)"
        )
    if gate.max_drawdown_quote is not None and track.max_drawdown_quote > gate.max_drawdown_quote:
        unmet.append(
            f"max drawdown {track.max_drawdown_quote:.6g} > "
            f"{gate.max_drawdown_quote:.6g} allowed (quote units)"
        )
    elapsed_s = (now - entered_at).total_seconds()
    if elapsed_s < gate.min_elapsed_s:
        unmet.append(
            f"time in stage {elapsed_s / 3600:.2f} h < {gate.min_elapsed_s / 3600:.2f} h required"
        )
    return StageReview(stage, next_stage, tuple(unmet))


class StageTransition(BaseModel):
    """One stage change, as kept in the state file's history.

    Parameters
    ----------
    from_stage, to_stage
        Stages before and after.
    at
        When it happened (UTC).
    reason
        Why: the review for a promotion, the operator's words for a demotion.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    from_stage: TradingStage
    to_stage: TradingStage
    at: AwareDatetime
    reason: str


class _StageState(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    version: Literal[1] = 1
    stage: TradingStage = TradingStage.SIMULATION
    entered_at: AwareDatetime
    track_record: TrackRecord = TrackRecord()
    history: tuple[StageTransition, ...] = ()


class StageTracker:
    """Current trading stage, its track record and its transitions, persisted to JSON.

    The state file holds the stage, when it was entered, the running
    :class:`TrackRecord` of that stage and the history of transitions; it is rewritten
    atomically (temporary file, then :func:`os.replace`) on every change, so a crash
    leaves the old state or the new one.

    Parameters
    ----------
    path
        State file. It is created at ``simulation`` when absent.
    policy
        Unlock thresholds and size cap.
    clock
        Returns the current UTC time; injected so tests need not sleep.

    Raises
    ------
    StageFileError
        The state file exists but is not valid state (the message names the file).

    Notes
    -----
    An outcome counts towards the current stage only if it was made at that stage and,
    outside ``simulation`` (whose outcomes carry replay times), not before the stage was
    entered: a trade sent before a demotion and settled after it does not count.
    Nothing is recorded at ``full_size``, which has no next stage to unlock.
    """

    def __init__(
        self, path: str | os.PathLike[str], policy: StagePolicy, *, clock: Clock = _utc_now
    ) -> None:
        self._path = Path(path)
        self._policy = policy
        self._clock = clock
        self._lock = threading.Lock()
        if self._path.exists():
            self._state = self._read(self._path)
        else:
            self._state = _StageState(entered_at=self._now())
            self._write()

    # -- state ---------------------------------------------------------------------

    @property
    def path(self) -> Path:
        """State file."""
        return self._path

    @property
    def policy(self) -> StagePolicy:
        """Unlock thresholds and size cap."""
        return self._policy

    @property
    def stage(self) -> TradingStage:
        """Current stage."""
        return self._state.stage

    @property
    def entered_at(self) -> datetime:
        """When the current stage was entered (UTC)."""
        return self._state.entered_at

    @property
    def track_record(self) -> TrackRecord:
        """Track record of the current stage."""
        return self._state.track_record

    @property
    def history(self) -> tuple[StageTransition, ...]:
        """Every stage transition, oldest first."""
        return self._state.history

    # -- actions -------------------------------------------------------------------

    def record(self, outcome: OutcomeRecord) -> bool:
        """Add an outcome to the current stage's track record and save.

        Parameters
        ----------
        outcome
            Outcome of a decision or a trade.

        Returns
        -------
        bool
            Whether it counted (see the class notes for the outcomes that do not).
        """
        with self._lock:
            state = self._state
            if outcome.stage is not state.stage or state.stage.next_stage is None:
                return False
            if state.stage is not TradingStage.SIMULATION and outcome.timestamp < state.entered_at:
                return False
            self._state = state.model_copy(update={"track_record": state.track_record.add(outcome)})
            self._write()
            return True

    def review(self) -> StageReview:
        """Check the current track record against the current stage's gate.

        Returns
        -------
        StageReview
            Whether the next stage is unlocked and every unmet threshold.
        """
        state = self._state
        return review_stage(
            state.stage,
            state.track_record,
            self._policy.gate(state.stage),
            entered_at=state.entered_at,
            now=self._now(),
        )

    def promote(self) -> TradingStage:
        """Move up one stage if the current stage's gate is met, and save.

        Returns
        -------
        TradingStage
            The new stage.

        Raises
        ------
        StageLockedError
            The next stage is locked (the message lists each unmet threshold) or the
            current stage is ``full_size``.
        """
        with self._lock:
            review = self.review()
            if review.next_stage is None or not review.unlocked:
                raise StageLockedError(f"cannot promote: {review.reason}")
            self._move(review.next_stage, review.reason)
            logger.warning("trading stage promoted: %s", review.reason)
            return review.next_stage

    def demote(self, *, to: TradingStage | None = None, reason: str = "operator") -> TradingStage:
        """Move down (one stage by default), restart the track record, and save.

        Always allowed. At ``simulation``, or with ``to`` equal to the current stage,
        the stage is kept and only its track record restarts.

        Parameters
        ----------
        to
            Target stage, at or below the current one; ``None`` for one stage down.
        reason
            Why, kept in the history.

        Returns
        -------
        TradingStage
            The new stage.

        Raises
        ------
        StageError
            ``to`` is above the current stage (use :meth:`promote`).
        """
        with self._lock:
            current = self._state.stage
            target = to if to is not None else (current.previous_stage or current)
            if target.rank > current.rank:
                raise StageError(
                    f"demote(to={target.value!r}) is above the current stage "
                    f"{current.value!r}; use promote()"
                )
            self._move(target, reason)
            logger.warning(
                "trading stage demoted: %s -> %s (%s)", current.value, target.value, reason
            )
            return target

    def cap_size(self, size_quote: float) -> float:
        """Return the size a trade may have at the current stage.

        Parameters
        ----------
        size_quote
            Size the strategy chose, in quote units.

        Returns
        -------
        float
            See :meth:`StagePolicy.cap_size`.
        """
        return self._policy.cap_size(self._state.stage, size_quote)

    def require_execution_allowed(self, *, enable_execution: bool) -> None:
        """Refuse ``enable_execution`` below ``small_positions``.

        Parameters
        ----------
        enable_execution
            The runner's ``enable_execution`` switch.

        Raises
        ------
        ExecutionNotAllowedError
            See :func:`require_execution_allowed`.
        """
        require_execution_allowed(self._state.stage, enable_execution=enable_execution)

    # -- helpers -------------------------------------------------------------------

    def _now(self) -> datetime:
        return _require_aware(self._clock(), "clock()")

    def _move(self, target: TradingStage, reason: str) -> None:
        now = self._now()
        state = self._state
        transition = StageTransition(from_stage=state.stage, to_stage=target, at=now, reason=reason)
        self._state = _StageState(
            stage=target,
            entered_at=now,
            track_record=TrackRecord(),
            history=(*state.history, transition),
        )
        self._write()

    def _write(self) -> None:
        data = self._state.model_dump_json(indent=2).encode() + b"\n"
        write_atomic(self._path, data)

    @staticmethod
    def _read(path: Path) -> _StageState:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise StageFileError(f"{path}: cannot read stage state file: {exc}") from exc
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise StageFileError(
                f"{path}: stage state file is not valid JSON "
                f"(line {exc.lineno}, column {exc.colno}: {exc.msg})"
            ) from None
        try:
            return _StageState.model_validate(raw)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}"
                for err in exc.errors()
            )
            raise StageFileError(f"{path}: invalid stage state: {problems}") from None


# --------------------------------------------------------------------------------------
# Stop-loss and risk caps
# --------------------------------------------------------------------------------------


class StopLossConfig(BaseModel):
    """Loss limits that halt trading; each may be ``None`` (off).

    Parameters
    ----------
    daily_loss_limit_quote
        Halt when the UTC day's net loss reaches this, in quote units.
    daily_loss_limit_fraction
        Halt when the UTC day's net loss reaches this fraction of the equity at the
        start of the day.
    max_drawdown_quote
        Halt when equity falls this far below its peak, in quote units.
    max_drawdown_fraction
        Halt when equity falls this fraction below its peak.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    daily_loss_limit_quote: float | None = Field(None, gt=0)
    daily_loss_limit_fraction: float | None = Field(0.05, gt=0, le=1)
    max_drawdown_quote: float | None = Field(None, gt=0)
    max_drawdown_fraction: float | None = Field(0.10, gt=0, le=1)


class StopLoss:
    """Halt trading on a daily loss or a drawdown from peak equity.

    The daily window is the UTC calendar day of the ``now`` passed to :meth:`record`; it
    rolls over at UTC midnight. A limit is hit when the loss *reaches* it. Once halted,
    the stop-loss stays halted — through midnight too — until the operator calls
    :meth:`reset`; outcomes recorded while halted still move the equity.

    Parameters
    ----------
    config
        Limits.
    equity_quote
        Starting equity, in quote units (> 0 when a fractional limit is set).
    """

    def __init__(self, config: StopLossConfig, *, equity_quote: float) -> None:
        if not math.isfinite(equity_quote):
            raise ValueError(f"equity_quote = {equity_quote!r}: must be finite")
        fractional = (
            config.daily_loss_limit_fraction is not None or config.max_drawdown_fraction is not None
        )
        if fractional and equity_quote <= 0:
            raise ValueError(
                f"equity_quote = {equity_quote!r}: must be > 0 with a fractional limit"
            )
        self._config = config
        self._equity = equity_quote
        self._peak = equity_quote
        self._day: date | None = None
        self._day_start_equity = equity_quote
        self._reason: str | None = None

    @property
    def equity_quote(self) -> float:
        """Current equity, in quote units."""
        return self._equity

    @property
    def peak_equity_quote(self) -> float:
        """Highest equity since the start or the last :meth:`reset`."""
        return self._peak

    @property
    def daily_pnl_quote(self) -> float:
        """Net profit of the current UTC day."""
        return self._equity - self._day_start_equity

    @property
    def halted(self) -> bool:
        """Whether a limit was hit since the start or the last :meth:`reset`."""
        return self._reason is not None

    @property
    def reason(self) -> str | None:
        """Which limit halted trading, with the figures; ``None`` when not halted."""
        return self._reason

    def record(self, pnl_quote: float, now: datetime) -> bool:
        """Add a realised net profit (negative for a loss) and check the limits.

        Parameters
        ----------
        pnl_quote
            Net profit of a trade after gas and fees (a failed trade's gas is a loss).
        now
            When it settled (timezone-aware); it places the profit in a UTC day.

        Returns
        -------
        bool
            :attr:`halted` after this record.
        """
        if not math.isfinite(pnl_quote):
            raise ValueError(f"pnl_quote = {pnl_quote!r}: must be finite")
        self._roll_day(_require_aware(now, "now"))
        self._equity += pnl_quote
        self._peak = max(self._peak, self._equity)
        if self._reason is None:
            self._reason = self._breach()
            if self._reason is not None:
                logger.error("stop-loss halted trading: %s", self._reason)
        return self.halted

    def reset(self, now: datetime) -> None:
        """Clear the halt (operator action) and start fresh windows from current equity.

        The peak and the day's starting equity become the current equity, so the limits
        measure losses from here on.

        Parameters
        ----------
        now
            When the operator reset it (timezone-aware).
        """
        now = _require_aware(now, "now")
        if self._reason is not None:
            logger.warning("stop-loss reset by operator (was: %s)", self._reason)
        self._reason = None
        self._peak = self._equity
        self._day = now.date()
        self._day_start_equity = self._equity

    def _roll_day(self, now: datetime) -> None:
        day = now.date()
        if self._day is None or day > self._day:
            self._day = day
            self._day_start_equity = self._equity

    def _breach(self) -> str | None:
        cfg = self._config
        loss = self._day_start_equity - self._equity
        day = self._day.isoformat() if self._day else "?"
        if cfg.daily_loss_limit_quote is not None and loss >= cfg.daily_loss_limit_quote:
            return (
                f"daily loss {loss:.6g} reached the limit {cfg.daily_loss_limit_quote:.6g} "
                f"(quote units) on {day} UTC"
            )
        if cfg.daily_loss_limit_fraction is not None and self._day_start_equity > 0:
            share = loss / self._day_start_equity
            if share >= cfg.daily_loss_limit_fraction:
                return (
                    f"daily loss {share:.2%} of the day's starting equity reached the "
                    f"limit {cfg.daily_loss_limit_fraction:.2%} on {day} UTC"
                )
        drawdown = self._peak - self._equity
        if cfg.max_drawdown_quote is not None and drawdown >= cfg.max_drawdown_quote:
            return (
                f"drawdown {drawdown:.6g} from peak equity {self._peak:.6g} reached the "
                f"limit {cfg.max_drawdown_quote:.6g} (quote units)"
            )
        if cfg.max_drawdown_fraction is not None and self._peak > 0:
            share = drawdown / self._peak
            if share >= cfg.max_drawdown_fraction:
                return (
                    f"drawdown {share:.2%} from peak equity {self._peak:.6g} reached the "
                    f"limit {cfg.max_drawdown_fraction:.2%}"
                )
        return None


class RiskCapsConfig(BaseModel):
    """Per-trade caps; each may be ``None`` (off).

    Parameters
    ----------
    max_position_size_quote
        Largest trade size, in quote units.
    max_gas_price_wei
        Highest gas price (``maxFeePerGas`` for EIP-1559), in wei. Default 200 gwei.
    max_trades_per_block
        Most trades sent in one block.
    max_trades_per_day
        Most trades sent in one UTC day.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    max_position_size_quote: float | None = Field(None, gt=0)
    max_gas_price_wei: int | None = Field(200 * 10**9, gt=0, strict=True)
    max_trades_per_block: int | None = Field(1, ge=1, strict=True)
    max_trades_per_day: int | None = Field(100, ge=1, strict=True)


class RiskCap(StrEnum):
    """Name of the cap that refused a trade."""

    POSITION_SIZE = "max_position_size_quote"
    GAS_PRICE = "max_gas_price_wei"
    TRADES_PER_BLOCK = "max_trades_per_block"
    TRADES_PER_DAY = "max_trades_per_day"


@dataclass(frozen=True, slots=True)
class CapCheck:
    """Verdict of :meth:`RiskCaps.check_trade`.

    Attributes
    ----------
    cap
        The first cap that refuses the trade; ``None`` when the trade is allowed.
    detail
        The value against the cap, empty when allowed.
    """

    cap: RiskCap | None = None
    detail: str = ""

    @property
    def ok(self) -> bool:
        """Whether the trade is allowed."""
        return self.cap is None


class RiskCaps:
    """Check trades against :class:`RiskCapsConfig` and count the trades sent.

    Call :meth:`check_trade` before sending and :meth:`record_trade` once a trade is
    sent. Block counts follow the block number; day counts the UTC day of ``now``.

    Parameters
    ----------
    config
        Caps.
    """

    def __init__(self, config: RiskCapsConfig) -> None:
        self._config = config
        self._block: int | None = None
        self._block_trades = 0
        self._day: date | None = None
        self._day_trades = 0

    def check_trade(
        self, size_quote: float, gas_price_wei: int, *, block_number: int, now: datetime
    ) -> CapCheck:
        """Check one trade against every cap, in order size, gas, block, day.

        Parameters
        ----------
        size_quote
            Trade size, in quote units.
        gas_price_wei
            Gas price the transaction would pay, in wei.
        block_number
            Block the trade targets.
        now
            Current time (timezone-aware).

        Returns
        -------
        CapCheck
            ``ok`` or the first cap that refuses the trade.
        """
        cfg = self._config
        now = _require_aware(now, "now")
        if cfg.max_position_size_quote is not None and size_quote > cfg.max_position_size_quote:
            return CapCheck(
                RiskCap.POSITION_SIZE,
                f"size {size_quote:.6g} > {cfg.max_position_size_quote:.6g} (quote units)",
            )
        if cfg.max_gas_price_wei is not None and gas_price_wei > cfg.max_gas_price_wei:
            return CapCheck(
                RiskCap.GAS_PRICE, f"gas price {gas_price_wei} wei > {cfg.max_gas_price_wei} wei"
            )
        in_block = self._block_trades if block_number == self._block else 0
        if cfg.max_trades_per_block is not None and in_block >= cfg.max_trades_per_block:
            return CapCheck(
                RiskCap.TRADES_PER_BLOCK,
                f"{in_block} trades already in block {block_number} "
                f"(max {cfg.max_trades_per_block})",
            )
        in_day = self._day_trades if now.date() == self._day else 0
        if cfg.max_trades_per_day is not None and in_day >= cfg.max_trades_per_day:
            return CapCheck(
                RiskCap.TRADES_PER_DAY,
                f"{in_day} trades already on {now.date().isoformat()} UTC "
                f"(max {cfg.max_trades_per_day})",
            )
        return CapCheck()

    def record_trade(self, *, block_number: int, now: datetime) -> None:
        """Count a trade that was sent.

        Parameters
        ----------
        block_number
            Block it targeted.
        now
            When it was sent (timezone-aware).
        """
        day = _require_aware(now, "now").date()
        if block_number != self._block:
            self._block, self._block_trades = block_number, 0
        self._block_trades += 1
        if day != self._day:
            self._day, self._day_trades = day, 0
        self._day_trades += 1


class SafetyConfig(BaseModel):
    """All safety settings of the runner in one frozen section.

    Parameters
    ----------
    stages
        Stage unlock thresholds and the small-positions size cap.
    stop_loss
        Loss limits.
    risk_caps
        Per-trade caps.
    kill_file
        Path whose existence stops the runner; ``None`` for signals only.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    stages: StagePolicy = StagePolicy()
    stop_loss: StopLossConfig = StopLossConfig()
    risk_caps: RiskCapsConfig = RiskCapsConfig()
    kill_file: str | None = Field(None, min_length=1, strict=True)


# --------------------------------------------------------------------------------------
# Kill switch
# --------------------------------------------------------------------------------------

_SignalHandler = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None


class KillSwitch:
    """Emergency stop: a file, SIGINT/SIGTERM or an explicit :meth:`trip`.

    The runner checks :attr:`tripped` once per loop, finishes the block in hand and
    stops. The signal handlers only set a flag — they never raise — so neither the
    first nor a repeated Ctrl-C interrupts a write or a send half-way; use SIGKILL to
    stop at once. Once tripped, the switch stays tripped (removing the file does not
    re-arm it).

    Parameters
    ----------
    path
        File whose existence trips the switch, checked on every :attr:`tripped` read;
        ``None`` for none.
    signals
        Signals to catch once installed.

    Examples
    --------
    >>> with KillSwitch("STOP") as kill:  # doctest: +SKIP
    ...     while not kill.tripped:
    ...         run_one_block()
    ...         kill.wait(12.0)
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        signals: Sequence[signal.Signals] = (signal.SIGINT, signal.SIGTERM),
    ) -> None:
        self._path = Path(path) if path is not None else None
        self._signals = tuple(signals)
        self._event = threading.Event()
        self._reason: str | None = None
        self._signal_count = 0
        self._previous: dict[signal.Signals, _SignalHandler] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def path(self) -> Path | None:
        """Kill file, if any."""
        return self._path

    @property
    def tripped(self) -> bool:
        """Whether to stop; also checks the kill file."""
        if not self._event.is_set() and self._path is not None and self._path.exists():
            self.trip(f"kill file {self._path} exists")
        return self._event.is_set()

    @property
    def reason(self) -> str | None:
        """What tripped the switch first; ``None`` when not tripped."""
        return self._reason

    @property
    def signal_count(self) -> int:
        """Number of caught signals."""
        return self._signal_count

    @property
    def installed(self) -> bool:
        """Whether signal handlers are installed."""
        return bool(self._previous)

    def trip(self, reason: str) -> None:
        """Trip the switch; the first reason is kept.

        Parameters
        ----------
        reason
            Why, for the log.
        """
        if self._reason is None:
            self._reason = reason
        self._event.set()

    def wait(self, timeout_s: float) -> bool:
        """Sleep up to ``timeout_s`` seconds, waking early when tripped.

        The kill file is checked before and after the sleep, not during it.

        Parameters
        ----------
        timeout_s
            Longest sleep, in seconds.

        Returns
        -------
        bool
            :attr:`tripped`.
        """
        if self.tripped:
            return True
        self._event.wait(timeout_s)
        return self.tripped

    def install(self) -> Self:
        """Catch the signals with :func:`signal.signal`, remembering the old handlers.

        Returns
        -------
        KillSwitch
            ``self``, for chaining.

        Raises
        ------
        RuntimeError
            Called outside the main thread, or already installed.
        """
        self._check_installable("install")
        previous: dict[signal.Signals, _SignalHandler] = {}
        try:
            for sig in self._signals:
                previous[sig] = signal.signal(sig, self._on_signal)
        except BaseException:
            self._restore(previous)
            raise
        self._previous = previous
        return self

    def install_asyncio(self, loop: asyncio.AbstractEventLoop) -> Self:
        """Catch the signals with ``loop.add_signal_handler`` (Unix event loops).

        Parameters
        ----------
        loop
            The running or about-to-run event loop.

        Returns
        -------
        KillSwitch
            ``self``, for chaining.

        Raises
        ------
        RuntimeError
            Called outside the main thread, or already installed.
        """
        self._check_installable("install_asyncio")
        previous: dict[signal.Signals, _SignalHandler] = {}
        try:
            for sig in self._signals:
                previous[sig] = signal.getsignal(sig)
                loop.add_signal_handler(sig, self._on_signal, sig, None)
        except BaseException:
            for sig in previous:
                loop.remove_signal_handler(sig)
            self._restore(previous)
            raise
        self._previous = previous
        self._loop = loop
        return self

    def uninstall(self) -> None:
        """Restore the handlers that were in place before :meth:`install`."""
        if self._loop is not None and not self._loop.is_closed():
            for sig in self._previous:
                self._loop.remove_signal_handler(sig)
        self._loop = None
        previous, self._previous = self._previous, {}
        self._restore(previous)

    def __enter__(self) -> Self:
        return self.install()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.uninstall()

    def _check_installable(self, what: str) -> None:
        if self._previous:
            raise RuntimeError(f"KillSwitch.{what}: handlers are already installed")
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError(
                f"KillSwitch.{what}: signal handlers can only be installed from the main thread"
            )

    @staticmethod
    def _restore(previous: Mapping[signal.Signals, _SignalHandler]) -> None:
        for sig, handler in previous.items():
            # getsignal() gives None for handlers not set from Python; default is the
            # closest restorable value
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        # runs between two bytecodes of the main thread: set flags only, never log
        # (the interrupted code may hold the logging lock) and never raise
        self._signal_count += 1
        self.trip(f"signal {signal.Signals(signum).name}")


# --------------------------------------------------------------------------------------
# Private key
# --------------------------------------------------------------------------------------

_HEX_BODY = re.compile(r"[0-9a-fA-F]{64}")
_SECP256K1_ORDER: Final = int(
    "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141", 16
)
_REDACTED: Final = "[REDACTED]"


class SecretKey:
    """A signing key that does not print, pickle or compare.

    ``repr``, ``str`` and ``format`` show ``SecretKey(<redacted>)`` whatever the format
    spec; pickling raises; :meth:`reveal` returns the key for signing only. This guards
    against accidents (a log line, a traceback with locals, a pickled object), not
    against code that calls :meth:`reveal`.

    Parameters
    ----------
    value
        ``0x`` followed by 64 hex digits; validate with :func:`load_private_key`.
    source
        Where it came from (an environment variable name), shown in ``repr``.
    """

    __slots__ = ("_source", "_value")

    def __init__(self, value: str, *, source: str = "") -> None:
        self._value = value
        self._source = source

    @property
    def source(self) -> str:
        """Where the key came from, e.g. the environment variable name."""
        return self._source

    def reveal(self) -> str:
        """Return the key (``0x`` + 64 hex digits); pass it straight to the signer.

        Returns
        -------
        str
            The private key.
        """
        return self._value

    def __repr__(self) -> str:
        where = f"from ${self._source}, " if self._source else ""
        return f"SecretKey({where}<redacted>)"

    __str__ = __repr__

    def __format__(self, format_spec: str) -> str:
        return repr(self)

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        raise TypeError("SecretKey cannot be pickled or copied by value")

    def __copy__(self) -> SecretKey:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> SecretKey:
        return self


def _key_problem(raw: str) -> str | None:
    if not raw:
        return "is empty"
    if not raw.startswith(("0x", "0X")):
        return "must start with 0x (then 64 hex digits)"
    body = raw[2:]
    if len(body) != 64:
        return f"must be 0x followed by 64 hex digits (got {len(body)} characters after 0x)"
    if _HEX_BODY.fullmatch(body) is None:
        return "must be 0x followed by 64 hex digits (found a non-hex character)"
    if not 0 < int(body, 16) < _SECP256K1_ORDER:
        return "is not a valid secp256k1 private key (zero or not below the curve order)"
    return None


def load_private_key(env_name: str, *, environ: Mapping[str, str] | None = None) -> SecretKey:
    """Read and validate the signing key from an environment variable.

    Surrounding whitespace (a trailing newline from ``$(cat key)``) is ignored.

    Parameters
    ----------
    env_name
        Variable name (``AIFlashArbConfig.private_key_env``).
    environ
        Environment to read; ``None`` for :data:`os.environ`.

    Returns
    -------
    SecretKey
        The key, hidden from ``repr``/``str``/logs.

    Raises
    ------
    PrivateKeyError
        The variable is unset or the value is not ``0x`` + 64 hex digits of a valid
        secp256k1 key. The message names the variable, never the value.
    """
    raw = (os.environ if environ is None else environ).get(env_name)  # no env in locals
    if raw is None:
        raise PrivateKeyError(
            f"environment variable {env_name} is not set: export the signing key there "
            "(never put it in a config file)"
        )
    raw = raw.strip()
    problem = _key_problem(raw)
    if problem is not None:
        # keep the value out of tracebacks that show locals
        del raw
        raise PrivateKeyError(f"environment variable {env_name} {problem}")
    return SecretKey("0x" + raw[2:].lower(), source=env_name)


class RedactSecrets(logging.Filter):
    """Logging filter that replaces registered secrets with ``[REDACTED]``.

    It scrubs the formatted message (``msg % args``), the exception text and the stack
    text of each record; hex keys match with or without ``0x`` and in any case.

    A filter on a *logger* only sees records logged through that very logger, not those
    of its children (``arbkit.live.runner``) that propagate to it, so also add it to the
    *handlers*: :meth:`attach` does both.

    Parameters
    ----------
    secrets
        Secrets to scrub from the start.
    """

    def __init__(self, secrets: Iterable[SecretKey | str] = ()) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._pattern: re.Pattern[str] | None = None
        self._fragments: set[str] = set()
        for secret in secrets:
            self.register(secret)

    def register(self, secret: SecretKey | str) -> None:
        """Scrub ``secret`` from every later record.

        Parameters
        ----------
        secret
            A key or any secret text (at least 8 characters, so that redaction does not
            shred ordinary words).
        """
        text = secret.reveal() if isinstance(secret, SecretKey) else secret
        if text[:2] in ("0x", "0X") and _HEX_BODY.fullmatch(text[2:]):
            text = text[2:]
        if len(text) < 8:
            raise ValueError("a secret to redact must have at least 8 characters")
        with self._lock:
            self._fragments.add(text)
            alternatives = sorted(self._fragments, key=len, reverse=True)
            self._pattern = re.compile(
                "(?:0[xX])?(?:" + "|".join(re.escape(a) for a in alternatives) + ")",
                re.IGNORECASE,
            )

    def attach(self, logger: logging.Logger | None = None) -> None:
        """Add this filter to ``logger`` (default ``arbkit``) and to its handlers.

        Handlers added later, and handlers of ancestor loggers (the root logger), need
        ``handler.addFilter(redact)`` too.

        Parameters
        ----------
        logger
            Logger to protect; ``None`` for the ``arbkit`` logger.
        """
        target = logger if logger is not None else logging.getLogger("arbkit")
        target.addFilter(self)
        for handler in target.handlers:
            handler.addFilter(self)

    def scrub(self, text: str) -> str:
        """Return ``text`` with every registered secret replaced.

        Parameters
        ----------
        text
            Any text.

        Returns
        -------
        str
            The scrubbed text.
        """
        pattern = self._pattern
        return text if pattern is None else pattern.sub(_REDACTED, text)

    def filter(self, record: logging.LogRecord) -> bool:
        """Scrub ``record`` in place; never drops it.

        Parameters
        ----------
        record
            Record being emitted.

        Returns
        -------
        bool
            Always ``True``.
        """
        if self._pattern is None:
            return True
        try:
            message = record.getMessage()
        except Exception:
            # the handler would print msg and args raw in its "Logging error" report
            message = f"{record.msg!s} (arguments: {record.args!r})"
        record.msg = self.scrub(message)
        record.args = None
        if record.exc_info and record.exc_info[0] is not None and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        if record.exc_text:
            record.exc_text = self.scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = self.scrub(record.stack_info)
        return True


# --------------------------------------------------------------------------------------
# Nonces
# --------------------------------------------------------------------------------------

_NONCE_ERRORS: Final = (
    "nonce too low",
    "nonce too high",
    "replacement transaction underpriced",
    "already known",
    "known transaction",
    "invalid nonce",
)


def is_nonce_error(error: BaseException | str) -> bool:
    """Tell whether a send error means the local nonce is out of sync.

    Parameters
    ----------
    error
        The exception raised by the send, or its message.

    Returns
    -------
    bool
        Whether the message matches a node's nonce errors ("nonce too low",
        "replacement transaction underpriced", "already known", ...); call
        :meth:`NonceManager.resync` then.
    """
    text = str(error).lower()
    return any(marker in text for marker in _NONCE_ERRORS)


class NonceManager:
    """Hand out an address's nonces locally, refilling gaps left by failed sends.

    The first :meth:`next` (and every :meth:`resync`) asks the node for the pending
    transaction count; afterwards nonces are counted locally. All methods hold one lock,
    so threads may share the manager.

    Parameters
    ----------
    fetch_pending_nonce
        Returns the node's pending nonce of the address, e.g.
        ``lambda: w3.eth.get_transaction_count(address, "pending")``.
    """

    def __init__(self, fetch_pending_nonce: Callable[[], int]) -> None:
        self._fetch = fetch_pending_nonce
        self._lock = threading.Lock()
        self._next: int | None = None
        self._in_flight: set[int] = set()
        self._released: set[int] = set()

    @property
    def in_flight(self) -> frozenset[int]:
        """Nonces handed out and neither confirmed nor released."""
        with self._lock:
            return frozenset(self._in_flight)

    @property
    def gaps(self) -> frozenset[int]:
        """Released nonces below the counter, handed out again first."""
        with self._lock:
            return frozenset(self._released)

    def next(self) -> int:
        """Return the nonce of the next transaction.

        Returns
        -------
        int
            The lowest released nonce if any (so no gap blocks later transactions),
            else the counter, which then moves up by one.
        """
        with self._lock:
            if self._next is None:
                self._next = self._fetch_checked()
            if self._released:
                nonce = min(self._released)
                self._released.remove(nonce)
            else:
                nonce = self._next
                self._next += 1
            self._in_flight.add(nonce)
            return nonce

    def confirm(self, nonce: int) -> None:
        """Mark ``nonce`` as mined: it and every lower nonce are used.

        Parameters
        ----------
        nonce
            Nonce of a mined transaction.
        """
        with self._lock:
            self._in_flight = {n for n in self._in_flight if n > nonce}
            self._released = {n for n in self._released if n > nonce}
            if self._next is None or self._next <= nonce:
                self._next = nonce + 1

    def release(self, nonce: int) -> None:
        """Give back the nonce of a send that failed before reaching the node.

        Parameters
        ----------
        nonce
            A nonce from :meth:`next` not yet confirmed or released.

        Raises
        ------
        ValueError
            ``nonce`` is not in flight.
        """
        with self._lock:
            if nonce not in self._in_flight:
                raise ValueError(f"release({nonce}): nonce is not in flight")
            self._in_flight.remove(nonce)
            self._released.add(nonce)
            # released nonces at the top of the counter shrink it instead of leaving gaps
            while self._next is not None and self._next - 1 in self._released:
                self._next -= 1
                self._released.remove(self._next)

    def resync(self) -> int:
        """Trust the node again: restart the counter from its pending nonce.

        Call after "nonce too low", "replacement transaction underpriced", "already
        known" and similar errors (see :func:`is_nonce_error`). Gaps and in-flight
        nonces are forgotten: those below the node's count are used, those above were
        never seen by the node.

        Returns
        -------
        int
            The node's pending nonce, the next one :meth:`next` will hand out.
        """
        with self._lock:
            self._next = self._fetch_checked()
            self._in_flight.clear()
            self._released.clear()
            logger.info("nonce resynced from the node: next nonce %d", self._next)
            return self._next

    def _fetch_checked(self) -> int:
        value = self._fetch()
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"fetch_pending_nonce() returned {value!r}: expected an int >= 0")
        return value
