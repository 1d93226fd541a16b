"""Benchmark: a 30-day simulated backtest (216,000 blocks), replayed blocks per second.

Run: ``.venv/bin/python benchmarks/bench_backtest.py``. Prints figures; asserts nothing.
Stages are timed separately: simulating the month, scanning it for candidates, and the
replay itself for each policy (the decider in the loop with and without its model).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from arbkit.backtest import (
    BacktestConfig,
    OraclePolicy,
    RuleBaseline,
    Simulator,
    prepare_candidates,
)
from arbkit.market.sim import simulate_market

MONTH = 216_000


def _policies() -> dict[str, Callable[[], Any]]:
    out: dict[str, Callable[[], Any]] = {"rule": RuleBaseline, "oracle": OraclePolicy}
    try:
        from arbkit.backtest.learners import make_decider
    except ImportError:
        return out
    train = simulate_market(seed=10_000, n_blocks=21_600)
    out["decider (no ML)"] = lambda: make_decider(train, seed=0, use_model=False)
    out["decider + ML"] = lambda: make_decider(train, seed=0, use_model=True)
    return out


def main() -> None:
    import vectorbt  # noqa: F401  (import once, outside the timings)

    t0 = time.perf_counter()
    history = simulate_market(seed=0, n_blocks=MONTH)
    t_sim = time.perf_counter() - t0
    cfg = BacktestConfig()
    t0 = time.perf_counter()
    cands = prepare_candidates(history, cfg.scan)
    t_scan = time.perf_counter() - t0
    print(f"simulate 30 days ({MONTH:,} blocks): {t_sim:.1f} s")
    print(
        f"scan every block: {t_scan:.1f} s ({MONTH / t_scan:,.0f} blocks/s, {cands.height:,} candidates)"
    )
    for name, make in _policies().items():
        policy = make()
        t0 = time.perf_counter()
        res = Simulator(policy, history, cfg, candidates=cands).run_sync()
        dt = time.perf_counter() - t0
        print(
            f"replay {name:16s}: {dt:6.1f} s = {MONTH / dt:10,.0f} blocks/s; "
            f"{res['trade_count']:,} trades, net {res['net_profit']:,.0f}, "
            f"30-day wall time incl. simulate+scan {t_sim + t_scan + dt:.1f} s"
        )


if __name__ == "__main__":
    main()
