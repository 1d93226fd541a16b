from __future__ import annotations

import json
import math
import warnings
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from arbkit.decider.training import build_route_dataset
from arbkit.drift import (
    DriftThresholds,
    check_drift,
    clear_retrain_request,
    distribution_shift,
    feature_drift,
    population_stability_index,
    raise_drift_alert,
    retrain_requested,
    rolling_calibration,
)
from arbkit.errors import ConfigError, DataError
from arbkit.features import ROUTE_FEATURE_NAMES
from arbkit.market.sim import simulate_market
from arbkit.metrics import (
    MetricsCollector,
    MetricsConfig,
    MetricsValueError,
    get_metrics_collector,
    set_metrics_collector,
)
from arbkit.metrics.alerts import AlertKind, ModelAlertKind
from arbkit.metrics.service import create_app

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

# ~2.8 days of 12 s blocks: long enough for the simulator's regime chain (episodes of
# 600-2 400 blocks) to mix, so two histories with the same parameters see similar regimes.
N_BLOCKS = 20_000
# A clearly different market: every regime three times as volatile.
SHIFTED: dict[str, Any] = {"regime_sigma": (9.0e-4, 3.0e-3, 1.5e-3)}


def _route_table(seed: int, params: dict[str, Any] | None = None) -> pl.DataFrame:
    history = simulate_market(params, seed=seed, n_blocks=N_BLOCKS)
    return build_route_dataset(history, seed=0).table


@pytest.fixture(scope="module")
def tables() -> dict[str, pl.DataFrame]:
    return {
        "train": _route_table(10_000),
        "same": _route_table(10_001),
        "shifted": _route_table(10_002, SHIFTED),
    }


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[MetricsCollector]:
    with MetricsCollector(MetricsConfig(db_path=tmp_path / "metrics.sqlite")) as m:
        yield m


def _psi_by_hand(expected_shares: list[float], actual_shares: list[float]) -> float:
    total = 0.0
    for e, a in zip(expected_shares, actual_shares, strict=True):
        e, a = max(e, 1e-4), max(a, 1e-4)  # the documented floor
        total += (a - e) * math.log(a / e)
    return total


# -- PSI ----------------------------------------------------------------------------------


def test_psi_is_zero_for_identical_samples() -> None:
    x = np.random.default_rng(1).lognormal(size=3_000)
    assert population_stability_index(x, x) == 0.0
    assert population_stability_index(x, x.copy(), n_bins=20) == 0.0


def test_psi_is_small_for_one_distribution_and_large_for_a_shifted_one() -> None:
    rng = np.random.default_rng(2)
    train = rng.normal(0.0, 1.0, 5_000)
    same = rng.normal(0.0, 1.0, 5_000)
    moved = rng.normal(1.0, 1.0, 5_000)  # a one-sigma shift of the mean
    wider = rng.normal(0.0, 2.0, 5_000)
    assert population_stability_index(train, same) < 0.1
    assert population_stability_index(train, moved) > 0.25
    assert population_stability_index(train, wider) > 0.25


def test_psi_matches_the_formula_on_a_discrete_feature() -> None:
    # n_hops-like: the deciles 1, 1.5 (between the two halves) and 2 are the edges, so
    # the bins are (-inf, 1], (1, 1.5], (1.5, 2], (2, inf) and NaN.
    expected = [1.0] * 50 + [2.0] * 50
    actual = [1.0] * 90 + [2.0] * 10
    want = _psi_by_hand([0.5, 0.0, 0.5, 0.0, 0.0], [0.9, 0.0, 0.1, 0.0, 0.0])
    assert population_stability_index(expected, actual) == pytest.approx(want)
    assert want == pytest.approx(0.4 * math.log(1.8) + 0.4 * math.log(5.0))


def test_psi_puts_values_beyond_the_training_range_in_the_open_end_bins() -> None:
    expected = np.arange(1.0, 101.0)  # deciles split it into 10 bins of 10 values
    want = _psi_by_hand([0.1] * 10 + [0.0], [0.0] * 9 + [1.0, 0.0])
    assert population_stability_index(expected, np.full(50, 1_000.0)) == pytest.approx(want)
    assert population_stability_index(expected, np.full(50, np.inf)) == pytest.approx(want)
    low = _psi_by_hand([0.1] * 10 + [0.0], [1.0] + [0.0] * 10)
    assert population_stability_index(expected, np.full(50, -5.0)) == pytest.approx(low)


