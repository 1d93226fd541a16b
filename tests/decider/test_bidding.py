"""The win-probability model and the bid of ``pick_best``."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arbkit.backtest.config import BacktestConfig
from arbkit.backtest.engine import get_replay
from arbkit.backtest.learners import bid_table, train_win_model
from arbkit.decider import AdvancedAIConfig, AdvancedAIDecider, AICandidate, MarketRegime
from arbkit.decider.bidding import (
    BID_FEATURE,
    WIN_FEATURE_NAMES,
    BidConfig,
    WinProbabilityModel,
    bid_feature,
    bribe_feature,
    candidate_bids,
    choose_bids,
    draw_exploration_bids,
    expected_rival_bid_eth,
    share_to_eth,
)
from arbkit.errors import ConfigError, DataError, ModelIntegrityError
from arbkit.features import ROUTE_FEATURE_NAMES
from arbkit.market.history import MarketHistory
from arbkit.market.sim import simulate_market

SMALL = BidConfig(
    model=BidConfig().model.model_copy(update={"n_estimators": 80, "min_child_samples": 40})
)


@lru_cache(maxsize=1)
def _history() -> MarketHistory:
    return simulate_market(seed=31, n_blocks=4_000)


@lru_cache(maxsize=1)
def _table() -> pl.DataFrame:
    return bid_table(_history(), seed=3, bids=SMALL)


@lru_cache(maxsize=1)
def _model() -> WinProbabilityModel:
    model = WinProbabilityModel(SMALL)
    model.train_model(_table(), seed=1)
    return model


def test_the_bid_table_sends_every_candidate_with_random_bids_at_the_bid_tip() -> None:
    table = _table()
    replay = get_replay(_history(), BacktestConfig())
    assert table.height == SMALL.explore_repeats * replay.candidates.height
    assert set(WIN_FEATURE_NAMES) <= set(table.columns)
    shares = table["bid_share"].to_numpy()
    assert 0.05 < (shares == 0).mean() < 0.2 and shares.max() <= 1.0
    assert np.allclose(table[BID_FEATURE].to_numpy(), bid_feature(shares, SMALL.share_floor))
    # the same seed gives the same table; another seed other bids
    assert bid_table(_history(), seed=3, bids=SMALL).equals(table)
    assert not bid_table(_history(), seed=4, bids=SMALL)["bid_share"].equals(table["bid_share"])
    # more transfer, more wins (the labels come from the one execution model)
    hi = table.filter(pl.col("bid_share") > 0.5)["success"].mean()
    lo = table.filter(pl.col("bid_share") < 0.02)["success"].mean()
    assert hi > lo


def test_predict_grid_is_the_model_on_every_row_and_bid() -> None:
    model = _model()
    t = _table()[:300]
    x = t.select(ROUTE_FEATURE_NAMES).to_numpy()
    net, price = t["expected_net_quote"].to_numpy(), t["eth_price_quote"].to_numpy()
    rival = t["rival_bid_eth"].to_numpy()
    grid = np.asarray(SMALL.grid_share)
    fast = model.predict_grid(x, grid, net, price, rival)
    for j, share in enumerate(grid):
        eth = share_to_eth(np.full(len(x), share), net, price)
        rows = np.column_stack(
            [
                x,
                np.full(len(x), bid_feature(share, SMALL.share_floor)),
                bribe_feature(eth, rival, SMALL.bribe_floor),
            ]
        )
        assert np.allclose(fast[:, j], model.predict_proba(rows), atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(0, 10_000),
    st.lists(st.floats(0.0, 0.99), min_size=2, max_size=12),
)
def test_a_higher_bid_never_lowers_the_models_p_win(row: int, shares: list[float]) -> None:
    model = _model()
    t = _table()
    i = row % t.height
    x = t.select(ROUTE_FEATURE_NAMES).to_numpy()[i : i + 1]
    grid = np.sort(np.asarray(shares))
    net, price, rival = t["expected_net_quote"][i], t["eth_price_quote"][i], t["rival_bid_eth"][i]
    p = model.predict_grid(x, grid, net, price, rival)[0]
    assert np.all(np.diff(p) >= 0)
    assert np.all((p >= 0) & (p <= 1))


def test_the_model_is_calibrated_on_held_out_history() -> None:
    # the decider's own training: 3 days of blocks, the latest 20% held out
    _, report = train_win_model(simulate_market(seed=10_000, n_blocks=21_600), seed=5)
    m = report["metrics"]
    assert report["n_holdout"] > 5_000
    assert m["ece"] <= 0.05, m
    assert m["auc"] > 0.65 and m["brier"] < m["brier_base_rate"]
    assert sum(report["counts"]) == report["n_holdout"]


def test_the_model_round_trips_hash_verified(tmp_path: Path) -> None:
    model = _model()
    path = model.save_model(tmp_path / "win_model.txt")
    again = WinProbabilityModel(SMALL)
    again.load_model(path)
    t = _table()[:50]
    x = t.select(ROUTE_FEATURE_NAMES).to_numpy()
    args = (
        t["expected_net_quote"].to_numpy(),
        t["eth_price_quote"].to_numpy(),
        t["rival_bid_eth"].to_numpy(),
    )
    grid = np.asarray(SMALL.grid_share)
    assert np.array_equal(again.predict_grid(x, grid, *args), model.predict_grid(x, grid, *args))
    path.write_bytes(path.read_bytes().replace(b"tree", b"tref", 1))
    with pytest.raises(ModelIntegrityError):
        WinProbabilityModel(SMALL).load_model(path)


def test_choose_bids_maximises_the_expected_net() -> None:
    grid = np.array([0.0, 0.1, 0.5])
    p = np.array([[0.2, 0.6, 0.9], [0.5, 0.5, 0.5], [0.1, 0.2, 0.3]])
    net = np.array([10.0, 10.0, 1.0])
    revert = np.array([1.0, 1.0, 2.0])
    j, pw, ev = choose_bids(p, grid, net, revert)
    brute = p * (1 - grid)[None, :] * net[:, None] - (1 - p) * revert[:, None]
    assert np.array_equal(j, np.argmax(brute, axis=1))
    assert np.allclose(ev, brute.max(axis=1)) and np.allclose(pw, p[np.arange(3), j])
    assert j[1] == 0  # a bid that buys nothing is not paid


def test_exploration_and_conversion() -> None:
    cfg = BidConfig()
    s = draw_exploration_bids(20_000, cfg, np.random.default_rng(0))
    assert 0.07 < (s == 0).mean() < 0.13
    nz = s[s > 0]
    assert nz.min() >= cfg.explore_min_share and nz.max() <= cfg.explore_max_share
    eth = share_to_eth([0.5, 0.5, 0.5], [100.0, -1.0, 100.0], [2_000.0, 2_000.0, np.nan])
    assert eth.tolist() == [0.025, 0.0, 0.0]
    rival = expected_rival_bid_eth(
        [8_618.0, 4 * 8_618.0, 8_618.0], [100.0, 100.0, 0.1], 2_000.0, cfg
    )
    assert rival[0] == pytest.approx(0.00192)
    assert rival[1] == pytest.approx(0.00192 * 4**0.505)
    assert rival[2] == pytest.approx(0.5 * 0.1e-4 * 8_618.0 / 2_000.0)  # capped at its worth
    with pytest.raises(ValueError, match="grid_share"):
        BidConfig(grid_share=(0.1, 0.2))
    with pytest.raises(ValueError, match="grid_share"):
        BidConfig(grid_share=(0.0, 0.5, 1.0))


def _candidates(n: int, seed: int) -> list[AICandidate]:
    rng = np.random.default_rng(seed)
    return [
        AICandidate(
            "ETH/USDC",
            edge_bps=float(rng.uniform(3, 30)),
            notional_quote=float(rng.uniform(2_000, 20_000)),
            gas_cost_quote=0.05,
            slippage_quote=float(rng.uniform(0, 2)),
            confidence=0.8,
            route=(f"p{i}", f"q{i}"),
            kind="dex_dex",
            eth_price_quote=3_000.0,
        )
        for i in range(n)
    ]


def test_pick_best_returns_the_bid_and_the_single_path_agrees() -> None:
    cfg = AdvancedAIConfig(min_profit_eth=0.0, confidence_threshold=0.1)
    decider = AdvancedAIDecider(cfg, win_model=_model())
    decider.update_regime(MarketRegime(0.2, 0.6, 0.4, "stable", eth_price_quote=3_000.0))
    cands = _candidates(40, seed=2)
    d = decider.pick_best(cands, portfolio_value_eth=100.0)
    assert d is not None
    assert d.priority_fee_wei == 0 and d.p_win is not None and d.confidence == d.p_win
    assert d.bribe_wei >= 0 and d.bribe_wei % 10**9 == 0
    # its transfer is one of the grid's shares of the candidate's expected net
    net0 = d.candidate.notional_quote * d.candidate.edge_bps * 1e-4 - d.candidate.slippage_quote
    net0 -= d.candidate.gas_cost_quote + d.candidate.flash_fee_quote
    shares = np.asarray(SMALL.grid_share)
    assert np.min(np.abs(d.bribe_wei / 1e18 * 3_000.0 / net0 - shares)) < 1e-6
    one = decider.pick_best([d.candidate], portfolio_value_eth=100.0)
    assert one is not None and one.bribe_wei == d.bribe_wei and one.p_win == d.p_win
    plain = AdvancedAIDecider(cfg).pick_best(cands, portfolio_value_eth=100.0)
    assert plain is None or (plain.bribe_wei == 0 and plain.priority_fee_wei is None)


def test_an_untrained_win_model_is_refused() -> None:
    from arbkit.decider.errors import DeciderError

    with pytest.raises(DeciderError, match="not trained"):
        AdvancedAIDecider(win_model=WinProbabilityModel())


def test_candidate_bids_are_causal_and_priced_at_the_bid_tip() -> None:
    h = _history()
    replay = get_replay(h, BacktestConfig())
    cands = replay.candidates
    bids = candidate_bids(cands, h, _model(), run_tip_wei=replay.priority_fee_wei)
    assert len(bids) == cands.height and min(bids) >= 0 and max(bids) > 0
    # no look-ahead: the bids of the first half do not change when the future is cut off
    cut = int(h.block_numbers[h.n_blocks // 2])
    head = cands.filter(pl.col("block") < cut)
    early = candidate_bids(
        head, h.slice(0, h.n_blocks // 2), _model(), run_tip_wei=replay.priority_fee_wei
    )
    assert early == bids[: head.height]
    with pytest.raises(DataError):
        replay.with_bids(bids[:-1])


def test_replay_with_bids_keeps_the_candidates_and_pays_the_bids() -> None:
    h = _history()
    replay = get_replay(h, BacktestConfig())
    bids = [10**15] * replay.candidates.height
    bidding = replay.with_bids(bids, priority_fee_wei=0)
    assert bidding.candidates["cand_id"].equals(replay.candidates["cand_id"])
    assert bidding.priority_fee_wei == 0 and bidding.default_bribe_wei(3) == 10**15
    draws = replay.draws(0)
    out = bidding.default_outcomes(draws)
    paid = out.filter(pl.col("reason") == "ok")["bribe_paid_wei"]
    assert paid.len() > 0 and (paid == 10**15).all()
    assert replay.default_bribe_wei(3) == 0


def test_bad_bid_settings_are_refused() -> None:
    from arbkit.backtest.policies import DeciderPolicy, RuleBaseline

    with pytest.raises(ConfigError, match="bid_share"):
        RuleBaseline(bid_share=1.0)
    with pytest.raises(ConfigError, match="priority_fee_wei"):
        RuleBaseline(priority_fee_wei=-1)
    with pytest.raises(ConfigError, match="bid_share"):
        DeciderPolicy(AdvancedAIDecider(), bid_share=-0.1)
