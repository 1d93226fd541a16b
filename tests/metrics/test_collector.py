from __future__ import annotations

import contextlib
import io
import math
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arbkit.errors import ArbkitError, ConfigError
from arbkit.metrics import (
    AlertThresholds,
    MetricsCollector,
    MetricsConfig,
    MetricsStoreError,
    MetricsValueError,
    get_metrics_collector,
    set_metrics_collector,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
GUIDE = REPO_ROOT.parent / "shared" / "seed" / "000_e2006ea975a8c450.txt"

# The guide's "6. Metrics Collector" usage block, with only its import line changed.
GUIDE_USAGE = """\
from arbkit.metrics import get_metrics_collector

metrics = get_metrics_collector()

# Record decision
metrics.record_decision(
    confidence=0.75,
    edge_bps=50.0,
    predicted_profit=100.0,
    executed=True,
)

# Record execution
metrics.record_execution(
    success=True,
    actual_profit=95.0,
    gas_cost=15.0,
    execution_time_ms=450.0,
)

# Get summary
summary = metrics.get_summary()
print(f"Win Rate: {summary['decisions']['win_rate']:.1%}")
print(f"Net Profit: ${summary['execution']['net_profit_usd']:.2f}")
"""

# The guide's "Real-time Metrics" block (it relies on the import above).
GUIDE_MONITORING = """\
# Get current performance
metrics = get_metrics_collector()
summary = metrics.get_summary()

# Recent performance (last hour)
recent = metrics.get_recent_performance(window_minutes=60)
print(f"Hourly Profit: ${recent['total_profit']:.2f}")
"""


def _guide_block(after: str) -> str:
    text = GUIDE.read_text(encoding="utf-8")
    start = text.index("```python", text.index(after)) + len("```python\n")
    return text[start : text.index("```", start)]


def test_embedded_guide_examples_match_the_guide_except_the_import_line(guide: Path) -> None:
    usage = _guide_block("### 6. Metrics Collector")
    assert usage.replace("from src.ai.metrics import", "from arbkit.metrics import") == GUIDE_USAGE
    assert _guide_block("### Real-time Metrics") == GUIDE_MONITORING


def test_missing_guide_fails_in_ci(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, require: Any
) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must have it"):
        require(tmp_path / "missing.txt", "the user guide")


@pytest.mark.parametrize("ci", [None, "", "false"])
def test_missing_guide_skips_with_a_reason_outside_ci(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, ci: str | None, require: Any
) -> None:
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.skip.Exception, match="user guide not found at"):
        require(tmp_path / "missing.txt", "the user guide")


def test_present_guide_neither_skips_nor_fails(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, require: Any
) -> None:
    monkeypatch.setenv("CI", "true")
    present = tmp_path / "guide.txt"
    present.write_text("guide", encoding="utf-8")
    assert require(present, "the user guide") == present


def test_guide_usage_example_runs_with_only_its_import_line_changed(fresh_default: Path) -> None:
    out = io.StringIO()
    namespace: dict[str, Any] = {}
    with contextlib.redirect_stdout(out):
        exec(compile(GUIDE_USAGE, "guide_usage", "exec"), namespace)
        exec(compile(GUIDE_MONITORING, "guide_monitoring", "exec"), namespace)
    assert out.getvalue().splitlines() == [
        "Win Rate: 100.0%",
        "Net Profit: $80.00",
        "Hourly Profit: $95.00",
    ]
    assert fresh_default.is_file()  # ARBKIT_METRICS_DB was honoured


