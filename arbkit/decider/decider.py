"""The advanced AI decider: six-factor scoring, route-success model, Kelly sizing, learning.

How :meth:`AdvancedAIDecider.pick_best` decides
-----------------------------------------------
For every candidate, vectorised over the batch:

1. **Route record.** The route's success EMA ``ema`` and outcome count ``n`` (from
   :meth:`~AdvancedAIDecider.record_outcome`; ``route_prior_success`` and 0 before).
2. **Success probability.** Model-free: ``p0 = (n * ema + k * c) / (n + k)`` with the
   candidate's own ``confidence`` ``c`` and ``k = route_prior_strength``. With the
   model (``enable_ml_scoring`` and a trained :class:`RouteSuccessPredictor`):
   ``p = w * p_model + (1 - w) * p0`` with ``w = ml_blend_weight``, where
   ``p_model`` is the calibrated probability from the 12 route features
   (:mod:`arbkit.features.route`). The decision's ``confidence`` is ``p``.
3. **Score.** Six factors in ``[0, 1]`` and their weighted sum
   (:mod:`arbkit.decider.scoring`).
4. **Size.** Fractional Kelly under the caps (:mod:`arbkit.decider.sizing`), with the
   ETH limits of the risk profile turned into quote at the candidate's (else the
   regime's) ETH price. The leverage cap grows with confidence:
   ``1 + (max_leverage - 1) * clip((p - threshold) / (1 - threshold), 0, 1)``.
5. **Accept** when ``confidence >= confidence_threshold``, the sized trade's net
   profit on success reaches ``min_profit_eth`` and its expected value is positive.
6. **Rank** accepted candidates by ``score * expected value`` (the score discounts the
   expected profit by the quality of the opportunity) and return the best, or ``None``.

Learning
--------
:meth:`~AdvancedAIDecider.record_outcome` updates the route's EMA
(``ema <- (1 - alpha) * ema + alpha * success``, ``alpha = route_ema_alpha``), stores
the decision's feature row with its label, and after ``retrain_after_n_samples`` new
outcomes refits the model on the stored samples (synchronously, seeded from the
decider's seed).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Final

import numpy as np
import numpy.typing as npt
import polars as pl

from arbkit.decider.bidding import (
    WinProbabilityModel,
    bid_grid,
    bribe_wei,
    choose_bids,
    expected_rival_bid_eth,
    share_to_eth,
)
from arbkit.decider.candidates import AICandidate, CandidateBatch
from arbkit.decider.config import AdvancedAIConfig
from arbkit.decider.errors import DeciderError
from arbkit.decider.predictor import RouteSuccessPredictor
from arbkit.decider.scoring import FACTOR_NAMES, factor_matrix, factors_one
from arbkit.decider.sizing import BINDING_NAMES, REJECT_REASONS, Sizing, size_one, size_trades
from arbkit.errors import DataError
from arbkit.features.regime import MarketRegime
from arbkit.features.route import ROUTE_FEATURE_NAMES, route_feature_matrix, route_features_one

__all__ = ["AIDecision", "AdvancedAIDecider", "RouteRecord"]

FloatArray = npt.NDArray[np.float64]
_NEUTRAL_REGIME: Final = MarketRegime(volatility=0.0, liquidity=0.5, gas_percentile=0.5)


@dataclass(frozen=True)
class AIDecision:
    """The trade :meth:`AdvancedAIDecider.pick_best` chose.

    Attributes
    ----------
    symbol, route_key
        The chosen candidate's symbol and route key.
    index
        Its position in the candidates given.
    candidate
        The candidate itself.
    net_quote
        Expected net profit on success at the chosen size, after gas, in quote.
    expected_value_quote
        ``p * net_quote - (1 - p) * revert gas``, in quote.
    size_quote
        Chosen notional, in quote.
    size_fraction
        ``size_quote`` over the candidate's notional (``<= 1``).
    amount_in
        The candidate's ``amount_in`` scaled by ``size_fraction`` (floor), if known.
    confidence
        The decider's success probability ``p`` (compared with the threshold).
    p_model
        The model's calibrated probability, when the model was used.
    score
        Weighted six-factor score in ``[0, 1]``.
    factors
        The six factors by name.
    contributions
        Each factor times its weight (they sum to ``score``).
    kelly_full
        Full-Kelly stake as a fraction of the portfolio.
    binding_cap
        The limit that set the size (``kelly``, ``amm``, ``flash_borrow``, ``leverage``,
        ``position``).
    high_confidence
        ``confidence >= high_confidence_threshold``.
    features
        The 12 route features at decision time (stored with the outcome).
    regime_label
        Regime label at decision time.
    priority_fee_wei
        Tip per gas to send with (``None``: the run's tip; the decider bids through the
        coinbase transfer, see :mod:`arbkit.decider.bidding`).
    bribe_wei
        Coinbase transfer to the block's builder, paid on success only (0 without a
        win-probability model).
    p_win
        The win-probability model's ``P(win)`` at the chosen bid, when one is set.
    """

    symbol: str
    route_key: str
    index: int
    candidate: AICandidate
    net_quote: float
    expected_value_quote: float
    size_quote: float
    size_fraction: float
    amount_in: int | None
    confidence: float
    p_model: float | None
    score: float
    factors: Mapping[str, float]
    contributions: Mapping[str, float]
    kelly_full: float
    binding_cap: str
    high_confidence: bool
    features: tuple[float, ...]
    regime_label: str
    priority_fee_wei: int | None = None
    bribe_wei: int = 0
    p_win: float | None = None


@dataclass(frozen=True)
class RouteRecord:
    """A route's learnt record: success EMA, outcomes, successes, realised net profit."""

    ema: float
    n_outcomes: int
    n_successes: int
    realized_net_quote: float


