from __future__ import annotations

import http.server
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arbkit.metrics import (
    AlertKind,
    AlertThresholds,
    MetricsCollector,
    MetricsConfig,
    WebhookNotifier,
)
from arbkit.metrics.alerts import ModelAlertKind

Only = Callable[..., AlertThresholds]
# Raise and clear on the first crossing: what the predicates test checks.
IMMEDIATE: dict[str, float] = {
    "for_s": 0.0,
    "clear_for_s": 0.0,
    "win_rate_clear_band": 0.0,
    "gas_share_clear_band": 0.0,
    "success_rate_clear_band": 0.0,
    "drawdown_clear_band": 0.0,
}


class FakeClock(Protocol):
    now: float

    def __call__(self) -> float: ...

    def advance(self, seconds: float) -> None: ...


def _events(m: MetricsCollector, *stream: tuple[bool, float, float]) -> list[list[str]]:
    """Record (success, gross, gas) executions; return the transitions of each call."""
    return [
        [f"{t.event}:{t.alert.kind.value}" for t in m.record_execution(ok, gross, gas, 100.0)]
        for ok, gross, gas in stream
    ]


WIN = (True, 10.0, 1.0)
LOSS = (True, 1.0, 2.0)


def test_guide_thresholds_are_the_defaults() -> None:
    t = MetricsConfig().thresholds
    assert (t.min_win_rate, t.max_gas_share, t.min_success_rate, t.max_drawdown) == (
        0.45,
        0.30,
        0.70,
        0.20,
    )


def test_win_rate_alert_fires_when_it_drops_below_45_percent_and_clears(only: Only) -> None:
    m = MetricsCollector(MetricsConfig(thresholds=only(min_win_rate=0.45)))
    # 9 wins then losses: 9/20 = 45.0 % exactly is no breach, 9/21 is.
    events = _events(m, *[WIN] * 9, *[LOSS] * 11)
    assert all(e == [] for e in events)
    assert _events(m, LOSS) == [["raised:win_rate"]]  # 9/21 = 42.9 %
    assert _events(m, LOSS, LOSS) == [[], []]  # still breached: no second raise
    assert _events(m, WIN) == [[]]  # 10/24 = 41.7 %
    assert _events(m, WIN) == [[]]  # 11/25 = 44 %
    assert _events(m, WIN) == [["cleared:win_rate"]]  # 12/26 = 46.2 %
    [alert] = m.get_alerts()
    assert alert.kind is AlertKind.WIN_RATE
    assert not alert.active
    assert alert.raised_execution == 21
    assert alert.cleared_execution == 26
    assert alert.value == pytest.approx(9 / 21)
    assert alert.cleared_value == pytest.approx(12 / 26)
    assert alert.threshold == 0.45


def test_success_rate_alert_fires_below_70_percent_and_clears(only: Only) -> None:
    m = MetricsCollector(MetricsConfig(thresholds=only(min_success_rate=0.70)))
    ok, failed = (True, 5.0, 1.0), (False, 0.0, 1.0)
    assert _events(m, *[ok] * 7, failed, failed, failed) == [[]] * 10  # 7/10 = 70 %
    assert _events(m, failed) == [["raised:success_rate"]]  # 7/11
    assert _events(m, ok, ok) == [[], []]  # 8/12 = 66.7 %, 9/13 = 69.2 %
    assert _events(m, ok) == [["cleared:success_rate"]]  # 10/14 = 71.4 %


def test_success_rate_clears_exactly_when_back_at_70_percent(only: Only) -> None:
    m = MetricsCollector(MetricsConfig(thresholds=only(min_success_rate=0.70)))
    ok, failed = (True, 5.0, 1.0), (False, 0.0, 1.0)
    assert _events(m, failed) == [["raised:success_rate"]]  # 0/1
    assert _events(m, ok) == [[]]  # 1/2
    assert _events(m, ok) == [[]]  # 2/3
    assert _events(m, ok) == [["cleared:success_rate"]]  # 3/4 = 75 %


