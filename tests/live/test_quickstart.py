"""The guide's quick start: config/ai_config.json, environment variables, the two scripts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from arbkit.config import AIConfigManager

ROOT = Path(__file__).resolve().parents[2]


def test_the_guides_config_file_loads_as_written() -> None:
    cfg = AIConfigManager(config_path=ROOT / "config" / "ai_config.json", environ={}).get_config()
    assert cfg.ai_mode == "conservative" and cfg.enable_ai_system
    assert cfg.advanced_decider.confidence_threshold == 0.75
    assert cfg.advanced_decider.kelly_fraction == 0.25
    assert cfg.flash_runner.enable_ai_scoring and cfg.flash_runner.ai_min_confidence == 0.75
    assert cfg.flash_runner.enable_execution is False  # dry-run unless asked
    assert cfg.flash_runner.portfolio_value_eth == 100.0


def test_the_guides_environment_variables_override_the_file() -> None:
    env = {"AI_ENABLED": "false", "AI_MODE": "aggressive", "AI_MIN_CONFIDENCE": "0.6"}
    cfg = AIConfigManager(config_path=ROOT / "config" / "ai_config.json", environ=env).get_config()
    assert cfg.enable_ai_system is False
    assert cfg.ai_mode == "aggressive"
    assert cfg.flash_runner.ai_min_confidence == 0.6


def _run(args: list[str], tmp: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "ARBKIT_METRICS_DB": ":memory:",
        "ARBKIT_EXECUTIONS_DIR": str(tmp / "executions"),
    }
    env.pop("ARBKIT_PRIVATE_KEY", None)
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_ai_integration_example_runs(tmp_path: Path, anvil_tooling: None) -> None:
    done = _run(["examples/ai_integration_example.py"], tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert "AI Decisions Made:" in out and "Execution Rate:" in out
    assert "chain checks 101" in out  # 101 blocks played on the embedded chain, all checked
    assert "Win Rate:" in out and "Net Profit:" in out


def test_run_live_arbitrage_script_takes_the_guides_flags(
    tmp_path: Path, anvil_tooling: None
) -> None:
    done = _run(
        [
            "run_live_arbitrage.py",
            "--enable-ai",
            "--ai-mode",
            "conservative",
            "--blocks",
            "8",
            "--stage-file",
            str(tmp_path / "stage.json"),
            "--models",
            str(tmp_path / "models"),
        ],
        tmp_path,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "dry_run run, stage simulation, policy ai_decider" in " ".join(done.stdout.split())
    assert (tmp_path / "status.json").exists()  # for the dashboard's runner panel


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_the_command_cleanly(
    tmp_path: Path, anvil_tooling: None, sig: signal.Signals
) -> None:
    env = {
        **os.environ,
        "ARBKIT_METRICS_DB": ":memory:",
        "ARBKIT_EXECUTIONS_DIR": str(tmp_path / "executions"),
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "arbkit.cli",
            "live",
            "--no-enable-ai",
            "--blocks",
            "5000",
            "--stage-file",
            str(tmp_path / "stage.json"),
            "--json",
            str(tmp_path / "summary.json"),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:  # wait until blocks are being played
        if line.startswith("block "):
            break
    time.sleep(1.0)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-2000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["stopped"] == f"kill switch: signal {sig.name}"
    assert 0 < summary["blocks"] < 5000
    status = json.loads((tmp_path / "status.json").read_text())
    assert status["state"] == "stopped" and status["blocks_processed"] == summary["blocks"]
    json.loads((tmp_path / "stage.json").read_text())  # whole, not half-written
