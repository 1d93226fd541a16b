from __future__ import annotations

import itertools
import logging
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from arbkit.metrics import MetricsCollector, MetricsConfig, get_metrics_collector
from arbkit.metrics import cli as metrics_cli
from arbkit.metrics.service import create_app

with warnings.catch_warnings():
    # starlette's TestClient still works on httpx; it only nudges towards httpx2
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient


def _filled(config: MetricsConfig | None = None) -> MetricsCollector:
    # Every record is 10 s after the one before, so the bad run outlasts the alerts'
    # default 30 s hold.
    ticks = itertools.count(1_700_000_000.0, 10.0)
    m = MetricsCollector(
        config or MetricsConfig(starting_capital_usd=1_000.0), clock=lambda: next(ticks)
    )
    for i in range(12):
        m.record_decision(0.6 + i / 100, 20.0 + i, 10.0, i % 3 != 0)
        m.record_execution(i % 4 != 0, 10.0 + i, 4.0, 100.0 + 10 * i)
        m.record_opportunity(0.5, executed=i % 2 == 0, source="aqua")
    m.record_model_update("route_success", 0.64, 0.7, n_samples=500)
    for _ in range(20):
        m.record_execution(False, 0.0, 30.0, 900.0)  # a bad run: every alert fires
    return m


@pytest.fixture
def metrics() -> Iterator[MetricsCollector]:
    m = _filled()
    yield m
    m.close()


@pytest.fixture
def client(metrics: MetricsCollector) -> TestClient:
    return TestClient(create_app(metrics))


def _without_clock(summary: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in summary.items() if k != "generated_at"}


def test_metrics_endpoint_returns_the_summary(
    client: TestClient, metrics: MetricsCollector
) -> None:
    response = client.get("/api/ai/metrics")
    assert response.status_code == 200
    assert _without_clock(response.json()) == _without_clock(dict(metrics.get_summary()))


def test_create_app_serves_the_process_wide_collector_by_default(fresh_default: Path) -> None:
    get_metrics_collector().record_execution(True, 95.0, 15.0, 450.0)
    body = TestClient(create_app()).get("/api/ai/metrics").json()
    assert body["execution"]["net_profit_usd"] == 80.0


def test_alerts_endpoint_lists_active_alerts_history_and_thresholds(client: TestClient) -> None:
    body = client.get("/api/ai/alerts").json()
    assert {a["kind"] for a in body["active"]} == {
        "win_rate",
        "gas_share",
        "success_rate",
        "drawdown",
    }
    assert all(a["active"] and a["cleared_at"] is None for a in body["active"])
    assert body["thresholds"]["min_win_rate"] == 0.45
    assert body["thresholds"]["max_drawdown"] == 0.20
    assert len(client.get("/api/ai/alerts", params={"limit": 2}).json()["alerts"]) == 2
    only_active = client.get("/api/ai/alerts", params={"active_only": "true"}).json()
    assert len(only_active["alerts"]) == 4


def test_recent_and_timeseries_endpoints(client: TestClient, metrics: MetricsCollector) -> None:
    recent = client.get("/api/ai/metrics/recent", params={"window_minutes": 30}).json()
    assert recent["executions"] == 32
    assert recent["window_minutes"] == 30
    points = client.get("/api/ai/timeseries", params={"max_points": 5}).json()["points"]
    assert len(points) == 5
    assert sum(p["executions"] for p in points) == 32
    assert points[-1]["net_profit_usd"] == metrics.get_summary()["execution"]["net_profit_usd"]


def test_prometheus_endpoint_exposes_the_summary(
    client: TestClient, metrics: MetricsCollector
) -> None:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }
    summary = metrics.get_summary()
    assert samples[("arbkit_decisions_total", ())] == 12
    assert samples[("arbkit_executions_total", (("outcome", "success"),))] == 9
    assert samples[("arbkit_executions_total", (("outcome", "failure"),))] == 23
    assert samples[("arbkit_net_profit_usd", ())] == summary["execution"]["net_profit_usd"]
    assert samples[("arbkit_win_rate", ())] == summary["decisions"]["win_rate"]
    assert samples[("arbkit_drawdown_ratio", ())] == summary["risk"]["current_drawdown"]
    assert samples[("arbkit_model_accuracy", (("model", "route_success"),))] == 0.64
    assert samples[("arbkit_alert_active", (("kind", "drawdown"),))] == 1.0


