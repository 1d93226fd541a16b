"""The decider's comparison: with its models and its bid, against tuned baselines and RL.

A thin entry point to the one comparison engine (:func:`arbkit.backtest.compare.run_comparison`):
every policy is replayed by the same :class:`~arbkit.backtest.Simulator` over the one
replay (:class:`arbkit.execution.Replay`), on the same held-out test histories and draws,
with the foresight upper bound of each seed. Models, RL agents and every baseline's
settings are fitted on an independent training history of the same length. The
differences against ``decider_with_model`` come with moving-block bootstrap intervals
(:func:`arbkit.backtest.compare.bootstrap_difference`), and the win-probability model's
held-out calibration with its reliability diagram.

Run ``python -m arbkit.decider.evaluate`` to write ``reports/decider/comparison.{md,json}``
and ``reports/figures/win_model_reliability.png`` (``--policies`` to run fewer).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from arbkit.backtest.compare import (
    ComparisonConfig,
    ComparisonResult,
    bootstrap_difference,
    format_comparison,
    run_comparison,
)
from arbkit.io import write_atomic

__all__ = ["DECIDER_POLICIES", "main", "win_model_calibration"]

DECIDER_POLICIES = (
    "foresight",
    "decider_with_model",
    "rule_best_tip",
    "rule_profit_share",
    "rule",
    "decider_without_model",
    "ppo",
    "dqn",
    "q_learning",
    "random",
)
"""The policies of the comparison, the decider first."""

BASE = "decider_with_model"
TUNED_BASELINES = ("rule", "rule_best_tip", "rule_profit_share", "decider_without_model")
"""The baselines tuned on the training history."""


def win_model_calibration(
    result: ComparisonResult, figure: Path | None = None
) -> list[dict[str, Any]]:
    """Return, per seed, the held-out report of ``decider_with_model``'s win model.

    The report :func:`arbkit.backtest.learners.train_win_model` wrote when the comparison
    trained the model on that seed's training history (classification metrics, the
    reliability bins, monotonicity in the bid); ``figure`` gets the reliability diagram
    of every seed.
    """
    rows = [
        {**info[f"win_model_{BASE}"], "seed": info["seed"]}
        for info in result.info
        if f"win_model_{BASE}" in info
    ]
    if figure is not None and rows:
        _plot(rows, figure)
    return rows


def _plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 5.0))
    ax.plot([0, 1], [0, 1], color="grey", lw=1, ls="--", label="perfect")
    for r in rows:
        ece = r["metrics"]["ece"]
        ax.plot(
            r["mean_predicted"],
            r["observed_rate"],
            marker="o",
            ms=3,
            lw=1,
            label=f"seed {r['seed']} (ECE {ece:.3f}, n={r['n_holdout']:,})",
        )
    ax.set_xlabel("predicted P(win | bid, features)")
    ax.set_ylabel("observed win rate")
    ax.set_title("Win-probability model, held-out rows")
    ax.legend(fontsize=7, loc="upper left")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)


def format_report(
    result: ComparisonResult, calibration: list[dict[str, Any]], ci: dict[str, dict[str, float]]
) -> str:
    """Return the markdown report: the comparison, the bootstrap intervals, the calibration."""
    text = format_comparison(
        result, title="Decider with its bid against tuned baselines", base=BASE
    )
    lines = [
        text,
        f"`{BASE}` minus each policy (positive: the decider earned more), mean per seed "
        "with a 95% moving-block bootstrap interval (runs of 720 blocks resampled within "
        "each seed's paired per-block P&L, 2,000 replicates):",
        "",
        "| policy | decider ahead by | 95% interval | replicates above 0 |",
        "|---|---|---|---|",
    ]
    for name, d in ci.items():
        lines.append(
            f"| {name} | {d['mean']:,.2f} | [{d['lo']:,.2f}, {d['hi']:,.2f}] | "
            f"{d['share_above_zero']:.1%} |"
        )
    baselines = [n for n in TUNED_BASELINES if n in result.runs]
    if BASE in result.runs and baselines:
        net = {
            n: float(np.mean([float(r["net_profit"]) for r in result.runs[n]])) for n in baselines
        }
        best = max(net, key=lambda n: net[n])
        mine = float(np.mean([float(r["net_profit"]) for r in result.runs[BASE]]))
        margin = (mine - net[best]) / abs(net[best]) if net[best] else float("nan")
        lines += [
            "",
            f"**Against the best tuned baseline** (`{best}`, {net[best]:,.2f} per seed): "
            f"`{BASE}` earned {mine:,.2f}, {margin:+.1%} (aim: +10%).",
        ]
    tuned = [
        (info["seed"], k.removeprefix("tuned_"), v)
        for info in result.info
        for k, v in info.items()
        if k.startswith("tuned_")
    ]
    if tuned:
        lines += ["", "Settings each tuned policy chose on its training history:", ""]
        lines += ["| seed | policy | settings (and training net) |", "|---|---|---|"]
        for seed, name, v in tuned:
            shown = ", ".join(
                f"{k}={val:,.4g}" if isinstance(val, float) else f"{k}={val}"
                for k, val in v.items()
            )
            lines.append(f"| {seed} | {name} | {shown} |")
    if calibration:
        lines += [
            "",
            "## Win-probability model (held-out rows of each training history)",
            "",
            "The latest 20% of the training rows, never seen by the booster or its "
            "calibration. Diagram: `reports/figures/win_model_reliability.png`.",
            "",
            "| seed | rows | base rate | AUC | Brier | ECE | P(win) monotone in the bid |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in calibration:
            m = r["metrics"]
            lines.append(
                f"| {r['seed']} | {r['n_holdout']:,} | {m['base_rate']:.3f} | {m['auc']:.3f} | "
                f"{m['brier']:.4f} | {m['ece']:.4f} | {r['monotone_in_bid']} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    """Run the comparison and write the report.

    Usage: ``python -m arbkit.decider.evaluate [--blocks N] [--seeds 0 1 2 3 4]
    [--policies ...] [--out DIR] [--figures DIR]``.
    """
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--blocks", type=int, default=21_600, help="blocks per history")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--policies", nargs="+", default=list(DECIDER_POLICIES))
    parser.add_argument("--out", default="reports/decider", help="output directory")
    parser.add_argument("--figures", default="reports/figures", help="figure directory")
    args = parser.parse_args(argv)
    config = ComparisonConfig(
        policies=tuple(args.policies),
        seeds=tuple(args.seeds),
        n_blocks=args.blocks,
        train_blocks=args.blocks,
    )
    result = run_comparison(config, progress=print)
    ci = {
        name: bootstrap_difference(result, BASE, name)
        for name in result.runs
        if name != BASE and BASE in result.runs
    }
    calibration = win_model_calibration(result, Path(args.figures) / "win_model_reliability.png")
    text = format_report(result, calibration, ci)
    out = Path(args.out)
    write_atomic(out / "comparison.md", text.encode())
    payload = {
        "config": config.model_dump(mode="json"),
        "per_seed": result.table().to_dicts(),
        "aggregate": result.aggregate().to_dicts(),
        "bounds": result.bounds,
        "info": result.info,
        "bootstrap_vs_decider_with_model": ci,
        "win_model_calibration": [
            {k: v for k, v in r.items() if k not in ("mean_predicted", "observed_rate")}
            for r in calibration
        ],
    }
    write_atomic(out / "comparison.json", json.dumps(payload, indent=2, default=str).encode())
    print(text)


if __name__ == "__main__":
    main()
