"""The 12-dimensional route feature vector of the route-success model.

One numeric kernel, :func:`route_feature_matrix`, turns candidate columns, the regime
at the candidate's block and the route's success EMA into the feature matrix; the
table builder (:func:`build_route_features`, training) and the decider (serving) both
call it, so the features a model is trained on and served with are computed by the
same code.

The features (:data:`ROUTE_FEATURES`)
-------------------------------------
Costs at the candidate's own size: ``gross = notional * edge_bps / 1e4``,
``pre_gas = gross - slippage - flash_fee``, ``net = pre_gas - gas``.

====  ==========================  =========================  ===============================
 #    name                        unit                       window / source
====  ==========================  =========================  ===============================
 1    ``edge_bps``                bps                        candidate at block ``t``
 2    ``net_margin_bps``          bps of notional            ``net / notional * 1e4``, ``t``
 3    ``log_net_profit_quote``    log10(1 + quote)           ``max(net, 0)``, ``t``
 4    ``edge_age_blocks``         blocks                     consecutive blocks before ``t``
                                                             in which the route already had
                                                             a candidate (0: a new edge)
 5    ``gas_share``               ratio in ``[0, 10]``       ``gas / pre_gas`` (10 when
                                                             ``pre_gas <= 0``), ``t``
 6    ``log_liquidity_quote``     log10(1 + quote)           shallowest pool of the route,
                                                             ``t`` (NaN when unknown)
 7    ``size_to_liquidity``       ratio                      ``notional / liquidity``, ``t``
                                                             (NaN when unknown or 0)
 8    ``n_hops``                  pools                      static (1 cex_dex, 2 dex_dex,
                                                             3 triangular)
 9    ``volatility``              annualised fraction        ``volatility_window_blocks``
                                                             ending at ``t``
 10   ``liquidity_score``         percentile ``[0, 1]``      ``liquidity_window_blocks``
                                                             ending at ``t``
 11   ``gas_percentile``          percentile ``[0, 1]``      ``gas_window_blocks`` ending at
                                                             ``t``
 12   ``route_success_ema``       probability ``[0, 1]``     EMA (``route_ema_alpha``) of the
                                                             route's outcomes decided at
                                                             blocks ``<= t - label_delay``;
                                                             ``route_prior_success`` before
                                                             the first
====  ==========================  =========================  ===============================

Default windows (:class:`arbkit.features.FeatureConfig`): volatility 50 blocks (10
minutes of 12 s blocks), liquidity and gas 300 blocks (1 hour); label delay 3 blocks (a
trade decided at ``t`` lands at ``t + 1`` at the earliest and expires after the execution
model's ``max_delay_blocks`` = 2 more).

No feature at block ``t`` reads data after ``t``: the first eleven come from the
candidate (scanned at ``t``) and the regime at ``t``; the EMA only folds outcomes
known by ``t``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
import polars as pl

from arbkit.errors import DataError
from arbkit.execution.replay import add_edge_age, make_route_key
from arbkit.execution.replay import route_keys as _route_keys
from arbkit.features.config import FeatureConfig

__all__ = [
    "N_ROUTE_FEATURES",
    "ROUTE_FEATURES",
    "ROUTE_FEATURE_NAMES",
    "FeatureSpec",
    "add_edge_age",
    "build_route_features",
    "hops_of_kind",
    "make_route_key",
    "route_feature_matrix",
    "route_features_one",
    "route_success_ema",
]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class FeatureSpec:
    """Name, unit and window of one feature."""

    name: str
    unit: str
    window: str
    description: str


ROUTE_FEATURES: Final = (
    FeatureSpec("edge_bps", "bps", "block t", "zero-size edge after pool fees"),
    FeatureSpec("net_margin_bps", "bps", "block t", "net profit after gas over notional"),
    FeatureSpec("log_net_profit_quote", "log10(1+quote)", "block t", "size of the prize"),
    FeatureSpec("edge_age_blocks", "blocks", "run of blocks <= t", "how stale the edge is"),
    FeatureSpec("gas_share", "ratio [0,10]", "block t", "gas over profit before gas"),
    FeatureSpec("log_liquidity_quote", "log10(1+quote)", "block t", "shallowest pool depth"),
    FeatureSpec("size_to_liquidity", "ratio", "block t", "notional over pool depth"),
    FeatureSpec("n_hops", "pools", "static", "route length"),
    FeatureSpec("volatility", "annualised fraction", "volatility window", "realised volatility"),
    FeatureSpec("liquidity_score", "percentile [0,1]", "liquidity window", "market liquidity"),
    FeatureSpec("gas_percentile", "percentile [0,1]", "gas window", "base fee percentile"),
    FeatureSpec("route_success_ema", "probability", "outcomes <= t - delay", "route record"),
)
"""The 12 route features, in model column order."""

ROUTE_FEATURE_NAMES: Final = tuple(f.name for f in ROUTE_FEATURES)
N_ROUTE_FEATURES: Final = len(ROUTE_FEATURES)
_GAS_SHARE_CAP = 10.0
_KIND_HOPS: Final = {"cex_dex": 1, "dex_dex": 2, "triangular": 3}


def hops_of_kind(kind: str) -> int:
    """Return the number of pools of a route kind (``cex_dex`` 1, ``dex_dex`` 2, ``triangular`` 3).

    Raises
    ------
    DataError
        If the kind is unknown.
    """
    try:
        return _KIND_HOPS[kind]
    except KeyError:
        raise DataError(
            f"unknown route kind {kind!r}; expected one of {sorted(_KIND_HOPS)}"
        ) from None


def route_feature_matrix(
    edge_bps: FloatArray,
    notional_quote: FloatArray,
    gas_cost_quote: FloatArray,
    flash_fee_quote: FloatArray,
    slippage_quote: FloatArray,
    liquidity_quote: FloatArray,
    n_hops: FloatArray,
    age_blocks: FloatArray,
    volatility: FloatArray | float,
    liquidity_score: FloatArray | float,
    gas_percentile: FloatArray | float,
    route_success_ema: FloatArray | float,
) -> FloatArray:
    """Compute the 12 route features (see the module docstring) from column arrays.

    Parameters
    ----------
    edge_bps, notional_quote, gas_cost_quote, flash_fee_quote, slippage_quote
        Candidate columns (quote units, bps); ``notional_quote`` must be positive.
    liquidity_quote
        Depth of the route's shallowest pool, in quote; NaN when unknown.
    n_hops
        Pools in the route.
    age_blocks
        Blocks the route's edge had already existed (see :func:`add_edge_age`).
    volatility, liquidity_score, gas_percentile
        Regime at the candidate's block (scalars broadcast).
    route_success_ema
        The route's success EMA as known at the candidate's block.

    Returns
    -------
    numpy.ndarray
        ``float64`` array of shape ``(n, 12)``, columns in :data:`ROUTE_FEATURE_NAMES`.
    """
    notional = np.asarray(notional_quote, dtype=np.float64)
    edge = np.asarray(edge_bps, dtype=np.float64)
    gross = notional * edge * 1e-4
    pre_gas = gross - slippage_quote - flash_fee_quote
    net = pre_gas - gas_cost_quote
    out = np.empty((notional.shape[0], N_ROUTE_FEATURES))
    out[:, 0] = edge
    out[:, 1] = net / notional * 1e4
    out[:, 2] = np.log10(1.0 + np.maximum(net, 0.0))
    out[:, 3] = age_blocks
    liquidity = np.asarray(liquidity_quote, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        share = np.where(pre_gas > 0, gas_cost_quote / pre_gas, _GAS_SHARE_CAP)
        out[:, 6] = np.where(liquidity > 0, notional / liquidity, np.nan)
        out[:, 5] = np.log10(1.0 + liquidity)
    out[:, 4] = np.minimum(share, _GAS_SHARE_CAP)
    out[:, 7] = n_hops
    out[:, 8] = volatility
    out[:, 9] = liquidity_score
    out[:, 10] = gas_percentile
    out[:, 11] = route_success_ema
    return out


def route_success_ema(
    candidate_blocks: npt.NDArray[np.int64],
    candidate_keys: Sequence[str],
    outcome_blocks: npt.NDArray[np.int64],
    outcome_keys: Sequence[str],
    outcome_success: npt.NDArray[np.bool_],
    *,
    alpha: float,
    prior: float,
    delay_blocks: int,
) -> FloatArray:
    """Return each candidate's route success EMA as known at its block.

    The EMA of a route starts at ``prior`` and folds the route's outcomes in block
    order (``ema <- (1 - alpha) * ema + alpha * success``); a candidate at block ``t``
    sees the outcomes decided at blocks ``<= t - delay_blocks``.

    Parameters
    ----------
    candidate_blocks, candidate_keys
        Block and route key of each candidate.
    outcome_blocks, outcome_keys, outcome_success
        Decision block, route key and success of each known outcome.
    alpha, prior, delay_blocks
        EMA weight of the newest outcome, starting value, label delay.

    Returns
    -------
    numpy.ndarray
        One EMA per candidate.
    """
    n_out = len(outcome_keys)
    if n_out == 0:
        return np.full(len(candidate_keys), prior)
    outcomes = pl.DataFrame(
        {
            "key": list(outcome_keys),
            "block": np.asarray(outcome_blocks, dtype=np.int64),
            "success": np.asarray(outcome_success, dtype=np.float64),
            "order": np.arange(n_out),
        }
    ).sort("key", "block", "order")
    keys = outcomes["key"].to_list()
    success = outcomes["success"].to_numpy()
    ema = np.empty(n_out)
    value, previous = prior, None
    for i, key in enumerate(keys):
        if key != previous:
            value, previous = prior, key
        value = (1.0 - alpha) * value + alpha * success[i]
        ema[i] = value
    table = (
        outcomes.with_columns(pl.Series("ema", ema))
        .group_by("key", "block", maintain_order=True)
        .agg(pl.col("ema").last())
        .sort("block")
    )
    left = pl.DataFrame(
        {
            "key": list(candidate_keys),
            "asof": np.asarray(candidate_blocks, dtype=np.int64) - delay_blocks,
            "row": np.arange(len(candidate_keys)),
        }
    ).sort("asof")
    joined = left.join_asof(
        table, left_on="asof", right_on="block", by="key", check_sortedness=False
    ).sort("row")
    return joined["ema"].fill_null(prior).to_numpy().astype(np.float64)


def build_route_features(
    candidates: pl.DataFrame,
    regime: pl.DataFrame,
    outcomes: pl.DataFrame | None = None,
    config: FeatureConfig | None = None,
) -> pl.DataFrame:
    """Compute the 12 route features of every candidate (see the module docstring).

    Parameters
    ----------
    candidates
        The scanner's candidates table (``CANDIDATES_SCHEMA``).
    regime
        :func:`arbkit.features.build_regime_features` of the same history; every
        candidate's block must be in it.
    outcomes
        Known outcomes with ``block``, ``route``, ``success`` and, when ``candidates``
        has it, ``start_token`` (e.g. the execution model's outcomes with the
        candidates' ``start_token``); ``None`` gives every route the prior EMA.
    config
        Feature options (EMA weight, prior, label delay).

    Returns
    -------
    polars.DataFrame
        ``block``, ``route_key``, ``kind``, ``symbol`` and the 12 feature columns, one
        row per candidate, in the candidates' order.

    Raises
    ------
    DataError
        If a column is missing, a notional is not positive or a candidate's block has
        no regime row.
    """
    cfg = config or FeatureConfig()
    required = (
        "block",
        "route",
        "kind",
        "symbol",
        "edge_bps",
        "notional_quote",
        "gas_cost_quote",
        "flash_fee_quote",
        "slippage_quote",
        "liquidity_quote",
    )
    missing = [c for c in required if c not in candidates.columns]
    if missing:
        raise DataError(f"build_route_features: candidates lack column(s) {missing}")
    bad = candidates.filter(~(pl.col("notional_quote") > 0))
    if bad.height:
        raise DataError(
            f"build_route_features: notional_quote at block {bad['block'][0]} is "
            f"{bad['notional_quote'][0]!r}; must be > 0"
        )
    keys = _route_keys(candidates)
    reg = candidates.select("block").join(
        regime.select("block", "volatility", "liquidity", "gas_percentile"),
        on="block",
        how="left",
        maintain_order="left",
    )
    if reg["volatility"].null_count():
        blk = reg.filter(pl.col("volatility").is_null())["block"][0]
        raise DataError(f"build_route_features: no regime row for block {blk}")
    if outcomes is not None and outcomes.height:
        for name in ("block", "route", "success"):
            if name not in outcomes.columns:
                raise DataError(f"build_route_features: outcomes lack column {name!r}")
        ema = route_success_ema(
            candidates["block"].to_numpy(),
            keys,
            outcomes["block"].to_numpy(),
            _route_keys(outcomes),
            outcomes["success"].fill_null(False).to_numpy(),
            alpha=cfg.route_ema_alpha,
            prior=cfg.route_prior_success,
            delay_blocks=cfg.label_delay(),
        )
    else:
        ema = np.full(candidates.height, cfg.route_prior_success)
    n_hops = np.array([hops_of_kind(k) for k in candidates["kind"].to_list()], dtype=np.float64)
    if "age_blocks" in candidates.columns:
        age = candidates["age_blocks"].cast(pl.Float64).to_numpy()
    else:
        age = add_edge_age(candidates)["age_blocks"].cast(pl.Float64).to_numpy()

    def col(name: str) -> FloatArray:
        return candidates[name].cast(pl.Float64).fill_null(np.nan).to_numpy()

    matrix = route_feature_matrix(
        col("edge_bps"),
        col("notional_quote"),
        col("gas_cost_quote"),
        col("flash_fee_quote"),
        col("slippage_quote"),
        col("liquidity_quote"),
        n_hops,
        age,
        reg["volatility"].to_numpy(),
        reg["liquidity"].to_numpy(),
        reg["gas_percentile"].to_numpy(),
        ema,
    )
    features = pl.DataFrame(matrix, schema=list(ROUTE_FEATURE_NAMES), orient="row")
    head = candidates.select("block", "kind", "symbol").with_columns(
        pl.Series("route_key", keys, dtype=pl.String)
    )
    return pl.concat([head, features], how="horizontal")


def route_features_one(
    edge_bps: float,
    notional_quote: float,
    gas_cost_quote: float,
    flash_fee_quote: float,
    slippage_quote: float,
    liquidity_quote: float,
    n_hops: float,
    age_blocks: float,
    volatility: float,
    liquidity_score: float,
    gas_percentile: float,
    route_success_ema: float,
) -> list[float]:
    """Return the 12 route features of one candidate, as :func:`route_feature_matrix` would.

    The scalar twin of :func:`route_feature_matrix` for the single-candidate hot path
    (plain float arithmetic, no numpy call overhead); a test checks that both agree.
    """
    gross = notional_quote * edge_bps * 1e-4
    pre_gas = gross - slippage_quote - flash_fee_quote
    net = pre_gas - gas_cost_quote
    share = gas_cost_quote / pre_gas if pre_gas > 0 else _GAS_SHARE_CAP
    liquid = liquidity_quote > 0  # False for NaN
    return [
        edge_bps,
        net / notional_quote * 1e4,
        math.log10(1.0 + max(net, 0.0)),
        age_blocks,
        min(share, _GAS_SHARE_CAP),
        math.log10(1.0 + liquidity_quote) if liquidity_quote >= 0 else math.nan,
        notional_quote / liquidity_quote if liquid else math.nan,
        n_hops,
        volatility,
        liquidity_score,
        gas_percentile,
        route_success_ema,
    ]
