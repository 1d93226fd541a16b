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
``GET /api/ai/runner``
    The live runner's trading stage and status (:class:`RunnerState`), read from the
    runner's folder: ``stage.json`` (:class:`arbkit.live.safety.StageTracker`; absent
    means ``simulation``) and ``status.json`` (written by the runner after every block).
    A malformed file gets a 200 answer whose ``error`` names it.
``GET /metrics``
    Prometheus text exposition of the summary.
``GET /healthz``
    ``{"status": "ok"}``.

Invalid query parameters (NaN, negative counts, out-of-range values) get a 422 answer
that names the parameter; the service only reads, it records nothing.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Final

from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from typing_extensions import TypedDict

from arbkit import __version__
from arbkit.metrics._dashboard import DASHBOARD_HTML
from arbkit.metrics.alerts import AlertKind, AlertRecord, ModelAlertKind
from arbkit.metrics.collector import MetricsCollector, get_metrics_collector
from arbkit.metrics.errors import MetricsStoreError, MetricsValueError
from arbkit.metrics.summary import MetricsSummary, RecentPerformance, TimeseriesPoint

__all__ = ["LIVE_DIR_ENV", "STATUS_STALE_AFTER_S", "RunnerState", "create_app", "resolve_live_dir"]

LIVE_DIR_ENV: Final = "ARBKIT_LIVE_DIR"
"""Environment variable naming the live runner's folder (``stage.json``, ``status.json``)."""

DEFAULT_LIVE_DIR: Final = Path("live")
"""Runner folder under the working directory when neither an argument nor the variable
names one (the folder of the runner's default stage file ``live/stage.json``)."""

STATUS_STALE_AFTER_S: Final = 60.0
"""A running runner's status older than this is reported stale (the runner may be dead)."""


class RunnerState(TypedDict):
    """Answer of ``GET /api/ai/runner``.

    ``stage`` .. ``unlock`` come from ``stage.json`` (``None`` when it is malformed);
    ``status`` is ``status.json`` as the runner wrote it (non-finite numbers as
    ``None``), ``None`` when absent or malformed; ``status_age_s`` is the time since its
    ``updated_utc``; ``stale`` is true when a status still saying ``running`` is older
    than ``stale_after_s``; ``error`` names each malformed file, ``None`` when all is
    well.
    """

    runner_dir: str
    stage: str | None
    stage_entered_utc: str | None
    track_record: dict[str, Any] | None
    next_stage: str | None
    unlocked: bool
    unlock: str | None
    status: dict[str, Any] | None
    status_age_s: float | None
    stale: bool
    stale_after_s: float
    error: str | None


def resolve_live_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Return the live runner's folder the dashboard reads.

    Parameters
    ----------
    environ
        Environment to read; ``os.environ`` when ``None``.

    Returns
    -------
    Path
        The folder ``ARBKIT_LIVE_DIR`` names when set, otherwise ``live`` under the
        current working directory; absolute either way.
    """
    env = os.environ if environ is None else environ
    value = env.get(LIVE_DIR_ENV, "").strip()
    return (Path(value).expanduser() if value else DEFAULT_LIVE_DIR).absolute()


def _finite(value: Any) -> Any:
    # a JSON answer cannot carry NaN or infinity (the runner's json.dumps writes them)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _read_status(
    path: Path, now: datetime
) -> tuple[dict[str, Any] | None, float | None, str | None]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, None, None
    except (OSError, UnicodeDecodeError) as exc:
        return None, None, f"{path}: cannot read runner status file: {exc}"
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        return (
            None,
            None,
            (
                f"{path}: runner status file is not valid JSON "
                f"(line {exc.lineno}, column {exc.colno}: {exc.msg})"
            ),
        )
    if not isinstance(raw, dict):
        return (
            None,
            None,
            (f"{path}: runner status file must hold a JSON object, got {type(raw).__name__}"),
        )
    status: dict[str, Any] = _finite(raw)
    updated = status.get("updated_utc")
    try:
        at = datetime.fromisoformat(updated) if isinstance(updated, str) else None
    except ValueError:
        at = None
    if at is None or at.tzinfo is None:
        return (
            status,
            None,
            (f"{path}: updated_utc = {updated!r} is not a timezone-aware ISO timestamp"),
        )
    return status, round((now - at).total_seconds(), 3), None


def _read_stage(path: Path, now: datetime) -> tuple[dict[str, Any], str | None]:
    # arbkit.live's package import pulls web3: only this endpoint pays for it, on first use
    from arbkit.live.safety import (
        StageFileError,
        StagePolicy,
        StageTracker,
        TrackRecord,
        TradingStage,
        review_stage,
    )

    # The runner's own thresholds live in its config; the dashboard reviews with the
    # default policy, as ``arbkit live stage`` does.
    policy = StagePolicy()
    entered: datetime | None = None
    if not path.exists():  # no StageTracker here: it would create the file
        stage, track = TradingStage.SIMULATION, TrackRecord()
        review = review_stage(stage, track, policy.gate(stage), entered_at=now, now=now)
    else:
        try:
            tracker = StageTracker(path, policy, clock=lambda: now)
        except (StageFileError, OSError) as exc:
            return {}, str(exc)
        stage, track, entered = tracker.stage, tracker.track_record, tracker.entered_at
        review = tracker.review()
    return {
        "stage": stage.value,
        "stage_entered_utc": None if entered is None else entered.isoformat(),
        "track_record": {**track.model_dump(mode="json"), "success_rate": track.success_rate},
        "next_stage": None if review.next_stage is None else review.next_stage.value,
        "unlocked": review.unlocked,
        "unlock": review.reason,
    }, None


def _read_runner_state(runner_dir: Path, now: datetime) -> RunnerState:
    stage, stage_error = _read_stage(runner_dir / "stage.json", now)
    status, age_s, status_error = _read_status(runner_dir / "status.json", now)
    errors = [e for e in (stage_error, status_error) if e is not None]
    return RunnerState(
        runner_dir=str(runner_dir),
        stage=stage.get("stage"),
        stage_entered_utc=stage.get("stage_entered_utc"),
        track_record=stage.get("track_record"),
        next_stage=stage.get("next_stage"),
        unlocked=stage.get("unlocked", False),
        unlock=stage.get("unlock"),
        status=status,
        status_age_s=age_s,
        # a stopped runner's last status is final, not stale
        stale=status is not None
        and status.get("state") != "stopped"
        and (age_s is None or age_s > STATUS_STALE_AFTER_S),
        stale_after_s=STATUS_STALE_AFTER_S,
        error="; ".join(errors) or None,
    )


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


def create_app(
    collector: MetricsCollector | None = None, *, runner_dir: str | Path | None = None
) -> FastAPI:
    """Build the metrics HTTP application.

    Parameters
    ----------
    collector
        Collector to serve; the process-wide one (:func:`get_metrics_collector`) when
        ``None``.
    runner_dir
        Folder of the live runner's ``stage.json`` and ``status.json``, shown by
        ``/api/ai/runner`` and the dashboard's Runner panel; :func:`resolve_live_dir`
        when ``None``.

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
    live_dir = (
        resolve_live_dir() if runner_dir is None else Path(runner_dir).expanduser().absolute()
    )
    app.state.metrics = metrics
    app.state.runner_dir = live_dir

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

    @app.get("/api/ai/runner")
    def get_runner() -> RunnerState:
        return _read_runner_state(live_dir, datetime.now(UTC))

    @app.get("/metrics", include_in_schema=False)
    def prometheus_metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app
