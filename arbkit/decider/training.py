"""Training data and training of the route-success model from a market history.

Pipeline (all pure functions; seeds split with ``np.random.SeedSequence``):

1. The one replay's candidates of every block (:class:`arbkit.execution.Replay`), with
   ``age_blocks``.
2. :func:`trades_from_candidates`: the candidates as trades under a :class:`TradePolicy`.
3. ``ExecutionModel.execute_batch``: one outcome per candidate (every candidate is
   executed on its own, at its own size: a counterfactual label per opportunity).
4. :func:`arbkit.features.build_training_table`: the 12 route features and labels.
5. :func:`train_route_model`: a :class:`RouteSuccessPredictor` fitted on the table.

:func:`cross_validate_route_model` evaluates the model out of sample: expanding-window
folds in block order, each trained on the rows whose labels are known by the fold's first block.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from arbkit.decider.bidding import (
    BID_FEATURE,
    BRIBE_FEATURE,
    WIN_MODEL_EMA,
    BidConfig,
    bid_feature,
    block_prices,
    bribe_feature,
    bribe_wei,
    draw_exploration_bids,
    expected_rival_bid_eth,
    reprice_gas,
    share_to_eth,
)
from arbkit.decider.config import RoutePredictorConfig
from arbkit.decider.metrics import classification_report
from arbkit.decider.predictor import RouteSuccessPredictor
from arbkit.errors import DataError
from arbkit.execution import ExecutionConfig, Replay, label_delay_blocks
from arbkit.execution.replay import DEFAULT_MAX_CANDIDATES
from arbkit.features import (
    ROUTE_FEATURE_NAMES,
    FeatureConfig,
    build_labels,
    build_regime_features,
    build_training_table,
)
from arbkit.market.history import MarketHistory
from arbkit.opportunities import ScanConfig

__all__ = [
    "CrossValidationResult",
    "RouteDataset",
    "TradePolicy",
    "build_route_dataset",
    "cross_validate_route_model",
    "trades_from_candidates",
    "train_route_model",
]

FloatArray = npt.NDArray[np.float64]


class TradePolicy(BaseModel):
    """How a chosen candidate is sent to the execution model.

    Parameters
    ----------
    priority_fee_wei
        Tip per gas; ``None`` uses ``ScanConfig.priority_fee_wei`` (the tip the scanner
        priced the gas with).
    latency_ms
        Time from seeing the block to reaching the builders.
    min_profit_share
        On-chain minimum profit as a share of the expected profit (at the traded size);
        the trade reverts below it. 0 reverts only a loss.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    priority_fee_wei: int | None = Field(None, ge=0)
    latency_ms: float = Field(0.0, ge=0)
    min_profit_share: float = Field(0.0, ge=0, le=1)


def trades_from_candidates(
    candidates: pl.DataFrame,
    policy: TradePolicy | None = None,
    *,
    scan_config: ScanConfig | None = None,
    amount_in: Sequence[int] | None = None,
) -> pl.DataFrame:
    """Turn candidates into the execution model's trades table.

    Parameters
    ----------
    candidates
        Candidates (with ``age_blocks``: the replay's candidates).
    policy
        Tip, latency and minimum profit.
    scan_config
        Gives the default tip.
    amount_in
        Input per row (base units); default the candidates' own ``amount_in``. The
        minimum profit scales with it.

    Returns
    -------
    polars.DataFrame
        The candidates with ``amount_in``, ``min_profit``, ``priority_fee_wei`` and
        ``latency_ms`` set.
    """
    pol = policy or TradePolicy()
    scfg = scan_config or ScanConfig()
    own: list[int] = candidates["amount_in"].to_list()
    amounts = list(amount_in) if amount_in is not None else own
    if len(amounts) != candidates.height:
        raise DataError(
            f"trades_from_candidates: {len(amounts)} amounts for {candidates.height} candidates"
        )
    profits: list[int] = candidates["expected_profit"].to_list()
    share = Fraction(str(pol.min_profit_share))
    # exact integers: floor(expected_profit * share * amount / own amount)
    min_profit = [
        p * a * share.numerator // (o * share.denominator) if share and o > 0 and p > 0 else 0
        for p, a, o in zip(profits, amounts, own, strict=True)
    ]
    tip = pol.priority_fee_wei if pol.priority_fee_wei is not None else scfg.priority_fee_wei
    return candidates.with_columns(
        pl.Series("amount_in", amounts, dtype=pl.Int128),
        pl.Series("min_profit", min_profit, dtype=pl.Int128),
        pl.lit(tip, dtype=pl.Int64).alias("priority_fee_wei"),
        pl.lit(pol.latency_ms, dtype=pl.Float64).alias("latency_ms"),
    )


