"""Sweep wall time on 1 and on 2 Ray workers, Ray's start-up measured apart.

    .venv/bin/python benchmarks/bench_sweep.py [--trials 16] [--blocks 3600]

The same 16-trial sweep of the decider (Optuna TPE, batches of 8; each trial trains the
route model and replays the test window of each of 3 walk-forward folds: 48 tasks) runs
side by side:

1. **in process** (the local executor: the single-machine baseline);
2. **Ray, 1 worker** (``ray.init(num_cpus=1)``): the baseline of the speed-up;
3. **Ray, 2 workers** (``ray.init(num_cpus=2)``, this machine's cores).

For each Ray run: ``ray.init`` (start-up) apart from the sweep's wall time, and the first
task round-trip on fresh workers (process start, imports, the history loaded once per
worker) apart too. The speed-up is the sweep's wall time on 1 worker over 2 workers.
Every run must give the same trials (checked).
"""

from __future__ import annotations

import argparse
import os
import time

from arbkit.backtest.config import WalkForwardConfig
from arbkit.sweep import InProcessExecutor, RayExecutor, SweepConfig, run_sweep


def _noop(x: int) -> int:
    return x


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=16)
    ap.add_argument("--blocks", type=int, default=3_600)
    args = ap.parse_args()
    cfg = SweepConfig(
        target="decider",
        trials=args.trials,
        batch_size=8,
        seed=0,
        n_blocks=args.blocks,
        walk_forward=WalkForwardConfig(
            train_blocks=args.blocks // 3, test_blocks=args.blocks // 6, max_folds=3
        ),
    )
    print(
        f"sweep: decider, {cfg.trials} trials x 3 folds, {cfg.n_blocks:,}-block history, "
        f"{os.cpu_count()} cores"
    )
    rows = []
    t0 = time.perf_counter()
    local = run_sweep(cfg, executor=InProcessExecutor())
    rows.append(("in process (local executor)", 0.0, 0.0, time.perf_counter() - t0, local))
    for workers in (1, 2):
        t0 = time.perf_counter()
        ex = RayExecutor(workers=workers)
        init = time.perf_counter() - t0
        t1 = time.perf_counter()
        # fresh workers: one trivial task each (process start and imports)
        list(ex.imap_unordered(_noop, list(range(workers))))
        warm = time.perf_counter() - t1
        result = run_sweep(cfg, executor=ex)
        ex.close()
        rows.append((f"Ray, {workers} worker(s)", init, warm, result.seconds, result))
    print()
    print(
        "| run | ray.init (s) | first tasks (s) | sweep wall time (s) | tasks/s | vs Ray 1 worker |"
    )
    print("|---|---|---|---|---|---|")
    base = rows[1][3]
    for name, init, warm, wall, res in rows:
        tasks = len(res.trials) * len(res.extra["folds"])
        print(
            f"| {name} | {init:.1f} | {warm:.1f} | {wall:.1f} | {tasks / wall:.2f} | "
            f"{base / wall:.2f}x |"
        )
    same = all(r[4].results() == local.results() for r in rows)
    print()
    print(f"identical trials on every executor: {same}")
    print(f"speed-up, 2 workers vs 1 worker (sweep wall time): {rows[1][3] / rows[2][3]:.2f}x")
    total1 = rows[1][1] + rows[1][2] + rows[1][3]
    total2 = rows[2][1] + rows[2][2] + rows[2][3]
    print(f"speed-up with start-up included: {total1 / total2:.2f}x")
    print(
        f"best trial {local.best.number}: net {local.best.value:,.2f} vs start {local.start.value:,.2f}"
    )
    if not same:
        raise SystemExit("trials differ between executors")


if __name__ == "__main__":
    main()