@dataclass(frozen=True, eq=False)
class _Assessment:
    batch: CandidateBatch
    features: FloatArray
    p_model: FloatArray | None
    confidence: FloatArray
    factors: FloatArray
    score: FloatArray
    sizing: Sizing
    accepted: npt.NDArray[np.bool_]
    rank: FloatArray
    bribe_eth: FloatArray | None = None
    p_win: FloatArray | None = None


class AdvancedAIDecider:
    """Multi-factor decider with an ML route-success model and Kelly sizing (guide §1).

    Parameters
    ----------
    config
        Options; defaults are the ``balanced`` risk profile.
    predictor
        Route-success model; a fresh (untrained) one by default, trained by
        :meth:`retrain` once enough outcomes are recorded.
    seed
        Seed (or seed sequence) of the model refits.
    win_model
        A trained :class:`arbkit.decider.bidding.WinProbabilityModel`: the decider then
        also chooses each trade's coinbase transfer (the bid), and its confidence is
        ``P(win)`` at that bid (see :mod:`arbkit.decider.bidding`).

    Examples
    --------
    >>> decider = AdvancedAIDecider(AdvancedAIConfig(confidence_threshold=0.7))
    >>> decider.update_regime(MarketRegime(0.25, 0.75, 0.40, "stable", eth_price_quote=3000.0))
    >>> c = AICandidate("ETH/USDC", edge_bps=80.0, notional_quote=20000.0,
    ...                 gas_cost_quote=20.0, slippage_quote=40.0, confidence=0.8)
    >>> decider.pick_best([c], portfolio_value_eth=100.0) is None
    True
    """

    def __init__(
        self,
        config: AdvancedAIConfig | None = None,
        *,
        predictor: RouteSuccessPredictor | None = None,
        seed: int | np.random.SeedSequence = 0,
        win_model: WinProbabilityModel | None = None,
    ) -> None:
        self.config = config or AdvancedAIConfig()
        if win_model is not None and not win_model.is_trained:
            raise DeciderError("AdvancedAIDecider: the win-probability model is not trained")
        self.win_model = win_model
        self._predictor = (
            predictor if predictor is not None else RouteSuccessPredictor(self.config.route_model)
        )
        self._seeds = (
            seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
        )
        self._regime = _NEUTRAL_REGIME
        self._ema: dict[str, float] = {}
        self._count: dict[str, int] = {}
        self._wins: dict[str, int] = {}
        self._pnl: dict[str, float] = {}
        # the same EMAs and counts as arrays, for the vectorised path
        self._ids: dict[str, int] = {}
        self._ema_arr = np.empty(64)
        self._count_arr = np.empty(64)
        cap = self.config.max_training_samples
        self._samples_x: deque[tuple[float, ...]] = deque(maxlen=cap)
        self._samples_y: deque[float] = deque(maxlen=cap)
        self._new_samples = 0
        self.n_retrains = 0
        weights = self.config.factor_weights.as_dict()
        self._weights = np.fromiter(weights.values(), dtype=np.float64, count=len(weights))
        self._weight_list = list(weights.values())

    # -- state ---------------------------------------------------------------------------
    @property
    def regime(self) -> MarketRegime:
        """The current market regime (neutral until :meth:`update_regime`)."""
        return self._regime

    def update_regime(self, regime: MarketRegime) -> None:
        """Set the market regime the next decisions condition on.

        Parameters
        ----------
        regime
            E.g. ``MarketRegime.from_row`` of :func:`arbkit.features.build_regime_features`.
        """
        if not isinstance(regime, MarketRegime):
            raise DeciderError(f"update_regime: expected a MarketRegime, got {regime!r}")
        self._regime = regime

    @property
    def predictor(self) -> RouteSuccessPredictor:
        """The route-success model."""
        return self._predictor

    @property
    def model_active(self) -> bool:
        """Whether decisions use the model (``enable_ml_scoring`` and a trained model)."""
        return self.config.enable_ml_scoring and self._predictor.is_trained

    @property
    def n_samples(self) -> int:
        """Outcomes stored for retraining."""
        return len(self._samples_y)

    def route_record(self, route_key: str) -> RouteRecord:
        """Return the learnt record of a route (the prior for an unseen route)."""
        return RouteRecord(
            ema=self._ema.get(route_key, self.config.route_prior_success),
            n_outcomes=self._count.get(route_key, 0),
            n_successes=self._wins.get(route_key, 0),
            realized_net_quote=self._pnl.get(route_key, 0.0),
        )

    # -- deciding ------------------------------------------------------------------------
    def pick_best(
        self,
        candidates: Sequence[AICandidate] | CandidateBatch,
        portfolio_value_eth: float,
    ) -> AIDecision | None:
        """Return the best trade among the candidates, sized, or ``None``.

        See the module docstring for how candidates are scored, sized and ranked.

        Parameters
        ----------
        candidates
            :class:`AICandidate` objects or a :class:`CandidateBatch`.
        portfolio_value_eth
            Portfolio value in ETH (> 0).

        Returns
        -------
        AIDecision or None
            ``None`` when no candidate passes the confidence threshold with a positive
            expected value and the minimum profit.

        Raises
        ------
        DeciderError
            If the portfolio value is not positive, or a candidate that could be
            traded has no ETH price (neither on the candidate nor on the regime) to
            apply the risk profile's ETH limits.
        """
        if (
            not isinstance(candidates, CandidateBatch)
            and len(candidates) == 1
            and isinstance(candidates[0], AICandidate)
            and self.win_model is None
        ):
            return self._pick_one(candidates[0], portfolio_value_eth)
        a = self._assess(candidates, portfolio_value_eth)
        if not a.accepted.any():
            return None
        i = int(np.argmax(np.where(a.accepted, a.rank, -np.inf)))
        return self._decision(a, i)

    def _pick_one(self, c: AICandidate, portfolio_value_eth: float) -> AIDecision | None:
        # Scalar twin of _assess + _decision for one candidate (no numpy call overhead);
        # tests check that both paths decide alike.
        if not (isinstance(portfolio_value_eth, int | float) and portfolio_value_eth > 0):
            raise DeciderError(f"portfolio_value_eth must be > 0, got {portfolio_value_eth!r}")
        cfg = self.config
        regime = self._regime
        key = c.route_key
        ema = self._ema.get(key, cfg.route_prior_success)
        count = self._count.get(key, 0)
        liquidity = math.nan if c.liquidity_quote is None else c.liquidity_quote
        features = route_features_one(
            c.edge_bps,
            c.notional_quote,
            c.gas_cost_quote,
            c.flash_fee_quote,
            c.slippage_quote,
            liquidity,
            c.n_hops,
            float(c.age_blocks),
            regime.volatility,
            regime.liquidity,
            regime.gas_percentile,
            ema,
        )
        strength = cfg.route_prior_strength
        denom = count + strength
        p_free = (count * ema + strength * c.confidence) / denom if denom > 0 else ema
        p_model: float | None = None
        if self.model_active:
            p_model = self._predictor.predict_proba_one(features)
            w = cfg.ml_blend_weight
            confidence = w * p_model + (1.0 - w) * p_free if w < 1.0 else p_model
        else:
            confidence = p_free
        threshold = cfg.confidence_threshold
        price = c.eth_price_quote if c.eth_price_quote is not None else regime.eth_price_quote
        if price is None:
            if confidence >= threshold and c.net_quote > 0:
                raise DeciderError(
                    f"candidate 0 ({c.symbol!r}) has no ETH price to apply the risk profile's "
                    "ETH limits (max_flash_borrow_eth, min_profit_eth); set "
                    "MarketRegime.eth_price_quote or AICandidate.eth_price_quote"
                )
            return None
        if confidence < threshold:
            return None
        revert = (
            c.revert_gas_quote
            if c.revert_gas_quote is not None
            else cfg.revert_gas_fraction * c.gas_cost_quote
        )
        span = 1.0 - threshold
        lift = min(max((confidence - threshold) / span, 0.0), 1.0) if span > 0 else 0.0
        sizing = size_one(
            confidence,
            c.notional_quote,
            c.edge_bps,
            c.gas_cost_quote,
            c.flash_fee_quote,
            c.slippage_quote,
            revert,
            c.is_flash,
            c.amm_optimal,
            portfolio_quote=portfolio_value_eth * price,
            kelly_fraction=cfg.kelly_fraction,
            max_flash_borrow_quote=cfg.max_flash_borrow_eth * price,
            leverage=1.0 + (cfg.max_leverage - 1.0) * lift,
            max_position_fraction=cfg.max_position_fraction,
            min_profit_quote=cfg.min_profit_eth * price,
        )
        if sizing.reject:
            return None
        factors = factors_one(
            c.edge_bps,
            c.notional_quote,
            c.gas_cost_quote,
            c.flash_fee_quote,
            c.slippage_quote,
            liquidity,
            float(c.age_blocks),
            ema,
            regime,
            cfg.scoring,
        )
        weights = self._weight_list
        contributions = [f * w for f, w in zip(factors, weights, strict=True)]
        size = sizing.size_quote
        fraction = min(size / c.notional_quote, 1.0)
        return AIDecision(
            symbol=c.symbol,
            route_key=key,
            index=0,
            candidate=c,
            net_quote=sizing.net_quote,
            expected_value_quote=sizing.ev_quote,
            size_quote=size,
            size_fraction=fraction,
            amount_in=(_scaled_amount(c.amount_in, fraction) if c.amount_in is not None else None),
            confidence=confidence,
            p_model=p_model,
            score=math.fsum(contributions),
            factors=dict(zip(FACTOR_NAMES, factors, strict=True)),
            contributions=dict(zip(FACTOR_NAMES, contributions, strict=True)),
            kelly_full=sizing.kelly_full,
            binding_cap=BINDING_NAMES[sizing.binding],
            high_confidence=confidence >= cfg.high_confidence_threshold,
            features=tuple(features),
            regime_label=regime.regime_label,
        )

    def evaluate(
        self,
        candidates: Sequence[AICandidate] | CandidateBatch,
        portfolio_value_eth: float,
    ) -> pl.DataFrame:
        """Return every candidate's assessment as a table (for inspection and reports).

        Parameters
        ----------
        candidates
            As for :meth:`pick_best`.
        portfolio_value_eth
            Portfolio value in ETH.

        Returns
        -------
        polars.DataFrame
            ``symbol``, ``route_key``, ``confidence``, ``p_model``, ``score``, the six
            factors, ``size_quote``, ``net_quote``, ``ev_quote``, ``accepted``,
            ``reject_reason``, ``binding_cap``, one row per candidate.
        """
        a = self._assess(candidates, portfolio_value_eth)
        s = a.sizing
        reasons = np.array(REJECT_REASONS, dtype=object)[s.reject]
        reasons = np.where(
            (s.reject == 0) & ~a.accepted, "below_confidence_threshold", reasons
        ).tolist()
        n = len(a.batch)
        p_model = a.p_model if a.p_model is not None else np.full(n, np.nan)
        return pl.DataFrame(
            {
                "symbol": a.batch.symbols,
                "route_key": a.batch.route_keys,
                "confidence": a.confidence,
                "p_model": p_model,
                "score": a.score,
                **{name: a.factors[:, j] for j, name in enumerate(FACTOR_NAMES)},
                "size_quote": np.where(a.accepted, s.size_quote, 0.0),
                "net_quote": s.net_quote,
                "ev_quote": s.ev_quote,
                "accepted": a.accepted,
                "reject_reason": reasons,
                "binding_cap": np.array(BINDING_NAMES, dtype=object)[
                    np.where(a.accepted, s.binding, 0)
                ].tolist(),
            },
            strict=False,
        )

    def _assess(
        self,
        candidates: Sequence[AICandidate] | CandidateBatch,
        portfolio_value_eth: float,
    ) -> _Assessment:
        if not (isinstance(portfolio_value_eth, int | float) and portfolio_value_eth > 0):
            raise DeciderError(f"portfolio_value_eth must be > 0, got {portfolio_value_eth!r}")
        batch = (
            candidates
            if isinstance(candidates, CandidateBatch)
            else CandidateBatch.from_candidates(candidates)
        )
        cfg = self.config
        regime = self._regime
        prior = cfg.route_prior_success
        ids = np.fromiter(
            map(self._ids.get, batch.route_keys, repeat(-1)), dtype=np.int64, count=len(batch)
        )
        known = ids >= 0
        ema = np.where(known, self._ema_arr[ids], prior)
        count = np.where(known, self._count_arr[ids], 0.0)
        features = self._feature_rows(batch, ema)
        strength = cfg.route_prior_strength
        denom = count + strength
        p_free = np.where(
            denom > 0, (count * ema + strength * batch.confidence) / np.maximum(denom, 1e-300), ema
        )
        p_model: FloatArray | None = None
        if self.model_active and len(batch):
            p_model = self._predictor.predict_proba(features)
            w = cfg.ml_blend_weight
            confidence = w * p_model + (1.0 - w) * p_free if w < 1.0 else p_model
        else:
            confidence = p_free
        factors = factor_matrix(
            batch.edge_bps,
            batch.notional_quote,
            batch.gas_cost_quote,
            batch.flash_fee_quote,
            batch.slippage_quote,
            batch.liquidity_quote,
            batch.age_blocks,
            ema,
            regime,
            cfg.scoring,
        )
        score = factors @ self._weights
        regime_price = regime.eth_price_quote if regime.eth_price_quote is not None else np.nan
        price = np.where(np.isnan(batch.eth_price_quote), regime_price, batch.eth_price_quote)
        revert = np.where(
            np.isnan(batch.revert_gas_quote),
            cfg.revert_gas_fraction * batch.gas_cost_quote,
            batch.revert_gas_quote,
        )
        gas_quote = batch.gas_cost_quote
        bribe_eth: FloatArray | None = None
        p_win: FloatArray | None = None
        if self.win_model is not None and len(batch):
            # the bid: P(win | bid) at every bid of the grid, the EV-maximising one kept;
            # the transfer is paid on success only, so it joins the success branch's costs
            grid = bid_grid(self.win_model.bid_config)
            net0 = (
                batch.notional_quote * batch.edge_bps * 1e-4
                - batch.slippage_quote
                - batch.flash_fee_quote
                - batch.gas_cost_quote
            )
            rival = expected_rival_bid_eth(
                batch.notional_quote, batch.edge_bps, price, self.win_model.bid_config
            )
            p_grid = self.win_model.predict_grid(features, grid, net0, price, rival)
            j, p_win, _ = choose_bids(p_grid, grid, net0, revert)
            bribe_eth = share_to_eth(grid[j], net0, price)
            confidence = p_win
            p_model = p_win
            gas_quote = gas_quote + np.where(bribe_eth > 0, bribe_eth * price, 0.0)
        threshold = cfg.confidence_threshold
        span = 1.0 - threshold
        lift = np.clip((confidence - threshold) / span, 0.0, 1.0) if span > 0 else 0.0
        leverage = 1.0 + (cfg.max_leverage - 1.0) * lift
        sizing = size_trades(
            confidence,
            batch.notional_quote,
            batch.edge_bps,
            gas_quote,
            batch.flash_fee_quote,
            batch.slippage_quote,
            revert,
            batch.is_flash,
            batch.amm_optimal,
            portfolio_quote=portfolio_value_eth * price,
            kelly_fraction=cfg.kelly_fraction,
            max_flash_borrow_quote=cfg.max_flash_borrow_eth * price,
            leverage=leverage,
            max_position_fraction=cfg.max_position_fraction,
            min_profit_quote=cfg.min_profit_eth * price,
        )
        confident = confidence >= threshold
        no_price = np.isnan(price)
        if no_price.any():
            gross = batch.notional_quote * batch.edge_bps * 1e-4
            net = gross - batch.slippage_quote - batch.flash_fee_quote - batch.gas_cost_quote
            stuck = no_price & confident & (net > 0)
            if stuck.any():
                i = int(np.flatnonzero(stuck)[0])
                raise DeciderError(
                    f"candidate {i} ({batch.symbols[i]!r}) has no ETH price to apply the risk "
                    "profile's ETH limits (max_flash_borrow_eth, min_profit_eth); set "
                    "MarketRegime.eth_price_quote or AICandidate.eth_price_quote"
                )
        accepted = sizing.accepted & confident & ~no_price
        return _Assessment(
            batch=batch,
            features=features,
            p_model=p_model,
            confidence=confidence,
            factors=factors,
            score=score,
            sizing=sizing,
            accepted=accepted,
            rank=_rank(cfg.rank_by, score, sizing.ev_quote),
            bribe_eth=bribe_eth,
            p_win=p_win,
        )

    def _decision(self, a: _Assessment, i: int) -> AIDecision:
        batch, s = a.batch, a.sizing
        candidate = batch.candidate(i)
        size = float(s.size_quote[i])
        fraction = min(size / float(batch.notional_quote[i]), 1.0)
        amount_in = (
            _scaled_amount(candidate.amount_in, fraction)
            if candidate.amount_in is not None
            else None
        )
        weights = self._weights
        factors = {name: float(a.factors[i, j]) for j, name in enumerate(FACTOR_NAMES)}
        contributions = {
            name: float(a.factors[i, j] * weights[j]) for j, name in enumerate(FACTOR_NAMES)
        }
        confidence = float(a.confidence[i])
        return AIDecision(
            symbol=batch.symbols[i],
            route_key=batch.route_keys[i],
            index=i,
            candidate=candidate,
            net_quote=float(s.net_quote[i]),
            expected_value_quote=float(s.ev_quote[i]),
            size_quote=size,
            size_fraction=fraction,
            amount_in=amount_in,
            confidence=confidence,
            p_model=float(a.p_model[i]) if a.p_model is not None else None,
            score=float(a.score[i]),
            factors=factors,
            contributions=contributions,
            kelly_full=float(s.kelly_full[i]),
            binding_cap=BINDING_NAMES[int(s.binding[i])],
            high_confidence=confidence >= self.config.high_confidence_threshold,
            features=tuple(float(v) for v in a.features[i]),
            regime_label=self._regime.regime_label,
            priority_fee_wei=(
                None if self.win_model is None else self.win_model.bid_config.priority_fee_wei
            ),
            bribe_wei=0 if a.bribe_eth is None else bribe_wei([a.bribe_eth[i]])[0],
            p_win=None if a.p_win is None else float(a.p_win[i]),
        )

    # -- learning ------------------------------------------------------------------------
    def record_outcome(
        self,
        decision: AIDecision | AICandidate,
        success: bool,
        *,
        realized_net_quote: float | None = None,
    ) -> bool:
        """Learn from an executed trade's outcome.

        Updates the route's success EMA, stores the decision's 12 features with the
        label and, after ``retrain_after_n_samples`` new outcomes, refits the model.

        Parameters
        ----------
        decision
            The decision that was executed (its features at decision time are
            stored), or a candidate (features computed now).
        success
            Whether the trade succeeded.
        realized_net_quote
            Realised net profit after gas, in quote (kept in the route's record).

        Returns
        -------
        bool
            Whether the model was retrained.
        """
        if isinstance(decision, AIDecision):
            key, row = decision.route_key, decision.features
        elif isinstance(decision, AICandidate):
            key = decision.route_key
            row = tuple(float(v) for v in self._assess_features(decision))
        else:
            raise DeciderError(
                f"record_outcome: expected an AIDecision or AICandidate, got {decision!r}"
            )
        won = bool(success)
        cfg = self.config
        self._fold(key, won)
        if realized_net_quote is not None:
            self._pnl[key] = self._pnl.get(key, 0.0) + float(realized_net_quote)
        self._samples_x.append(row)
        self._samples_y.append(float(won))
        self._new_samples += 1
        if self._new_samples >= cfg.retrain_after_n_samples and cfg.enable_ml_scoring:
            return self.retrain()
        return False

    def _fold(self, key: str, won: bool) -> None:
        alpha = self.config.route_ema_alpha
        ema = (1.0 - alpha) * self._ema.get(key, self.config.route_prior_success) + alpha * won
        count = self._count.get(key, 0) + 1
        self._ema[key], self._count[key] = ema, count
        self._wins[key] = self._wins.get(key, 0) + int(won)
        i = self._ids.get(key)
        if i is None:
            i = self._ids[key] = len(self._ids)
            if i >= self._ema_arr.size:
                self._ema_arr = np.resize(self._ema_arr, 2 * self._ema_arr.size)
                self._count_arr = np.resize(self._count_arr, 2 * self._count_arr.size)
        self._ema_arr[i], self._count_arr[i] = ema, count

    def _feature_rows(self, batch: CandidateBatch, ema: FloatArray) -> FloatArray:
        regime = self._regime
        return route_feature_matrix(
            batch.edge_bps,
            batch.notional_quote,
            batch.gas_cost_quote,
            batch.flash_fee_quote,
            batch.slippage_quote,
            batch.liquidity_quote,
            batch.n_hops,
            batch.age_blocks,
            regime.volatility,
            regime.liquidity,
            regime.gas_percentile,
            ema,
        )

    def _assess_features(self, candidate: AICandidate) -> FloatArray:
        batch = CandidateBatch.from_candidates([candidate])
        ema = np.array([self._ema.get(candidate.route_key, self.config.route_prior_success)])
        return np.asarray(self._feature_rows(batch, ema)[0], dtype=np.float64)

    def retrain(self) -> bool:
        """Refit the model on the stored outcomes, if there are enough of both kinds.

        Returns
        -------
        bool
            Whether the model was refitted (needs ``min_training_samples`` samples
            holding successes and failures).
        """
        self._new_samples = 0
        y = np.fromiter(self._samples_y, dtype=np.float64, count=len(self._samples_y))
        if y.size < self.config.min_training_samples or np.unique(y).size < 2:
            return False
        x = np.array(self._samples_x, dtype=np.float64)
        seed = int(self._seeds.spawn(1)[0].generate_state(1)[0])
        self._predictor.fit(x, y, seed=seed)
        self.n_retrains += 1
        return True

    def warm_start(self, table: pl.DataFrame) -> None:
        """Replay past outcomes: route EMAs in block order, and stored training samples.

        Parameters
        ----------
        table
            A training table (:func:`arbkit.features.build_training_table`) with
            ``block``, ``route_key``, ``success`` and the 12 feature columns.

        Raises
        ------
        DataError
            If a column is missing.
        """
        needed = ("block", "route_key", "success", *ROUTE_FEATURE_NAMES)
        missing = [c for c in needed if c not in table.columns]
        if missing:
            raise DataError(f"warm_start: table lacks column(s) {missing}")
        ordered = table.with_row_index("_row").sort("block", "_row")
        success = ordered["success"].cast(pl.Float64).to_numpy()
        for key, won in zip(ordered["route_key"].to_list(), success, strict=True):
            self._fold(key, bool(won))
        x = ordered.select(ROUTE_FEATURE_NAMES).cast(pl.Float64).fill_null(np.nan).to_numpy()
        self._samples_x.extend(map(tuple, x.tolist()))
        self._samples_y.extend(success.tolist())


def _rank(rank_by: str, score: FloatArray, ev_quote: FloatArray) -> FloatArray:
    if rank_by == "expected_value":
        return ev_quote
    if rank_by == "score":
        return score
    return np.asarray(score * ev_quote, dtype=np.float64)


def _scaled_amount(amount_in: int, fraction: float) -> int:
    if fraction >= 1.0:
        return amount_in
    # exact integer scaling: floor(amount_in * fraction) without float rounding of amount_in
    num, den = math.floor(fraction * 2**53), 2**53
    return max(amount_in * num // den, 1)
