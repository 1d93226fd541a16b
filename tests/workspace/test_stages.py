"""The pipeline's stage functions: honest splits, reproducible models, gates that bind."""

from __future__ import annotations

import hashlib
import math
from functools import lru_cache
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from arbkit.errors import ConfigError, DataError
from arbkit.execution import ExecutionConfig, label_delay_blocks
from arbkit.market.history import MarketHistory
from arbkit.registry import ModelRegistry
from arbkit.workspace import (
    brier_skill_score,
    make_histories,
    promote_candidates,
    route_dataset,
    split_by_time,
    train_route_model,
    validate,
)


@lru_cache(maxsize=1)
def _histories() -> tuple[MarketHistory, MarketHistory]:
    return make_histories("sim", seed=0, n_blocks=1_500, train_blocks=3_000)


@lru_cache(maxsize=1)
def _table() -> pl.DataFrame:
    return route_dataset(_histories()[0], seed=1)


def test_the_split_keeps_an_embargo_of_the_label_delay_before_the_holdout() -> None:
    table = _table()
    delay = label_delay_blocks(ExecutionConfig())
    train, holdout = split_by_time(table, 0.3, delay)
    first = int(holdout["block"].min())
    assert int(train["block"].max()) < first - delay  # no label known after the cut
    assert train.height + holdout.height < table.height  # the embargo dropped rows
    assert holdout.height == pytest.approx(0.3 * table.height, rel=0.1)
    with pytest.raises(ConfigError, match="holdout_fraction"):
        split_by_time(table, 1.0, delay)
    with pytest.raises(DataError, match="training"):
        split_by_time(table.head(3), 0.5, 10**9)


def test_brier_skill_is_measured_against_the_base_rate() -> None:
    assert brier_skill_score(0.25 * 0.75, 0.25) == pytest.approx(0.0)  # the base rate itself
    assert brier_skill_score(0.0, 0.25) == 1.0
    assert brier_skill_score(0.3, 0.25) < 0
    assert math.isnan(brier_skill_score(0.0, 1.0))


def test_the_same_seed_gives_the_same_model_file_and_metrics(tmp_path: Path) -> None:
    table = _table()
    files, metrics = [], []
    for run in range(2):
        model, m = train_route_model(table, seed=2)
        path = model.save_model(tmp_path / f"run{run}" / "route_model.txt")
        files.append(hashlib.sha256(path.read_bytes()).hexdigest())
        metrics.append(m)
    assert files[0] == files[1]
    assert metrics[0] == metrics[1]
    other, _ = train_route_model(table, seed=3)
    path = other.save_model(tmp_path / "other" / "route_model.txt")
    assert hashlib.sha256(path.read_bytes()).hexdigest() != files[0]


def test_route_model_metrics_are_those_of_the_held_out_rows() -> None:
    from arbkit.decider.metrics import classification_report

    table = _table()
    model, m = train_route_model(table, seed=2)
    _, holdout = split_by_time(table, 0.3, int(m["embargo_blocks"]))
    y = holdout["success"].cast(pl.Float64).to_numpy()
    rep = classification_report(y, model.predict_proba(holdout))
    assert m["accuracy"] == rep["accuracy"]
    assert m["majority_rate"] == max(y.mean(), 1 - y.mean())
    assert m["n_holdout"] == holdout.height


def test_validation_differences_are_the_paired_seed_differences() -> None:
    train, test = _histories()
    model, _ = train_route_model(_table(), seed=2)
    result, m = validate(train, test, seeds=[0, 1], route_model=model)
    nets = {k: [float(r["net_profit"]) for r in v] for k, v in result.runs.items()}
    diff = np.asarray(nets["decider_with_model"]) - np.asarray(nets["rule"])
    assert m["decider_with_model_vs_rule"] == pytest.approx(diff.mean())
    assert m["decider_with_model_ahead_seeds"] == int((diff > 0).sum())
    assert set(nets) == {"foresight", "rule", "decider_with_model"}
    # the bound is above every policy on every seed
    for i, bound in enumerate(result.bounds):
        for name in nets:
            arb = float(result.runs[name][i]["arbitrage_net_profit"])
            assert arb <= bound + 1e-9, name


def _gates(threshold: float) -> dict[str, dict[str, dict[str, object]]]:
    return {"route_model": {"auc_min": {"metric": "auc", "op": ">=", "threshold": threshold}}}


def test_a_failing_gate_blocks_promotion_and_a_passing_one_promotes(tmp_path: Path) -> None:
    table = _table()
    model, m = train_route_model(table, seed=2)
    path = model.save_model(tmp_path / "candidates" / "route_model.txt")
    data = tmp_path / "train"
    _histories()[0].save(data)
    kwargs = {
        "candidates": {"route_model": path},
        "metrics": {"route_model": m},
        "training_data": data,
        "params": {"seed": 2},
    }
    root = tmp_path / "models"
    report = tmp_path / "promotion.md"
    out = promote_candidates(root, gates=_gates(m["auc"] + 0.01), report_file=report, **kwargs)
    assert out["route_model"]["promoted"] == 0
    assert out["route_model"]["failed_gates"] == ["auc_min"]
    assert out["route_model"]["margins"]["auc_min"] == pytest.approx(-0.01)
    assert "short by 0.01" in report.read_text()
    registry = ModelRegistry(root)
    assert registry.records() == []
    with pytest.raises(DataError, match="no promoted"):
        registry.load_route_model()

    out = promote_candidates(root, gates=_gates(m["auc"] - 0.01), **kwargs)
    assert out["route_model"] == {
        "promoted": 1,
        "version": 1,
        "failed_gates": [],
        "margins": {"auc_min": pytest.approx(0.01)},
    }
    loaded = registry.load_route_model()
    x = table.head(50)
    assert np.array_equal(loaded.predict_proba(x), model.predict_proba(x))
    with pytest.raises(ConfigError, match="no gates"):
        promote_candidates(root, gates={}, **kwargs)


def test_the_same_seed_gives_the_same_rl_policy_file(tmp_path: Path) -> None:
    from arbkit.workspace import train_rl_policy

    train = _histories()[0]
    digests, metrics = [], []
    for run in range(2):
        policy, m = train_rl_policy(train, seed=3, episodes=6, window_blocks=64)
        path = policy.save(tmp_path / f"run{run}" / "rl_policy.npz")
        digests.append(hashlib.sha256(path.read_bytes()).hexdigest())
        metrics.append(m)
    assert digests[0] == digests[1]
    assert metrics[0] == metrics[1]