def test_psi_gives_missing_values_their_own_bin() -> None:
    rng = np.random.default_rng(3)
    train = rng.normal(size=4_000)
    current = rng.normal(size=4_000)
    assert population_stability_index(train, current) < 0.1
    # 30 % of the feature goes missing: only the NaN bin moved
    gone = current.copy()
    gone[:1_200] = np.nan
    psi = population_stability_index(train, gone)
    assert psi > 0.25
    assert math.isfinite(psi)
    # the same share missing on both sides is no drift
    train_gone = train.copy()
    train_gone[:1_200] = np.nan
    assert population_stability_index(train_gone, gone) < 0.1
    # all missing on both sides: identical
    assert population_stability_index([np.nan] * 5, [np.nan] * 7) == 0.0


def test_distribution_shift_measures_how_far_values_moved() -> None:
    rng = np.random.default_rng(4)
    train = rng.uniform(0.0, 10.0, 20_000)
    assert distribution_shift(train, train) == 0.0
    # moved by 1 over a 5-95 % range of about 9: a shift of about 0.11
    assert distribution_shift(train, train + 1.0) == pytest.approx(1.0 / 9.0, rel=0.02)
    assert distribution_shift(train, train[:5_000]) < 0.02
    # a feature going missing counts by the change of its missing share
    half = train.copy()
    half[::2] = np.nan
    assert distribution_shift(train, half) == pytest.approx(0.5, abs=0.02)


def test_a_tight_cluster_moving_a_little_has_a_large_psi_but_a_small_shift() -> None:
    # what log_liquidity_quote does: a few pools' levels follow the ETH price
    rng = np.random.default_rng(5)
    centres = rng.choice([7.0, 7.55, 7.78], size=8_000, p=[0.2, 0.4, 0.4])
    train = centres + rng.normal(0.0, 0.004, centres.size)
    current = centres + 0.015 + rng.normal(0.0, 0.004, centres.size)
    assert population_stability_index(train, current) > 1.0
    assert distribution_shift(train, current) < 0.05
    frame = pl.DataFrame({"log_liquidity_quote": train})
    moved = pl.DataFrame({"log_liquidity_quote": current})
    report = check_drift(frame, moved, features=["log_liquidity_quote"])
    assert not report.drifted
    # the plain PSI rule (min_shift=0) calls it drifted
    plain = check_drift(
        frame, moved, features=["log_liquidity_quote"], thresholds=DriftThresholds(min_shift=0)
    )
    assert plain.drifted


# -- feature drift on simulated markets ------------------------------------------------------


def test_feature_drift_has_one_row_per_route_feature(tables: dict[str, pl.DataFrame]) -> None:
    drift = feature_drift(tables["train"], tables["same"])
    assert drift.columns == ["feature", "psi", "shift"]
    assert drift["feature"].to_list() == list(ROUTE_FEATURE_NAMES)
    assert drift.schema["psi"] == pl.Float64
    assert (drift["psi"] >= 0).all()
    assert (drift["shift"] >= 0).all()
    assert (feature_drift(tables["train"], tables["train"])["psi"] == 0.0).all()


