"""Does following Aqua whales pay? Whale following next to plain arbitrage, over seeds.

``python -m arbkit.aqua.evaluate`` simulates, per seed, a training history (where the
rule's threshold is tuned) and an independent test history, in two worlds:

``uninformed`` (the simulator's default)
    Makers' allocations carry no view of the future (``aqua_informed_share = 0``).
``informed``
    Each maker is informed with probability one half (``aqua_informed_share = 0.5``, drawn
    once per maker): an informed maker's allocations tilt toward the token that gains
    over the next ``aqua_info_horizon_blocks``. There is something to follow, if a
    follower can tell who knows (the track record).
``informed_all``
    Every maker is informed (``aqua_informed_share = 1``): the most whale following can
    earn from this simulator's whales.

and backtests, through the one replay, on the same test history and draws:

``rule``
    Plain arbitrage: the expected-net threshold tuned on the training history.
``aqua_counter``
    Whale following with the default options: copy trading off, counter-trades of whale
    exits only.
``aqua_copy``
    Whale following with copy trading on (whale entries and strategy copies, the
    aggressive profile's setting), counter-trades too; its holding period, minimum
    track record and whether to copy whales without a record are tuned on the
    training history (a grid search, :data:`COPY_GRID`), as the rule's threshold is.
``rule+aqua``
    The tuned rule with the tuned whale following added on top.

The result is written to ``reports/aqua/comparison.{md,json}``: net profit per seed as
mean ± std, the opportunities found and acted on, and the paired difference of
``rule+aqua`` minus ``rule``.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from arbkit.aqua.config import AquaOpportunityConfig
from arbkit.aqua.policy import AquaFollowingPolicy
from arbkit.backtest import BacktestConfig, Simulator
from arbkit.backtest.compare import ComparisonConfig, _mean_std, tune_rule
from arbkit.backtest.engine import get_replay
from arbkit.backtest.policies import RuleBaseline
from arbkit.io import write_atomic

__all__ = ["WORLDS", "evaluate_whale_following", "format_report", "main"]

WORLDS: dict[str, dict[str, Any]] = {
    "uninformed": {},
    "informed": {"aqua_informed_share": 0.5},
    "informed_all": {"aqua_informed_share": 1.0},
}
"""Simulator parameters of each world (on top of the calibrated defaults)."""

POLICY_NAMES = ("rule", "aqua_counter", "aqua_copy", "rule+aqua")

COPY_GRID: dict[str, tuple[Any, ...]] = {
    "holding_blocks": (100, 300, 900),
    "min_track_record": (0.5, 0.65, 0.8),
    "copy_unproven_whales": (True, False),
}
"""The copy options tried on the training history (every combination)."""


def tune_copy(
    train: Any, seed: int, base: AquaOpportunityConfig | None = None
) -> tuple[AquaOpportunityConfig, float]:
    """Return the copy options of :data:`COPY_GRID` that earned most on ``train``, and that net.

    Ties keep the first combination tried.
    """
    import itertools

    base = base or AquaOpportunityConfig(enable_copy_trading=True)
    bt = BacktestConfig(seed=seed, progress=False)
    replay = get_replay(train, bt)
    best, best_net = base, -math.inf
    keys = list(COPY_GRID)
    for values in itertools.product(*(COPY_GRID[k] for k in keys)):
        cfg = base.model_copy(update=dict(zip(keys, values, strict=True)))
        res = Simulator(AquaFollowingPolicy(cfg), train, bt, replay=replay).run_sync()
        net = float(res["net_profit"])
        if net > best_net:
            best, best_net = cfg, net
    return best, best_net


def evaluate_whale_following(
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    *,
    n_blocks: int = 43_200,
    worlds: Sequence[str] = tuple(WORLDS),
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Backtest whale following next to plain arbitrage (module docstring).

    Parameters
    ----------
    seeds
        One training and one test history per seed and world.
    n_blocks
        Blocks of each history.
    worlds
        Names from :data:`WORLDS`.
    progress
        Called with a line of text after each backtest.

    Returns
    -------
    dict
        ``{"worlds": {world: {"runs": {policy: [per-seed dicts]}, ...}}, "options": ...}``.
    """
    from arbkit.market.sim import simulate_market

    copy_cfg = AquaOpportunityConfig(enable_copy_trading=True)
    out: dict[str, Any] = {
        "options": {"seeds": list(seeds), "n_blocks": n_blocks, "copy": copy_cfg.model_dump()},
        "worlds": {},
    }
    for world in worlds:
        params = WORLDS[world]
        runs: dict[str, list[dict[str, Any]]] = {p: [] for p in POLICY_NAMES}
        for seed in seeds:
            train = simulate_market(params, seed=10_000 + seed, n_blocks=n_blocks)
            test = simulate_market(params, seed=seed, n_blocks=n_blocks)
            comp = ComparisonConfig(seeds=(seed,), n_blocks=n_blocks, train_blocks=n_blocks)
            rule = tune_rule(train, comp, seed)
            # the same tuned rule under the whale following (a fresh object: own state)
            rule_under = RuleBaseline(rule.min_net_quote)
            tuned, train_net = tune_copy(train, seed, copy_cfg)
            bt = BacktestConfig(seed=seed, progress=False)
            replay = get_replay(test, bt)
            policies: dict[str, Any] = {
                "rule": rule,
                "aqua_counter": AquaFollowingPolicy(name="aqua_counter"),
                "aqua_copy": AquaFollowingPolicy(tuned, name="aqua_copy"),
                "rule+aqua": AquaFollowingPolicy(tuned, arbitrage=rule_under, name="rule+aqua"),
            }
            chosen = {k: getattr(tuned, k) for k in COPY_GRID}
            for name, policy in policies.items():
                t0 = time.perf_counter()
                res = Simulator(policy, test, bt, replay=replay).run_sync()
                row: dict[str, Any] = {
                    "seed": seed,
                    "net_profit": float(res["net_profit"]),
                    "trade_count": int(res["trade_count"]),
                    "seconds": time.perf_counter() - t0,
                }
                trades = res.trades
                if trades.height:
                    kinds = Counter(trades["kind"].to_list())
                    row["trades_by_kind"] = dict(sorted(kinds.items()))
                    spot = trades.filter(trades["kind"].str.starts_with("spot"))
                    row["spot_net"] = float(spot["net_profit_quote"].sum()) if spot.height else 0.0
                if isinstance(policy, AquaFollowingPolicy) and policy.detector is not None:
                    det = policy.detector
                    row["opportunities"] = dict(det.stats["opportunities"])
                    row["dropped"] = dict(sorted(det.stats["dropped"].items()))
                    row["actions"] = dict(sorted(Counter(a[-1] for a in policy.log).items()))
                    if name == "aqua_copy":
                        row["whales"] = _whales(det, test)
                        row["tuned"] = chosen
                        row["train_net"] = train_net
                if name == "rule":
                    row["tuned"] = {"min_net_quote": rule.min_net_quote}
                runs[name].append(row)
                if progress is not None:
                    progress(f"{world:>10} seed {seed} {name:>13}: net {row['net_profit']:12,.2f}")
        out["worlds"][world] = {"params": params, "runs": runs}
    return out


