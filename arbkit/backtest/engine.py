"""Backtest: a policy driven through the one replay, with accounting and learning hooks.

:class:`Simulator` replays a :class:`~arbkit.market.history.MarketHistory` block by block
through :class:`arbkit.execution.Replay`, the one replay shared with the Gymnasium env,
the decider's comparison and the dry-run (it decides which candidates a policy sees,
which gaps are still free, the edges' age and when each outcome becomes known):

1. **Candidates.** The replay's candidates of the block that the gap rule leaves free.
2. **Policy.** The policy sees them, the regime features at ``t``
   (:func:`arbkit.features.regime.build_regime_features`, causal) and its portfolio, and
   returns orders: a candidate to execute (optionally resized, with its own tip and
   coinbase bribe) or a spot swap. At most one candidate trade per block.
3. **Execution.** The one execution model decides what happens, on the candidate's own
   pair of uniforms from the run's seed (common random numbers).
4. **Accounting.** Realised profit, gas, flash fees and bribes in the quote token at the
   including block, token balances for spot trades, an equity curve marked at every
   block. Flash-loan trades need no capital; an inventory trade (``cex_dex``) is scaled
   down so that its notional never exceeds the portfolio's equity.
5. **Learning hooks.** A trade's outcome is revealed to the policy when the replay says
   it is known (its including block, or its deadline): ``on_outcome``.

A policy gets no future data by accident: ``on_start`` receives a :class:`RunSetup`
(the options and the history's size), and only a policy that declares
``foresight = True`` (the :class:`~arbkit.backtest.ForesightPolicy`) is handed the
replay and the run's draws, through ``on_foresight``.
"""

from __future__ import annotations

import asyncio
import math
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from arbkit.backtest.config import BacktestConfig
from arbkit.backtest.policies import as_backtest_policy
from arbkit.backtest.protocol import BacktestPolicy, BlockView, Order, PortfolioView, RunSetup
from arbkit.errors import ArbkitError, ConfigError, DataError
from arbkit.execution import Outcome, Replay
from arbkit.market.history import MarketHistory
from arbkit.opportunities import ScanConfig

__all__ = [
    "SKIP_ORDER",
    "BacktestPolicy",
    "BacktestResult",
    "BlockView",
    "ExecuteHook",
    "Order",
    "PortfolioView",
    "ReplayRun",
    "Simulator",
    "SpotGate",
    "prepare_candidates",
]

FloatArray = npt.NDArray[np.float64]


_REPLAY_CACHE: dict[tuple[int, str], tuple[MarketHistory, Replay]] = {}


def get_replay(history: MarketHistory, config: BacktestConfig | None = None) -> Replay:
    """Return the :class:`Replay` of ``history`` under ``config`` (cached per history object)."""
    cfg = config or BacktestConfig()
    key = (
        id(history),
        "|".join(
            (
                cfg.scan.model_dump_json(),
                cfg.execution.model_dump_json(),
                repr(cfg.latency_ms),
                repr(cfg.priority_fee_wei),
                repr(cfg.max_candidates),
            )
        ),
    )
    hit = _REPLAY_CACHE.get(key)
    if hit is not None and hit[0] is history:
        return hit[1]
    replay = Replay(
        history,
        execution=cfg.execution,
        scan=cfg.scan,
        latency_ms=cfg.latency_ms,
        priority_fee_wei=cfg.priority_fee_wei,
        max_candidates=cfg.max_candidates,
    )
    if len(_REPLAY_CACHE) > 8:
        _REPLAY_CACHE.clear()
    _REPLAY_CACHE[key] = (history, replay)
    return replay


def prepare_candidates(history: MarketHistory, scan: ScanConfig | None = None) -> pl.DataFrame:
    """Return the replay's candidates of every block (``cand_id``, ``age_blocks``, ``gap_id``)."""
    cfg = BacktestConfig() if scan is None else BacktestConfig(scan=scan)
    return get_replay(history, cfg).candidates