def test_drift_alert_fires_on_another_regime_and_stays_silent_on_the_same_one(
    tables: dict[str, pl.DataFrame], collector: MetricsCollector, tmp_path: Path
) -> None:
    marker = tmp_path / "models" / "retrain_requested.json"
    for table in tables.values():
        assert table.height >= 2_000

    # same simulator parameters, another seed: no drift, no alert, no marker
    same = check_drift(tables["train"], tables["same"])
    assert same.enough_data
    assert not same.drifted, same.reasons
    assert same.reasons == ()
    assert raise_drift_alert(same, collector, retrain_marker=marker) is False
    assert collector.get_alerts() == []
    assert not marker.exists()
    assert retrain_requested(marker) is None

    # three times the volatility: the alert fires, is stored and listed, the marker written
    shifted = check_drift(tables["train"], tables["shifted"])
    assert shifted.drifted
    drifted = {r.split("'")[1] for r in shifted.reasons}
    assert "volatility" in drifted
    assert shifted.worst_psi > 1.0
    assert raise_drift_alert(shifted, collector, retrain_marker=marker) is True

    [alert] = collector.get_alerts()
    assert alert.kind is ModelAlertKind.MODEL_DRIFT
    assert alert.active
    assert alert.threshold == 0.25
    assert alert.value is not None and alert.value > 0.25
    assert "volatility" in alert.message
    assert [a.kind for a in collector.get_active_alerts()] == [ModelAlertKind.MODEL_DRIFT]
    summary = collector.get_summary()["alerts"]
    assert summary == {"active": ["model_drift"], "total_raised": 1}

    request = retrain_requested(marker)
    assert request is not None
    assert request["kind"] == "model_drift"
    assert request["reasons"] == list(shifted.reasons)
    assert request["worst_feature"] == shifted.worst_feature
    assert request["worst_psi"] == pytest.approx(shifted.worst_psi)
    assert datetime.fromisoformat(request["requested_at"]).utcoffset() is not None
    assert request["report"]["psi"]["volatility"] == pytest.approx(
        float(shifted.psi.filter(pl.col("feature") == "volatility")["psi"][0])
    )

    # the same-regime check afterwards neither clears the alert nor touches the marker
    before = marker.read_bytes()
    assert raise_drift_alert(same, collector, retrain_marker=marker) is False
    assert marker.read_bytes() == before
    assert len(collector.get_active_alerts()) == 1


def test_the_drift_alert_is_stored_and_served_by_the_dashboard_api(
    tables: dict[str, pl.DataFrame], tmp_path: Path
) -> None:
    db = tmp_path / "metrics.sqlite"
    shifted = check_drift(tables["train"], tables["shifted"])
    with MetricsCollector(MetricsConfig(db_path=db)) as first:
        first.record_execution(True, 10.0, 1.0, 100.0)
        assert raise_drift_alert(shifted, first, retrain_marker=None)
    with MetricsCollector(MetricsConfig(db_path=db)) as second:  # a restart keeps it
        [alert] = second.get_active_alerts()
        assert alert.kind is ModelAlertKind.MODEL_DRIFT
        assert alert.raised_execution == 1
        # still active: not raised a second time
        assert raise_drift_alert(shifted, second, retrain_marker=None) is False
        # executions do not clear it: it is not an execution threshold
        for _ in range(20):
            second.record_execution(True, 10.0, 1.0, 100.0)
        assert [a.kind for a in second.get_active_alerts()] == [ModelAlertKind.MODEL_DRIFT]
        body = TestClient(create_app(second)).get("/api/ai/alerts").json()
        assert [a["kind"] for a in body["active"]] == ["model_drift"]
        assert body["alerts"][0]["message"] == alert.message


def test_clearing_the_retrain_request_clears_the_alert(
    tables: dict[str, pl.DataFrame], collector: MetricsCollector, tmp_path: Path
) -> None:
    marker = tmp_path / "retrain.json"
    shifted = check_drift(tables["train"], tables["shifted"])
    assert raise_drift_alert(shifted, collector, retrain_marker=marker)
    assert clear_retrain_request(marker) is True
    assert not marker.exists()
    assert len(collector.get_active_alerts()) == 1  # no collector given: metrics untouched
    assert raise_drift_alert(shifted, collector, retrain_marker=marker) is False
    assert marker.exists()  # the request is written again while the alert stays active
    assert clear_retrain_request(marker, collector=collector) is True
    assert collector.get_active_alerts() == []
    assert clear_retrain_request(marker, collector=collector) is False
    # a new drift after the retraining is a new alert
    assert raise_drift_alert(shifted, collector, retrain_marker=marker) is True
    kinds = [(a.kind, a.active) for a in collector.get_alerts()]
    assert kinds == [(ModelAlertKind.MODEL_DRIFT, True), (ModelAlertKind.MODEL_DRIFT, False)]


