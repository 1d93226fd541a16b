"""``arbkit sweep``: tune the decider, its bid or the RL policy by walk-forward backtests."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError

from arbkit.errors import ArbkitError

if TYPE_CHECKING:
    from arbkit.sweep.config import SweepConfig

__all__ = ["default_ledger", "sweep"]


def default_ledger(config: SweepConfig, report_dir: Path) -> Path:
    """Return the ledger a sweep uses unless told.

    One per set of options and version of the code: the same command resumes, other
    options (or changed code) start their own.
    """
    from arbkit.sweep.run import code_fingerprint

    key = f"{config.fingerprint()[:12]}-{code_fingerprint()[:8]}"
    return report_dir / "ledgers" / f"{config.target}-{key}.json"


def sweep(
    target: Annotated[
        str,
        typer.Option(
            help="What to tune: decider (its threshold, minimum profit and bid) or q_learning."
        ),
    ] = "decider",
    trials: Annotated[
        int, typer.Option(help="Trials in all (trial 0 runs the current defaults).")
    ] = 16,
    batch_size: Annotated[
        int,
        typer.Option(
            help="Trials asked of Optuna at a time (fixed by the sweep, not by the workers)."
        ),
    ] = 8,
    seed: Annotated[int, typer.Option(help="The sweep's seed (sampler, trial seeds, draws).")] = 0,
    data: Annotated[
        Path | None,
        typer.Option(help="A saved history to walk forward over (e.g. data/pipeline/train)."),
    ] = None,
    real_data: Annotated[Path | None, typer.Option(help="Or a folder of real data.")] = None,
    blocks: Annotated[
        int, typer.Option(help="Blocks of the simulated history (without --data).")
    ] = 7_200,
    train_blocks: Annotated[int, typer.Option(help="Train window of each fold.")] = 2_400,
    test_blocks: Annotated[int, typer.Option(help="Test window of each fold.")] = 1_200,
    folds: Annotated[int, typer.Option(help="Folds at most.")] = 3,
    executor: Annotated[
        str,
        typer.Option(help="ray (local Ray, or a cluster with --address) or local (this process)."),
    ] = "ray",
    address: Annotated[
        str | None,
        typer.Option(
            help="A Ray cluster's address (host:port of `ray start --head`); default $RAY_ADDRESS."
        ),
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="Ray tasks at a time (default every CPU).")
    ] = None,
    ledger: Annotated[
        Path | None,
        typer.Option(
            help="Ledger of finished trials (default reports/sweep/ledgers/"
            "<target>-<options>.json): run the same command again to resume."
        ),
    ] = None,
    report_dir: Annotated[Path, typer.Option(help="Where the reports go.")] = Path("reports/sweep"),
    metrics: Annotated[
        Path | None,
        typer.Option(help="Also write the metrics here (the pipeline's is metrics/sweep.json)."),
    ] = None,
    defaults_from: Annotated[
        Path | None,
        typer.Option(
            help="Start from the settings in this params.yaml (trial 0 runs them); default "
            "./params.yaml when it exists, else the built-in defaults."
        ),
    ] = None,
    write_params: Annotated[
        Path | None,
        typer.Option(
            help="Write the best trial's parameters into this params.yaml for the pipeline."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    quiet: Annotated[bool, typer.Option(help="No progress display.")] = False,
) -> None:
    """Search the parameters of the decider, its bid or the Q-learning policy.

    Optuna (TPE) proposes trials; each trial is trained and backtested walk-forward
    through the one replay, every (trial, fold) a task on Ray (local by default; a
    cluster with --address) or in this process (--executor local). The same sweep gives
    the same trials on any number of workers. Interrupted, it resumes from its ledger.
    """
    from rich.console import Console

    from arbkit.backtest.config import BacktestConfig, WalkForwardConfig
    from arbkit.sweep.config import SweepConfig
    from arbkit.sweep.executor import make_executor
    from arbkit.sweep.report import (
        format_sweep,
        read_current_settings,
        sweep_metrics,
        write_best_params,
        write_sweep_reports,
    )
    from arbkit.sweep.run import TrialRecord, run_sweep

    err = Console(stderr=True, soft_wrap=True)
    bt = BacktestConfig()
    if real_data is not None:
        from arbkit.opportunities import ScanConfig

        bt = BacktestConfig(scan=ScanConfig(kinds=("dex_dex",)))
    try:
        cfg = SweepConfig(
            target=target,
            trials=trials,
            batch_size=batch_size,
            seed=seed,
            data=str(data) if data is not None else None,
            real_data=str(real_data) if real_data is not None else None,
            n_blocks=blocks,
            walk_forward=WalkForwardConfig(
                train_blocks=train_blocks, test_blocks=test_blocks, max_folds=folds
            ),
            backtest=bt,
        )
    except ValidationError as exc:
        err.print(f"[red]error:[/red] {'; '.join(str(e['msg']) for e in exc.errors())}")
        raise typer.Exit(2) from None
    start = defaults_from or (Path("params.yaml") if Path("params.yaml").exists() else None)
    if start is not None:
        try:
            cfg = cfg.with_defaults(read_current_settings(cfg.target, start))
        except (ArbkitError, ValidationError) as exc:
            err.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from None
    book = ledger or default_ledger(cfg, report_dir)
    try:
        ex = make_executor(executor, address=address, workers=workers)
    except ArbkitError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    where = f"{ex.name}, {ex.workers} worker(s)"
    nodes = int(getattr(ex, "nodes", 1))
    if nodes > 1:
        where += f" on {nodes} nodes"
    if not quiet:
        started = getattr(ex, "startup_seconds", 0.0)
        err.print(
            f"sweep {cfg.target}: {cfg.trials} trials on {where}"
            + (f" (Ray up in {started:.1f} s)" if ex.name == "ray" else "")
            + f"; ledger {book}"
        )
    best: list[float] = []

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(
        TextColumn("trials"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        console=err,
        disable=quiet,
    )
    task_id = bar.add_task("", total=cfg.trials)

    def show(rec: TrialRecord, finished: int, total: int) -> None:
        if not best or rec.value > best[0]:
            best[:] = [rec.value]
        bar.update(
            task_id,
            completed=finished,
            description=f"best net {best[0]:,.2f} (last: trial {rec.number} {rec.value:,.2f})",
        )

    try:
        with bar:
            result = run_sweep(cfg, executor=ex, ledger=book, progress=show)
            result.extra["defaults_from"] = str(start) if start is not None else None
    except KeyboardInterrupt:
        err.print(
            f"interrupted: the finished trials are kept in {book}; run the same command to resume"
        )
        raise typer.Exit(130) from None
    except ArbkitError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    finally:
        ex.close()
    write_sweep_reports(result, report_dir=report_dir, metrics_file=metrics)
    written = write_best_params(result, write_params) if write_params is not None else {}
    if as_json:
        doc = {
            "metrics": sweep_metrics(result),
            "evaluated": result.evaluated,
            "resumed": result.resumed,
            "seconds": result.seconds,
            "startup_seconds": result.startup_seconds,
            "nodes": result.nodes,
            "trials": result.results(),
            "params_written": written,
        }
        sys.stdout.write(json.dumps(doc) + "\n")
        return
    typer.echo(format_sweep(result).split("## Every trial")[0].rstrip())
    typer.echo(
        f"reports: {report_dir}/{cfg.target}.md, {report_dir}/{cfg.target}.json"
        + (f"; metrics {metrics}" if metrics else "")
    )
    if written:
        typer.echo(f"{write_params}: " + ", ".join(f"{k}={v}" for k, v in written.items()))
