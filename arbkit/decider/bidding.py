"""Bidding for the block: the win-probability model and the bid search of ``pick_best``.

Why a bid
---------
The execution model (:mod:`arbkit.execution.model`) gives a contested edge to the better
of our bid and the rival's, compared by the effective gas price
``B = tip + coinbase transfer / gas``. A coinbase transfer is the cheaper way to bid: a
reverted trade refunds it, while the priority fee is burnt with the gas. The decider
therefore sends :attr:`BidConfig.priority_fee_wei` (0 by default: the transfer alone
buys inclusion, as through a private relay) and searches the coinbase transfer as a
share ``s`` of the candidate's expected net profit, over :attr:`BidConfig.grid_share`,
maximising the expected net::

    EV(s) = P(win | s, x) * (1 - s) * net - (1 - P(win | s, x)) * revert_gas

where ``net`` is the candidate's expected net profit after gas and fees (quote) and
``revert_gas`` what a failed attempt burns (quote). The transfer is ``s * net`` valued in
ETH. Bids are modelled as shares because rivals bid for what an edge is worth: the
simulated rival's bid grows with the contested volume and never exceeds the edge's
value (:mod:`arbkit.execution.model`), so ``P(win)`` is close to a function of the
share alone, with the route features shifting it.

The win-probability model
-------------------------
:class:`WinProbabilityModel` is the route-success model's LightGBM booster and
calibration (:class:`arbkit.decider.RouteSuccessPredictor`: same files, same hash
verification) on the 12 route features plus the bid, as a share of the expected net
(``log10_bid_share``) and against the rival bid to expect for that edge
(``log10_bid_over_rival``: the median real bid scaled to the trade's volume as real bids
scale and capped at the edge's worth, from the same real-data calibration as the
simulated rivals; so the bid's effect needs no interaction with the route features),
trained on the one
replay's outcomes of candidates sent with random bids (:func:`build_bid_dataset`). Two
LightGBM constraints shape it:

- monotone constraints (+1) on both bid features: the margin never falls as the bid
  rises (a higher share of the same net is a higher transfer), and the calibration
  (isotonic, or Platt with a positive slope) keeps that order, so a higher bid never
  lowers ``P(win)``;
- interaction constraints that keep the bid out of the route features' trees: the
  margin is ``f(x) + g(share, bribe)``. ``g`` is piecewise constant on the grid of its
  trees' thresholds, so it is tabulated once (one booster call on the grid's cells);
  scoring ``n`` candidates at ``K`` bids then takes one booster call on the ``n`` rows
  and ``n * K`` table look-ups, not ``n * K`` booster rows
  (:meth:`WinProbabilityModel.predict_grid`, exact: a test compares it with the
  booster row by row). Additive log-odds fit the contest well:
  with rival pressure ``h(x)`` and a rival share ``s(b)`` of the auction,
  ``P(win) ~ 1 - h(x) s(b)`` and ``log-odds ~ -log h(x) - log s(b)``.

Kelly sizing stays on top: the chosen transfer is paid on success only, so it is added
to the success branch's costs and the revert cost is unchanged.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
from pydantic import BaseModel, ConfigDict, Field, model_validator

from arbkit.decider.config import RoutePredictorConfig
from arbkit.decider.metrics import classification_report, reliability_curve
from arbkit.decider.predictor import RouteSuccessPredictor
from arbkit.errors import DataError
from arbkit.execution.model import scale_rival_bid
from arbkit.features.route import ROUTE_FEATURE_NAMES

__all__ = [
    "BID_FEATURE",
    "BRIBE_FEATURE",
    "WIN_FEATURE_NAMES",
    "WIN_MODEL_EMA",
    "BidConfig",
    "WinProbabilityModel",
    "bid_feature",
    "bid_grid",
    "block_prices",
    "bribe_feature",
    "bribe_wei",
    "candidate_bids",
    "choose_bids",
    "draw_exploration_bids",
    "expected_rival_bid_eth",
    "reprice_gas",
    "share_to_eth",
]

FloatArray = npt.NDArray[np.float64]

BID_FEATURE = "log10_bid_share"
"""Name of the bid feature: ``log10(transfer / expected net profit + share_floor)``."""
BRIBE_FEATURE = "log10_bid_over_rival"
"""Name of the transfer feature: ``log10(transfer / expected rival bid + bribe_floor)``,
the transfer against what a rival typically bids for that edge
(:func:`expected_rival_bid_eth`)."""
WIN_FEATURE_NAMES: tuple[str, ...] = (*ROUTE_FEATURE_NAMES, BID_FEATURE, BRIBE_FEATURE)
WIN_MODEL_EMA = 0.5
"""The route success EMA the win model sees, always: it does not use that feature. The
EMA of its training rows (random bids) and of the decider's own trades (its chosen bids)
differ by construction, so learning from it would bias ``P(win)``."""
_EMA_COL = ROUTE_FEATURE_NAMES.index("route_success_ema")
"""Columns of the win-probability model: the 12 route features, then the bid's two."""
_WEI_PER_ETH = 10**18