def test_gas_share_alert_fires_above_30_percent_of_profit_and_clears(only: Only) -> None:
    m = MetricsCollector(MetricsConfig(thresholds=only(max_gas_share=0.30)))
    assert _events(m, (True, 100.0, 20.0), (True, 100.0, 40.0)) == [[], []]  # 60/200 = 30 %
    assert _events(m, (True, 100.0, 31.0)) == [["raised:gas_share"]]  # 91/300
    assert _events(m, (True, 100.0, 30.0)) == [[]]  # 121/400 = 30.25 %
    assert _events(m, (True, 100.0, 0.0)) == [["cleared:gas_share"]]  # 121/500
    active = m.get_active_alerts()
    assert active == []


def test_gas_without_gross_profit_breaches_the_gas_share(only: Only) -> None:
    m = MetricsCollector(MetricsConfig(thresholds=only(max_gas_share=0.30)))
    assert _events(m, (False, 0.0, 5.0)) == [["raised:gas_share"]]
    [alert] = m.get_active_alerts()
    assert alert.value is None
    assert "gross profit" in alert.message
    assert _events(m, (True, 100.0, 10.0)) == [["cleared:gas_share"]]  # 15/100


def test_drawdown_alert_fires_above_20_percent_of_peak_equity_and_clears(only: Only) -> None:
    config = MetricsConfig(starting_capital_usd=1_000.0, thresholds=only(max_drawdown=0.20))
    m = MetricsCollector(config)
    assert _events(m, (True, 100.0, 0.0)) == [[]]  # equity 1100, the peak
    assert _events(m, (True, -220.0, 0.0)) == [[]]  # 880: exactly 20 %
    assert _events(m, (False, 0.0, 1.0)) == [["raised:drawdown"]]  # 879
    assert _events(m, (False, 0.0, 100.0)) == [[]]  # 779: deeper, same breach
    assert _events(m, (True, 100.0, 0.0)) == [[]]  # 879
    assert m.get_active_alerts()[0].kind is AlertKind.DRAWDOWN
    assert _events(m, (True, 1.0, 0.0)) == [["cleared:drawdown"]]  # 880: 20 %, not above
    [alert] = m.get_alerts()
    assert alert.value == pytest.approx(221 / 1100)


def test_rate_alerts_wait_for_min_executions(only: Only) -> None:
    m = MetricsCollector(MetricsConfig(thresholds=only(min_win_rate=0.45, min_executions=5)))
    assert _events(m, LOSS, LOSS, LOSS, LOSS) == [[]] * 4
    assert _events(m, LOSS) == [["raised:win_rate"]]


def test_rolling_window_lets_old_losses_slide_out(only: Only) -> None:
    thresholds = only(min_win_rate=0.45, window_executions=10, min_executions=10)
    m = MetricsCollector(MetricsConfig(thresholds=thresholds))
    assert _events(m, *[LOSS] * 10)[-1] == ["raised:win_rate"]
    events = _events(m, *[WIN] * 5)
    # the window holds 6 losses + 4 wins after 4 wins, 5 + 5 after 5
    assert events == [[], [], [], [], ["cleared:win_rate"]]
    summary = m.get_summary()
    assert summary["decisions"]["win_rate"] == pytest.approx(5 / 15)  # the summary is cumulative


def test_default_thresholds_raise_every_kind_once_on_a_bad_stream(clock: FakeClock) -> None:
    m = MetricsCollector(MetricsConfig(starting_capital_usd=100.0), clock=clock)
    raised: list[AlertKind | ModelAlertKind] = []
    for i in range(1, 31):
        clock.advance(2.0)
        for t in m.record_execution(False, 0.0, 2.0, 1.0):
            raised.append(t.alert.kind)
            # the rate alerts breach from the 10th execution (min_executions) and are
            # raised 30 s later; the drawdown breaches at the 11th (22 % of 100 USD) and,
            # with no hold by default, is raised at once
            assert i == (11 if t.alert.kind is AlertKind.DRAWDOWN else 25)
    assert sorted(raised) == sorted(AlertKind)
    assert {a.kind for a in m.get_active_alerts()} == set(AlertKind)
    assert m.get_summary()["alerts"]["total_raised"] == 4


