"""Alerts of the metrics collector: threshold checks, alert records and webhook delivery.

Semantics
---------
Each :class:`AlertKind` is either *active* or not. After every recorded execution the
collector checks every threshold (:func:`check_thresholds`) and steps each alert
(:func:`step_alert`): an alert is *raised* once its condition has been breached at
every evaluation for the hold time ``for_s``, and *cleared* once its value has been back
past the threshold by the kind's clear band for ``clear_for_s`` (see
:class:`arbkit.metrics.AlertThresholds`). So one breach gives exactly one raise and one
clear, however many executions it lasts, and a value hovering at the threshold does not
flap. The state (active alerts and the start of any pending wait) lives in the database
and is changed in the same transaction as the execution that changed it, so several
processes reporting into one database still raise each breach once, and a restart
neither forgets an active alert nor raises it again.

Each raise and clear is logged (``WARNING`` and ``INFO`` on the ``arbkit.metrics``
logger) and, when a webhook URL is configured, POSTed to it as JSON by a background
thread (:class:`WebhookNotifier`): recording never waits for the webhook, and a webhook
that is slow, down or full is logged and skipped (delivery is at most once).

Model alerts
------------
The kinds of :class:`ModelAlertKind` (``model_drift``) are not checked against the
executions: a monitor raises and clears them itself
(:meth:`arbkit.metrics.MetricsCollector.raise_alert` and ``clear_alert``; see
:func:`arbkit.drift.raise_drift_alert`). They are stored, listed, logged and sent to the
webhook like the others, with the same rule of at most one active alert per kind.
"""

from __future__ import annotations

import http.client
import json
import logging
import math
import queue
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from typing_extensions import TypedDict

from arbkit.metrics.config import AlertThresholds
from arbkit.redact import redact_url

__all__ = [
    "Alert",
    "AlertKind",
    "AlertRecord",
    "AlertStats",
    "AlertStep",
    "Breach",
    "ModelAlertKind",
    "WebhookNotifier",
    "check_thresholds",
    "step_alert",
]

logger = logging.getLogger("arbkit.metrics")


class AlertKind(StrEnum):
    """The built-in alerts."""

    WIN_RATE = "win_rate"
    GAS_SHARE = "gas_share"
    SUCCESS_RATE = "success_rate"
    DRAWDOWN = "drawdown"


class ModelAlertKind(StrEnum):
    """Alerts raised by model monitors rather than by the execution thresholds."""

    MODEL_DRIFT = "model_drift"


class AlertRecord(TypedDict):
    """JSON form of an :class:`Alert`."""

    id: int
    kind: str
    active: bool
    threshold: float
    value: float | None
    message: str
    raised_at: float
    raised_execution: int
    cleared_at: float | None
    cleared_execution: int | None
    cleared_value: float | None


@dataclass(frozen=True)
class Alert:
    """One breach of a threshold, from its raise to its clear.

    Attributes
    ----------
    id
        Row id in the metrics database.
    kind
        Which threshold was breached (an :class:`AlertKind`), or which model alert was
        raised (a :class:`ModelAlertKind`).
    threshold
        The threshold in force when the alert was raised.
    value
        The measured value when raised (``None`` for a gas share with no gross profit).
    message
        Human-readable description, as logged.
    raised_at
        UTC epoch seconds of the raise.
    raised_execution
        Sequence number (1-based) of the execution whose recording raised it; for a
        model alert, the number of executions recorded when it was raised (0 if none).
    cleared_at
        UTC epoch seconds of the clear, ``None`` while active.
    cleared_execution
        Sequence number of the execution whose recording cleared it (for a model
        alert, the number of executions recorded when it was cleared).
    cleared_value
        The measured value when cleared.
    """

    id: int
    kind: AlertKind | ModelAlertKind
    threshold: float
    value: float | None
    message: str
    raised_at: float
    raised_execution: int
    cleared_at: float | None = None
    cleared_execution: int | None = None
    cleared_value: float | None = None

    @property
    def active(self) -> bool:
        """Return whether the alert has not been cleared yet."""
        return self.cleared_at is None

    def to_dict(self) -> AlertRecord:
        """Return the JSON form of the alert."""
        return AlertRecord(
            id=self.id,
            kind=self.kind.value,
            active=self.active,
            threshold=self.threshold,
            value=self.value,
            message=self.message,
            raised_at=self.raised_at,
            raised_execution=self.raised_execution,
            cleared_at=self.cleared_at,
            cleared_execution=self.cleared_execution,
            cleared_value=self.cleared_value,
        )


@dataclass(frozen=True)
class AlertStats:
    """Figures the thresholds are checked against.

    Attributes
    ----------
    executions
        Executions in the alert window.
    successes
        Executions in the window that succeeded.
    wins
        Executions in the window with positive net P&L.
    gross_profit_usd
        Sum of ``actual_profit`` over the window.
    gas_usd
        Sum of ``gas_cost`` over the window.
    drawdown
        Current drawdown of the whole equity curve, as a fraction of peak equity.
    """

    executions: int
    successes: int
    wins: int
    gross_profit_usd: float
    gas_usd: float
    drawdown: float


