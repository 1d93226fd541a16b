"""The metrics collector (user guide, section 6) and its process-wide instance.

Definitions
-----------
Net P&L of an execution
    ``actual_profit - gas_cost`` in USD; ``actual_profit`` is gross (before gas) and may
    be negative; a reverted flash-loan trade records ``success=False`` and its gas.
Win rate
    Executions with net P&L > 0 divided by executions (a zero net P&L is not a win).
Success rate
    Executions with ``success=True`` divided by executions.
Execution rate
    Decisions with ``executed=True`` divided by decisions.
Sharpe ratio
    Per-trade Sharpe of net P&L: ``mean / std`` of the executions' net P&L, with the
    sample standard deviation (``ddof=1``), a zero risk-free rate, no annualisation and
    no ``sqrt(n)`` factor (trades are not evenly spaced in time, so no period to scale
    by). ``0.0`` with fewer than two executions or no spread.
Equity and drawdown
    Equity after execution *k* is ``starting_capital_usd + cumulative net P&L``; peak
    equity is the running maximum of equity, starting from the starting capital. The
    drawdown is ``(peak equity - equity) / peak equity``; ``current_drawdown`` is its
    value after the last execution, ``max_drawdown`` its maximum over the history.
Gas share of profit
    Gas paid divided by gross profit (sum of ``actual_profit``); ``None`` when the gross
    profit is not positive.
Detection rate
    Opportunities recorded in the trailing hour. Conversion rate: opportunities recorded
    with ``executed=True`` divided by opportunities.

Where the data lives
--------------------
A collector built with ``MetricsConfig(db_path=None)`` keeps its data in memory. The
process-wide collector (:func:`get_metrics_collector`) is created on its first call,
never at import: its database is the ``ARBKIT_METRICS_DB`` environment variable
(``:memory:`` for in-memory), else ``data/metrics/metrics.sqlite`` under the current
working directory. Every process reporting into the same file (runner, Aqua detector,
``arbkit serve``) shares the figures and the alerts.
"""

from __future__ import annotations

import atexit
import logging
import math
import numbers
import threading
import time
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from types import TracebackType

import numpy as np

from arbkit.metrics.alerts import Alert, ModelAlertKind, WebhookNotifier
from arbkit.metrics.config import MetricsConfig, resolve_db_path
from arbkit.metrics.errors import MetricsStoreError, MetricsValueError
from arbkit.metrics.store import AlertTransition, MetricsStore
from arbkit.metrics.summary import MetricsSummary, RecentPerformance, RiskSummary, TimeseriesPoint

__all__ = [
    "MetricsCollector",
    "TrainingStatus",
    "get_metrics_collector",
    "set_metrics_collector",
]

logger = logging.getLogger("arbkit.metrics")

_MAX_TEXT = 128
_MAX_MESSAGE = 1_000
# Larger magnitudes are input errors, and keep every sum and ratio finite.
_MAX_ABS = 1e15
_MAX_WINDOW_MINUTES = 366 * 24 * 60.0


class TrainingStatus(StrEnum):
    """Training status of a model, as reported by :meth:`MetricsCollector.record_model_update`."""

    UNTRAINED = "untrained"
    TRAINING = "training"
    TRAINED = "trained"
    PROMOTED = "promoted"
    FAILED = "failed"


def _number(
    method: str,
    name: str,
    value: object,
    *,
    low: float | None = None,
    high: float | None = None,
) -> float:
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        msg = f"{method}: {name} must be a real number, got {type(value).__name__} {value!r}"
        raise MetricsValueError(msg)
    number = float(value)
    bounds = (
        f" in [{low:g}, {high:g}]"
        if low is not None and high is not None
        else (f" >= {low:g}" if low is not None else "")
    )
    if not math.isfinite(number):
        msg = f"{method}: {name} must be a finite number{bounds}, got {number!r}"
        raise MetricsValueError(msg)
    if abs(number) > _MAX_ABS:
        msg = f"{method}: {name} must be at most {_MAX_ABS:g} in magnitude, got {number!r}"
        raise MetricsValueError(msg)
    if (low is not None and number < low) or (high is not None and number > high):
        msg = f"{method}: {name} must be{bounds}, got {number!r}"
        raise MetricsValueError(msg)
    return number


