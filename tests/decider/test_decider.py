from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arbkit.decider import (
    FACTOR_NAMES,
    AdvancedAIConfig,
    AdvancedAIDecider,
    AICandidate,
    CandidateBatch,
    DeciderError,
    MarketRegime,
    RoutePredictorConfig,
)

REGIME = MarketRegime(0.3, 0.7, 0.4, "stable", eth_price_quote=3_000.0)
OPEN = AdvancedAIConfig(min_profit_eth=0.0)


def _cand(symbol="ETH/USDC", edge=80.0, notional=20_000.0, gas=20.0, slip=40.0, **kw):
    return AICandidate(
        symbol,
        edge_bps=edge,
        notional_quote=notional,
        gas_cost_quote=gas,
        slippage_quote=slip,
        **{"confidence": 0.8, **kw},
    )


def _decider(config=OPEN, **kw) -> AdvancedAIDecider:
    d = AdvancedAIDecider(config, **kw)
    d.update_regime(REGIME)
    return d


def test_pick_best_returns_none_when_there_are_no_candidates() -> None:
    assert _decider().pick_best([], 100.0) is None


def test_pick_best_returns_none_when_net_profit_is_negative() -> None:
    assert _decider().pick_best([_cand(edge=10.0)], 100.0) is None


def test_pick_best_returns_none_when_confidence_is_below_the_threshold() -> None:
    assert _decider().pick_best([_cand(confidence=0.6)], 100.0) is None


def test_pick_best_returns_none_when_expected_value_is_negative() -> None:
    # wins 100 with p = 0.75 but loses 400 of revert gas otherwise
    c = _cand(confidence=0.75, revert_gas_quote=400.0)
    assert (
        _decider(AdvancedAIConfig(min_profit_eth=0.0, max_position_fraction=1.0)).pick_best(
            [c], 100.0
        )
        is None
    )


def test_pick_best_returns_none_when_below_the_profiles_minimum_profit() -> None:
    # net 100 quote = 0.033 ETH < balanced min_profit_eth 0.15
    assert _decider(AdvancedAIConfig()).pick_best([_cand()], 100.0) is None


def test_pick_best_refuses_a_tradeable_candidate_without_an_eth_price() -> None:
    d = AdvancedAIDecider(OPEN)
    d.update_regime(MarketRegime(0.3, 0.7, 0.4))
    with pytest.raises(DeciderError, match="no ETH price"):
        d.pick_best([_cand()], 100.0)
    with pytest.raises(DeciderError, match="no ETH price"):
        d.pick_best([_cand(), _cand(symbol="X")], 100.0)
    # the candidate's own price is enough
    assert d.pick_best([_cand(eth_price_quote=3_000.0)], 100.0) is not None


@pytest.mark.parametrize("value", [0.0, -1.0, math.nan])
def test_pick_best_refuses_a_non_positive_portfolio(value) -> None:
    with pytest.raises(DeciderError, match="portfolio_value_eth must be > 0"):
        _decider().pick_best([_cand()], value)


def test_pick_best_golden_decision_fields() -> None:
    c = _cand(amount_in=10**22, route=("p1", "p2"), start_token="USDC", liquidity_quote=5e6)
    d = _decider().pick_best([c], 100.0)
    assert d is not None
    # gross 160 - slippage 40 - gas 20 = 100 at the full size (the AMM optimum here)
    assert d.symbol == "ETH/USDC" and d.route_key == "USDC:p1>p2"
    assert d.net_quote == pytest.approx(100.0)
    assert d.size_quote == pytest.approx(20_000.0) and d.size_fraction == 1.0
    assert d.amount_in == 10**22
    # no model yet: p = (0 * ema + 10 * 0.8) / (0 + 10)
    assert d.confidence == pytest.approx(0.8) and d.p_model is None
    assert d.expected_value_quote == pytest.approx(0.8 * 100 - 0.2 * 20)
    assert set(d.factors) == set(FACTOR_NAMES)
    assert math.fsum(d.contributions.values()) == pytest.approx(d.score)
    assert d.binding_cap == "amm" and not d.high_confidence
    assert len(d.features) == 12 and d.regime_label == "stable"