def test_summary_has_the_guides_sections_and_keys() -> None:
    summary = MetricsCollector().get_summary()
    assert set(summary) >= {"decisions", "execution", "opportunities", "models", "risk", "alerts"}
    assert set(summary["decisions"]) >= {
        "total_decisions",
        "execution_rate",
        "avg_confidence",
        "win_rate",
        "sharpe_ratio",
    }
    assert set(summary["execution"]) >= {
        "success_rate",
        "total_profit_usd",
        "total_gas_usd",
        "net_profit_usd",
        "avg_execution_time_ms",
    }
    assert set(summary["opportunities"]) >= {
        "detection_rate_per_hour",
        "conversion_rate",
        "avg_quality_score",
    }
    assert set(summary["risk"]) >= {"current_drawdown", "max_drawdown", "equity_usd"}
    assert summary["decisions"]["win_rate"] == 0.0
    assert summary["execution"]["gas_share_of_profit"] is None


def test_decision_and_execution_figures_follow_their_definitions() -> None:
    m = MetricsCollector()
    for confidence, executed in [(0.9, True), (0.6, True), (0.3, False), (0.2, False)]:
        m.record_decision(confidence, edge_bps=20.0, predicted_profit=10.0, executed=executed)
    # gross, gas, time: net = +80, -15 (reverted), +5, 0 (zero net is not a win)
    m.record_execution(True, 95.0, 15.0, 400.0)
    m.record_execution(False, 0.0, 15.0, 1_000.0)
    m.record_execution(True, 10.0, 5.0, 100.0)
    m.record_execution(True, 5.0, 5.0, 100.0)
    s = m.get_summary()
    d, e = s["decisions"], s["execution"]
    assert d["total_decisions"] == 4
    assert d["execution_rate"] == 0.5
    assert d["avg_confidence"] == pytest.approx(0.5)
    assert d["win_rate"] == 0.5
    assert e["total_executions"] == 4
    assert e["successful_executions"] == 3
    assert e["success_rate"] == 0.75
    assert e["total_profit_usd"] == 110.0
    assert e["total_gas_usd"] == 40.0
    assert e["net_profit_usd"] == 70.0
    assert e["gas_share_of_profit"] == pytest.approx(40.0 / 110.0)
    assert e["avg_execution_time_ms"] == 400.0
    assert e["max_execution_time_ms"] == 1_000.0
    nets = np.array([80.0, -15.0, 5.0, 0.0])
    assert d["sharpe_ratio"] == pytest.approx(nets.mean() / nets.std(ddof=1))


def test_sharpe_is_zero_without_two_trades_or_without_spread() -> None:
    m = MetricsCollector()
    m.record_execution(True, 10.0, 1.0, 1.0)
    assert m.get_summary()["decisions"]["sharpe_ratio"] == 0.0
    m2 = MetricsCollector()
    for _ in range(6):
        m2.record_execution(True, 0.1 + 0.2, 0.0, 1.0)  # identical P&Ls: std is rounding noise
    assert m2.get_summary()["decisions"]["sharpe_ratio"] == 0.0


def test_drawdown_is_measured_from_peak_equity_including_starting_capital() -> None:
    m = MetricsCollector(MetricsConfig(starting_capital_usd=1_000.0))
    m.record_execution(True, 110.0, 10.0, 1.0)  # equity 1100 (peak)
    m.record_execution(False, 0.0, 330.0, 1.0)  # equity 770: 30 % below 1100
    r = m.get_drawdown()
    assert r["equity_usd"] == 770.0
    assert r["peak_equity_usd"] == 1_100.0
    assert r["current_drawdown"] == pytest.approx(0.3)
    m.record_execution(True, 440.0, 10.0, 1.0)  # equity 1200: a new peak
    r = m.get_drawdown()
    assert r["current_drawdown"] == 0.0
    assert r["max_drawdown"] == pytest.approx(0.3)
    assert r["starting_capital_usd"] == 1_000.0


def test_a_loss_from_the_start_is_a_drawdown_of_the_starting_capital() -> None:
    m = MetricsCollector(MetricsConfig(starting_capital_usd=500.0))
    m.record_execution(False, 0.0, 50.0, 1.0)
    assert m.get_drawdown()["current_drawdown"] == pytest.approx(0.1)


