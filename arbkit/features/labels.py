"""Labels for the route-success model, from the execution model's outcomes.

A label belongs to the trade decided at block ``t``; the execution model decides it
from blocks ``t + 1`` on (inclusion, competition, price moves), so a label is never a
feature: route features fold an outcome only ``label_delay_blocks`` after its block.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import polars as pl

from arbkit.errors import DataError
from arbkit.features.config import FeatureConfig
from arbkit.features.route import ROUTE_FEATURE_NAMES, build_route_features

__all__ = ["LABEL_COLUMNS", "build_labels", "build_training_table"]

LABEL_COLUMNS: Final = ("success", "realized_net_quote", "reason")
"""Label columns: ``success`` (bool), ``realized_net_quote`` (quote, after gas), ``reason``."""


def build_labels(candidates: pl.DataFrame, outcomes: pl.DataFrame) -> pl.DataFrame:
    """Align the execution model's outcomes with the candidates they executed.

    Parameters
    ----------
    candidates
        The trades given to ``ExecutionModel.execute_batch`` (candidates table).
    outcomes
        Its result: one row per trade, in the same order, with ``block``, ``route``,
        ``success``, ``net_profit_quote`` and ``reason``.

    Returns
    -------
    polars.DataFrame
        ``block``, ``route``, ``start_token``, ``symbol``, ``kind`` of each candidate
        and the label columns :data:`LABEL_COLUMNS`.

    Raises
    ------
    DataError
        If the tables differ in length or a row's block or route differ.
    """
    if candidates.height != outcomes.height:
        raise DataError(
            f"build_labels: {candidates.height} candidates but {outcomes.height} outcomes; "
            "outcomes must be one row per executed candidate, in order"
        )
    for col in ("block", "route", "success", "net_profit_quote", "reason"):
        if col not in outcomes.columns:
            raise DataError(f"build_labels: outcomes lack column {col!r}")
    same = (candidates["block"] == outcomes["block"]) & (candidates["route"] == outcomes["route"])
    if candidates.height and not bool(same.all()):
        row = int(np.flatnonzero(~same.to_numpy())[0])
        raise DataError(
            f"build_labels: outcome row {row} is for block {outcomes['block'][row]}, route "
            f"{outcomes['route'][row].to_list()}, but the candidate is block "
            f"{candidates['block'][row]}, route {candidates['route'][row].to_list()}"
        )
    start = (
        candidates["start_token"]
        if "start_token" in candidates.columns
        else pl.Series("start_token", [""] * candidates.height, dtype=pl.String)
    )
    return pl.DataFrame(
        {
            "block": candidates["block"],
            "route": candidates["route"],
            "start_token": start,
            "symbol": candidates["symbol"],
            "kind": candidates["kind"],
            "success": outcomes["success"].fill_null(False),
            "realized_net_quote": outcomes["net_profit_quote"].cast(pl.Float64),
            "reason": outcomes["reason"],
        }
    )


def build_training_table(
    candidates: pl.DataFrame,
    labels: pl.DataFrame,
    regime: pl.DataFrame,
    config: FeatureConfig | None = None,
) -> pl.DataFrame:
    """Join route features and labels into the route-success model's training table.

    The route success EMA feature of a candidate folds the labels of earlier
    candidates on the same route that are known by its block (see
    :func:`arbkit.features.route_success_ema`); its own label never enters.

    Parameters
    ----------
    candidates
        The candidates table.
    labels
        :func:`build_labels` of these candidates.
    regime
        :func:`arbkit.features.build_regime_features` of the history.
    config
        Feature options.

    Returns
    -------
    polars.DataFrame
        ``block``, ``route_key``, ``kind``, ``symbol``, the 12 features and the label
        columns, one row per candidate.
    """
    if labels.height != candidates.height:
        raise DataError(
            f"build_training_table: {candidates.height} candidates but {labels.height} labels"
        )
    features = build_route_features(candidates, regime, labels, config)
    return pl.concat([features, labels.select(LABEL_COLUMNS)], how="horizontal").select(
        "block", "route_key", "kind", "symbol", *ROUTE_FEATURE_NAMES, *LABEL_COLUMNS
    )
