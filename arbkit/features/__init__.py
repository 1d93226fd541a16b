"""Features (polars, no look-ahead): market-regime features per block and route features.

See :mod:`arbkit.features.regime` and :mod:`arbkit.features.route` for every feature's
definition, unit and window, and :mod:`arbkit.features.labels` for the labels.
"""

from __future__ import annotations

from arbkit.features.config import FeatureConfig
from arbkit.features.labels import LABEL_COLUMNS, build_labels, build_training_table
from arbkit.features.regime import (
    REGIME_COLUMNS,
    REGIME_LABELS,
    MarketRegime,
    build_regime_features,
    label_regimes,
    trailing_percentile_rank,
)
from arbkit.features.route import (
    N_ROUTE_FEATURES,
    ROUTE_FEATURE_NAMES,
    ROUTE_FEATURES,
    FeatureSpec,
    add_edge_age,
    build_route_features,
    hops_of_kind,
    make_route_key,
    route_feature_matrix,
    route_features_one,
    route_success_ema,
)

__all__ = [
    "LABEL_COLUMNS",
    "N_ROUTE_FEATURES",
    "REGIME_COLUMNS",
    "REGIME_LABELS",
    "ROUTE_FEATURES",
    "ROUTE_FEATURE_NAMES",
    "FeatureConfig",
    "FeatureSpec",
    "MarketRegime",
    "add_edge_age",
    "build_labels",
    "build_regime_features",
    "build_route_features",
    "build_training_table",
    "hops_of_kind",
    "label_regimes",
    "make_route_key",
    "route_feature_matrix",
    "route_features_one",
    "route_success_ema",
    "trailing_percentile_rank",
]
