"""The live runners: one loop for the rule, the AI decider and the RL policy; dry-run first.

Every runner plays a market history on a node (:class:`arbkit.live.HistoryChain`: the
embedded anvil by default, or any ``--rpc-url``) and drives its policy through the one
replay (:class:`arbkit.backtest.ReplayRun`), block by block:

1. the chain layer replays the block's order flow as real swaps, reads every pool in one
   batch, checks the chain against the history and scans the chain's state;
2. the policy decides on the replay's free candidates (the rule: the best expected net
   profit; :class:`AIFlashArbitrageRunner`: the promoted route model through the
   advanced decider, Kelly-sized, +20 % at high confidence; :class:`LiveEngine`: an RL
   policy);
3. the order passes the safety layer (risk caps, maximum gas price, stage size cap) and
   is simulated with ``eth_call`` against the chain, next to arbkit's own prediction;
4. dry-run (the default): the one replay decides what would have happened, exactly as
   in a backtest with the same seed. With ``enable_execution``: the transaction is
   signed, sent and mined, and the receipt is the outcome;
5. outcomes are fed back when they are known (the including block): to the policy (the
   decider's ``record_outcome``), to :mod:`arbkit.metrics`, the stop-loss and the
   stage's track record; at the end the run's executions go to the execution log
   (source ``dry_run`` or ``live``).

Nothing above the chain layer branches on dry-run, live or backtest: a dry-run of a
history pays what :class:`arbkit.backtest.Simulator` pays for it (tested).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from arbkit.aqua.config import AquaOpportunityConfig
from arbkit.backtest import BacktestConfig, BacktestPolicy, BlockView, Order, Simulator
from arbkit.backtest.engine import SKIP_ORDER, ReplayRun, SkipOrder, get_replay
from arbkit.backtest.policies import DeciderPolicy, RuleBaseline, as_backtest_policy
from arbkit.chain.node import ChainError
from arbkit.errors import ArbkitError, ConfigError
from arbkit.execution import Outcome, Replay
from arbkit.live.chain_layer import BlockState, HistoryChain, StaleStateError
from arbkit.live.config import AIFlashArbConfig
from arbkit.live.safety import (
    KillSwitch,
    NonceManager,
    OutcomeRecord,
    RiskCaps,
    StageTracker,
    StopLoss,
    TradingStage,
    load_private_key,
    require_execution_allowed,
)
from arbkit.market.history import MarketHistory
from arbkit.opportunities import ScanConfig

__all__ = [
    "AIFlashArbitrageRunner",
    "BlockReport",
    "FlashArbitrageRunner",
    "LiveEngine",
    "RunSummary",
]

logger = logging.getLogger(__name__)

LIVE_KINDS = ("dex_dex", "triangular")
"""Route kinds a flash-loan runner trades (a CEX leg cannot be sent on chain)."""


@dataclass(frozen=True)
class BlockReport:
    """What the runner did at one block (printed by ``arbkit live``).

    Attributes
    ----------
    history_block, chain_block
        The block, in the history and on the node.
    candidates
        Candidates the chain's scan found.
    decision
        One line describing the order (empty: no trade).
    simulated
        ``eth_call`` result of the order (``None``: no order).
    outcomes
        Outcomes that became known at this block, as one-line descriptions.
    """

    history_block: int
    chain_block: int
    candidates: int
    decision: str
    simulated: str | None
    outcomes: tuple[str, ...]


@dataclass
class RunSummary:
    """The result of a run.

    Attributes
    ----------
    mode
        ``dry_run`` or ``live``.
    stage
        The trading stage the run counted towards.
    blocks
        Blocks processed.
    stopped
        Why the run stopped (``completed``, ``kill switch``, ``stop-loss: ...``, ...).
    metrics
        The run's backtest-style metrics (P&L, trades, win rate, ...).
    trades
        The run's trades (the backtest's trade table).
    execution_log
        The execution log file written, if any.
    stats
        :meth:`get_ai_stats` at the end.
    """

    mode: str
    stage: str
    blocks: int
    stopped: str
    metrics: dict[str, Any]
    trades: pl.DataFrame
    execution_log: str | None
    stats: dict[str, Any] = field(default_factory=dict)


class _Observed:
    """Wraps the policy: filters symbols, counts decisions, hands outcomes to the runner."""

    def __init__(self, inner: BacktestPolicy, runner: FlashArbitrageRunner) -> None:
        self.inner = inner
        self.runner = runner
        self.name = inner.name
        self.every_block = inner.every_block
        self.foresight = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def on_start(self, setup: Any) -> None:
        self.inner.on_start(setup)

    def on_block(self, view: BlockView) -> Sequence[Order]:
        allowed = self.runner._symbols
        if allowed is not None and view.candidates.height:
            keep = view.candidates["symbol"].is_in(sorted(allowed))
            view = BlockView(
                t=view.t,
                block=view.block,
                timestamp=view.timestamp,
                candidates=view.candidates.filter(keep),
                regime=view.regime,
                portfolio=view.portfolio,
            )
        orders = self.inner.on_block(view)
        if self.runner.config.enable_execution and any(o.cand_id is None for o in orders):
            # the executor sends flash routes only: a spot order is not sent, and not
            # accounted as if it had been (the replay would fill it)
            spot = [o for o in orders if o.cand_id is None and o.side is not None]
            self.runner.stats["spot_orders_not_sent"] += len(spot)
            orders = [o for o in orders if o.cand_id is not None]
        self.runner._on_orders(view, orders)
        return orders

    def on_outcome(self, order: Order, outcome: Outcome, view: BlockView) -> None:
        self.inner.on_outcome(order, outcome, view)
        self.runner._on_outcome(order, outcome, view)


class FlashArbitrageRunner:
    """The rule-based flash-arbitrage runner (the guide's "before"): the same loop.

    Trades the block's best candidate whose expected net profit after gas is positive.
    :class:`AIFlashArbitrageRunner` and :class:`LiveEngine` differ only in the policy.

    Parameters
    ----------
    router
        The Uniswap V2 router (address or contract) of an existing deployment to check
        the chain against; ``None`` uses the one the chain layer deploys.
    dex
        A :class:`HistoryChain` to run on; ``None`` builds one (embedded anvil, or
        ``config.rpc_url``).
    price_fetcher
        CEX quotes (a ``cex_quotes`` table with ``block``, ``symbol``, ``bid``, ``ask``) that
        replace the history's for the run: the scan prices tokens with them and the
        replay values CEX legs with them. ``None`` uses the history's.
    token_addresses
        Token symbol -> address expected on chain; checked after deployment.
    config
        Runner options (dry-run unless ``enable_execution``).
    history
        The market history to play; a calibrated simulation of ``blocks + 1`` blocks
        (seed ``config.seed``) when omitted.
    policy
        The policy to drive (a backtest policy, decider or RL policy).
    metrics
        Where decisions and executions are recorded (the process-wide collector by
        default).
    kill_switch
        A kill switch (a file and SIGINT/SIGTERM); one from ``config.safety.kill_file``
        by default, its signal handlers installed during :meth:`run` when possible.
    on_block
        Called with a :class:`BlockReport` after every block.
    aqua
        Follow Aqua whales on top of the policy (:class:`arbkit.aqua.AquaFollowingPolicy`
        with these options): the makers' events are read from the chain's logs at the
        configured Aqua addresses each block, decoded and fed to the detector, and its
        orders pass the same caps. On the embedded chain the history's Aqua flows are
        sent as real transactions (:class:`arbkit.aqua.AquaChain`). ``None``: off.
    """

    name = "rule"

    def __init__(
        self,
        router: Any = None,
        dex: HistoryChain | None = None,
        price_fetcher: pl.DataFrame | None = None,
        token_addresses: Mapping[str, str] | None = None,
        config: AIFlashArbConfig | None = None,
        *,
        history: MarketHistory | None = None,
        policy: Any = None,
        metrics: Any = None,
        kill_switch: KillSwitch | None = None,
        on_block: Callable[[BlockReport], None] | None = None,
        aqua: AquaOpportunityConfig | None = None,
    ) -> None:
        self.config = config or AIFlashArbConfig()
        self.aqua = aqua
        self.aqua_policy: Any = None
        self._aqua_from = 0
        self._state: BlockState | None = None
        self.router = router
        self.token_addresses = dict(token_addresses) if token_addresses is not None else None
        self.price_fetcher = price_fetcher
        self._chain_given = dex
        self._history = history
        self._policy_given = policy
        self._metrics = metrics
        self.kill_switch = kill_switch or KillSwitch(self.config.safety.kill_file)
        self.on_block = on_block
        self._symbols: set[str] | None = None
        self.stage_tracker = StageTracker(Path(self.config.stage_file), self.config.safety.stages)
        self.stats: dict[str, Any] = self._fresh_stats()
        self._decisions: dict[int, Any] = {}
        self._lines: list[str] = []
        self._outcome_lines: list[str] = []
        self._simulated: str | None = None
        self.chain: HistoryChain | None = None
        self.run_state: ReplayRun | None = None
        self._signer: Any = None
        self._nonces: NonceManager | None = None
        self.stop_loss: StopLoss | None = None
        self.caps = RiskCaps(self.config.safety.risk_caps)

    # -- what subclasses change ---------------------------------------------------------

    def make_policy(self, backtest: BacktestConfig) -> BacktestPolicy:
        """Return the policy this runner drives (the given one, else its default)."""
        if self._policy_given is not None:
            return as_backtest_policy(self._policy_given)
        return RuleBaseline()

    # -- stats --------------------------------------------------------------------------

    def _fresh_stats(self) -> dict[str, Any]:
        return {
            "ai_decisions_made": 0,
            "ai_trades_sent": 0,
            "ai_execution_rate": 0.0,
            "ai_successes": 0,
            "ai_success_rate": 0.0,
            "ai_avg_confidence": 0.0,
            "ai_high_confidence_trades": 0,
            "ai_model_active": False,
            "ai_model": "none",
            "blocks_processed": 0,
            "candidates_seen": 0,
            "net_profit_quote": 0.0,
            "gas_paid_quote": 0.0,
            "simulations": 0,
            "simulation_reverts": 0,
            "simulation_matches_prediction": 0,
            "chain_trades": 0,
            "spot_orders_not_sent": 0,
            "chain_matches_prediction": 0,
            "refused_by_caps": {},
            "spot_orders": 0,
            "aqua_events": 0,
            "aqua_rejected_logs": 0,
            "chain_checks": 0,
            "scan_mismatches": 0,
            "rpc_errors": 0,
            "rpc_retries": 0,
            "mode": "live" if self.config.enable_execution else "dry_run",
            "stage": self.stage_tracker.stage.value,
            "halted": False,
            "halt_reason": "",
            "stopped": "",
            "last_block": None,
            "head_to_decision_ms": None,
            "policy": self.name,
        }

    def get_ai_stats(self) -> dict[str, Any]:
        """Return the runner's statistics (the guide's keys and the safety state).

        Keys include ``ai_decisions_made``, ``ai_execution_rate`` (trades sent per
        decision), ``ai_success_rate``, ``ai_model_active``, ``stage``, ``mode``,
        ``halted`` and the chain checks.
        """
        s = dict(self.stats)
        s["refused_by_caps"] = dict(self.stats["refused_by_caps"])
        if self.chain is not None:
            s["chain_checks"] = self.chain.chain_checks
            s["scan_mismatches"] = self.chain.scan_mismatches
            s["rpc_retries"] = self.chain.retries
        return s

    # -- the loop -----------------------------------------------------------------------

    async def run(
        self, symbols: Sequence[str] | None = None, *, blocks: int | None = None
    ) -> RunSummary:
        """Run the loop (in a worker thread, so the event loop stays free).

        Parameters
        ----------
        symbols
            Trade only candidates with these symbols (e.g. ``"WETH/USDC"``; ``ETH`` and
            ``BTC`` also match ``WETH`` and ``WBTC``); all when omitted.
        blocks
            Blocks to run (``config.blocks``, else the whole history, when omitted).
        """
        loop = asyncio.get_running_loop()
        installed = False
        try:
            self.kill_switch.install_asyncio(loop)
            installed = True
        except (ArbkitError, RuntimeError, ValueError, NotImplementedError):
            installed = False
        try:
            return await asyncio.to_thread(self.run_sync, symbols, blocks=blocks)
        finally:
            if installed:
                self.kill_switch.uninstall()

    def _history_for(self, blocks: int | None) -> MarketHistory:
        if self._chain_given is not None:
            if self.price_fetcher is not None:
                raise ConfigError(
                    "price_fetcher: give the CEX quotes to the HistoryChain's history, not "
                    "beside a dex that already has its replay"
                )
            return self._chain_given.history
        if self._history is not None:
            history = self._history
        else:
            from arbkit.market.sim import simulate_market

            n = (blocks if blocks is not None else (self.config.blocks or 100)) + 1
            history = simulate_market(seed=self.config.seed, n_blocks=max(n, 2))
        if self.price_fetcher is not None:
            # the run's CEX quotes: the scan prices tokens with them, the replay values
            # CEX legs with them (MarketHistory checks the table)
            history = dataclasses.replace(history, cex_quotes=self.price_fetcher)
        return history

    def backtest_config(self) -> BacktestConfig:
        """Return the replay's options: the runner's seed, portfolio, flash source, kinds."""
        kinds = LIVE_KINDS if self.config.enable_flash_loans else ("cex_dex",)
        return BacktestConfig(
            seed=self.config.seed,
            portfolio_value_eth=self.config.portfolio_value_eth,
            scan=ScanConfig(kinds=kinds, flash_source=self.config.flash_source),
        )

    def run_sync(
        self, symbols: Sequence[str] | None = None, *, blocks: int | None = None
    ) -> RunSummary:
        """Run the loop in this thread; see :meth:`run`."""
        cfg = self.config
        self._symbols = _expand_symbols(symbols)
        self.stats = self._fresh_stats()
        history = self._history_for(blocks)
        bt = self.backtest_config()
        policy = self.make_policy(bt)
        self.stats["policy"] = policy.name
        observed = _Observed(policy, self)
        if self._chain_given is not None:
            chain = self._chain_given
            replay = chain.replay
        else:
            replay = get_replay(history, bt)  # the backtest's replay of this history
            chain = HistoryChain(history, replay, rpc_url=cfg.rpc_url)
        self.chain = chain
        if self.aqua is not None:
            from arbkit.aqua.policy import AquaFollowingPolicy

            policy = AquaFollowingPolicy(
                self.aqua,
                arbitrage=policy,
                ai_decider=getattr(policy, "decider", None),
                events=self._aqua_events,
            )
            self.aqua_policy = policy
            self.stats["policy"] = policy.name
            observed = _Observed(policy, self)
        stage = self._stage_for(chain)
        self.stats["stage"] = stage.value
        if cfg.enable_execution:
            self._prepare_execution(chain, stage)
        sim = Simulator(observed, history, bt, replay=replay)
        n = (
            history.n_blocks
            if blocks is None and cfg.blocks is None
            else min(history.n_blocks, blocks if blocks is not None else int(cfg.blocks or 0))
        )
        stopped = "completed"
        processed = 0
        run: ReplayRun | None = None
        try:
            chain.start()
            self._check_given_addresses(chain)
            if self.aqua is not None:
                self._start_aqua(chain)
            run = sim.start(execute=self._execute, spot_gate=self._gate_spot)
            self.run_state = run
            self.stop_loss = StopLoss(cfg.safety.stop_loss, equity_quote=run.initial)
            for t in range(n):
                if self.kill_switch.tripped:
                    stopped = f"kill switch: {self.kill_switch.reason}"
                    break
                if self.stop_loss.halted:
                    stopped = f"stop-loss: {self.stop_loss.reason}"
                    break
                state, why = self._advance(chain)
                self._state = state
                if state is None:
                    stopped = why
                    break
                self._lines, self._outcome_lines, self._simulated = [], [], None
                run.step(t)
                processed += 1
                self.stats["blocks_processed"] = processed
                self.stats["last_block"] = state.history_block
                self.stats["head_to_decision_ms"] = round(
                    (time.perf_counter() - state.head_at) * 1e3, 3
                )
                self._write_status("running")
                self.stats["candidates_seen"] += state.candidates.height
                if self.on_block is not None:
                    self.on_block(
                        BlockReport(
                            history_block=state.history_block,
                            chain_block=state.chain_block,
                            candidates=state.candidates.height,
                            decision="; ".join(self._lines),
                            simulated=self._simulated,
                            outcomes=tuple(self._outcome_lines),
                        )
                    )
            result = run.finish()
        finally:
            chain.stop()
        if self.stop_loss is not None and self.stop_loss.halted:
            self.stats["halted"] = True
            self.stats["halt_reason"] = self.stop_loss.reason
        self.stats["stopped"] = stopped
        self._write_status("stopped")
        log = self._write_log(replay, result.trades, policy.name)
        metrics = {k: v for k, v in result.items() if _plain(v)}
        return RunSummary(
            mode=self.stats["mode"],
            stage=self.stats["stage"],
            blocks=processed,
            stopped=stopped,
            metrics=metrics,
            trades=result.trades,
            execution_log=log,
            stats=self.get_ai_stats(),
        )

    @property
    def status_file(self) -> Path:
        """Where the runner's status is kept for the dashboard (next to the stage file)."""
        return Path(self.config.stage_file).with_name("status.json")

    def _write_status(self, state: str) -> None:
        """Write :meth:`get_ai_stats` and the run's state for the dashboard, atomically."""
        from arbkit.io import write_atomic

        body = {"state": state, "updated_utc": datetime.now(UTC).isoformat(), **self.get_ai_stats()}
        try:
            write_atomic(self.status_file, json.dumps(body, default=str).encode())
        except OSError as exc:  # the dashboard's view is not worth stopping a run for
            logger.warning("cannot write %s: %s", self.status_file, exc)

    def _advance(self, chain: HistoryChain) -> tuple[BlockState | None, str]:
        """Play the next block; ``(None, why)`` when the node cannot (the run then stops)."""
        last = ""
        for attempt in range(3):
            try:
                return chain.advance(), ""
            except StaleStateError as exc:
                self.stats["rpc_errors"] += 1
                return None, f"the chain differs from the history: {exc}"
            except ChainError as exc:
                self.stats["rpc_errors"] += 1
                last = str(exc)
                logger.warning("block %d: %s (attempt %d)", chain.t + 1, exc, attempt + 1)
                time.sleep(0.5 * 2**attempt)
        return None, f"node unavailable: {last}"

    def _start_aqua(self, chain: HistoryChain) -> None:
        """Install the history's Aqua flows on the embedded chain; point the policy at it."""
        assert self.aqua is not None and chain.w3 is not None and chain.market is not None
        tokens = dict(chain.market.token_addresses)
        self.aqua_policy.tokens = tokens
        self._aqua_from = int(chain.w3.eth.block_number) + 1
        if chain.embedded:
            from arbkit.aqua.chain import AquaChain

            driver = AquaChain(chain.w3, tokens, aqua_address=self.aqua.aqua_contract_addresses[0])
            flows = chain.history.aqua_events.partition_by(
                "block", as_dict=True, maintain_order=True
            )

            def send(t: int, history_block: int) -> list[Any]:
                rows = flows.get((history_block,))
                return driver.send_block(rows) if rows is not None else []

            chain.block_hooks.append(send)

    def _aqua_events(self, history_block: int) -> list[Any]:
        """Return the Aqua events mined since the last call, decoded, at ``history_block``.

        Logs are read by address and topic0 and every one is decoded against the
        configured addresses; a malformed log is logged, counted and skipped.
        """
        from arbkit.aqua.events import AQUA_TOPIC0, AquaLogError, decode_aqua_log

        chain, state = self.chain, self._state
        assert chain is not None and chain.w3 is not None and self.aqua is not None
        if state is None:
            return []
        w3 = chain.w3
        addresses = self.aqua.aqua_contract_addresses
        start, end = self._aqua_from, int(state.chain_block)
        if end < start:
            return []
        logs = chain._retry(
            f"reading the Aqua logs of blocks {start}-{end}",
            lambda: w3.eth.get_logs(
                {
                    "fromBlock": start,
                    "toBlock": end,
                    "address": [w3.to_checksum_address(a) for a in addresses],
                    "topics": [list(AQUA_TOPIC0.values())],
                }
            ),
        )
        self._aqua_from = end + 1
        events = []
        for log in logs:
            try:
                e = decode_aqua_log(log, addresses)
            except AquaLogError as exc:
                self.stats["aqua_rejected_logs"] += 1
                logger.warning("%s", exc)
                continue
            events.append(dataclasses.replace(e, block=history_block))
        self.stats["aqua_events"] += len(events)
        return events

    def _stage_for(self, chain: HistoryChain) -> TradingStage:
        # a history played on the embedded node is the simulation stage, whatever the file
        if chain.embedded:
            return TradingStage.SIMULATION
        stage = self.stage_tracker.stage
        if stage is TradingStage.SIMULATION:
            return TradingStage.DRY_RUN if not self.config.enable_execution else stage
        return stage

    def _prepare_execution(self, chain: HistoryChain, stage: TradingStage) -> None:
        if not chain.embedded:
            require_execution_allowed(
                self.stage_tracker.stage, enable_execution=self.config.enable_execution
            )
        from eth_account import Account
        from eth_utils.crypto import keccak

        env = self.config.private_key_env
        if not chain.embedded or os.environ.get(env) is not None:
            key = load_private_key(env)
            self._signer = Account.from_key(key.reveal())
        else:
            # the embedded node: a throwaway key derived from the seed owns the executor
            seed = f"arbkit embedded chain owner {self.config.seed}".encode()
            self._signer = Account.from_key(keccak(seed))
        chain.owner_address = self._signer.address

    def _check_given_addresses(self, chain: HistoryChain) -> None:
        market = chain.market
        assert market is not None
        if self.token_addresses is not None:
            have = market.token_addresses
            for sym, addr in self.token_addresses.items():
                if have.get(sym, "").lower() != str(addr).lower():
                    raise ConfigError(
                        f"token_addresses[{sym!r}] = {addr} but the chain's {sym} is "
                        f"{have.get(sym, 'missing')}"
                    )
        if self.router is not None:
            addr = getattr(self.router, "address", self.router)
            routers = {
                market.uniswap.router.address.lower(),
                market.sushiswap.router.address.lower(),
            }
            if str(addr).lower() not in routers:
                raise ConfigError(f"router {addr} is not one of the chain's routers")
        w3 = chain.w3
        assert w3 is not None
        owner = market.owner

        def pending() -> int:
            return chain._retry(
                "reading the owner's nonce",
                lambda: int(w3.eth.get_transaction_count(owner, "pending")),
            )

        self._nonces = NonceManager(pending)

    # -- hooks called by the replay run -------------------------------------------------

    def _on_orders(self, view: BlockView, orders: Sequence[Order]) -> None:
        for order in orders:
            tag = order.tag
            conf = float(getattr(tag, "confidence", 1.0) or 0.0)
            self.stats["ai_decisions_made"] += 1
            n = self.stats["ai_decisions_made"]
            self.stats["ai_avg_confidence"] += (conf - self.stats["ai_avg_confidence"]) / n
            if getattr(tag, "high_confidence", False):
                self.stats["ai_high_confidence_trades"] += 1
            if order.cand_id is not None:
                row = view.candidates.filter(pl.col("cand_id") == order.cand_id)
                if row.height:
                    r = row.row(0, named=True)
                    self._lines.append(
                        f"{r['kind']} {r['symbol']} via {'>'.join(r['route'])} "
                        f"expected {r['net_profit_quote']:.2f} USD conf {conf:.2f}"
                    )
                    self._decisions[int(order.cand_id)] = (
                        conf,
                        float(r["edge_bps"]),
                        float(r["net_profit_quote"]),
                    )
            elif order.side is not None:
                self._lines.append(f"spot {order.side} {order.amount_quote:.2f} USD")

    def _execute(self, cid: int, order: Order, view: BlockView) -> Outcome | SkipOrder | None:
        chain = self.chain
        run = self.run_state
        assert chain is not None and run is not None
        cfg = self.config
        if (self.stop_loss is not None and self.stop_loss.halted) or self.kill_switch.tripped:
            # an outcome revealed at this very block tripped the stop-loss: send nothing
            self._simulated = "not sent: trading is halted"
            return SKIP_ORDER
        row = chain.replay.candidates.row(cid, named=True)
        own = int(row["amount_in"])
        amount = own if order.amount_in is None else int(order.amount_in)
        tip = (
            chain.replay.priority_fee_wei
            if order.priority_fee_wei is None
            else int(order.priority_fee_wei)
        )
        bribe = (
            chain.replay.default_bribe_wei(cid) if order.bribe_wei is None else int(order.bribe_wei)
        )
        size_quote = float(row["notional_quote"]) * amount / max(own, 1)
        now = datetime.now(UTC)
        gas_price = chain.gas_price_wei() + tip
        refusal = self._pass_caps(size_quote, gas_price, view.block, now)
        conf, edge, expected = self._decisions.get(
            cid, (1.0, float(row["edge_bps"]), float(row["net_profit_quote"]))
        )
        metrics = self._metrics_collector()
        if refusal is not None:
            self._simulated = refusal
            metrics.record_decision(
                confidence=conf,
                edge_bps=edge,
                predicted_profit=expected,
                executed=False,
                source=self.stats["mode"],
            )
            return SKIP_ORDER
        route = chain.route(row, amount)
        try:
            sim = chain.simulate(route)
            predicted_ok, predicted_profit = chain.predict(route)
        except ChainError as exc:  # the node failed after retries: nothing is sent
            self.stats["rpc_errors"] += 1
            self._simulated = f"not simulated ({exc}); not sent"
            return SKIP_ORDER
        self.stats["simulations"] += 1
        if not sim.success:
            self.stats["simulation_reverts"] += 1
        if (sim.success, sim.profit) == (predicted_ok, predicted_profit):
            self.stats["simulation_matches_prediction"] += 1
        self._simulated = (
            f"eth_call ok, profit {sim.profit} base units of {row['start_token']}"
            if sim.success
            else f"eth_call reverts: {sim.reason}"
        )
        metrics.record_decision(
            confidence=conf,
            edge_bps=edge,
            predicted_profit=expected,
            executed=True,
            source=self.stats["mode"],
        )
        self.stats["ai_trades_sent"] += 1
        self.stats["ai_execution_rate"] = self.stats["ai_trades_sent"] / max(
            1, self.stats["ai_decisions_made"]
        )
        if not cfg.enable_execution:
            return None  # dry-run: the one replay decides, as in a backtest
        if not sim.success:
            return SKIP_ORDER  # never send what eth_call says reverts
        stage = TradingStage(self.stats["stage"])
        capped = self.config.safety.stages.cap_size(stage, size_quote)
        if capped < size_quote:
            amount = max(1, int(amount * capped / size_quote))
            route = chain.route(row, amount)
        assert self._nonces is not None
        nonce = self._nonces.next()
        try:
            sent = chain.send(
                route,
                min_profit=0,
                priority_fee_wei=tip,
                bribe_wei=bribe,
                nonce=nonce,
                signer=self._signer,
            )
        except ChainError:
            self._nonces.release(nonce)
            self._nonces.resync()
            self.stats["rpc_errors"] += 1
            return SKIP_ORDER
        self._nonces.confirm(nonce)
        self.stats["chain_trades"] += 1
        if (sent.success, sent.chain_profit) == (sent.predicted_success, sent.predicted_profit):
            self.stats["chain_matches_prediction"] += 1
        return chain.outcome(row, amount, sent, bribe)

    def _gate_spot(self, order: Order, view: BlockView) -> bool:
        """Pass a spot order through the same halts and risk caps as a candidate trade.

        Spot orders (e.g. whale following's copies) are dry-run only: with execution on
        they are refused, since the runner sends flash-loan routes, not inventory swaps.
        """
        chain = self.chain
        assert chain is not None
        if (self.stop_loss is not None and self.stop_loss.halted) or self.kill_switch.tripped:
            self._lines.append(f"spot {order.side}: not sent, trading is halted")
            return False
        if self.config.enable_execution:
            self._lines.append(f"spot {order.side}: refused, spot orders are dry-run only")
            self.stats["refused_by_caps"]["spot_live"] = (
                self.stats["refused_by_caps"].get("spot_live", 0) + 1
            )
            return False
        gas_price = chain.gas_price_wei() + chain.replay.priority_fee_wei
        refusal = self._pass_caps(
            float(order.amount_quote), gas_price, view.block, datetime.now(UTC)
        )
        if refusal is not None:
            self._lines.append(f"spot {order.side}: {refusal}")
            return False
        self.stats["spot_orders"] += 1
        return True

    def _pass_caps(
        self, size_quote: float, gas_price_wei: int, block: int, now: datetime
    ) -> str | None:
        # the risk caps: record the trade and return None, or count the refusal and say why
        check = self.caps.check_trade(size_quote, gas_price_wei, block_number=block, now=now)
        if not check.ok:
            cap = str(check.cap.value if check.cap is not None else "cap")
            refused = self.stats["refused_by_caps"]
            refused[cap] = refused.get(cap, 0) + 1
            return f"refused by {cap}: {check.detail}"
        self.caps.record_trade(block_number=block, now=now)
        return None

    def _on_outcome(self, order: Order, outcome: Outcome, view: BlockView) -> None:
        s = self.stats
        if outcome.success:
            s["ai_successes"] += 1
        done = max(1, s["ai_trades_sent"])
        s["ai_success_rate"] = s["ai_successes"] / done
        s["net_profit_quote"] += outcome.net_profit_quote
        s["gas_paid_quote"] += outcome.gas_paid_quote
        blocks = (outcome.included_block or view.block + 1) - view.block
        self._metrics_collector().record_execution(
            success=bool(outcome.success),
            actual_profit=float(outcome.realized_profit_quote),
            gas_cost=float(outcome.gas_paid_quote),
            execution_time_ms=float(blocks * 12_000),
            source=s["mode"],
        )
        now = datetime.now(UTC)
        if self.stop_loss is not None:
            self.stop_loss.record(outcome.net_profit_quote, now)
        self.stage_tracker.record(
            OutcomeRecord(
                timestamp=now,
                success=bool(outcome.success),
                net_profit_quote=float(outcome.net_profit_quote),
                stage=TradingStage(s["stage"]),
            )
        )
        self._outcome_lines.append(
            f"block {outcome.block} -> {outcome.reason}"
            f"{'' if outcome.included_block is None else f' in {outcome.included_block}'}"
            f", net {outcome.net_profit_quote:+.2f} USD"
        )

    def _metrics_collector(self) -> Any:
        if self._metrics is None:
            from arbkit.metrics import get_metrics_collector

            self._metrics = get_metrics_collector()
        return self._metrics

    def _write_log(self, replay: Replay, trades: pl.DataFrame, policy: str) -> str | None:
        if not self.config.write_execution_log:
            return None
        if trades.filter(pl.col("cand_id").is_not_null()).height == 0:
            return None
        from arbkit.decider.history import (
            executions_dir,
            executions_table,
            new_run_id,
            record_executions,
        )

        folder = executions_dir(self.config.execution_log_dir)
        source = self.stats["mode"]
        path = record_executions(
            folder,
            executions_table(replay, trades),
            source=source,
            run_id=new_run_id(source, policy, f"seed{self.config.seed}"),
        )
        return str(path)


