"""Policies the backtest can replay: rule baseline, oracle, random, decider and RL adapters."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import polars as pl

from arbkit.backtest.protocol import BacktestPolicy, BlockView, Order, PolicyBase, RunSetup
from arbkit.errors import ArbkitError, ConfigError
from arbkit.execution import ExecutionModel, Outcome, Replay

if TYPE_CHECKING:
    from arbkit.decider import AdvancedAIDecider

__all__ = [
    "ActorPolicy",
    "DeciderPolicy",
    "ForesightPolicy",
    "RLPolicyAdapter",
    "RandomPolicy",
    "RuleBaseline",
    "as_backtest_policy",
    "foresight_values",
    "upper_bound",
]


class RuleBaseline(PolicyBase):
    """Trade the block's best candidate when its expected net profit clears a threshold.

    The plain edge-threshold rule: expected net profit after gas above ``min_net_quote``
    and edge above ``min_edge_bps``. Two ways to bid, as searchers do:

    - ``priority_fee_wei``: a fixed tip per gas instead of the run's (its extra gas
      cost is taken off the expected net before the threshold);
    - ``bid_share``: a coinbase transfer of that share of the expected net profit.

    :func:`arbkit.backtest.compare.tune_rule` tunes them on a training history.
    """

    every_block = False

    def __init__(
        self,
        min_net_quote: float = 0.0,
        min_edge_bps: float = 0.0,
        *,
        priority_fee_wei: int | None = None,
        bid_share: float = 0.0,
    ) -> None:
        super().__init__()
        if priority_fee_wei is not None and priority_fee_wei < 0:
            raise ConfigError(f"RuleBaseline: priority_fee_wei={priority_fee_wei} must be >= 0")
        if not 0.0 <= bid_share < 1.0:
            raise ConfigError(f"RuleBaseline: bid_share={bid_share} must lie in [0, 1)")
        self.name = "rule"
        self.min_net_quote = float(min_net_quote)
        self.min_edge_bps = float(min_edge_bps)
        self.priority_fee_wei = priority_fee_wei
        self.bid_share = float(bid_share)
        self._run_tip = 0

    def on_start(self, setup: RunSetup) -> None:
        """Remember the run's tip (the candidates' gas is priced at it)."""
        self._run_tip = int(setup.priority_fee_wei)

    def on_block(self, view: BlockView) -> Sequence[Order]:
        """Return the best candidate if it clears the thresholds, with the rule's bid."""
        c = view.candidates  # best expected net profit first
        tip = self.priority_fee_wei
        price = float(view.regime.get("eth_price_quote") or math.nan)
        bidding = tip is not None or self.bid_share > 0
        if bidding and not (math.isfinite(price) and price > 0):
            return ()  # no ETH price: the bid cannot be valued
        extra = 0 if tip is None else tip - self._run_tip
        for cid, net, edge, gas in zip(
            c["cand_id"].to_list(),
            c["net_profit_quote"].to_list(),
            c["edge_bps"].to_list(),
            c["gas_units"].to_list(),
            strict=True,
        ):
            if extra:
                net -= extra * gas * price / 1e18
            if net > self.min_net_quote and edge >= self.min_edge_bps:
                bribe = 0
                if self.bid_share > 0:
                    bribe = math.floor(self.bid_share * net / price * 1e9) * 10**9
                return (Order(cand_id=int(cid), priority_fee_wei=tip, bribe_wei=bribe),)
        return ()

    def on_outcome(self, order: Order, outcome: Outcome, view: BlockView) -> None:
        """Do nothing: the rule does not learn."""


class RandomPolicy(PolicyBase):
    """Trade a uniformly random candidate with probability ``p_trade`` (a floor for skill)."""

    every_block = False

    def __init__(self, p_trade: float = 0.5, seed: int = 0) -> None:
        super().__init__()
        self.name = "random"
        self.p_trade = float(p_trade)
        self._rng = np.random.default_rng(np.random.SeedSequence(seed))

    def on_block(self, view: BlockView) -> Sequence[Order]:
        """Return a random candidate or nothing."""
        if self._rng.random() >= self.p_trade:
            return ()
        i = int(self._rng.integers(view.candidates.height))
        return (Order(cand_id=int(view.candidates["cand_id"][i])),)

    def on_outcome(self, order: Order, outcome: Outcome, view: BlockView) -> None:
        """Do nothing."""


