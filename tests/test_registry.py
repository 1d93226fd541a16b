from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import polars as pl
import pytest

from arbkit.decider.config import RoutePredictorConfig
from arbkit.decider.predictor import RouteSuccessPredictor, sidecar_path
from arbkit.errors import ArbkitError, ConfigError, DataError, ModelIntegrityError
from arbkit.features import ROUTE_FEATURE_NAMES
from arbkit.io import sha256_file
from arbkit.registry import (
    GateResult,
    GateSpec,
    ModelRecord,
    ModelRegistry,
    PromotionRefused,
    check_gates,
    format_gates,
    gates_from_params,
    hash_paths,
)
from arbkit.rl.config import RLPolicyConfig
from arbkit.rl.policy import RLArbitragePolicy

GATE_PARAMS: dict[str, dict[str, Any]] = {
    "accuracy_min": {"metric": "accuracy", "op": ">", "threshold": 0.6},
    "accuracy_vs_majority": {"metric": "accuracy", "op": ">", "threshold": "majority_rate"},
    "brier_max": {"metric": "brier", "op": "<=", "threshold": 0.25},
}
GOOD_METRICS = {"accuracy": 0.7, "majority_rate": 0.62, "brier": 0.2}


# -- fixtures: small real models -----------------------------------------------------------
def _route_table(n: int, seed: int) -> pl.DataFrame:
    """The 12 route features with a success label that depends on three of them."""
    rng = np.random.default_rng(seed)
    cols = {name: rng.uniform(0, 1, n) for name in ROUTE_FEATURE_NAMES}
    cols["edge_bps"] = rng.uniform(1, 40, n)
    cols["edge_age_blocks"] = rng.integers(0, 6, n).astype(float)
    logit = 2.5 - 0.05 * cols["edge_bps"] - 0.6 * cols["edge_age_blocks"] + cols["gas_share"]
    success = rng.uniform(size=n) < 1 / (1 + np.exp(-logit))
    return pl.DataFrame({"block": np.arange(n, dtype=np.int64), **cols, "success": success})


@pytest.fixture(scope="module")
def route_table() -> pl.DataFrame:
    return _route_table(1_500, seed=3)


@pytest.fixture(scope="module")
def route_predictor(route_table: pl.DataFrame) -> RouteSuccessPredictor:
    predictor = RouteSuccessPredictor(RoutePredictorConfig(n_estimators=25, min_child_samples=40))
    predictor.train_model(route_table, seed=5)
    return predictor


@pytest.fixture
def route_file(route_predictor: RouteSuccessPredictor, tmp_path: Path) -> Path:
    return route_predictor.save_model(tmp_path / "work" / "route_success_model.txt")


def _policy(seed: int) -> RLArbitragePolicy:
    policy = RLArbitragePolicy(RLPolicyConfig(seed=seed))
    policy.q_table = np.random.default_rng(seed).normal(size=policy.q_table.shape)
    policy.episodes = 3
    return policy


@pytest.fixture
def rl_file(tmp_path: Path) -> Path:
    return _policy(11).save(tmp_path / "work" / "rl_policy_model.npz")


@pytest.fixture
def passed_gates() -> list[GateResult]:
    results = check_gates(GOOD_METRICS, gates_from_params(GATE_PARAMS))
    assert all(r.passed for r in results)
    return results


def _promote(
    registry: ModelRegistry, kind: str, path: Path, gates: list[GateResult]
) -> ModelRecord:
    return registry.promote(
        kind,
        path,
        gates=gates,
        metrics=GOOD_METRICS,
        data_hash="d" * 64,
        params={"n_estimators": 25, "seed": 5},
        git_revision="abc123",
    )


def _flip_byte(path: Path, at: int | None = None) -> None:
    data = bytearray(path.read_bytes())
    i = len(data) // 2 if at is None else at
    data[i] ^= 0x01
    path.write_bytes(bytes(data))


def _snapshot(root: Path) -> dict[str, bytes]:
    if not root.exists():
        return {}
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


# -- gates ---------------------------------------------------------------------------------
def test_passing_gate_has_positive_margin_and_no_reason() -> None:
    [result] = check_gates({"accuracy": 0.7}, {"acc": GateSpec("accuracy", ">", 0.6)})
    assert result.passed
    assert result.value == 0.7 and result.threshold == 0.6
    assert result.margin == pytest.approx(0.1)
    assert result.reason == ""
    assert result.threshold_metric is None


