"""Live runner benchmarks: head-to-decision latency with 100 pools, and the parity run's wall time.

    .venv/bin/python benchmarks/bench_live.py

1. **Latency per block, new head to decision, 100 pools.** A simulated market of 102
   pools (34 venues x 3 pairs) played on the embedded anvil node by the rule runner in
   dry-run: for every block, from the moment the block holding the history's order flow
   is mined to the moment the policy's order is decided and simulated with ``eth_call``
   (one JSON-RPC batch read of every pool, the chain-vs-history check, the scan, the
   replay's candidates, the decision). Median and p95 over the blocks; aim: under 50 ms.
   Side by side: the same with the 9 pools of the default market.
2. **The parity run** (:func:`arbkit.chain.parity.run_parity`): 120 executed trades on
   anvil, each compared with arbkit's prediction to the wei; its wall time, set-up
   included, and the count of matches.

Transactions per second on anvil with explicit gas are in ``benchmarks/bench_chain.py``.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from arbkit.chain.parity import run_parity
from arbkit.live import AIFlashArbConfig, FlashArbitrageRunner
from arbkit.live.runner import BlockReport
from arbkit.market.sim import PoolSpec, SimParams, simulate_market
from arbkit.metrics import MetricsCollector

N_BLOCKS = 120


def _pools(n_venues: int) -> tuple[PoolSpec, ...]:
    pairs = (("USDC", "WETH", 30e6), ("WETH", "USDT", 12e6), ("USDC", "USDT", 10e6))
    out = []
    for v in range(n_venues):
        for t0, t1, depth in pairs:
            out.append(
                PoolSpec(
                    venue=f"venue{v:02d}",
                    token0=t0,
                    token1=t1,
                    fee_bps=5 if v % 3 == 2 else 30,
                    depth_usd=depth * (0.5 + (v % 5) / 5),
                    noise_swaps_per_block=0.4,
                )
            )
    return tuple(out)


def latency(pools: tuple[PoolSpec, ...] | None, label: str) -> None:
    """Run the rule runner in dry-run and print head-to-decision latency per block."""
    params = SimParams() if pools is None else SimParams(pools=pools)
    history = simulate_market(params, seed=7, n_blocks=N_BLOCKS)
    n_pools = history.pool_states["pool"].n_unique()
    ms: list[float] = []
    runner_box: list[FlashArbitrageRunner] = []

    def on_block(_: BlockReport) -> None:
        value = runner_box[0].stats["head_to_decision_ms"]
        if value is not None:
            ms.append(float(value))

    with tempfile.TemporaryDirectory() as tmp:
        cfg = AIFlashArbConfig(
            stage_file=str(Path(tmp) / "stage.json"),
            write_execution_log=False,
        )
        runner = FlashArbitrageRunner(
            config=cfg, history=history, metrics=MetricsCollector(), on_block=on_block
        )
        runner_box.append(runner)
        start = time.perf_counter()
        summary = runner.run_sync()
        wall = time.perf_counter() - start
    ms.sort()
    p95 = ms[int(0.95 * (len(ms) - 1))]
    print(
        f"  {label:<28} {n_pools:>5} {len(ms):>7} {statistics.median(ms):>10.1f} "
        f"{p95:>8.1f} {max(ms):>8.1f} {summary.stats['candidates_seen']:>11} {wall:>7.1f}"
    )


def main() -> None:
    """Print both benchmarks."""
    print("head-to-decision latency per block (dry-run, rule runner, embedded anvil)")
    print(
        f"  {'market':<28} {'pools':>5} {'blocks':>7} {'median ms':>10} {'p95 ms':>8} "
        f"{'max ms':>8} {'candidates':>11} {'wall s':>7}"
    )
    latency(None, "default market")
    latency(_pools(34), "34 venues x 3 pairs")
    print("  (aim: under 50 ms with 100 pools)")
    print()
    start = time.perf_counter()
    report = run_parity(120, seed=11)
    wall = time.perf_counter() - start
    n, bad = len(report.trades), len(report.mismatches)
    print(
        f"parity run: {n} trades executed on anvil, {n - bad} match arbkit to the wei, "
        f"{bad} mismatches, {report.bribes_checked} bribes checked; wall {wall:.1f} s "
        f"({wall / n * 1e3:.0f} ms per trade, set-up included)"
    )


if __name__ == "__main__":
    main()