class ForesightPolicy(PolicyBase):
    """Perfect foresight under the gap rule, and the upper bound of every policy.

    Only this policy is handed the run's candidates and draws in advance
    (``on_foresight``); ``values`` may hand it :func:`foresight_values` of the same run
    when they are already computed. For each candidate it evaluates the best net profit any order on
    it could realise: the full size, no tip, no rivals, certain inclusion, at the best of
    every inclusion delay (0 to ``max_delay_blocks``), on the run's draws. At each block it
    takes the free candidate (the same gap rule as every policy) with the best such value,
    if positive; its trades are then executed like any other policy's (rivals included).

    ``upper_bound_quote`` bounds the realised net of every policy on the same run: a
    policy sends at most one candidate trade per block, and under the gap rule at most one
    of its trades per gap is included (an expired trade pays nothing), so its net is at
    most the sum, over blocks, of the block's best foresight value, and at most the same
    sum over gaps; the bound is the smaller of the two.
    """

    every_block = False
    foresight = True

    def __init__(self, values: npt.NDArray[np.float64] | None = None) -> None:
        super().__init__()
        self.name = "foresight"
        self.upper_bound_quote = 0.0
        self._given = values  # foresight_values of the run, when the caller has them
        self._value: list[float] = []

    def on_foresight(self, replay: Replay, draws: npt.NDArray[np.float64]) -> None:
        """Evaluate every candidate with foresight on the run's draws (or take them given)."""
        value = self._given
        if value is None or value.shape != (replay.candidates.height,):
            value = foresight_values(replay, draws)
        self._value = value.tolist()
        self.upper_bound_quote = upper_bound(replay, value)

    def on_block(self, view: BlockView) -> Sequence[Order]:
        """Return the free candidate with the best foresight value, if it earns anything."""
        best, best_v = -1, 0.0
        for cid in view.candidates["cand_id"].to_list():
            v = self._value[cid]
            if v > best_v:
                best, best_v = int(cid), v
        return () if best < 0 else (Order(cand_id=best),)

    def on_outcome(self, order: Order, outcome: Outcome, view: BlockView) -> None:
        """Do nothing."""


