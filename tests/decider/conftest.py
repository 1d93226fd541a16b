"""Fixtures of the decider tests: a synthetic route table and a model trained on it."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from arbkit.decider import RoutePredictorConfig, RouteSuccessPredictor
from arbkit.features import ROUTE_FEATURE_NAMES


def synthetic_table(n: int, seed: int) -> pl.DataFrame:
    """Rows of the 12 route features with a success label that depends on three of them."""
    rng = np.random.default_rng(seed)
    cols = {
        "edge_bps": rng.uniform(1, 40, n),
        "net_margin_bps": rng.normal(5, 5, n),
        "log_net_profit_quote": rng.uniform(0, 2, n),
        "edge_age_blocks": rng.integers(0, 6, n).astype(float),
        "gas_share": rng.uniform(0, 1, n),
        "log_liquidity_quote": rng.uniform(6, 8, n),
        "size_to_liquidity": rng.uniform(0, 0.01, n),
        "n_hops": rng.integers(1, 4, n).astype(float),
        "volatility": rng.uniform(0, 1.5, n),
        "liquidity_score": rng.uniform(0, 1, n),
        "gas_percentile": rng.uniform(0, 1, n),
        "route_success_ema": rng.uniform(0.3, 0.95, n),
    }
    logit = (
        2.5 - 0.05 * cols["edge_bps"] - 0.6 * cols["edge_age_blocks"] + cols["route_success_ema"]
    )
    success = rng.uniform(size=n) < 1 / (1 + np.exp(-logit))
    return pl.DataFrame({"block": np.arange(n, dtype=np.int64), **cols, "success": success}).select(
        "block", *ROUTE_FEATURE_NAMES, "success"
    )


@pytest.fixture(scope="session")
def table() -> pl.DataFrame:
    return synthetic_table(4_000, seed=1)


@pytest.fixture(scope="session")
def small_config() -> RoutePredictorConfig:
    return RoutePredictorConfig(n_estimators=60, min_child_samples=50)


@pytest.fixture(scope="session")
def trained(table: pl.DataFrame, small_config: RoutePredictorConfig) -> RouteSuccessPredictor:
    predictor = RouteSuccessPredictor(small_config)
    predictor.train_model(table, seed=7)
    return predictor


@pytest.fixture(scope="session")
def table_factory() -> object:
    return synthetic_table
