"""HTTP service of the metrics: JSON API, Prometheus endpoint and dashboard page.

Routes
------
``GET /`` (and ``/dashboard``)
    The dashboard: figures, charts of net profit, win rate, gas share and alerts.
    Self-contained (no CDN), refreshed every 5 s.
``GET /api/ai/metrics``
    :meth:`MetricsCollector.get_summary` (the guide's "Dashboard Integration").
``GET /api/ai/metrics/recent?window_minutes=60``
    :meth:`MetricsCollector.get_recent_performance`.
``GET /api/ai/timeseries?max_points=200``
    ``{"points": [...]}``, :meth:`MetricsCollector.get_timeseries`.
``GET /api/ai/alerts?active_only=false&limit=100``
    ``{"active": [...], "alerts": [...], "thresholds": {...}}``: the active alerts, the
    newest alerts (newest first) and the thresholds of this server's collector.
``GET /metrics``
    Prometheus text exposition of the summary.
``GET /healthz``
    ``{"status": "ok"}``.

Invalid query parameters (NaN, negative counts, out-of-range values) get a 422 answer
that names the parameter; the service only reads, it records nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from arbkit import __version__
from arbkit.metrics._dashboard import DASHBOARD_HTML
from arbkit.metrics.alerts import AlertKind, AlertRecord, ModelAlertKind
from arbkit.metrics.collector import MetricsCollector, get_metrics_collector
from arbkit.metrics.errors import MetricsStoreError, MetricsValueError
from arbkit.metrics.summary import MetricsSummary, RecentPerformance, TimeseriesPoint

__all__ = ["create_app"]


class _PrometheusBridge(Collector):
    """Expose the collector's summary as Prometheus metrics, computed at scrape time."""

    def __init__(self, metrics: MetricsCollector) -> None:
        self._metrics = metrics

    def collect(self) -> Iterable[Metric]:
        s = self._metrics.get_summary()
        d, e, r, o = s["decisions"], s["execution"], s["risk"], s["opportunities"]

        def gauge(name: str, doc: str, value: float | None) -> GaugeMetricFamily:
            return GaugeMetricFamily(name, doc, value=float("nan") if value is None else value)

        yield CounterMetricFamily("arbkit_decisions", "Decisions recorded.", d["total_decisions"])
        yield CounterMetricFamily(
            "arbkit_decisions_executed", "Decisions to execute.", d["executed_decisions"]
        )
        executions = CounterMetricFamily(
            "arbkit_executions", "Executions recorded, by outcome.", labels=["outcome"]
        )
        executions.add_metric(["success"], e["successful_executions"])
        executions.add_metric(["failure"], e["failed_executions"])
        yield executions
        yield CounterMetricFamily("arbkit_gas_cost_usd", "Gas paid (USD).", e["total_gas_usd"])
        yield gauge(
            "arbkit_gross_profit_usd", "Gross profit before gas (USD).", e["total_profit_usd"]
        )
        yield gauge("arbkit_net_profit_usd", "Net profit after gas (USD).", e["net_profit_usd"])
        yield gauge("arbkit_execution_rate", "Executed / total decisions.", d["execution_rate"])
        yield gauge("arbkit_avg_confidence", "Mean decision confidence.", d["avg_confidence"])
        yield gauge("arbkit_win_rate", "Executions with net P&L > 0 / executions.", d["win_rate"])
        yield gauge("arbkit_sharpe_ratio", "Per-trade Sharpe of net P&L.", d["sharpe_ratio"])
        yield gauge("arbkit_success_rate", "Successful / total executions.", e["success_rate"])
        yield gauge(
            "arbkit_gas_share_of_profit",
            "Gas / gross profit (NaN when gross profit <= 0).",
            e["gas_share_of_profit"],
        )
        yield gauge(
            "arbkit_avg_execution_time_ms", "Mean execution time (ms).", e["avg_execution_time_ms"]
        )
        yield gauge("arbkit_equity_usd", "Starting capital + net P&L (USD).", r["equity_usd"])
        yield gauge("arbkit_drawdown_ratio", "Current drawdown from peak.", r["current_drawdown"])
        yield gauge("arbkit_max_drawdown_ratio", "Largest drawdown from peak.", r["max_drawdown"])
        yield CounterMetricFamily(
            "arbkit_opportunities", "Opportunities detected.", o["total_detected"]
        )
        yield CounterMetricFamily(
            "arbkit_opportunities_converted", "Opportunities executed.", o["converted"]
        )
        yield gauge(
            "arbkit_opportunity_quality_avg", "Mean opportunity quality.", o["avg_quality_score"]
        )
        accuracy = GaugeMetricFamily(
            "arbkit_model_accuracy", "Latest accuracy per model.", labels=["model"]
        )
        confidence = GaugeMetricFamily(
            "arbkit_model_confidence", "Latest mean confidence per model.", labels=["model"]
        )
        for name, model in s["models"]["models"].items():
            accuracy.add_metric([name], model["accuracy"])
            if model["confidence"] is not None:
                confidence.add_metric([name], model["confidence"])
        yield accuracy
        yield confidence
        active = GaugeMetricFamily(
            "arbkit_alert_active", "1 while an alert is active.", labels=["kind"]
        )
        for kind in (*AlertKind, *ModelAlertKind):
            active.add_metric([kind.value], float(kind.value in s["alerts"]["active"]))
        yield active
        yield CounterMetricFamily(
            "arbkit_alerts_raised", "Alerts raised.", s["alerts"]["total_raised"]
        )