def test_failing_gate_reports_its_shortfall() -> None:
    gates = {"accuracy_min": GateSpec("accuracy", ">", 0.6)}
    [result] = check_gates({"accuracy": 0.55}, gates)
    assert not result.passed
    assert result.margin == pytest.approx(-0.05)
    assert result.reason == "accuracy 0.55 is not > 0.6 (short by 0.05)"


def test_upper_bound_gate_margin_is_threshold_minus_value() -> None:
    gates = {"brier_max": GateSpec("brier", "<", 0.25)}
    [ok] = check_gates({"brier": 0.2}, gates)
    [bad] = check_gates({"brier": 0.3}, gates)
    assert ok.passed and ok.margin == pytest.approx(0.05)
    assert not bad.passed and bad.margin == pytest.approx(-0.05)
    assert bad.reason == "brier 0.3 is not < 0.25 (short by 0.05)"


@pytest.mark.parametrize(("op", "passed"), [(">", False), (">=", True), ("<", False), ("<=", True)])
def test_a_value_equal_to_the_threshold_passes_only_inclusive_ops(op: str, passed: bool) -> None:
    [result] = check_gates({"m": 0.5}, {"g": GateSpec("m", op, 0.5)})  # type: ignore[arg-type]
    assert result.passed is passed
    assert result.margin == 0.0
    assert result.reason == ("" if passed else f"m 0.5 is not {op} 0.5 (equal to it)")


def test_threshold_naming_another_metric() -> None:
    gates = gates_from_params(GATE_PARAMS)
    assert gates["accuracy_vs_majority"] == GateSpec("accuracy", ">", "majority_rate")
    [ok] = check_gates(
        {"accuracy": 0.7, "majority_rate": 0.62}, {"g": gates["accuracy_vs_majority"]}
    )
    assert ok.passed and ok.threshold == 0.62 and ok.threshold_metric == "majority_rate"
    assert ok.margin == pytest.approx(0.08)
    [bad] = check_gates(
        {"accuracy": 0.6, "majority_rate": 0.62}, {"g": gates["accuracy_vs_majority"]}
    )
    assert not bad.passed and bad.margin == pytest.approx(-0.02)
    assert bad.reason == "accuracy 0.6 is not > majority_rate 0.62 (short by 0.02)"


@pytest.mark.parametrize(
    ("metrics", "reason"),
    [
        ({}, "metric 'auc' is missing"),
        ({"auc": None}, "metric 'auc' is not a number (None)"),
        ({"auc": math.nan}, "metric 'auc' is not finite (nan)"),
        ({"auc": math.inf}, "metric 'auc' is not finite (inf)"),
        ({"auc": "0.9"}, "metric 'auc' is not a number ('0.9')"),
    ],
)
def test_missing_or_non_finite_metric_fails(metrics: dict[str, object], reason: str) -> None:
    [result] = check_gates(metrics, {"auc_min": GateSpec("auc", ">=", 0.7)})  # type: ignore[arg-type]
    assert not result.passed
    assert result.reason == reason
    assert math.isnan(result.margin)
    # a NaN must never slip through as "not less than" either
    [upper] = check_gates(metrics, {"auc_max": GateSpec("auc", "<", 0.7)})  # type: ignore[arg-type]
    assert not upper.passed


def test_missing_threshold_metric_fails() -> None:
    [result] = check_gates({"accuracy": 0.9}, {"g": GateSpec("accuracy", ">", "majority_rate")})
    assert not result.passed
    assert result.reason == "metric 'majority_rate' is missing"


def test_gates_from_params_keeps_order_and_converts_ints() -> None:
    gates = gates_from_params(
        {**GATE_PARAMS, "n_min": {"metric": "n", "op": ">=", "threshold": 100}}
    )
    assert list(gates) == ["accuracy_min", "accuracy_vs_majority", "brier_max", "n_min"]
    assert gates["accuracy_min"] == GateSpec("accuracy", ">", 0.6)
    assert gates["n_min"].threshold == 100.0 and isinstance(gates["n_min"].threshold, float)
    results = check_gates(GOOD_METRICS | {"n": 150}, gates)
    assert [r.passed for r in results] == [True, True, True, True]


