"""AquaFollowingPolicy in the backtest: causal, reproducible, within its options."""

from __future__ import annotations

import polars as pl
import pytest

from arbkit.aqua import AquaFollowingPolicy, AquaOpportunityConfig
from arbkit.aqua.policy import FLASH_KINDS
from arbkit.backtest import BacktestConfig, Simulator
from arbkit.backtest.policies import RuleBaseline
from arbkit.market.history import MarketHistory
from arbkit.market.sim import simulate_market

BUSY = {
    "aqua_informed_share": 1.0,
    "aqua_ship_rate": 1 / 30,
    "aqua_dock_rate": 1 / 100,
    "aqua_trade_rate": 0.1,
}
CFG = AquaOpportunityConfig(
    enable_copy_trading=True,
    holding_blocks=30,
    strategy_cooldown_s=0.0,
    flash_loan_min_usd=20_000.0,
)


@pytest.fixture(scope="module")
def history() -> MarketHistory:
    return simulate_market(BUSY, seed=11, n_blocks=1_500)


def _run(policy: AquaFollowingPolicy, history: MarketHistory, seed: int = 3) -> pl.DataFrame:
    return Simulator(policy, history, BacktestConfig(seed=seed, progress=False)).run_sync().trades


def test_decisions_at_a_block_use_nothing_after_it(history: MarketHistory) -> None:
    cut = 900
    full, head = AquaFollowingPolicy(CFG), AquaFollowingPolicy(CFG)
    _run(full, history)
    _run(head, history.head(cut))
    last = int(history.block_numbers[cut - 2])  # the head's last decision block with a next
    assert head.detector is not None and full.detector is not None
    before = [o for o in full.detector.opportunities if o.block <= last]
    assert before == [o for o in head.detector.opportunities if o.block <= last]
    assert len(before) > 5
    assert [e for e in full.log if e[0] <= last] == [e for e in head.log if e[0] <= last]


def test_same_history_and_seed_give_the_same_run(history: MarketHistory) -> None:
    a, b = _run(AquaFollowingPolicy(CFG), history), _run(AquaFollowingPolicy(CFG), history)
    assert a.equals(b)
    assert a.height > 0


def test_whale_following_trades_spot_and_flash_loan_counter_trades_only(
    history: MarketHistory,
) -> None:
    policy = AquaFollowingPolicy(CFG)
    trades = _run(policy, history)
    kinds = set(trades["kind"].to_list())
    assert kinds & {"spot_buy", "spot_sell"}
    arb = trades.filter(~pl.col("kind").str.starts_with("spot"))
    assert set(arb["kind"].to_list()) <= FLASH_KINDS
    acted = {e[-1] for e in policy.log}
    assert "buy" in acted
    # every buy is held for holding_blocks, then what is left of it is sold
    assert policy.detector is not None
    buys = [o for o in policy.detector.opportunities if o.side == "buy"]
    assert all(o.size_usd <= CFG.max_position_size_usd for o in buys)


def test_copy_trading_off_by_default_means_no_copies(history: MarketHistory) -> None:
    policy = AquaFollowingPolicy()
    trades = _run(policy, history)
    assert policy.detector is not None
    opps = policy.detector.opportunities
    assert opps and all(o.kind == "whale_exit" for o in opps)
    assert policy.detector.stats["dropped"].get("copy_trading_off", 0) > 0
    assert trades.filter(pl.col("kind") == "spot_sell").height == 0


def test_slippage_protection_refuses_a_fill_worse_than_allowed(history: MarketHistory) -> None:
    strict = CFG.model_copy(update={"max_slippage_bps": 0.0})
    policy = AquaFollowingPolicy(strict)
    trades = _run(policy, history)
    assert "slippage" in {e[-1] for e in policy.log}
    loose = _run(AquaFollowingPolicy(CFG), history)
    # a buy passes at 0 bps only where the pool is at or below the market (fee included)
    n_strict = trades.filter(pl.col("kind") == "spot_buy").height
    assert n_strict < loose.filter(pl.col("kind") == "spot_buy").height


def test_arbitrage_on_top_keeps_the_rules_trades(history: MarketHistory) -> None:
    rule = _run(RuleBaseline(), history)  # type: ignore[arg-type]
    both = _run(AquaFollowingPolicy(CFG, arbitrage=RuleBaseline()), history)
    rule_blocks = set(rule["block"].to_list())
    arb = both.filter(~pl.col("kind").str.starts_with("spot"))
    # the rule's trades are all there (counter-trades only take blocks it leaves free)
    assert rule_blocks <= set(arb["block"].to_list())
