"""Test the AI integration end to end (user guide, quick start step 4).

Runs on the embedded defaults, nothing to configure: the advanced decider scores an
opportunity (guide section 1), the AI flash-arbitrage runner dry-runs 100 blocks of a
simulated market on the embedded anvil node with the real Uniswap V2 contracts (section
2), the RL policy decides on a snapshot (section 3), and the metrics collector reports
(section 6).

    .venv/bin/python examples/ai_integration_example.py
"""

from __future__ import annotations

import asyncio
import os
import tempfile

from arbkit.decider import AdvancedAIConfig, AdvancedAIDecider, AICandidate, MarketRegime
from arbkit.live import AIFlashArbConfig, AIFlashArbitrageRunner
from arbkit.metrics import MetricsCollector, set_metrics_collector
from arbkit.rl import RLArbitragePolicy, RLPolicyConfig


def decider_example() -> None:
    """Score one opportunity with the advanced decider (guide section 1)."""
    # Initialize
    config = AdvancedAIConfig(
        confidence_threshold=0.70,
        enable_ml_scoring=True,
        kelly_fraction=0.25,
    )
    decider = AdvancedAIDecider(config)

    # Set market regime
    regime = MarketRegime(
        volatility=0.25,
        liquidity=0.75,
        gas_percentile=0.40,
        regime_label="stable",
    )
    decider.update_regime(regime)

    # Score opportunities
    candidates = [
        AICandidate(
            symbol="ETH/USDC",
            edge_bps=65.0,
            notional_quote=10000.0,
            gas_cost_quote=50.0,
            flash_fee_quote=5.0,
            slippage_quote=15.0,
            confidence=0.75,
        ),
    ]

    decision = decider.pick_best(candidates, portfolio_value_eth=100.0)
    if decision:
        print(f"Execute {decision.symbol}: ${decision.net_quote:.2f} profit")
    else:
        print("decider: no trade clears the confidence threshold")


async def runner_example(workdir: str) -> None:
    """Dry-run the AI flash-arbitrage runner on the embedded chain (guide section 2)."""
    # the embedded defaults: a dry-run on anvil, a simulated market history
    router = None  # the chain layer deploys the real Uniswap V2 router
    dex = None  # the embedded chain (anvil); an RPC URL goes in config.rpc_url
    price_fetcher = None  # the history's CEX quotes
    TOKEN_ADDRESSES = None  # noqa: N806 - the guide's name; the deployment's addresses

    config = AIFlashArbConfig(
        enable_ai_scoring=True,
        ai_min_confidence=0.75,
        enable_flash_loans=True,
        enable_execution=False,  # Dry-run
        portfolio_value_eth=100.0,
        stage_file=os.path.join(workdir, "stage.json"),
        execution_log_dir=os.path.join(workdir, "executions"),
    )

    runner = AIFlashArbitrageRunner(
        router=router,
        dex=dex,
        price_fetcher=price_fetcher,
        token_addresses=TOKEN_ADDRESSES,
        config=config,
    )

    # Run scanner
    symbols = ["ETH/USDC", "WETH/USDC", "BTC/USDT"]
    await runner.run(symbols)

    # Get stats
    stats = runner.get_ai_stats()
    print(f"AI Decisions Made: {stats['ai_decisions_made']}")
    print(f"Execution Rate: {stats['ai_execution_rate']:.1%}")
    print(
        f"blocks {stats['blocks_processed']} on the embedded chain, chain checks "
        f"{stats['chain_checks']}, stage {stats['stage']}, model: {stats['ai_model']}"
    )


def rl_example() -> None:
    """Build the RL trading policy (guide section 3)."""
    config = RLPolicyConfig(
        learning_rate=0.01,
        epsilon_start=0.20,
        max_position_size=10.0,
        target_symbols=["ETH/USDC", "BTC/USDT"],
    )
    policy = RLArbitragePolicy(config)
    print(f"RL policy: {policy.n_states} states x 4 actions (buy, sell, hold, flash_arb)")


def main() -> None:
    """Run every example, then print the metrics summary (guide section 6)."""
    with tempfile.TemporaryDirectory() as workdir:
        set_metrics_collector(MetricsCollector())  # in memory: the example keeps nothing
        decider_example()
        asyncio.run(runner_example(workdir))
        rl_example()
        from arbkit.metrics import get_metrics_collector

        summary = get_metrics_collector().get_summary()
        print(f"Win Rate: {summary['decisions']['win_rate']:.1%}")
        print(f"Net Profit: ${summary['execution']['net_profit_usd']:.2f}")


if __name__ == "__main__":
    main()
