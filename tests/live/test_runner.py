"""The live runners on anvil: a dry-run pays what the backtest pays; --execute lands trades."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from arbkit.backtest import RuleBaseline, Simulator
from arbkit.chain import AnvilNode
from arbkit.cli import app
from arbkit.decider import AdvancedAIConfig, AdvancedAIDecider
from arbkit.live import (
    AIFlashArbConfig,
    AIFlashArbitrageRunner,
    FlashArbitrageRunner,
    LiveEngine,
)
from arbkit.live.safety import ExecutionNotAllowedError
from arbkit.market.history import MarketHistory
from arbkit.market.sim import simulate_market
from arbkit.metrics import MetricsCollector


@pytest.fixture(scope="module", autouse=True)
def _anvil(anvil_tooling: None) -> None:
    """Every test here runs a chain."""


@pytest.fixture(scope="module")
def history() -> MarketHistory:
    # rivals less active than the calibrated default: about ten trades in 120 blocks
    return simulate_market({"arb_activity": 0.1}, seed=4, n_blocks=120)


def _config(tmp: Path, **kw: object) -> AIFlashArbConfig:
    return AIFlashArbConfig(
        stage_file=str(tmp / "stage.json"),
        execution_log_dir=str(tmp / "executions"),
        models_dir=str(tmp / "models"),
        **kw,  # type: ignore[arg-type]
    )


def test_dry_run_pays_exactly_what_the_backtest_pays(
    history: MarketHistory, tmp_path: Path
) -> None:
    metrics = MetricsCollector()
    runner = FlashArbitrageRunner(config=_config(tmp_path), history=history, metrics=metrics)
    summary = runner.run_sync()
    backtest = Simulator(RuleBaseline(), history, runner.backtest_config()).run_sync()
    assert summary.stopped == "completed" and summary.blocks == history.n_blocks
    assert summary.trades.height >= 5
    assert summary.trades.equals(backtest.trades)
    assert summary.metrics["net_profit"] == backtest["net_profit"]
    s = summary.stats
    # the chain showed the history's state at every block and scanned the same candidates
    assert s["chain_checks"] == history.n_blocks and s["scan_mismatches"] == 0
    assert s["simulations"] == s["simulation_matches_prediction"] == summary.trades.height
    assert s["mode"] == "dry_run" and s["stage"] == "simulation"
    # outcomes reached the metrics and the execution log, as dry-run
    got = metrics.get_summary()
    assert got["execution"]["total_executions"] == summary.trades.height
    log = pl.read_parquet(summary.execution_log)
    assert log["source"].unique().to_list() == ["dry_run"]
    assert log.height == summary.trades.height


def test_ai_runner_dry_run_equals_the_decider_backtest(
    history: MarketHistory, tmp_path: Path
) -> None:
    cfg = _config(tmp_path, ai_min_confidence=0.5)
    probe = FlashArbitrageRunner(config=cfg, history=history)
    bt = probe.backtest_config()

    def decider() -> AdvancedAIDecider:
        # the six factors alone, and no minimum profit (simulated edges are a few USD)
        return AdvancedAIDecider(
            AdvancedAIConfig(confidence_threshold=0.5, min_profit_eth=0.0, enable_ml_scoring=False)
        )

    runner = AIFlashArbitrageRunner(
        config=cfg, history=history, decider=decider(), metrics=MetricsCollector()
    )
    summary = runner.run_sync()
    from arbkit.backtest.policies import DeciderPolicy

    policy = DeciderPolicy(decider(), name="ai_decider", size_boost=cfg.high_confidence_size_boost)
    backtest = Simulator(policy, history, bt).run_sync()
    assert summary.trades.height >= 5
    assert summary.trades.equals(backtest.trades)
    assert summary.stats["ai_decisions_made"] == summary.trades.height


def test_execute_lands_trades_that_pay_the_predicted_profit(
    history: MarketHistory, tmp_path: Path
) -> None:
    metrics = MetricsCollector()
    runner = FlashArbitrageRunner(
        config=_config(tmp_path, enable_execution=True), history=history, metrics=metrics
    )
    summary = runner.run_sync()
    s = summary.stats
    assert summary.mode == "live" and summary.stopped == "completed"
    assert s["chain_trades"] >= 5
    assert s["chain_matches_prediction"] == s["chain_trades"]
    assert s["chain_checks"] == history.n_blocks and s["scan_mismatches"] == 0
    trades = summary.trades
    assert trades.height == s["chain_trades"]
    assert trades["success"].all() and (trades["reason"] == "ok").all()
    assert metrics.get_summary()["execution"]["total_executions"] == trades.height
    log = pl.read_parquet(summary.execution_log)
    assert log["source"].unique().to_list() == ["live"]


def test_an_rpc_url_takes_the_same_path_and_refuses_to_send_below_small_positions(
    history: MarketHistory, tmp_path: Path
) -> None:
    embedded = FlashArbitrageRunner(config=_config(tmp_path / "a"), history=history)
    want = embedded.run_sync()
    with AnvilNode() as node:
        cfg = _config(tmp_path / "b", rpc_url=node.url)
        runner = FlashArbitrageRunner(config=cfg, history=history, metrics=MetricsCollector())
        got = runner.run_sync()
        assert got.trades.equals(want.trades)
        assert got.stage == "dry_run"  # an outside node counts towards the dry-run stage
        live = FlashArbitrageRunner(
            config=_config(tmp_path / "b", rpc_url=node.url, enable_execution=True),
            history=history,
        )
        with pytest.raises(ExecutionNotAllowedError, match="small_positions"):
            live.run_sync()


def test_symbols_filter_trades_only_those_symbols(history: MarketHistory, tmp_path: Path) -> None:
    runner = FlashArbitrageRunner(config=_config(tmp_path), history=history)
    summary = runner.run_sync(["DAI/USDC"])  # no such pool
    assert summary.trades.height == 0
    assert summary.stats["ai_decisions_made"] == 0


def test_stats_hold_the_guides_keys(history: MarketHistory, tmp_path: Path) -> None:
    runner = AIFlashArbitrageRunner(config=_config(tmp_path, blocks=5), history=history)
    summary = runner.run_sync()
    stats = runner.get_ai_stats()
    for key in ("ai_decisions_made", "ai_execution_rate", "stage", "mode", "halted"):
        assert key in stats
    assert summary.blocks == 5
    assert stats["ai_model"].startswith("none promoted")  # tmp registry: nothing promoted


def test_live_engine_runs_an_rl_policy(history: MarketHistory, tmp_path: Path) -> None:
    from arbkit.rl import RLArbitragePolicy, RLPolicyConfig

    def policy() -> RLArbitragePolicy:  # exploring (epsilon 0.5) so it trades
        return RLArbitragePolicy(RLPolicyConfig(epsilon_start=0.5, epsilon_end=0.5, seed=3))

    engine = LiveEngine(policy=policy(), config=_config(tmp_path), history=history)
    summary = engine.run_sync()
    assert summary.blocks == history.n_blocks and summary.stopped == "completed"
    backtest = Simulator(policy(), history, engine.backtest_config()).run_sync()
    assert summary.trades.height > 0
    assert summary.trades.equals(backtest.trades)  # spot and flash orders alike


def test_cli_dry_run_prints_blocks_and_a_summary(tmp_path: Path) -> None:
    out = tmp_path / "summary.json"
    result = CliRunner().invoke(
        app,
        [
            "live",
            "--enable-ai",
            "--ai-mode",
            "conservative",
            "--blocks",
            "12",
            "--stage-file",
            str(tmp_path / "stage.json"),
            "--models",
            str(tmp_path / "models"),
            "--json",
            str(out),
        ],
        env={"ARBKIT_METRICS_DB": ":memory:", "ARBKIT_EXECUTIONS_DIR": str(tmp_path)},
    )
    assert result.exit_code == 0, result.output
    assert result.output.count("block 2000") == 12
    assert "dry_run run, stage simulation" in result.output
    summary = json.loads(out.read_text())
    assert summary["blocks"] == 12 and summary["stats"]["mode"] == "dry_run"


def test_price_fetcher_quotes_replace_the_historys(history: MarketHistory, tmp_path: Path) -> None:
    quotes = history.cex_quotes.with_columns(pl.col("bid") * 1.25, pl.col("ask") * 1.25)
    runner = FlashArbitrageRunner(
        price_fetcher=quotes, config=_config(tmp_path, blocks=40), history=history
    )
    summary = runner.run_sync()
    assert runner.chain is not None and runner.chain.history.cex_quotes.equals(quotes)
    assert summary.stopped == "completed" and summary.stats["scan_mismatches"] == 0
    base = FlashArbitrageRunner(config=_config(tmp_path / "b", blocks=40), history=history)
    plain = base.run_sync()
    # ETH priced 25 % higher: gas and WETH profits are valued differently
    assert summary.trades.height and plain.trades.height
    assert summary.trades["gas_paid_quote"].sum() != plain.trades["gas_paid_quote"].sum()


def test_live_engine_sends_flash_routes_only(history: MarketHistory, tmp_path: Path) -> None:
    from arbkit.rl import RLArbitragePolicy, RLPolicyConfig

    policy = RLArbitragePolicy(RLPolicyConfig(epsilon_start=0.5, epsilon_end=0.5, seed=3))
    engine = LiveEngine(
        policy=policy, config=_config(tmp_path, enable_execution=True), history=history
    )
    summary = engine.run_sync()
    s = summary.stats
    assert s["spot_orders_not_sent"] > 0  # buys and sells were asked for, none sent
    assert summary.trades["cand_id"].is_not_null().all()
    assert s["chain_trades"] == summary.trades.height == s["chain_matches_prediction"]


def test_a_policys_bid_is_sent_and_paid_on_chain(history: MarketHistory, tmp_path: Path) -> None:
    # the rule bids 30 % of its expected net as a coinbase transfer, with no tip
    rule = RuleBaseline(bid_share=0.3, priority_fee_wei=0)
    engine = LiveEngine(
        policy=rule, config=_config(tmp_path, enable_execution=True), history=history
    )
    summary = engine.run_sync()
    s = summary.stats
    ok = summary.trades.filter(pl.col("reason") == "ok")
    assert ok.height >= 3 and (ok["bribe_paid_quote"] > 0).all()
    assert s["chain_trades"] == s["chain_matches_prediction"] == summary.trades.height
    # the dry-run of the same policy is the backtest, bids included
    engine = LiveEngine(
        policy=RuleBaseline(bid_share=0.3, priority_fee_wei=0),
        config=_config(tmp_path / "dry"),
        history=history,
    )
    dry = engine.run_sync()
    bt = Simulator(
        RuleBaseline(bid_share=0.3, priority_fee_wei=0), history, engine.backtest_config()
    ).run_sync()
    assert dry.trades.equals(bt.trades) and (dry.trades["bribe_paid_quote"] > 0).any()
    assert dry.metrics["net_profit"] == bt["net_profit"]
