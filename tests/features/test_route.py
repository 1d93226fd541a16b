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
    N_ROUTE_FEATURES,
    ROUTE_FEATURE_NAMES,
    ROUTE_FEATURES,
    FeatureConfig,
    add_edge_age,
    build_labels,
    build_regime_features,
    build_route_features,
    make_route_key,
    route_feature_matrix,
    route_features_one,
    route_success_ema,
)


def _candidates(rows: list[tuple[int, list[str], str]]) -> pl.DataFrame:
    n = len(rows)
    return pl.DataFrame(
        {
            "block": [b for b, _, _ in rows],
            "route": [r for _, r, _ in rows],
            "start_token": [s for _, _, s in rows],
            "symbol": ["WETH/USDC"] * n,
            "kind": ["dex_dex"] * n,
            "edge_bps": [10.0] * n,
            "notional_quote": [1_000.0] * n,
            "gas_cost_quote": [0.5] * n,
            "flash_fee_quote": [0.0] * n,
            "slippage_quote": [0.4] * n,
            "liquidity_quote": [1e6] * n,
        }
    )


def test_route_features_are_twelve_and_documented() -> None:
    assert N_ROUTE_FEATURES == 12 == len(ROUTE_FEATURE_NAMES) == len(set(ROUTE_FEATURE_NAMES))
    for spec in ROUTE_FEATURES:
        assert spec.unit and spec.window and spec.description


def test_route_feature_matrix_golden_row() -> None:
    x = route_feature_matrix(
        np.array([20.0]),  # edge_bps
        np.array([10_000.0]),  # notional: gross 20
        np.array([2.0]),  # gas
        np.array([1.0]),  # flash
        np.array([7.0]),  # slippage: pre-gas 12, net 10
        np.array([1e6 - 1]),  # liquidity
        np.array([2.0]),
        np.array([3.0]),
        0.5,
        0.25,
        0.75,
        np.array([0.6]),
    )
    expected = [20.0, 10.0, math.log10(11.0), 3.0, 2.0 / 12.0, 6.0, 1e4 / (1e6 - 1)]
    expected += [2.0, 0.5, 0.25, 0.75]
    np.testing.assert_allclose(x[0, :11], expected, rtol=1e-6)
    assert x[0, 11] == 0.6


