"""Model drift monitoring of the route-success model (the user guide's "monitor for model drift").

Two signals say that the model no longer fits the market it scores:

Feature drift
    The distribution of each of the 12 route features in the current data, compared with
    the training table by the population stability index
    (:func:`population_stability_index`) and by how far it moved
    (:func:`distribution_shift`); :func:`feature_drift` gives both per feature.
Calibration drift
    The predicted success probabilities against the observed outcomes over a trailing
    window (:func:`rolling_calibration`): a calibrated model's mean prediction matches the
    observed success rate.

:func:`check_drift` turns both into a :class:`DriftReport` against
:class:`DriftThresholds`; :func:`raise_drift_alert` raises a ``model_drift`` alert in the
metrics system (:mod:`arbkit.metrics`: stored, listed by ``get_alerts`` and shown on the
dashboard) and writes a retrain request that the next scheduled retraining reads with
:func:`retrain_requested` and removes with :func:`clear_retrain_request`.

Why a feature needs both a high PSI and a material shift
--------------------------------------------------------
The PSI counts how much probability mass crossed the training sample's quantile edges,
not how far it moved. On a feature made of a few tight clusters it reads a tiny move as
a large shift: ``log_liquidity_quote`` is one cluster per pool whose level follows the ETH
price, the deciles fall inside the clusters, and two simulated histories with the same
parameters (20 000 blocks, seeds 10 000 and 10 001) differ by PSI 3.2 while the
distribution moved by 2 % of its range. ``volatility`` follows the simulator's regime
chain, whose episodes last hundreds to thousands of blocks, so the regime mix of two
same-parameter histories differs by chance (PSI up to 0.4 over 20 000 blocks, far more
over a few thousand). A feature therefore counts as drifted only when its PSI exceeds
``DriftThresholds.psi_alert`` *and* its :func:`distribution_shift` exceeds
``DriftThresholds.min_shift`` (set it to 0 for the plain PSI rule).

Examples
--------
>>> report = check_drift(train_table, current_table)  # doctest: +SKIP
>>> raise_drift_alert(report)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import polars as pl

from arbkit.errors import ConfigError, DataError
from arbkit.features import ROUTE_FEATURE_NAMES
from arbkit.io import write_atomic
from arbkit.metrics import MetricsCollector, get_metrics_collector
from arbkit.metrics.alerts import ModelAlertKind

__all__ = [
    "DEFAULT_RETRAIN_MARKER",
    "PSI_FLOOR",
    "DriftReport",
    "DriftThresholds",
    "check_drift",
    "clear_retrain_request",
    "distribution_shift",
    "feature_drift",
    "population_stability_index",
    "raise_drift_alert",
    "retrain_requested",
    "rolling_calibration",
]

FloatArray = npt.NDArray[np.float64]

PSI_FLOOR: Final = 1e-4
"""Smallest bin share used in the PSI, so that an empty bin gives a finite term."""

DEFAULT_RETRAIN_MARKER: Final = "models/retrain_requested.json"
"""Where :func:`raise_drift_alert` writes the retrain request (relative to the working dir)."""

_MARKER_KIND: Final = "model_drift"
_MAX_ALERT_REASONS: Final = 5


# -- population stability index ------------------------------------------------------------


def _sample(values: npt.ArrayLike, name: str, where: str) -> FloatArray:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{where}: {name} must be numeric: {exc}") from None
    if array.ndim != 1:
        raise DataError(f"{where}: {name} must be one-dimensional, got shape {array.shape}")
    if array.size == 0:
        raise DataError(f"{where}: {name} is empty")
    return array


def _check_bins(n_bins: object, where: str) -> int:
    if isinstance(n_bins, bool) or not isinstance(n_bins, int | np.integer) or n_bins < 2:
        raise ConfigError(f"{where}: n_bins must be an integer >= 2, got {n_bins!r}")
    return int(n_bins)


def _shares(values: FloatArray, edges: FloatArray) -> FloatArray:
    nan = np.isnan(values)
    # bin i holds edges[i-1] < x <= edges[i]; the first and last bins are open-ended
    bins = np.searchsorted(edges, values[~nan], side="left")
    counts = np.bincount(bins, minlength=edges.size + 1).astype(np.float64)
    counts = np.append(counts, float(nan.sum()))  # the missing values' own bin
    return counts / values.size


def _psi(expected: FloatArray, actual: FloatArray, n_bins: int) -> float:
    finite = expected[np.isfinite(expected)]
    if finite.size:
        quantiles = np.quantile(finite, np.arange(1, n_bins) / n_bins)
        edges = np.unique(quantiles)
    else:
        edges = np.empty(0, dtype=np.float64)
    e = np.maximum(_shares(expected, edges), PSI_FLOOR)
    a = np.maximum(_shares(actual, edges), PSI_FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


def _shift(expected: FloatArray, actual: FloatArray) -> float:
    e_nan = np.isnan(expected)
    a_nan = np.isnan(actual)
    missing = abs(float(a_nan.mean()) - float(e_nan.mean()))
    x = np.sort(expected[np.isfinite(expected)])
    y = np.sort(actual[np.isfinite(actual)])
    if x.size == 0 or y.size == 0:
        return missing
    # Wasserstein-1 distance: the area between the two empirical CDFs
    grid = np.unique(np.concatenate((x, y)))
    cdf_x = np.searchsorted(x, grid[:-1], side="right") / x.size
    cdf_y = np.searchsorted(y, grid[:-1], side="right") / y.size
    distance = float(np.sum(np.abs(cdf_x - cdf_y) * np.diff(grid)))
    low, high = np.quantile(x, [0.05, 0.95])
    scale = float(high - low)
    if scale <= 0.0:
        scale = float(x[-1] - x[0])
    if scale <= 0.0:
        scale = max(abs(float(x[0])), 1.0)
    return max(distance / scale, missing)


def distribution_shift(expected: npt.ArrayLike, actual: npt.ArrayLike) -> float:
    """Return how far ``actual`` moved from ``expected``, in units of its training range.

    The Wasserstein-1 (earth mover's) distance between the two samples' finite values,
    divided by the expected sample's 5-95 % range (its full range when that is 0, and
    ``max(|value|, 1)`` for a constant sample); or the change in the share of NaN values
    when that is larger. 0.1 means the values moved on average by a tenth of the range
    that holds 90 % of the training values. Unlike the PSI it grows with the size of the
    move, and a small move of a tight cluster stays small.

    Parameters
    ----------
    expected
        The reference sample (training data), 1-D, numeric.
    actual
        The sample to compare (current data), 1-D, numeric.

    Returns
    -------
    float
        The shift, >= 0; 0 for identical samples.

    Raises
    ------
    DataError
        If a sample is empty, not numeric or not 1-D.

    Examples
    --------
    >>> round(distribution_shift([0.0, 1.0, 2.0, 3.0], [1.0, 2.0, 3.0, 4.0]), 3)  # 1 / 2.7
    0.37
    """
    where = "distribution_shift"
    return _shift(_sample(expected, "expected", where), _sample(actual, "actual", where))


def population_stability_index(
    expected: npt.ArrayLike, actual: npt.ArrayLike, n_bins: int = 10
) -> float:
    """Return the population stability index of ``actual`` against ``expected``.

    ``PSI = sum_i (a_i - e_i) * ln(a_i / e_i)`` over bins ``i``, where ``e_i`` and
    ``a_i`` are the shares of the expected (training) and actual (current) samples in
    the bin. The bins are cut at the ``n_bins``-quantiles of the expected sample's
    finite values (duplicate edges dropped, so a discrete feature gets one bin per
    value); the first and last bins are open-ended, so values outside the training range
    (and infinities) land in them. NaN values (a missing feature) form a bin of their
    own. Shares are floored at :data:`PSI_FLOOR` (1e-4) so an empty bin gives a finite
    term.

    Usual reading: below 0.1 the distribution is stable; 0.1 to 0.25 is a moderate
    shift worth watching; above 0.25 is a significant shift (the model sees data unlike
    its training data).

    Parameters
    ----------
    expected
        The reference sample (training data), 1-D, numeric.
    actual
        The sample to compare (current data), 1-D, numeric.
    n_bins
        Number of quantile bins of the expected sample (fewer when edges coincide).

    Returns
    -------
    float
        The PSI, >= 0; exactly 0 for identical samples.

    Raises
    ------
    DataError
        If a sample is empty, not numeric or not 1-D.
    ConfigError
        If ``n_bins`` is not an integer >= 2.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> train = rng.normal(size=5000)
    >>> population_stability_index(train, rng.normal(size=5000)) < 0.1
    True
    >>> population_stability_index(train, rng.normal(1.0, size=5000)) > 0.25
    True
    """
    where = "population_stability_index"
    bins = _check_bins(n_bins, where)
    return _psi(_sample(expected, "expected", where), _sample(actual, "actual", where), bins)


def _feature_values(table: pl.DataFrame, name: str, which: str, where: str) -> FloatArray:
    if name not in table.columns:
        raise DataError(f"{where}: column {name!r} is missing from the {which} table")
    column = table.get_column(name)
    if not column.dtype.is_numeric() and column.dtype != pl.Boolean:
        raise DataError(
            f"{where}: column {name!r} of the {which} table must be numeric, got {column.dtype}"
        )
    # nulls are missing values, like NaN
    return column.cast(pl.Float64).fill_null(float("nan")).to_numpy()


def _check_features(features: Sequence[str], where: str) -> tuple[str, ...]:
    if isinstance(features, str):
        raise ConfigError(f"{where}: features must be a sequence of column names, not a string")
    names = tuple(features)
    if not names:
        raise ConfigError(f"{where}: features is empty")
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ConfigError(f"{where}: features lists {duplicated} more than once")
    return names


def feature_drift(
    train: pl.DataFrame,
    current: pl.DataFrame,
    features: Sequence[str] = ROUTE_FEATURE_NAMES,
    n_bins: int = 10,
) -> pl.DataFrame:
    """Return the PSI and the shift of each feature of ``current`` against ``train``.

    Parameters
    ----------
    train
        The table the model was trained on (e.g. ``build_route_dataset(...).table``).
    current
        The table of the data the model scores now (same columns).
    features
        Columns to compare; default the 12 route features.
    n_bins
        Quantile bins of :func:`population_stability_index`.

    Returns
    -------
    polars.DataFrame
        One row per feature, in ``features`` order: ``feature`` (str), ``psi`` (f64,
        :func:`population_stability_index`) and ``shift`` (f64,
        :func:`distribution_shift`).

    Raises
    ------
    DataError
        If a table is empty, or a feature column is missing or not numeric.
    ConfigError
        If ``features`` is empty or repeats a name, or ``n_bins`` is invalid.
    """
    where = "feature_drift"
    names = _check_features(features, where)
    bins = _check_bins(n_bins, where)
    for table, which in ((train, "train"), (current, "current")):
        if table.height == 0:
            raise DataError(f"{where}: the {which} table is empty")
    psi: list[float] = []
    shift: list[float] = []
    for name in names:
        expected = _feature_values(train, name, "train", where)
        actual = _feature_values(current, name, "current", where)
        psi.append(_psi(expected, actual, bins))
        shift.append(_shift(expected, actual))
    return pl.DataFrame(
        {"feature": list(names), "psi": psi, "shift": shift},
        schema={"feature": pl.String, "psi": pl.Float64, "shift": pl.Float64},
    )


# -- calibration ------------------------------------------------------------------------------

_CALIBRATION_SCHEMA: Final = {
    "end": pl.Int64,
    "mean_predicted": pl.Float64,
    "observed_rate": pl.Float64,
    "gap": pl.Float64,
    "n": pl.Int64,
}


def _check_window(window: object, name: str, where: str) -> int:
    if isinstance(window, bool) or not isinstance(window, int | np.integer) or window < 1:
        raise ConfigError(f"{where}: {name} must be an integer >= 1, got {window!r}")
    return int(window)


def _predictions_outcomes(
    predictions: npt.ArrayLike, outcomes: npt.ArrayLike, where: str
) -> tuple[FloatArray, FloatArray]:
    try:
        p = np.asarray(predictions, dtype=np.float64)
        y = np.asarray(outcomes, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{where}: predictions and outcomes must be numeric: {exc}") from None
    if p.ndim != 1 or y.ndim != 1:
        raise DataError(
            f"{where}: predictions and outcomes must be one-dimensional, got shapes "
            f"{p.shape} and {y.shape}"
        )
    if p.size != y.size:
        raise DataError(f"{where}: {p.size} predictions but {y.size} outcomes")
    bad = np.flatnonzero(~((p >= 0.0) & (p <= 1.0)))  # NaN fails both comparisons
    if bad.size:
        i = int(bad[0])
        raise DataError(
            f"{where}: predictions must be probabilities in [0, 1]; {bad.size} are not, "
            f"the first at position {i}: {float(p[i])!r}"
        )
    bad = np.flatnonzero((y != 0.0) & (y != 1.0))
    if bad.size:
        i = int(bad[0])
        raise DataError(
            f"{where}: outcomes must be 0 or 1; {bad.size} are not, the first at "
            f"position {i}: {float(y[i])!r}"
        )
    return p, y


def rolling_calibration(
    predictions: npt.ArrayLike, outcomes: npt.ArrayLike, window: int = 200
) -> pl.DataFrame:
    """Return the calibration of the predictions over every full trailing window.

    Parameters
    ----------
    predictions
        Predicted success probabilities in [0, 1], in time order.
    outcomes
        Observed outcomes (0 or 1, or booleans), aligned with ``predictions``.
    window
        Number of consecutive predictions per window.

    Returns
    -------
    polars.DataFrame
        One row per window ending at position ``end`` (0-based, from ``window - 1`` to
        the last position; no rows when there are fewer than ``window`` predictions):
        ``end``, ``mean_predicted``, ``observed_rate``, ``gap`` (``observed_rate -
        mean_predicted``: positive when the model is too pessimistic) and ``n`` (the
        window size).

    Raises
    ------
    DataError
        If the lengths differ, a prediction is not in [0, 1] (or NaN) or an outcome is
        not 0/1.
    ConfigError
        If ``window`` is not an integer >= 1.

    Examples
    --------
    >>> rolling_calibration([0.9, 0.9, 0.9, 0.9], [1, 0, 1, 0], window=2)["gap"].to_list()
    [-0.4, -0.4, -0.4]
    """
    where = "rolling_calibration"
    size = _check_window(window, "window", where)
    p, y = _predictions_outcomes(predictions, outcomes, where)
    if p.size < size:
        return pl.DataFrame(schema=_CALIBRATION_SCHEMA)
    cum_p = np.concatenate(([0.0], np.cumsum(p)))
    cum_y = np.concatenate(([0.0], np.cumsum(y)))
    mean_p = (cum_p[size:] - cum_p[:-size]) / size
    rate = (cum_y[size:] - cum_y[:-size]) / size
    # round away the cumulative sums' float noise (a gap of 1e-17 is no gap)
    mean_p = np.round(mean_p, 12)
    rate = np.round(rate, 12)
    return pl.DataFrame(
        {
            "end": np.arange(size - 1, p.size, dtype=np.int64),
            "mean_predicted": mean_p,
            "observed_rate": rate,
            "gap": np.round(rate - mean_p, 12),
            "n": np.full(mean_p.size, size, dtype=np.int64),
        },
        schema=_CALIBRATION_SCHEMA,
    )


# -- report -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DriftThresholds:
    """When :func:`check_drift` calls the model drifted.

    Parameters
    ----------
    psi_alert
        A feature has drifted when its PSI exceeds this (0.25: the usual "significant
        shift") and its shift exceeds ``min_shift``.
    min_shift
        Smallest :func:`distribution_shift` (fraction of the feature's training 5-95 %
        range) for a feature to count as drifted; 0 leaves the PSI alone to decide. See
        the module docstring.
    calibration_gap_alert
        The model is miscalibrated when ``|observed rate - mean prediction|`` over the
        latest ``calibration_window`` predictions exceeds this.
    calibration_window
        Predictions per calibration window.
    min_rows
        Fewest rows the training and the current table must each hold (and the fewest
        predictions) for a verdict; below it the check reports no drift (not enough
        data to tell).
    n_bins
        Quantile bins of the PSI.

    Raises
    ------
    ConfigError
        If a value is out of range.
    """

    psi_alert: float = 0.25
    min_shift: float = 0.2
    calibration_gap_alert: float = 0.10
    calibration_window: int = 200
    min_rows: int = 200
    n_bins: int = 10

    def __post_init__(self) -> None:
        where = "DriftThresholds"
        for name in ("psi_alert", "calibration_gap_alert"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or value <= 0
            ):
                raise ConfigError(f"{where}: {name} must be a finite number > 0, got {value!r}")
        shift = self.min_shift
        if (
            isinstance(shift, bool)
            or not isinstance(shift, int | float)
            or not math.isfinite(shift)
            or shift < 0
        ):
            raise ConfigError(f"{where}: min_shift must be a finite number >= 0, got {shift!r}")
        if self.calibration_gap_alert >= 1:
            raise ConfigError(
                f"{where}: calibration_gap_alert must be < 1, got {self.calibration_gap_alert!r}"
            )
        _check_window(self.calibration_window, "calibration_window", where)
        _check_window(self.min_rows, "min_rows", where)
        _check_bins(self.n_bins, where)


@dataclass(frozen=True)
class DriftReport:
    """Outcome of :func:`check_drift`.

    Attributes
    ----------
    psi
        Per-feature table (``feature``, ``psi``, ``shift``) of :func:`feature_drift`, in
        feature order.
    worst_feature
        The feature with the largest PSI.
    worst_psi
        Its PSI.
    calibration_gap
        ``observed rate - mean prediction`` over the latest full calibration window;
        ``None`` when no predictions were given or fewer than a window.
    max_abs_calibration_gap
        Largest absolute gap over all full windows (``None`` likewise).
    drifted
        Whether a threshold was crossed (always ``False`` without enough data).
    reasons
        Human-readable reasons, worst PSI first, e.g. ``"feature 'gas_percentile' PSI
        0.41 > 0.25 (shift 0.31 of its training range)"``; empty when not drifted.
    enough_data
        Whether both tables held at least ``thresholds.min_rows`` rows.
    n_train, n_current, n_predictions
        Rows of the training and current tables, and predictions given.
    thresholds
        The thresholds applied.
    """

    psi: pl.DataFrame
    worst_feature: str
    worst_psi: float
    calibration_gap: float | None
    max_abs_calibration_gap: float | None
    drifted: bool
    reasons: tuple[str, ...]
    enough_data: bool
    n_train: int
    n_current: int
    n_predictions: int
    thresholds: DriftThresholds

    def to_dict(self) -> dict[str, Any]:
        """Return the report as a JSON-ready dictionary (for metrics files and the marker).

        Returns
        -------
        dict[str, Any]
            ``psi`` and ``shift`` as ``{feature: value}``, the other fields as plain
            values, ``thresholds`` as a dictionary.
        """
        names = self.psi["feature"].to_list()
        return {
            "drifted": self.drifted,
            "reasons": list(self.reasons),
            "worst_feature": self.worst_feature,
            "worst_psi": self.worst_psi,
            "psi": dict(zip(names, self.psi["psi"].to_list(), strict=True)),
            "shift": dict(zip(names, self.psi["shift"].to_list(), strict=True)),
            "calibration_gap": self.calibration_gap,
            "max_abs_calibration_gap": self.max_abs_calibration_gap,
            "enough_data": self.enough_data,
            "n_train": self.n_train,
            "n_current": self.n_current,
            "n_predictions": self.n_predictions,
            "thresholds": asdict(self.thresholds),
        }


def check_drift(
    train_table: pl.DataFrame,
    current_table: pl.DataFrame,
    *,
    predictions: npt.ArrayLike | None = None,
    outcomes: npt.ArrayLike | None = None,
    features: Sequence[str] = ROUTE_FEATURE_NAMES,
    thresholds: DriftThresholds | None = None,
) -> DriftReport:
    """Check the current data and predictions against the model's training data.

    The model has drifted when a feature's PSI exceeds ``thresholds.psi_alert`` while
    its shift exceeds ``thresholds.min_shift`` or,
    when predictions are given, the calibration gap of the latest window exceeds
    ``thresholds.calibration_gap_alert`` in absolute value. No verdict (``drifted`` is
    ``False``) is given from tables with fewer than ``thresholds.min_rows`` rows, nor
    from the calibration with fewer predictions than that or than one window.

    Parameters
    ----------
    train_table
        The table the model was trained on.
    current_table
        The table of the recent data, with the same feature columns.
    predictions, outcomes
        The model's recent predicted probabilities and the observed 0/1 outcomes, in
        time order (both or neither).
    features
        Feature columns to compare; default the 12 route features.
    thresholds
        The thresholds; the defaults of :class:`DriftThresholds` when ``None``.

    Returns
    -------
    DriftReport

    Raises
    ------
    DataError
        If a table is empty or lacks a feature column, if only one of predictions and
        outcomes is given, or if they are invalid (see :func:`rolling_calibration`).
    ConfigError
        If ``features`` is invalid.
    """
    th = DriftThresholds() if thresholds is None else thresholds
    if not isinstance(th, DriftThresholds):
        raise ConfigError(
            f"check_drift: thresholds must be a DriftThresholds, got {type(th).__name__}"
        )
    psi = feature_drift(train_table, current_table, features, th.n_bins)
    worst = int(np.argmax(psi["psi"].to_numpy()))
    worst_feature = str(psi["feature"][worst])
    worst_psi = float(psi["psi"][worst])
    enough = train_table.height >= th.min_rows and current_table.height >= th.min_rows

    reasons: list[str] = []
    if enough:
        over = psi.filter((pl.col("psi") > th.psi_alert) & (pl.col("shift") > th.min_shift))
        reasons.extend(
            f"feature {name!r} PSI {value:.2f} > {th.psi_alert:.2f} "
            f"(shift {moved:.2f} of its training range)"
            for name, value, moved in over.sort("psi", descending=True).iter_rows()
        )

    if (predictions is None) != (outcomes is None):
        given = "predictions" if outcomes is None else "outcomes"
        raise DataError(f"check_drift: {given} given without the other; pass both or neither")
    gap: float | None = None
    max_gap: float | None = None
    n_predictions = 0
    if predictions is not None and outcomes is not None:
        calibration = rolling_calibration(predictions, outcomes, th.calibration_window)
        n_predictions = int(np.asarray(predictions).size)
        if calibration.height:
            last = calibration.row(-1, named=True)
            gap = float(last["gap"])
            max_gap = float(np.max(np.abs(calibration["gap"].to_numpy())))
            if n_predictions >= th.min_rows and abs(gap) > th.calibration_gap_alert:
                reasons.append(
                    f"calibration gap {gap:+.3f} (observed {last['observed_rate']:.3f} vs "
                    f"predicted {last['mean_predicted']:.3f} over the last {last['n']} "
                    f"predictions) beyond ±{th.calibration_gap_alert:.2f}"
                )

    return DriftReport(
        psi=psi,
        worst_feature=worst_feature,
        worst_psi=worst_psi,
        calibration_gap=gap,
        max_abs_calibration_gap=max_gap,
        drifted=bool(reasons),
        reasons=tuple(reasons),
        enough_data=enough,
        n_train=train_table.height,
        n_current=current_table.height,
        n_predictions=n_predictions,
        thresholds=th,
    )


# -- alert and retrain request ------------------------------------------------------------------


def _alert_figures(report: DriftReport) -> tuple[float, float | None]:
    """Return (threshold, value) of the alert: the PSI when a feature drifted, else the gap."""
    th = report.thresholds
    drifted = report.psi.filter((pl.col("psi") > th.psi_alert) & (pl.col("shift") > th.min_shift))
    if drifted.height:
        return th.psi_alert, float(np.max(drifted["psi"].to_numpy()))
    gap = report.calibration_gap
    return th.calibration_gap_alert, None if gap is None else abs(gap)


def _alert_message(report: DriftReport) -> str:
    shown = list(report.reasons[:_MAX_ALERT_REASONS])
    if len(report.reasons) > _MAX_ALERT_REASONS:
        shown.append(f"{len(report.reasons) - _MAX_ALERT_REASONS} more")
    return "model drift: " + "; ".join(shown)


def raise_drift_alert(
    report: DriftReport,
    collector: MetricsCollector | None = None,
    *,
    retrain_marker: str | os.PathLike[str] | None = DEFAULT_RETRAIN_MARKER,
) -> bool:
    """Alert on a drifted model and request its retraining.

    When ``report.drifted``, writes the retrain request to ``retrain_marker``
    (atomically; JSON with ``kind``, ``requested_at`` (UTC, ISO 8601), ``reasons``,
    ``worst_feature``, ``worst_psi``, ``calibration_gap`` and the whole ``report``) and
    raises a ``model_drift`` alert through ``collector``
    (:meth:`arbkit.metrics.MetricsCollector.raise_alert`: stored, logged, sent to the
    webhook, listed by ``get_alerts`` / ``get_active_alerts`` and on the dashboard).
    While a ``model_drift`` alert is active it is not raised again (one breach, one
    alert), but the marker is rewritten with the latest figures. When the report has not
    drifted, nothing is done: no alert, and the marker is not touched.

    Parameters
    ----------
    report
        The outcome of :func:`check_drift`.
    collector
        Metrics collector; the process-wide one (:func:`arbkit.metrics.get_metrics_collector`)
        when ``None``.
    retrain_marker
        Where to write the retrain request; ``None`` writes none.

    Returns
    -------
    bool
        Whether a new alert was raised.
    """
    if not report.drifted:
        return False
    # the retrain request first: it is what makes the model recover
    if retrain_marker is not None:
        marker = {
            "kind": _MARKER_KIND,
            "requested_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "reasons": list(report.reasons),
            "worst_feature": report.worst_feature,
            "worst_psi": report.worst_psi,
            "calibration_gap": report.calibration_gap,
            "report": report.to_dict(),
        }
        body = json.dumps(marker, indent=2, allow_nan=False) + "\n"
        write_atomic(retrain_marker, body.encode())
    if collector is None:
        collector = get_metrics_collector()
    threshold, value = _alert_figures(report)
    transition = collector.raise_alert(
        ModelAlertKind.MODEL_DRIFT,
        threshold=threshold,
        value=value,
        message=_alert_message(report),
    )
    return transition is not None


def retrain_requested(marker_path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """Return the retrain request written by :func:`raise_drift_alert`, if any.

    Parameters
    ----------
    marker_path
        The marker file.

    Returns
    -------
    dict[str, Any] | None
        The request (``kind``, ``requested_at``, ``reasons``, ``worst_feature``,
        ``worst_psi``, ``calibration_gap``, ``report``), or ``None`` when there is no
        marker.

    Raises
    ------
    DataError
        If the file is not a JSON object with a ``requested_at`` string and a
        ``reasons`` list of strings.
    """
    path = Path(marker_path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"retrain request {path}: cannot read it: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"retrain request {path}: not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise DataError(
            f"retrain request {path}: expected a JSON object, got {type(data).__name__}"
        )
    if not isinstance(data.get("requested_at"), str):
        raise DataError(f"retrain request {path}: 'requested_at' must be a string")
    reasons = data.get("reasons")
    if not isinstance(reasons, list) or not all(isinstance(r, str) for r in reasons):
        raise DataError(f"retrain request {path}: 'reasons' must be a list of strings")
    return data


def clear_retrain_request(
    marker_path: str | os.PathLike[str], *, collector: MetricsCollector | None = None
) -> bool:
    """Remove the retrain request (once the model is retrained).

    Parameters
    ----------
    marker_path
        The marker file.
    collector
        When given, its active ``model_drift`` alert is cleared too. ``None`` leaves
        the metrics untouched.

    Returns
    -------
    bool
        Whether a marker was removed.
    """
    try:
        Path(marker_path).unlink()
        removed = True
    except FileNotFoundError:
        removed = False
    if collector is not None:
        collector.clear_alert(ModelAlertKind.MODEL_DRIFT)
    return removed
