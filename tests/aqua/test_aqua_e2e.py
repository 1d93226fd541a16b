"""End to end on the embedded chain: whales ship, trade and dock; the runner follows in dry-run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from arbkit.aqua import AquaFollowingPolicy, AquaOpportunity, AquaOpportunityConfig
from arbkit.backtest import Simulator
from arbkit.backtest.policies import RuleBaseline
from arbkit.live import FlashArbitrageRunner
from arbkit.live.config import AIFlashArbConfig
from arbkit.market.history import MarketHistory
from arbkit.market.sim import simulate_market

# a busy Aqua market: a ship every ~15 blocks, docks after ~40, informed makers
BUSY = {
    "aqua_informed_share": 1.0,
    "aqua_ship_rate": 1 / 15,
    "aqua_dock_rate": 1 / 40,
    "aqua_trade_rate": 0.2,
}
CFG = AquaOpportunityConfig(enable_copy_trading=True, holding_blocks=20, strategy_cooldown_s=0.0)


@pytest.fixture(scope="module")
def history() -> MarketHistory:
    return simulate_market(BUSY, seed=5, n_blocks=150)


def _config(tmp: Path, **safety: object) -> AIFlashArbConfig:
    return AIFlashArbConfig.model_validate(
        {
            "stage_file": str(tmp / "stage.json"),
            "write_execution_log": False,
            "safety": {"kill_file": str(tmp / "kill"), **safety},
        }
    )


def _key(o: AquaOpportunity) -> tuple[object, ...]:
    # the chain's transactions have their own hashes and log indexes; the rest is equal
    return (o.kind, o.execution, o.side, o.block, o.maker, o.strategy_hash, o.size_usd, o.score)


@pytest.fixture(scope="module")
def dry_run(
    anvil_tooling: None, history: MarketHistory, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FlashArbitrageRunner]:
    tmp = tmp_path_factory.mktemp("aqua_e2e")
    runner = FlashArbitrageRunner(config=_config(tmp), history=history, aqua=CFG)
    runner.summary = runner.run_sync()  # type: ignore[attr-defined]
    yield runner


def test_chain_logs_carry_every_aqua_event_of_the_history(
    dry_run: FlashArbitrageRunner, history: MarketHistory
) -> None:
    stats = dry_run.summary.stats  # type: ignore[attr-defined]
    assert dry_run.summary.stopped == "completed"  # type: ignore[attr-defined]
    assert stats["aqua_events"] == history.aqua_events.height
    assert stats["aqua_rejected_logs"] == 0
    ledger = dry_run.aqua_policy.detector.ledger("ethereum")
    ev = history.aqua_events
    # every ship, trade and dock happened on chain and reached the ledger
    strategies = ledger.strategies()
    assert len(strategies) == ev.filter(pl.col("event") == "Shipped").height
    assert sum(s.docked for s in strategies) == ev.filter(pl.col("event") == "Docked").height
    assert len(ledger.trades) == ev.filter(pl.col("event") == "Pulled").height
    assert all(s.status in ("shipped", "docked") for s in strategies)


def test_dry_run_follows_whales_as_the_backtest_does(
    dry_run: FlashArbitrageRunner, history: MarketHistory
) -> None:
    """Chain-decoded events give the backtest's opportunities, orders and P&L."""
    summary = dry_run.summary  # type: ignore[attr-defined]
    policy = AquaFollowingPolicy(CFG, arbitrage=RuleBaseline())
    result = Simulator(policy, history, dry_run.backtest_config()).run_sync()
    live_opps = dry_run.aqua_policy.detector.opportunities
    assert [_key(o) for o in live_opps] == [_key(o) for o in policy.detector.opportunities]
    kinds = {o.kind for o in live_opps}
    assert {"whale_entry", "whale_exit"} <= kinds
    cols = ["block", "kind", "net_profit_quote"]
    assert summary.trades.select(cols).equals(result.trades.select(cols))
    assert summary.metrics["net_profit"] == pytest.approx(float(result["net_profit"]), abs=1e-9)
    spot = summary.trades.filter(pl.col("kind").str.starts_with("spot"))
    assert spot.height == summary.stats["spot_orders"] > 0
    assert policy.log == dry_run.aqua_policy.log


def test_spot_orders_pass_the_runner_caps(
    anvil_tooling: None, history: MarketHistory, tmp_path: Path
) -> None:
    cap = 2_500.0
    cfg = _config(tmp_path, risk_caps={"max_position_size_quote": cap})
    runner = FlashArbitrageRunner(config=cfg, history=history, aqua=CFG)
    summary = runner.run_sync()
    refused = summary.stats["refused_by_caps"]
    asked = [o.size_usd for o in runner.aqua_policy.detector.opportunities if o.side == "buy"]
    assert any(a > cap for a in asked)
    assert refused.get("max_position_size_quote", 0) > 0
    buys = summary.trades.filter(pl.col("kind") == "spot_buy")
    assert buys.height > 0
    # a buy's amount_in is the USDC it paid (6 decimals): within the cap and its slippage
    paid = (buys["amount_in"] / 1e6).to_list()
    assert max(paid) <= cap * (1 + CFG.max_slippage_bps / 1e4)
