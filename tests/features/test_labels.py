from __future__ import annotations

import polars as pl
import pytest

from arbkit.errors import DataError
from arbkit.features import (
    LABEL_COLUMNS,
    ROUTE_FEATURE_NAMES,
    build_labels,
    build_regime_features,
    build_training_table,
)


def test_build_labels_aligns_outcomes_with_their_candidates(sim_labelled) -> None:
    candidates, outcomes = sim_labelled
    labels = build_labels(candidates, outcomes)
    assert labels.height == candidates.height
    assert labels["success"].to_list() == outcomes["success"].to_list()
    assert labels["realized_net_quote"].to_list() == outcomes["net_profit_quote"].to_list()
    assert labels["start_token"].to_list() == candidates["start_token"].to_list()


def test_build_labels_refuses_outcomes_in_another_order(sim_labelled) -> None:
    candidates, outcomes = sim_labelled
    with pytest.raises(DataError, match="outcome row 0 is for block"):
        build_labels(candidates, outcomes.reverse())


def test_build_labels_refuses_a_length_mismatch(sim_labelled) -> None:
    candidates, outcomes = sim_labelled
    with pytest.raises(DataError, match="candidates but"):
        build_labels(candidates, outcomes.head(3))


def test_build_training_table_has_features_then_labels(sim_history, sim_labelled) -> None:
    candidates, outcomes = sim_labelled
    labels = build_labels(candidates, outcomes)
    table = build_training_table(candidates, labels, build_regime_features(sim_history))
    assert table.columns == [
        "block",
        "route_key",
        "kind",
        "symbol",
        *ROUTE_FEATURE_NAMES,
        *LABEL_COLUMNS,
    ]
    assert table.height == candidates.height
    assert table["success"].dtype == pl.Boolean
    # a candidate's own label never enters its route EMA: with all labels flipped for
    # the rows of the last block, that block's features are unchanged
    last = table["block"].max()
    flipped = labels.with_columns(
        pl.when(pl.col("block") == last)
        .then(~pl.col("success"))
        .otherwise(pl.col("success"))
        .alias("success")
    )
    table2 = build_training_table(candidates, flipped, build_regime_features(sim_history))
    assert table2.filter(pl.col("block") == last)["route_success_ema"].to_list() == (
        table.filter(pl.col("block") == last)["route_success_ema"].to_list()
    )
