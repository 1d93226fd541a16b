from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from sweep_cases import small_sweep, sweep_cli

from arbkit.backtest.config import BacktestConfig
from arbkit.backtest.engine import Simulator
from arbkit.errors import ConfigError, DataError
from arbkit.sweep import (
    InProcessExecutor,
    SweepConfig,
    read_current_settings,
    run_sweep,
    sweep_metrics,
    trial_seed,
    write_best_params,
    write_sweep_reports,
)
from arbkit.sweep.run import (
    HistorySource,
    fold_policy_seed,
    load_history,
    make_target_policy,
    plan_folds,
)

ROOT = Path(__file__).resolve().parents[2]


class CountingExecutor(InProcessExecutor):
    """The in-process executor, counting the (trial, fold) tasks it runs."""

    def __init__(self) -> None:
        self.tasks: list[tuple[int, int]] = []

    def imap_unordered(
        self, fn: Callable[[Any], Any], items: Sequence[Any]
    ) -> Iterator[tuple[int, Any]]:
        for i, item in enumerate(items):
            self.tasks.append((item.trial, item.fold.index))
            yield i, fn(item)


@pytest.fixture(scope="module")
def reference() -> Any:
    """The 16-trial sweep, uninterrupted, in this process."""
    return run_sweep(small_sweep())


def test_trial_seed_depends_on_the_sweep_seed_and_the_parameters_only() -> None:
    p = {"a": 0.25, "b": 3.0}
    assert trial_seed(1, p) == trial_seed(1, {"b": 3.0, "a": 0.25})
    assert trial_seed(1, p) != trial_seed(2, p)
    assert trial_seed(1, p) != trial_seed(1, {"a": 0.25, "b": 3.0000000001})
    assert fold_policy_seed(5, 0) != fold_policy_seed(5, 1)


def test_sweep_trials_are_reproducible_and_trial_zero_is_the_default(reference: Any) -> None:
    assert [t.number for t in reference.trials] == list(range(16))
    assert reference.evaluated == 16 and reference.resumed == 0
    assert reference.start.params == {
        "confidence_threshold": 0.7,
        "min_profit_eth": 0.0,
        "bid_share": 0.0,
    }
    # 16 distinct settings, each with the seed of its parameters
    assert len({tuple(sorted(t.params.items())) for t in reference.trials}) == 16
    for t in reference.trials:
        assert t.seed == trial_seed(7, t.params)
        assert len(t.folds) == 2
    # the objective is not constant: the search has something to find
    assert len({round(t.value, 6) for t in reference.trials}) > 3
    again = run_sweep(small_sweep(trials=6))
    assert again.results() == reference.results()[:6]


def test_a_trial_is_the_walk_forward_backtest_of_its_policy(reference: Any) -> None:
    """Each fold: train on the train window with the fold's seed, replay the test window."""
    cfg = small_sweep()
    best = reference.best
    history = load_history(HistorySource(None, None, 10_000 + cfg.seed, cfg.n_blocks))
    total = 0.0
    for f in plan_folds(cfg, history):
        bt = cfg.backtest.model_copy(update={"seed": cfg.seed + f.index})
        make = make_target_policy("decider", best.params, bt, cfg.window_blocks)
        policy = make(history.slice(*f.train), fold_policy_seed(best.seed, f.index))
        total += float(Simulator(policy, history.slice(*f.test), bt).run_sync()["net_profit"])
    assert total == best.value
    assert best.value > reference.start.value


def test_an_interrupted_sweep_resumes_without_redoing_or_losing_a_trial(
    tmp_path: Path, reference: Any
) -> None:
    ledger = tmp_path / "ledger.json"
    seen: list[int] = []

    def stop_after_five(rec: Any, finished: int, total: int) -> None:
        seen.append(rec.number)
        if len(seen) == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(small_sweep(), ledger=ledger, progress=stop_after_five)
    kept = json.loads(ledger.read_text())["trials"]
    assert [t["number"] for t in kept] == seen == [0, 1, 2, 3, 4]

    counting = CountingExecutor()
    result = run_sweep(small_sweep(), ledger=ledger, executor=counting)
    assert result.resumed == 5 and result.evaluated == 11
    assert {trial for trial, _ in counting.tasks} == set(range(5, 16))
    assert len(counting.tasks) == 11 * 2  # every fold of every other trial, once
    assert result.results() == reference.results()

    # run again: everything comes from the ledger
    counting = CountingExecutor()
    result = run_sweep(small_sweep(), ledger=ledger, executor=counting)
    assert counting.tasks == [] and result.resumed == 16
    assert result.results() == reference.results()


