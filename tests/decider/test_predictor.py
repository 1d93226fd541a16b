from __future__ import annotations

import json

import lightgbm as lgb
import numpy as np
import polars as pl
import pytest

from arbkit.decider import (
    Calibrator,
    ModelNotTrainedError,
    RoutePredictorConfig,
    RouteSuccessPredictor,
    sidecar_path,
)
from arbkit.decider.metrics import expected_calibration_error, roc_auc
from arbkit.decider.predictor import fit_calibrator
from arbkit.errors import DataError, ModelIntegrityError
from arbkit.features import ROUTE_FEATURE_NAMES


def _x(table: pl.DataFrame) -> np.ndarray:
    return table.select(ROUTE_FEATURE_NAMES).to_numpy()


def test_predict_proba_on_fresh_rows_ranks_and_is_calibrated(trained, table_factory) -> None:
    fresh = table_factory(4_000, seed=2)
    p = trained.predict_proba(_x(fresh))
    y = fresh["success"].to_numpy()
    assert p.shape == (4_000,)
    assert np.all((p > 0) & (p < 1))
    assert roc_auc(y, p) > 0.7
    assert expected_calibration_error(y, p) < 0.05


def test_train_model_reports_its_split_and_records_metadata(trained, table) -> None:
    meta = trained.metadata
    assert meta is not None
    assert meta.features == ROUTE_FEATURE_NAMES
    assert meta.n_samples == table.height
    assert meta.metrics["n_train"] + meta.metrics["n_calibration"] == table.height
    assert meta.calibration == "platt"
    assert meta.params["seed"] == 7
    assert len(meta.data_hash) == 64


def test_predict_proba_one_equals_the_batch_path(trained, table) -> None:
    x = _x(table.head(20))
    batch = trained.predict_proba(x)
    one = [trained.predict_proba_one(list(row)) for row in x]
    np.testing.assert_allclose(one, batch, rtol=1e-12)
    assert trained.predict_proba(table.head(20)).tolist() == batch.tolist()


def test_training_twice_with_one_seed_gives_identical_predictions(table, small_config) -> None:
    a = RouteSuccessPredictor(small_config)
    b = RouteSuccessPredictor(small_config)
    a.train_model(table, seed=3)
    b.train_model(table, seed=3)
    x = _x(table.head(200))
    assert a.predict_proba(x).tolist() == b.predict_proba(x).tolist()


def test_save_then_load_predicts_the_same(trained, table, tmp_path) -> None:
    path = trained.save_model(tmp_path / "models" / "route.txt")
    assert path.exists() and sidecar_path(path).exists()
    loaded = RouteSuccessPredictor().load_model(path)
    x = _x(table.head(300))
    assert loaded.predict_proba(x).tolist() == trained.predict_proba(x).tolist()
    meta = json.loads(sidecar_path(path).read_text())
    assert meta["features"] == list(ROUTE_FEATURE_NAMES)
    assert meta["metrics"]["n_samples"] == table.height
    assert loaded.metadata is not None and loaded.metadata.model_sha256 == meta["model_sha256"]
    # the model file is LightGBM's text format, not a pickle
    assert path.read_text().startswith("tree")


