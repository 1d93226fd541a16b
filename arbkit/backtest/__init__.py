"""Backtest harness: event replay, policies, walk-forward validation, analytics and reports.

The guide's ``Simulator`` (``src.research.simulator``) lives here::

    from arbkit.backtest import Simulator

    results = await Simulator(policy=policy, data=history).run()
    print(f"Sharpe Ratio: {results['sharpe']:.2f}")
"""

from arbkit.backtest.config import BacktestConfig, WalkForwardConfig
from arbkit.backtest.engine import BacktestResult, Simulator, get_replay, prepare_candidates
from arbkit.backtest.policies import (
    ActorPolicy,
    DeciderPolicy,
    ForesightPolicy,
    RandomPolicy,
    RLPolicyAdapter,
    RuleBaseline,
    as_backtest_policy,
)
from arbkit.backtest.protocol import BacktestPolicy, BlockView, Order, PortfolioView, RunSetup

__all__ = [
    "ActorPolicy",
    "BacktestConfig",
    "BacktestPolicy",
    "BacktestResult",
    "BlockView",
    "DeciderPolicy",
    "ForesightPolicy",
    "Order",
    "PortfolioView",
    "RLPolicyAdapter",
    "RandomPolicy",
    "RuleBaseline",
    "RunSetup",
    "Simulator",
    "WalkForwardConfig",
    "as_backtest_policy",
    "get_replay",
    "prepare_candidates",
]