def test_a_restart_keeps_active_alerts_and_does_not_raise_them_again(
    tmp_path: Path, only: Only
) -> None:
    config = MetricsConfig(db_path=tmp_path / "m.sqlite", thresholds=only(min_win_rate=0.45))
    with MetricsCollector(config) as first:
        assert _events(first, LOSS) == [["raised:win_rate"]]
    with MetricsCollector(config) as second:
        assert [a.kind for a in second.get_active_alerts()] == [AlertKind.WIN_RATE]
        assert _events(second, LOSS) == [[]]
        assert _events(second, WIN, WIN) == [[], ["cleared:win_rate"]]  # 1/3, then 2/4
        assert len(second.get_alerts()) == 1


def test_disabling_a_threshold_clears_its_active_alert(tmp_path: Path, only: Only) -> None:
    db = tmp_path / "m.sqlite"
    with MetricsCollector(MetricsConfig(db_path=db, thresholds=only(min_win_rate=0.45))) as m:
        assert _events(m, LOSS) == [["raised:win_rate"]]
    with MetricsCollector(MetricsConfig(db_path=db, thresholds=only())) as m:
        assert _events(m, LOSS) == [["cleared:win_rate"]]
        assert _events(m, *[LOSS] * 5) == [[]] * 5


def test_raises_are_logged_as_warnings_and_clears_as_info(
    only: Only, caplog: pytest.LogCaptureFixture
) -> None:
    m = MetricsCollector(MetricsConfig(thresholds=only(min_win_rate=0.45)))
    with caplog.at_level(logging.INFO, logger="arbkit.metrics"):
        _events(m, LOSS, WIN, WIN)
    records = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "arbkit.metrics"]
    assert records[0][0] == logging.WARNING
    assert "win rate 0.0% vs minimum 45.0%" in records[0][1]
    assert records[1][0] == logging.INFO
    assert "cleared: win_rate" in records[1][1]
    assert len(records) == 2


Outcome = tuple[bool, int, int]
outcomes = st.lists(
    st.tuples(st.booleans(), st.integers(-50, 100), st.integers(0, 40)), min_size=1, max_size=60
)


def _reference_breaches(history: list[Outcome], t: AlertThresholds, capital: float) -> set[str]:
    """The alert definitions, recomputed from scratch on the whole history."""
    window = history if t.window_executions is None else history[-t.window_executions :]
    n = len(window)
    breached: set[str] = set()
    cum = peak = 0.0
    for _, gross, gas in history:
        cum += gross - gas
        peak = max(peak, cum)
    if (peak - cum) / (capital + peak) > t.max_drawdown:
        breached.add("drawdown")
    if n >= t.min_executions:
        if sum(g - c > 0 for _, g, c in window) / n < t.min_win_rate:
            breached.add("win_rate")
        if sum(ok for ok, _, _ in window) / n < t.min_success_rate:
            breached.add("success_rate")
        gross_sum, gas_sum = sum(g for _, g, _ in window), sum(c for _, _, c in window)
        if (gross_sum > 0 and gas_sum / gross_sum > t.max_gas_share) or (
            gross_sum <= 0 and gas_sum > 0
        ):
            breached.add("gas_share")
    return breached


@settings(max_examples=60, deadline=None)
@given(
    stream=outcomes,
    window=st.one_of(st.none(), st.integers(1, 12)),
    min_executions=st.integers(1, 6),
)
def test_alerts_track_the_threshold_predicates_exactly_once_per_crossing(
    stream: list[Outcome], window: int | None, min_executions: int
) -> None:
    capital = 500.0
    thresholds = AlertThresholds(
        window_executions=window, min_executions=min_executions, **IMMEDIATE
    )
    m = MetricsCollector(MetricsConfig(thresholds=thresholds, starting_capital_usd=capital))
    history: list[Outcome] = []
    active: set[str] = set()
    raises = 0
    for outcome in stream:
        history.append(outcome)
        events = m.record_execution(outcome[0], float(outcome[1]), float(outcome[2]), 1.0)
        expected = _reference_breaches(history, thresholds, capital)
        got = {f"{e.event}:{e.alert.kind.value}" for e in events}
        assert got == {f"raised:{k}" for k in expected - active} | {
            f"cleared:{k}" for k in active - expected
        }
        raises += len(expected - active)
        active = expected
        assert {a.kind.value for a in m.get_active_alerts()} == active
    assert len(m.get_alerts(limit=10_000)) == raises


