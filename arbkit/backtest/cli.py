"""``arbkit backtest``: compare policies over seeds on simulated or real history."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from arbkit.errors import ArbkitError

__all__ = ["POLICY_NAMES", "backtest", "run_comparison"]

POLICY_NAMES = ("oracle", "rule", "random", "decider", "decider-ml", "rl")


def _factories(train: Any, seed: int) -> dict[str, Callable[[], Any]]:
    """Policy builders; ``train`` is a history the learning policies may train on."""
    from arbkit.backtest.policies import ForesightPolicy, RandomPolicy, RuleBaseline

    out: dict[str, Callable[[], Any]] = {
        "oracle": ForesightPolicy,
        "rule": RuleBaseline,
        "random": lambda: RandomPolicy(seed=seed),
    }
    try:
        from arbkit.backtest.learners import make_decider, make_rl_policy
    except ImportError:
        return out
    out["decider"] = lambda: make_decider(train, seed=seed, use_model=False)
    out["decider-ml"] = lambda: make_decider(train, seed=seed, use_model=True)
    out["rl"] = lambda: make_rl_policy(train, seed=seed)
    return out


def run_comparison(
    policies: list[str],
    seeds: list[int],
    *,
    n_blocks: int,
    train_blocks: int,
    real_data: Path | None = None,
    data: Path | None = None,
    progress: bool = False,
) -> dict[str, list[Any]]:
    """Backtest every policy on every seed's history; learners train on a separate history.

    With ``data`` (a saved history) every seed replays it with its own execution draws and
    learners train on ``simulate_market(seed=10_000 + s)``.
    On simulated data, seed ``s`` replays ``simulate_market(seed=s)`` and learners train on
    ``simulate_market(seed=10_000 + s)`` (an independent history: nothing of the test
    history leaks into training). On real data every seed replays the same history with
    its own execution draws, and learners train on its first ``train_blocks`` steps,
    which are then left out of the test.
    """
    from arbkit.backtest import BacktestConfig, Simulator, prepare_candidates
    from arbkit.market.sim import simulate_market
    from arbkit.opportunities import ScanConfig

    results: dict[str, list[Any]] = {p: [] for p in policies}
    real = None
    saved = None
    if real_data is not None:
        from arbkit.market.real_history import load_real_history

        real = load_real_history(real_data)
    elif data is not None:
        from arbkit.market.history import MarketHistory

        saved = MarketHistory.load(data)
    for seed in seeds:
        if saved is not None:
            train = simulate_market(seed=10_000 + seed, n_blocks=train_blocks)
            test = saved
            cfg = BacktestConfig(seed=seed)
        elif real is not None:
            cut = min(train_blocks, real.n_blocks // 3)
            train, test = real.slice(0, cut), real.slice(cut, real.n_blocks)
            cfg = BacktestConfig(seed=seed, scan=ScanConfig(kinds=("dex_dex",)))
        else:
            train = simulate_market(seed=10_000 + seed, n_blocks=train_blocks)
            test = simulate_market(seed=seed, n_blocks=n_blocks)
            cfg = BacktestConfig(seed=seed)
        cfg = cfg.model_copy(update={"progress": progress})
        cands = prepare_candidates(test, cfg.scan)
        makers = _factories(train, seed)
        for name in policies:
            if name not in makers:
                raise ArbkitError(f"policy {name!r} is not available; choose from {list(makers)}")
            res = Simulator(makers[name](), test, cfg, candidates=cands).run_sync()
            results[name].append(res)
    return results


def _walk_forward_tables(n_blocks: int) -> dict[str, Any]:
    """Walk-forward the rule and decider+ML on one simulated history; a table per policy."""
    from arbkit.backtest import BacktestConfig, RuleBaseline, WalkForwardConfig
    from arbkit.backtest.learners import make_decider
    from arbkit.backtest.walkforward import walk_forward
    from arbkit.market.sim import simulate_market

    history = simulate_market(seed=777, n_blocks=n_blocks)
    wf = WalkForwardConfig(train_blocks=7_200, purge_blocks=10, test_blocks=3_600)
    out: dict[str, Any] = {}
    for name, make in (
        ("rule", lambda train, seed: RuleBaseline()),
        ("decider+ml", lambda train, seed: make_decider(train, seed=seed, use_model=True)),
    ):
        res = walk_forward(make, history, wf, BacktestConfig())
        out[f"Walk-forward, {name} (train 7,200 / purge 10 / test 3,600 blocks)"] = res.table()
    return out


def _oracle_bound_text(results: dict[str, list[Any]]) -> str:
    """Describe the oracle's upper bound (its own row shows its trades executed normally)."""
    import numpy as np

    bounds = [r.extras.get("oracle_bound") for r in results.get("oracle", [])]
    vals = [b for b in bounds if b is not None]
    if not vals:
        return ""
    return (
        f". Oracle upper bound (best realised net per block, no rivals, any delay): "
        f"{np.mean(vals):,.0f} ± {np.std(vals, ddof=1) if len(vals) > 1 else 0.0:,.0f}; "
        "the oracle row shows its picks executed like any policy's"
    )