def test_recent_performance_counts_only_the_window(clock: Any) -> None:
    m = MetricsCollector(clock=clock)
    m.record_decision(0.8, 10.0, 5.0, True)
    m.record_execution(True, 50.0, 5.0, 100.0)
    m.record_opportunity(0.5, executed=True)
    clock.advance(2 * 3600)
    m.record_decision(0.6, 10.0, 5.0, False)
    m.record_execution(True, 20.0, 4.0, 300.0)
    m.record_execution(False, 0.0, 6.0, 500.0)
    clock.advance(60)
    recent = m.get_recent_performance(window_minutes=60)
    assert recent["decisions"] == 1
    assert recent["executed_decisions"] == 0
    assert recent["executions"] == 2
    assert recent["success_rate"] == 0.5
    assert recent["win_rate"] == 0.5
    assert recent["total_profit"] == 20.0
    assert recent["total_gas_usd"] == 10.0
    assert recent["net_profit_usd"] == 10.0
    assert recent["avg_execution_time_ms"] == 400.0
    assert recent["opportunities"] == 0
    day = m.get_recent_performance(window_minutes=24 * 60)
    assert day["executions"] == 3
    assert day["total_profit"] == 70.0
    assert day["conversion_rate"] == 1.0


def test_opportunity_figures(clock: Any) -> None:
    m = MetricsCollector(clock=clock)
    m.record_opportunity(0.2)
    clock.advance(3_601)
    m.record_opportunity(0.4, executed=True, source="aqua")
    m.record_opportunity(0.9)
    o = m.get_summary()["opportunities"]
    assert o["total_detected"] == 3
    assert o["converted"] == 1
    assert o["conversion_rate"] == pytest.approx(1 / 3)
    assert o["detection_rate_per_hour"] == 2
    assert o["avg_quality_score"] == pytest.approx(0.5)
    assert (o["min_quality_score"], o["max_quality_score"]) == (0.2, 0.9)


def test_model_updates_report_the_latest_state_per_model(clock: Any) -> None:
    m = MetricsCollector(clock=clock)
    m.record_model_update("route_success", 0.58, training_status="training", n_samples=100)
    clock.advance(10)
    m.record_model_update("route_success", 0.64, confidence=0.71, n_samples=250)
    m.record_model_update("rl_policy", 0.55, training_status="promoted")
    models = m.get_summary()["models"]
    assert models["total_updates"] == 3
    route = models["models"]["route_success"]
    assert route["accuracy"] == 0.64
    assert route["confidence"] == 0.71
    assert route["training_status"] == "trained"
    assert route["n_samples"] == 250
    assert route["updates"] == 2
    assert route["updated_at"] == clock()
    assert models["models"]["rl_policy"]["training_status"] == "promoted"
    assert models["models"]["rl_policy"]["confidence"] is None


