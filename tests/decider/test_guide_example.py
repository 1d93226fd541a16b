"""The user guide's usage example of section 1, run with only its import lines changed."""

from __future__ import annotations

import contextlib
import io

GUIDE_EXAMPLE = """
from arbkit.decider import AdvancedAIDecider, AdvancedAIConfig, MarketRegime, AICandidate

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
"""


def _run(source: str) -> tuple[dict[str, object], str]:
    namespace: dict[str, object] = {}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(source, "guide_example", "exec"), namespace)
    return namespace, out.getvalue()


def test_guide_example_runs_and_declines_its_losing_candidate() -> None:
    ns, printed = _run(GUIDE_EXAMPLE)
    # 65 bps of 10,000 is 65; gas 50 + flash fee 5 + slippage 15 cost 70: a 5 loss
    assert ns["candidates"][0].net_quote == -5.0  # type: ignore[index]
    assert ns["decision"] is None
    assert printed == ""


def test_guide_example_with_a_profitable_candidate_prints_symbol_and_net_quote() -> None:
    # 65 bps of 100,000 nets 580 quote, above the balanced profile's 0.15 ETH at 3,000
    source = GUIDE_EXAMPLE.replace("notional_quote=10000.0", "notional_quote=100000.0").replace(
        'regime_label="stable",', 'regime_label="stable", eth_price_quote=3000.0,'
    )
    ns, printed = _run(source)
    decision = ns["decision"]
    assert decision is not None
    assert printed == f"Execute ETH/USDC: ${decision.net_quote:.2f} profit\n"  # type: ignore[attr-defined]
    assert decision.net_quote > 0  # type: ignore[attr-defined]
