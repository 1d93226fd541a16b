"""The dashboard page in a real headless browser (Debian's chromium).

Skipped with a reason when ``/usr/bin/chromium`` (or ``$ARBKIT_CHROMIUM``) is absent
and ``CI`` is unset; a failure in CI, which must install it
(``apt-get install -y chromium chromium-driver``).
"""

from __future__ import annotations

import itertools
import json
import os
import struct
import subprocess
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest

from arbkit.metrics import MetricsCollector, MetricsConfig
from arbkit.metrics.service import create_app

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # run the page's timers and fetches to completion before dumping or shooting
    "--virtual-time-budget=4000",
]


@pytest.fixture(scope="module")
def chromium() -> str:
    path = Path(os.environ.get("ARBKIT_CHROMIUM", "/usr/bin/chromium"))
    if not (path.is_file() and os.access(path, os.X_OK)):
        msg = (
            f"headless browser not found at {path}: install Debian's chromium "
            "(apt-get install -y chromium chromium-driver) or set ARBKIT_CHROMIUM"
        )
        if os.environ.get("CI"):
            pytest.fail(msg + " -- CI must install it")
        pytest.skip(msg)
    return str(path)


@pytest.fixture(scope="module")
def served(serve_app: Any) -> Iterator[tuple[str, MetricsCollector]]:
    # 10 s between records: the bad run outlasts the alerts' default 30 s hold
    ticks = itertools.count(1_700_000_000.0, 10.0)
    m = MetricsCollector(MetricsConfig(starting_capital_usd=1_000.0), clock=lambda: next(ticks))
    for i in range(60):
        m.record_decision(0.6 + i / 200, 20.0 + i, 10.0, i % 3 != 0)
        m.record_execution(i % 4 != 0, 10.0 + i, 4.0, 100.0 + 10 * i)
        m.record_opportunity(0.3 + (i % 5) / 10, executed=i % 2 == 0)
    for _ in range(25):
        m.record_execution(False, 0.0, 30.0, 900.0)  # every alert fires...
    for _ in range(40):
        m.record_execution(True, 1_234.5, 3.0, 200.0)  # ...and some clear
    m.record_model_update("route_success", 0.64, 0.7, n_samples=500)
    m.record_model_update("rl_policy", 0.58, training_status="training")
    with serve_app(create_app(m)) as server:
        yield server.url, m
    m.close()


def _run_chromium(chromium: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert result.returncode == 0, (
        f"chromium failed ({result.returncode}):\n{result.stderr[-3000:]}"
    )
    return result


def _to_fixed(value: float, digits: int) -> str:
    """JavaScript's Number.prototype.toFixed (ties away from zero on the exact binary value)."""
    quantum = Decimal(1).scaleb(-digits)
    return str(Decimal(value).quantize(quantum, rounding=ROUND_HALF_UP))


def _display(value: Any, fmt: str) -> str:
    if value is None:
        return "—"
    if fmt == "int":
        return str(value)
    if fmt == "pct":
        return _to_fixed(value * 100, 1) + "%"
    if fmt == "usd":
        whole, frac = _to_fixed(abs(value), 2).split(".")
        return ("-$" if value < 0 else "$") + f"{int(whole):,}.{frac}"
    if fmt == "ms":
        return _to_fixed(value, 1) + " ms"
    return _to_fixed(value, {"num2": 2, "num3": 3}[fmt])


class _Dom(HTMLParser):
    """What the test reads back from the rendered page."""

    def __init__(self) -> None:
        super().__init__()
        self.body: dict[str, str | None] = {}
        self.cards: list[dict[str, str | None]] = []
        self.alert_rows: list[str] = []
        self.paths: dict[str, list[str]] = {}
        self.rects: dict[str, int] = {}
        self.thresholds: dict[str, int] = {}
        self.status = ""
        self._svg: str | None = None
        self._text_into: dict[str, str | None] | None = None
        self._in_status = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "body":
            self.body = a
        elif tag == "svg":
            self._svg = a.get("id")
        elif tag == "path" and a.get("class") == "series" and self._svg:
            self.paths.setdefault(self._svg, []).append(a.get("d") or "")
        elif tag == "rect" and a.get("class") == "alert-span" and self._svg:
            self.rects[self._svg] = self.rects.get(self._svg, 0) + 1
        elif tag == "line" and a.get("class") == "threshold" and self._svg:
            self.thresholds[self._svg] = self.thresholds.get(self._svg, 0) + 1
        elif tag == "tr" and a.get("data-alert-kind"):
            self.alert_rows.append(a["data-alert-kind"] or "")
        elif tag == "div" and a.get("class") == "value":
            card = {**a, "text": ""}
            self.cards.append(card)
            self._text_into = card
        elif tag == "span" and a.get("id") == "status":
            self._in_status = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "svg":
            self._svg = None
        elif tag == "div":
            self._text_into = None
        elif tag == "span":
            self._in_status = False

    def handle_data(self, data: str) -> None:
        if self._text_into is not None:
            self._text_into["text"] = (self._text_into["text"] or "") + data
        if self._in_status:
            self.status += data


def _lookup(obj: Any, dotted: str) -> Any:
    for key in dotted.split("."):
        obj = obj[key]
    return obj


def test_dashboard_renders_the_apis_figures_and_charts(
    chromium: str, served: tuple[str, MetricsCollector], tmp_path: Path
) -> None:
    url, _ = served
    summary = httpx.get(f"{url}/api/ai/metrics", timeout=10).json()
    alerts = httpx.get(f"{url}/api/ai/alerts", timeout=10).json()
    assert alerts["active"] and len(alerts["alerts"]) > len(alerts["active"])  # both states

    result = _run_chromium(chromium, tmp_path / "profile", "--dump-dom", f"{url}/")
    dom = _Dom()
    dom.feed(result.stdout)

    assert dom.body.get("data-state") == "ready", result.stdout[-2000:]
    assert dom.status.startswith("updated ")
    keyed = [c for c in dom.cards if c.get("data-key")]
    assert len(keyed) >= 18
    for card in keyed:
        key, fmt = card["data-key"] or "", card["data-fmt"] or ""
        expected = _lookup(summary, key)
        shown = card["data-value"]
        if expected is None:
            assert shown == "null", key
        else:
            assert float(shown or "nan") == pytest.approx(expected, rel=1e-12, abs=0.0), key
        assert (card["text"] or "").strip() == _display(expected, fmt), key
    [active] = [c for c in dom.cards if c.get("id") == "active-alerts"]
    assert active["text"] == str(len(alerts["active"]))

    # a few figures spelled out, so that a formatting slip cannot hide in both helpers
    by_key = {c["data-key"]: (c["text"] or "").strip() for c in keyed}
    assert by_key["decisions.total_decisions"] == "60"
    assert by_key["execution.total_executions"] == "125"
    assert by_key["execution.net_profit_usd"].startswith("$")
    assert "," in by_key["execution.total_profit_usd"]  # thousands separator
    assert by_key["decisions.win_rate"].endswith("%")

    assert dom.alert_rows == [a["kind"] for a in alerts["alerts"]]
    for chart in ("chart-profit", "chart-winrate", "chart-gas"):
        assert dom.paths.get(chart) and dom.paths[chart][0].startswith("M"), chart
    assert dom.thresholds.get("chart-winrate") == 1
    assert dom.thresholds.get("chart-gas") == 1
    assert dom.rects.get("chart-alerts") == len(alerts["alerts"])


def test_dashboard_screenshot_is_saved(
    chromium: str, served: tuple[str, MetricsCollector], tmp_path: Path
) -> None:
    url, _ = served
    # into tmp_path: a test run must not rewrite the tracked reports/figures/dashboard.png
    shot = tmp_path / "dashboard.png"
    _run_chromium(
        chromium,
        tmp_path / "profile",
        f"--screenshot={shot}",
        "--window-size=1280,900",
        f"{url}/",
    )
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1280, 900)
    assert len(data) > 20_000  # charts and figures, not a blank page