def test_a_longer_sweep_extends_a_finished_one(tmp_path: Path, reference: Any) -> None:
    ledger = tmp_path / "ledger.json"
    run_sweep(small_sweep(trials=8), ledger=ledger)
    counting = CountingExecutor()
    result = run_sweep(small_sweep(), ledger=ledger, executor=counting)
    assert result.resumed == 8 and {t for t, _ in counting.tasks} == set(range(8, 16))
    assert result.results() == reference.results()


def test_a_bad_ledger_is_refused_naming_the_file(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.json"
    ledger.write_text("{ not json")
    with pytest.raises(DataError, match=r"ledger\.json: unreadable"):
        run_sweep(small_sweep(trials=1), ledger=ledger)
    ledger.write_text(json.dumps({"format": "other"}))
    with pytest.raises(DataError, match="not a arbkit-sweep-ledger/1 file"):
        run_sweep(small_sweep(trials=1), ledger=ledger)
    ledger.unlink()
    run_sweep(small_sweep(trials=1), ledger=ledger)
    before = ledger.read_bytes()
    with pytest.raises(ConfigError, match="belongs to a sweep with other options"):
        run_sweep(small_sweep(trials=1, seed=8), ledger=ledger)
    doc = json.loads(before)
    doc["trials"][0]["params"]["bid_share"] = 0.5
    ledger.write_text(json.dumps(doc))
    with pytest.raises(ConfigError, match="trial 0 has parameters"):
        run_sweep(small_sweep(trials=1), ledger=ledger)
    doc["trials"][0].pop("value")
    ledger.write_text(json.dumps(doc))
    with pytest.raises(DataError, match="bad trial entry"):
        run_sweep(small_sweep(trials=1), ledger=ledger)


def test_config_refuses_unknown_parameters() -> None:
    with pytest.raises(ValueError, match="not parameters of decider"):
        SweepConfig(
            target="decider", space={"learning_rate": {"low": 0.1, "high": 0.2, "default": 0.1}}
        )
    with pytest.raises(ValueError, match=r"default=0\.5 outside"):
        SweepConfig(space={"bid_share": {"low": 0.0, "high": 0.2, "default": 0.5}})


def test_reports_metrics_and_params_yaml(tmp_path: Path, reference: Any) -> None:
    paths = write_sweep_reports(
        reference, report_dir=tmp_path / "reports", metrics_file=tmp_path / "sweep.json"
    )
    assert [p.name for p in paths] == ["decider.md", "decider.json", "sweep.json"]
    metrics = json.loads((tmp_path / "sweep.json").read_text())
    assert metrics["best_trial"] == reference.best.number
    assert metrics["best_net_profit"] == reference.best.value
    assert metrics["start_net_profit"] == reference.start.value
    md = (tmp_path / "reports" / "decider.md").read_text()
    assert "| best |" in md and "| start | 0 |" in md
    assert len(json.loads((tmp_path / "reports" / "decider.json").read_text())["trials"]) == 16

    params = tmp_path / "params.yaml"
    params.write_text((ROOT / "params.yaml").read_text())
    written = write_best_params(reference, params)
    assert written == {f"validate.decider.{k}": v for k, v in reference.best.params.items()}
    doc = yaml.safe_load(params.read_text())
    assert doc["validate"]["decider"] == reference.best.params
    assert doc["validate"]["n_seeds"] == 3  # the rest is kept, comments too
    assert "# Promotion gates" in params.read_text()
    assert sweep_metrics(reference)["best"] == reference.best.params

    bad = tmp_path / "bad.yaml"
    bad.write_text("- a list\n")
    with pytest.raises(DataError, match=r"bad\.yaml: expected a mapping"):
        write_best_params(reference, bad)


def test_cli_killed_mid_sweep_resumes_from_its_ledger(tmp_path: Path, reference: Any) -> None:
    """A hard kill (SIGKILL) between or during trials: the ledger is whole, nothing redone."""
    ledger = tmp_path / "ledger.json"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        sweep_cli(tmp_path, "--executor", "local", "--quiet"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=tmp_path,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if ledger.exists() and len(json.loads(ledger.read_text())["trials"]) >= 4:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    kept = len(json.loads(ledger.read_text())["trials"])
    assert 4 <= kept < 16
    assert not list(tmp_path.glob("ledger.json.*"))  # no half-written file left beside it
    out = subprocess.run(
        sweep_cli(tmp_path, "--executor", "local", "--quiet"),
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=True,
    )
    doc = json.loads(out.stdout)
    assert doc["resumed"] == kept and doc["evaluated"] == 16 - kept
    assert doc["trials"] == reference.results()
    assert doc["metrics"]["best_trial"] == reference.best.number


def test_cli_writes_params_for_the_pipeline(tmp_path: Path, reference: Any) -> None:
    # not in the working directory: the sweep starts from the built-in defaults
    params = tmp_path / "pipeline" / "params.yaml"
    params.parent.mkdir()
    params.write_text((ROOT / "params.yaml").read_text())
    out = subprocess.run(
        sweep_cli(tmp_path, "--executor", "local", "--quiet", "--write-params", str(params)),
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=True,
    )
    doc = json.loads(out.stdout)
    assert doc["params_written"]["validate.decider.bid_share"] == reference.best.params["bid_share"]
    assert yaml.safe_load(params.read_text())["validate"]["decider"] == reference.best.params


def test_cli_refuses_bad_options(tmp_path: Path) -> None:
    out = subprocess.run(
        sweep_cli(tmp_path, "--executor", "local", "--address", "1.2.3.4:6379"),
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert out.returncode == 2 and "--address needs --executor ray" in out.stderr
    out = subprocess.run(
        [*sweep_cli(tmp_path, "--executor", "local"), "--trials", "0"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert out.returncode == 2 and "greater than or equal to 1" in out.stderr


def test_backtest_config_is_carried_to_every_fold() -> None:
    cfg = small_sweep(trials=4, backtest=BacktestConfig(max_candidates=1))
    a = run_sweep(cfg)
    b = run_sweep(small_sweep(trials=4))
    assert a.results() != b.results()


def test_a_ledger_of_other_code_is_refused(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.json"
    run_sweep(small_sweep(trials=1), ledger=ledger)
    doc = json.loads(ledger.read_text())
    doc["code"] = "0" * 64
    ledger.write_text(json.dumps(doc))
    with pytest.raises(ConfigError, match="another version of arbkit's code"):
        run_sweep(small_sweep(trials=1), ledger=ledger)


def test_a_sweep_starts_from_the_settings_in_params_yaml(tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text(
        "validate:\n  n_seeds: 3\n  decider:\n    confidence_threshold: 0.25\n"
        "    min_profit_eth: 0.001\n    bid_share: 0.3\nrl_policy:\n  episodes: 40\n"
    )
    assert read_current_settings("decider", params) == {
        "confidence_threshold": 0.25,
        "min_profit_eth": 0.001,
        "bid_share": 0.3,
    }
    assert read_current_settings("q_learning", params) == {"episodes": 40.0}
    # run from that folder: ./params.yaml is read
    out = subprocess.run(
        [*sweep_cli(tmp_path, "--executor", "local", "--quiet"), "--trials", "1"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=True,
    )
    doc = json.loads(out.stdout)
    assert doc["trials"][0]["params"] == read_current_settings("decider", params)
    assert "the one in `params.yaml`" in (tmp_path / "reports" / "decider.md").read_text()
    cfg = small_sweep().with_defaults({"bid_share": 0.3})
    assert cfg.resolved_space()["bid_share"].default == 0.3
    with pytest.raises(ConfigError, match=r"bid_share=0\.9 lies outside"):
        small_sweep().with_defaults({"bid_share": 0.9})
    with pytest.raises(ConfigError, match="not a parameter of decider"):
        small_sweep().with_defaults({"episodes": 40.0})
    params.write_text("validate:\n  decider:\n    bid_share: lots\n")
    with pytest.raises(DataError, match=r"validate\.decider\.bid_share = 'lots' is not a number"):
        read_current_settings("decider", params)