def _whales(det: Any, history: Any) -> dict[str, Any]:
    """Makers, strategies and how many were big enough to be whales."""
    ledger = det.ledger()
    strategies = ledger.strategies()
    sizes = [s.allocation_usd for s in strategies if s.allocation_usd is not None]
    big = sum(1 for v in sizes if v >= det.config.min_pushed_amount_usd)
    return {
        "makers": len(ledger.makers()),
        "strategies": len(strategies),
        "whale_strategies": big,
        "aqua_events": history.aqua_events.height,
    }


def format_report(result: dict[str, Any]) -> str:
    """Return the evaluation as markdown."""
    opts = result["options"]
    lines = [
        "# Whale following (Aqua) vs plain arbitrage",
        "",
        f"Seeds {opts['seeds']}, {opts['n_blocks']:,} blocks per history; the rule's threshold "
        "is tuned on an independent training history per seed; every policy is replayed by "
        "the one replay on the same test history and draws. Net profit in USDC per seed, "
        "after gas, bribes, pool fees and flash fees (spot positions marked at the last block). "
        "The spot column is what the spot fills cost against the CEX mid at their block (the "
        "positions' gains and losses are in the net profit).",
        "",
        "Generated by `python -m arbkit.aqua.evaluate`.",
    ]
    for world, data in result["worlds"].items():
        runs = data["runs"]
        lines += [
            "",
            f"## World: {world} (sim params {data['params'] or 'defaults'})",
            "",
            "| policy | net profit (mean ± std) | trades | spot fills vs the mid (fees, impact, "
            "gas) | opportunities | acted |",
            "|---|---|---|---|---|---|",
        ]
        for name, rows in runs.items():
            if not rows:
                continue
            nets = [r["net_profit"] for r in rows]
            trades = _mean_std([float(r["trade_count"]) for r in rows])
            spot = _mean_std([float(r.get("spot_net", 0.0)) for r in rows])
            opps: Counter[str] = Counter()
            acts: Counter[str] = Counter()
            for r in rows:
                opps.update(r.get("opportunities", {}))
                acts.update(r.get("actions", {}))
            o = ", ".join(f"{k} {v}" for k, v in sorted(opps.items()) if v) or "-"
            a = ", ".join(f"{k} {v}" for k, v in sorted(acts.items())) or "-"
            lines.append(f"| {name} | {_mean_std(nets)} | {trades} | {spot} | {o} | {a} |")
        base, both = runs.get("rule", []), runs.get("rule+aqua", [])
        if base and both:
            diff = [b["net_profit"] - a["net_profit"] for a, b in zip(base, both, strict=True)]
            lines += [
                "",
                f"`rule+aqua` minus `rule`, paired per seed: {_mean_std(diff)} USDC "
                f"(per seed: {', '.join(f'{d:,.2f}' for d in diff)}).",
            ]
        tuned = [r.get("tuned") for r in runs.get("aqua_copy", []) if r.get("tuned")]
        if tuned:
            lines += ["", "Copy options chosen on each seed's training history (net there):", ""]
            for r in runs["aqua_copy"]:
                t = ", ".join(f"{k} {v}" for k, v in r["tuned"].items())
                lines.append(f"- seed {r['seed']}: {t} ({r['train_net']:,.2f})")
        whales = [r.get("whales") for r in runs.get("aqua_copy", []) if r.get("whales")]
        if whales:
            lines.append(
                "Per test history: "
                + _mean_std([float(w["strategies"]) for w in whales])
                + " strategies shipped, "
                + _mean_std([float(w["whale_strategies"]) for w in whales])
                + " of them whales."
            )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the evaluation and write ``reports/aqua/comparison.{md,json}``."""
    ap = argparse.ArgumentParser(prog="python -m arbkit.aqua.evaluate", description=__doc__)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--blocks", type=int, default=43_200)
    ap.add_argument("--worlds", nargs="+", default=list(WORLDS), choices=list(WORLDS))
    ap.add_argument("--out", type=Path, default=Path("reports/aqua"))
    args = ap.parse_args(argv)
    result = evaluate_whale_following(
        args.seeds, n_blocks=args.blocks, worlds=args.worlds, progress=print
    )
    args.out.mkdir(parents=True, exist_ok=True)
    text = json.dumps(result, indent=2, default=str) + "\n"
    write_atomic(args.out / "comparison.json", text.encode())
    write_atomic(args.out / "comparison.md", format_report(result).encode())
    print(f"-> {args.out / 'comparison.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
