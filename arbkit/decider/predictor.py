"""Route-success model: LightGBM gradient boosting with a calibration lookup, hash-verified on disk.

Training
--------
The rows are ordered by block; the latest ``calibration_fraction`` of them are held
out, the booster is fitted on the rest, and the calibration (isotonic or Platt) is
fitted on the held-out rows' raw scores. Prediction is ``calibrate(booster margin)``:
the calibration is a numpy lookup (``np.interp`` over the isotonic steps, or a
logistic in the margin), so serving one row costs one ``Booster.predict`` plus a few
microseconds.

Files
-----
``save_model(path)`` writes two files atomically (temporary file, then rename):

``path`` (e.g. ``models/route_success_model.txt``)
    The booster in LightGBM's text model format (no pickle).
``path + ".meta.json"``
    Metadata: format, feature names, ``model_sha256`` (of the model file), the
    calibration table, data hash, metrics, hyper-parameters, seed, LightGBM version,
    and ``meta_sha256``, the sha256 of the canonical JSON of all the other fields.

``load_model`` parses the metadata (plain JSON), checks ``meta_sha256``, checks
``model_sha256`` against ``expected_sha256`` when a registry gives one, hashes the
model file's bytes and compares; only then are those same bytes handed to LightGBM.
A file that does not match is refused with :class:`arbkit.errors.ModelIntegrityError`.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Self

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
import polars as pl

from arbkit.decider.config import RoutePredictorConfig
from arbkit.decider.errors import ModelNotTrainedError
from arbkit.decider.metrics import roc_auc
from arbkit.errors import DataError, ModelIntegrityError
from arbkit.features.route import ROUTE_FEATURE_NAMES
from arbkit.io import write_atomic

__all__ = [
    "DEFAULT_MODEL_PATH",
    "MODEL_FORMAT",
    "Calibrator",
    "ModelMetadata",
    "RouteSuccessPredictor",
    "fit_calibrator",
    "sidecar_path",
]

FloatArray = npt.NDArray[np.float64]
MODEL_FORMAT: Final = "arbkit.route_success_model/1"
DEFAULT_MODEL_PATH: Final = Path("models") / "route_success_model.txt"
_P_MIN, _P_MAX = 1e-4, 1.0 - 1e-4
_MIN_CALIBRATION_ROWS = 20


def sidecar_path(model_path: str | os.PathLike[str]) -> Path:
    """Return the metadata file of a model file (``<model file>.meta.json``)."""
    path = Path(model_path)
    return path.with_name(path.name + ".meta.json")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


@dataclass(frozen=True, eq=False)
class Calibrator:
    """Map from the booster's raw margin to a calibrated probability.

    Attributes
    ----------
    method
        ``"isotonic"``: linear interpolation between the isotonic fit's steps
        (``x``: margins, ``y``: probabilities), clipped at the ends; ``"platt"``:
        ``1 / (1 + exp(-(a * margin + b)))``; ``"none"``: the logistic of the margin.
    """

    method: str
    x: FloatArray = field(default_factory=lambda: np.empty(0))
    y: FloatArray = field(default_factory=lambda: np.empty(0))
    a: float = 1.0
    b: float = 0.0

    def apply(self, margin: FloatArray) -> FloatArray:
        """Return calibrated probabilities, clipped to ``[1e-4, 1 - 1e-4]``."""
        if self.method == "isotonic":
            p = np.interp(margin, self.x, self.y)
        else:
            p = 1.0 / (1.0 + np.exp(-(self.a * margin + self.b)))
        return np.clip(p, _P_MIN, _P_MAX)

    def apply_one(self, margin: float) -> float:
        """Return the calibrated probability of one margin (scalar twin of :meth:`apply`)."""
        if self.method == "isotonic":
            p = float(np.interp(margin, self.x, self.y))
        else:
            z = self.a * margin + self.b
            p = 1.0 / (1.0 + math.exp(-z)) if z > -700.0 else 0.0
        return min(max(p, _P_MIN), _P_MAX)

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-serialisable description."""
        return {
            "method": self.method,
            "x": [float(v) for v in self.x],
            "y": [float(v) for v in self.y],
            "a": float(self.a),
            "b": float(self.b),
        }

    @classmethod
    def from_json(cls, data: Any, *, where: str) -> Self:
        """Rebuild a calibrator from :meth:`to_json` output.

        Raises
        ------
        DataError
            If the description is malformed (``where`` names the file).
        """
        try:
            method = data["method"]
            x = np.asarray(data["x"], dtype=np.float64)
            y = np.asarray(data["y"], dtype=np.float64)
            a, b = float(data["a"]), float(data["b"])
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"{where}: malformed calibration ({exc})") from None
        if method not in ("isotonic", "platt", "none"):
            raise DataError(f"{where}: unknown calibration method {method!r}")
        if method == "isotonic" and (x.size == 0 or x.shape != y.shape or np.any(np.diff(x) < 0)):
            raise DataError(f"{where}: isotonic calibration needs increasing x and equal-length y")
        return cls(method, x, y, a, b)