def test_raise_drift_alert_uses_the_process_wide_collector_by_default(
    tables: dict[str, pl.DataFrame], tmp_path: Path
) -> None:
    shifted = check_drift(tables["train"], tables["shifted"])
    own = MetricsCollector(MetricsConfig(db_path=tmp_path / "default.sqlite"))
    previous = set_metrics_collector(own)
    try:
        assert raise_drift_alert(shifted, retrain_marker=tmp_path / "r.json")
        assert get_metrics_collector().get_active_alerts()[0].kind is ModelAlertKind.MODEL_DRIFT
    finally:
        set_metrics_collector(previous)
        own.close()


def test_too_few_rows_give_no_verdict(tables: dict[str, pl.DataFrame]) -> None:
    few = tables["shifted"].head(150)
    report = check_drift(tables["train"], few)
    assert not report.enough_data
    assert not report.drifted
    assert report.worst_psi > 0.25  # the figures are still there
    assert check_drift(tables["train"], few, thresholds=DriftThresholds(min_rows=100)).drifted


def test_report_to_dict_is_json(tables: dict[str, pl.DataFrame]) -> None:
    rng = np.random.default_rng(6)
    p = rng.uniform(0.2, 0.8, 500)
    report = check_drift(
        tables["train"], tables["shifted"], predictions=p, outcomes=rng.random(500) < p
    )
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert data["drifted"] is True
    assert set(data["psi"]) == set(ROUTE_FEATURE_NAMES)
    assert data["thresholds"]["psi_alert"] == 0.25
    assert data["n_predictions"] == 500
    assert data["calibration_gap"] == pytest.approx(report.calibration_gap)


# -- calibration -------------------------------------------------------------------------------


def test_rolling_calibration_windows() -> None:
    frame = rolling_calibration([0.2, 0.4, 0.6, 0.8, 1.0], [0, 1, 1, 0, 1], window=2)
    assert frame.columns == ["end", "mean_predicted", "observed_rate", "gap", "n"]
    assert frame["end"].to_list() == [1, 2, 3, 4]
    assert frame["mean_predicted"].to_list() == pytest.approx([0.3, 0.5, 0.7, 0.9])
    assert frame["observed_rate"].to_list() == pytest.approx([0.5, 1.0, 0.5, 0.5])
    assert frame["gap"].to_list() == pytest.approx([0.2, 0.5, -0.2, -0.4])
    assert frame["n"].to_list() == [2, 2, 2, 2]
    assert rolling_calibration([0.5], [1], window=2).height == 0


def test_rolling_calibration_detects_a_miscalibrated_predictor_only(
    tables: dict[str, pl.DataFrame],
) -> None:
    rng = np.random.default_rng(7)
    n = 2_000
    # overconfident: always 0.9, succeeds half the time
    outcomes = rng.random(n) < 0.5
    over = rolling_calibration(np.full(n, 0.9), outcomes, window=200)
    assert over.height == n - 199
    assert (over["gap"] < -0.25).all()
    # calibrated: succeeds with the predicted probability
    p = rng.uniform(0.05, 0.95, n)
    fair = rolling_calibration(p, rng.random(n) < p, window=200)
    gaps = fair["gap"].to_numpy()
    assert np.abs(gaps).max() < 0.12
    assert abs(gaps.mean()) < 0.03

    same = tables["same"]
    bad = check_drift(tables["train"], same, predictions=np.full(n, 0.9), outcomes=outcomes)
    assert bad.drifted
    [reason] = bad.reasons
    assert reason.startswith("calibration gap -0.")
    assert bad.calibration_gap is not None and bad.calibration_gap < -0.25
    good = check_drift(tables["train"], same, predictions=p, outcomes=rng.random(n) < p)
    assert not good.drifted, good.reasons
    assert good.calibration_gap is not None and abs(good.calibration_gap) < 0.1
    assert check_drift(tables["train"], same).calibration_gap is None


# -- bad inputs ---------------------------------------------------------------------------------


def test_bad_samples_and_tables_raise_data_errors(tables: dict[str, pl.DataFrame]) -> None:
    train = tables["train"]
    with pytest.raises(DataError, match="expected is empty"):
        population_stability_index([], [1.0])
    with pytest.raises(DataError, match="actual must be one-dimensional"):
        population_stability_index([1.0], [[1.0, 2.0]])
    with pytest.raises(DataError, match="'gas_percentile' is missing from the current table"):
        feature_drift(train, train.drop("gas_percentile"))
    with pytest.raises(DataError, match="'volatility' is missing from the train table"):
        check_drift(train.drop("volatility"), train)
    with pytest.raises(DataError, match="the current table is empty"):
        feature_drift(train, train.clear())
    with pytest.raises(DataError, match="the train table is empty"):
        check_drift(train.clear(), train)
    with pytest.raises(DataError, match="'kind' of the train table must be numeric"):
        feature_drift(train, train, features=["kind"])


