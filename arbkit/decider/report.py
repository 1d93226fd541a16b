"""Walk-forward holdout report of the route-success model on a simulated history.

:func:`run_holdout` is pure (simulate, label, walk forward); :func:`write_holdout_report`
writes the metrics JSON, the reliability diagram PNG and a short markdown summary;
:func:`main` is the thin runner::

    python -m arbkit.decider.report [--seed 42] [--blocks 50000] [--folds 4]

Outputs (default): ``reports/decider/holdout_metrics.json``, ``reports/decider/holdout.md``
and ``reports/figures/decider_reliability.png``.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from arbkit.decider.config import RoutePredictorConfig
from arbkit.decider.metrics import reliability_curve
from arbkit.decider.training import (
    CrossValidationResult,
    build_route_dataset,
    cross_validate_route_model,
)
from arbkit.features import ROUTE_FEATURES, FeatureConfig
from arbkit.io import write_atomic
from arbkit.market.sim import simulate_market

__all__ = ["HoldoutReport", "main", "plot_reliability", "run_holdout", "write_holdout_report"]


@dataclass(frozen=True, eq=False)
class HoldoutReport:
    """Result of :func:`run_holdout`.

    Attributes
    ----------
    result
        The walk-forward predictions and metrics.
    facts
        Seed, blocks, rows, success rate, model options, and how often the regime label
        of :func:`arbkit.features.build_regime_features` agrees with the simulator's.
    """

    result: CrossValidationResult
    facts: dict[str, Any]


def run_holdout(
    *,
    seed: int = 42,
    n_blocks: int = 50_000,
    n_folds: int = 4,
    config: RoutePredictorConfig | None = None,
    feature_config: FeatureConfig | None = None,
) -> HoldoutReport:
    """Simulate a history, label it with the execution model and walk the model forward.

    Parameters
    ----------
    seed
        Seed of the history, the labels and the fits.
    n_blocks
        Blocks of the simulated history.
    n_folds
        Walk-forward test windows (after the first 40 % of the blocks).
    config
        Model hyper-parameters.
    feature_config
        Feature options.

    Returns
    -------
    HoldoutReport
    """
    cfg = config or RoutePredictorConfig()
    fcfg = feature_config or FeatureConfig()
    ss_hist, ss_label, ss_fit = np.random.SeedSequence(seed).spawn(3)
    history = simulate_market(seed=int(ss_hist.generate_state(1)[0]), n_blocks=n_blocks)
    data = build_route_dataset(history, seed=ss_label, feature_config=fcfg)
    result = cross_validate_route_model(
        data.table,
        seed=int(ss_fit.generate_state(1)[0] % (2**31 - 1)),
        n_folds=n_folds,
        embargo_blocks=fcfg.label_delay(),
        config=cfg,
    )
    facts: dict[str, Any] = {
        "seed": seed,
        "n_blocks": n_blocks,
        "rows": data.table.height,
        "success_rate": float(np.mean(data.table["success"].to_numpy())),
        "reasons": dict(data.table["reason"].value_counts().iter_rows()),
        "model": cfg.model_dump(),
        "features": [f.name for f in ROUTE_FEATURES],
    }
    if "regime" in history.blocks.columns:
        truth = history.blocks["regime"].to_numpy()
        ours = data.regime["regime_label"].to_numpy()
        facts["regime_label_agreement"] = float(np.mean(truth == ours))
        facts["regime_label_confusion"] = (
            pl.DataFrame({"simulated": truth, "labelled": ours})
            .group_by("simulated", "labelled")
            .len()
            .sort("simulated", "labelled")
            .to_dicts()
        )
    return HoldoutReport(result=result, facts=facts)


def plot_reliability(
    predictions: pl.DataFrame, path: str | os.PathLike[str], *, n_bins: int = 10
) -> Path:
    """Save the reliability diagram of out-of-sample predictions as a PNG (atomically).

    Parameters
    ----------
    predictions
        ``success``, ``p`` (calibrated) and ``p_raw`` columns.
    path
        Destination PNG.
    n_bins
        Equal-width bins.

    Returns
    -------
    Path
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    y = predictions["success"].to_numpy()
    fig, (ax, hist) = plt.subplots(
        2, 1, figsize=(6, 7), height_ratios=(3, 1), sharex=True, constrained_layout=True
    )
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=1, label="perfect calibration")
    for column, label, marker in (("p", "calibrated", "o"), ("p_raw", "booster (raw)", "s")):
        curve = reliability_curve(y, predictions[column].to_numpy(), n_bins)
        ax.plot(curve.mean_predicted, curve.observed_rate, marker=marker, label=label)
    ax.set_ylabel("observed success rate")
    ax.set_title("Route-success model: walk-forward reliability")
    ax.legend(loc="upper left")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    hist.hist(predictions["p"].to_numpy(), bins=np.linspace(0, 1, 41), color="C0")
    hist.set_xlabel("predicted success probability")
    hist.set_ylabel("trades")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return write_atomic(path, buf.getvalue())


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def write_holdout_report(
    report: HoldoutReport,
    *,
    reports_dir: str | os.PathLike[str] = "reports/decider",
    figures_dir: str | os.PathLike[str] = "reports/figures",
) -> dict[str, Path]:
    """Write the metrics JSON, the reliability PNG and the markdown summary.

    Parameters
    ----------
    report
        Output of :func:`run_holdout`.
    reports_dir, figures_dir
        Destination folders.

    Returns
    -------
    dict[str, Path]
        ``metrics``, ``figure`` and ``markdown`` paths.
    """
    res = report.result
    rep_dir, fig_dir = Path(reports_dir), Path(figures_dir)
    metrics = {
        "pooled": res.pooled,
        "pooled_raw": res.pooled_raw,
        "folds": res.folds,
        "facts": report.facts,
    }
    metrics_path = write_atomic(
        rep_dir / "holdout_metrics.json",
        json.dumps(metrics, indent=2, default=float).encode() + b"\n",
    )
    figure = plot_reliability(res.predictions, fig_dir / "decider_reliability.png")
    keys = ("accuracy", "majority_accuracy", "auc", "brier", "brier_base_rate", "ece", "log_loss")
    pooled = res.pooled
    lines = [
        "# Route-success model: walk-forward holdout",
        "",
        f"Simulated history: seed {report.facts['seed']}, {report.facts['n_blocks']:,} blocks, "
        f"{report.facts['rows']:,} candidates executed by the execution model (success rate "
        f"{report.facts['success_rate']:.3f}). {len(res.folds)} expanding-window folds; "
        "each trains on the labels known before its window.",
        "",
        "| metric | calibrated | raw booster |",
        "|---|---|---|",
        *(f"| {k} | {_fmt(pooled[k])} | {_fmt(res.pooled_raw[k])} |" for k in keys),
        "",
        "| fold | first block | train rows | test rows | accuracy | AUC | Brier | ECE |",
        "|---|---|---|---|---|---|---|---|",
        *(
            f"| {f['fold']} | {f['test_first_block']} | {f['train_rows']} | {f['test_rows']} | "
            f"{f['accuracy']:.4f} | {f['auc']:.4f} | {f['brier']:.4f} | {f['ece']:.4f} |"
            for f in res.folds
        ),
        "",
        f"![reliability diagram]({os.path.relpath(figure, rep_dir)})",
        "",
        f"- Accuracy {pooled['accuracy']:.3f} is above the guide's 60 % bar, but always "
        f"predicting the majority class scores {pooled['majority_accuracy']:.3f} "
        f"({pooled['accuracy'] - pooled['majority_accuracy']:+.3f}): the signal is in the "
        "ranking (AUC) and the calibration, not in 0/1 calls.",
        f"- ECE {pooled['ece']:.4f} (aim: at most 0.05); Brier {pooled['brier']:.4f} against "
        f"{pooled['brier_base_rate']:.4f} for the constant base rate.",
    ]
    if "regime_label_agreement" in report.facts:
        lines.append(
            "- The regime label of the features agrees with the simulator's hidden regime on "
            f"{report.facts['regime_label_agreement']:.1%} of the blocks."
        )
    markdown = write_atomic(rep_dir / "holdout.md", ("\n".join(lines) + "\n").encode())
    return {"metrics": metrics_path, "figure": figure, "markdown": markdown}


def main(argv: Sequence[str] | None = None) -> None:
    """Run the walk-forward holdout and write its report (see the module docstring)."""
    import argparse

    parser = argparse.ArgumentParser(description="Walk-forward holdout of the route model.")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--blocks", type=int, default=50_000)
    parser.add_argument("--folds", type=int, default=4)
    parser.add_argument("--reports-dir", default="reports/decider")
    parser.add_argument("--figures-dir", default="reports/figures")
    args = parser.parse_args(argv)
    report = run_holdout(seed=args.seed, n_blocks=args.blocks, n_folds=args.folds)
    paths = write_holdout_report(report, reports_dir=args.reports_dir, figures_dir=args.figures_dir)
    for name, path in paths.items():
        print(f"{name}: {path}")
    print(json.dumps(report.result.pooled, indent=2))


if __name__ == "__main__":
    main()
