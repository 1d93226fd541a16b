"""``arbkit data simulate`` and ``arbkit data calibrate``: simulated history and its calibration."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from arbkit.errors import ArbkitError

__all__ = ["calibrate", "simulate"]


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def simulate(
    seed: Annotated[int, typer.Option(min=0, help="Seed of the run.")] = 0,
    n_blocks: Annotated[
        int | None, typer.Option(help="Blocks to simulate (default 7,200 = one day).")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Output folder (default data/raw/sim_seed<SEED>).")
    ] = None,
) -> None:
    """Simulate a market history and write it as parquet with a manifest."""
    from arbkit.market.sim import simulate_market

    try:
        history = simulate_market(seed=seed, n_blocks=n_blocks)
        dest = history.save(out or Path("data/raw") / f"sim_seed{seed}")
    except ArbkitError as exc:
        _fail(str(exc))
        return
    typer.echo(
        f"simulated {history.n_blocks:,} blocks (seed {seed}): {history.pool_states.height:,} "
        f"pool states, {history.cex_quotes.height:,} CEX quotes, "
        f"{history.aqua_events.height:,} Aqua events -> {dest}"
    )


def calibrate(
    data_dir: Annotated[Path, typer.Option(help="The real datasets (../shared/data/real).")] = Path(
        "../shared/data/real"
    ),
    seed: Annotated[int, typer.Option(min=0, help="Seed of the simulated history.")] = 0,
    n_blocks: Annotated[int, typer.Option(help="Blocks to simulate.")] = 216_000,
    out: Annotated[Path, typer.Option(help="Report folder.")] = Path("reports/calibration"),
) -> None:
    """Compare the simulator's defaults with the real data: table and plots."""
    from arbkit.market.calibration import (
        history_calibration_samples,
        history_calibration_stats,
        real_calibration_samples,
        real_calibration_stats,
        write_calibration_report,
    )
    from arbkit.market.sim import simulate_market

    if not data_dir.is_dir():
        _fail(f"{data_dir}: no real-data folder (pass --data-dir)")
    try:
        history = simulate_market(seed=seed, n_blocks=n_blocks)
        report = write_calibration_report(
            history_calibration_stats(history),
            real_calibration_stats(data_dir),
            out,
            sim_samples=history_calibration_samples(history),
            real_samples=real_calibration_samples(data_dir),
        )
    except ArbkitError as exc:
        _fail(str(exc))
        return
    print(f"calibration report ({n_blocks:,} simulated blocks, seed {seed}) -> {report}")
    sys.stdout.flush()
