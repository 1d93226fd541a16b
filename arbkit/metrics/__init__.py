"""Metrics, alerts and the dashboard API.

Implements the user guide's "6. Metrics Collector" and "Monitoring & Alerts".

Record what the deciders, the runner, the backtest and the Aqua detector do, read it
back as a summary, get alerted when a threshold is breached, and serve it over HTTP
(``arbkit serve``; :func:`arbkit.metrics.service.create_app`). Importing this package does no
I/O and does not import the HTTP stack.
"""

from __future__ import annotations

from arbkit.metrics.alerts import Alert, AlertKind, AlertRecord, WebhookNotifier
from arbkit.metrics.collector import (
    MetricsCollector,
    TrainingStatus,
    get_metrics_collector,
    set_metrics_collector,
)
from arbkit.metrics.config import METRICS_DB_ENV, AlertThresholds, MetricsConfig
from arbkit.metrics.errors import MetricsStoreError, MetricsValueError
from arbkit.metrics.store import AlertTransition
from arbkit.metrics.summary import MetricsSummary, RecentPerformance, RiskSummary, TimeseriesPoint

__all__ = [
    "METRICS_DB_ENV",
    "Alert",
    "AlertKind",
    "AlertRecord",
    "AlertThresholds",
    "AlertTransition",
    "MetricsCollector",
    "MetricsConfig",
    "MetricsStoreError",
    "MetricsSummary",
    "MetricsValueError",
    "RecentPerformance",
    "RiskSummary",
    "TimeseriesPoint",
    "TrainingStatus",
    "WebhookNotifier",
    "get_metrics_collector",
    "set_metrics_collector",
]