def create_app(collector: MetricsCollector | None = None) -> FastAPI:
    """Build the metrics HTTP application.

    Parameters
    ----------
    collector
        Collector to serve; the process-wide one (:func:`get_metrics_collector`) when
        ``None``.

    Returns
    -------
    FastAPI
        The application; run it with uvicorn (``arbkit serve`` does).
    """
    metrics = get_metrics_collector() if collector is None else collector
    app = FastAPI(
        title="arbkit metrics",
        version=__version__,
        description="Decisions, executions, opportunities, models and alerts of arbkit.",
    )
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_PrometheusBridge(metrics))
    app.state.metrics = metrics

    @app.exception_handler(MetricsValueError)
    async def _bad_value(request: Request, exc: MetricsValueError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": str(exc)})

    @app.exception_handler(MetricsStoreError)
    async def _store_down(request: Request, exc: MetricsStoreError) -> JSONResponse:
        return JSONResponse(status_code=503, content={"detail": str(exc)})

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    @app.get("/dashboard", response_class=HTMLResponse, include_in_schema=False)
    def dashboard() -> HTMLResponse:
        return HTMLResponse(DASHBOARD_HTML, headers={"Cache-Control": "no-store"})

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/api/ai/metrics")
    def get_ai_metrics() -> MetricsSummary:
        return metrics.get_summary()

    @app.get("/api/ai/metrics/recent")
    def get_recent(
        window_minutes: Annotated[
            float,
            Query(gt=0, le=366 * 24 * 60, allow_inf_nan=False, description="Trailing window."),
        ] = 60.0,
    ) -> RecentPerformance:
        return metrics.get_recent_performance(window_minutes)

    @app.get("/api/ai/timeseries")
    def get_timeseries(
        max_points: Annotated[int, Query(ge=1, le=10_000, description="Most points.")] = 200,
    ) -> dict[str, list[TimeseriesPoint]]:
        return {"points": metrics.get_timeseries(max_points)}

    @app.get("/api/ai/alerts")
    def get_alerts(
        active_only: Annotated[bool, Query(description="Only alerts not cleared.")] = False,
        limit: Annotated[int, Query(ge=1, le=10_000, description="Most alerts.")] = 100,
    ) -> dict[str, Any]:
        alerts: list[AlertRecord] = [
            a.to_dict() for a in metrics.get_alerts(active_only=active_only, limit=limit)
        ]
        active = [a.to_dict() for a in metrics.get_active_alerts()]
        return {
            "active": active,
            "alerts": alerts,
            "thresholds": metrics.config.thresholds.model_dump(),
        }

    @app.get("/metrics", include_in_schema=False)
    def prometheus_metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app
