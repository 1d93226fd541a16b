"""``arbkit live``: the flash-arbitrage runner from the command line (dry-run by default)."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from arbkit.errors import ArbkitError

__all__ = ["live", "live_stage"]

console = Console()

DEFAULT_CONFIG = Path("config") / "ai_config.json"


def _load_config(
    config: Path | None,
    *,
    enable_ai: bool | None,
    ai_mode: str | None,
    rpc_url: str | None,
    execute: bool,
    blocks: int | None,
    seed: int | None,
    kill_file: Path | None,
    stage_file: Path | None,
    models: Path | None,
) -> Any:
    from arbkit.config import AIConfigManager

    path = config if config is not None else (DEFAULT_CONFIG if DEFAULT_CONFIG.exists() else None)
    manager = AIConfigManager(config_path=path)
    updates: dict[str, Any] = {}
    if ai_mode is not None:
        updates["ai_mode"] = ai_mode
    if enable_ai is not None:
        updates["enable_ai_system"] = enable_ai
        updates["flash_runner.enable_ai_scoring"] = enable_ai
    runner: dict[str, Any] = {}
    if execute:
        runner["enable_execution"] = True
    if rpc_url is not None:
        runner["rpc_url"] = rpc_url
    if blocks is not None:
        runner["blocks"] = blocks
    if seed is not None:
        runner["seed"] = seed
    if stage_file is not None:
        runner["stage_file"] = str(stage_file)
    if models is not None:
        runner["models_dir"] = str(models)
    if kill_file is not None:
        runner["safety"] = {"kill_file": str(kill_file)}
    for key, value in runner.items():
        updates[f"flash_runner.{key}"] = value
    if updates:
        manager.update_config(updates)
    return manager.get_config()


def live(
    enable_ai: Annotated[
        bool | None,
        typer.Option(
            "--enable-ai/--no-enable-ai",
            help="Decide with the advanced decider and the promoted route model (default: "
            "the config's enable_ai_system; AI_ENABLED).",
        ),
    ] = None,
    ai_mode: Annotated[
        str | None,
        typer.Option(help="Risk profile: conservative, balanced or aggressive (AI_MODE)."),
    ] = None,
    rpc_url: Annotated[
        str | None,
        typer.Option(help="JSON-RPC URL of a dev node or fork; default: the embedded anvil."),
    ] = None,
    execute: Annotated[
        bool,
        typer.Option("--execute", help="Send transactions (default: dry-run, nothing is sent)."),
    ] = False,
    blocks: Annotated[int | None, typer.Option(min=1, help="Blocks to run.")] = None,
    rl: Annotated[
        bool, typer.Option("--rl", help="Drive the promoted RL policy (LiveEngine).")
    ] = False,
    history: Annotated[
        Path | None,
        typer.Option(help="A market history folder to play (default: a calibrated simulation)."),
    ] = None,
    symbols: Annotated[
        str | None, typer.Option(help="Comma-separated symbols to trade, e.g. ETH/USDC.")
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(help="AI config JSON (default: config/ai_config.json when it exists)."),
    ] = None,
    seed: Annotated[int | None, typer.Option(min=0, help="Seed of the run.")] = None,
    kill_file: Annotated[
        Path | None, typer.Option(help="Stop cleanly when this file appears.")
    ] = None,
    stage_file: Annotated[
        Path | None, typer.Option(help="Where the trading stage is kept.")
    ] = None,
    models: Annotated[Path | None, typer.Option(help="The model registry folder.")] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", help="Print only blocks with a decision or outcome.")
    ] = False,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write the summary as JSON here.")
    ] = None,
    aqua: Annotated[
        bool,
        typer.Option(
            "--aqua",
            help="Also follow Aqua whales (the config's aqua section; copy trading only when "
            "enabled there or by AQUA_ENABLE_COPY_TRADING). On the embedded chain the "
            "history's maker flows are sent as real Aqua transactions.",
        ),
    ] = False,
) -> None:
    """Run the flash-arbitrage runner on a chain: dry-run unless --execute.

    Each block: replay the history's order flow on the node, read and scan the pools,
    decide, simulate with eth_call, then record what the one replay says would have
    happened (dry-run) or send the transaction (--execute). Prints each block's decision
    and a summary.
    """
    from arbkit.live import AIFlashArbitrageRunner, FlashArbitrageRunner, LiveEngine
    from arbkit.live.runner import BlockReport

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        cfg = _load_config(
            config,
            enable_ai=enable_ai,
            ai_mode=ai_mode,
            rpc_url=rpc_url,
            execute=execute,
            blocks=blocks,
            seed=seed,
            kill_file=kill_file,
            stage_file=stage_file,
            models=models,
        )
        runner_cfg = cfg.flash_runner
        hist = None
        if history is not None:
            from arbkit.market.history import MarketHistory

            hist = MarketHistory.load(history)

        def show(b: BlockReport) -> None:
            if quiet and not (b.decision or b.outcomes):
                return
            parts = [f"block {b.history_block} (chain {b.chain_block}): {b.candidates} cand."]
            parts.append(f"decision: {b.decision}" if b.decision else "no trade")
            if b.simulated:
                parts.append(b.simulated)
            parts.extend(b.outcomes)
            console.print(" | ".join(parts), highlight=False, soft_wrap=True)

        runner: FlashArbitrageRunner
        follow = cfg.aqua if aqua else None
        if rl:
            runner = LiveEngine(config=runner_cfg, history=hist, on_block=show, aqua=follow)
        elif cfg.enable_ai_system and runner_cfg.enable_ai_scoring:
            runner = AIFlashArbitrageRunner(
                config=runner_cfg,
                history=hist,
                on_block=show,
                decider_config=cfg.advanced_decider,
                aqua=follow,
            )
        else:
            runner = FlashArbitrageRunner(
                config=runner_cfg, history=hist, on_block=show, aqua=follow
            )
        wanted = [s.strip() for s in symbols.split(",") if s.strip()] if symbols else None
        summary = asyncio.run(runner.run(wanted, blocks=blocks))
    except ArbkitError as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None
    s = summary.stats
    console.print(
        f"\n{summary.mode} run, stage {summary.stage}, policy {s['policy']} "
        f"(model: {s['ai_model']}): {summary.blocks} blocks, stopped: {summary.stopped}",
        highlight=False,
        soft_wrap=True,
    )
    console.print(
        f"candidates seen {s['candidates_seen']}, decisions {s['ai_decisions_made']}, "
        f"trades {s['ai_trades_sent']} "
        f"(execution rate {s['ai_execution_rate']:.1%}), successes {s['ai_successes']} "
        f"({s['ai_success_rate']:.1%}), net {s['net_profit_quote']:+.2f} USD after "
        f"{s['gas_paid_quote']:.2f} USD gas",
        highlight=False,
        soft_wrap=True,
    )
    console.print(
        f"chain checks {s['chain_checks']} (scan mismatches {s['scan_mismatches']}), "
        f"eth_call = prediction {s['simulation_matches_prediction']}/{s['simulations']}, "
        f"sent on chain {s['chain_trades']} (profit = prediction "
        f"{s['chain_matches_prediction']}), refused by caps {s['refused_by_caps'] or 0}, "
        f"RPC errors {s['rpc_errors']}",
        highlight=False,
        soft_wrap=True,
    )
    if aqua:
        det = getattr(runner.aqua_policy, "detector", None)
        found = det.stats["opportunities"] if det is not None else {}
        console.print(
            f"aqua: {s['aqua_events']} events from the chain's logs "
            f"({s['aqua_rejected_logs']} rejected), opportunities {found}, "
            f"spot orders {s['spot_orders']}",
            highlight=False,
            soft_wrap=True,
        )
    if summary.execution_log:
        console.print(f"execution log: {summary.execution_log}", highlight=False, soft_wrap=True)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(
            json.dumps(
                {
                    "mode": summary.mode,
                    "stage": summary.stage,
                    "blocks": summary.blocks,
                    "stopped": summary.stopped,
                    "metrics": summary.metrics,
                    "stats": summary.stats,
                    "execution_log": summary.execution_log,
                },
                indent=1,
                default=str,
            )
        )


def live_stage(
    promote: Annotated[
        bool, typer.Option("--promote", help="Move up one stage (only when unlocked).")
    ] = False,
    demote: Annotated[bool, typer.Option("--demote", help="Move down one stage.")] = False,
    stage_file: Annotated[Path, typer.Option(help="Where the trading stage is kept.")] = Path(
        "live/stage.json"
    ),
) -> None:
    """Show the trading stage and its track record; promote or demote it."""
    from arbkit.live.config import AIFlashArbConfig
    from arbkit.live.safety import StageTracker

    try:
        tracker = StageTracker(stage_file, AIFlashArbConfig().safety.stages)
        if promote and demote:
            raise typer.BadParameter("give --promote or --demote, not both")
        if promote:
            tracker.promote()
        elif demote:
            tracker.demote()
        review = tracker.review()
    except ArbkitError as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None
    t = tracker.track_record
    console.print(
        f"stage {tracker.stage.value} since {tracker.entered_at:%Y-%m-%d %H:%M UTC}: "
        f"{t.count} outcomes, {t.successes} successes, net {t.net_profit_quote:+.2f} USD",
        highlight=False,
        soft_wrap=True,
    )
    console.print(review.reason, highlight=False)
