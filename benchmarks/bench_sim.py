"""Benchmark: simulated blocks per second and vectorised execution outcomes per second.

Run: ``.venv/bin/python benchmarks/bench_sim.py``. Prints figures; asserts nothing.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

from arbkit.execution import ExecutionModel, Trade
from arbkit.market.sim import simulate_market
from arbkit.opportunities import ScanConfig, scan_blocks

MONTH = 216_000


def main() -> None:
    t0 = time.perf_counter()
    h = simulate_market(seed=0, n_blocks=MONTH)
    dt = time.perf_counter() - t0
    print(f"simulate_market: {MONTH:,} blocks (30 days) in {dt:.1f} s = {MONTH / dt:,.0f} blocks/s")
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        h.save(Path(tmp) / "h")
        print(f"save as parquet + manifest: {time.perf_counter() - t0:.1f} s")

    day = h.head(7_200)
    cands = scan_blocks(
        day.pool_states,
        base_fees=day.blocks.select("block", "base_fee_wei"),
        cex_quotes=day.cex_quotes,
        config=ScanConfig(max_candidates=8),
    )
    model = ExecutionModel(day)
    reps = max(1, 1_000_000 // max(cands.height, 1))
    trades = pl.concat([cands] * reps)
    n = trades.height
    model.execute_batch(trades.head(1000), rng=np.random.default_rng(0))  # warm-up
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        out = model.execute_batch(trades, rng=np.random.default_rng(1))
        best = min(best, time.perf_counter() - t0)
    mix = out["reason"].value_counts().sort("reason")
    print(
        f"execute_batch: {n:,} trades ({cands.height:,} candidates of one simulated day, "
        f"x{reps}) in {best:.2f} s = {n / best:,.0f} outcomes/s"
    )
    print("  outcome mix:", dict(zip(mix["reason"], mix["count"], strict=True)))
    rows = list(cands.head(2_000).iter_rows(named=True))
    rng = np.random.default_rng(2)
    t0 = time.perf_counter()
    for r in rows:
        model.execute(
            Trade.from_row(r),
            rng,
        )
    dt = time.perf_counter() - t0
    print(
        f"execute (scalar): {len(rows) / dt:,.0f} outcomes/s ({dt / len(rows) * 1e6:.1f} us each)"
    )


if __name__ == "__main__":
    main()