class BidConfig(BaseModel):
    """How the decider bids, and how its win-probability model learns.

    Parameters
    ----------
    priority_fee_wei
        Tip per gas the decider's bids are sent with (0: the coinbase transfer alone).
    grid_share
        Transfers tried per candidate, as shares of its expected net profit, increasing,
        starting at 0.
    min_share
        The smallest positive share the decider bids (the grid's shares below it are not
        tried; 0 stays). A tuned setting: it trades fewer, better-paid contests.
    share_floor, bribe_floor
        Added before the log of the bid features (so that 0 has a value).
    rival_bid_median_eth, rival_reference_volume_quote, rival_volume_elasticity, rival_cap_share
        What the decider expects a rival to bid for an edge of volume ``V``:
        ``min(median * (V / reference) ** elasticity, cap_share * edge * V)``, from the
        4,968 real CEX-DEX arbitrages of 2023-08-08 (median bid 0.00192 ETH at the median
        volume of 8,618 USD; bid ~ volume ** 0.505) and half the gross edge as its worth.
    explore_zero_share, explore_min_share, explore_max_share
        Training bids: 0 with probability ``explore_zero_share``, else a share
        log-uniform in ``[explore_min_share, explore_max_share]``.
    explore_repeats
        Times each training candidate is sent, each with its own bid and draws.
    model
        Hyper-parameters of the booster and its calibration.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    priority_fee_wei: int = Field(0, ge=0)
    grid_share: tuple[float, ...] = (
        0.0,
        0.01,
        0.02,
        0.035,
        0.05,
        0.075,
        0.1,
        0.15,
        0.2,
        0.3,
        0.4,
        0.5,
        0.65,
        0.8,
        0.9,
    )
    min_share: float = Field(0.0, ge=0, lt=1)
    share_floor: float = Field(1e-3, gt=0)
    bribe_floor: float = Field(1e-3, gt=0)
    rival_bid_median_eth: float = Field(0.00192, gt=0)
    rival_reference_volume_quote: float = Field(8_618.0, gt=0)
    rival_volume_elasticity: float = Field(0.505, ge=0)
    rival_cap_share: float = Field(0.5, gt=0)
    explore_zero_share: float = Field(0.1, ge=0, le=1)
    explore_min_share: float = Field(0.005, gt=0)
    explore_max_share: float = Field(1.0, gt=0, le=1)
    explore_repeats: int = Field(4, ge=1, le=64)
    model: RoutePredictorConfig = Field(
        default_factory=lambda: RoutePredictorConfig(
            n_estimators=300,
            learning_rate=0.05,
            num_leaves=15,
            min_child_samples=100,
            calibration="isotonic",
            calibration_fraction=0.4,
        )
    )

    @model_validator(mode="after")
    def _check(self) -> BidConfig:
        g = self.grid_share
        if not g or g[0] != 0.0 or any(b <= a for a, b in itertools.pairwise(g)) or g[-1] >= 1:
            raise ValueError(f"grid_share {list(g)}: must start at 0, increase, stay below 1")
        if not any(g_ >= self.min_share for g_ in g[1:]):
            raise ValueError(f"min_share {self.min_share}: no share of the grid reaches it")
        if self.explore_max_share <= self.explore_min_share:
            raise ValueError("explore_max_share must exceed explore_min_share")
        return self


def bid_grid(config: BidConfig) -> FloatArray:
    """Return the shares the decider tries: 0 and the grid's shares from ``min_share`` on."""
    g = np.asarray(config.grid_share, dtype=np.float64)
    return np.asarray(g[(g == 0) | (g >= config.min_share)], dtype=np.float64)


