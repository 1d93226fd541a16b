from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from arbkit.cli import app
from arbkit.market.history import MarketHistory


def test_data_simulate_writes_a_loadable_history(tmp_path: Path) -> None:
    out = tmp_path / "h"
    res = CliRunner().invoke(
        app, ["data", "simulate", "--seed", "4", "--n-blocks", "120", "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    assert "120 blocks" in res.output
    h = MarketHistory.load(out)
    assert h.n_blocks == 120 and h.meta["seed"] == 4


def test_data_calibrate_writes_the_report(tmp_path: Path, real_data: Path) -> None:
    res = CliRunner().invoke(
        app,
        [
            "data",
            "calibrate",
            "--data-dir",
            str(real_data),
            "--n-blocks",
            "3000",
            "--out",
            str(tmp_path),
        ],
    )
    assert res.exit_code == 0, res.output
    text = (tmp_path / "calibration.md").read_text()
    assert "| gap_bps[USDC-WETH] | median |" in text
    assert (tmp_path / "gap_bps.png").stat().st_size > 1000


def test_data_calibrate_without_real_data_says_where(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["data", "calibrate", "--data-dir", str(tmp_path / "nope")])
    assert res.exit_code == 1
    assert "nope" in res.output