def test_pick_best_ranks_by_score_weighted_expected_value() -> None:
    small = _cand("SMALL", edge=60.0, notional=10_000.0, gas=5.0, slip=10.0)
    big = _cand("BIG", edge=80.0, notional=40_000.0, gas=5.0, slip=80.0)
    d = _decider()
    table = d.evaluate([small, big], 100.0)
    best = d.pick_best([small, big], 100.0)
    rank = (table["score"] * table["ev_quote"]).to_list()
    assert best is not None and best.symbol == ["SMALL", "BIG"][int(np.argmax(rank))]
    assert best.symbol == "BIG"


def test_kelly_and_caps_shrink_the_size_and_scale_amount_in_exactly() -> None:
    cfg = AdvancedAIConfig(min_profit_eth=0.0, max_flash_borrow_eth=5.0)  # 15,000 quote
    d = _decider(cfg).pick_best([_cand(amount_in=10**22 + 7)], 100.0)
    assert d is not None
    assert d.binding_cap == "flash_borrow"
    assert d.size_quote == pytest.approx(15_000.0)
    assert d.size_fraction == pytest.approx(0.75)
    assert d.amount_in == (10**22 + 7) * 3 // 4
    assert d.net_quote == pytest.approx(0.008 * 15_000 - 1e-7 * 15_000**2 - 20.0)


def test_evaluate_explains_every_refusal() -> None:
    cands = [_cand("OK"), _cand("LOSS", edge=10.0), _cand("UNSURE", confidence=0.5)]
    table = _decider().evaluate(cands, 100.0)
    assert table["symbol"].to_list() == ["OK", "LOSS", "UNSURE"]
    assert table["accepted"].to_list() == [True, False, False]
    assert table["reject_reason"].to_list() == [
        "",
        "unprofitable_after_costs",
        "below_confidence_threshold",
    ]


def test_record_outcome_updates_the_routes_ema_and_count() -> None:
    d = _decider()
    c = _cand(route=("p1", "p2"), start_token="USDC")
    decision = d.pick_best([c], 100.0)
    assert decision is not None
    assert d.record_outcome(decision, True, realized_net_quote=95.0) is False
    rec = d.route_record(c.route_key)
    assert rec.ema == pytest.approx(0.9 * 0.5 + 0.1)
    assert (rec.n_outcomes, rec.n_successes, rec.realized_net_quote) == (1, 1, 95.0)
    d.record_outcome(c, False)
    assert d.route_record(c.route_key).ema == pytest.approx(0.9 * 0.55)
    assert d.n_samples == 2
    # the route record now pulls the model-free probability towards the EMA
    p = d.evaluate([c], 100.0)["confidence"][0]
    assert p == pytest.approx((2 * 0.495 + 10 * 0.8) / 12)


def _stream(n: int, seed: int) -> list[tuple[AICandidate, bool]]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        age = int(rng.integers(0, 5))
        route = (f"p{int(rng.integers(0, 4))}", "q")
        c = _cand(route=route, start_token="USDC", age_blocks=age, edge=float(rng.uniform(60, 90)))
        out.append((c, bool(rng.uniform() < 0.95 - 0.15 * age)))
    return out


def test_the_model_is_retrained_after_n_new_outcomes_and_then_used() -> None:
    cfg = AdvancedAIConfig(
        min_profit_eth=0.0,
        retrain_after_n_samples=60,
        min_training_samples=100,
        route_model=RoutePredictorConfig(n_estimators=50, min_child_samples=20),
    )
    d = _decider(cfg)
    retrained = [d.record_outcome(c, ok) for c, ok in _stream(180, seed=1)]
    # 60: too few samples; 120 and 180: retrained
    assert [i + 1 for i, r in enumerate(retrained) if r] == [120, 180]
    assert d.n_retrains == 2 and d.model_active
    decision = d.pick_best([_cand(route=("p1", "q"), start_token="USDC")], 100.0)
    assert decision is not None and decision.p_model == decision.confidence


def test_retraining_is_deterministic_for_a_seed() -> None:
    cfg = AdvancedAIConfig(
        min_profit_eth=0.0, retrain_after_n_samples=150, min_training_samples=100
    )
    a, b = _decider(cfg, seed=11), _decider(cfg, seed=11)
    for c, ok in _stream(150, seed=2):
        a.record_outcome(c, ok)
        b.record_outcome(c, ok)
    probe = [_cand(route=("p2", "q"), start_token="USDC", age_blocks=k) for k in range(5)]
    pa = a.evaluate(probe, 100.0)["p_model"].to_list()
    assert pa == b.evaluate(probe, 100.0)["p_model"].to_list()
    assert not any(math.isnan(p) for p in pa)