def test_bad_calibration_inputs_raise_data_errors() -> None:
    with pytest.raises(DataError, match="3 predictions but 2 outcomes"):
        rolling_calibration([0.1, 0.2, 0.3], [0, 1])
    with pytest.raises(DataError, match=r"outcomes must be 0 or 1.*position 1: 2\.0"):
        rolling_calibration([0.1, 0.2], [0, 2])
    with pytest.raises(DataError, match=r"probabilities in \[0, 1\].*position 0: 1\.5"):
        rolling_calibration([1.5, 0.2], [0, 1])
    with pytest.raises(DataError, match="position 1: nan"):
        rolling_calibration([0.5, float("nan")], [0, 1])
    frame = pl.DataFrame({f: [0.0] * 10 for f in ROUTE_FEATURE_NAMES})
    with pytest.raises(DataError, match="predictions given without the other"):
        check_drift(frame, frame, predictions=[0.5])


def test_bad_settings_raise_config_errors() -> None:
    with pytest.raises(ConfigError, match="window must be an integer >= 1"):
        rolling_calibration([0.5], [1], window=0)
    with pytest.raises(ConfigError, match="n_bins must be an integer >= 2"):
        population_stability_index([1.0], [1.0], n_bins=1)
    with pytest.raises(ConfigError, match="psi_alert must be a finite number > 0"):
        DriftThresholds(psi_alert=-1.0)
    with pytest.raises(ConfigError, match="min_shift must be a finite number >= 0"):
        DriftThresholds(min_shift=float("nan"))
    with pytest.raises(ConfigError, match="calibration_gap_alert must be < 1"):
        DriftThresholds(calibration_gap_alert=1.5)
    with pytest.raises(ConfigError, match="min_rows must be an integer >= 1"):
        DriftThresholds(min_rows=0)
    frame = pl.DataFrame({"a": [1.0]})
    with pytest.raises(ConfigError, match="features is empty"):
        feature_drift(frame, frame, features=[])
    with pytest.raises(ConfigError, match="not a string"):
        feature_drift(frame, frame, features="a")


def test_a_malformed_retrain_request_names_the_file(tmp_path: Path) -> None:
    marker = tmp_path / "retrain_requested.json"
    marker.write_text("{not json")
    with pytest.raises(DataError, match=f"{marker.name}: not valid JSON"):
        retrain_requested(marker)
    marker.write_text("[1, 2]")
    with pytest.raises(DataError, match=f"{marker.name}: expected a JSON object"):
        retrain_requested(marker)
    marker.write_text(json.dumps({"requested_at": "2024-01-01T00:00:00+00:00", "reasons": [1]}))
    with pytest.raises(DataError, match="'reasons' must be a list of strings"):
        retrain_requested(marker)


def test_the_collector_raises_only_model_alert_kinds(collector: MetricsCollector) -> None:
    with pytest.raises(MetricsValueError, match="kind must be one of model_drift"):
        collector.raise_alert(AlertKind.WIN_RATE, threshold=0.45, value=0.1, message="x")
    with pytest.raises(MetricsValueError, match="message must be"):
        collector.raise_alert("model_drift", threshold=0.25, value=0.3, message=" ")
    with pytest.raises(MetricsValueError, match="threshold must be a finite number"):
        collector.raise_alert("model_drift", threshold=math.inf, value=0.3, message="drift")
    assert collector.clear_alert("model_drift") is None
    raised = collector.raise_alert("model_drift", threshold=0.25, value=0.3, message="drift")
    assert raised is not None and raised.event == "raised"
    assert collector.raise_alert("model_drift", threshold=0.25, value=0.9, message="again") is None
    cleared = collector.clear_alert(ModelAlertKind.MODEL_DRIFT, value=0.05)
    assert cleared is not None and cleared.alert.cleared_value == 0.05