def bid_feature(share: npt.ArrayLike, floor: float = 1e-3) -> FloatArray:
    """Return the bid feature ``log10(share + floor)``."""
    b = np.asarray(share, dtype=np.float64)
    return np.asarray(np.log10(np.maximum(b, 0.0) + floor), dtype=np.float64)


def bribe_feature(
    bribe_eth: npt.ArrayLike, rival_eth: npt.ArrayLike, floor: float = 1e-3
) -> FloatArray:
    """Return the transfer feature ``log10(bribe_eth / rival_eth + floor)``."""
    b = np.maximum(np.asarray(bribe_eth, dtype=np.float64), 0.0)
    r = np.asarray(rival_eth, dtype=np.float64)
    return np.asarray(np.log10(b / r + floor), dtype=np.float64)


def expected_rival_bid_eth(
    notional_quote: npt.ArrayLike,
    edge_bps: npt.ArrayLike,
    eth_price_quote: npt.ArrayLike,
    config: BidConfig,
) -> FloatArray:
    """Return the rival bid to expect for each edge, ETH (see :class:`BidConfig`).

    The execution model's scaling (:func:`arbkit.execution.model.scale_rival_bid`) of the
    median real bid, with the decider's own beliefs in ``config``. A missing price or size
    gives the median bid; the result is at least 1e-12 ETH.
    """
    v = np.asarray(notional_quote, dtype=np.float64)
    n = v.shape
    bid = scale_rival_bid(
        np.full(n, config.rival_bid_median_eth),
        v,
        np.broadcast_to(np.asarray(edge_bps, dtype=np.float64), n),
        np.broadcast_to(np.asarray(eth_price_quote, dtype=np.float64), n),
        reference_volume=config.rival_reference_volume_quote,
        elasticity=config.rival_volume_elasticity,
        cap_share=config.rival_cap_share,
    )
    return np.asarray(np.maximum(bid, 1e-12), dtype=np.float64)


def draw_exploration_bids(n: int, config: BidConfig, rng: np.random.Generator) -> FloatArray:
    """Return ``n`` training bids as shares (0 or log-uniform, see :class:`BidConfig`)."""
    lo, hi = math.log(config.explore_min_share), math.log(config.explore_max_share)
    u = rng.random((n, 2))
    bids = np.exp(lo + (hi - lo) * u[:, 1])
    return np.asarray(np.where(u[:, 0] < config.explore_zero_share, 0.0, bids), np.float64)


def share_to_eth(
    share: npt.ArrayLike, net_quote: npt.ArrayLike, eth_price_quote: npt.ArrayLike
) -> FloatArray:
    """Return the transfer in ETH of a share of the expected net (0 without a price or net)."""
    s, net, price = (np.asarray(v, dtype=np.float64) for v in (share, net_quote, eth_price_quote))
    ok = np.isfinite(price) & (price > 0) & np.isfinite(net) & (net > 0)
    return np.asarray(
        np.where(ok, s * np.where(ok, net, 0.0) / np.where(ok, price, 1.0), 0.0), np.float64
    )


