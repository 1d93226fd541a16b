"""Policies the backtest can replay: rule baseline, oracle, random, decider and RL adapters."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from arbkit.backtest.engine import BacktestPolicy, BlockView, Order
from arbkit.errors import ArbkitError
from arbkit.execution import ExecutionModel, Outcome

if TYPE_CHECKING:
    from arbkit.backtest.engine import Simulator
    from arbkit.decider import AdvancedAIDecider

__all__ = [
    "DeciderPolicy",
    "OraclePolicy",
    "RandomPolicy",
    "RuleBaseline",
    "as_backtest_policy",
]


class RuleBaseline:
    """Trade the block's best candidate when its expected net profit clears a threshold.

    The plain edge-threshold rule: expected net profit after gas (the scanner's
    ``net_profit_quote``) above ``min_net_quote`` and edge above ``min_edge_bps``.
    """

    every_block = False

    def __init__(self, min_net_quote: float = 0.0, min_edge_bps: float = 0.0) -> None:
        self.name = "rule"
        self.min_net_quote = float(min_net_quote)
        self.min_edge_bps = float(min_edge_bps)

    def on_block(self, view: BlockView) -> Sequence[Order]:
        """Return the best candidate if it clears the thresholds."""
        c = view.candidates  # best expected net profit first
        for cid, net, edge in zip(
            c["cand_id"].to_list(),
            c["net_profit_quote"].to_list(),
            c["edge_bps"].to_list(),
            strict=True,
        ):
            if net > self.min_net_quote and edge >= self.min_edge_bps:
                return (Order(cand_id=int(cid)),)
        return ()

    def on_outcome(self, order: Order, outcome: Outcome, view: BlockView) -> None:
        """Do nothing: the rule does not learn."""


class RandomPolicy:
    """Trade a uniformly random candidate with probability ``p_trade`` (a floor for skill)."""

    every_block = False

    def __init__(self, p_trade: float = 0.5, seed: int = 0) -> None:
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


class OraclePolicy:
    """Perfect foresight: the upper bound of every arbitrage policy on the same history.

    At each block it takes the candidate with the best realised net profit, known in
    advance, evaluated without rivals, with certain inclusion and paying no tip, on the
    same draws as every other policy. It is not subject to the one-trade-per-gap rule,
    so it may take a gap that persists over several blocks more than once: it bounds
    what any policy could earn, it is not an achievable strategy. Its own trades are
    then executed like any other policy's (rivals included) and reported as such; the
    bound is in ``upper_bound_quote``.
    """

    every_block = False
    ignores_gap_rule = True

    def __init__(self) -> None:
        self.name = "oracle"
        self._best: dict[int, tuple[int, float]] = {}
        self.upper_bound_quote = 0.0

    def on_start(self, sim: Simulator) -> None:
        """Evaluate every candidate with foresight on the run's draws."""
        cfg = sim.config
        bound_model = ExecutionModel(
            sim.history,
            cfg.execution.model_copy(update={"competition": False, "certain_inclusion": True}),
            cfg.scan,
        )
        cands = sim.candidates
        draws = np.random.default_rng(np.random.SeedSequence(cfg.seed)).random(
            (max(cands.height, 1), 2)
        )
        out = bound_model.execute_batch(
            cands.with_columns(
                pl.lit(0, dtype=pl.Int64).alias("priority_fee_wei"),
                pl.lit(cfg.latency_ms, dtype=pl.Float64).alias("latency_ms"),
            ),
            draws=draws[: cands.height],
        )
        best = (
            pl.DataFrame({"block": cands["block"], "cand_id": cands["cand_id"]})
            .with_columns(out["net_profit_quote"].alias("net"))
            .filter(pl.col("net") > 0)
            .sort(["block", "net"], descending=[False, True])
            .unique("block", keep="first", maintain_order=True)
        )
        self._best = {
            int(b): (int(c), float(v))
            for b, c, v in best.select("block", "cand_id", "net").iter_rows()
        }
        self.upper_bound_quote = float(best["net"].sum())

    def on_block(self, view: BlockView) -> Sequence[Order]:
        """Return the block's best candidate in hindsight, if it earns anything."""
        hit = self._best.get(view.block)
        return () if hit is None else (Order(cand_id=hit[0]),)

    def on_outcome(self, order: Order, outcome: Outcome, view: BlockView) -> None:
        """Do nothing."""


class DeciderPolicy:
    """Drive an :class:`arbkit.decider.AdvancedAIDecider` in the backtest.

    At each block with candidates it updates the decider's regime from the causal regime
    features, asks ``pick_best`` for a decision (six-factor score, success model when
    enabled, Kelly size) and executes it at the decided size; the outcome is fed back
    with ``record_outcome`` when its including block is replayed.
    """

    every_block = False

    def __init__(self, decider: AdvancedAIDecider, name: str | None = None) -> None:
        self.decider = decider
        self.name = name or (
            "decider+ml" if decider.config.enable_ml_scoring else "decider (no ML)"
        )
        self._last_regime_block = -1

    def on_block(self, view: BlockView) -> Sequence[Order]:
        """Return the decider's pick for this block, sized."""
        from arbkit.decider import AICandidate, MarketRegime

        r = view.regime
        eth = view.portfolio.eth_price_quote
        try:
            regime = MarketRegime(
                volatility=float(r.get("volatility", 0.0) or 0.0),
                liquidity=float(r.get("liquidity", 0.5) or 0.5),
                gas_percentile=float(r.get("gas_percentile", 0.5) or 0.5),
                regime_label=str(r.get("regime_label", "stable") or "stable"),
                eth_price_quote=eth if eth > 0 else None,
                block=view.block,
            )
        except (TypeError, ValueError):
            regime = None
        if regime is not None:
            self.decider.update_regime(regime)
        rows = view.candidates.to_dicts()
        cands = [
            AICandidate(
                symbol=row["symbol"],
                edge_bps=float(row["edge_bps"]),
                notional_quote=float(row["notional_quote"]),
                gas_cost_quote=float(row["gas_cost_quote"]),
                flash_fee_quote=float(row["flash_fee_quote"]),
                slippage_quote=float(row["slippage_quote"]),
                route=tuple(row["route"]),
                kind=row["kind"],
                start_token=row["start_token"],
                liquidity_quote=float(row["liquidity_quote"]),
                amount_in=int(row["amount_in"]),
                block=int(row["block"]),
                eth_price_quote=eth if eth > 0 else None,
                age_blocks=int(row.get("age_blocks") or 0),
            )
            for row in rows
        ]
        decision = self.decider.pick_best(cands, portfolio_value_eth=view.portfolio.equity_eth)
        if decision is None:
            return ()
        row = rows[decision.index]
        amount = decision.amount_in
        if amount is not None:
            amount = max(0, min(int(amount), int(row["amount_in"])))
            if amount == 0:
                return ()
        return (Order(cand_id=int(row["cand_id"]), amount_in=amount, tag=decision),)

    def on_outcome(self, order: Order, outcome: Outcome, view: BlockView) -> None:
        """Feed the outcome back to the decider (route EMA, training samples)."""
        if order.tag is None:
            return
        self.decider.record_outcome(
            order.tag,
            outcome.success and outcome.net_profit_quote > 0,
            realized_net_quote=outcome.net_profit_quote,
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
    raise ArbkitError(
        f"Simulator: cannot replay a {type(policy).__name__}; pass a BacktestPolicy, an "
        "AdvancedAIDecider or an RLArbitragePolicy"
    )
