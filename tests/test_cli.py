from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from arbkit.cli import app
from arbkit.market.example import load_example_market
from arbkit.market.tables import write_table

runner = CliRunner()


def test_scan_prints_the_example_market_table() -> None:
    result = runner.invoke(app, ["scan"])
    assert result.exit_code == 0, result.output
    assert "block 20000000" in result.output and "candidates after gas and fees" in result.output
    for kind in ("dex_dex", "triangular", "cex_dex"):
        assert kind in result.output


def test_scan_json_and_flash_source() -> None:
    result = runner.invoke(app, ["scan", "--json", "--top", "3", "--flash-source", "aave"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["block"] == 20_000_000 and len(payload["candidates"]) == 3
    flash = [c for c in payload["candidates"] if c["kind"] != "cex_dex"]
    assert flash and all(c["flash_source"] == "aave" and int(c["flash_fee"]) > 0 for c in flash)
    nets = [c["net_profit_quote"] for c in payload["candidates"]]
    assert nets == sorted(nets, reverse=True)


def test_scan_reads_a_parquet_pool_states_file(tmp_path: Path) -> None:
    states, _, _ = load_example_market()
    path = write_table(states, tmp_path / "pools.parquet")
    result = runner.invoke(app, ["scan", "--pools", str(path), "--base-fee-gwei", "5", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["base_fee_wei"] == 5 * 10**9
    assert {c["kind"] for c in payload["candidates"]} == {"dex_dex", "triangular"}


def test_scan_bad_inputs_exit_2_with_a_clear_message(tmp_path: Path) -> None:
    result = runner.invoke(app, ["scan", "--block", "5"])
    assert result.exit_code == 2 and "block 5 is not in the pool states" in result.output
    bad = tmp_path / "pools.csv"
    bad.write_text(
        "block,pool,venue,token0,token1,reserve0,reserve1,fee_bps\n1,p,v,USDC,WETH,-5,10,30\n"
    )
    result = runner.invoke(app, ["scan", "--pools", str(bad)])
    assert result.exit_code == 2 and "reserve0" in result.output and "'p'" in result.output
    result = runner.invoke(app, ["scan", "--pools", str(tmp_path / "missing.txt")])
    assert result.exit_code == 2 and "expected a .csv or .parquet" in result.output


def test_scan_real_prints_survivors_per_pair(real_data: Path) -> None:
    result = runner.invoke(
        app, ["scan-real", "--data-dir", str(real_data), "--base-fee-gwei", "30"]
    )
    assert result.exit_code == 0, result.output
    for pair in ("usdc_weth", "dai_weth", "weth_usdt", "wbtc_weth"):
        assert pair in result.output