def fit_calibrator(margin: FloatArray, labels: FloatArray, method: str) -> Calibrator:
    """Fit a calibration of raw margins to labels.

    Parameters
    ----------
    margin
        Raw booster scores of held-out rows.
    labels
        Their 0/1 labels.
    method
        ``"isotonic"``, ``"platt"`` or ``"none"``.

    Returns
    -------
    Calibrator
        ``"none"`` when the rows hold a single class or fewer than 20 rows.
    """
    if method == "none" or margin.size < _MIN_CALIBRATION_ROWS or np.unique(labels).size < 2:
        return Calibrator("none")
    if method == "isotonic":
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
        iso.fit(margin, labels)
        return Calibrator(
            "isotonic",
            np.asarray(iso.X_thresholds_, dtype=np.float64),
            np.asarray(iso.y_thresholds_, dtype=np.float64),
        )
    if method == "platt":
        from sklearn.linear_model import LogisticRegression

        lr = LogisticRegression(C=1e6, max_iter=1000)
        lr.fit(margin.reshape(-1, 1), labels)
        return Calibrator("platt", a=float(lr.coef_[0, 0]), b=float(lr.intercept_[0]))
    raise ValueError(f"unknown calibration method {method!r}")


@dataclass(frozen=True)
class ModelMetadata:
    """What a saved model records about itself.

    Attributes
    ----------
    features
        Feature names in column order.
    data_hash
        sha256 of the training matrix and labels.
    metrics
        Training metrics (see :meth:`RouteSuccessPredictor.fit`).
    params
        LightGBM parameters and boosting rounds.
    seed
        Seed of the fit.
    n_samples
        Training rows.
    calibration
        The calibration method.
    lightgbm_version
        Version that trained the booster.
    created_utc
        ISO time of the fit.
    model_sha256
        sha256 of the model file, once saved or loaded.
    """

    features: tuple[str, ...]
    data_hash: str
    metrics: dict[str, float]
    params: dict[str, Any]
    seed: int
    n_samples: int
    calibration: str
    lightgbm_version: str
    created_utc: str
    model_sha256: str | None = None


