"""Configuration of the metrics collector and of its alerts."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from arbkit.redact import redact_url

__all__ = [
    "DEFAULT_DB_PATH",
    "DEFAULT_STARTING_CAPITAL_USD",
    "METRICS_DB_ENV",
    "AlertThresholds",
    "MetricsConfig",
    "resolve_db_path",
]

METRICS_DB_ENV = "ARBKIT_METRICS_DB"
"""Environment variable naming the database of the process-wide collector (``:memory:`` allowed)."""

DEFAULT_DB_PATH = Path("data") / "metrics" / "metrics.sqlite"
"""Database of the process-wide collector when ``ARBKIT_METRICS_DB`` is unset (relative to cwd)."""

DEFAULT_STARTING_CAPITAL_USD = 10_000.0
"""Starting capital recorded in a new database when the config does not name one."""


class AlertThresholds(BaseModel):
    """Thresholds of the built-in alerts (the user guide's "Alert Thresholds").

    An alert's condition is *breached* while its value is past the threshold;
    comparisons are strict: a win rate of exactly 45 % does not breach ``min_win_rate``.
    Win rate, success rate and gas share are measured over the last
    ``window_executions`` executions (all executions when ``None``) and only once the
    window holds at least ``min_executions`` executions. Drawdown is measured on the
    whole equity curve, with no minimum. A threshold set to ``None`` disables its alert
    (and clears an active one at once).

    Hold time and clear band (hysteresis)
        A value hovering at a threshold must not raise and clear an alert on every
        execution. So an alert is raised only once its condition has been breached at
        every evaluation for at least ``for_s`` seconds (like Prometheus' ``for:``),
        and it is cleared only once the value has been back past the threshold by its
        clear band (e.g. success rate >= 0.70 + 0.05) at every evaluation for at least
        ``clear_for_s`` seconds. A value between the threshold and the band neither
        raises nor clears: it resets whichever wait was under way. Set ``for_s``,
        ``clear_for_s`` and the bands to 0 to raise and clear on the first crossing.
        The band is clamped to the range of the value (a clear at a success rate above
        1 is a clear at 1; below 0 at 0).

    Alerts are evaluated when an execution is recorded, with the collector's clock: a
    breach still pending when executions stop is raised by the next execution that
    finds it held for ``for_s``. The start of a pending wait is stored in the database
    with the alerts, so several processes and a restart share it.

    Parameters
    ----------
    min_win_rate
        Breached when the fraction of executions with positive net P&L is below this.
    max_gas_share
        Breached when gas paid exceeds this fraction of gross profit (or when gas was
        paid and gross profit is not positive).
    min_success_rate
        Breached when the fraction of executions that succeeded is below this.
    max_drawdown
        Breached when the current drawdown from peak equity exceeds this fraction.
    window_executions
        Size of the rolling window of executions, or ``None`` for all of them.
    min_executions
        Executions the window must hold before the rate alerts are evaluated.
    for_s
        Seconds a breach must hold (at every evaluation) before its alert is raised.
        Default 30 s; 0 raises on the first breached evaluation.
    drawdown_for_s
        Hold of the drawdown alert (default 0: raised at once). Drawdown moves only
        with P&L, not back and forth with each execution's success, and alerts are
        evaluated only when an execution is recorded: a hold would leave a large loss
        unannounced when trading stops after it. ``None`` uses ``for_s``.
    clear_for_s
        Seconds the clear condition must hold before an active alert is cleared.
        Default 30 s; 0 clears on the first evaluation past the band.
    win_rate_clear_band
        The win-rate alert clears at ``win rate >= min_win_rate + band`` (default 0.05).
    gas_share_clear_band
        The gas-share alert clears at ``gas share <= max_gas_share - band`` (default 0.05,
        i.e. 25 % with the default threshold).
    success_rate_clear_band
        The success-rate alert clears at ``success rate >= min_success_rate + band``
        (default 0.05, i.e. 75 % with the default threshold).
    drawdown_clear_band
        The drawdown alert clears at ``drawdown <= max_drawdown - band`` (default 0.02,
        i.e. 18 % with the default threshold).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    min_win_rate: float | None = Field(0.45, ge=0.0, le=1.0)
    max_gas_share: float | None = Field(0.30, ge=0.0)
    min_success_rate: float | None = Field(0.70, ge=0.0, le=1.0)
    max_drawdown: float | None = Field(0.20, gt=0.0)
    window_executions: int | None = Field(100, ge=1)
    min_executions: int = Field(10, ge=1)
    for_s: float = Field(30.0, ge=0.0)
    drawdown_for_s: float | None = Field(0.0, ge=0.0)
    clear_for_s: float = Field(30.0, ge=0.0)
    win_rate_clear_band: float = Field(0.05, ge=0.0, le=1.0)
    gas_share_clear_band: float = Field(0.05, ge=0.0)
    success_rate_clear_band: float = Field(0.05, ge=0.0, le=1.0)
    drawdown_clear_band: float = Field(0.02, ge=0.0, le=1.0)


class MetricsConfig(BaseModel):
    """Options of :class:`arbkit.metrics.MetricsCollector`.

    Parameters
    ----------
    db_path
        SQLite database file (WAL mode), shared by every process that reports into it;
        ``None`` keeps the metrics in memory for the life of the collector.
    thresholds
        Alert thresholds.
    starting_capital_usd
        Equity before the first execution; the base of the drawdown. The value is stored
        in a new database; ``None`` takes the database's value (or
        ``DEFAULT_STARTING_CAPITAL_USD`` for a new one). A value that differs from the
        one stored raises :class:`arbkit.errors.ConfigError`.
    webhook_url
        ``http(s)`` URL that receives a JSON POST each time an alert is raised or cleared.
    webhook_timeout_s
        Timeout of one webhook request.
    webhook_queue_size
        Pending webhook notifications kept; further ones are dropped with a log warning
        so that recording never waits for the webhook.
    sqlite_synchronous
        ``FULL`` (default) survives a process kill and a power loss; ``NORMAL`` survives a
        process kill only and is faster.
    busy_timeout_s
        How long a write waits for another process holding the database lock.
    """

    # hide_input_in_errors: a rejected webhook_url may carry a secret token.
    model_config = ConfigDict(
        frozen=True, extra="forbid", allow_inf_nan=False, hide_input_in_errors=True
    )

    db_path: Path | None = None
    thresholds: AlertThresholds = Field(default_factory=AlertThresholds)
    starting_capital_usd: float | None = Field(None, gt=0.0)
    webhook_url: str | None = None
    webhook_timeout_s: float = Field(2.0, gt=0.0)
    webhook_queue_size: int = Field(1_000, ge=1)
    sqlite_synchronous: Literal["FULL", "NORMAL"] = "FULL"
    busy_timeout_s: float = Field(30.0, gt=0.0)

    @field_validator("webhook_url")
    @classmethod
    def _check_webhook_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            # The URL may carry a secret token: never echo it whole.
            msg = f"webhook_url must be an http(s) URL with a host, got {redact_url(value)!r}"
            raise ValueError(msg)
        return value


def resolve_db_path(environ: Mapping[str, str] | None = None) -> Path | None:
    """Return the database path of the process-wide collector.

    Parameters
    ----------
    environ
        Environment to read; ``os.environ`` when ``None``.

    Returns
    -------
    Path | None
        ``None`` (in memory) when ``ARBKIT_METRICS_DB`` is ``:memory:``; the path it
        names when set; otherwise ``data/metrics/metrics.sqlite`` under the current
        working directory.
    """
    env = os.environ if environ is None else environ
    value = env.get(METRICS_DB_ENV, "").strip()
    if value == ":memory:":
        return None
    if value:
        return Path(value).expanduser()
    return Path.cwd() / DEFAULT_DB_PATH
