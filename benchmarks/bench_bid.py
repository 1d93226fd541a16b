"""The bid search of ``pick_best`` against the raw win-probability model on the same rows.

    .venv/bin/python benchmarks/bench_bid.py

Side by side, on the same 1,000 candidates (the replay's candidates of a simulated
history, with their 12 route features):

1. **raw predict**: ``WinProbabilityModel.predict_proba`` on the 1,000 rows at one bid
   (the booster and its calibration, nothing else);
2. **pick_best with the bid search**: ``AdvancedAIDecider.pick_best`` on the 1,000
   candidates: features, ``P(win)`` at each of the 15 bids of the grid for every
   candidate (:meth:`WinProbabilityModel.predict_grid`), the EV-maximising bid, Kelly
   sizing, the choice. Aim: within 2x of the raw predict.
3. for reference, ``pick_best`` of the decider without a win-probability model.

Median of 200 timed calls after 20 warm-up calls each.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np
import polars as pl

from arbkit.backtest.config import BacktestConfig
from arbkit.backtest.engine import get_replay
from arbkit.backtest.learners import train_win_model
from arbkit.decider import AdvancedAIConfig, AdvancedAIDecider, CandidateBatch, MarketRegime
from arbkit.decider.bidding import (
    bid_feature,
    bribe_feature,
    expected_rival_bid_eth,
    share_to_eth,
)
from arbkit.features import ROUTE_FEATURE_NAMES
from arbkit.market.sim import simulate_market

N = 1_000
REPS = 200


def _median_ms(fn: Callable[[], object]) -> float:
    for _ in range(20):
        fn()
    times = []
    for _ in range(REPS):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def main() -> None:
    """Print both timings and their ratio."""
    history = simulate_market(seed=7, n_blocks=21_600)
    model, report = train_win_model(history, seed=1)
    replay = get_replay(history, BacktestConfig())
    cands = replay.candidates
    reps = -(-N // cands.height)
    table = pl.concat([cands] * reps)[:N]
    batch = CandidateBatch.from_table(table, eth_price_quote=3_000.0)

    cfg = AdvancedAIConfig(min_profit_eth=0.0, confidence_threshold=0.0)
    decider = AdvancedAIDecider(cfg, win_model=model)
    decider.update_regime(MarketRegime(0.2, 0.6, 0.4, "stable", eth_price_quote=3_000.0))
    plain = AdvancedAIDecider(cfg.model_copy(update={"enable_ml_scoring": False}))
    plain.update_regime(MarketRegime(0.2, 0.6, 0.4, "stable", eth_price_quote=3_000.0))
    assert decider.pick_best(batch, portfolio_value_eth=100.0) is not None

    # the same rows the decider scores: its 12 features, the bid at 5% of the net
    features = decider._feature_rows(batch, np.full(N, cfg.route_prior_success))
    net = table["net_profit_quote"].to_numpy()
    share = np.full(N, 0.05)
    rival = expected_rival_bid_eth(
        table["notional_quote"].to_numpy(), table["edge_bps"].to_numpy(), 3_000.0, model.bid_config
    )
    rows = np.column_stack(
        [
            features,
            bid_feature(share, model.bid_config.share_floor),
            bribe_feature(share_to_eth(share, net, 3_000.0), rival, model.bid_config.bribe_floor),
        ]
    )
    assert rows.shape == (N, len(ROUTE_FEATURE_NAMES) + 2)

    raw = _median_ms(lambda: model.predict_proba(rows))
    pick = _median_ms(lambda: decider.pick_best(batch, portfolio_value_eth=100.0))
    rule = _median_ms(lambda: plain.pick_best(batch, portfolio_value_eth=100.0))
    k = len(model.bid_config.grid_share)
    print(
        f"win model: {report['n_train']:,} training rows, held-out ECE {report['metrics']['ece']:.4f}"
    )
    print(f"{N:,} candidates, {k} bids each ({N * k:,} (candidate, bid) pairs)")
    print(f"raw predict_proba on {N:,} rows ........ {raw:7.2f} ms")
    print(
        f"pick_best with the bid search .......... {pick:7.2f} ms  ({pick / raw:.2f}x raw; aim <= 2x)"
    )
    print(f"pick_best, no win model (reference) .... {rule:7.2f} ms")


if __name__ == "__main__":
    main()
