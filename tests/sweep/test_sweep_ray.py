"""The Ray executor: same results as in-process on any number of workers, retries, resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sweep_cases import need_ray, small_sweep, sweep_cli

from arbkit.backtest.config import BacktestConfig, WalkForwardConfig
from arbkit.backtest.policies import RuleBaseline
from arbkit.backtest.walkforward import walk_forward
from arbkit.errors import ArbkitError, ConfigError
from arbkit.market.sim import simulate_market
from arbkit.sweep import RayExecutor, run_sweep
from arbkit.workspace import train_rl_policies

need_ray()


@pytest.fixture(scope="module")
def ray_2cpu() -> Iterator[RayExecutor]:
    """A local Ray of 2 CPUs for the module (started once: ~5 s)."""
    ex = RayExecutor(workers=2)
    yield ex
    ex.close()


@pytest.fixture(scope="module")
def reference() -> Any:
    """The 16-trial sweep in this process."""
    return run_sweep(small_sweep())


def test_the_same_sweep_on_one_and_on_two_workers_gives_identical_trials(
    ray_2cpu: RayExecutor, reference: Any
) -> None:
    one = run_sweep(small_sweep(), executor=RayExecutor(workers=1))
    two = run_sweep(small_sweep(), executor=ray_2cpu)
    assert (one.workers, two.workers) == (1, 2)
    assert one.results() == two.results() == reference.results()
    # the two workers both worked, in processes other than this one
    pids = {f["pid"] for t in two.trials for f in t.folds}
    assert len(pids) >= 2 and os.getpid() not in pids


def test_walk_forward_and_multi_seed_training_on_ray_equal_in_process(
    ray_2cpu: RayExecutor,
) -> None:
    history = simulate_market(seed=3, n_blocks=1_500)
    wf = WalkForwardConfig(train_blocks=400, test_blocks=300, max_folds=3)

    def make(train: object, seed: int) -> RuleBaseline:
        return RuleBaseline(min_net_quote=float(seed % 3))

    a = walk_forward(make, history, wf, BacktestConfig(seed=5))
    b = walk_forward(make, history, wf, BacktestConfig(seed=5), executor=ray_2cpu)
    assert [r["net_profit"] for r in a.results] == [r["net_profit"] for r in b.results]
    assert a.pooled.trades.equals(b.pooled.trades)

    small = simulate_market(seed=4, n_blocks=800)
    local = train_rl_policies(small, [1, 2, 3], episodes=3, window_blocks=64)
    remote = train_rl_policies(small, [1, 2, 3], episodes=3, window_blocks=64, executor=ray_2cpu)
    for (p, m), (q, n) in zip(local, remote, strict=True):
        assert np.array_equal(p.q_table, q.q_table) and m == n


def test_a_task_error_comes_back_as_itself(ray_2cpu: RayExecutor) -> None:
    def _check(x: int) -> int:  # local: pickled by value to the workers
        if x < 0:
            raise ConfigError(f"negative: {x}")
        return x + 1

    assert dict(ray_2cpu.imap_unordered(_check, [1, 2])) == {0: 2, 1: 3}
    with pytest.raises(ConfigError, match="negative: -1"):
        list(ray_2cpu.imap_unordered(_check, [1, -1, 2]))


def test_a_task_whose_worker_keeps_dying_fails_with_a_clear_error(
    ray_2cpu: RayExecutor,
) -> None:
    def die(x: int) -> int:
        os._exit(1)

    no_retry = RayExecutor(workers=2, max_retries=0)
    with pytest.raises(ArbkitError, match=r"task 0 failed on Ray after 0 retries"):
        list(no_retry.imap_unordered(die, [1]))


def _kill_first_fold_worker(killed: list[int], stop: threading.Event) -> None:
    import psutil

    while not stop.is_set() and not killed:
        for proc in psutil.process_iter(["cmdline"]):
            cmd = " ".join(proc.info["cmdline"] or [])
            if cmd.startswith("ray::evaluate_fold"):
                time.sleep(0.05)  # well inside the task (~0.2 s)
                os.kill(proc.pid, signal.SIGKILL)
                killed.append(proc.pid)
                return
        time.sleep(0.01)


def test_a_worker_killed_mid_trial_is_retried_and_nothing_is_lost(
    ray_2cpu: RayExecutor, reference: Any, tmp_path: Path
) -> None:
    killed: list[int] = []
    stop = threading.Event()
    watcher = threading.Thread(target=_kill_first_fold_worker, args=(killed, stop))
    watcher.start()
    try:
        result = run_sweep(small_sweep(), executor=ray_2cpu, ledger=tmp_path / "ledger.json")
    finally:
        stop.set()
        watcher.join()
    assert len(killed) == 1  # a worker did die mid-task
    assert killed[0] not in {f["pid"] for t in result.trials for f in t.folds}
    assert result.evaluated == 16
    assert result.results() == reference.results()
    ledger = json.loads((tmp_path / "ledger.json").read_text())
    assert [t["number"] for t in ledger["trials"]] == list(range(16))


def test_cli_interrupted_on_ray_resumes_without_redoing_a_trial(
    tmp_path: Path, reference: Any
) -> None:
    """Ctrl-C (SIGINT) in the middle of a Ray sweep, then the same command again."""
    ledger = tmp_path / "ledger.json"
    cmd = sweep_cli(tmp_path, "--executor", "ray", "--workers", "2", "--quiet")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if ledger.exists() and len(json.loads(ledger.read_text())["trials"]) >= 3:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    kept = len(json.loads(ledger.read_text())["trials"])
    assert proc.returncode == 130, err.decode()[-2000:]
    assert b"run the same command to resume" in err
    assert 3 <= kept < 16
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, check=True)
    doc = json.loads(out.stdout)
    assert doc["resumed"] == kept and doc["evaluated"] == 16 - kept
    assert doc["trials"] == reference.results()
