"""Shapes of the dictionaries the metrics collector returns (all JSON-ready).

Money is in USD, times are UTC epoch seconds, rates and drawdowns are fractions
(0.45 is 45 %). A figure that is undefined (a gas share with no gross profit) is
``None``; a rate over zero events is ``0.0``.
"""

from __future__ import annotations

from typing_extensions import TypedDict

__all__ = [
    "AlertsSummary",
    "DecisionSummary",
    "ExecutionSummary",
    "MetricsSummary",
    "ModelStatusSummary",
    "ModelsSummary",
    "OpportunitySummary",
    "RecentPerformance",
    "RiskSummary",
    "TimeseriesPoint",
]


class DecisionSummary(TypedDict):
    """Decision metrics: ``summary["decisions"]``."""

    total_decisions: int
    executed_decisions: int
    execution_rate: float
    avg_confidence: float
    avg_edge_bps: float
    avg_predicted_profit_usd: float
    win_rate: float
    sharpe_ratio: float


class ExecutionSummary(TypedDict):
    """Execution metrics: ``summary["execution"]``."""

    total_executions: int
    successful_executions: int
    failed_executions: int
    success_rate: float
    total_profit_usd: float
    total_gas_usd: float
    net_profit_usd: float
    avg_net_profit_usd: float
    gas_share_of_profit: float | None
    avg_execution_time_ms: float
    max_execution_time_ms: float


class RiskSummary(TypedDict):
    """Equity and drawdown: ``summary["risk"]``."""

    starting_capital_usd: float
    equity_usd: float
    peak_equity_usd: float
    current_drawdown: float
    max_drawdown: float


class OpportunitySummary(TypedDict):
    """Opportunity metrics: ``summary["opportunities"]``."""

    total_detected: int
    converted: int
    conversion_rate: float
    detection_rate_per_hour: int
    avg_quality_score: float
    min_quality_score: float | None
    max_quality_score: float | None


class ModelStatusSummary(TypedDict):
    """Latest update of one model."""

    training_status: str
    accuracy: float
    confidence: float | None
    n_samples: int
    updated_at: float
    updates: int


class ModelsSummary(TypedDict):
    """Model metrics: ``summary["models"]``."""

    total_updates: int
    models: dict[str, ModelStatusSummary]


class AlertsSummary(TypedDict):
    """Alert state: ``summary["alerts"]``."""

    active: list[str]
    total_raised: int


class MetricsSummary(TypedDict):
    """Everything :meth:`MetricsCollector.get_summary` returns."""

    generated_at: float
    decisions: DecisionSummary
    execution: ExecutionSummary
    risk: RiskSummary
    opportunities: OpportunitySummary
    models: ModelsSummary
    alerts: AlertsSummary


class RecentPerformance(TypedDict):
    """What :meth:`MetricsCollector.get_recent_performance` returns.

    ``total_profit`` is gross (the sum of ``actual_profit``), like
    ``summary["execution"]["total_profit_usd"]``; ``net_profit_usd`` subtracts gas.
    """

    window_minutes: float
    since: float
    decisions: int
    executed_decisions: int
    execution_rate: float
    avg_confidence: float
    executions: int
    successful_executions: int
    success_rate: float
    win_rate: float
    total_profit: float
    total_gas_usd: float
    net_profit_usd: float
    avg_execution_time_ms: float
    opportunities: int
    conversion_rate: float


class TimeseriesPoint(TypedDict):
    """One point of the dashboard's charts: a bucket of consecutive executions.

    ``win_rate`` and ``gas_share`` are measured within the bucket; ``net_profit_usd``,
    ``equity_usd`` and ``drawdown`` are the values after its last execution.
    """

    ts: float
    first_execution: int
    last_execution: int
    executions: int
    net_profit_usd: float
    equity_usd: float
    drawdown: float
    win_rate: float
    gas_share: float | None