def _clean(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    return x


def backtest(
    policy: Annotated[
        list[str] | None,
        typer.Option(help=f"Policies to compare (repeatable): {', '.join(POLICY_NAMES)}."),
    ] = None,
    seeds: Annotated[int, typer.Option(min=1, help="Seeds (histories) per policy.")] = 5,
    n_blocks: Annotated[int, typer.Option(min=100, help="Blocks per simulated history.")] = 21_600,
    train_blocks: Annotated[
        int, typer.Option(min=100, help="Blocks of history the learners train on.")
    ] = 21_600,
    real_data: Annotated[
        Path | None,
        typer.Option(help="Replay the real Uni/Sushi + Binance history from this folder."),
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option(help="Replay a saved history (from `arbkit data simulate`) instead."),
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option(
            help="Write the HTML report (and a .md table) here; default "
            "reports/backtest/index.html, or real.html with --real-data."
        ),
    ] = None,
    metrics: Annotated[
        Path | None, typer.Option(help="Write mean/std per policy as JSON (for DVC).")
    ] = None,
    walk_forward_blocks: Annotated[
        int,
        typer.Option(
            help="Also run a walk-forward of decider+ML and the rule on one simulated "
            "history of this many blocks (train 1 day, purge 10 blocks, test 12 h; the "
            "model is retrained per fold); 0 to skip."
        ),
    ] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print metrics as JSON.")] = False,
) -> None:
    """Backtest policies over several seeds and print mean ± std of the results."""
    from rich.console import Console
    from rich.table import Table

    from arbkit.backtest.report import comparison_table, write_report

    names = policy or ["oracle", "rule", "random", "decider", "decider-ml", "rl"]
    try:
        results = run_comparison(
            names,
            list(range(seeds)),
            n_blocks=n_blocks,
            train_blocks=train_blocks,
            real_data=real_data,
            data=data,
            progress=sys.stderr.isatty(),
        )
    except ArbkitError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    table = comparison_table(results)
    if as_json:
        payload = {name: [_clean(r.to_dict()) for r in runs] for name, runs in results.items()}
        typer.echo(json.dumps(payload, indent=2, default=str))
    else:
        out = Table(title=f"Backtest over {seeds} seed(s) ({'real' if real_data else 'sim'})")
        for col in ("policy", "net profit", "Sharpe", "win rate", "trades", "revert rate"):
            out.add_column(col)
        for row in table.iter_rows(named=True):
            out.add_row(
                row["policy"],
                f"{row['net_profit_mean']:,.0f} ± {row['net_profit_std']:,.0f}",
                f"{row['sharpe_mean']:.2f} ± {row['sharpe_std']:.2f}",
                f"{row['win_rate_mean']:.1%}",
                f"{row['trade_count_mean']:,.0f}",
                f"{row['revert_rate_mean']:.1%}",
            )
        Console().print(out)
    if metrics is not None:
        summary = {
            row["policy"]: {k: _clean(v) for k, v in row.items() if k != "policy"}
            for row in table.iter_rows(named=True)
        }
        metrics.parent.mkdir(parents=True, exist_ok=True)
        tmp = metrics.with_name(f".{metrics.name}.tmp")
        tmp.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
        tmp.replace(metrics)
    if report is None:
        report = Path("reports/backtest") / ("real.html" if real_data else "index.html")
    extra: dict[str, Any] = {}
    if walk_forward_blocks > 0:
        extra = _walk_forward_tables(walk_forward_blocks)
        for name, df in extra.items():
            typer.echo(f"{name}\n{df}", err=as_json)
    if report is not None:
        path = write_report(
            results,
            report,
            title="arbkit backtest: policy comparison",
            description=(
                f"{seeds} seed(s); "
                + (
                    f"real Uniswap V2/SushiSwap snapshots from {real_data} (pseudo blocks ~3.7 h "
                    f"apart; learners train on the first {train_blocks:,} snapshots, the rest "
                    "is replayed; seeds change only the execution draws)"
                    if real_data
                    else f"simulated histories of {n_blocks:,} blocks; learners train on an "
                    f"independent history of {train_blocks:,} blocks"
                )
                + _oracle_bound_text(results)
            ),
            extra_tables=extra,
        )
        typer.echo(f"report -> {path}", err=as_json)
