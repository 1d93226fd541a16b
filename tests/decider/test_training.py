from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from arbkit.decider import RoutePredictorConfig
from arbkit.decider.training import (
    TradePolicy,
    build_route_dataset,
    cross_validate_route_model,
    trades_from_candidates,
    train_route_model,
)
from arbkit.execution import Replay
from arbkit.features import ROUTE_FEATURE_NAMES
from arbkit.market.sim import simulate_market

SMALL = RoutePredictorConfig(n_estimators=40, min_child_samples=30)


@pytest.fixture(scope="module")
def history():
    return simulate_market(seed=5, n_blocks=4_000)


@pytest.fixture(scope="module")
def dataset(history):
    return build_route_dataset(history, seed=5)


def test_build_route_dataset_labels_every_candidate(dataset) -> None:
    t = dataset.table
    assert t.height == dataset.candidates.height == dataset.outcomes.height > 100
    assert t.select(ROUTE_FEATURE_NAMES).null_count().row(0) == (0,) * 12
    assert t["success"].to_list() == dataset.outcomes["success"].to_list()
    assert 0.5 < t["success"].mean() < 1.0
    assert "age_blocks" in dataset.candidates.columns


def test_build_route_dataset_is_deterministic_for_a_seed(history, dataset) -> None:
    again = build_route_dataset(history, seed=5)
    # Quote valuations of the outcomes are compared with a tolerance: an execution model
    # that iterates an unordered group_by of CEX symbols may price WETH from either quote
    # (~1e-3 apart) from run to run; labels and features must be exact.
    exact = [c for c in dataset.table.columns if c != "realized_net_quote"]
    assert again.table.select(exact).equals(dataset.table.select(exact))
    np.testing.assert_allclose(
        again.table["realized_net_quote"].to_numpy(),
        dataset.table["realized_net_quote"].to_numpy(),
        rtol=1e-2,
        atol=1e-2,
    )
    other = build_route_dataset(history, seed=6)
    assert not other.outcomes["success"].equals(dataset.outcomes["success"])


def test_trades_from_candidates_scales_the_minimum_profit_exactly(history) -> None:
    cands = Replay(history).candidates.head(3)
    halves = [a // 2 for a in cands["amount_in"].to_list()]
    trades = trades_from_candidates(
        cands, TradePolicy(min_profit_share=0.5, latency_ms=100.0), amount_in=halves
    )
    expected = [
        p * h * 1 // (a * 2)
        for p, h, a in zip(cands["expected_profit"], halves, cands["amount_in"], strict=True)
    ]
    assert trades["min_profit"].to_list() == expected
    assert trades["amount_in"].to_list() == halves
    assert trades["latency_ms"].to_list() == [100.0] * 3


def test_train_route_model_is_a_pure_function_of_history_and_seed(history) -> None:
    a, ma = train_route_model(history, seed=1, config=SMALL)
    b, mb = train_route_model(history, seed=1, config=SMALL)
    assert ma == mb
    x = np.random.default_rng(0).normal(size=(50, 12))
    assert a.predict_proba(x).tolist() == b.predict_proba(x).tolist()


def test_walk_forward_trains_only_on_labels_known_before_each_window(dataset) -> None:
    result = cross_validate_route_model(dataset.table, seed=0, n_folds=3, config=SMALL)
    assert len(result.folds) == 3
    prev_stop = None
    for fold in result.folds:
        first = fold["test_first_block"]
        train = dataset.table.filter(pl.col("block") <= first - 3)
        assert fold["train_rows"] == train.height
        if prev_stop is not None:
            assert first == prev_stop + 1
        prev_stop = fold["test_last_block"]
    preds = result.predictions
    assert preds.height == sum(f["test_rows"] for f in result.folds)
    assert preds["p"].is_between(0, 1).all()
    assert {"auc", "brier", "ece", "accuracy"} <= set(result.pooled)


@pytest.mark.expensive
def test_walk_forward_holdout_meets_the_guides_validation_bars() -> None:
    from arbkit.decider.report import run_holdout

    report = run_holdout(seed=42, n_blocks=50_000)
    pooled = report.result.pooled
    assert pooled["accuracy"] > 0.60  # the guide's bar
    assert pooled["ece"] <= 0.05
    assert pooled["auc"] > 0.55
    assert pooled["brier"] < pooled["brier_base_rate"]  # better than the constant base rate
    for fold in report.result.folds:
        assert fold["ece"] <= 0.05


def test_route_model_has_skill_over_the_base_rate_out_of_sample() -> None:
    # accuracy alone says little: a constant "success" scores the base rate (~65% now that
    # rivals contest nearly half the edges); skill is ranking (AUC) and a Brier score below
    # the base rate's
    dataset = build_route_dataset(simulate_market(seed=7, n_blocks=10_000), seed=1)
    pooled = cross_validate_route_model(dataset.table, seed=0, n_folds=2).pooled
    assert 0.4 < pooled["base_rate"] < 0.9
    assert pooled["auc"] > 0.65
    brier_skill = 1.0 - pooled["brier"] / pooled["brier_base_rate"]
    assert brier_skill > 0.02
    assert pooled["ece"] <= 0.05
