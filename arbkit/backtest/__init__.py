"""Backtest harness: event replay, policies, walk-forward validation, analytics and reports.

The guide's ``Simulator`` (``src.research.simulator``) lives here::

    from arbkit.backtest import Simulator

    results = await Simulator(policy=policy, data=history).run()
    print(f"Sharpe Ratio: {results['sharpe']:.2f}")
"""

from arbkit.backtest.config import BacktestConfig, WalkForwardConfig
from arbkit.backtest.engine import (
    BacktestPolicy,
    BacktestResult,
    BlockView,
    Order,
    PortfolioView,
    RunSetup,
    Simulator,
    get_replay,
    prepare_candidates,
)
from arbkit.backtest.policies import (
    DeciderPolicy,
    ForesightPolicy,
    RandomPolicy,
    RLPolicyAdapter,
    RuleBaseline,
    as_backtest_policy,
)

__all__ = [
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
