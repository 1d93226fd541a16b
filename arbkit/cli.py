"""The ``arbkit`` command line."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Annotated

import polars as pl
import typer
from rich.console import Console
from rich.table import Table

from arbkit.errors import ArbkitError, DataError
from arbkit.market.tables import INT
from arbkit.opportunities import FlashSource, ScanConfig, scan_block

app = typer.Typer(
    help="arbkit: research workspace and backtest harness for crypto arbitrage.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def _root() -> None:
    """Arbitrage research workspace: scan, simulate, train, backtest, serve."""


def _read_pool_states(path: Path) -> pl.DataFrame:
    if path.suffix == ".parquet":
        from arbkit.market.tables import read_table

        return read_table(path)
    if path.suffix == ".csv":
        try:
            return pl.read_csv(path, schema_overrides={"reserve0": INT, "reserve1": INT})
        except (pl.exceptions.PolarsError, OSError) as exc:
            raise DataError(f"{path}: cannot read pool states ({exc})") from exc
    raise DataError(f"{path}: expected a .csv or .parquet pool_states file")


def _read_quotes(path: Path) -> pl.DataFrame:
    if path.suffix == ".parquet":
        from arbkit.market.tables import read_table

        return read_table(path)
    try:
        return pl.read_csv(path)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise DataError(f"{path}: cannot read CEX quotes ({exc})") from exc


@app.command()
def scan(
    pools: Annotated[
        Path | None,
        typer.Option(help="pool_states file (.csv/.parquet); default: the bundled example market."),
    ] = None,
    cex: Annotated[Path | None, typer.Option(help="cex_quotes CSV with a block column.")] = None,
    block: Annotated[
        int | None, typer.Option(help="Block to scan (default: the last one in the file).")
    ] = None,
    base_fee_gwei: Annotated[
        float | None,
        typer.Option(
            help="Base fee of the including block (default: the example's, else 20 gwei)."
        ),
    ] = None,
    priority_fee_gwei: Annotated[float, typer.Option(help="Priority fee (tip) per gas.")] = 1.0,
    flash_source: Annotated[
        FlashSource, typer.Option(help="Where flash-loan routes borrow.")
    ] = FlashSource.BALANCER,
    top: Annotated[int, typer.Option(min=1, help="How many candidates to print.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Print the best arbitrage candidates of one block."""
    console = Console(width=None if sys.stdout.isatty() else 180)
    try:
        blocks_df: pl.DataFrame | None = None
        if pools is None:
            from arbkit.market.example import load_example_market

            states, quotes, blocks_df = load_example_market()
            quotes_df: pl.DataFrame | None = quotes if cex is None else _read_quotes(cex)
        else:
            states = _read_pool_states(pools)
            quotes_df = _read_quotes(cex) if cex is not None else None
        if states.height == 0:
            raise DataError("no pool states to scan")
        chosen = int(states["block"].max()) if block is None else block  # type: ignore[arg-type]
        states = states.filter(pl.col("block") == chosen)
        if states.height == 0:
            raise DataError(f"block {chosen} is not in the pool states")
        if quotes_df is not None:
            quotes_df = quotes_df.filter(pl.col("block") == chosen)
        if base_fee_gwei is not None:
            if not math.isfinite(base_fee_gwei) or base_fee_gwei < 0:
                raise DataError(
                    f"--base-fee-gwei must be a finite number >= 0, got {base_fee_gwei}"
                )
            base_fee = round(base_fee_gwei * 1e9)
        elif blocks_df is not None and blocks_df.filter(pl.col("block") == chosen).height:
            base_fee = int(blocks_df.filter(pl.col("block") == chosen)["base_fee_wei"][0])
        else:
            base_fee = 20 * 10**9
        cfg = ScanConfig(flash_source=flash_source, priority_fee_wei=round(priority_fee_gwei * 1e9))
        cands = scan_block(states, base_fee_wei=base_fee, cex_quotes=quotes_df, config=cfg)
    except ArbkitError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(code=2) from exc

    shown = cands.head(top)
    if as_json:
        rows = [
            {k: (str(v) if isinstance(v, int) and abs(v) > 2**53 else v) for k, v in row.items()}
            for row in shown.iter_rows(named=True)
        ]
        typer.echo(
            json.dumps({"block": chosen, "base_fee_wei": base_fee, "candidates": rows}, indent=2)
        )
        return
    table = Table(
        title=f"block {chosen}: {cands.height} candidates after gas and fees "
        f"(base fee {base_fee / 1e9:.2f} gwei, flash {flash_source.value})"
    )
    for col in (
        "kind",
        "symbol",
        "route",
        "amount in",
        "edge bps",
        "notional",
        "gas",
        "flash fee",
        "slippage",
        "net profit",
    ):
        table.add_column(col, justify="left" if col in ("kind", "symbol", "route") else "right")
    for row in shown.iter_rows(named=True):
        table.add_row(
            row["kind"],
            row["symbol"],
            " > ".join(row["route"]),
            f"{row['amount_in']:,}",
            f"{row['edge_bps']:.1f}",
            f"{row['notional_quote']:,.2f}",
            f"{row['gas_cost_quote']:,.2f}",
            f"{row['flash_fee_quote']:,.2f}",
            f"{row['slippage_quote']:,.2f}",
            f"{row['net_profit_quote']:,.2f}",
        )
    console.print(table)
    console.print(f"amounts in start-token base units; money columns in {cfg.quote_token}")