@pytest.mark.parametrize(
    ("entry", "match"),
    [
        ({"metric": "accuracy", "op": "=>", "threshold": 0.6}, "unknown op '=>'"),
        ({"metric": "accuracy", "op": ">"}, "missing key.*threshold"),
        ({"op": ">", "threshold": 0.6}, "missing key.*metric"),
        ({"metric": "accuracy", "op": ">", "threshold": [0.6]}, "threshold must be a number"),
        ({"metric": "accuracy", "op": ">", "threshold": True}, "threshold must be a number"),
        ({"metric": "accuracy", "op": ">", "threshold": None}, "threshold must be a number"),
        ({"metric": "accuracy", "op": ">", "threshold": math.nan}, "not finite"),
        ({"metric": "accuracy", "op": ">", "threshold": "0.6"}, "quoted number"),
        ({"metric": "", "op": ">", "threshold": 0.6}, "metric must be a non-empty string"),
        ({"metric": "accuracy", "op": ">", "threshold": 0.6, "thresh": 1}, "unknown key.*thresh"),
        ("accuracy > 0.6", "expected a mapping"),
    ],
)
def test_bad_gate_spec_raises_config_error_naming_the_gate(entry: object, match: str) -> None:
    with pytest.raises(ConfigError, match=match) as info:
        gates_from_params({"my_gate": entry})  # type: ignore[dict-item]
    assert "gate 'my_gate'" in str(info.value)


def test_gate_spec_validates_when_built_directly() -> None:
    with pytest.raises(ConfigError, match="op"):
        GateSpec("accuracy", "!=", 0.6)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="finite"):
        GateSpec("accuracy", ">", math.inf)


def test_format_gates_is_a_markdown_table() -> None:
    results = check_gates(
        {"accuracy": 0.55, "majority_rate": 0.5, "brier": 0.2}, gates_from_params(GATE_PARAMS)
    )
    table = format_gates(results)
    lines = table.splitlines()
    assert lines[0] == "| gate | metric | value | op | threshold | margin | passed |"
    assert len(lines) == 2 + len(results)
    assert lines[1].count("|") == 8
    assert all(line.startswith("| ") and line.endswith(" |") for line in lines[2:])
    assert lines[2] == (
        "| accuracy_min | accuracy | 0.55 | > | 0.6 | -0.05 | "
        "**no**: accuracy 0.55 is not > 0.6 (short by 0.05) |"
    )
    assert lines[3] == (
        "| accuracy_vs_majority | accuracy | 0.55 | > | majority_rate (0.5) | 0.05 | yes |"
    )
    assert lines[4] == "| brier_max | brier | 0.2 | <= | 0.25 | 0.05 | yes |"


# -- promotion -----------------------------------------------------------------------------
def test_a_failing_gate_blocks_promotion(tmp_path: Path, route_file: Path) -> None:
    root = tmp_path / "models"
    registry = ModelRegistry(root)
    _promote(
        registry,
        "route_model",
        route_file,
        check_gates(GOOD_METRICS, gates_from_params(GATE_PARAMS)),
    )
    before = _snapshot(root)
    bad_metrics = {"accuracy": 0.55, "majority_rate": 0.62, "brier": 0.3}
    results = check_gates(bad_metrics, gates_from_params(GATE_PARAMS))
    with pytest.raises(PromotionRefused) as info:
        _promote(registry, "route_model", route_file, results)
    message = str(info.value)
    assert "3 of 3 gate(s) failed" in message
    assert "accuracy_min: accuracy 0.55 is not > 0.6 (short by 0.05)" in message
    assert (
        "accuracy_vs_majority: accuracy 0.55 is not > majority_rate 0.62 (short by 0.07)" in message
    )
    assert "brier_max: brier 0.3 is not <= 0.25 (short by 0.05)" in message
    assert [g.name for g in info.value.failed] == [
        "accuracy_min",
        "accuracy_vs_majority",
        "brier_max",
    ]
    assert isinstance(info.value, ArbkitError)
    assert _snapshot(root) == before
    assert [r.version for r in registry.records()] == [1]


def test_a_single_failed_gate_among_passed_ones_blocks(tmp_path: Path, route_file: Path) -> None:
    registry = ModelRegistry(tmp_path / "models")
    results = check_gates(GOOD_METRICS | {"brier": 0.3}, gates_from_params(GATE_PARAMS))
    with pytest.raises(PromotionRefused, match="1 of 3") as info:
        _promote(registry, "route_model", route_file, results)
    assert "accuracy_min" not in str(info.value)
    assert not (tmp_path / "models").exists()