@dataclass(frozen=True)
class Breach:
    """Outcome of checking one threshold.

    Attributes
    ----------
    kind
        The threshold checked.
    breached
        Whether the condition holds; ``None`` when the window holds too few executions
        to tell (the alert then keeps its state).
    value
        The measured value (``None`` when undefined).
    threshold
        The threshold, ``None`` when the alert is disabled.
    message
        Human-readable description.
    recovered
        Whether the value is back past the threshold by the kind's clear band (the
        condition for clearing an active alert); ``None`` when too few executions to
        tell. Always ``True`` for a disabled alert.
    """

    kind: AlertKind
    breached: bool | None
    value: float | None
    threshold: float | None
    message: str
    recovered: bool | None


@dataclass(frozen=True)
class AlertStep:
    """What one evaluation does to one alert.

    Attributes
    ----------
    event
        ``"raised"``, ``"cleared"`` or ``None`` (no change).
    pending_since
        UTC epoch seconds since which the condition now waiting out its hold time has
        held (the breach of an inactive alert, the recovery of an active one); ``None``
        when nothing is pending.
    """

    event: Literal["raised", "cleared"] | None
    pending_since: float | None


def _gas_share(gas_usd: float, gross_profit_usd: float) -> float | None:
    if gross_profit_usd > 0.0:
        return gas_usd / gross_profit_usd
    return None


def check_thresholds(stats: AlertStats, thresholds: AlertThresholds) -> dict[AlertKind, Breach]:
    """Check every alert threshold, and every clear band, against ``stats``.

    Parameters
    ----------
    stats
        Figures over the alert window (and the current drawdown).
    thresholds
        The thresholds and clear bands; a disabled threshold (``None``) is reported as
        not breached and recovered.

    Returns
    -------
    dict[AlertKind, Breach]
        One entry per alert kind.
    """
    n = stats.executions
    enough = n >= thresholds.min_executions
    window = f"over the last {n} executions"
    win_rate = stats.wins / n if n else 0.0
    success_rate = stats.successes / n if n else 0.0
    share = _gas_share(stats.gas_usd, stats.gross_profit_usd)
    out: dict[AlertKind, Breach] = {}

    def rate_breach(kind: AlertKind, rate: float, low: float | None, band: float) -> Breach:
        name = kind.value.replace("_", " ")
        message = f"{name} {rate:.1%} vs minimum {_pct(low)} {window}"
        if low is None:
            return Breach(kind, False, rate, None, message, True)
        if not enough:
            return Breach(kind, None, rate, low, message, None)
        return Breach(kind, rate < low, rate, low, message, rate >= min(low + band, 1.0))

    out[AlertKind.WIN_RATE] = rate_breach(
        AlertKind.WIN_RATE, win_rate, thresholds.min_win_rate, thresholds.win_rate_clear_band
    )
    out[AlertKind.SUCCESS_RATE] = rate_breach(
        AlertKind.SUCCESS_RATE,
        success_rate,
        thresholds.min_success_rate,
        thresholds.success_rate_clear_band,
    )

    high = thresholds.max_gas_share
    if share is None:
        # Gas paid with no gross profit: an unbounded share.
        gas_breached = stats.gas_usd > 0.0
        gas_recovered = not gas_breached
        gas_text = (
            f"gas {stats.gas_usd:.2f} USD against gross profit "
            f"{stats.gross_profit_usd:.2f} USD {window}"
        )
    else:
        gas_breached = high is not None and share > high
        gas_recovered = high is None or share <= max(high - thresholds.gas_share_clear_band, 0.0)
        gas_text = f"gas {share:.1%} of gross profit vs maximum {_pct(high)} {window}"
    if high is None:
        out[AlertKind.GAS_SHARE] = Breach(AlertKind.GAS_SHARE, False, share, None, gas_text, True)
    elif not enough:
        out[AlertKind.GAS_SHARE] = Breach(AlertKind.GAS_SHARE, None, share, high, gas_text, None)
    else:
        out[AlertKind.GAS_SHARE] = Breach(
            AlertKind.GAS_SHARE, gas_breached, share, high, gas_text, gas_recovered
        )

    high = thresholds.max_drawdown
    drawdown = stats.drawdown
    out[AlertKind.DRAWDOWN] = Breach(
        AlertKind.DRAWDOWN,
        high is not None and drawdown > high,
        drawdown,
        high,
        f"drawdown {drawdown:.1%} of peak equity vs maximum {_pct(high)}",
        high is None or drawdown <= max(high - thresholds.drawdown_clear_band, 0.0),
    )
    return out