@dataclass(frozen=True, eq=False)
class RouteDataset:
    """Everything :func:`build_route_dataset` derives from one history.

    Attributes
    ----------
    candidates
        Scanned candidates with ``age_blocks``.
    regime
        Regime features per block.
    outcomes
        Execution model outcomes, one per candidate.
    table
        Training table: ``block``, ``route_key``, ``kind``, ``symbol``, the 12 features,
        ``success``, ``realized_net_quote``, ``reason``.
    """

    candidates: pl.DataFrame
    regime: pl.DataFrame
    outcomes: pl.DataFrame
    table: pl.DataFrame


def build_route_dataset(
    history: MarketHistory,
    *,
    seed: int | np.random.SeedSequence,
    scan_config: ScanConfig | None = None,
    execution_config: ExecutionConfig | None = None,
    feature_config: FeatureConfig | None = None,
    policy: TradePolicy | None = None,
    max_candidates: int = DEFAULT_MAX_CANDIDATES,
    bids: BidConfig | None = None,
) -> RouteDataset:
    """Scan, execute and featurise a history into the route-success training table.

    Parameters
    ----------
    history
        The market history (e.g. :func:`arbkit.market.sim.simulate_market`).
    seed
        Seed of the execution model's draws.
    scan_config, execution_config, feature_config
        Options of the scanner, execution model and features.
    policy
        How candidates are sent (tip, latency, minimum profit).
    max_candidates
        Candidates per block (the replay's).
    bids
        When given, each candidate is sent with a random coinbase transfer
        (:func:`arbkit.decider.bidding.draw_exploration_bids`, drawn from a child of
        ``seed``) at the bids' tip ``bids.priority_fee_wei``; the table gains
        ``repeat``, ``expected_net_quote``, ``eth_price_quote``, ``rival_bid_eth``, ``bid_share``,
        ``bribe_eth`` and the bid features: the win-probability model's
        training table, with every candidate sent ``bids.explore_repeats`` times (each
        with its own bid and draws).
        The candidates' gas is priced at that tip (:func:`arbkit.decider.bidding.
        reprice_gas`). The execution draws are those of the same ``seed`` without bids.

    Returns
    -------
    RouteDataset

    Raises
    ------
    DataError
        If the history yields no candidates.
    """
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    scfg = scan_config or ScanConfig()
    pol = policy or TradePolicy()
    exe = execution_config or ExecutionConfig()
    # the label delay follows from the latency and the inclusion delay
    feature_config = (feature_config or FeatureConfig()).for_execution(exe, pol.latency_ms)
    # the candidates a policy sees in the one replay, with their edge age
    replay = Replay(
        history,
        execution=exe,
        scan=scfg,
        latency_ms=pol.latency_ms,
        priority_fee_wei=pol.priority_fee_wei,
        max_candidates=max_candidates,
    )
    candidates = replay.candidates.drop("cand_id")
    if candidates.height == 0:
        raise DataError("build_route_dataset: the history yields no candidates")
    regime = build_regime_features(history, feature_config)
    model = replay.model
    if bids is not None:
        run_tip = (
            pol.priority_fee_wei if pol.priority_fee_wei is not None else scfg.priority_fee_wei
        )
        candidates = reprice_gas(candidates, regime, run_tip, bids.priority_fee_wei)
    trades = trades_from_candidates(candidates, pol, scan_config=scfg)
    exec_rng = np.random.default_rng(ss)
    if bids is None:
        outcomes = model.execute_batch(trades, rng=exec_rng)
        labels = build_labels(candidates, outcomes)
        table = build_training_table(candidates, labels, regime, feature_config)
        return RouteDataset(candidates=candidates, regime=regime, outcomes=outcomes, table=table)
    # the win-probability model's table: every candidate sent explore_repeats times, each
    # time with its own random bid and its own execution draws
    price = block_prices(candidates, regime)
    rival = expected_rival_bid_eth(
        candidates["notional_quote"].cast(pl.Float64).to_numpy(),
        candidates["edge_bps"].cast(pl.Float64).to_numpy(),
        price,
        bids,
    )
    bid_rng = np.random.default_rng(
        np.random.SeedSequence(ss.entropy, spawn_key=(*ss.spawn_key, 0xB1D))
    )
    tables, all_outcomes = [], []
    for repeat in range(bids.explore_repeats):
        share = draw_exploration_bids(candidates.height, bids, bid_rng)
        bribe_eth = share_to_eth(share, candidates["net_profit_quote"], price)
        sent = trades.with_columns(
            pl.Series("bribe_wei", bribe_wei(bribe_eth), dtype=pl.Int64),
            pl.lit(bids.priority_fee_wei, dtype=pl.Int64).alias("priority_fee_wei"),
        )
        outcomes = model.execute_batch(sent, rng=exec_rng)
        labels = build_labels(candidates, outcomes)
        part = build_training_table(candidates, labels, regime, feature_config)
        if part.height != candidates.height:
            raise DataError("build_route_dataset: the table lost rows of the candidates")
        tables.append(
            part.with_columns(
                pl.lit(repeat, dtype=pl.Int64).alias("repeat"),
                pl.lit(WIN_MODEL_EMA, dtype=pl.Float64).alias("route_success_ema"),
                pl.Series("expected_net_quote", candidates["net_profit_quote"]).cast(pl.Float64),
                pl.Series("eth_price_quote", price),
                pl.Series("bid_share", share),
                pl.Series("bribe_eth", bribe_eth),
                pl.Series(BID_FEATURE, bid_feature(share, bids.share_floor)),
                pl.Series("rival_bid_eth", rival),
                pl.Series(BRIBE_FEATURE, bribe_feature(bribe_eth, rival, bids.bribe_floor)),
            )
        )
        all_outcomes.append(outcomes)
    table = pl.concat(tables)
    outcomes = pl.concat(all_outcomes)
    return RouteDataset(candidates=candidates, regime=regime, outcomes=outcomes, table=table)


