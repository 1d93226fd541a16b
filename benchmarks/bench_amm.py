"""Route screens per second (vectorised float) vs exact refinements vs a plain Python loop.

Run: ``make bench`` or ``.venv/bin/python benchmarks/bench_amm.py``. Prints figures; asserts nothing.
"""

from __future__ import annotations

import time

import numpy as np
import polars as pl
from threadpoolctl import threadpool_limits

from arbkit.market.amm import get_amount_out, optimal_two_pool_arb, screen_two_pool
from arbkit.market.example import load_example_market
from arbkit.opportunities import ScanConfig, scan_blocks


def best_of(fn, repeat: int = 5) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    rng = np.random.default_rng(0)
    n = 4_000_000
    x_a = rng.uniform(1e22, 1e25, n)
    y_a = x_a * rng.uniform(2e-10, 4e-10, n)
    y_b = rng.uniform(1e12, 1e15, n)
    x_b = y_b / (y_a / x_a) * rng.uniform(0.98, 1.02, n)

    with threadpool_limits(1):
        screen_two_pool(x_a[:1000], y_a[:1000], y_b[:1000], x_b[:1000])
        t = best_of(lambda: screen_two_pool(x_a, y_a, y_b, x_b))
    screens = n / t
    print(
        f"vectorised two-pool screen (closed-form optimum + profit): {screens / 1e6:8.1f} M routes/s"
    )

    def bare() -> None:  # the bare closed form, no chunking or clipping: the ceiling
        a_ = 0.997 * 0.997 * y_a * x_b
        b_ = x_a * y_b
        c_ = 0.997 * y_b + 0.997 * 0.997 * y_a
        amt = (np.sqrt(a_ * b_) - b_) / c_
        _ = a_ * amt / (b_ + c_ * amt) - amt

    t_bare = best_of(bare, 3)
    print(
        f"bare numpy closed form (reference ceiling):                 {n / t_bare / 1e6:8.1f} M routes/s"
    )

    m = 20_000
    xs = [(int(x_a[i]), int(y_a[i]), int(y_b[i]), int(x_b[i])) for i in range(m)]

    def loop() -> None:
        for xa, ya, yb, xb in xs:
            get_amount_out(get_amount_out(10**18, xa, ya), yb, xb)

    t_loop = best_of(loop, 3)
    print(
        f"baseline: Python loop over get_amount_out (2 hops, 1 size): {m / t_loop / 1e6:8.3f} M routes/s"
    )
    print(f"  -> vectorised screen / Python loop: {screens / (m / t_loop):,.0f}x")

    _, profit = screen_two_pool(x_a[:m], y_a[:m], y_b[:m], x_b[:m])
    survivors = [xs[i] for i in np.flatnonzero(profit > 0)[:2_000]]
    evals = []

    def refine() -> None:
        evals.clear()
        for xa, ya, yb, xb in survivors:
            evals.append(optimal_two_pool_arb(xa, ya, yb, xb).evaluations)

    t_ref = best_of(refine, 3)
    results = [optimal_two_pool_arb(*s) for s in survivors]
    proven = sum(r.exact for r in results)
    worst_gap = max(r.profit_upper_bound - r.profit for r in results)
    print(
        f"exact integer refinement (optimal_two_pool_arb):            {len(survivors) / t_ref:10,.0f} /s "
        f"(median {int(np.median(evals))} exact evaluations each; proven optimal {proven}/{len(results)}, "
        f"largest possible shortfall of the rest {worst_gap} base units)"
    )

    # Whole scanner: the example market (9 pools, 78 routes) over 5,000 blocks of noise.
    states, _quotes, _ = load_example_market()
    blocks = 5_000
    reps = pl.concat(
        [states.with_columns(pl.lit(b, dtype=pl.Int64).alias("block")) for b in range(blocks)]
    )
    noise = rng.normal(0, 0.004, reps.height)
    r0 = [int(r * (1 + e)) for r, e in zip(reps["reserve0"].to_list(), noise, strict=True)]
    reps = reps.with_columns(pl.Series("reserve0", r0, dtype=pl.Int128))
    t0 = time.perf_counter()
    cands = scan_blocks(reps, base_fees=20 * 10**9)
    t_scan = time.perf_counter() - t0
    routes = 3 * 3 * 2 + 27 * 2
    print(
        f"scan_blocks: {blocks:,} blocks x {routes} routes in {t_scan:.2f} s = {blocks / t_scan:,.0f} blocks/s, "
        f"{cands.height:,} candidates refined exactly ({cands.height / t_scan:,.0f}/s)"
    )
    t0 = time.perf_counter()
    top = scan_blocks(reps, base_fees=20 * 10**9, config=ScanConfig(max_candidates=1))
    t_top = time.perf_counter() - t0
    print(
        f"scan_blocks, best candidate per block only (max_candidates=1): {blocks / t_top:,.0f} blocks/s "
        f"({top.height:,} candidates)"
    )


if __name__ == "__main__":
    main()