def test_promotion_without_gates_is_refused(tmp_path: Path, route_file: Path) -> None:
    registry = ModelRegistry(tmp_path / "models")
    with pytest.raises(PromotionRefused, match="no gate was checked"):
        _promote(registry, "route_model", route_file, [])
    assert not (tmp_path / "models").exists()


def test_promoted_route_model_is_recorded_and_loads(
    tmp_path: Path,
    route_file: Path,
    route_predictor: RouteSuccessPredictor,
    route_table: pl.DataFrame,
    passed_gates: list[GateResult],
) -> None:
    root = tmp_path / "models"
    registry = ModelRegistry(root)
    record = registry.promote(
        "route_model",
        route_file,
        gates=passed_gates,
        metrics=GOOD_METRICS | {"auc": math.nan},
        data_hash="d" * 64,
        params={"n_estimators": 25, "seed": 5},
        git_revision="abc123",
    )
    assert record.kind == "route_model" and record.version == 1
    assert record.file == "promoted/route_model/v1/route_success_model.txt"
    assert record.sidecar == "promoted/route_model/v1/route_success_model.txt.meta.json"
    assert record.sha256 == sha256_file(route_file) == sha256_file(root / record.file)
    assert record.sidecar_sha256 == sha256_file(sidecar_path(route_file))
    assert record.metrics == GOOD_METRICS  # the NaN auc is left out
    assert record.data_hash == "d" * 64
    assert record.params == {"n_estimators": 25, "seed": 5}
    assert record.git_revision == "abc123"
    assert [g["name"] for g in record.gates] == list(GATE_PARAMS)
    assert all(g["passed"] for g in record.gates)

    stored = json.loads((root / "registry.json").read_text())
    assert isinstance(stored, list) and stored == [record.to_dict()]
    assert (root / "registry.json").read_text() == json.dumps(
        stored, indent=2, sort_keys=True
    ) + "\n"
    assert registry.records() == [record]
    assert ModelRegistry(root).latest("route_model") == record

    loaded = registry.load_route_model()
    x = route_table.select(ROUTE_FEATURE_NAMES).to_numpy()[:200]
    assert loaded.predict_proba(x).tolist() == route_predictor.predict_proba(x).tolist()
    assert loaded.metadata is not None and loaded.metadata.model_sha256 == record.sha256
    assert registry.verify(record) == (root / record.file).absolute()


def test_promoted_rl_policy_is_recorded_and_loads(
    tmp_path: Path, rl_file: Path, passed_gates: list[GateResult]
) -> None:
    root = tmp_path / "models"
    registry = ModelRegistry(root)
    record = _promote(registry, "rl_policy", rl_file, passed_gates)
    assert record.file == "promoted/rl_policy/v1/rl_policy_model.npz"
    assert record.sidecar == "promoted/rl_policy/v1/rl_policy_model.npz.sha256"
    assert record.sha256 == sha256_file(rl_file)
    loaded = registry.load_rl_policy()
    original = _policy(11)
    np.testing.assert_array_equal(loaded.q_table, original.q_table)
    assert loaded.episodes == 3
    states = np.random.default_rng(0).uniform(-1, 1, size=(64, 6))
    assert loaded.greedy_actions(states).tolist() == original.greedy_actions(states).tolist()


def test_versions_increase_per_kind_and_latest_is_newest(
    tmp_path: Path, route_file: Path, rl_file: Path, passed_gates: list[GateResult]
) -> None:
    registry = ModelRegistry(tmp_path / "models")
    assert registry.latest("route_model") is None and registry.records() == []
    r1 = _promote(registry, "route_model", route_file, passed_gates)
    p1 = _promote(registry, "rl_policy", rl_file, passed_gates)
    r2 = _promote(registry, "route_model", route_file, passed_gates)
    _policy(12).save(rl_file)
    p2 = _promote(registry, "rl_policy", rl_file, passed_gates)
    r3 = _promote(registry, "route_model", route_file, passed_gates)
    assert [r.version for r in (r1, r2, r3)] == [1, 2, 3]
    assert [p.version for p in (p1, p2)] == [1, 2]
    assert [r.version for r in registry.records("route_model")] == [1, 2, 3]
    assert registry.latest("route_model") == r3
    assert registry.latest("rl_policy") == p2
    assert p2.sha256 != p1.sha256
    # both versions stay on disk and loadable
    np.testing.assert_array_equal(registry.load_rl_policy(p1).q_table, _policy(11).q_table)
    np.testing.assert_array_equal(registry.load_rl_policy().q_table, _policy(12).q_table)