def _flag(method: str, name: str, value: object) -> bool:
    if not isinstance(value, bool | np.bool_):
        msg = f"{method}: {name} must be a bool, got {type(value).__name__} {value!r}"
        raise MetricsValueError(msg)
    return bool(value)


def _count(method: str, name: str, value: object) -> int:
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Integral):
        msg = f"{method}: {name} must be an integer, got {type(value).__name__} {value!r}"
        raise MetricsValueError(msg)
    count = int(value)
    if count < 0:
        msg = f"{method}: {name} must be a count >= 0, got {count}"
        raise MetricsValueError(msg)
    return count


def _text(method: str, name: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > _MAX_TEXT:
        msg = (
            f"{method}: {name} must be a non-empty string of at most {_MAX_TEXT} "
            f"characters, got {value!r}"
        )
        raise MetricsValueError(msg)
    if not value.isprintable():
        msg = f"{method}: {name} must hold printable characters only, got {value!r}"
        raise MetricsValueError(msg)
    return value


def _model_kind(method: str, kind: ModelAlertKind | str) -> ModelAlertKind:
    try:
        return ModelAlertKind(kind)
    except ValueError:
        allowed = ", ".join(k.value for k in ModelAlertKind)
        msg = f"{method}: kind must be one of {allowed}, got {kind!r}"
        raise MetricsValueError(msg) from None


class MetricsCollector:
    """Record decisions, executions, opportunities and model updates; report and alert.

    Every ``record_*`` call validates its arguments, commits one row to the SQLite
    database before it returns and, for executions, updates the alerts (see
    :mod:`arbkit.metrics.alerts`). The collector is thread-safe, and several processes
    may report into one database file. See the module docstring for the definitions of
    the figures.

    Parameters
    ----------
    config
        Database, alert thresholds, starting capital and webhook; defaults to an
        in-memory database with the guide's thresholds.
    clock
        Source of UTC epoch seconds for the records' timestamps and for the alerts'
        hold times (``AlertThresholds.for_s``, ``clear_for_s``); inject a fake one in
        tests instead of sleeping.

    Raises
    ------
    MetricsStoreError
        When the database cannot be opened.
    arbkit.errors.ConfigError
        When ``config.starting_capital_usd`` contradicts the database.

    Examples
    --------
    >>> from arbkit.metrics import MetricsCollector
    >>> metrics = MetricsCollector()
    >>> metrics.record_execution(success=True, actual_profit=95.0, gas_cost=15.0,
    ...                          execution_time_ms=450.0)
    []
    >>> metrics.get_summary()["execution"]["net_profit_usd"]
    80.0
    """

    def __init__(
        self, config: MetricsConfig | None = None, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.config = MetricsConfig() if config is None else config
        self._clock = clock
        self._store = MetricsStore(
            self.config.db_path,
            starting_capital_usd=self.config.starting_capital_usd,
            synchronous=self.config.sqlite_synchronous,
            busy_timeout_s=self.config.busy_timeout_s,
        )
        self._webhook = (
            None
            if self.config.webhook_url is None
            else WebhookNotifier(
                self.config.webhook_url,
                timeout_s=self.config.webhook_timeout_s,
                queue_size=self.config.webhook_queue_size,
            )
        )
        self._closed = False

    @property
    def db_path(self) -> Path | None:
        """Return the database file, or ``None`` for an in-memory collector."""
        return self.config.db_path

    @property
    def starting_capital_usd(self) -> float:
        """Return the starting capital of the equity curve (as stored in the database)."""
        return self._store.starting_capital_usd

    def _check_open(self) -> MetricsStore:
        if self._closed:
            msg = f"the metrics collector on {self.db_path or ':memory:'} is closed"
            raise MetricsStoreError(msg)
        return self._store

    def record_decision(
        self,
        confidence: float,
        edge_bps: float,
        predicted_profit: float,
        executed: bool,
        *,
        source: str = "default",
    ) -> None:
        """Record one decision of a decider.

        Parameters
        ----------
        confidence
            The decider's confidence, in [0, 1].
        edge_bps
            Edge of the opportunity in basis points (finite, may be negative).
        predicted_profit
            Predicted net profit in USD (finite, may be negative).
        executed
            Whether the decision was to execute.
        source
            Who decided (``"runner"``, ``"aqua"``, ``"backtest"``...).

        Raises
        ------
        MetricsValueError
            When a value is NaN, infinite, out of range or of the wrong type.
        """
        method = "record_decision"
        row = (
            _number(method, "confidence", confidence, low=0.0, high=1.0),
            _number(method, "edge_bps", edge_bps),
            _number(method, "predicted_profit", predicted_profit),
            _flag(method, "executed", executed),
        )
        source = _text(method, "source", source)
        self._check_open().add_decision(self._clock(), source, *row)

    def record_execution(
        self,
        success: bool,
        actual_profit: float,
        gas_cost: float,
        execution_time_ms: float,
        *,
        source: str = "default",
    ) -> list[AlertTransition]:
        """Record one execution and update the alerts.

        Parameters
        ----------
        success
            Whether the transaction was included and did not revert.
        actual_profit
            Realised gross profit in USD, before gas (finite, may be negative; 0 for a
            reverted trade).
        gas_cost
            Gas paid in USD (finite, >= 0).
        execution_time_ms
            Time from decision to inclusion or failure, in ms (finite, >= 0).
        source
            Who executed (``"runner"``, ``"aqua"``, ``"backtest"``...).

        Returns
        -------
        list[AlertTransition]
            The alerts this execution raised or cleared (usually none).

        Raises
        ------
        MetricsValueError
            When a value is NaN, infinite, negative where it cannot be, or of the wrong
            type.
        """
        method = "record_execution"
        ok = _flag(method, "success", success)
        profit = _number(method, "actual_profit", actual_profit)
        gas = _number(method, "gas_cost", gas_cost, low=0.0)
        elapsed = _number(method, "execution_time_ms", execution_time_ms, low=0.0)
        source = _text(method, "source", source)
        transitions = self._check_open().add_execution(
            self._clock(), source, ok, profit, gas, elapsed, self.config.thresholds
        )
        for transition in transitions:
            self._announce(transition)
        return transitions

    def _announce(self, transition: AlertTransition) -> None:
        alert = transition.alert
        if transition.event == "raised":
            logger.warning("metrics alert raised: %s", alert.message)
        else:
            logger.info(
                "metrics alert cleared: %s (now %s)",
                alert.kind.value,
                "undefined" if alert.cleared_value is None else f"{alert.cleared_value:.4g}",
            )
        if self._webhook is not None:
            self._webhook.notify(
                {"source": "arbkit.metrics", "event": transition.event, "alert": alert.to_dict()}
            )

    def raise_alert(
        self,
        kind: ModelAlertKind | str,
        *,
        threshold: float,
        value: float | None,
        message: str,
    ) -> AlertTransition | None:
        """Raise a model alert (one not checked against the executions, e.g. ``model_drift``).

        Like the threshold alerts, at most one alert of a kind is active: while one is,
        a new raise is ignored. The raise is logged and sent to the webhook.

        Parameters
        ----------
        kind
            One of :class:`arbkit.metrics.alerts.ModelAlertKind`.
        threshold
            The threshold that was crossed (finite).
        value
            The measured value (finite), if any.
        message
            Human-readable description (printable, at most 1 000 characters).

        Returns
        -------
        AlertTransition | None
            The raise, or ``None`` when an alert of this kind was already active.

        Raises
        ------
        MetricsValueError
            When ``kind`` is not a model alert kind or a value is invalid.
        """
        method = "raise_alert"
        alert_kind = _model_kind(method, kind)
        limit = _number(method, "threshold", threshold)
        measured = None if value is None else _number(method, "value", value)
        if (
            not isinstance(message, str)
            or not message.strip()
            or len(message) > _MAX_MESSAGE
            or not message.isprintable()
        ):
            msg = (
                f"{method}: message must be a non-empty printable string of at most "
                f"{_MAX_MESSAGE} characters, got {message!r:.200}"
            )
            raise MetricsValueError(msg)
        alert = self._check_open().raise_model_alert(
            self._clock(), alert_kind, limit, measured, message
        )
        if alert is None:
            return None
        transition = AlertTransition("raised", alert)
        self._announce(transition)
        return transition

    def clear_alert(
        self, kind: ModelAlertKind | str, *, value: float | None = None
    ) -> AlertTransition | None:
        """Clear the active model alert of ``kind`` (e.g. once the model is retrained).

        Parameters
        ----------
        kind
            One of :class:`arbkit.metrics.alerts.ModelAlertKind`.
        value
            The measured value at the clear (finite), if any.

        Returns
        -------
        AlertTransition | None
            The clear, or ``None`` when no alert of this kind was active.

        Raises
        ------
        MetricsValueError
            When ``kind`` is not a model alert kind or ``value`` is invalid.
        """
        method = "clear_alert"
        alert_kind = _model_kind(method, kind)
        measured = None if value is None else _number(method, "value", value)
        alert = self._check_open().clear_model_alert(self._clock(), alert_kind, measured)
        if alert is None:
            return None
        transition = AlertTransition("cleared", alert)
        self._announce(transition)
        return transition

    def record_opportunity(
        self, quality_score: float, executed: bool = False, *, source: str = "default"
    ) -> None:
        """Record one detected opportunity.

        Parameters
        ----------
        quality_score
            Quality of the opportunity in [0, 1] (e.g. the decider's score).
        executed
            Whether it was converted into an execution.
        source
            Who detected it (``"runner"``, ``"aqua"``...).

        Raises
        ------
        MetricsValueError
            When a value is NaN, out of range or of the wrong type.
        """
        method = "record_opportunity"
        quality = _number(method, "quality_score", quality_score, low=0.0, high=1.0)
        flag = _flag(method, "executed", executed)
        source = _text(method, "source", source)
        self._check_open().add_opportunity(self._clock(), source, quality, flag)

    def record_model_update(
        self,
        model_name: str,
        accuracy: float,
        confidence: float | None = None,
        training_status: TrainingStatus | str = TrainingStatus.TRAINED,
        n_samples: int = 0,
    ) -> None:
        """Record a training or evaluation of a model.

        Parameters
        ----------
        model_name
            Name of the model (e.g. ``"route_success"``).
        accuracy
            Accuracy on its validation set, in [0, 1].
        confidence
            Mean confidence of its predictions on that set, in [0, 1], if known.
        training_status
            One of :class:`TrainingStatus`.
        n_samples
            Samples it was trained on (a count >= 0).

        Raises
        ------
        MetricsValueError
            When a value is NaN, out of range, negative or of the wrong type.
        """
        method = "record_model_update"
        name = _text(method, "model_name", model_name)
        acc = _number(method, "accuracy", accuracy, low=0.0, high=1.0)
        conf = (
            None
            if confidence is None
            else _number(method, "confidence", confidence, low=0.0, high=1.0)
        )
        try:
            status = TrainingStatus(training_status)
        except ValueError:
            allowed = ", ".join(s.value for s in TrainingStatus)
            msg = f"{method}: training_status must be one of {allowed}, got {training_status!r}"
            raise MetricsValueError(msg) from None
        samples = _count(method, "n_samples", n_samples)
        self._check_open().add_model_update(self._clock(), name, status.value, acc, conf, samples)

    def get_summary(self) -> MetricsSummary:
        """Return every metric, computed from all records in the database.

        Returns
        -------
        MetricsSummary
            Sections ``decisions``, ``execution``, ``risk``, ``opportunities``,
            ``models`` and ``alerts``; see :mod:`arbkit.metrics.summary`.
        """
        now = self._clock()
        decisions, execution, risk, opportunities, models, alerts = (
            self._check_open().summary_parts(now)
        )
        return MetricsSummary(
            generated_at=now,
            decisions=decisions,
            execution=execution,
            risk=risk,
            opportunities=opportunities,
            models=models,
            alerts=alerts,
        )

    def get_recent_performance(self, window_minutes: float = 60.0) -> RecentPerformance:
        """Return the performance of the records of the last ``window_minutes``.

        Parameters
        ----------
        window_minutes
            Length of the trailing window, > 0 and at most a year.

        Returns
        -------
        RecentPerformance
            Counts, rates and USD totals over the window (``total_profit`` is gross).

        Raises
        ------
        MetricsValueError
            When ``window_minutes`` is not a finite number in (0, one year].
        """
        minutes = _number("get_recent_performance", "window_minutes", window_minutes)
        if not 0.0 < minutes <= _MAX_WINDOW_MINUTES:
            msg = (
                "get_recent_performance: window_minutes must be in "
                f"(0, {_MAX_WINDOW_MINUTES:g}], got {minutes!r}"
            )
            raise MetricsValueError(msg)
        now = self._clock()
        return self._check_open().recent(now - minutes * 60.0, now, minutes)

    def get_drawdown(self) -> RiskSummary:
        """Return the equity curve's current state and its drawdowns.

        Returns
        -------
        RiskSummary
            Starting capital, equity, peak equity, current and maximum drawdown.
        """
        return self.get_summary()["risk"]

    def get_timeseries(self, max_points: int = 200) -> list[TimeseriesPoint]:
        """Return the execution history in at most ``max_points`` buckets, for charts.

        Parameters
        ----------
        max_points
            Largest number of points, in [1, 10 000].

        Returns
        -------
        list[TimeseriesPoint]
            One point per bucket of consecutive executions, oldest first.

        Raises
        ------
        MetricsValueError
            When ``max_points`` is not an integer in [1, 10 000].
        """
        points = _count("get_timeseries", "max_points", max_points)
        if not 1 <= points <= 10_000:
            msg = f"get_timeseries: max_points must be in [1, 10000], got {points}"
            raise MetricsValueError(msg)
        return self._check_open().timeseries(points)

    def get_alerts(self, *, active_only: bool = False, limit: int = 100) -> list[Alert]:
        """Return the newest alerts, newest first.

        Parameters
        ----------
        active_only
            Return only the alerts not cleared yet.
        limit
            Largest number of alerts returned, in [1, 10 000].

        Returns
        -------
        list[Alert]
            The alerts.

        Raises
        ------
        MetricsValueError
            When ``limit`` is not an integer in [1, 10 000].
        """
        count = _count("get_alerts", "limit", limit)
        if not 1 <= count <= 10_000:
            msg = f"get_alerts: limit must be in [1, 10000], got {count}"
            raise MetricsValueError(msg)
        return self._check_open().alerts(active_only=active_only, limit=count)

    def get_active_alerts(self) -> list[Alert]:
        """Return the alerts not cleared yet (at most one per kind)."""
        return self.get_alerts(active_only=True)

    def flush_webhooks(self, timeout_s: float = 5.0) -> bool:
        """Wait until queued webhook notifications are sent; return whether they were."""
        return True if self._webhook is None else self._webhook.flush(timeout_s)

    def close(self) -> None:
        """Send pending webhooks (for up to the webhook timeout) and close the database."""
        if self._closed:
            return
        self._closed = True
        if self._webhook is not None:
            self._webhook.close(self.config.webhook_timeout_s)
        self._store.close()

    def __enter__(self) -> MetricsCollector:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"MetricsCollector(db_path={str(self.db_path or ':memory:')!r})"


_default_collector: MetricsCollector | None = None
_default_lock = threading.Lock()


def get_metrics_collector() -> MetricsCollector:
    """Return the process-wide collector, creating it on the first call.

    Its database is ``ARBKIT_METRICS_DB`` (``:memory:`` for in-memory), else
    ``data/metrics/metrics.sqlite`` under the current working directory; it uses the
    guide's alert thresholds. Replace it with :func:`set_metrics_collector` to use
    another configuration. It is closed when the interpreter exits.

    Returns
    -------
    MetricsCollector
        The same collector on every call until it is replaced.
    """
    global _default_collector
    with _default_lock:
        if _default_collector is None:
            collector = MetricsCollector(MetricsConfig(db_path=resolve_db_path()))
            atexit.register(collector.close)
            _default_collector = collector
        return _default_collector


def set_metrics_collector(collector: MetricsCollector | None) -> MetricsCollector | None:
    """Replace the process-wide collector.

    Parameters
    ----------
    collector
        The new process-wide collector; ``None`` makes the next
        :func:`get_metrics_collector` call create a fresh one from the environment.

    Returns
    -------
    MetricsCollector | None
        The collector replaced (not closed: close it when it is no longer used).
    """
    global _default_collector
    with _default_lock:
        previous, _default_collector = _default_collector, collector
    return previous