def test_save_model_writes_to_the_default_path(trained, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    trained.save_model()
    assert (tmp_path / "models" / "route_success_model.txt").exists()
    assert (tmp_path / "models" / "route_success_model.txt.meta.json").exists()


def test_a_tampered_model_file_is_refused_before_it_is_deserialised(
    trained, tmp_path, monkeypatch
) -> None:
    path = trained.save_model(tmp_path / "route.txt")
    text = path.read_text()
    path.write_text(text.replace("learning_rate", "learning_rate ", 1))

    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("LightGBM was asked to parse an unverified file")

    monkeypatch.setattr(lgb, "Booster", boom)
    with pytest.raises(ModelIntegrityError, match=r"route\.txt: sha256 .* does not match"):
        RouteSuccessPredictor().load_model(path)


def test_tampered_metadata_is_refused(trained, tmp_path) -> None:
    path = trained.save_model(tmp_path / "route.txt")
    meta_file = sidecar_path(path)
    meta = json.loads(meta_file.read_text())
    meta["calibration"]["a"] = 0.0  # silently flattens every probability
    meta_file.write_text(json.dumps(meta))
    with pytest.raises(ModelIntegrityError, match="metadata was changed"):
        RouteSuccessPredictor().load_model(path)


def test_load_model_checks_the_registry_hash(trained, tmp_path) -> None:
    path = trained.save_model(tmp_path / "route.txt")
    good = json.loads(sidecar_path(path).read_text())["model_sha256"]
    RouteSuccessPredictor().load_model(path, expected_sha256=good)
    with pytest.raises(ModelIntegrityError, match="registry expects sha256"):
        RouteSuccessPredictor().load_model(path, expected_sha256="0" * 64)


def test_load_model_without_metadata_is_refused(trained, tmp_path) -> None:
    path = trained.save_model(tmp_path / "route.txt")
    sidecar_path(path).unlink()
    with pytest.raises(DataError, match="no model metadata"):
        RouteSuccessPredictor().load_model(path)


def test_an_untrained_predictor_refuses_to_predict_or_save(tmp_path) -> None:
    predictor = RouteSuccessPredictor()
    assert not predictor.is_trained
    with pytest.raises(ModelNotTrainedError):
        predictor.predict_proba(np.zeros((1, 12)))
    with pytest.raises(ModelNotTrainedError):
        predictor.save_model(tmp_path / "m.txt")


def test_train_model_names_missing_columns(table) -> None:
    with pytest.raises(DataError, match=r"lacks column\(s\) \['edge_bps'\]"):
        RouteSuccessPredictor().train_model(table.drop("edge_bps"))


def test_train_model_refuses_a_single_class(table) -> None:
    with pytest.raises(DataError, match="single class"):
        RouteSuccessPredictor().train_model(table.with_columns(pl.lit(True).alias("success")))


def test_fit_refuses_infinite_features(table) -> None:
    x = _x(table)
    x[5, 0] = np.inf
    with pytest.raises(DataError, match="'edge_bps' is infinite at row 5"):
        RouteSuccessPredictor().fit(x, table["success"].to_numpy())


def test_predict_refuses_the_wrong_width(trained) -> None:
    with pytest.raises(DataError, match=r"shape \(n, 12\)"):
        trained.predict_proba(np.zeros((2, 11)))


@pytest.mark.parametrize("method", ["isotonic", "platt", "none"])
def test_calibrators_round_trip_through_json_and_agree_scalar_and_vector(method) -> None:
    rng = np.random.default_rng(0)
    margin = rng.normal(0, 2, 500)
    labels = (rng.uniform(size=500) < 1 / (1 + np.exp(-margin))).astype(float)
    cal = fit_calibrator(margin, labels, method)
    assert cal.method == method
    again = Calibrator.from_json(json.loads(json.dumps(cal.to_json())), where="test")
    grid = np.linspace(-8, 8, 41)
    np.testing.assert_array_equal(again.apply(grid), cal.apply(grid))
    np.testing.assert_allclose([cal.apply_one(float(m)) for m in grid], cal.apply(grid))
    assert np.all(np.diff(cal.apply(grid)) >= 0)  # calibration is monotone


def test_isotonic_calibration_is_trained_on_the_latest_rows(table) -> None:
    predictor = RouteSuccessPredictor(
        RoutePredictorConfig(n_estimators=20, calibration="isotonic", calibration_fraction=0.3)
    )
    metrics = predictor.train_model(table.reverse(), seed=0)  # block order, not row order
    assert metrics["n_calibration"] == round(0.3 * table.height)
    assert predictor.calibrator.method == "isotonic"
