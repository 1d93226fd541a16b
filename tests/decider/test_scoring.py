from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arbkit.decider import FACTOR_NAMES, FactorWeights, MarketRegime, ScoringParams
from arbkit.decider.scoring import factor_matrix, factors_one, score_candidates

REGIME = MarketRegime(volatility=0.5, liquidity=0.6, gas_percentile=0.4, regime_label="trending")


def _factors(edge, notional, gas, flash, slip, liq, age, ema, regime=REGIME, params=None):
    return factor_matrix(
        np.array([edge]),
        np.array([notional]),
        np.array([gas]),
        np.array([flash]),
        np.array([slip]),
        np.array([liq]),
        np.array([age]),
        np.array([ema]),
        regime,
        params or ScoringParams(),
    )[0]


def test_factors_golden_values() -> None:
    # notional 10k at 40 bps: gross 40, slippage 10, flash 2 -> pre-gas 28, gas 8 -> net 20
    values = _factors(40.0, 10_000.0, 8.0, 2.0, 10.0, 200_000.0, 3.0, 0.8)
    f = dict(zip(FACTOR_NAMES, values, strict=True))
    assert f["edge_quality"] == pytest.approx(1 - math.exp(-20.0 / 20.0))  # 20 bps net margin
    assert f["execution_risk"] == pytest.approx((1 - 10 / 40) * math.exp(-1.0))
    assert f["market_regime"] == pytest.approx(0.7 * math.exp(-0.5 / 2.0))
    depth = 1 - math.exp(-200_000.0 / (10_000.0 * 20.0))
    assert f["liquidity"] == pytest.approx(0.5 * (0.6 + depth))
    assert f["gas_efficiency"] == pytest.approx((1 - 8 / 28) * (1 - 0.5 * 0.4))
    assert f["route_history"] == 0.8


def test_unknown_depth_uses_the_regime_liquidity_alone() -> None:
    f = _factors(40.0, 10_000.0, 8.0, 2.0, 10.0, math.nan, 0.0, 0.5)
    assert f[3] == REGIME.liquidity


def test_a_losing_candidate_scores_zero_edge_and_gas_efficiency() -> None:
    f = _factors(5.0, 10_000.0, 50.0, 0.0, 10.0, math.nan, 0.0, 0.5)  # pre-gas -5
    assert f[0] == 0.0 and f[4] == 0.0


def test_score_is_the_weighted_sum() -> None:
    f = np.array([[1.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.5] * 6])
    w = FactorWeights()
    np.testing.assert_allclose(score_candidates(f, w), [w.edge_quality, 0.5])


@settings(max_examples=300, deadline=None)
@given(
    edge=st.floats(-50, 500),
    notional=st.floats(1.0, 1e7),
    gas=st.floats(0, 1e4),
    flash=st.floats(0, 1e3),
    slip=st.floats(0, 1e5),
    liq=st.one_of(st.just(math.nan), st.floats(0, 1e10)),
    age=st.integers(0, 30),
    ema=st.floats(0, 1),
    vol=st.floats(0, 5),
    liquidity=st.floats(0, 1),
    gas_pct=st.floats(0, 1),
    label=st.sampled_from(["stable", "volatile", "trending"]),
)
def test_factors_lie_in_unit_interval_and_match_the_scalar_twin(
    edge, notional, gas, flash, slip, liq, age, ema, vol, liquidity, gas_pct, label
) -> None:
    regime = MarketRegime(vol, liquidity, gas_pct, label)
    params = ScoringParams()
    many = _factors(edge, notional, gas, flash, slip, liq, float(age), ema, regime, params)
    one = factors_one(edge, notional, gas, flash, slip, liq, float(age), ema, regime, params)
    assert np.all((many >= 0) & (many <= 1))
    np.testing.assert_allclose(one, many, rtol=1e-12, atol=1e-15)
    score = score_candidates(many[None, :], FactorWeights())[0]
    assert 0.0 <= score <= 1.0 + 1e-12


def test_scoring_params_need_every_regime_label() -> None:
    with pytest.raises(ValueError, match="lacks label"):
        ScoringParams(regime_label_scores={"stable": 1.0})