class BacktestResult(Mapping[str, Any]):
    """Results of a backtest: a mapping of metrics plus the trades and the equity curve.

    The keys and their definitions are those of
    :func:`arbkit.backtest.analytics.compute_metrics` (``net_profit`` = arbitrage + spot +
    inventory mark-to-market; ``win_rate`` and ``trade_count`` over every trade, with the
    arbitrage and spot parts beside them; ``sharpe`` None with ``sharpe_note`` when no
    horizon has two returns), plus ``policy``, ``n_blocks`` and ``seed``.
    """

    def __init__(
        self,
        metrics: dict[str, Any],
        trades: pl.DataFrame,
        equity: pl.DataFrame,
        extras: dict[str, Any] | None = None,
    ) -> None:
        self._metrics = metrics
        self.trades = trades
        self.equity = equity
        self.extras: dict[str, Any] = extras or {}

    def __getitem__(self, key: str) -> Any:
        return self._metrics[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._metrics)

    def __len__(self) -> int:
        return len(self._metrics)

    def __repr__(self) -> str:
        keys = ("policy", "net_profit", "sharpe", "win_rate", "trade_count", "max_drawdown")
        shown = ", ".join(f"{k}={self._metrics.get(k)!r}" for k in keys)
        return f"BacktestResult({shown})"

    def to_dict(self) -> dict[str, Any]:
        """Return the metrics as a plain dict (JSON-serialisable)."""
        return dict(self._metrics)


@dataclass
class _Pending:
    order: Order
    outcome: Outcome
    view: BlockView
    reveal_t: int


@dataclass
class _State:
    cash_quote: float = 0.0  # P&L of arbitrage trades and gas, in quote
    units: dict[str, int] = field(default_factory=dict)  # spot token balances
    pending: list[_Pending] = field(default_factory=list)


