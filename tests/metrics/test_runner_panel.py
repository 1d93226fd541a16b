"""``GET /api/ai/runner`` and the dashboard's Runner panel: the live runner's stage and status."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from arbkit.live.config import AIFlashArbConfig
from arbkit.live.runner import FlashArbitrageRunner
from arbkit.live.safety import (
    OutcomeRecord,
    SafetyConfig,
    StageGate,
    StagePolicy,
    StageTracker,
    TradingStage,
)
from arbkit.metrics import MetricsCollector
from arbkit.metrics import cli as metrics_cli
from arbkit.metrics.service import LIVE_DIR_ENV, STATUS_STALE_AFTER_S, create_app

with warnings.catch_warnings():
    # starlette's TestClient still works on httpx; it only nudges towards httpx2
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

REPO_ROOT = Path(__file__).resolve().parents[2]

# Every gate open: promote() always succeeds.
OPEN = StagePolicy(simulation=StageGate(), dry_run=StageGate(), small_positions=StageGate())


@pytest.fixture
def metrics() -> Iterator[MetricsCollector]:
    m = MetricsCollector()
    yield m
    m.close()


@pytest.fixture
def live_dir(tmp_path: Path) -> Path:
    return tmp_path / "live"


@pytest.fixture
def client(metrics: MetricsCollector, live_dir: Path) -> TestClient:
    return TestClient(create_app(metrics, runner_dir=live_dir))


def _write_status_as_the_runner_does(live_dir: Path, **stats: Any) -> dict[str, Any]:
    """Let a real (never started) runner write its status.json; return what it wrote."""
    config = AIFlashArbConfig(
        stage_file=str(live_dir / "stage.json"), safety=SafetyConfig(stages=OPEN)
    )
    runner = FlashArbitrageRunner(config=config)
    runner.stats.update(stats)
    runner._write_status("running")
    assert runner.status_file == live_dir / "status.json"
    body: dict[str, Any] = json.loads(runner.status_file.read_text())
    return body


def _write_raw_status(live_dir: Path, updated: datetime, **fields: Any) -> None:
    live_dir.mkdir(parents=True, exist_ok=True)
    body = {"state": "running", "updated_utc": updated.isoformat(), **fields}
    (live_dir / "status.json").write_text(json.dumps(body))


def test_runner_endpoint_without_files_reports_simulation_and_no_status(
    client: TestClient, live_dir: Path
) -> None:
    response = client.get("/api/ai/runner")
    assert response.status_code == 200
    body = response.json()
    assert body["runner_dir"] == str(live_dir)
    assert body["stage"] == "simulation"
    assert body["stage_entered_utc"] is None
    assert body["track_record"]["count"] == 0
    assert body["track_record"]["success_rate"] is None
    assert body["next_stage"] == "dry_run"
    assert body["unlocked"] is False
    assert body["unlock"].startswith("simulation -> dry_run locked: records 0 < 100")
    assert body["status"] is None
    assert body["status_age_s"] is None
    assert body["stale"] is False
    assert body["stale_after_s"] == STATUS_STALE_AFTER_S
    assert body["error"] is None
    assert not live_dir.exists()  # the service only reads: no stage file created


def test_runner_endpoint_reads_a_promoted_stage_and_the_runners_status(
    client: TestClient, live_dir: Path
) -> None:
    tracker = StageTracker(live_dir / "stage.json", OPEN)
    assert tracker.promote() is TradingStage.DRY_RUN
    tracker.record(
        OutcomeRecord(
            timestamp=datetime.now(UTC),
            success=True,
            net_profit_quote=0.25,
            stage=TradingStage.DRY_RUN,
        )
    )
    written = _write_status_as_the_runner_does(
        live_dir,
        last_block=19_000_123,
        blocks_processed=42,
        ai_decisions_made=7,
        ai_trades_sent=3,
        net_profit_quote=-0.125,
        head_to_decision_ms=12.5,
        halted=True,
        halt_reason="daily loss 1.2 > 1.0",
    )

    body = client.get("/api/ai/runner").json()

    assert body["error"] is None
    assert body["stage"] == "dry_run"
    assert body["stage_entered_utc"] == tracker.entered_at.isoformat()
    assert body["track_record"]["count"] == 1
    assert body["track_record"]["successes"] == 1
    assert body["track_record"]["net_profit_quote"] == 0.25
    assert body["track_record"]["success_rate"] == 1.0
    assert body["next_stage"] == "small_positions"
    # reviewed against the default policy (50 records, 24 h in dry-run), not OPEN
    assert body["unlocked"] is False
    assert body["unlock"].startswith("dry_run -> small_positions locked: records 1 < 50")
    assert "time in stage" in body["unlock"]

    status = body["status"]
    assert status == written
    assert status["state"] == "running"
    assert status["stage"] == "dry_run"
    assert status["mode"] == "dry_run"
    assert status["last_block"] == 19_000_123
    assert status["halted"] is True
    assert status["halt_reason"] == "daily loss 1.2 > 1.0"
    assert 0.0 <= body["status_age_s"] < 30.0
    assert body["stale"] is False


def test_an_old_running_status_is_stale_but_an_old_stopped_one_is_not(
    client: TestClient, live_dir: Path
) -> None:
    old = datetime.now(UTC) - timedelta(seconds=STATUS_STALE_AFTER_S + 120)
    _write_raw_status(live_dir, old)
    body = client.get("/api/ai/runner").json()
    assert body["status_age_s"] > STATUS_STALE_AFTER_S + 100
    assert body["stale"] is True

    _write_raw_status(live_dir, old, state="stopped", stopped="kill switch: operator")
    body = client.get("/api/ai/runner").json()
    assert body["status"]["state"] == "stopped"
    assert body["stale"] is False


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ('{"state": "running", "updated_utc"', "not valid JSON (line 1"),
        ("[1, 2]", "must hold a JSON object, got list"),
        (b"\xff\xfe", "cannot read"),
    ],
)
def test_a_malformed_status_file_gets_a_200_answer_naming_it(
    client: TestClient, live_dir: Path, content: str | bytes, problem: str
) -> None:
    live_dir.mkdir()
    path = live_dir / "status.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    response = client.get("/api/ai/runner")
    assert response.status_code == 200
    body = response.json()
    assert body["error"].startswith(f"{path}: ")
    assert problem in body["error"]
    assert body["status"] is None
    assert body["stage"] == "simulation"  # the rest of the answer still stands


def test_a_status_without_a_usable_timestamp_is_kept_with_an_error(
    client: TestClient, live_dir: Path
) -> None:
    live_dir.mkdir()
    # NaN is what json.dumps writes for a non-finite stat; a JSON answer cannot carry it
    (live_dir / "status.json").write_text(
        '{"state": "running", "updated_utc": "yesterday", "ai_success_rate": NaN}'
    )
    body = client.get("/api/ai/runner").json()
    assert "updated_utc = 'yesterday'" in body["error"]
    assert body["status"] == {
        "state": "running",
        "updated_utc": "yesterday",
        "ai_success_rate": None,
    }
    assert body["status_age_s"] is None
    assert body["stale"] is True


def test_a_malformed_stage_file_gets_a_200_answer_naming_it(
    client: TestClient, live_dir: Path
) -> None:
    live_dir.mkdir()
    (live_dir / "stage.json").write_text('{"stage": "moon"}')
    _write_raw_status(live_dir, datetime.now(UTC), mode="dry_run")
    response = client.get("/api/ai/runner")
    assert response.status_code == 200
    body = response.json()
    assert body["error"].startswith(f"{live_dir / 'stage.json'}: invalid stage state")
    assert body["stage"] is None
    assert body["track_record"] is None
    assert body["unlock"] is None
    assert body["status"]["mode"] == "dry_run"  # the status is still shown
    assert (live_dir / "stage.json").read_text() == '{"stage": "moon"}'


def test_runner_dir_defaults_to_the_environment_then_live_under_the_working_directory(
    metrics: MetricsCollector, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(LIVE_DIR_ENV, str(tmp_path / "elsewhere"))
    assert create_app(metrics).state.runner_dir == tmp_path / "elsewhere"
    monkeypatch.delenv(LIVE_DIR_ENV)
    monkeypatch.chdir(tmp_path)
    assert create_app(metrics).state.runner_dir == tmp_path / "live"


def test_serve_passes_live_dir_to_the_app(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen: list[Path] = []
    monkeypatch.setattr("uvicorn.run", lambda app, **kwargs: seen.append(app.state.runner_dir))
    app = typer.Typer()
    app.command("serve")(metrics_cli.serve)
    app.command("other")(lambda: None)
    runner = CliRunner()
    assert "--live-dir" in runner.invoke(app, ["serve", "--help"]).output
    result = runner.invoke(
        app,
        ["serve", "--db-path", str(tmp_path / "m.db"), "--live-dir", str(tmp_path / "run")],
    )
    assert result.exit_code == 0, result.output
    assert seen == [tmp_path / "run"]


def test_dashboard_has_the_runner_panel(client: TestClient) -> None:
    html = client.get("/").text
    assert 'id="runner-panel"' in html
    assert "<h2>Runner</h2>" in html
    for element in (
        "runner-stage",
        "runner-mode",
        "runner-stale",
        "runner-state",
        "runner-age",
        "runner-halted",
        "runner-last-block",
        "runner-decisions",
        "runner-net-profit",
        "runner-latency",
        "runner-unlock",
        "runner-error",
    ):
        assert f'id="{element}"' in html, element
    assert 'fetchJson("api/ai/runner")' in html
    assert '"DRY-RUN"' in html and '"LIVE"' in html


def test_creating_the_app_does_not_import_the_chain_stack(tmp_path: Path) -> None:
    code = textwrap.dedent(
        """
        import sys
        from arbkit.metrics import MetricsCollector
        from arbkit.metrics.service import create_app
        create_app(MetricsCollector(), runner_dir="live")
        print([m for m in ("web3", "eth_account", "arbkit.live") if m in sys.modules])
        """
    )
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(REPO_ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
        check=True, timeout=60,
    )  # fmt: skip
    assert out.stdout.strip() == "[]"