class _RunnerPanel(HTMLParser):
    """Text and attributes of the Runner panel's elements, by id."""

    def __init__(self) -> None:
        super().__init__()
        self.attrs: dict[str, dict[str, str | None]] = {}
        self.text: dict[str, str] = {}
        self._open: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        ident = a.get("id")
        if ident and ident.startswith("runner-"):
            self.attrs[ident] = a
            self.text[ident] = ""
        self._open.append(ident if ident and ident.startswith("runner-") else None)

    def handle_endtag(self, tag: str) -> None:
        if self._open:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        for ident in self._open:
            if ident is not None and ident != "runner-panel":
                self.text[ident] += data


def test_dashboard_shows_the_runners_stage_and_status(
    chromium: str, serve_app: Any, tmp_path: Path
) -> None:
    from datetime import UTC, datetime, timedelta

    from arbkit.live.safety import StageGate, StagePolicy, StageTracker

    live = tmp_path / "live"
    gates = StagePolicy(simulation=StageGate(), dry_run=StageGate(), small_positions=StageGate())
    StageTracker(live / "stage.json", gates).promote()
    status = {
        "state": "running",
        "updated_utc": (datetime.now(UTC) - timedelta(minutes=5)).isoformat(),
        "stage": "dry_run",
        "mode": "dry_run",
        "policy": "ai",
        "ai_model": "route_success",
        "halted": True,
        "halt_reason": "drawdown 0.3 > 0.2",
        "stopped": "",
        "last_block": 19_000_123,
        "blocks_processed": 42,
        "ai_decisions_made": 7,
        "ai_trades_sent": 3,
        "net_profit_quote": -0.125,
        "head_to_decision_ms": 12.4,
    }
    (live / "status.json").write_text(json.dumps(status))
    with MetricsCollector() as m, serve_app(create_app(m, runner_dir=live)) as server:
        result = _run_chromium(chromium, tmp_path / "profile", "--dump-dom", f"{server.url}/")
    panel = _RunnerPanel()
    panel.feed(result.stdout)

    text = {k: v.strip() for k, v in panel.text.items()}
    assert panel.attrs["runner-panel"].get("data-runner-state") == "ready", result.stdout[-2000:]
    assert panel.attrs["runner-panel"].get("data-stage") == "dry_run"
    assert panel.attrs["runner-panel"].get("data-stale") == "true"
    assert text["runner-stage"] == "DRY RUN"
    assert text["runner-mode"] == "DRY-RUN"
    assert "hidden" not in panel.attrs["runner-stale"]
    assert text["runner-state"] == "running"
    assert text["runner-age"] == "5 min ago"
    assert text["runner-halted"] == "HALTED: drawdown 0.3 > 0.2"
    assert text["runner-last-block"] == "19000123"
    assert text["runner-decisions"] == "7 / 3"
    assert text["runner-net-profit"] == "-0.1250"
    assert text["runner-latency"] == "12.4 ms"
    assert text["runner-unlock"].startswith("dry_run -> small_positions locked: records 0 < 50")
    assert text["runner-run-stage"] == "dry_run"
    assert text["runner-track"] == "0 outcomes, net 0.0000"
    assert text["runner-error"] == ""