BAD_CALLS: list[tuple[str, Callable[[MetricsCollector], object], str]] = [
    ("nan confidence", lambda m: m.record_decision(math.nan, 1.0, 1.0, True), "confidence"),
    ("confidence > 1", lambda m: m.record_decision(1.5, 1.0, 1.0, True), "confidence"),
    ("inf edge", lambda m: m.record_decision(0.5, math.inf, 1.0, True), "edge_bps"),
    ("str profit", lambda m: m.record_decision(0.5, 1.0, "100", True), "predicted_profit"),  # type: ignore[arg-type]
    ("int executed", lambda m: m.record_decision(0.5, 1.0, 1.0, 1), "executed"),  # type: ignore[arg-type]
    ("nan profit", lambda m: m.record_execution(True, math.nan, 1.0, 1.0), "actual_profit"),
    ("-inf profit", lambda m: m.record_execution(True, -math.inf, 1.0, 1.0), "actual_profit"),
    ("huge profit", lambda m: m.record_execution(True, 1e300, 1.0, 1.0), "actual_profit"),
    ("negative gas", lambda m: m.record_execution(True, 1.0, -1.0, 1.0), "gas_cost"),
    ("negative time", lambda m: m.record_execution(True, 1.0, 1.0, -5.0), "execution_time_ms"),
    ("bool gas", lambda m: m.record_execution(True, 1.0, True, 1.0), "gas_cost"),  # type: ignore[arg-type]
    ("None success", lambda m: m.record_execution(None, 1.0, 1.0, 1.0), "success"),  # type: ignore[arg-type]
    ("empty source", lambda m: m.record_execution(True, 1.0, 1.0, 1.0, source=" "), "source"),
    ("nan quality", lambda m: m.record_opportunity(math.nan), "quality_score"),
    ("quality < 0", lambda m: m.record_opportunity(-0.1), "quality_score"),
    ("negative samples", lambda m: m.record_model_update("x", 0.5, n_samples=-1), "n_samples"),
    ("float samples", lambda m: m.record_model_update("x", 0.5, n_samples=1.5), "n_samples"),  # type: ignore[arg-type]
    ("bad status", lambda m: m.record_model_update("x", 0.5, training_status="done"), "status"),
    ("nan accuracy", lambda m: m.record_model_update("x", math.nan), "accuracy"),
    ("empty model name", lambda m: m.record_model_update("", 0.5), "model_name"),
    ("control chars", lambda m: m.record_model_update("a\nb", 0.5), "model_name"),
    ("zero window", lambda m: m.get_recent_performance(0), "window_minutes"),
    ("nan window", lambda m: m.get_recent_performance(math.nan), "window_minutes"),
    ("negative window", lambda m: m.get_recent_performance(-60), "window_minutes"),
    ("negative limit", lambda m: m.get_alerts(limit=-1), "limit"),
    ("zero points", lambda m: m.get_timeseries(0), "max_points"),
]


@pytest.mark.parametrize(("case", "call", "name"), BAD_CALLS, ids=[c[0] for c in BAD_CALLS])
def test_bad_values_raise_a_typed_error_naming_the_argument_and_record_nothing(
    case: str, call: Callable[[MetricsCollector], object], name: str
) -> None:
    m = MetricsCollector()
    before = m.get_summary()
    with pytest.raises(MetricsValueError, match=name) as info:
        call(m)
    assert isinstance(info.value, ArbkitError)
    assert isinstance(info.value, ValueError)
    after = m.get_summary()
    for section in ("decisions", "execution", "opportunities", "models"):
        assert after[section] == before[section]  # type: ignore[literal-required]


def test_numpy_scalars_are_accepted() -> None:
    m = MetricsCollector()
    m.record_decision(np.float64(0.7), np.float32(12.5), np.int64(40), np.bool_(True))
    m.record_execution(np.bool_(True), np.float64(40.0), np.float64(4.0), np.int32(120))
    m.record_model_update("m", np.float64(0.6), n_samples=np.int64(10))
    s = m.get_summary()
    assert s["decisions"]["executed_decisions"] == 1
    assert s["execution"]["net_profit_usd"] == 36.0