def step_alert(
    breach: Breach,
    *,
    active: bool,
    pending_since: float | None,
    now: float,
    thresholds: AlertThresholds,
) -> AlertStep:
    """Apply the hold times and clear band to one evaluation of one alert.

    An inactive alert is raised once its condition has been breached at every
    evaluation since ``pending_since`` and for at least ``thresholds.for_s``; an active
    one is cleared once it has been recovered (past the clear band) at every evaluation
    for at least ``thresholds.clear_for_s``. An evaluation that is neither resets the
    wait; one that cannot tell (``None``) leaves it as it is. A disabled alert is
    cleared at once.

    Parameters
    ----------
    breach
        This evaluation's outcome (from :func:`check_thresholds`).
    active
        Whether the alert is active.
    pending_since
        The ``pending_since`` of the previous step (``None`` when nothing was pending).
    now
        UTC epoch seconds of this evaluation.
    thresholds
        The hold times.

    Returns
    -------
    AlertStep
        The transition, if any, and the wait to store for the next evaluation.
    """
    if breach.threshold is None:
        return AlertStep("cleared" if active else None, None)
    event: Literal["raised", "cleared"]
    if active:
        holds, hold_s, event = breach.recovered, thresholds.clear_for_s, "cleared"
    else:
        hold_s = (
            thresholds.drawdown_for_s
            if breach.kind is AlertKind.DRAWDOWN and thresholds.drawdown_for_s is not None
            else thresholds.for_s
        )
        holds, event = breach.breached, "raised"
    if holds is None:
        return AlertStep(None, pending_since)
    if not holds:
        return AlertStep(None, None)
    since = now if pending_since is None else pending_since
    if now - since >= hold_s:
        return AlertStep(event, None)
    return AlertStep(None, since)


def _pct(value: float | None) -> str:
    return "(disabled)" if value is None else f"{value:.1%}"


_STOP = object()


class WebhookNotifier:
    """POST JSON notifications to a URL from a background thread.

    :meth:`notify` never blocks: it queues the payload and returns. A daemon thread,
    started on the first notification, sends the queue in order, one request at a time,
    each with ``timeout_s``. Failures are logged (with the URL's path and query
    redacted) and the payload is dropped.

    Parameters
    ----------
    url
        ``http(s)`` URL to POST to.
    timeout_s
        Timeout of one request.
    queue_size
        Pending payloads kept; further ones are dropped with a warning.
    """

    def __init__(self, url: str, *, timeout_s: float = 2.0, queue_size: int = 1_000) -> None:
        if not (math.isfinite(timeout_s) and timeout_s > 0):
            msg = f"WebhookNotifier: timeout_s must be a finite number > 0, got {timeout_s!r}"
            raise ValueError(msg)
        self._url = url
        self._timeout_s = timeout_s
        self._queue: queue.Queue[object] = queue.Queue(maxsize=queue_size)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False
        self.delivered = 0
        """Payloads delivered with a 2xx answer."""
        self.failed = 0
        """Payloads dropped: failed request, or queue full."""

    def notify(self, payload: Mapping[str, object]) -> bool:
        """Queue ``payload`` for delivery and return at once.

        Parameters
        ----------
        payload
            JSON-serialisable mapping.

        Returns
        -------
        bool
            ``False`` when the payload was dropped (queue full or notifier closed).
        """
        body = json.dumps(payload, allow_nan=False).encode()
        with self._lock:
            if self._closed:
                return False
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="arbkit-metrics-webhook", daemon=True
                )
                self._thread.start()
        try:
            self._queue.put_nowait(body)
        except queue.Full:
            self.failed += 1
            logger.warning(
                "alert webhook queue full; dropped a notification for %s", self._url_redacted
            )
            return False
        return True

    @property
    def _url_redacted(self) -> str:
        # Webhook URLs often carry a secret token in their path or query.
        return redact_url(self._url)

    def flush(self, timeout_s: float) -> bool:
        """Wait until every queued payload has been sent or dropped.

        Parameters
        ----------
        timeout_s
            Longest wait.

        Returns
        -------
        bool
            Whether the queue was drained in time.
        """
        deadline = time.monotonic() + timeout_s
        with self._queue.all_tasks_done:
            while self._queue.unfinished_tasks:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._queue.all_tasks_done.wait(remaining)
        return True

    def close(self, timeout_s: float = 5.0) -> None:
        """Send what is queued (waiting at most ``timeout_s``) and stop the thread.

        Parameters
        ----------
        timeout_s
            Longest wait for pending payloads.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            thread = self._thread
        if thread is None:
            return
        self.flush(timeout_s)
        try:
            self._queue.put_nowait(_STOP)
        except queue.Full:
            return  # the daemon thread dies with the process
        thread.join(timeout_s)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is _STOP:
                    return
                if isinstance(item, bytes):
                    self._post(item)
            finally:
                self._queue.task_done()

    def _post(self, body: bytes) -> None:
        request = urllib.request.Request(
            self._url,
            data=body,
            headers={"Content-Type": "application/json", "User-Agent": "arbkit-metrics"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout_s) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            self.failed += 1
            logger.warning("alert webhook %s answered HTTP %s", self._url_redacted, exc.code)
        except (OSError, ValueError, http.client.HTTPException) as exc:
            self.failed += 1
            logger.warning("alert webhook %s failed: %s", self._url_redacted, type(exc).__name__)
        else:
            self.delivered += 1
