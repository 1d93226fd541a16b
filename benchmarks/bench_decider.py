"""Latency of AdvancedAIDecider.pick_best with the route-success model on, next to the raw booster.

Run: ``.venv/bin/python benchmarks/bench_decider.py``. Prints figures; asserts nothing.

The model is the default ``RoutePredictorConfig`` trained on a simulated history; the
candidates are that history's scanned candidates (drawn with replacement). "raw predict"
is ``Booster.predict(X, raw_score=True, num_threads=1)`` on the very feature rows the
decider builds for those candidates, i.e. the floor any decider using this model pays.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
from threadpoolctl import threadpool_limits

from arbkit.decider import AdvancedAIConfig, AdvancedAIDecider, CandidateBatch, MarketRegime
from arbkit.decider.predictor import RouteSuccessPredictor
from arbkit.decider.training import build_route_dataset
from arbkit.market.sim import simulate_market


def timings(fn: Callable[[], object], repeat: int) -> np.ndarray:
    for _ in range(max(repeat // 20, 3)):
        fn()  # warm-up
    out = np.empty(repeat)
    for i in range(repeat):
        t0 = time.perf_counter()
        fn()
        out[i] = time.perf_counter() - t0
    return out * 1e6


def row(label: str, us: np.ndarray, ref: np.ndarray | None = None) -> None:
    p50, p99 = np.percentile(us, 50), np.percentile(us, 99)
    ratio = f"{p50 / np.percentile(ref, 50):5.2f}x" if ref is not None else "     "
    print(f"  {label:<52} p50 {p50:9.1f} us   p99 {p99:9.1f} us   {ratio}")


def main() -> None:
    history = simulate_market(seed=11, n_blocks=20_000)
    data = build_route_dataset(history, seed=11)
    predictor = RouteSuccessPredictor()
    predictor.train_model(data.table, seed=11)
    booster = predictor.booster
    cfg = AdvancedAIConfig(min_profit_eth=0.0, confidence_threshold=0.0)
    decider = AdvancedAIDecider(cfg, predictor=predictor)
    decider.warm_start(data.table)
    regime = MarketRegime.from_row(data.regime.row(data.regime.height // 2, named=True))
    decider.update_regime(regime)

    rng = np.random.default_rng(0)
    rows = rng.integers(0, data.candidates.height, 1_000)
    table = data.candidates[rows.tolist()]
    batch = CandidateBatch.from_table(table)
    objects = [batch.candidate(i) for i in range(len(batch))]
    features = decider._assess(batch, 100.0).features  # the rows pick_best predicts on
    one = [objects[0]]
    x1 = features[:1].copy()
    assert decider.pick_best(objects, 100.0) is not None

    n_trees = booster.num_trees()
    print(
        f"model: {n_trees} trees, {predictor.config.num_leaves} leaves, calibration "
        f"{predictor.calibrator.method}; {len(objects)} candidates from a simulated history"
    )
    with threadpool_limits(1):
        print("1,000 candidates")
        raw = timings(lambda: booster.predict(features, raw_score=True, num_threads=1), 300)
        row("raw Booster.predict (same rows, same model)", raw)
        row(
            "pick_best(list of 1,000 AICandidate)",
            timings(lambda: decider.pick_best(objects, 100.0), 300),
            raw,
        )
        row(
            "pick_best(CandidateBatch of 1,000)",
            timings(lambda: decider.pick_best(batch, 100.0), 300),
            raw,
        )
        row(
            "CandidateBatch.from_candidates(1,000)",
            timings(lambda: CandidateBatch.from_candidates(objects), 300),
        )
        print("1 candidate")
        raw1 = timings(lambda: booster.predict(x1, raw_score=True, num_threads=1), 5_000)
        row("raw Booster.predict (1 row)", raw1)
        row(
            "predictor.predict_proba_one (booster + calibration)",
            timings(lambda: predictor.predict_proba_one(x1[0].tolist()), 5_000),
            raw1,
        )
        row("pick_best([AICandidate])", timings(lambda: decider.pick_best(one, 100.0), 5_000), raw1)
        off = AdvancedAIDecider(cfg.model_copy(update={"enable_ml_scoring": False}))
        off.update_regime(regime)
        row(
            "pick_best([AICandidate]) without the model",
            timings(lambda: off.pick_best(one, 100.0), 5_000),
        )


if __name__ == "__main__":
    main()