def test_get_metrics_collector_is_process_wide_and_honours_the_environment(
    fresh_default: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = get_metrics_collector()
    assert get_metrics_collector() is first
    assert first.db_path == fresh_default
    monkeypatch.setenv("ARBKIT_METRICS_DB", ":memory:")
    assert get_metrics_collector() is first  # created once, not per call
    set_metrics_collector(None)
    first.close()
    in_memory = get_metrics_collector()
    assert in_memory.db_path is None


def test_default_database_lives_under_the_working_directory(
    fresh_default: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("ARBKIT_METRICS_DB")
    monkeypatch.chdir(tmp_path)
    collector = get_metrics_collector()
    assert collector.db_path == tmp_path / "data" / "metrics" / "metrics.sqlite"
    collector.record_decision(0.5, 1.0, 1.0, False)
    assert collector.db_path.is_file()


def test_importing_the_package_does_no_io_and_no_http_stack(tmp_path: Path) -> None:
    code = textwrap.dedent(
        """
        import sys
        import arbkit.metrics
        from arbkit.metrics import get_metrics_collector
        heavy = [m for m in ("fastapi", "uvicorn", "prometheus_client") if m in sys.modules]
        print(heavy)
        """
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO_ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
        check=True, timeout=60,
    )  # fmt: skip
    assert out.stdout.strip() == "[]"
    assert list(tmp_path.iterdir()) == []


def test_a_closed_collector_raises_a_typed_error() -> None:
    m = MetricsCollector()
    m.close()
    m.close()  # idempotent
    with pytest.raises(MetricsStoreError, match="closed"):
        m.record_decision(0.5, 1.0, 1.0, True)


def test_starting_capital_is_fixed_by_the_database(tmp_path: Path) -> None:
    db = tmp_path / "m.sqlite"
    with MetricsCollector(MetricsConfig(db_path=db, starting_capital_usd=2_500.0)):
        pass
    with MetricsCollector(MetricsConfig(db_path=db)) as again:
        assert again.starting_capital_usd == 2_500.0
    with pytest.raises(ConfigError, match="starting_capital_usd"):
        MetricsCollector(MetricsConfig(db_path=db, starting_capital_usd=1_000.0))


def test_invalid_config_values_are_rejected() -> None:
    with pytest.raises(ValueError, match="min_win_rate"):
        AlertThresholds(min_win_rate=math.nan)
    with pytest.raises(ValueError, match="starting_capital_usd"):
        MetricsConfig(starting_capital_usd=-1.0)
    with pytest.raises(ValueError, match="webhook_url"):
        MetricsConfig(webhook_url="file:///etc/passwd")


executions = st.lists(
    st.tuples(
        st.booleans(),
        st.integers(-200, 400).map(float),
        st.integers(0, 150).map(float),
        st.integers(0, 5_000).map(float),
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(stream=executions, capital=st.integers(100, 5_000).map(float))
def test_summary_matches_a_from_scratch_computation(
    stream: list[tuple[bool, float, float, float]], capital: float
) -> None:
    m = MetricsCollector(MetricsConfig(starting_capital_usd=capital))
    for success, profit, gas, ms in stream:
        m.record_execution(success, profit, gas, ms)
    s = m.get_summary()
    nets = [p - g for _, p, g, _ in stream]
    equity = capital + np.cumsum(nets)
    peak = np.maximum.accumulate(np.concatenate([[capital], equity]))[1:]
    drawdowns = (peak - equity) / peak
    e, r = s["execution"], s["risk"]
    assert e["net_profit_usd"] == pytest.approx(sum(nets))
    assert e["net_profit_usd"] == pytest.approx(e["total_profit_usd"] - e["total_gas_usd"])
    assert s["decisions"]["win_rate"] == sum(n > 0 for n in nets) / len(nets)
    assert e["success_rate"] == sum(ok for ok, *_ in stream) / len(stream)
    assert r["equity_usd"] == pytest.approx(equity[-1])
    assert r["current_drawdown"] == pytest.approx(drawdowns[-1], abs=1e-12)
    assert r["max_drawdown"] == pytest.approx(drawdowns.max(), abs=1e-12)
    assert 0.0 <= r["current_drawdown"] <= r["max_drawdown"] + 1e-12
    if len(nets) >= 2 and np.std(nets) > 0:
        expected = np.mean(nets) / np.std(nets, ddof=1)
        assert s["decisions"]["sharpe_ratio"] == pytest.approx(expected)
    series = m.get_timeseries(max_points=7)
    assert 1 <= len(series) <= 7
    assert sum(p["executions"] for p in series) == len(stream)
    assert series[-1]["net_profit_usd"] == pytest.approx(sum(nets))
    assert series[-1]["drawdown"] == pytest.approx(drawdowns[-1], abs=1e-12)