class Simulator:
    """Replay a market history through a policy, the one replay and the execution model.

    Parameters
    ----------
    policy
        A :class:`BacktestPolicy`, an :class:`arbkit.decider.AdvancedAIDecider` or an
        :class:`arbkit.rl.RLArbitragePolicy` (wrapped in their adapters).
    data
        The market history (or a folder written by ``MarketHistory.save``).
    config
        Run options.
    candidates
        A candidates table to use instead of scanning.
    replay
        A :class:`Replay` of ``data`` built with the same options (shared between runs).
    record_executions
        A folder of the execution log (:mod:`arbkit.decider.history`): after each run,
        its executed candidates, their features and realised outcomes are written there
        as ``backtest-<policy>-seed<seed>-<UTC time>.parquet`` (the path is in
        ``result.extras["executions_path"]``). ``None`` (default): nothing is written.

    Examples
    --------
    >>> results = await Simulator(policy=policy, data=history).run()  # doctest: +SKIP
    >>> results["sharpe"], results["win_rate"]  # doctest: +SKIP
    """

    def __init__(
        self,
        policy: Any,
        data: MarketHistory | str,
        config: BacktestConfig | None = None,
        *,
        candidates: pl.DataFrame | None = None,
        replay: Replay | None = None,
        record_executions: str | os.PathLike[str] | None = None,
    ) -> None:
        self.config = config or BacktestConfig()
        self.record_executions = record_executions
        self.history = data if isinstance(data, MarketHistory) else MarketHistory.load(data)
        if self.history.n_blocks < 2:
            raise DataError("Simulator: the history needs at least two blocks")
        self.policy: BacktestPolicy = as_backtest_policy(policy)
        cfg = self.config
        if replay is not None:
            if replay.history is not self.history:
                raise ArbkitError("Simulator: the replay was built on another history")
            self.replay = replay
        elif candidates is not None:
            self.replay = Replay(
                self.history,
                execution=cfg.execution,
                scan=cfg.scan,
                latency_ms=cfg.latency_ms,
                priority_fee_wei=cfg.priority_fee_wei,
                candidates=candidates,
                max_candidates=cfg.max_candidates,
            )
        else:
            self.replay = get_replay(self.history, cfg)
        self.model = self.replay.model

    @property
    def candidates(self) -> pl.DataFrame:
        """The replay's candidates of every block."""
        return self.replay.candidates

    async def run(self) -> BacktestResult:
        """Run the backtest without blocking the event loop (in a worker thread)."""
        return await asyncio.to_thread(self.run_sync)

    def run_sync(self) -> BacktestResult:
        """Run the backtest and return its results."""
        run = self.start()
        for t in range(self.history.n_blocks):
            run.step(t)
        return run.finish()

    def start(
        self, execute: ExecuteHook | None = None, *, spot_gate: SpotGate | None = None
    ) -> ReplayRun:
        """Start a run to be driven block by block (what :meth:`run_sync` does in one go).

        Parameters
        ----------
        execute
            Called for each candidate order the policy sends, before the execution
            model: ``execute(cand_id, order, view)`` returns the trade's
            :class:`Outcome` when something else decides it (a chain, in the live
            runner), :data:`SKIP_ORDER` when the order was not sent, or ``None`` to let
            the one execution model decide, as in a backtest.
        spot_gate
            Called for each spot order before it is filled: ``spot_gate(order, view)``
            returns False to refuse it (the live runner's caps); the fill itself is the
            one replay's either way.
        """
        return ReplayRun(self, execute, spot_gate)

    # -- helpers -------------------------------------------------------------------------
    def _spot_pool(self, native: str) -> str | None:
        """Return the replay's spot pool of the native token, None if the history has none."""
        try:
            return self.replay.spot_pool(native)
        except ConfigError:
            return None

    def _cap_inventory(self, cid: int, order: Order, equity_quote: float) -> Order:
        """Scale an inventory (cex_dex) trade down to what the portfolio can pay for."""
        row = self.candidates.row(cid, named=True)
        if row["kind"] != "cex_dex":
            return order
        amount = row["amount_in"] if order.amount_in is None else int(order.amount_in)
        notional = float(row["notional_quote"]) * amount / max(int(row["amount_in"]), 1)
        if notional <= equity_quote or notional <= 0:
            return order
        capped = int(amount * max(equity_quote, 0.0) / notional)
        return Order(
            cand_id=order.cand_id,
            amount_in=capped,
            priority_fee_wei=order.priority_fee_wei,
            bribe_wei=order.bribe_wei,
            tag=order.tag,
        )

    def _execute(
        self, cid: int, order: Order, draws: FloatArray, baseline: pl.DataFrame
    ) -> Outcome:
        replay = self.replay
        row = self.candidates.row(cid, named=True)
        amount = row["amount_in"] if order.amount_in is None else int(order.amount_in)
        tip = replay.priority_fee_wei
        o_tip = tip if order.priority_fee_wei is None else int(order.priority_fee_wei)
        bribe = replay.default_bribe_wei(cid)
        o_bribe = bribe if order.bribe_wei is None else int(order.bribe_wei)
        if amount == row["amount_in"] and o_tip == tip and o_bribe == bribe:
            # the run's default order on these draws is already known
            return outcome_from_row(baseline.row(cid, named=True))
        try:
            return replay.execute(
                cid,
                draws,
                amount_in=amount,
                priority_fee_wei=o_tip,
                bribe_wei=o_bribe,
            )
        except DataError as exc:
            raise ArbkitError(f"{self.policy.name}: {exc}") from None

    def _record(self, cid: int, order: Order, o: Outcome, policy: str) -> dict[str, Any]:
        row = self.candidates.row(cid, named=True)
        return {
            "policy": policy,
            "block": o.block,
            "cand_id": cid,
            "kind": o.kind,
            "route": "|".join(o.route),
            "symbol": row["symbol"],
            "amount_in": float(o.amount_in),
            "expected_net_quote": row["net_profit_quote"],
            "included_block": o.included_block,
            "success": o.success,
            "reason": o.reason,
            "realized_profit_quote": o.realized_profit_quote,
            "gas_paid_quote": o.gas_paid_quote,
            "bribe_paid_quote": (o.realized_profit_quote - o.gas_paid_quote) - o.net_profit_quote,
            "flash_fee_quote": self._flash_fee_quote(o),
            "net_profit_quote": o.net_profit_quote,
        }

    def _flash_fee_quote(self, o: Outcome) -> float:
        if not o.flash_fee or o.included_block is None:
            return 0.0
        i = o.included_block - int(self.history.block_numbers[0])
        return float(o.flash_fee) * float(self.model.unit_price(o.start_token)[i])

    def _spot(
        self,
        t: int,
        order: Order,
        state: _State,
        pool: str | None,
        native: str,
        quote: str,
        unit_delta: dict[str, FloatArray],
    ) -> dict[str, Any] | None:
        """Fill a spot order as the one replay does (:mod:`arbkit.execution.spot`).

        One lot worth ``amount_quote`` at block ``t``: a buy takes exactly the lot for
        ``getAmountIn(lot)`` of quote (refused when the cash is short), a sell gives exactly
        the lot (refused when the holding is smaller: long only, never resized).
        """
        if pool is None:
            raise ArbkitError(f"no {native}/{quote} pool for spot orders")
        h = self.history
        n = h.n_blocks
        if t + 1 >= n or order.amount_quote <= 0:
            return None
        try:
            fill = self.replay.spot_fills(order.amount_quote, [t], pool=pool, base=native)
        except ConfigError as exc:
            raise ArbkitError(f"{self.policy.name}: {exc}") from None
        lot = fill.lot_units[0]
        if order.side == "buy":
            paid = fill.buy_amount_in[0]
            if not bool(fill.buy_ok[0]) or paid > state.units.get(quote, 0):
                return None
            token_in, token_out, amount, out = quote, native, paid, lot
            pnl, gas_q = float(fill.buy_pnl_quote[0]), float(fill.buy_gas_quote[0])
        else:
            if not bool(fill.sell_ok[0]) or lot > state.units.get(native, 0):
                return None
            token_in, token_out, amount, out = native, quote, lot, fill.sell_amount_out[0]
            pnl, gas_q = float(fill.sell_pnl_quote[0]), float(fill.sell_gas_quote[0])
        state.units[token_in] = state.units.get(token_in, 0) - amount
        state.units[token_out] = state.units.get(token_out, 0) + out
        for tok, delta in ((token_in, -amount), (token_out, out)):
            arr = unit_delta.setdefault(tok, np.zeros(n))
            arr[t + 1] += float(delta)
        state.cash_quote -= gas_q
        return {
            "policy": self.policy.name,
            "block": int(h.block_numbers[t]),
            "cand_id": None,
            "kind": f"spot_{order.side}",
            "route": pool,
            "symbol": f"{native}/{quote}",
            "amount_in": float(amount),
            "expected_net_quote": 0.0,
            "included_block": int(h.block_numbers[t + 1]),
            "success": True,
            "reason": "ok",
            "realized_profit_quote": pnl,
            "gas_paid_quote": gas_q,
            "bribe_paid_quote": 0.0,
            "flash_fee_quote": 0.0,
            "net_profit_quote": pnl - gas_q,
        }

    def _equity_curve(
        self,
        initial: float,
        pnl_delta: FloatArray,
        unit_delta: dict[str, FloatArray],
        unit_native: FloatArray,
        unit_quote: FloatArray,
        native: str,
        quote: str,
    ) -> pl.DataFrame:
        h = self.history
        dec = self.config.scan.token_decimals
        quote_units0 = float(int(initial * 10 ** dec[quote]))
        q_units = quote_units0 + np.cumsum(unit_delta.get(quote, np.zeros(h.n_blocks)))
        n_units = np.cumsum(unit_delta.get(native, np.zeros(h.n_blocks)))
        nat_price = np.nan_to_num(unit_native, nan=0.0)
        equity = np.cumsum(pnl_delta) + q_units * unit_quote + n_units * nat_price
        return pl.DataFrame(
            {
                "block": h.block_numbers,
                "timestamp": h.blocks["timestamp"],
                "equity_quote": equity,
            }
        )


