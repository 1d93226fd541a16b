from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from arbkit.cli import app


def test_backtest_command_writes_report_markdown_and_metrics(tmp_path: Path) -> None:
    report = tmp_path / "bt" / "index.html"
    metrics = tmp_path / "bt" / "metrics.json"
    res = CliRunner().invoke(
        app,
        [
            "backtest",
            "--policy",
            "rule",
            "--policy",
            "foresight",
            "--seeds",
            "2",
            "--n-blocks",
            "600",
            "--train-blocks",
            "200",
            "--report",
            str(report),
            "--metrics",
            str(metrics),
        ],
    )
    assert res.exit_code == 0, res.output
    assert report.exists() and report.with_suffix(".md").exists()
    data = json.loads(metrics.read_text())
    assert set(data) == {"rule", "foresight"} and data["rule"]["seeds"] == 2


def test_backtest_command_rejects_an_unknown_policy(tmp_path: Path) -> None:
    res = CliRunner().invoke(
        app,
        [
            "backtest",
            "--policy",
            "magic",
            "--seeds",
            "1",
            "--n-blocks",
            "200",
            "--report",
            str(tmp_path / "r.html"),
        ],
    )
    assert res.exit_code == 1
    assert "magic" in res.output


def test_real_data_report_does_not_overwrite_the_simulated_one(
    tmp_path: Path, real_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(
        app,
        [
            "backtest",
            "--policy",
            "rule",
            "--seeds",
            "1",
            "--real-data",
            str(real_data),
            "--train-blocks",
            "1000",
        ],
    )
    assert res.exit_code == 0, res.output
    assert (tmp_path / "reports/backtest/real.html").exists()
    assert not (tmp_path / "reports/backtest/index.html").exists()