def train_route_model(
    history: MarketHistory,
    *,
    seed: int,
    config: RoutePredictorConfig | None = None,
    scan_config: ScanConfig | None = None,
    execution_config: ExecutionConfig | None = None,
    feature_config: FeatureConfig | None = None,
    policy: TradePolicy | None = None,
) -> tuple[RouteSuccessPredictor, dict[str, float]]:
    """Train the route-success model on a history (pure: no I/O).

    Parameters
    ----------
    history
        The market history.
    seed
        One seed, split into the execution draws and the LightGBM seed.
    config
        Model hyper-parameters.
    scan_config, execution_config, feature_config, policy
        As for :func:`build_route_dataset`.

    Returns
    -------
    tuple[RouteSuccessPredictor, dict[str, float]]
        The fitted predictor and its training metrics.
    """
    exec_seed, model_seed = np.random.SeedSequence(seed).spawn(2)
    dataset = build_route_dataset(
        history,
        seed=exec_seed,
        scan_config=scan_config,
        execution_config=execution_config,
        feature_config=feature_config,
        policy=policy,
    )
    predictor = RouteSuccessPredictor(config)
    metrics = predictor.train_model(
        dataset.table, seed=int(model_seed.generate_state(1)[0] % (2**31 - 1))
    )
    return predictor, metrics


@dataclass(frozen=True, eq=False)
class CrossValidationResult:
    """Out-of-sample predictions and metrics of :func:`cross_validate_route_model`.

    Attributes
    ----------
    predictions
        ``block``, ``fold``, ``success`` (0/1), ``p`` (calibrated), ``p_raw``
        (uncalibrated logistic of the margin), ``realized_net_quote``.
    folds
        Metrics of each test fold, with its block range and training size.
    pooled
        Metrics over all test rows (calibrated probabilities).
    pooled_raw
        The same for the uncalibrated probabilities.
    """

    predictions: pl.DataFrame
    folds: list[dict[str, Any]]
    pooled: dict[str, float]
    pooled_raw: dict[str, float]


