"""Classification metrics of a probabilistic classifier: accuracy, AUC, Brier, ECE, reliability."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "ReliabilityCurve",
    "accuracy",
    "brier_score",
    "classification_report",
    "expected_calibration_error",
    "log_loss",
    "reliability_curve",
    "roc_auc",
]

FloatArray = npt.NDArray[np.float64]
_EPS = 1e-12


def _as_arrays(y: npt.ArrayLike, p: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    yy = np.asarray(y, dtype=np.float64).ravel()
    pp = np.asarray(p, dtype=np.float64).ravel()
    if yy.shape != pp.shape:
        raise ValueError(f"labels ({yy.shape[0]}) and probabilities ({pp.shape[0]}) differ")
    if yy.size == 0:
        raise ValueError("no samples")
    return yy, pp


def accuracy(y: npt.ArrayLike, p: npt.ArrayLike, threshold: float = 0.5) -> float:
    """Return the share of samples whose ``p >= threshold`` equals the label."""
    yy, pp = _as_arrays(y, p)
    return float(np.mean((pp >= threshold) == (yy > 0.5)))


def brier_score(y: npt.ArrayLike, p: npt.ArrayLike) -> float:
    """Return the mean squared error of the probabilities."""
    yy, pp = _as_arrays(y, p)
    return float(np.mean((pp - yy) ** 2))


def log_loss(y: npt.ArrayLike, p: npt.ArrayLike) -> float:
    """Return the mean negative log-likelihood (probabilities clipped to ``[1e-12, 1 - 1e-12]``)."""
    yy, pp = _as_arrays(y, p)
    pp = np.clip(pp, _EPS, 1 - _EPS)
    return float(-np.mean(yy * np.log(pp) + (1 - yy) * np.log(1 - pp)))


def roc_auc(y: npt.ArrayLike, p: npt.ArrayLike) -> float:
    """Return the area under the ROC curve (Mann-Whitney, ties counted half); NaN for one class."""
    yy, pp = _as_arrays(y, p)
    pos = yy > 0.5
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(pp, kind="mergesort")
    ranks = np.empty(pp.size)
    sorted_p = pp[order]
    # average ranks of ties
    _, first, counts = np.unique(sorted_p, return_index=True, return_counts=True)
    avg = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(avg, counts)
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


@dataclass(frozen=True)
class ReliabilityCurve:
    """Reliability diagram data: per non-empty bin, mean prediction, observed rate and count."""

    bin_edges: FloatArray
    mean_predicted: FloatArray
    observed_rate: FloatArray
    counts: npt.NDArray[np.int64]


def reliability_curve(y: npt.ArrayLike, p: npt.ArrayLike, n_bins: int = 10) -> ReliabilityCurve:
    """Bin predictions into ``n_bins`` equal-width bins of ``[0, 1]``.

    Returns
    -------
    ReliabilityCurve
        Empty bins are left out.
    """
    yy, pp = _as_arrays(y, p)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    idx = np.clip(np.searchsorted(edges, pp, side="right") - 1, 0, n_bins - 1)
    counts = np.bincount(idx, minlength=n_bins)
    sum_p = np.bincount(idx, weights=pp, minlength=n_bins)
    sum_y = np.bincount(idx, weights=yy, minlength=n_bins)
    keep = counts > 0
    return ReliabilityCurve(
        bin_edges=edges,
        mean_predicted=sum_p[keep] / counts[keep],
        observed_rate=sum_y[keep] / counts[keep],
        counts=counts[keep].astype(np.int64),
    )


def expected_calibration_error(y: npt.ArrayLike, p: npt.ArrayLike, n_bins: int = 10) -> float:
    """Return the ECE: count-weighted mean ``|observed rate - mean prediction|`` over the bins."""
    curve = reliability_curve(y, p, n_bins)
    weights = curve.counts / curve.counts.sum()
    return float(np.sum(weights * np.abs(curve.observed_rate - curve.mean_predicted)))


def classification_report(y: npt.ArrayLike, p: npt.ArrayLike, n_bins: int = 10) -> dict[str, float]:
    """Return accuracy, majority-class accuracy, AUC, Brier, log loss, ECE, base rate and count.

    Parameters
    ----------
    y
        Labels (0/1 or bool).
    p
        Predicted probabilities of label 1.
    n_bins
        Bins of the ECE.

    Returns
    -------
    dict[str, float]
    """
    yy, pp = _as_arrays(y, p)
    base = float(yy.mean())
    return {
        "n": float(yy.size),
        "base_rate": base,
        "accuracy": accuracy(yy, pp),
        "majority_accuracy": max(base, 1.0 - base),
        "auc": roc_auc(yy, pp),
        "brier": brier_score(yy, pp),
        "brier_base_rate": float(base * (1 - base)),
        "log_loss": log_loss(yy, pp),
        "ece": expected_calibration_error(yy, pp, n_bins),
        "mean_predicted": float(pp.mean()),
    }
