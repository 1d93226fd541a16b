"""Scheduled runs: dated records, failures leave the live model alone, retrain requests."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from arbkit.errors import ConfigError
from arbkit.metrics import MetricsCollector, MetricsConfig, set_metrics_collector
from arbkit.metrics.alerts import ModelAlertKind
from arbkit.workspace.schedule import RETRAIN_MARKER, run_scheduled

DVC = str(Path(sys.executable).with_name("dvc"))

STEP = """\
import json, pathlib, sys

what = sys.argv[1]
if what == "metrics":
    pathlib.Path("metrics").mkdir(exist_ok=True)
    pathlib.Path("metrics/m.json").write_text(json.dumps({"x": 1}))
elif what == "rl":
    pathlib.Path("rl.txt").write_text("rl")
else:
    sys.exit(int(what))
"""

STAGES = """\
stages:
  train_route_model:
    cmd: {python} step.py metrics
    deps: [params.yaml]
    metrics:
      - metrics/m.json:
          cache: false
  train_rl:
    cmd: {python} step.py rl
    outs: [rl.txt]
  promote:
    cmd: {python} step.py {fail}
    deps: [metrics/m.json, rl.txt]
"""


def _project(tmp: Path, fail: int) -> Path:
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    subprocess.run(["git", "init", "-q"], cwd=tmp, check=True, env=env)
    subprocess.run([DVC, "init", "-q"], cwd=tmp, check=True, env=env)
    (tmp / "params.yaml").write_text("a: 1\n")
    (tmp / "step.py").write_text(STEP)
    (tmp / "dvc.yaml").write_text(STAGES.format(python=sys.executable, fail=fail))
    return tmp


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_a_successful_run_is_recorded_under_a_dated_folder(tmp_path: Path) -> None:
    root = _project(tmp_path, fail=0)
    when = datetime(2026, 12, 4, 3, 0, tzinfo=UTC)
    run = run_scheduled(root, now=when)
    assert run.ok and run.returncode == 0 and run.forced == ()
    assert run.run_dir == root / "reports" / "runs" / "20261204T030000Z"
    record = json.loads((run.run_dir / "run.json").read_text())
    assert record["ok"] is True
    assert json.loads((run.run_dir / "metrics" / "m.json").read_text()) == {"x": 1}
    assert not (run.run_dir / "FAILED.md").exists()
    # the same time stamp twice is refused rather than overwritten
    with pytest.raises(ConfigError, match="exists already"):
        run_scheduled(root, now=when)


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_a_failed_run_says_why_and_keeps_the_retrain_request(tmp_path: Path) -> None:
    root = _project(tmp_path, fail=3)
    marker = root / RETRAIN_MARKER
    marker.parent.mkdir(parents=True)
    marker.write_text('{"reasons": ["drift"]}')
    run = run_scheduled(root, now=datetime(2026, 12, 4, 3, 0, tzinfo=UTC))
    assert not run.ok and run.returncode != 0
    assert run.forced == ("train_route_model", "train_rl")
    failed = (run.run_dir / "FAILED.md").read_text()
    assert "unchanged" in failed and "promote" in failed
    assert marker.exists()  # the retraining did not happen: still requested


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_a_retrain_request_forces_the_training_stages_and_is_cleared(tmp_path: Path) -> None:
    root = _project(tmp_path, fail=0)
    run_scheduled(root, now=datetime(2026, 12, 4, 3, 0, tzinfo=UTC))
    marker = root / RETRAIN_MARKER
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text('{"reasons": ["drift"]}')
    collector = MetricsCollector(MetricsConfig(db_path=tmp_path / "metrics.sqlite"))
    previous = set_metrics_collector(collector)
    try:
        collector.raise_alert(
            ModelAlertKind.MODEL_DRIFT, threshold=0.25, value=0.4, message="feature drift"
        )
        assert [a.kind for a in collector.get_active_alerts()] == ["model_drift"]
        run = run_scheduled(root, now=datetime(2026, 12, 5, 3, 0, tzinfo=UTC))
        assert run.ok and run.forced == ("train_route_model", "train_rl")
        log = (run.run_dir / "dvc_repro.log").read_text()
        assert "repro --force --single-item train_route_model" in log
        assert not marker.exists()
        assert collector.get_active_alerts() == []  # the drift alert closes with it
    finally:
        set_metrics_collector(previous)
        collector.close()