def foresight_values(replay: Replay, draws: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Best net profit (quote) of each candidate with foresight: no tip, no rivals, best delay."""
    cands = replay.candidates
    if cands.height == 0:
        return np.zeros(0)
    bound_model = ExecutionModel(
        replay.history,
        replay.execution.model_copy(update={"competition": False, "certain_inclusion": True}),
        replay.scan,
    )
    block_ms = replay.execution.block_time_s * 1_000.0
    nets = []
    for delay in range(replay.max_delay + 1):
        out = bound_model.execute_batch(
            cands.with_columns(
                pl.lit(0, dtype=pl.Int64).alias("priority_fee_wei"),
                pl.lit(replay.latency_ms + delay * block_ms, dtype=pl.Float64).alias("latency_ms"),
            ),
            draws=draws,
        )
        nets.append(out["net_profit_quote"].to_numpy())
    return np.asarray(np.max(np.vstack(nets), axis=0), dtype=np.float64)


def upper_bound(replay: Replay, value: npt.NDArray[np.float64]) -> float:
    """Return the smaller of the per-block and per-gap sums of the best foresight values."""
    if value.size == 0:
        return 0.0
    frame = pl.DataFrame(
        {"block": replay.candidates["block"], "gap": replay.cand_gap, "v": np.maximum(value, 0.0)}
    )
    # fsum: exactly rounded whatever order the groups come in (group_by's is not fixed)
    per_block = math.fsum(frame.group_by("block").agg(pl.col("v").max())["v"].to_list())
    per_gap = math.fsum(frame.group_by("gap").agg(pl.col("v").max())["v"].to_list())
    return min(per_block, per_gap)


class DeciderPolicy(PolicyBase):
    """Drive an :class:`arbkit.decider.AdvancedAIDecider` in the backtest.

    At each block with candidates it updates the decider's regime from the causal regime
    features, asks ``pick_best`` for a decision (six-factor score, success model when
    enabled, Kelly size) and executes it at the decided size; the outcome is fed back
    with ``record_outcome`` when its including block is replayed. ``size_boost``
    (the AI runner's ``high_confidence_size_boost``, 0.20 in the guide) enlarges a
    high-confidence decision's size by that fraction, capped at the candidate's
    profit-maximising size.

    The order carries the decision's bid (tip and coinbase transfer). A decider without
    a win-probability model bids nothing of its own; ``bid_share`` then sends a coinbase
    transfer of that share of the decision's expected net profit (the tuned
    ``decider_without_model`` baseline).
    """

    every_block = False

    def __init__(
        self,
        decider: AdvancedAIDecider,
        name: str | None = None,
        *,
        size_boost: float = 0.0,
        bid_share: float = 0.0,
    ) -> None:
        super().__init__()
        if not 0.0 <= size_boost <= 1.0:
            raise ConfigError(f"DeciderPolicy: size_boost={size_boost} must lie in [0, 1]")
        if not 0.0 <= bid_share < 1.0:
            raise ConfigError(f"DeciderPolicy: bid_share={bid_share} must lie in [0, 1)")
        self.decider = decider
        self.size_boost = float(size_boost)
        self.bid_share = float(bid_share)
        # the held-out report of the decider's win-probability model, when it was trained
        self.win_model_report: dict[str, Any] | None = None
        self._batch: Any = None
        self.name = name or (
            "decider_with_model" if decider.config.enable_ml_scoring else "decider_without_model"
        )

    def on_start(self, setup: RunSetup) -> None:
        """Build the decider's columnar view of the run's candidates once (rows by id)."""
        from arbkit.decider import CandidateBatch

        self._batch = CandidateBatch.from_table(setup.candidates)

    def on_block(self, view: BlockView) -> Sequence[Order]:
        """Return the decider's pick for this block, sized."""
        from arbkit.decider import CandidateBatch, MarketRegime

        self.decider.update_regime(MarketRegime.from_row(view.regime))
        ids = view.candidates["cand_id"].to_numpy()
        batch = (
            self._batch.take(ids)
            if self._batch is not None
            else CandidateBatch.from_table(view.candidates)
        )
        decision = self.decider.pick_best(batch, portfolio_value_eth=view.portfolio.equity_eth)
        if decision is None:
            return ()
        own = int(view.candidates["amount_in"][decision.index])
        amount = own if decision.amount_in is None else max(0, min(int(decision.amount_in), own))
        if self.size_boost and decision.high_confidence:
            # the guide's high-confidence boost, never past the profit-maximising size
            amount = min(own, int(amount * (1.0 + self.size_boost)))
        if amount == 0:
            return ()
        bribe = decision.bribe_wei
        if self.bid_share > 0 and bribe == 0:
            price = float(view.regime.get("eth_price_quote") or math.nan)
            net = decision.net_quote
            if math.isfinite(price) and price > 0 and net > 0:
                bribe = math.floor(self.bid_share * net / price * 1e9) * 10**9
        return (
            Order(
                cand_id=int(ids[decision.index]),
                amount_in=amount,
                priority_fee_wei=decision.priority_fee_wei,
                bribe_wei=bribe,
                tag=decision,
            ),
        )

    def on_outcome(self, order: Order, outcome: Outcome, view: BlockView) -> None:
        """Feed the outcome back to the decider (route EMA, training samples)."""
        if order.tag is None:
            return
        p_model = getattr(order.tag, "p_model", None)
        if p_model is not None and np.isfinite(p_model):
            self.calibration.append((float(p_model), bool(outcome.success)))
        # the label is the one the route model and the route EMAs were trained on: success
        # (landed and cleared its minimum); a profitable P&L is a separate question
        self.decider.record_outcome(
            order.tag, outcome.success, realized_net_quote=outcome.net_profit_quote
        )


def as_backtest_policy(policy: Any) -> BacktestPolicy:
    """Wrap a decider or an RL policy in its backtest adapter; pass others through."""
    if isinstance(policy, BacktestPolicy):
        return policy
    try:
        from arbkit.decider import AdvancedAIDecider
    except ImportError:  # pragma: no cover - decider always ships with arbkit
        AdvancedAIDecider = None  # type: ignore[assignment,misc]  # noqa: N806
    if AdvancedAIDecider is not None and isinstance(policy, AdvancedAIDecider):
        return DeciderPolicy(policy)
    from arbkit.rl.policy import RLArbitragePolicy

    if isinstance(policy, RLArbitragePolicy):
        return RLPolicyAdapter(policy, name="q_learning")
    raise ArbkitError(
        f"Simulator: cannot replay a {type(policy).__name__}; pass a BacktestPolicy, an "
        "AdvancedAIDecider or an RLArbitragePolicy"
    )


class RLPolicyAdapter(PolicyBase):
    """Drive an :class:`arbkit.rl.RLArbitragePolicy` in the backtest, at every block.

    The snapshot is the Gymnasium env's causal view of the block
    (:meth:`arbkit.rl.ArbitrageEnv.snapshot_at`, the same features the policy was trained
    on); the portfolio is the backtest's. ``flash_arb`` executes the block's best
    candidate still on offer; ``buy`` and ``sell`` are spot swaps of the policy's
    ``trade_size`` (base units) on the deepest native/quote pool. With ``learn=True``
    each flash trade's outcome is fed back through ``record_experience`` when it lands
    (reward: net profit in units of ``reward_scale_quote``).
    """

    every_block = True

    def __init__(
        self,
        policy: Any,
        *,
        name: str = "q_learning",
        learn: bool = False,
        reward_scale_quote: float = 100.0,
    ) -> None:
        super().__init__()
        self.policy = policy
        self.name = name
        self.learn = learn
        self.reward_scale_quote = float(reward_scale_quote)
        self._env: Any = None
        self._symbol = ""
        self._max_dd_frac = 0.02

    def on_start(self, setup: RunSetup) -> None:
        """Build the env view of the replayed history (causal features only)."""
        from arbkit.rl import ArbitrageEnvConfig

        self._env = _feature_env(setup)
        self._symbol = str(self._env.symbol)
        self._max_dd_frac = ArbitrageEnvConfig().max_drawdown_frac

    def on_block(self, view: BlockView) -> Sequence[Order]:
        """Ask the RL policy for this block's orders and map them to backtest orders."""
        from arbkit.rl import PortfolioState

        # the edge the policy sees is the best candidate the replay leaves free, as in the env
        snapshot = dataclasses.replace(
            self._env.snapshot_at(view.t),
            edge_bps={self._symbol: _first_edge_bps(view)},
        )
        pf = view.portfolio
        price = pf.eth_price_quote
        tb = self._env.tables
        position = pf.native_units // tb.step_units * tb.step_base  # whole tokens, as the env
        peak = pf.equity_quote / (1.0 - pf.drawdown) if pf.drawdown < 1 else pf.equity_quote
        portfolio = PortfolioState(
            cash_quote=pf.cash_quote,
            positions={self._symbol: position},
            equity_quote=pf.equity_quote,
            peak_equity_quote=peak,
            max_drawdown_quote=self._max_dd_frac * pf.initial_equity_quote,
        )
        out: list[Order] = []
        for o in self.policy.decide(portfolio, snapshot):
            if o.side == "flash_arb":
                if view.candidates.height:
                    cid = int(view.candidates["cand_id"][0])
                    out.append(Order(cand_id=cid, tag=(o.state, view.t)))
            elif o.side in ("buy", "sell") and price > 0:
                out.append(Order(side=o.side, amount_quote=float(o.quantity) * price))
        return out

    def on_outcome(self, order: Order, outcome: Outcome, view: BlockView) -> None:
        """Feed a flash trade's outcome back as one transition (when ``learn``)."""
        if not self.learn or order.tag is None:
            return
        state, t = order.tag
        inc = outcome.included_block
        t_next = t + 1 if inc is None else min(inc - view.block + t, self._env.tables.n_blocks - 1)
        snap = self._env.snapshot_at(max(t_next, t))
        from arbkit.rl import PortfolioState

        next_state = self.policy.state_of(
            PortfolioState(equity_quote=view.portfolio.equity_quote), snap, self._symbol
        )
        self.policy.record_experience(
            state=state,
            action="flash_arb",
            reward=outcome.net_profit_quote / self.reward_scale_quote,
            next_state=next_state,
            done=False,
            symbol=self._symbol,
        )


def _feature_env(setup: RunSetup) -> Any:
    """Return an :class:`arbkit.rl.ArbitrageEnv` on the run's history, for its features."""
    from arbkit.rl import ArbitrageEnv, ArbitrageEnvConfig

    cfg = ArbitrageEnvConfig(
        window_blocks=1,
        warmup_blocks=0,
        flash_outcomes="batch",
        latency_ms=setup.latency_ms,
        priority_fee_wei=setup.priority_fee_wei,
        max_candidates=setup.max_candidates,
    )
    return ArbitrageEnv(
        setup.history, config=cfg, execution_config=setup.execution, scan_config=setup.scan
    )


def _first_edge_bps(view: BlockView) -> float:
    """Return the best candidate's expected net edge (bps, after gas), 0 if none."""
    c = view.candidates
    if c.height == 0:
        return 0.0
    notional = float(c["notional_quote"][0])
    return float(c["net_profit_quote"][0]) / notional * 1e4 if notional > 0 else 0.0


class ActorPolicy(PolicyBase):
    """Drive an observation -> action actor (a trained PPO or DQN model) in the backtest.

    The observation is the one :class:`arbkit.rl.ArbitrageEnv` gives at the same block:
    the causal features of the block, the edge of the best candidate the replay leaves
    free, the position (native holding over ``max_position_base``) and the health
    (``1 - drawdown / limit``). ``flash_arb`` executes that candidate; ``buy`` and
    ``sell`` are the env's spot orders, one lot worth ``trade_size_quote`` (a buy past
    ``max_position_base`` or a sell of more than the holding is not sent).

    Parameters
    ----------
    actor
        ``actor(obs) -> action`` (0 buy, 1 sell, 2 hold, 3 flash_arb).
    name
        Policy name in reports.
    """

    every_block = True

    def __init__(self, actor: Callable[[npt.NDArray[np.float32]], int], name: str) -> None:
        super().__init__()
        self.actor = actor
        self.name = name
        self._env: Any = None

    def on_start(self, setup: RunSetup) -> None:
        """Build the env's causal features of the replayed history."""
        self._env = _feature_env(setup)

    def on_block(self, view: BlockView) -> Sequence[Order]:
        """Build the observation, ask the actor, map its action to an order."""
        from arbkit.rl.state import BUY, FLASH_ARB, SELL, normalise_edge

        env = self._env
        cfg = env.config
        pf = view.portfolio
        tb = env.tables
        # the position in lot steps, checked as the env checks it (exact, long only)
        steps = float(pf.native_units // tb.step_units)
        max_steps = math.floor(cfg.max_position_base / tb.step_base)
        limit = cfg.max_drawdown_frac * pf.initial_equity_quote
        peak = pf.equity_quote / (1.0 - pf.drawdown) if pf.drawdown < 1 else pf.equity_quote
        obs = env.tables.features[view.t].copy()
        obs[0] = float(normalise_edge(_first_edge_bps(view), cfg.state_scales))
        obs[1] = steps / max_steps
        obs[2] = min(max(1.0 - (peak - pf.equity_quote) / limit, 0.0), 1.0)
        action = int(self.actor(obs))
        if action == FLASH_ARB and view.candidates.height:
            return (Order(cand_id=int(view.candidates["cand_id"][0])),)
        lot = float(tb.lot_steps[view.t])
        if action == BUY and tb.buy_ok[view.t] and steps + lot <= max_steps:
            return (Order(side="buy", amount_quote=cfg.trade_size_quote),)
        if action == SELL and tb.sell_ok[view.t] and lot <= steps:
            return (Order(side="sell", amount_quote=cfg.trade_size_quote),)
        return ()

    def on_outcome(self, order: Order, outcome: Outcome, view: BlockView) -> None:
        """Do nothing: the actor was trained beforehand."""