@pytest.mark.parametrize(
    ("url", "param"),
    [
        ("/api/ai/metrics/recent?window_minutes=nan", "window_minutes"),
        ("/api/ai/metrics/recent?window_minutes=inf", "window_minutes"),
        ("/api/ai/metrics/recent?window_minutes=-5", "window_minutes"),
        ("/api/ai/metrics/recent?window_minutes=0", "window_minutes"),
        ("/api/ai/metrics/recent?window_minutes=1e30", "window_minutes"),
        ("/api/ai/metrics/recent?window_minutes=an%20hour", "window_minutes"),
        ("/api/ai/alerts?limit=-1", "limit"),
        ("/api/ai/alerts?limit=0", "limit"),
        ("/api/ai/alerts?limit=2.5", "limit"),
        ("/api/ai/alerts?active_only=perhaps", "active_only"),
        ("/api/ai/timeseries?max_points=-3", "max_points"),
        ("/api/ai/timeseries?max_points=99999999999999999999999", "max_points"),
    ],
)
def test_bad_query_values_get_a_422_naming_the_parameter(
    client: TestClient, url: str, param: str
) -> None:
    response = client.get(url)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["query", param]


def test_unknown_routes_and_methods_get_4xx(client: TestClient) -> None:
    assert client.get("/api/ai/nothing").status_code == 404
    assert client.post("/api/ai/metrics", json={"confidence": "nan"}).status_code == 405
    assert client.delete("/api/ai/alerts").status_code == 405


def test_a_closed_database_gets_503_not_a_crash(metrics: MetricsCollector) -> None:
    client = TestClient(create_app(metrics))
    metrics.close()
    response = client.get("/api/ai/metrics")
    assert response.status_code == 503
    assert "closed" in response.json()["detail"]


def test_dashboard_page_is_self_contained(client: TestClient) -> None:
    for path in ("/", "/dashboard"):
        response = client.get(path)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
    html = response.text
    urls = set(re.findall(r"https?://[^\s\"'<>]+", html))
    assert urls <= {"http://www.w3.org/2000/svg"}  # an XML namespace, never fetched
    assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)=", html)
    assert "@import" not in html
    for element in ("chart-profit", "chart-winrate", "chart-gas", "chart-alerts", "alerts-body"):
        assert f'id="{element}"' in html


def test_serve_runs_uvicorn_on_loopback_by_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls: list[dict[str, Any]] = []

    def fake_run(app: Any, **kwargs: Any) -> None:
        calls.append(kwargs)
        served = TestClient(app).get("/api/ai/metrics").json()
        calls[-1]["executions"] = served["execution"]["total_executions"]

    monkeypatch.setattr("uvicorn.run", fake_run)
    db = tmp_path / "served.sqlite"
    with MetricsCollector(MetricsConfig(db_path=db)) as m:
        m.record_execution(True, 5.0, 1.0, 10.0)
    metrics_cli.serve(db_path=db, port=8123)
    assert calls == [{"host": "127.0.0.1", "port": 8123, "log_level": "info", "executions": 1}]


def test_serve_warns_when_listening_beyond_loopback(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr("uvicorn.run", lambda app, **kwargs: None)
    with caplog.at_level(logging.WARNING, logger="arbkit.metrics"):
        metrics_cli.serve(host="0.0.0.0", db_path=tmp_path / "m.sqlite")
    assert any("no authentication" in r.getMessage() for r in caplog.records)


def test_serve_registers_as_a_typer_command(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    seen: list[dict[str, Any]] = []
    monkeypatch.setattr("uvicorn.run", lambda app, **kwargs: seen.append(kwargs))
    app = typer.Typer()
    app.command("serve")(metrics_cli.serve)
    app.command("other")(lambda: None)
    runner = CliRunner()
    help_text = runner.invoke(app, ["serve", "--help"]).output
    for option in ("--host", "--port", "--db-path"):
        assert option in help_text
    result = runner.invoke(app, ["serve", "--port", "9001", "--db-path", str(tmp_path / "x.db")])
    assert result.exit_code == 0, result.output
    assert seen == [{"host": "127.0.0.1", "port": 9001, "log_level": "info"}]
    bad = runner.invoke(app, ["serve", "--port", "70000"])
    assert bad.exit_code == 2
    assert "65535" in bad.output


def test_the_real_server_answers_over_http(metrics: MetricsCollector, serve_app: Any) -> None:
    with serve_app(create_app(metrics)) as server:
        response = httpx.get(f"{server.url}/api/ai/metrics", timeout=10)
        assert response.status_code == 200
        assert response.json()["execution"]["total_executions"] == 32
        bad = httpx.get(f"{server.url}/api/ai/metrics/recent?window_minutes=nan", timeout=10)
        assert bad.status_code == 422
