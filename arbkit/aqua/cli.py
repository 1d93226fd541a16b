"""``arbkit aqua``: watch a node's Aqua events into a maker ledger, and the evaluation."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from arbkit.errors import ArbkitError

aqua_app = typer.Typer(
    help="Aqua whale following: watch makers on a node, evaluate following them.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()


def _short(address: str) -> str:
    return f"{address[:8]}…{address[-4:]}"


async def _watch(
    watcher: Any, ledger: Any, quiet: bool, limit: int | None
) -> tuple[dict[str, int], bool]:
    counts: dict[str, int] = {}
    stopped_by_limit = False
    async with contextlib.aclosing(watcher.watch_events()) as stream:
        async for event in stream:
            for update in ledger.apply(event):
                if quiet:
                    continue
                amount = getattr(event, "amount", None)
                token = getattr(event, "token", None)
                what = f" {amount} of {_short(token)}" if token is not None else ""
                console.print(
                    f"block {event.block} log {event.log_index}: {event.name:<7} "
                    f"maker {_short(event.maker)} strategy {event.strategy_hash[:10]}…"
                    f"{what} -> {update.kind}",
                    highlight=False,
                )
            counts[event.name] = counts.get(event.name, 0) + 1
            if limit is not None and sum(counts.values()) >= limit:
                stopped_by_limit = True
                break
    ledger.flush()
    return counts, stopped_by_limit


@aqua_app.command("watch")
def watch(
    rpc_url: Annotated[str, typer.Option(help="JSON-RPC URL of the node to watch.")],
    address: Annotated[
        list[str] | None,
        typer.Option(help="Aqua contract(s) to watch (repeat); default: the configured ones."),
    ] = None,
    checkpoint: Annotated[
        Path | None,
        typer.Option(help="Checkpoint file: resume from it, and keep it up to date."),
    ] = None,
    from_block: Annotated[
        int | None,
        typer.Option(min=0, help="First block when there is no checkpoint (default: the head)."),
    ] = None,
    to_block: Annotated[
        int | None, typer.Option(min=0, help="Last block (default: keep following the head).")
    ] = None,
    batch_blocks: Annotated[int, typer.Option(min=1, help="Blocks per eth_getLogs.")] = 1_000,
    confirmations: Annotated[int, typer.Option(min=0, help="Blocks to stay behind the head.")] = 0,
    chain_id: Annotated[
        int | None, typer.Option(help="Refuse a node whose chain id differs.")
    ] = None,
    max_events: Annotated[
        int | None, typer.Option(min=1, help="Stop after this many events.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="Print only the summary.")] = False,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write the ledger summary as JSON here.")
    ] = None,
) -> None:
    """Follow a node's Aqua logs into a maker ledger and print what makers do.

    Logs are read by address and topic0 and every one is decoded (malformed ones are
    counted and skipped); each event is applied to the ledger (allocation, trade,
    deposit, dock). With --checkpoint a restart resumes where the last run stopped,
    without duplicates or gaps. Ctrl-C stops cleanly.
    """
    from arbkit.aqua.config import DEFAULT_AQUA_ADDRESSES
    from arbkit.aqua.ledger import MakerLedger
    from arbkit.aqua.watch import AquaEventWatcher
    from arbkit.chain.node import attach

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    ledger = MakerLedger()
    try:
        w3 = attach(rpc_url)
        watcher = AquaEventWatcher(
            w3,
            addresses=tuple(address) if address else DEFAULT_AQUA_ADDRESSES,
            checkpoint=checkpoint,
            from_block=from_block,
            to_block=to_block,
            batch_blocks=batch_blocks,
            confirmations=confirmations,
            chain_id=chain_id,
        )
        try:
            counts, _ = asyncio.run(_watch(watcher, ledger, quiet, max_events))
        except KeyboardInterrupt:
            counts = {}
            console.print("stopped (Ctrl-C); the checkpoint holds what was consumed")
    except ArbkitError as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None
    stats = watcher.stats
    strategies = ledger.strategies()
    summary: dict[str, Any] = {
        "events": counts,
        "last_block": stats.last_block,
        "rejected_logs": stats.rejected_total,
        "rpc_retries": stats.retries,
        "makers": len(ledger.makers()),
        "strategies": len(strategies),
        "live": sum(1 for s in strategies if s.status == "shipped"),
        "docked": sum(1 for s in strategies if s.docked),
        "unknown": sum(1 for s in strategies if s.status == "unknown"),
        "trades": len(ledger.trades),
        "checkpoint": watcher.checkpoint_state(),
    }
    console.print(
        f"\n{sum(counts.values())} events {counts or ''} up to block {stats.last_block}; "
        f"{stats.rejected_total} logs rejected, {stats.retries} RPC retries",
        highlight=False,
    )
    console.print(
        f"{summary['makers']} makers, {summary['strategies']} strategies "
        f"({summary['live']} live, {summary['docked']} docked, {summary['unknown']} first "
        f"seen without their ship), {summary['trades']} trades",
        highlight=False,
    )
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(summary, indent=1, default=str))


@aqua_app.command("evaluate")
def evaluate(
    seeds: Annotated[list[int] | None, typer.Option(help="Seeds (repeat).")] = None,
    blocks: Annotated[int, typer.Option(min=100, help="Blocks per history.")] = 43_200,
    out: Annotated[Path, typer.Option(help="Report folder.")] = Path("reports/aqua"),
) -> None:
    """Backtest whale following next to plain arbitrage (python -m arbkit.aqua.evaluate)."""
    from arbkit.aqua.evaluate import main

    argv = ["--blocks", str(blocks), "--out", str(out)]
    if seeds:
        argv += ["--seeds", *map(str, seeds)]
    raise typer.Exit(main(argv))
