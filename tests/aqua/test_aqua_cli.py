"""`arbkit aqua watch` on the embedded chain: every event into the ledger, resumed by checkpoint."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from arbkit.aqua.chain import AquaChain
from arbkit.chain import AnvilNode
from arbkit.chain.solidity import deploy_compiled
from arbkit.cli import app
from arbkit.market.sim import simulate_market

runner = CliRunner()


@pytest.fixture(scope="module")
def node(anvil_tooling: None) -> Iterator[AnvilNode]:
    with AnvilNode() as n:
        yield n


@pytest.fixture(scope="module")
def played(node: AnvilNode) -> tuple[pl.DataFrame, int]:
    """A busy simulated Aqua market played on the chain; returns its rows and the head."""
    history = simulate_market(
        {"aqua_ship_rate": 1 / 10, "aqua_dock_rate": 1 / 30, "aqua_trade_rate": 0.2},
        seed=4,
        n_blocks=80,
    )
    w3, deployer = node.w3, node.accounts[0]
    tokens = {
        sym: deploy_compiled(w3, deployer, "ArbkitToken", f"t {sym}", sym, dec, 10**30, deployer)
        for sym, dec in (("WETH", 18), ("USDC", 6), ("USDT", 6))
    }
    driver = AquaChain(w3, {s: c.address for s, c in tokens.items()})
    driver.replay(history)
    return history.aqua_events, int(w3.eth.block_number)


def _watch(node: AnvilNode, *args: str) -> dict[str, object]:
    out = Path(args[args.index("--json") + 1])
    result = runner.invoke(app, ["aqua", "watch", "--rpc-url", node.url, "--quiet", *args])
    assert result.exit_code == 0, result.output
    return json.loads(out.read_text())


def test_watch_reads_every_event_into_the_ledger_and_resumes(
    node: AnvilNode, played: tuple[pl.DataFrame, int], tmp_path: Path
) -> None:
    rows, head = played
    ck, out = tmp_path / "ck.json", tmp_path / "summary.json"
    common = ["--checkpoint", str(ck), "--json", str(out), "--batch-blocks", "7"]
    # stop part way, then resume from the checkpoint: together, every event once
    first = _watch(
        node, "--from-block", "0", "--to-block", str(head), "--max-events", "40", *common
    )
    second = _watch(node, "--to-block", str(head), *common)
    events = rows["event"].value_counts()
    expected = dict(zip(events["event"].to_list(), events["count"].to_list(), strict=True))
    got: dict[str, int] = {}
    for part in (first, second):
        for k, v in dict(part["events"]).items():  # type: ignore[call-overload]
            got[k] = got.get(k, 0) + v
    assert sum(dict(first["events"]).values()) == 40  # type: ignore[call-overload]
    assert got == expected
    assert second["rejected_logs"] == 0
    # the second run's ledger began mid-stream: strategies shipped before are "unknown"
    assert second["unknown"] > 0  # type: ignore[operator]
    full = _watch(node, "--from-block", "0", "--to-block", str(head), "--json", str(out))
    assert full["events"] == expected
    assert full["unknown"] == 0
    ships = rows.filter(pl.col("event") == "Shipped").height
    docks = rows.filter(pl.col("event") == "Docked").height
    assert (full["strategies"], full["docked"]) == (ships, docks)
    assert full["trades"] == rows.filter(pl.col("event") == "Pulled").height


def test_watch_refuses_a_node_of_another_chain(node: AnvilNode, tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["aqua", "watch", "--rpc-url", node.url, "--chain-id", "1", "--to-block", "1"]
    )
    assert result.exit_code == 2
    assert "chain id" in result.output