class SkipOrder:
    """Type of :data:`SKIP_ORDER`."""

    def __repr__(self) -> str:
        return "SKIP_ORDER"


SKIP_ORDER = SkipOrder()
"""Returned by an execute hook for an order that was not sent (a safety cap refused it)."""

ExecuteHook = Callable[[int, Order, BlockView], "Outcome | SkipOrder | None"]
"""``execute(cand_id, order, view)`` -> an outcome, :data:`SKIP_ORDER` or ``None``.

See :meth:`Simulator.start`."""

SpotGate = Callable[[Order, BlockView], bool]
"""``spot_gate(order, view)`` -> whether a spot order may be filled (:meth:`Simulator.start`)."""


class ReplayRun:
    """One run of a policy through the one replay, driven block by block.

    :meth:`Simulator.run_sync` steps it over every block; the live runner steps it as
    blocks arrive, so a dry-run pays exactly what the backtest pays for the same orders.
    Blocks must be stepped in order, each once; :meth:`finish` reveals what is still
    pending and returns the results.

    Parameters
    ----------
    sim
        The simulator (policy, history, replay and options).
    execute, spot_gate
        See :meth:`Simulator.start`.

    Attributes
    ----------
    records
        One dict per trade so far (the rows of ``BacktestResult.trades``).
    """

    def __init__(
        self,
        sim: Simulator,
        execute: ExecuteHook | None = None,
        spot_gate: SpotGate | None = None,
    ) -> None:
        from arbkit.features.regime import build_regime_features

        self.sim = sim
        self.execute = execute
        self.spot_gate = spot_gate
        cfg = sim.config
        h = sim.history
        replay = sim.replay
        model = sim.model
        self.n = h.n_blocks
        self.cands = sim.candidates
        self.draws = replay.draws(cfg.seed)
        self.baseline = _default_outcomes(replay, cfg.seed, self.draws)
        regime = build_regime_features(h)
        self.regime_cols = {c: regime[c].to_list() for c in regime.columns}
        self.blocks = h.block_numbers
        self.timestamps = h.blocks["timestamp"].to_list()
        self.native = cfg.scan.native_token
        self.quote = cfg.scan.quote_token
        self.unit_native = model.unit_price(self.native)
        self.unit_quote = model.unit_price(self.quote)
        eth0 = float(self.unit_native[0] * 10 ** cfg.scan.token_decimals[self.native])
        if not math.isfinite(eth0) or eth0 <= 0:
            raise DataError("Simulator: no ETH price at the first block")
        self.initial = cfg.portfolio_value_eth * eth0
        self.state = _State()
        q_dec = cfg.scan.token_decimals[self.quote]
        self.state.units[self.quote] = int(self.initial * 10**q_dec)
        self.spot_pool = sim._spot_pool(self.native)
        self.policy = sim.policy
        self.every = bool(self.policy.every_block)
        self.ledger = replay.ledger()
        self.policy.on_start(
            RunSetup(
                history=h,
                candidates=self.cands,
                n_blocks=self.n,
                first_block=int(self.blocks[0]),
                seed=cfg.seed,
                scan=cfg.scan,
                execution=cfg.execution,
                latency_ms=cfg.latency_ms,
                priority_fee_wei=replay.priority_fee_wei,
                max_candidates=replay.max_candidates,
            )
        )
        if self.policy.foresight:
            # only the foresight policy is handed the run's candidates and luck in advance
            self.policy.on_foresight(replay, self.draws)  # type: ignore[attr-defined]
        self.records: list[dict[str, Any]] = []
        # equity deltas by block position (arbitrage P&L lands at the including block)
        self.pnl_delta = np.zeros(self.n)
        self.unit_delta: dict[str, FloatArray] = {}
        self.peak = self.initial
        self.progress = _progress(self.n, cfg.progress, self.policy.name)
        self.next_t = 0
        self.last_view: BlockView | None = None

    def _value_at(self, t: int) -> tuple[float, float]:
        nat = self.state.units.get(self.native, 0)
        nat_q = float(nat) * float(self.unit_native[t])
        q = float(self.state.units.get(self.quote, 0)) * float(self.unit_quote[t])
        return nat_q, q

    def equity_at(self, t: int) -> float:
        """Return the portfolio's equity at block position ``t``, in quote."""
        nat_q, q_q = self._value_at(t)
        return self.state.cash_quote + nat_q + q_q

    def step(self, t: int) -> list[dict[str, Any]]:
        """Run block position ``t``: reveal due outcomes, offer the free candidates, execute.

        Returns
        -------
        list of dict
            The trades sent at this block (rows of ``BacktestResult.trades``).

        Raises
        ------
        ArbkitError
            If ``t`` is not the next block, or the policy orders a candidate it was not
            offered.
        """
        if t != self.next_t:
            raise ArbkitError(f"ReplayRun.step: expected block position {self.next_t}, got {t}")
        self.next_t += 1
        sim, state, policy, replay = self.sim, self.state, self.policy, self.sim.replay
        cfg = sim.config
        if self.progress is not None and t % 2_000 == 0:
            self.progress(t)
        # reveal the outcomes known at this block
        if state.pending:
            due = [d for d in state.pending if d.reveal_t <= t]
            if due:
                state.pending = [d for d in state.pending if d.reveal_t > t]
                for d in due:
                    state.cash_quote += d.outcome.net_profit_quote
                    policy.on_outcome(d.order, d.outcome, d.view)
        starts = replay.starts
        lo, hi = int(starts[t]), int(starts[t + 1])
        allowed = self.ledger.free(t) if hi > lo else []
        if not allowed and not self.every:
            return []
        nat_q, q_q = self._value_at(t)
        equity = state.cash_quote + nat_q + q_q
        self.peak = max(self.peak, equity)
        cands = self.cands
        view = BlockView(
            t=t,
            block=int(self.blocks[t]),
            timestamp=int(self.timestamps[t]),
            candidates=(
                cands.slice(lo, hi - lo)
                if len(allowed) == hi - lo
                else (cands[allowed] if allowed else cands.clear())
            ),
            regime={k: v[t] for k, v in self.regime_cols.items()},
            portfolio=PortfolioView(
                equity_quote=equity,
                initial_equity_quote=self.initial,
                cash_quote=state.cash_quote + q_q,
                native_units=state.units.get(self.native, 0),
                native_value_quote=nat_q,
                eth_price_quote=float(
                    self.unit_native[t] * 10 ** cfg.scan.token_decimals[self.native]
                ),
                pnl_quote=equity - self.initial,
                drawdown=0.0 if self.peak <= 0 else max(0.0, 1.0 - equity / self.peak),
            ),
        )
        self.last_view = view
        if equity <= 0:
            return []  # ruined: nothing left to trade with
        orders = policy.on_block(view)
        flash_done = False
        sent: list[dict[str, Any]] = []
        for order in orders:
            if order.cand_id is not None:
                cid = int(order.cand_id)
                if cid not in allowed:
                    raise ArbkitError(
                        f"{policy.name}: order for candidate {cid} not offered at block "
                        f"{int(self.blocks[t])}"
                    )
                if flash_done:
                    continue  # one candidate trade per block
                flash_done = True
                order = sim._cap_inventory(cid, order, view.portfolio.equity_quote)
                hooked = self.execute(cid, order, view) if self.execute is not None else None
                if isinstance(hooked, SkipOrder):
                    continue  # not sent: no trade, the gap stays open
                outcome = (
                    hooked
                    if hooked is not None
                    else sim._execute(cid, order, self.draws, self.baseline)
                )
                record = sim._record(cid, order, outcome, policy.name)
                self.records.append(record)
                sent.append(record)
                inc = outcome.included_block
                reveal = replay.reveal_position(t, inc)
                if inc is not None:
                    self.pnl_delta[reveal] += outcome.net_profit_quote
                self.ledger.take(cid, reveal, inc is not None)
                state.pending.append(_Pending(order, outcome, view, reveal))
            elif order.side in ("buy", "sell"):
                if self.spot_gate is not None and not self.spot_gate(order, view):
                    continue
                spot = sim._spot(
                    t, order, state, self.spot_pool, self.native, self.quote, self.unit_delta
                )
                if spot is not None:
                    self.records.append(spot)
                    sent.append(spot)
                    self.pnl_delta[min(t + 1, self.n - 1)] -= spot["gas_paid_quote"]
            elif order.side is not None:
                raise ArbkitError(f"{policy.name}: unknown order side {order.side!r}")
        return sent

    def finish(self) -> BacktestResult:
        """Reveal what is still pending and return the results of the blocks stepped."""
        sim, state, policy, replay = self.sim, self.state, self.policy, self.sim.replay
        cfg = sim.config
        if self.progress is not None:
            self.progress(self.n)
        # outcomes known only after the last block are revealed at the end
        for d in state.pending:
            policy.on_outcome(d.order, d.outcome, d.view)
        state.pending = []
        curve = sim._equity_curve(
            self.initial,
            self.pnl_delta,
            self.unit_delta,
            self.unit_native,
            self.unit_quote,
            self.native,
            self.quote,
        )
        if self.next_t < self.n:
            curve = curve.head(self.next_t)
        from arbkit.backtest.analytics import compute_metrics

        trades = _trades_frame(self.records)
        metrics = compute_metrics(trades, curve, blocks_per_day=cfg.blocks_per_day)
        metrics.update({"policy": policy.name, "n_blocks": self.next_t, "seed": cfg.seed})
        extras: dict[str, Any] = {}
        if policy.upper_bound_quote is not None:
            extras["upper_bound"] = float(policy.upper_bound_quote)
        pairs = policy.calibration
        if pairs:
            # the model's predicted success probability and what happened, per trade
            extras["calibration"] = list(pairs)
        if sim.record_executions is not None:
            from arbkit.decider.history import executions_table, new_run_id, record_executions

            log = record_executions(
                sim.record_executions,
                executions_table(replay, trades),
                source="backtest",
                run_id=new_run_id("backtest", policy.name, f"seed{cfg.seed}"),
            )
            extras["executions_path"] = str(log)
        return BacktestResult(metrics, trades, curve, extras)


