"""``arbkit backtest``: compare policies over seeds on simulated or real history."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from arbkit.backtest.compare import POLICIES, ComparisonResult
from arbkit.errors import ArbkitError
from arbkit.io import write_atomic

__all__ = ["POLICY_NAMES", "backtest", "run_comparison"]

POLICY_NAMES = POLICIES


def run_comparison(
    policies: list[str],
    seeds: list[int],
    *,
    n_blocks: int,
    train_blocks: int,
    real_data: Path | None = None,
    data: Path | None = None,
    progress: bool = False,
) -> ComparisonResult:
    """Run :func:`arbkit.backtest.compare.run_comparison` with the CLI's options.

    On real data the scanner looks at DEX-DEX routes only (the snapshots carry no CEX
    quotes at the pools' times).
    """
    from arbkit.backtest import BacktestConfig
    from arbkit.backtest.compare import ComparisonConfig
    from arbkit.backtest.compare import run_comparison as compare
    from arbkit.opportunities import ScanConfig

    bt = BacktestConfig()
    if real_data is not None:
        bt = BacktestConfig(scan=ScanConfig(kinds=("dex_dex",)))
    try:
        cfg = ComparisonConfig(
            policies=tuple(policies),
            seeds=tuple(seeds),
            n_blocks=n_blocks,
            train_blocks=train_blocks,
            backtest=bt,
        )
    except ValidationError as exc:
        raise ArbkitError("; ".join(str(e["msg"]) for e in exc.errors())) from None
    log = (lambda line: typer.echo(line, err=True)) if progress else None
    return compare(cfg, real_data=real_data, data=data, progress=log)


def _walk_forward_tables(
    n_blocks: int, executor: str = "local", address: str | None = None
) -> dict[str, Any]:
    """Walk-forward the rule and decider+ML on one simulated history; a table per policy.

    The folds run on ``executor`` (``local``: this process; ``ray``: Ray tasks, local or on
    the cluster at ``address``): the same tables either way.
    """
    from arbkit.backtest import BacktestConfig, RuleBaseline, WalkForwardConfig
    from arbkit.backtest.learners import make_decider
    from arbkit.backtest.walkforward import walk_forward
    from arbkit.market.sim import simulate_market
    from arbkit.sweep.executor import make_executor

    history = simulate_market(seed=777, n_blocks=n_blocks)
    wf = WalkForwardConfig(train_blocks=7_200, test_blocks=3_600)
    out: dict[str, Any] = {}
    bt = BacktestConfig()
    for name, make in (
        ("rule", lambda train, seed: RuleBaseline()),
        (
            "decider_with_model",
            lambda train, seed: make_decider(train, seed=seed, use_model=True, backtest=bt),
        ),
    ):
        with make_executor(executor, address=address) as ex:
            res = walk_forward(make, history, wf, bt, executor=ex)
        out[f"Walk-forward, {name} (train 7,200 / test 3,600 blocks)"] = res.table()
    return out


def _bound_text(result: ComparisonResult) -> str:
    """Describe the upper bound and each policy's share of it."""
    import numpy as np

    b = np.asarray(result.bounds, dtype=np.float64)
    std = float(np.std(b, ddof=1)) if b.size > 1 else 0.0
    skipped = "".join(f". {name} not trained ({why})" for name, why in result.skipped.items())
    shares = result.aggregate()
    share_text = ", ".join(
        f"{r['policy']} {r['share_mean']:.1%}"
        for r in shares.iter_rows(named=True)
        if r["share_mean"] is not None and math.isfinite(r["share_mean"])
    )
    return (
        f". Upper bound under the same gap rule (best foresight value per block and per "
        f"gap, the smaller sum): {float(np.mean(b)):,.0f} ± {std:,.0f} quote per seed; the "
        "foresight row shows its picks executed like any policy's. Share of the bound "
        f"(mean over seeds): {share_text}" + skipped
    )


def _mean_std(mean: float, std: float, fmt: str) -> str:
    """Format ``mean ± std``, or ``n/a`` (with why in the report) when it is not finite."""
    if not math.isfinite(mean):
        return "n/a"
    return f"{fmt.format(mean)} ± {fmt.format(std if math.isfinite(std) else 0.0)}"


def _pct(value: float) -> str:
    return f"{value:.1%}" if math.isfinite(value) else "n/a"


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
            help="Also run a walk-forward of decider_with_model and the rule on one "
            "simulated history of this many blocks (train 1 day, test 12 h, a purge of the "
            "label delay between; the model is retrained per fold); 0 to skip."
        ),
    ] = 0,
    executor: Annotated[
        str,
        typer.Option(
            help="Where the walk-forward folds run: local (this process) or ray (a local "
            "Ray on every core, or the cluster at --address / RAY_ADDRESS)."
        ),
    ] = "local",
    address: Annotated[
        str | None, typer.Option(help="A Ray cluster's address (with --executor ray).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print metrics as JSON.")] = False,
) -> None:
    """Backtest policies over several seeds and print mean ± std of the results."""
    from rich.console import Console
    from rich.table import Table

    from arbkit.backtest.compare import DEFAULT_POLICIES
    from arbkit.backtest.report import comparison_table, write_report
    from arbkit.sweep.executor import EXECUTORS

    if executor not in EXECUTORS:
        typer.echo(f"error: --executor {executor!r}: expected one of {list(EXECUTORS)}", err=True)
        raise typer.Exit(2)
    names = policy or list(DEFAULT_POLICIES)
    try:
        result = run_comparison(
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
    results = result.runs
    table = comparison_table(results)
    if as_json:
        payload = {name: [_clean(r.to_dict()) for r in runs] for name, runs in results.items()}
        typer.echo(json.dumps(payload, indent=2, default=str))
    else:
        out = Table(title=f"Backtest over {seeds} seed(s) ({'real' if real_data else 'sim'})")
        out.add_column("policy", no_wrap=True)  # names must stay whole to be told apart
        for col in ("net profit", "Sharpe", "win rate", "trades", "revert rate"):
            out.add_column(col)
        for row in table.iter_rows(named=True):
            out.add_row(
                row["policy"],
                f"{row['net_profit_mean']:,.0f} ± {row['net_profit_std']:,.0f}",
                _mean_std(row["sharpe_mean"], row["sharpe_std"], "{:.2f}"),
                _pct(row["win_rate_mean"]),
                f"{row['trade_count_mean']:,.0f}",
                _pct(row["revert_rate_mean"]),
            )
        Console().print(out)
    if metrics is not None:
        summary = {
            row["policy"]: {k: _clean(v) for k, v in row.items() if k != "policy"}
            for row in table.iter_rows(named=True)
        }
        write_atomic(metrics, (json.dumps(summary, indent=2, sort_keys=True) + "\n").encode())
    if report is None:
        report = Path("reports/backtest") / ("real.html" if real_data else "index.html")
    extra: dict[str, Any] = {}
    if walk_forward_blocks > 0:
        try:
            extra = _walk_forward_tables(walk_forward_blocks, executor, address)
        except ArbkitError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from exc
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
                + _bound_text(result)
            ),
            extra_tables=extra,
        )
        typer.echo(f"report -> {path}", err=as_json)