class AIFlashArbitrageRunner(FlashArbitrageRunner):
    """The AI flash-arbitrage runner (user guide section 2).

    Same loop as :class:`FlashArbitrageRunner`; the policy is the advanced decider with
    the promoted route model (hash-verified from the registry; none promoted: the six
    factors alone), Kelly-sized and boosted by ``high_confidence_size_boost`` at high
    confidence. With ``enable_ai_scoring`` off it behaves as the rule runner.

    Parameters
    ----------
    decider
        An :class:`arbkit.decider.AdvancedAIDecider` to use instead of building one.
    registry
        The model registry (``models/`` by default); only promoted models are loaded.
    decider_config
        Options of the decider built here (the guide's profile values by default).
    others
        As :class:`FlashArbitrageRunner`.
    """

    name = "ai"

    def __init__(
        self,
        router: Any = None,
        dex: HistoryChain | None = None,
        price_fetcher: pl.DataFrame | None = None,
        token_addresses: Mapping[str, str] | None = None,
        config: AIFlashArbConfig | None = None,
        *,
        decider: Any = None,
        registry: Any = None,
        decider_config: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(router, dex, price_fetcher, token_addresses, config, **kwargs)
        self._decider = decider
        self._registry = registry
        self._decider_config = decider_config

    def make_policy(self, backtest: BacktestConfig) -> BacktestPolicy:
        """Return the decider's policy (the rule when AI scoring is off)."""
        if self._policy_given is not None:
            return as_backtest_policy(self._policy_given)
        if not self.config.enable_ai_scoring:
            return RuleBaseline()
        decider = self._decider or self._build_decider()
        self.stats["ai_model_active"] = bool(decider.model_active)
        return DeciderPolicy(
            decider, name="ai_decider", size_boost=self.config.high_confidence_size_boost
        )

    def _build_decider(self) -> Any:
        from arbkit.decider import AdvancedAIConfig, AdvancedAIDecider
        from arbkit.registry import ModelRegistry

        registry = self._registry or ModelRegistry(self.config.models_dir)
        record = registry.latest("route_model")
        base = self._decider_config or AdvancedAIConfig()
        conf = base.model_copy(
            update={
                "confidence_threshold": self.config.ai_min_confidence,
                "high_confidence_threshold": max(
                    self.config.ai_min_confidence, base.high_confidence_threshold
                ),
            }
        )
        if record is None:
            self.stats["ai_model"] = "none promoted (six factors only)"
            return AdvancedAIDecider(
                conf.model_copy(update={"enable_ml_scoring": False}), seed=self.config.seed
            )
        predictor = registry.load_route_model(record)
        self.stats["ai_model"] = f"route_model v{record.version} ({record.sha256[:12]})"
        return AdvancedAIDecider(conf, predictor=predictor, seed=self.config.seed)


class LiveEngine(FlashArbitrageRunner):
    """The RL pattern (guide pattern 2): ``LiveEngine(policy=RLArbitragePolicy(...))``.

    The same loop as the runners, driving an :class:`arbkit.rl.RLArbitragePolicy` (or any
    policy); ``policy=None`` loads the promoted RL policy from the registry.
    """

    name = "rl"

    def __init__(
        self,
        policy: Any = None,
        config: AIFlashArbConfig | None = None,
        *,
        registry: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(config=config, policy=policy, **kwargs)
        self._registry = registry

    def make_policy(self, backtest: BacktestConfig) -> BacktestPolicy:
        """Return the RL policy's adapter (the promoted one when none was given)."""
        if self._policy_given is None:
            from arbkit.registry import ModelRegistry

            registry = self._registry or ModelRegistry(self.config.models_dir)
            self._policy_given = registry.load_rl_policy()
            self.stats["ai_model"] = "promoted rl_policy"
        return as_backtest_policy(self._policy_given)

    async def run(
        self, symbols: Sequence[str] | None = None, *, blocks: int | None = None
    ) -> RunSummary:
        """Run the loop; see :meth:`FlashArbitrageRunner.run`."""
        return await super().run(symbols, blocks=blocks)


def _expand_symbols(symbols: Sequence[str] | None) -> set[str] | None:
    if symbols is None:
        return None
    aliases = {"ETH": "WETH", "BTC": "WBTC"}
    out: set[str] = set()
    for s in symbols:
        base, _, quote = s.partition("/")
        for b in {base, aliases.get(base, base)}:
            for q in {quote, aliases.get(quote, quote)}:
                out.add(f"{b}/{q}")
                out.add(f"{q}/{b}")
    return out


def _plain(value: Any) -> bool:
    return isinstance(value, int | float | str | bool) or value is None