# -- webhook -------------------------------------------------------------------------------


class _Hook:
    """A local HTTP server that records the JSON it is POSTed; it can be made to hang."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.release = threading.Event()
        self.release.set()
        self.received = threading.Event()
        hook = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.bodies.append(json.loads(body))
                hook.received.set()
                hook.release.wait(10.0)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/s3cr3t-token"


@pytest.fixture
def hook() -> Iterator[_Hook]:
    h = _Hook()
    h.thread.start()
    yield h
    h.release.set()
    h.server.shutdown()
    h.server.server_close()


def test_webhook_receives_raise_and_clear_in_order(hook: _Hook, only: Only) -> None:
    config = MetricsConfig(thresholds=only(min_win_rate=0.45), webhook_url=hook.url)
    with MetricsCollector(config) as m:
        _events(m, LOSS, WIN, WIN)
        assert m.flush_webhooks(5.0)
    assert [(b["event"], b["alert"]["kind"]) for b in hook.bodies] == [
        ("raised", "win_rate"),
        ("cleared", "win_rate"),
    ]
    raised, cleared = hook.bodies
    assert raised["source"] == "arbkit.metrics"
    assert raised["alert"]["active"] is True
    assert raised["alert"]["threshold"] == 0.45
    assert cleared["alert"]["active"] is False
    assert cleared["alert"]["id"] == raised["alert"]["id"]


def test_a_hanging_webhook_never_blocks_recording(
    hook: _Hook, only: Only, caplog: pytest.LogCaptureFixture
) -> None:
    hook.release.clear()  # the server accepts the request and never answers in time
    config = MetricsConfig(
        thresholds=only(min_win_rate=0.45), webhook_url=hook.url, webhook_timeout_s=0.3
    )
    m = MetricsCollector(config)
    with caplog.at_level(logging.WARNING, logger="arbkit.metrics"):
        started = time.monotonic()
        assert _events(m, LOSS) == [["raised:win_rate"]]
        for _ in range(50):
            m.record_execution(True, 1.0, 2.0, 1.0)
        assert time.monotonic() - started < 0.3 * 0.9  # well within one webhook timeout
        assert hook.received.wait(5.0)
        assert m.flush_webhooks(5.0)  # the request timed out and was dropped
    hook.release.set()
    m.close()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("alert webhook" in w and "failed" in w for w in warnings)
    assert not any("s3cr3t" in w for w in warnings)  # the URL's token is redacted


def test_an_unreachable_webhook_is_logged_and_skipped(
    only: Only, caplog: pytest.LogCaptureFixture
) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    config = MetricsConfig(
        thresholds=only(min_win_rate=0.45),
        webhook_url=f"http://127.0.0.1:{port}/x",
        webhook_timeout_s=1.0,
    )
    with caplog.at_level(logging.WARNING, logger="arbkit.metrics"), MetricsCollector(config) as m:
        _events(m, LOSS)
        assert m.flush_webhooks(5.0)
        assert m.get_summary()["execution"]["total_executions"] == 1
    assert any("alert webhook" in r.getMessage() for r in caplog.records)


def test_a_full_webhook_queue_drops_notifications_without_blocking(hook: _Hook) -> None:
    hook.release.clear()
    notifier = WebhookNotifier(hook.url, timeout_s=5.0, queue_size=1)
    assert notifier.notify({"n": 1})
    assert hook.received.wait(5.0)  # the worker holds n=1 in flight
    started = time.monotonic()
    results = [notifier.notify({"n": i}) for i in range(2, 6)]
    assert time.monotonic() - started < 0.1
    assert results[0] is True  # queued behind the request in flight
    assert results[1:] == [False, False, False]
    assert notifier.failed == 3
    hook.release.set()
    assert notifier.flush(5.0)
    notifier.close()
    assert [b["n"] for b in hook.bodies] == [1, 2]
    assert notifier.delivered == 2
    assert notifier.notify({"n": 9}) is False  # closed