def test_warm_start_replays_outcomes_in_block_order(table) -> None:
    rows = table.head(5).with_columns(
        pl.Series("route_key", ["k"] * 5), pl.Series("block", [4, 3, 2, 1, 0])
    )
    d = AdvancedAIDecider(OPEN)
    d.warm_start(rows)
    ema = 0.5
    for ok in reversed(rows["success"].to_list()):
        ema = 0.9 * ema + 0.1 * float(ok)
    assert d.route_record("k").ema == pytest.approx(ema)
    assert d.n_samples == 5


def test_a_trained_model_drives_the_confidence(trained) -> None:
    d = _decider(predictor=trained)
    assert d.model_active
    off = _decider(AdvancedAIConfig(min_profit_eth=0.0, enable_ml_scoring=False), predictor=trained)
    assert not off.model_active
    c = _cand(age_blocks=4)
    t_on, t_off = d.evaluate([c], 100.0), off.evaluate([c], 100.0)
    assert t_on["confidence"][0] == t_on["p_model"][0]
    assert math.isnan(t_off["p_model"][0]) and t_off["confidence"][0] == pytest.approx(0.8)


cand_strategy = st.builds(
    AICandidate,
    symbol=st.sampled_from(["ETH/USDC", "WETH/USDT"]),
    edge_bps=st.floats(0.0, 200.0),
    notional_quote=st.floats(100.0, 2e6),
    gas_cost_quote=st.floats(0.0, 50.0),
    flash_fee_quote=st.floats(0.0, 20.0),
    slippage_quote=st.floats(0.0, 2e3),
    confidence=st.floats(0.0, 1.0),
    kind=st.sampled_from(["dex_dex", "triangular", "cex_dex"]),
    liquidity_quote=st.one_of(st.none(), st.floats(0.0, 1e9)),
    age_blocks=st.integers(0, 6),
    amount_in=st.one_of(st.none(), st.integers(1, 10**24)),
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(c=cand_strategy, with_model=st.booleans())
def test_the_single_candidate_fast_path_decides_like_the_batch_path(trained, c, with_model) -> None:
    d = _decider(predictor=trained if with_model else None)
    one = d.pick_best([c], 100.0)
    many = d.pick_best(CandidateBatch.from_candidates([c]), 100.0)
    assert (one is None) == (many is None)
    if one is not None and many is not None:
        for name in ("net_quote", "expected_value_quote", "size_quote", "confidence", "score"):
            assert getattr(one, name) == pytest.approx(getattr(many, name), rel=1e-9, abs=1e-9)
        assert one.amount_in == many.amount_in
        assert one.binding_cap == many.binding_cap
        np.testing.assert_allclose(one.features, many.features, rtol=1e-12)
        for k in FACTOR_NAMES:
            assert one.factors[k] == pytest.approx(many.factors[k], rel=1e-12, abs=1e-15)


@settings(max_examples=100, deadline=None)
@given(cands=st.lists(cand_strategy, min_size=1, max_size=8))
def test_a_decision_never_exceeds_the_candidates_size_or_the_caps(cands) -> None:
    cfg = AdvancedAIConfig(min_profit_eth=0.0, confidence_threshold=0.0)
    d = _decider(cfg).pick_best(cands, 10.0)
    if d is None:
        return
    w = 10.0 * 3_000.0
    assert 0 < d.size_quote <= d.candidate.notional_quote * (1 + 1e-12)
    assert d.size_quote <= cfg.max_leverage * w * (1 + 1e-12)
    if d.candidate.is_flash:
        assert d.size_quote <= cfg.max_flash_borrow_eth * 3_000.0 * (1 + 1e-12)
    else:
        assert d.size_quote <= cfg.max_position_fraction * w * (1 + 1e-12)
    assert d.expected_value_quote > 0 and d.net_quote >= 0
    if d.amount_in is not None and d.candidate.amount_in is not None:
        assert d.amount_in <= d.candidate.amount_in


def test_update_regime_refuses_other_objects() -> None:
    with pytest.raises(DeciderError, match="expected a MarketRegime"):
        AdvancedAIDecider().update_regime({"volatility": 0.2})  # type: ignore[arg-type]