def _trades_frame(records: list[dict[str, Any]]) -> pl.DataFrame:
    schema = {
        "policy": pl.String,
        "block": pl.Int64,
        "cand_id": pl.Int64,
        "kind": pl.String,
        "route": pl.String,
        "symbol": pl.String,
        "amount_in": pl.Float64,
        "expected_net_quote": pl.Float64,
        "included_block": pl.Int64,
        "success": pl.Boolean,
        "reason": pl.String,
        "realized_profit_quote": pl.Float64,
        "gas_paid_quote": pl.Float64,
        "bribe_paid_quote": pl.Float64,
        "flash_fee_quote": pl.Float64,
        "net_profit_quote": pl.Float64,
    }
    if not records:
        return pl.DataFrame(schema=schema)
    return pl.DataFrame(records, schema=schema)


def _progress(n: int, enabled: bool, name: str) -> Any:
    if not enabled:
        return None
    from rich.progress import Progress

    bar = Progress(transient=True)
    task = bar.add_task(f"backtest {name}", total=n)
    bar.start()

    def update(t: int) -> None:
        bar.update(task, completed=t)
        if t >= n:
            bar.stop()

    return update


_BASELINE_CACHE: dict[tuple[int, int], tuple[Replay, pl.DataFrame]] = {}


def _default_outcomes(replay: Replay, seed: int, draws: FloatArray) -> pl.DataFrame:
    """Outcomes of every candidate's default order on the run's draws (cached per replay, seed)."""
    key = (id(replay), seed)
    hit = _BASELINE_CACHE.get(key)
    if hit is not None and hit[0] is replay:
        return hit[1]
    out = replay.default_outcomes(draws)
    if len(_BASELINE_CACHE) > 16:
        _BASELINE_CACHE.clear()
    _BASELINE_CACHE[key] = (replay, out)
    return out


def outcome_from_row(row: Mapping[str, Any]) -> Outcome:
    """Return an :class:`Outcome` from one row of ``ExecutionModel.execute_batch``'s table."""
    fields: dict[str, Any] = {k: (tuple(v) if k == "route" else v) for k, v in row.items()}
    return Outcome(**fields)