@app.command("scan-real")
def scan_real(
    data_dir: Annotated[
        Path, typer.Option(help="The real-data folder (../shared/data/real).")
    ] = Path("../shared/data/real"),
    base_fee_gwei: Annotated[
        list[float] | None, typer.Option(help="Assumed base fee(s); repeat the option.")
    ] = None,
    flash_source: Annotated[
        FlashSource, typer.Option(help="Where flash-loan routes borrow.")
    ] = FlashSource.BALANCER,
) -> None:
    """Count Uniswap V2 vs SushiSwap opportunities surviving gas and fees, per pair (2020-2022)."""
    from arbkit.opportunities.real import summarise_univ2_sushi

    console = Console(width=None if sys.stdout.isatty() else 180)
    levels = tuple(base_fee_gwei) if base_fee_gwei else (0.0, 30.0, 100.0)
    try:
        table = summarise_univ2_sushi(
            data_dir, base_fees_gwei=levels, config=ScanConfig(flash_source=flash_source)
        )
    except ArbkitError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(code=2) from exc
    out = Table(
        title="Uniswap V2 vs SushiSwap snapshots: dex_dex candidates after gas and fees "
        f"({flash_source.value})"
    )
    for col in (
        "pair",
        "snapshots",
        "base fee gwei",
        "candidates",
        "% of snapshots",
        "net profit USDC",
        "best USDC",
    ):
        out.add_column(col, justify="left" if col == "pair" else "right")
    for row in table.iter_rows(named=True):
        out.add_row(
            row["pair"],
            f"{row['snapshots']:,}",
            f"{row['base_fee_gwei']:g}",
            f"{row['candidates']:,}",
            f"{row['share_pct']:.2f}",
            f"{row['net_profit_quote']:,.2f}",
            f"{row['best_net_profit_quote']:,.2f}",
        )
    console.print(out)
    console.print(
        "priority fee 1 gwei; ETH priced from the same snapshot's Uniswap V2 USDC/WETH pool"
    )


@app.command()
def schedule(
    force: Annotated[
        bool, typer.Option(help="Re-run every stage, not only those whose inputs changed.")
    ] = False,
) -> None:
    """Run the training pipeline now (dvc repro) and record it under reports/runs/<UTC time>/.

    For a schedule, call it from cron, e.g. every day at 03:00:
    `0 3 * * * cd /path/to/arbkit && .venv/bin/arbkit schedule >> reports/runs/schedule.log 2>&1`.
    """
    from arbkit.workspace.schedule import run_scheduled

    console = Console()
    try:
        run = run_scheduled(force=force)
    except ArbkitError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    if run.ok:
        promoted = ", ".join(f"{k} v{v}" for k, v in run.promoted.items()) or "nothing"
        console.print(
            f"run {run.run_dir.name}: ok in {run.seconds:.0f} s; promoted: {promoted}"
            + (f"; forced {', '.join(run.forced)} (retraining requested)" if run.forced else "")
        )
        return
    console.print(
        f"[red]run {run.run_dir.name} failed[/red] (dvc repro exit {run.returncode}); the "
        f"promoted models are unchanged. See {run.run_dir / 'FAILED.md'}"
    )
    raise typer.Exit(1)


def _register_optional_commands() -> None:
    from arbkit.aqua.cli import aqua_app
    from arbkit.backtest.cli import backtest
    from arbkit.live.cli import live, live_stage
    from arbkit.market.cli import data_app
    from arbkit.market.sim_cli import calibrate, simulate
    from arbkit.metrics.cli import serve
    from arbkit.sweep.cli import sweep

    app.command("serve")(serve)
    app.command("backtest")(backtest)
    app.command("live")(live)
    app.command("live-stage")(live_stage)
    app.command("sweep")(sweep)
    data_app.command("simulate")(simulate)
    data_app.command("calibrate")(calibrate)
    app.add_typer(data_app, name="data")
    app.add_typer(aqua_app, name="aqua")


_register_optional_commands()


def main() -> None:
    """Run the command line."""
    app()


if __name__ == "__main__":
    main()
