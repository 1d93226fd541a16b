"""The notebooks: stripped, one typed `parameters` cell, and every one runs (papermill)."""

from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path

import nbformat
import papermill as pm
import pytest

from arbkit.registry import ModelRegistry

REPO_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((REPO_ROOT / "notebooks").rglob("*.ipynb"))
PIPELINE = sorted((REPO_ROOT / "notebooks" / "pipeline").glob("*.ipynb"))


def test_there_is_a_notebook_per_stage_and_an_exploratory_one() -> None:
    names = [p.stem for p in PIPELINE]
    assert names == [
        "1_data",
        "2_features",
        "3_train_route_model",
        "4_train_rl",
        "5_validate",
        "6_promote",
        "7_sweep",
    ]
    assert (REPO_ROOT / "notebooks" / "exploratory" / "market_exploration.ipynb") in NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebooks_are_committed_without_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name} cell {i} has outputs"
            assert cell.execution_count is None, f"{path.name} cell {i} has an execution count"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_one_parameters_cell_of_typed_literals(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: {len(tagged)} cells tagged 'parameters'"
    tree = ast.parse(tagged[0].source)
    assert tree.body
    for stmt in tree.body:
        # `name: type = literal`, nothing computed
        assert isinstance(stmt, ast.AnnAssign), f"{path.name}: {ast.unparse(stmt)}"
        assert stmt.value is not None
        ast.literal_eval(stmt.value)


def _run(name: str, root: Path, **params: object) -> None:
    src = REPO_ROOT / "notebooks" / name
    out = root / "runs" / Path(name).name
    out.parent.mkdir(parents=True, exist_ok=True)
    pm.execute_notebook(
        str(src),
        str(out),
        parameters=params,
        cwd=str(root),
        kernel_name="python3",
        progress_bar=False,
        log_output=False,
    )


def test_the_pipeline_notebooks_run_end_to_end_with_small_parameters(tmp_path: Path) -> None:
    # a project of its own: dvc.yaml marks the root, params.yaml holds the gates
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    shutil.copy(REPO_ROOT / "params.yaml", tmp_path / "params.yaml")
    _run("pipeline/1_data.ipynb", tmp_path, n_blocks=1_500, train_blocks=3_000)
    _run("pipeline/2_features.ipynb", tmp_path)
    _run("pipeline/3_train_route_model.ipynb", tmp_path)
    _run("pipeline/4_train_rl.ipynb", tmp_path, episodes=4, window_blocks=64)
    _run("pipeline/5_validate.ipynb", tmp_path, n_seeds=2)
    _run("pipeline/6_promote.ipynb", tmp_path)
    _run(
        "pipeline/7_sweep.ipynb",
        tmp_path,
        executor="local",
        trials=3,
        batch_size=2,
        train_blocks=800,
        test_blocks=400,
        folds=2,
    )
    metrics = {
        p.stem: json.loads(p.read_text()) for p in sorted((tmp_path / "metrics").glob("*.json"))
    }
    assert set(metrics) == {
        "data",
        "features",
        "route_model",
        "rl_policy",
        "validate",
        "promotion",
        "sweep",
    }
    assert metrics["sweep"]["trials"] == 3 and metrics["sweep"]["folds"] == 2
    assert (tmp_path / "reports" / "pipeline" / "sweep" / "decider.md").exists()
    assert metrics["data"]["test_blocks"] == 1_500
    plots = tmp_path / "metrics" / "plots"
    reliability = json.loads((plots / "reliability.json").read_text())
    assert reliability and {"mean_predicted", "observed_rate", "count"} <= set(reliability[0])
    rewards = json.loads((plots / "rl_rewards.json").read_text())
    assert [r["episode"] for r in rewards] == [0, 1, 2, 3]
    for key in ("accuracy", "majority_rate", "auc", "brier_skill", "ece"):
        assert key in metrics["route_model"]
    promo = metrics["promotion"]
    registry = ModelRegistry(tmp_path / "models")
    for kind in ("route_model", "rl_policy"):
        # promoted exactly when every gate passed, and then recorded in the registry
        assert promo[kind]["promoted"] == (1 if not promo[kind]["failed_gates"] else 0)
        assert (registry.latest(kind) is not None) == bool(promo[kind]["promoted"])
    report = (tmp_path / "reports" / "pipeline" / "promotion.md").read_text()
    assert "## route_model" in report and "## rl_policy" in report


def test_the_exploratory_notebook_runs_top_to_bottom(tmp_path: Path, real_data: Path) -> None:
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    _run(
        "exploratory/market_exploration.ipynb",
        tmp_path,
        real_data=str(real_data),
        sim_blocks=1_200,
        backtest_blocks=800,
    )