def cross_validate_route_model(
    table: pl.DataFrame,
    *,
    seed: int,
    n_folds: int = 4,
    min_train_fraction: float = 0.4,
    embargo_blocks: int | None = None,
    config: RoutePredictorConfig | None = None,
) -> CrossValidationResult:
    """Evaluate the route-success model with expanding-window walk-forward folds.

    The blocks after the first ``min_train_fraction`` of the table's block range are
    cut into ``n_folds`` consecutive test windows. Fold ``k`` trains on every row at
    least ``embargo_blocks`` before its window (labels known by its first block, see
    ``FeatureConfig.label_delay_blocks``) and predicts the window.

    Parameters
    ----------
    table
        A training table (:func:`build_route_dataset`), any row order.
    seed
        Seed of the fits (one child per fold).
    n_folds
        Test windows.
    min_train_fraction
        Share of the block range before the first test window.
    embargo_blocks
        ``None`` (default): the label delay of the default execution settings
        (:func:`arbkit.execution.label_delay_blocks`).
        Gap between the last training label and the test window.
    config
        Model hyper-parameters.

    Returns
    -------
    CrossValidationResult

    Raises
    ------
    DataError
        If a fold has no test rows or its training rows hold a single class.
    """
    if not 0 < min_train_fraction < 1 or n_folds < 1:
        raise ValueError(
            "cross_validate_route_model: need 0 < min_train_fraction < 1 and n_folds >= 1"
        )
    embargo = label_delay_blocks(ExecutionConfig()) if embargo_blocks is None else embargo_blocks
    data = table.sort("block", maintain_order=True)
    x_all = data.select(ROUTE_FEATURE_NAMES).cast(pl.Float64).fill_null(np.nan).to_numpy()
    y_all = data["success"].cast(pl.Float64).to_numpy()
    blocks = data["block"].to_numpy()
    net = (
        data["realized_net_quote"].to_numpy()
        if "realized_net_quote" in data.columns
        else np.full(data.height, np.nan)
    )
    lo, hi = int(blocks.min()), int(blocks.max()) + 1
    cuts = np.linspace(lo + (hi - lo) * min_train_fraction, hi, n_folds + 1).astype(np.int64)
    seeds = np.random.SeedSequence(seed).spawn(n_folds)
    parts: list[pl.DataFrame] = []
    folds: list[dict[str, Any]] = []
    for k in range(n_folds):
        start, stop = int(cuts[k]), int(cuts[k + 1])
        train = blocks <= start - embargo
        test = (blocks >= start) & (blocks < stop)
        if not test.any():
            raise DataError(f"cross_validate_route_model: fold {k} [{start}, {stop}) has no rows")
        predictor = RouteSuccessPredictor(config)
        predictor.fit(
            x_all[train],
            y_all[train],
            seed=int(seeds[k].generate_state(1)[0] % (2**31 - 1)),
            order=blocks[train],
        )
        margin = predictor.predict_raw(x_all[test])
        p = predictor.calibrator.apply(margin)
        p_raw = 1.0 / (1.0 + np.exp(-margin))
        report = classification_report(y_all[test], p)
        folds.append(
            {
                "fold": k,
                "train_rows": int(train.sum()),
                "test_rows": int(test.sum()),
                "test_first_block": start,
                "test_last_block": stop - 1,
                **report,
            }
        )
        parts.append(
            pl.DataFrame(
                {
                    "block": blocks[test],
                    "fold": np.full(int(test.sum()), k),
                    "success": y_all[test],
                    "p": p,
                    "p_raw": p_raw,
                    "realized_net_quote": net[test],
                }
            )
        )
    predictions = pl.concat(parts)
    y = predictions["success"].to_numpy()
    return CrossValidationResult(
        predictions=predictions,
        folds=folds,
        pooled=classification_report(y, predictions["p"].to_numpy()),
        pooled_raw=classification_report(y, predictions["p_raw"].to_numpy()),
    )