class RouteSuccessPredictor:
    """Probability that a route's trade succeeds, from the 12 route features.

    Parameters
    ----------
    config
        Hyper-parameters.
    model_path
        Default file of :meth:`save_model` and :meth:`load_model`
        (``models/route_success_model.txt``).

    Examples
    --------
    >>> predictor = RouteSuccessPredictor()
    >>> predictor.train_model(history)  # doctest: +SKIP
    >>> predictor.save_model()  # doctest: +SKIP
    """

    feature_names: tuple[str, ...] = tuple(ROUTE_FEATURE_NAMES)
    """Feature columns, in order (a subclass may add its own)."""

    def __init__(
        self,
        config: RoutePredictorConfig | None = None,
        *,
        model_path: str | os.PathLike[str] | None = None,
    ) -> None:
        self.config = config or RoutePredictorConfig()
        self.model_path = Path(model_path) if model_path is not None else DEFAULT_MODEL_PATH
        self._booster: lgb.Booster | None = None
        self._calibrator = Calibrator("none")
        self._metadata: ModelMetadata | None = None

    # -- state ---------------------------------------------------------------------------
    @property
    def is_trained(self) -> bool:
        """Whether a booster is fitted or loaded."""
        return self._booster is not None

    @property
    def booster(self) -> lgb.Booster:
        """The LightGBM booster (raises :class:`ModelNotTrainedError` before training)."""
        if self._booster is None:
            raise ModelNotTrainedError("RouteSuccessPredictor: no model; train or load one first")
        return self._booster

    @property
    def calibrator(self) -> Calibrator:
        """The calibration applied to the booster's margin."""
        return self._calibrator

    @property
    def metadata(self) -> ModelMetadata | None:
        """Metadata of the fitted or loaded model."""
        return self._metadata

    # -- training ------------------------------------------------------------------------
    def train_model(self, history: pl.DataFrame, *, seed: int = 0) -> dict[str, float]:
        """Fit the model on a table of past executions.

        Parameters
        ----------
        history
            One row per executed candidate with the 12 feature columns
            (:data:`arbkit.features.ROUTE_FEATURE_NAMES`) and ``success``; a ``block``
            column orders the rows for the calibration split (else row order).
        seed
            Seed of LightGBM.

        Returns
        -------
        dict[str, float]
            Training metrics (see :meth:`fit`).

        Raises
        ------
        DataError
            If a column is missing or the labels hold a single class.
        """
        if not isinstance(history, pl.DataFrame):
            raise DataError(
                f"train_model: expected a polars DataFrame, got {type(history).__name__}"
            )
        missing = [c for c in (*self.feature_names, "success") if c not in history.columns]
        if missing:
            raise DataError(f"train_model: history lacks column(s) {missing}")
        x = history.select(list(self.feature_names)).cast(pl.Float64).fill_null(np.nan).to_numpy()
        if history["success"].null_count():
            raise DataError("train_model: column 'success' has nulls")
        y = history["success"].cast(pl.Float64).to_numpy()
        order = history["block"].to_numpy() if "block" in history.columns else None
        return self.fit(x, y, seed=seed, order=order)

    def fit(
        self,
        features: FloatArray,
        labels: npt.ArrayLike,
        *,
        seed: int = 0,
        order: npt.ArrayLike | None = None,
    ) -> dict[str, float]:
        """Fit booster and calibration on a feature matrix.

        Parameters
        ----------
        features
            Shape ``(n, 12)``, columns in :data:`arbkit.features.ROUTE_FEATURE_NAMES`;
            NaN means missing.
        labels
            1 (success) or 0 per row.
        seed
            Seed of LightGBM (bagging and feature sampling, ties).
        order
            Time key per row (the block); the latest rows calibrate.

        Returns
        -------
        dict[str, float]
            ``n_samples``, ``n_train``, ``n_calibration``, ``base_rate``, and on the
            calibration rows ``calibration_auc`` (out of sample for the booster) and
            ``calibration_brier_raw`` / ``calibration_brier`` (the latter in sample
            for the calibration).

        Raises
        ------
        DataError
            If the shapes are wrong, a value is infinite, a label is not 0/1, or only
            one class is present.
        """
        x = np.ascontiguousarray(features, dtype=np.float64)
        y = np.asarray(labels, dtype=np.float64).ravel()
        if x.ndim != 2 or x.shape[1] != len(self.feature_names):
            raise DataError(
                f"fit: features must have shape (n, {len(self.feature_names)}), got {x.shape}"
            )
        if y.shape[0] != x.shape[0]:
            raise DataError(f"fit: {x.shape[0]} feature rows but {y.shape[0]} labels")
        if np.isinf(x).any():
            row, col = np.argwhere(np.isinf(x))[0]
            raise DataError(f"fit: feature {self.feature_names[col]!r} is infinite at row {row}")
        if not np.isin(y, (0.0, 1.0)).all():
            raise DataError("fit: labels must be 0 or 1")
        if np.unique(y).size < 2:
            raise DataError(f"fit: the {y.size} labels hold a single class; need both outcomes")
        if order is not None:
            idx = np.argsort(np.asarray(order), kind="stable")
            x, y = x[idx], y[idx]
        cfg = self.config
        n = y.size
        n_cal = round(n * cfg.calibration_fraction) if cfg.calibration != "none" else 0
        if n_cal < _MIN_CALIBRATION_ROWS or np.unique(y[: n - n_cal]).size < 2:
            n_cal = 0
        x_tr, y_tr = x[: n - n_cal], y[: n - n_cal]
        params = self._lgb_params(seed)
        dataset = lgb.Dataset(
            x_tr, y_tr, feature_name=list(self.feature_names), params={"verbose": -1}
        )
        booster = lgb.train(params, dataset, num_boost_round=cfg.n_estimators)
        metrics: dict[str, float] = {
            "n_samples": float(n),
            "n_train": float(n - n_cal),
            "n_calibration": float(n_cal),
            "base_rate": float(y.mean()),
        }
        calibrator = Calibrator("none")
        if n_cal:
            x_cal, y_cal = x[n - n_cal :], y[n - n_cal :]
            margin = np.asarray(
                booster.predict(x_cal, raw_score=True, num_threads=1), dtype=np.float64
            )
            calibrator = fit_calibrator(margin, y_cal, cfg.calibration)
            raw_p = 1.0 / (1.0 + np.exp(-margin))
            metrics["calibration_auc"] = roc_auc(y_cal, raw_p)
            metrics["calibration_brier_raw"] = float(np.mean((raw_p - y_cal) ** 2))
            metrics["calibration_brier"] = float(np.mean((calibrator.apply(margin) - y_cal) ** 2))
        self._booster = booster
        self._calibrator = calibrator
        self._metadata = ModelMetadata(
            features=tuple(self.feature_names),
            data_hash=_sha256(x.tobytes() + y.tobytes()),
            metrics={k: v for k, v in metrics.items() if math.isfinite(v)},
            params={**params, "num_boost_round": cfg.n_estimators},
            seed=int(seed),
            n_samples=int(n),
            calibration=calibrator.method,
            lightgbm_version=str(lgb.__version__),
            created_utc=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        return metrics

    def _lgb_params(self, seed: int) -> dict[str, Any]:
        cfg = self.config
        return {
            "objective": "binary",
            "learning_rate": cfg.learning_rate,
            "num_leaves": cfg.num_leaves,
            "min_data_in_leaf": cfg.min_child_samples,
            "lambda_l2": cfg.reg_lambda,
            "feature_fraction": cfg.feature_fraction,
            "seed": int(seed),
            "deterministic": True,
            "force_row_wise": True,
            "num_threads": 1,
            "verbose": -1,
        }

    # -- prediction ----------------------------------------------------------------------
    def predict_raw(self, features: FloatArray | pl.DataFrame) -> FloatArray:
        """Return the booster's raw margin (log-odds before calibration) per row."""
        x = self._as_matrix(features)
        return np.asarray(self.booster.predict(x, raw_score=True, num_threads=1), np.float64)

    def predict_proba(self, features: FloatArray | pl.DataFrame) -> FloatArray:
        """Return the calibrated success probability of every row.

        Parameters
        ----------
        features
            Shape ``(n, 12)`` (or a table with the 12 feature columns).

        Returns
        -------
        numpy.ndarray
            ``P(success)`` per row, in ``[1e-4, 1 - 1e-4]``.
        """
        return self._calibrator.apply(self.predict_raw(features))

    def predict_proba_one(self, features: Sequence[float]) -> float:
        """Return the calibrated success probability of one feature row (12 floats).

        The single-candidate hot path: one ``Booster.predict`` on a ``(1, 12)`` array
        and a scalar calibration lookup.
        """
        x = np.array(features, dtype=np.float64).reshape(1, len(self.feature_names))
        margin = self.booster.predict(x, raw_score=True, num_threads=1)
        return self._calibrator.apply_one(float(margin[0]))

    def _as_matrix(self, features: FloatArray | pl.DataFrame) -> FloatArray:
        if isinstance(features, pl.DataFrame):
            missing = [c for c in self.feature_names if c not in features.columns]
            if missing:
                raise DataError(f"predict: table lacks feature column(s) {missing}")
            return features.select(list(self.feature_names)).cast(pl.Float64).to_numpy()
        x = np.asarray(features, dtype=np.float64)
        if x.ndim == 1:
            x = x.reshape(1, -1)
        if x.ndim != 2 or x.shape[1] != len(self.feature_names):
            raise DataError(
                f"predict: features must have shape (n, {len(self.feature_names)}), got {x.shape}"
            )
        return x

    # -- persistence ---------------------------------------------------------------------
    def save_model(self, path: str | os.PathLike[str] | None = None) -> Path:
        """Write the model and its metadata atomically (see the module docstring).

        Parameters
        ----------
        path
            Model file; default :attr:`model_path`. The metadata goes to
            :func:`sidecar_path` of it.

        Returns
        -------
        Path
            The model file.

        Raises
        ------
        ModelNotTrainedError
            If no model is fitted or loaded.
        """
        booster = self.booster
        meta = self._metadata
        assert meta is not None  # set with the booster
        target = Path(path) if path is not None else self.model_path
        data = booster.model_to_string().encode("utf-8")
        digest = _sha256(data)
        payload: dict[str, Any] = {
            "format": MODEL_FORMAT,
            "model_file": target.name,
            "model_sha256": digest,
            "features": list(meta.features),
            "calibration": self._calibrator.to_json(),
            "data_hash": meta.data_hash,
            "metrics": meta.metrics,
            "params": meta.params,
            "seed": meta.seed,
            "n_samples": meta.n_samples,
            "lightgbm_version": meta.lightgbm_version,
            "created_utc": meta.created_utc,
        }
        payload["meta_sha256"] = _sha256(_canonical(payload))
        write_atomic(target, data)
        write_atomic(
            sidecar_path(target), json.dumps(payload, indent=2, sort_keys=True).encode() + b"\n"
        )
        self._metadata = _replace_sha(meta, digest)
        return target

    def load_model(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        expected_sha256: str | None = None,
    ) -> Self:
        """Load a model written by :meth:`save_model`, verifying its hashes first.

        Parameters
        ----------
        path
            Model file; default :attr:`model_path`.
        expected_sha256
            sha256 of the model file as recorded by a registry; when given, the
            metadata and the file must both match it.

        Returns
        -------
        RouteSuccessPredictor
            ``self``, with the loaded model.

        Raises
        ------
        ModelIntegrityError
            If the metadata was changed, the file's sha256 differs from the metadata
            or from ``expected_sha256``; nothing is deserialised then.
        DataError
            If a file is missing or the metadata is malformed or for other features.
        """
        target = Path(path) if path is not None else self.model_path
        meta_file = sidecar_path(target)
        try:
            meta_raw = meta_file.read_bytes()
        except FileNotFoundError:
            raise DataError(f"{meta_file}: no model metadata; cannot verify {target}") from None
        try:
            payload = json.loads(meta_raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DataError(f"{meta_file}: malformed model metadata ({exc})") from None
        if not isinstance(payload, dict) or payload.get("format") != MODEL_FORMAT:
            raise DataError(f"{meta_file}: not an {MODEL_FORMAT} metadata file")
        recorded_meta = payload.pop("meta_sha256", None)
        if recorded_meta != _sha256(_canonical(payload)):
            raise ModelIntegrityError(
                f"{meta_file}: metadata sha256 does not match its content; the metadata was "
                "changed after saving, refusing to load the model"
            )
        recorded = payload.get("model_sha256")
        if not isinstance(recorded, str):
            raise DataError(f"{meta_file}: no model_sha256")
        if expected_sha256 is not None and expected_sha256 != recorded:
            raise ModelIntegrityError(
                f"{target}: the registry expects sha256 {expected_sha256[:12]}..., the metadata "
                f"records {recorded[:12]}...; refusing to load"
            )
        try:
            data = target.read_bytes()
        except FileNotFoundError:
            raise DataError(f"{target}: no such model file") from None
        actual = _sha256(data)
        if actual != recorded:
            raise ModelIntegrityError(
                f"{target}: sha256 {actual[:12]}... does not match {recorded[:12]}... recorded in "
                f"{meta_file.name}; the model file was changed, refusing to load it"
            )
        if payload.get("features") != list(self.feature_names):
            raise DataError(
                f"{meta_file}: model features {payload.get('features')} differ from "
                f"{list(self.feature_names)}"
            )
        calibrator = Calibrator.from_json(payload.get("calibration"), where=str(meta_file))
        booster = lgb.Booster(model_str=data.decode("utf-8"))
        if booster.num_feature() != len(self.feature_names):
            raise DataError(f"{target}: booster has {booster.num_feature()} features")
        self._booster = booster
        self._calibrator = calibrator
        self._metadata = ModelMetadata(
            features=tuple(payload["features"]),
            data_hash=str(payload.get("data_hash", "")),
            metrics=dict(payload.get("metrics", {})),
            params=dict(payload.get("params", {})),
            seed=int(payload.get("seed", 0)),
            n_samples=int(payload.get("n_samples", 0)),
            calibration=calibrator.method,
            lightgbm_version=str(payload.get("lightgbm_version", "")),
            created_utc=str(payload.get("created_utc", "")),
            model_sha256=actual,
        )
        return self


def _replace_sha(meta: ModelMetadata, digest: str) -> ModelMetadata:
    return replace(meta, model_sha256=digest)