finite = st.floats(0.0, 1e6, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(
    edge=st.floats(-50, 500),
    notional=st.floats(1.0, 1e7),
    gas=finite,
    flash=st.floats(0, 1e3),
    slip=st.floats(0, 1e4),
    liq=st.one_of(st.just(math.nan), st.just(0.0), st.floats(1.0, 1e9)),
    hops=st.sampled_from([1.0, 2.0, 3.0]),
    age=st.integers(0, 50),
    ema=st.floats(0, 1),
)
def test_route_features_one_matches_the_matrix_kernel(
    edge, notional, gas, flash, slip, liq, hops, age, ema
) -> None:
    one = route_features_one(
        edge, notional, gas, flash, slip, liq, hops, float(age), 0.3, 0.6, 0.2, ema
    )
    many = route_feature_matrix(
        np.array([edge]),
        np.array([notional]),
        np.array([gas]),
        np.array([flash]),
        np.array([slip]),
        np.array([liq]),
        np.array([hops]),
        np.array([float(age)]),
        0.3,
        0.6,
        0.2,
        np.array([ema]),
    )[0]
    np.testing.assert_allclose(one, many, rtol=1e-12, equal_nan=True)


def test_add_edge_age_counts_consecutive_earlier_blocks_of_the_same_route() -> None:
    rows = [
        (10, ["a", "b"], "USDC"),
        (11, ["a", "b"], "USDC"),
        (11, ["a", "b"], "WETH"),  # other direction: another route
        (12, ["a", "b"], "USDC"),
        (14, ["a", "b"], "USDC"),  # gap: a new edge
        (15, ["a", "b"], "USDC"),
    ]
    ages = add_edge_age(_candidates(rows))["age_blocks"].to_list()
    assert ages == [0, 1, 0, 2, 0, 1]


def test_add_edge_age_on_earlier_blocks_is_unchanged(sim_labelled) -> None:
    candidates, _ = sim_labelled
    full = add_edge_age(candidates.drop("age_blocks"))
    cut = int(candidates["block"][candidates.height // 2])
    part = add_edge_age(candidates.drop("age_blocks").filter(pl.col("block") < cut))
    assert_frame_equal(part, full.filter(pl.col("block") < cut))


def _ema_brute(cb, ck, ob, ok, os_, alpha, prior, delay):
    out = []
    for b, k in zip(cb, ck, strict=True):
        value = prior
        for ob_, ok_, s in sorted(
            ((x, y, z) for x, y, z in zip(ob, ok, os_, strict=True)), key=lambda r: r[0]
        ):
            if ok_ == k and ob_ <= b - delay:
                value = (1 - alpha) * value + alpha * s
        out.append(value)
    return np.array(out)


@settings(max_examples=80, deadline=None)
@given(
    outcomes=st.lists(
        st.tuples(st.integers(0, 30), st.sampled_from("xyz"), st.booleans()), max_size=25
    ),
    queries=st.lists(st.tuples(st.integers(0, 35), st.sampled_from("xyzw")), min_size=1),
    delay=st.integers(1, 4),
)
def test_route_success_ema_matches_a_brute_force_fold(outcomes, queries, delay) -> None:
    # one outcome per (route, block) keeps the brute force's order unambiguous
    seen = {}
    for b, k, s in outcomes:
        seen[(b, k)] = s
    ob = np.array([b for b, _ in seen], dtype=np.int64)
    ok = [k for _, k in seen]
    os_ = np.array(list(seen.values()))
    cb = np.array([b for b, _ in queries], dtype=np.int64)
    ck = [k for _, k in queries]
    got = route_success_ema(cb, ck, ob, ok, os_, alpha=0.2, prior=0.5, delay_blocks=delay)
    np.testing.assert_allclose(got, _ema_brute(cb, ck, ob, ok, os_, 0.2, 0.5, delay))


def test_route_success_ema_ignores_outcomes_not_known_yet() -> None:
    cb = np.array([10], dtype=np.int64)
    base = route_success_ema(
        cb,
        ["k"],
        np.array([5, 7, 8, 9], dtype=np.int64),
        ["k"] * 4,
        np.array([True, False, True, True]),
        alpha=0.5,
        prior=0.5,
        delay_blocks=3,
    )
    flipped = route_success_ema(
        cb,
        ["k"],
        np.array([5, 7, 8, 9], dtype=np.int64),
        ["k"] * 4,
        np.array([True, False, False, False]),  # blocks 8 and 9 are not known at block 10
        alpha=0.5,
        prior=0.5,
        delay_blocks=3,
    )
    assert base[0] == flipped[0] == pytest.approx(0.5 * (0.5 * 0.5 + 0.5) + 0.0)


def test_build_route_features_on_a_history_prefix_equals_the_prefix(sim_history, sim_labelled):
    candidates, outcomes = sim_labelled
    labels = build_labels(candidates, outcomes)
    cfg = FeatureConfig()
    full = build_route_features(candidates, build_regime_features(sim_history, cfg), labels, cfg)
    for t in (300, 900):
        head = sim_history[:t]
        last = int(head.block_numbers[-1])
        keep = candidates["block"] <= last
        # what is known at block `last`: candidates so far and labels decided by then
        part = build_route_features(
            candidates.filter(keep),
            build_regime_features(head, cfg),
            labels.filter(pl.col("block") <= last),
            cfg,
        )
        assert_frame_equal(part, full.filter(keep))


def test_build_route_features_keeps_order_and_keys(sim_history, sim_labelled) -> None:
    candidates, _ = sim_labelled
    feats = build_route_features(candidates, build_regime_features(sim_history))
    assert feats.columns == ["block", "kind", "symbol", "route_key", *ROUTE_FEATURE_NAMES]
    assert feats["block"].to_list() == candidates["block"].to_list()
    row = candidates.row(0, named=True)
    assert feats["route_key"][0] == make_route_key(row["route"], row["start_token"], row["symbol"])
    assert feats["edge_age_blocks"].to_list() == candidates["age_blocks"].cast(pl.Float64).to_list()
    assert (feats["route_success_ema"] == 0.5).all()  # no outcomes given: the prior


def test_build_route_features_refuses_a_block_without_regime(sim_history, sim_labelled) -> None:
    candidates, _ = sim_labelled
    regime = build_regime_features(sim_history[:10])
    with pytest.raises(DataError, match="no regime row for block"):
        build_route_features(candidates, regime)


def test_build_route_features_refuses_a_non_positive_notional(sim_history, sim_labelled) -> None:
    candidates, _ = sim_labelled
    bad = candidates.with_columns(pl.lit(0.0).alias("notional_quote"))
    with pytest.raises(DataError, match="notional_quote at block"):
        build_route_features(bad, build_regime_features(sim_history))
