from __future__ import annotations

import json

from arbkit.decider import RoutePredictorConfig
from arbkit.decider.report import run_holdout, write_holdout_report


def test_holdout_report_writes_metrics_figure_and_markdown(tmp_path) -> None:
    report = run_holdout(
        seed=1,
        n_blocks=6_000,
        n_folds=2,
        config=RoutePredictorConfig(n_estimators=30, min_child_samples=30),
    )
    paths = write_holdout_report(
        report, reports_dir=tmp_path / "decider", figures_dir=tmp_path / "figures"
    )
    metrics = json.loads(paths["metrics"].read_text())
    assert {"accuracy", "auc", "brier", "ece"} <= set(metrics["pooled"])
    assert len(metrics["folds"]) == 2
    assert metrics["facts"]["features"][3] == "edge_age_blocks"
    assert paths["figure"].read_bytes().startswith(b"\x89PNG")
    text = paths["markdown"].read_text()
    assert "| auc |" in text and "../figures/decider_reliability.png" in text