def test_an_unrecorded_version_folder_is_never_overwritten(
    tmp_path: Path, route_file: Path, passed_gates: list[GateResult]
) -> None:
    root = tmp_path / "models"
    stray = root / "promoted" / "route_model" / "v1" / "keep.txt"
    stray.parent.mkdir(parents=True)
    stray.write_text("not ours")
    record = _promote(ModelRegistry(root), "route_model", route_file, passed_gates)
    assert record.version == 2
    assert stray.read_text() == "not ours"


# -- integrity -----------------------------------------------------------------------------
@pytest.fixture
def forbid_deserialising(monkeypatch: pytest.MonkeyPatch) -> object:
    """Call it to fail the test if LightGBM or numpy is then asked to parse a model."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a model was deserialised")

    def forbid() -> None:
        monkeypatch.setattr(lgb, "Booster", refuse)
        monkeypatch.setattr(np, "load", refuse)

    return forbid


def test_a_tampered_route_model_is_refused(
    tmp_path: Path, route_file: Path, passed_gates: list[GateResult], forbid_deserialising: Any
) -> None:
    root = tmp_path / "models"
    registry = ModelRegistry(root)
    record = _promote(registry, "route_model", route_file, passed_gates)
    forbid_deserialising()
    _flip_byte(root / record.file)
    with pytest.raises(ModelIntegrityError) as info:
        registry.verify(record)
    message = str(info.value)
    assert "route_success_model.txt" in message
    assert record.sha256[:12] in message
    assert sha256_file(root / record.file)[:12] in message
    with pytest.raises(ModelIntegrityError, match="does not match"):
        registry.load_route_model()


def test_a_tampered_route_sidecar_is_refused(
    tmp_path: Path, route_file: Path, passed_gates: list[GateResult], forbid_deserialising: Any
) -> None:
    root = tmp_path / "models"
    registry = ModelRegistry(root)
    record = _promote(registry, "route_model", route_file, passed_gates)
    forbid_deserialising()
    assert record.sidecar is not None
    meta = json.loads((root / record.sidecar).read_text())
    meta["calibration"]["a"] = 0.0
    (root / record.sidecar).write_text(json.dumps(meta))
    with pytest.raises(ModelIntegrityError, match=r"meta\.json: sha256"):
        registry.load_route_model(record)


def test_a_tampered_rl_policy_is_refused(
    tmp_path: Path, rl_file: Path, passed_gates: list[GateResult], forbid_deserialising: Any
) -> None:
    root = tmp_path / "models"
    registry = ModelRegistry(root)
    record = _promote(registry, "rl_policy", rl_file, passed_gates)
    forbid_deserialising()
    _flip_byte(root / record.file)
    with pytest.raises(ModelIntegrityError, match=record.sha256[:12]):
        registry.verify(record)
    with pytest.raises(ModelIntegrityError, match=r"rl_policy_model\.npz"):
        registry.load_rl_policy()


def test_a_swapped_rl_policy_with_a_fresh_sidecar_is_refused(
    tmp_path: Path, rl_file: Path, passed_gates: list[GateResult], forbid_deserialising: Any
) -> None:
    # the RL loader alone would accept this pair: only the registry's hash catches it
    root = tmp_path / "models"
    registry = ModelRegistry(root)
    record = _promote(registry, "rl_policy", rl_file, passed_gates)
    forbid_deserialising()
    _policy(99).save(root / record.file)
    with pytest.raises(ModelIntegrityError, match="does not match"):
        registry.load_rl_policy(record)


def test_a_missing_promoted_file_is_refused(
    tmp_path: Path, route_file: Path, passed_gates: list[GateResult]
) -> None:
    root = tmp_path / "models"
    registry = ModelRegistry(root)
    record = _promote(registry, "route_model", route_file, passed_gates)
    (root / record.file).unlink()
    with pytest.raises(ModelIntegrityError, match="is missing"):
        registry.load_route_model()


def test_an_inconsistent_sidecar_blocks_promotion_and_leaves_nothing(
    tmp_path: Path, route_file: Path, passed_gates: list[GateResult]
) -> None:
    root = tmp_path / "models"
    _flip_byte(route_file)  # the model no longer matches its own metadata
    with pytest.raises(ModelIntegrityError, match="refusing to promote"):
        _promote(ModelRegistry(root), "route_model", route_file, passed_gates)
    assert not (root / "registry.json").exists()
    assert list((root / "promoted" / "route_model").iterdir()) == []


def test_a_missing_sidecar_blocks_promotion(
    tmp_path: Path, rl_file: Path, passed_gates: list[GateResult]
) -> None:
    rl_file.with_name(rl_file.name + ".sha256").unlink()
    with pytest.raises(DataError, match="no sidecar"):
        _promote(ModelRegistry(tmp_path / "models"), "rl_policy", rl_file, passed_gates)
    assert not (tmp_path / "models").exists()


def test_a_sidecar_the_loader_would_not_find_is_refused(
    tmp_path: Path, route_file: Path, passed_gates: list[GateResult]
) -> None:
    renamed = route_file.with_name("meta.json")
    shutil.copy(sidecar_path(route_file), renamed)
    with pytest.raises(ConfigError, match=r"looks for route_success_model\.txt\.meta\.json"):
        ModelRegistry(tmp_path / "models").promote(
            "route_model",
            route_file,
            gates=passed_gates,
            metrics=GOOD_METRICS,
            data_hash="d" * 64,
            params={},
            sidecar=renamed,
            git_revision="abc123",
        )


def test_a_failed_registry_write_removes_the_copy(
    tmp_path: Path,
    route_file: Path,
    passed_gates: list[GateResult],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = tmp_path / "models"
    registry = ModelRegistry(root)
    _promote(registry, "route_model", route_file, passed_gates)
    before = _snapshot(root)

    def disk_full(*args: object, **kwargs: object) -> Path:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("arbkit.registry.write_atomic", disk_full)
    with pytest.raises(OSError, match="No space left"):
        _promote(registry, "route_model", route_file, passed_gates)
    assert _snapshot(root) == before
    assert sorted(p.name for p in (root / "promoted" / "route_model").iterdir()) == ["v1"]


# -- the registry file ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("{not json", "not valid JSON"),
        ('{"kind": "route_model"}', "expected a JSON list"),
        ("[42]", "record 0: expected an object"),
    ],
)
def test_a_malformed_registry_file_raises_data_error(
    tmp_path: Path, content: str, match: str
) -> None:
    root = tmp_path / "models"
    root.mkdir()
    (root / "registry.json").write_text(content)
    registry = ModelRegistry(root)
    with pytest.raises(DataError, match=match) as info:
        registry.records()
    assert str(root / "registry.json") in str(info.value)
    with pytest.raises(DataError):
        registry.load_route_model()


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"sha256": "xyz"}, "record 1: sha256 'xyz' is not a sha256"),
        ({"version": 0}, "record 1: version must be an integer >= 1"),
        ({"version": True}, "record 1: version must be an integer >= 1"),
        ({"file": "../../etc/passwd"}, "record 1: file .* must be a relative posix path"),
        ({"file": "/abs/model.txt"}, "record 1: file .* must be a relative posix path"),
        ({"sidecar": None}, "record 1: sidecar and sidecar_sha256"),
        ({"metrics": {"auc": "high"}}, "record 1: metric 'auc' must be a finite number"),
        ({"promoted_utc": "yesterday"}, "record 1: promoted_utc"),
        ({"version": 1}, "record 1: route_model v1 is also record 0"),
    ],
)
def test_a_malformed_record_names_the_file_and_index(
    tmp_path: Path,
    route_file: Path,
    passed_gates: list[GateResult],
    change: dict[str, object],
    match: str,
) -> None:
    root = tmp_path / "models"
    registry = ModelRegistry(root)
    _promote(registry, "route_model", route_file, passed_gates)
    _promote(registry, "route_model", route_file, passed_gates)
    data = json.loads((root / "registry.json").read_text())
    data[1].update(change)
    (root / "registry.json").write_text(json.dumps(data))
    with pytest.raises(DataError, match=match) as info:
        registry.latest("route_model")
    assert str(root / "registry.json") in str(info.value)


def test_a_record_with_a_missing_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"reg\.json: record 3: missing key\(s\) data_hash"):
        record = _sample_record().to_dict()
        del record["data_hash"]
        ModelRecord.from_dict(record, source=tmp_path / "reg.json", index=3)


def _sample_record() -> ModelRecord:
    return ModelRecord(
        kind="route_model",
        version=4,
        file="promoted/route_model/v4/m.txt",
        sha256="a" * 64,
        sidecar=None,
        sidecar_sha256=None,
        metrics={"auc": 0.8},
        gates=[{"name": "auc_min", "passed": True}],
        data_hash="b" * 64,
        params={"lr": 0.1, "nested": {"k": [1, 2]}},
        git_revision="unknown",
        promoted_utc="2024-01-01T00:00:00+00:00",
    )


def test_record_round_trips_through_a_dict() -> None:
    record = _sample_record()
    assert ModelRecord.from_dict(json.loads(json.dumps(record.to_dict()))) == record


def test_no_promoted_model_raises_data_error(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path / "models")
    with pytest.raises(DataError, match=r"no promoted route_model in .*registry\.json.*dvc repro"):
        registry.load_route_model()
    with pytest.raises(DataError, match="no promoted rl_policy"):
        registry.load_rl_policy()


def test_a_record_of_another_kind_is_refused_by_the_loader(
    tmp_path: Path, rl_file: Path, passed_gates: list[GateResult]
) -> None:
    registry = ModelRegistry(tmp_path / "models")
    record = _promote(registry, "rl_policy", rl_file, passed_gates)
    with pytest.raises(ConfigError, match="not a route_model"):
        registry.load_route_model(record)


def test_git_revision_is_unknown_without_git(
    tmp_path: Path,
    route_file: Path,
    passed_gates: list[GateResult],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))
    record = ModelRegistry(tmp_path / "models").promote(
        "route_model",
        route_file,
        gates=passed_gates,
        metrics=GOOD_METRICS,
        data_hash="d" * 64,
        params={},
    )
    assert record.git_revision == "unknown"


def test_unknown_kinds_and_bad_inputs(
    tmp_path: Path, route_file: Path, passed_gates: list[GateResult]
) -> None:
    registry = ModelRegistry(tmp_path / "models")
    with pytest.raises(ConfigError, match=r"kind '\.\./x'"):
        _promote(registry, "../x", route_file, passed_gates)
    with pytest.raises(DataError, match="no such model file"):
        _promote(registry, "route_model", tmp_path / "missing.txt", passed_gates)
    with pytest.raises(ConfigError, match="not JSON-serialisable"):
        registry.promote(
            "route_model", route_file, gates=passed_gates, metrics={}, data_hash="d",
            params={"bad": object()}, git_revision="x",
        )  # fmt: skip
    # any other kind is stored as given, with an optional sidecar
    notes = tmp_path / "work" / "notes.bin"
    notes.write_bytes(b"\x00\x01")
    record = _promote(registry, "other-model", notes, passed_gates)
    assert record.sidecar is None and record.file == "promoted/other-model/v1/notes.bin"
    assert registry.verify(record).read_bytes() == b"\x00\x01"


# -- hashing -------------------------------------------------------------------------------
def test_hash_paths_is_stable_and_sensitive(tmp_path: Path) -> None:
    def tree(base: Path) -> Path:
        (base / "data" / "sub").mkdir(parents=True)
        (base / "data" / "a.csv").write_bytes(b"1,2\n")
        (base / "data" / "sub" / "b.csv").write_bytes(b"3,4\n")
        (base / "extra.txt").write_bytes(b"x")
        return base

    one, two = tree(tmp_path / "one"), tree(tmp_path / "two")
    h = hash_paths([one / "data", one / "extra.txt"])
    assert len(h) == 64
    # independent of the location and of the order of the arguments
    assert hash_paths([two / "extra.txt", two / "data"]) == h
    # a changed byte, a renamed file, or a moved boundary between name and content change it
    (two / "data" / "sub" / "b.csv").write_bytes(b"3,5\n")
    assert hash_paths([two / "data", two / "extra.txt"]) != h
    (two / "data" / "sub" / "b.csv").write_bytes(b"3,4\n")
    (two / "data" / "sub" / "b.csv").rename(two / "data" / "sub" / "c.csv")
    assert hash_paths([two / "data", two / "extra.txt"]) != h
    assert hash_paths([one / "data"]) != h
    with pytest.raises(DataError, match="does not exist"):
        hash_paths([tmp_path / "nope"])
    with pytest.raises(ConfigError):
        hash_paths([])