def bribe_wei(bribe_eth: npt.ArrayLike) -> list[int]:
    """Return ETH amounts as integer wei (rounded to the nearest gwei's worth of wei)."""
    return [round(float(b) * 1e9) * 10**9 for b in np.asarray(bribe_eth).ravel()]


class WinProbabilityModel(RouteSuccessPredictor):
    """``P(win | bid, route features)``: calibrated, monotone in the bid, additive in log-odds.

    See the module docstring. Training takes a table with the 12 route features,
    :data:`BID_FEATURE` and ``success`` (:func:`build_bid_dataset`); files are written and
    verified exactly as the route model's.
    """

    feature_names: tuple[str, ...] = WIN_FEATURE_NAMES

    def __init__(self, config: BidConfig | None = None, model_path: Any = None) -> None:
        self.bid_config = config or BidConfig()
        super().__init__(self.bid_config.model, model_path=model_path)
        # the tabulated bid part of the margin, and the booster it was read from
        self._table: tuple[FloatArray, FloatArray, FloatArray, float] | None = None
        self._table_of: object = None

    def _lgb_params(self, seed: int) -> dict[str, Any]:
        params = super()._lgb_params(seed)
        n = len(self.feature_names)
        params["monotone_constraints"] = [0] * (n - 2) + [1, 1]
        params["monotone_constraints_method"] = "advanced"
        params["interaction_constraints"] = [list(range(n - 2)), [n - 2, n - 1]]
        return params

    def _bid_table(self) -> tuple[FloatArray, FloatArray, FloatArray, float]:
        """Tabulate ``g(share, bribe)``: thresholds of both bid features and the margins.

        Returns the share thresholds, the bribe thresholds, the table of ``g`` per cell
        (up to a constant) and the margin of the reference cell used for ``f``.

        Raises
        ------
        DataError
            If a Platt calibration came out with a negative slope (it would invert the
            bid's effect).
        """
        booster = self.booster
        if self._table is not None and self._table_of is booster:
            return self._table
        cal = self.calibrator
        if cal.method == "platt" and cal.a < 0:
            raise DataError("WinProbabilityModel: the Platt calibration has a negative slope")
        n = len(self.feature_names)
        cuts: dict[int, set[float]] = {n - 2: set(), n - 1: set()}

        def walk(node: dict[str, Any]) -> None:
            if "split_feature" in node:
                f = int(node["split_feature"])
                if f in cuts:
                    cuts[f].add(float(node["threshold"]))
                walk(node["left_child"])
                walk(node["right_child"])

        for tree in booster.dump_model()["tree_info"]:
            walk(tree["tree_structure"])
        ts = np.array(sorted(cuts[n - 2]), dtype=np.float64)
        tb = np.array(sorted(cuts[n - 1]), dtype=np.float64)
        # a cell's representative: its upper threshold (x <= t goes left), or past the last
        rep_s = np.append(ts, (ts[-1] if ts.size else 0.0) + 1.0)
        rep_b = np.append(tb, (tb[-1] if tb.size else 0.0) + 1.0)
        rows = np.zeros((rep_s.size * rep_b.size, n))
        rows[:, n - 2] = np.repeat(rep_s, rep_b.size)
        rows[:, n - 1] = np.tile(rep_b, rep_s.size)
        g = np.asarray(booster.predict(rows, raw_score=True, num_threads=1), np.float64)
        table = (ts, tb, np.asarray(g.reshape(rep_s.size, rep_b.size), np.float64), 0.0)
        self._table, self._table_of = table, booster
        return table

    # -- prediction ----------------------------------------------------------------------
    def predict_grid(
        self,
        route_features: FloatArray,
        grid_share: npt.ArrayLike,
        net_quote: npt.ArrayLike,
        eth_price_quote: npt.ArrayLike,
        rival_eth: npt.ArrayLike,
    ) -> FloatArray:
        """Return ``P(win)`` of every candidate at every bid, shape ``(n, K)``.

        Parameters
        ----------
        route_features
            Shape ``(n, 12)``.
        grid_share
            ``K`` bids, as shares of the expected net profit.
        net_quote, eth_price_quote
            Each candidate's expected net profit and ETH price (quote): the transfer of
            a share is ``share * net / price`` ETH.
        rival_eth
            Each candidate's expected rival bid (:func:`expected_rival_bid_eth`).

        Returns
        -------
        numpy.ndarray
            Non-decreasing along each row when ``grid_share`` increases.
        """
        x = np.array(route_features, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != len(ROUTE_FEATURE_NAMES):
            raise DataError(f"predict_grid: route features must be (n, 12), got {x.shape}")
        x[:, _EMA_COL] = WIN_MODEL_EMA
        cfg = self.bid_config
        grid = np.asarray(grid_share, dtype=np.float64)
        n, k = x.shape[0], grid.size
        if n == 0:
            return np.empty((0, k))
        net = np.broadcast_to(np.asarray(net_quote, dtype=np.float64), (n,))
        price = np.broadcast_to(np.asarray(eth_price_quote, dtype=np.float64), (n,))
        rival = np.broadcast_to(np.asarray(rival_eth, dtype=np.float64), (n,))
        fs = bid_feature(grid, cfg.share_floor)  # (K,)
        fb = bribe_feature(
            share_to_eth(grid[None, :], net[:, None], price[:, None]),
            rival[:, None],
            cfg.bribe_floor,
        )
        ts, tb, g, _ = self._bid_table()
        # margin(x, s, b) = f(x) + g(s, b): f from one booster call at a reference bid
        rows = np.empty((n, x.shape[1] + 2))
        rows[:, :-2] = x
        rows[:, -2] = fs[0]
        rows[:, -1] = fb[:, 0]
        base = np.asarray(self.booster.predict(rows, raw_score=True, num_threads=1), np.float64)
        i_s = np.searchsorted(ts, fs, side="left")  # (K,)
        i_b = np.searchsorted(tb, fb, side="left")  # (n, K)
        cell = g[i_s[None, :], i_b]
        margin = base[:, None] + (cell - cell[:, :1])
        return self.calibrator.apply(margin)

    def reliability(self, table: pl.DataFrame, n_bins: int = 10) -> dict[str, Any]:
        """Return the classification report and reliability bins of the model on ``table``."""
        p = self.predict_proba(table)
        y = table["success"].cast(pl.Float64).to_numpy()
        curve = reliability_curve(y, p, n_bins)
        return {
            "metrics": classification_report(y, p, n_bins),
            "mean_predicted": curve.mean_predicted.tolist(),
            "observed_rate": curve.observed_rate.tolist(),
            "counts": curve.counts.tolist(),
        }


def choose_bids(
    p_win: FloatArray,
    grid_share: npt.ArrayLike,
    net_quote: FloatArray,
    revert_quote: FloatArray,
) -> tuple[npt.NDArray[np.int64], FloatArray, FloatArray]:
    """Return, per candidate, the bid index, ``P(win)`` and expected value that maximise EV.

    ``EV[i, j] = p[i, j] * (1 - grid[j]) * net[i] - (1 - p[i, j]) * revert[i]``; ties go
    to the lower bid.
    """
    grid = np.asarray(grid_share, dtype=np.float64)
    net = np.where(np.isfinite(net_quote), net_quote, -np.inf)
    ev = p_win * ((1.0 - grid)[None, :] * net[:, None]) - (1.0 - p_win) * revert_quote[:, None]
    ev = np.where(np.isfinite(ev), ev, -np.inf)
    j = np.argmax(ev, axis=1).astype(np.int64)
    rows = np.arange(p_win.shape[0])
    return j, p_win[rows, j], ev[rows, j]


def block_prices(candidates: pl.DataFrame, regime: pl.DataFrame) -> FloatArray:
    """Return the ETH price (quote) at each candidate's block, from the regime features.

    NaN where the regime has no price for the block.
    """
    joined = candidates.select("block").join(
        regime.select("block", "eth_price_quote"), on="block", how="left"
    )
    return np.asarray(
        joined["eth_price_quote"].cast(pl.Float64).fill_null(np.nan).to_numpy(), np.float64
    )


def reprice_gas(
    candidates: pl.DataFrame, regime: pl.DataFrame, run_tip_wei: int, tip_wei: int
) -> pl.DataFrame:
    """Return the candidates with gas priced at ``tip_wei`` instead of the run's tip.

    The scanner prices ``gas_cost_quote`` at the run's tip; an order sent with another
    tip pays ``(tip_wei - run_tip_wei) * gas_units`` more (or less), valued at the
    block's ETH price (``regime``'s ``eth_price_quote``). ``gas_cost_quote`` and
    ``net_profit_quote`` move by that amount; a candidate without a price is left alone.
    """
    if tip_wei == run_tip_wei or candidates.height == 0:
        return candidates
    price = pl.Series(np.nan_to_num(block_prices(candidates, regime), nan=0.0))
    delta = candidates["gas_units"].cast(pl.Float64) * float(tip_wei - run_tip_wei) * price / 1e18
    return candidates.with_columns(
        (pl.col("gas_cost_quote") + delta).alias("gas_cost_quote"),
        (pl.col("net_profit_quote") - delta).alias("net_profit_quote"),
    )


def candidate_bids(
    candidates: pl.DataFrame,
    history: Any,
    model: WinProbabilityModel,
    *,
    run_tip_wei: int,
    revert_gas_fraction: float = 1.0,
) -> list[int]:
    """Return the decider's coinbase transfer (wei) for every candidate of a table.

    The bid ``pick_best`` would choose for the candidate at its own size: the 12 route
    features at its block (causal; every route at the prior success EMA, as no outcome
    of ours is known), ``P(win)`` over the bid grid, and the EV-maximising transfer.
    The RL policies' ``flash_arb`` sends these bids (:func:`arbkit.backtest.learners`).

    Parameters
    ----------
    candidates
        The replay's candidates (``block``, ``net_profit_quote``, ``gas_cost_quote`` and
        the scanner's columns).
    history
        The :class:`~arbkit.market.history.MarketHistory` they come from.
    model
        A trained win-probability model.
    run_tip_wei
        The tip the candidates' gas is priced at (repriced at the bids' tip).
    revert_gas_fraction
        Share of the gas a revert burns (the execution model's).
    """
    from arbkit.features import build_regime_features
    from arbkit.features.route import build_route_features

    if candidates.height == 0:
        return []
    regime = build_regime_features(history)
    candidates = reprice_gas(candidates, regime, run_tip_wei, model.bid_config.priority_fee_wei)
    feats = build_route_features(candidates, regime).select(ROUTE_FEATURE_NAMES)
    x = feats.cast(pl.Float64).fill_null(np.nan).to_numpy()
    price = block_prices(candidates, regime)
    grid = bid_grid(model.bid_config)
    net = candidates["net_profit_quote"].cast(pl.Float64).to_numpy()
    rival = expected_rival_bid_eth(
        candidates["notional_quote"].cast(pl.Float64).to_numpy(),
        candidates["edge_bps"].cast(pl.Float64).to_numpy(),
        price,
        model.bid_config,
    )
    p = model.predict_grid(x, grid, net, price, rival)
    revert = revert_gas_fraction * candidates["gas_cost_quote"].cast(pl.Float64).to_numpy()
    j, _, ev = choose_bids(p, grid, net, revert)
    return bribe_wei(share_to_eth(np.where(ev > 0, grid[j], 0.0), net, price))
