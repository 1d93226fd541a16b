from __future__ import annotations

import numpy as np
import pytest

from arbkit.decider.metrics import (
    accuracy,
    brier_score,
    classification_report,
    expected_calibration_error,
    log_loss,
    reliability_curve,
    roc_auc,
)


def test_roc_auc_matches_sklearn_with_ties() -> None:
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    p = np.round(rng.uniform(size=300), 1)  # many ties
    assert roc_auc(y, p) == pytest.approx(roc_auc_score(y, p))
    assert np.isnan(roc_auc(np.ones(5), np.linspace(0, 1, 5)))


def test_golden_scores_on_a_tiny_fixture() -> None:
    y = np.array([1, 0, 1, 1])
    p = np.array([0.9, 0.2, 0.6, 0.4])
    assert accuracy(y, p) == 0.75
    assert brier_score(y, p) == pytest.approx((0.01 + 0.04 + 0.16 + 0.36) / 4)
    assert log_loss(y, p) == pytest.approx(-np.mean(np.log([0.9, 0.8, 0.6, 0.4])))
    # bins of width 0.5: {0.2, 0.4} -> rate 0.5 vs 0.3; {0.9, 0.6} -> rate 1 vs 0.75
    assert expected_calibration_error(y, p, n_bins=2) == pytest.approx(0.5 * 0.2 + 0.5 * 0.25)
    curve = reliability_curve(y, p, n_bins=2)
    assert curve.counts.tolist() == [2, 2]
    np.testing.assert_allclose(curve.mean_predicted, [0.3, 0.75])


def test_a_calibrated_forecast_has_a_small_ece_and_a_report() -> None:
    rng = np.random.default_rng(1)
    p = rng.uniform(size=50_000)
    y = rng.uniform(size=p.size) < p
    assert expected_calibration_error(y, p) < 0.01
    report = classification_report(y, p)
    assert report["majority_accuracy"] == pytest.approx(max(y.mean(), 1 - y.mean()))
    assert set(report) >= {"accuracy", "auc", "brier", "ece", "log_loss", "base_rate", "n"}
