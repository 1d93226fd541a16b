from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from arbkit.errors import DataError
from arbkit.features import (
    REGIME_COLUMNS,
    FeatureConfig,
    MarketRegime,
    build_regime_features,
    label_regimes,
    trailing_percentile_rank,
)
from arbkit.features.regime import SECONDS_PER_YEAR


def test_build_regime_features_has_documented_columns_and_ranges(sim_history) -> None:
    reg = build_regime_features(sim_history)
    assert tuple(reg.columns) == REGIME_COLUMNS
    assert reg.height == sim_history.n_blocks
    for col in ("liquidity", "gas_percentile"):
        assert reg[col].min() >= 0.0 and reg[col].max() <= 1.0
    assert reg["volatility"].min() >= 0.0
    assert set(reg["regime_label"].unique()) <= {"stable", "volatile", "trending"}
    assert reg["eth_price_quote"].is_finite().all()
    assert reg.select(pl.all().is_null().sum()).row(0) == (0,) * len(REGIME_COLUMNS)


@pytest.mark.parametrize("t", [1, 2, 57, 400, 1_499])
def test_build_regime_features_on_history_prefix_equals_prefix_of_features(sim_history, t) -> None:
    full = build_regime_features(sim_history)
    prefix = build_regime_features(sim_history[:t])
    assert_frame_equal(prefix, full.head(t))


def test_regime_of_constant_price_is_stable_with_zero_volatility(history_factory) -> None:
    make_history = history_factory
    reg = build_regime_features(make_history([2_000.0] * 30))
    assert reg["volatility"].to_list() == [0.0] * 30
    assert reg["trend_tstat"].to_list() == [0.0] * 30
    assert reg["regime_label"].to_list() == ["stable"] * 30
    assert reg["eth_price_quote"].to_list() == [2_000.0] * 30
    # every value ties with its window: mid-rank 0.5
    assert reg["gas_percentile"].to_list() == [0.5] * 30


def test_volatility_is_the_annualised_sample_std_of_per_second_returns(history_factory) -> None:
    make_history = history_factory
    prices = [2_000.0, 2_010.0, 1_995.0, 2_005.0, 2_001.0]
    reg = build_regime_features(make_history(prices), FeatureConfig(volatility_window_blocks=3))
    r = np.diff(np.log(prices)) / math.sqrt(12.0)
    expected = [0.0, 0.0] + [
        float(np.std(r[max(0, i - 3) : i], ddof=1)) * math.sqrt(SECONDS_PER_YEAR)
        for i in range(2, 5)
    ]
    # rows: block 1 has one return (std undefined -> 0), block 2 has two, ...
    assert reg["volatility"].to_list()[0] == 0.0
    np.testing.assert_allclose(reg["volatility"].to_numpy()[2:], expected[2:], rtol=1e-9)


def test_reference_price_falls_back_to_the_pool_without_cex_quotes(history_factory) -> None:
    make_history = history_factory
    reg = build_regime_features(make_history([2_000.0, 2_100.0], cex=False))
    np.testing.assert_allclose(reg["eth_price_quote"].to_numpy(), [2_000.0, 2_100.0])


def test_gas_percentile_ranks_the_base_fee_in_its_trailing_window(history_factory) -> None:
    make_history = history_factory
    fees = [10, 20, 30, 5, 30]
    reg = build_regime_features(
        make_history([2_000.0] * 5, base_fees=fees), FeatureConfig(gas_window_blocks=3)
    )
    # windows: [10] [10,20] [10,20,30] [20,30,5] [30,5,30]
    assert reg["gas_percentile"].to_list() == [0.5, 1.0, 1.0, 0.0, 0.75]


def test_build_regime_features_raises_without_a_native_price(history_factory) -> None:
    make_history = history_factory
    cfg = FeatureConfig(native_token="WBTC", price_symbol="BTC/USDC")
    with pytest.raises(DataError, match="no price for WBTC"):
        build_regime_features(make_history([2_000.0] * 3, cex=False), cfg)


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.integers(0, 5).map(float), min_size=1, max_size=40),
    window=st.integers(1, 8),
)
def test_trailing_percentile_rank_matches_brute_force(values, window) -> None:
    x = np.array(values)
    got = trailing_percentile_rank(x, window)
    for i in range(x.size):
        win = x[max(0, i - window + 1) : i + 1]
        n = win.size
        exp = 0.5 if n == 1 else ((win < x[i]).sum() + ((win == x[i]).sum() - 1) / 2) / (n - 1)
        assert got[i] == pytest.approx(exp)
        assert 0.0 <= got[i] <= 1.0


def test_label_regimes_puts_volatile_before_trending() -> None:
    labels = label_regimes(
        np.array([0.1, 2.0, 0.1, 2.0]),
        np.array([0.0, 0.0, -3.0, 3.0]),
        volatile_threshold=1.0,
        trending_threshold=2.5,
    )
    assert labels.tolist() == ["stable", "volatile", "trending", "volatile"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"volatility": -0.1}, "volatility must be >= 0"),
        ({"volatility": math.nan}, "volatility must be a finite"),
        ({"liquidity": 1.5}, "liquidity must lie in"),
        ({"gas_percentile": -0.01}, "gas_percentile must lie in"),
        ({"regime_label": "calm"}, "regime_label must be one of"),
        ({"eth_price_quote": 0.0}, "eth_price_quote must be > 0"),
    ],
)
def test_market_regime_rejects_bad_values(kwargs, match) -> None:
    base = {"volatility": 0.25, "liquidity": 0.75, "gas_percentile": 0.4}
    with pytest.raises(ValueError, match=match):
        MarketRegime(**{**base, **kwargs})


def test_market_regime_from_row_reads_a_feature_row(sim_history) -> None:
    row = build_regime_features(sim_history).row(100, named=True)
    regime = MarketRegime.from_row(row)
    assert regime.block == row["block"]
    assert regime.volatility == row["volatility"]
    assert regime.eth_price_quote == row["eth_price_quote"]
    assert regime.regime_label == row["regime_label"]
