"""The live runner through a fault-injecting JSON-RPC proxy: faults cost retries, not trades.

Every run attaches to an anvil node through :class:`fault_proxy.FaultProxy` (loopback
only), with short timeouts and quick retries. The proxy arms itself on the runner's
first pool read: the deployment before it is not retried by design.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import requests
from eth_account.typed_transactions import TypedTransaction
from fault_proxy import BATCH, FaultProxy
from hexbytes import HexBytes

from arbkit.backtest.engine import get_replay
from arbkit.chain import AnvilNode
from arbkit.chain.node import attach
from arbkit.chain.uniswap import mine_and_wait
from arbkit.errors import ArbkitError
from arbkit.live import AIFlashArbConfig, FlashArbitrageRunner, HistoryChain
from arbkit.live.runner import BlockReport, RunSummary
from arbkit.live.safety import (
    KillSwitch,
    RiskCapsConfig,
    SafetyConfig,
    StageGate,
    StagePolicy,
    StageTracker,
    StopLossConfig,
)
from arbkit.market.history import MarketHistory
from arbkit.market.sim import simulate_market
from arbkit.metrics import MetricsCollector

pytestmark = pytest.mark.usefixtures("anvil_tooling")

BLOCKS = 60
"""Blocks of most runs: six trades of the seed-4 history."""

TRADER_KEY = "0x" + "5e" * 32
"""The signing key of executions on an RPC URL (a test key, never funded elsewhere)."""

OPEN_STAGES = StagePolicy(simulation=StageGate(), dry_run=StageGate(), small_positions=StageGate())

SCHEDULED = frozenset(
    {
        "eth_call",
        "eth_chainId",
        "eth_getBlockByNumber",
        "eth_getTransactionReceipt",
        "eth_sendTransaction",
        "evm_mine",
        "txpool_status",
    }
)
"""Methods the seeded schedule hits; the anvil_* and hardhat_* probes have tests of their own."""

UNRETRIED = (requests.RequestException, ArbkitError, AssertionError)
"""How a run with an unretried request ends today, or would if the error were wrapped."""

FAST_KINDS = ("http500", "http429", "drop", "rpc_error", "stale", "forward_drop")

PAIR_ABI: list[dict[str, Any]] = [
    {
        "name": name,
        "type": "function",
        "stateMutability": "view",
        "inputs": [],
        "outputs": [{"name": "", "type": "address"}],
    }
    for name in ("token0", "token1")
] + [
    {
        "name": "getReserves",
        "type": "function",
        "stateMutability": "view",
        "inputs": [],
        "outputs": [
            {"name": "reserve0", "type": "uint112"},
            {"name": "reserve1", "type": "uint112"},
            {"name": "blockTimestampLast", "type": "uint32"},
        ],
    },
    {
        "name": "sync",
        "type": "function",
        "stateMutability": "nonpayable",
        "inputs": [],
        "outputs": [],
    },
]
ERC20_ABI: list[dict[str, Any]] = [
    {
        "name": "transfer",
        "type": "function",
        "stateMutability": "nonpayable",
        "inputs": [{"name": "to", "type": "address"}, {"name": "amount", "type": "uint256"}],
        "outputs": [{"name": "", "type": "bool"}],
    },
    {
        "name": "balanceOf",
        "type": "function",
        "stateMutability": "view",
        "inputs": [{"name": "who", "type": "address"}],
        "outputs": [{"name": "", "type": "uint256"}],
    },
]


# -- fixtures and helpers -------------------------------------------------------------------


@pytest.fixture(scope="module")
def history() -> MarketHistory:
    # rivals less active than the calibrated default: six trades in the first 60 blocks,
    # two of them reverted by a rival in the replay
    return simulate_market({"arb_activity": 0.1}, seed=4, n_blocks=120)


@pytest.fixture
def node() -> Iterator[AnvilNode]:
    with AnvilNode() as n:
        yield n


@pytest.fixture(scope="module")
def clean(history: MarketHistory, tmp_path_factory: pytest.TempPathFactory) -> RunSummary:
    """A dry-run of BLOCKS blocks on the embedded node, nothing in the way."""
    tmp = tmp_path_factory.mktemp("clean")
    runner = FlashArbitrageRunner(config=_config(tmp), history=history, metrics=MetricsCollector())
    summary = runner.run_sync(blocks=BLOCKS)
    assert summary.stopped == "completed" and summary.trades.height >= 5
    return summary


def _config(tmp: Path, **kw: Any) -> AIFlashArbConfig:
    return AIFlashArbConfig(
        stage_file=str(tmp / "stage.json"),
        execution_log_dir=str(tmp / "executions"),
        models_dir=str(tmp / "models"),
        seed=0,
        **kw,
    )


def _proxied(
    history: MarketHistory,
    proxy: FaultProxy,
    cfg: AIFlashArbConfig,
    *,
    metrics: MetricsCollector | None = None,
    on_block: Callable[[BlockReport], None] | None = None,
    retry_attempts: int = 8,
    retry_backoff_s: float = 0.05,
) -> FlashArbitrageRunner:
    """A runner whose chain layer talks to the node through ``proxy``, quick to retry."""
    bt = FlashArbitrageRunner(config=cfg, history=history).backtest_config()
    replay = get_replay(history, bt)  # the replay the runner itself would use
    chain = HistoryChain(
        history,
        replay,
        rpc_url=proxy.url,
        timeout_s=1.0,
        retry_attempts=retry_attempts,
        retry_backoff_s=retry_backoff_s,
    )
    return FlashArbitrageRunner(
        dex=chain, config=cfg, metrics=metrics or MetricsCollector(), on_block=on_block
    )


def _live_config(tmp: Path, proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch) -> AIFlashArbConfig:
    """Execution on an RPC URL: the stage at small_positions (full size) and a key."""
    tracker = StageTracker(tmp / "stage.json", OPEN_STAGES)
    tracker.promote()
    tracker.promote()
    monkeypatch.setenv("ARBKIT_PRIVATE_KEY", TRADER_KEY)
    stages = OPEN_STAGES.model_copy(update={"small_positions_fraction": 1.0})
    return _config(
        tmp, rpc_url=proxy.url, enable_execution=True, safety=SafetyConfig(stages=stages)
    )


def _at_most_one_trade_per_block(trades: pl.DataFrame) -> None:
    if trades.height:
        assert trades.group_by("block").len()["len"].max() == 1


def _executed_events(node: AnvilNode, runner: FlashArbitrageRunner) -> list[Any]:
    assert runner.chain is not None and runner.chain.market is not None
    executor = runner.chain.market.executor.executor
    mine = node.w3.eth.contract(address=executor.address, abi=executor.abi)
    return list(mine.events.Executed().get_logs(from_block=0, to_block="latest"))


# -- faults the run survives ----------------------------------------------------------------


def test_dry_run_through_seeded_faults_trades_exactly_as_a_clean_run(
    history: MarketHistory, node: AnvilNode, clean: RunSummary, tmp_path: Path
) -> None:
    proxy = FaultProxy(
        node.url,
        seed=7,
        rate=0.12,
        kinds=FAST_KINDS * 3 + ("timeout",),  # a timeout costs a second: fewer of them
        methods=SCHEDULED,
        timeout_sleep_s=1.2,
        stale_after_mine_only=True,
    )
    with proxy:

        def every_eighth_block(report: BlockReport) -> None:
            # a lagging answer to the read of a block just played, now and then
            if report.history_block % 8 == 0:
                proxy.inject(BATCH, "stale")

        cfg = _config(tmp_path, rpc_url=proxy.url)
        # a block's order flow is ~10 requests retried as one: many short retries
        runner = _proxied(
            history,
            proxy,
            cfg,
            on_block=every_eighth_block,
            retry_attempts=12,
            retry_backoff_s=0.01,
        )
        summary = runner.run_sync(blocks=BLOCKS)
    kinds = {i.kind for i in proxy.injected}
    assert kinds == {"timeout", "http500", "http429", "drop", "rpc_error", "stale", "forward_drop"}
    assert len(proxy.injected) >= 50 and proxy.count("stale") >= 4
    s = summary.stats
    assert summary.stopped == "completed" and summary.blocks == BLOCKS
    assert summary.trades.equals(clean.trades)
    assert s["rpc_retries"] > 0
    assert s["chain_checks"] == BLOCKS and s["scan_mismatches"] == 0
    assert s["simulations"] == s["simulation_matches_prediction"] == clean.trades.height
    _at_most_one_trade_per_block(summary.trades)


def test_a_node_outage_mid_run_is_survived(
    history: MarketHistory, node: AnvilNode, clean: RunSummary, tmp_path: Path
) -> None:
    with FaultProxy(node.url) as proxy:

        def outage_at_block_20(report: BlockReport) -> None:
            if report.history_block == int(history.block_numbers[19]):
                proxy.outage(1.0)

        runner = _proxied(
            history, proxy, _config(tmp_path, rpc_url=proxy.url), on_block=outage_at_block_20
        )
        summary = runner.run_sync(blocks=BLOCKS)
    assert proxy.outage_drops >= 3
    assert summary.stopped == "completed" and summary.blocks == BLOCKS
    assert summary.stats["rpc_retries"] >= 3
    assert summary.stats["chain_checks"] == BLOCKS
    assert summary.trades.equals(clean.trades)


def test_execution_whose_send_answers_are_lost_lands_every_trade_once(
    history: MarketHistory, node: AnvilNode, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    metrics = MetricsCollector()
    with FaultProxy(node.url) as proxy:
        # the node receives every trade; the runner never hears back
        proxy.inject("eth_sendRawTransaction", "forward_drop", times=10_000)
        runner = _proxied(
            history, proxy, _live_config(tmp_path, proxy, monkeypatch), metrics=metrics
        )
        summary = runner.run_sync(blocks=BLOCKS)
    s = summary.stats
    trades = summary.trades
    assert summary.mode == "live" and summary.stopped == "completed"
    assert s["chain_trades"] == trades.height >= 5
    # each trade was sent once, its lost answer found on the node, never sent again
    assert proxy.count("forward_drop") == proxy.requests["eth_sendRawTransaction"] == trades.height
    assert s["chain_matches_prediction"] == s["chain_trades"]
    assert trades["success"].all()
    events = _executed_events(node, runner)
    assert len(events) == trades.height
    assert runner.chain is not None and runner.chain.market is not None
    owner = runner.chain.market.owner
    assert node.w3.eth.get_transaction_count(owner) == trades.height  # one nonce per trade
    # the owner holds exactly the profits the events report, token by token
    by_token: dict[str, int] = {}
    for e in events:
        by_token[e["args"]["token"]] = by_token.get(e["args"]["token"], 0) + e["args"]["profit"]
    for token, profit in by_token.items():
        erc20 = node.w3.eth.contract(address=token, abi=ERC20_ABI)
        assert erc20.functions.balanceOf(owner).call() == profit
    assert metrics.get_summary()["execution"]["total_executions"] == trades.height
    _at_most_one_trade_per_block(trades)


def test_a_rival_move_before_our_trade_lands_is_recorded_as_a_chain_revert(
    history: MarketHistory, node: AnvilNode, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    metrics = MetricsCollector()
    errors: list[BaseException] = []
    moved: list[int] = []
    runner: FlashArbitrageRunner | None = None
    w3 = node.w3

    def rival(method: str, params: Any) -> None:
        # before our first trade reaches the node, the deployer doubles the reserve of the
        # token our first hop sells, in a block of its own: that hop now pays half
        if method != "eth_sendRawTransaction" or moved:
            return
        try:
            assert runner is not None and runner.chain is not None
            market = runner.chain.market
            assert market is not None
            data = TypedTransaction.from_bytes(HexBytes(params[0])).as_dict()["data"]
            _, args = market.executor.executor.decode_function_input(data)
            route = args["route"]
            pairs, zero_for_one = route["pairs"], route["zeroForOne"]
            pair = w3.eth.contract(address=pairs[0], abi=PAIR_ABI)
            sold = pair.functions.token0 if zero_for_one[0] else pair.functions.token1
            reserves = pair.functions.getReserves().call()
            amount = int(reserves[0] if zero_for_one[0] else reserves[1])
            token = w3.eth.contract(address=sold().call(), abi=ERC20_ABI)
            tx = {"from": market.deployer, "gas": 200_000}
            hashes = [
                token.functions.transfer(pairs[0], amount).transact(tx),
                pair.functions.sync().transact(tx),
            ]
            mine_and_wait(w3, hashes)
            moved.append(w3.eth.block_number)
        except BaseException as exc:  # seen by the test, not lost in the proxy's thread
            errors.append(exc)
            moved.append(-1)

    with FaultProxy(node.url) as proxy:
        proxy.before_forward = rival
        runner = _proxied(
            history, proxy, _live_config(tmp_path, proxy, monkeypatch), metrics=metrics
        )
        summary = runner.run_sync(blocks=BLOCKS)
    assert not errors, errors
    assert len(moved) == 1
    s = summary.stats
    trades = summary.trades
    assert summary.stopped == "completed" and summary.blocks == BLOCKS
    failed = trades.filter(~pl.col("success"))
    assert failed.height == 1
    assert failed["reason"].to_list() == ["chain_revert"]
    assert failed["block"].item() == trades["block"].min()  # the first trade
    assert failed["net_profit_quote"].item() < 0  # it paid gas for nothing
    # the run went on trading after it, on a chain brought back to the history
    assert trades.filter(pl.col("success")).height >= 4
    assert s["chain_checks"] == BLOCKS
    assert s["chain_trades"] == trades.height
    assert s["chain_matches_prediction"] == s["chain_trades"] - 1
    assert s["ai_successes"] == trades.height - 1
    execution = metrics.get_summary()["execution"]
    assert execution["failed_executions"] == 1
    assert execution["total_executions"] == trades.height
    _at_most_one_trade_per_block(trades)


# -- the safety layer in a run --------------------------------------------------------------


def test_the_kill_file_stops_the_run_and_leaves_readable_files(
    history: MarketHistory, tmp_path: Path
) -> None:
    kill_file = tmp_path / "STOP"
    reports: list[BlockReport] = []

    def kill_after_20_blocks(report: BlockReport) -> None:
        reports.append(report)
        if len(reports) == 20:
            kill_file.write_text("stop\n")

    cfg = _config(tmp_path, safety=SafetyConfig(kill_file=str(kill_file)))
    runner = FlashArbitrageRunner(
        config=cfg,
        history=history,
        metrics=MetricsCollector(),
        kill_switch=KillSwitch(kill_file),
        on_block=kill_after_20_blocks,
    )
    summary = runner.run_sync(blocks=BLOCKS)
    assert summary.stopped.startswith("kill switch")
    assert summary.blocks == 20 < BLOCKS
    assert summary.trades.height >= 1  # blocks 8 and 12 traded before the stop
    assert summary.execution_log is not None
    log = pl.read_parquet(summary.execution_log)
    assert log.height == summary.trades.height
    stage = Path(cfg.stage_file)
    assert json.loads(stage.read_text())["stage"] == "simulation"


def _stop_loss_run(history: MarketHistory, tmp_path: Path) -> tuple[RunSummary, pl.DataFrame]:
    stop_loss = StopLossConfig(
        daily_loss_limit_quote=0.01,
        daily_loss_limit_fraction=None,
        max_drawdown_quote=0.5,  # one reverted trade's gas (~0.87 USD)
        max_drawdown_fraction=None,
    )
    cfg = _config(tmp_path, safety=SafetyConfig(stop_loss=stop_loss))
    runner = FlashArbitrageRunner(config=cfg, history=history, metrics=MetricsCollector())
    summary = runner.run_sync()
    # the first losing trade of the day (every earlier one won) is the one that halted
    trades = summary.trades
    loss = trades.filter(pl.col("net_profit_quote") < 0).head(1)
    return summary, loss


def test_the_stop_loss_halts_on_the_first_loss_and_sends_nothing_after(
    history: MarketHistory, tmp_path: Path
) -> None:
    summary, loss = _stop_loss_run(history, tmp_path)
    assert summary.stopped.startswith("stop-loss")
    assert summary.stats["halted"] is True and summary.stats["halt_reason"]
    assert loss.height == 1
    halted_at = loss["included_block"].item()  # its outcome became known here
    trades = summary.trades
    assert trades["block"].max() < halted_at  # nothing sent from the halt on
    assert summary.blocks < history.n_blocks
    assert int(history.block_numbers[summary.blocks - 1]) == halted_at
    assert summary.stats["ai_trades_sent"] == trades.height
    _at_most_one_trade_per_block(trades)


def test_no_trade_is_sent_in_the_block_whose_outcome_trips_the_stop_loss(
    tmp_path: Path,
) -> None:
    # in this history a trade is due in the very block that reveals the first loss
    history = simulate_market({"arb_activity": 0.1}, seed=17, n_blocks=120)
    summary, loss = _stop_loss_run(history, tmp_path)
    assert summary.stopped.startswith("stop-loss") and loss.height == 1
    assert summary.trades["block"].max() < loss["included_block"].item()


def test_a_gas_price_cap_refuses_every_trade(
    history: MarketHistory, clean: RunSummary, tmp_path: Path
) -> None:
    caps = RiskCapsConfig(max_gas_price_wei=1)
    runner = FlashArbitrageRunner(
        config=_config(tmp_path, safety=SafetyConfig(risk_caps=caps)),
        history=history,
        metrics=MetricsCollector(),
    )
    summary = runner.run_sync(blocks=BLOCKS)
    s = summary.stats
    assert summary.stopped == "completed"
    assert summary.trades.height == 0 and s["ai_trades_sent"] == 0
    # a refused candidate stays free, so the rule asks again at the next blocks
    assert s["ai_decisions_made"] >= clean.trades.height
    assert s["refused_by_caps"] == {"max_gas_price_wei": s["ai_decisions_made"]}
    assert summary.execution_log is None


def test_no_run_trades_twice_in_a_block(clean: RunSummary) -> None:
    # the other runs check it too; the clean one holds every decision the rule made
    _at_most_one_trade_per_block(clean.trades)
    assert clean.stats["ai_trades_sent"] == clean.trades.height


# -- faults the runner does not survive (yet) -----------------------------------------------


def test_a_stale_read_of_the_reserves_the_order_flow_is_computed_from_is_survived(
    history: MarketHistory, node: AnvilNode, tmp_path: Path
) -> None:
    with FaultProxy(node.url) as proxy:

        def stale_flow_read(report: BlockReport) -> None:
            if report.history_block == int(history.block_numbers[9]):
                proxy.inject(BATCH, "stale")  # the next batch: the next block's flow read

        runner = _proxied(
            history,
            proxy,
            _config(tmp_path, rpc_url=proxy.url),
            on_block=stale_flow_read,
            retry_attempts=4,
        )
        summary = runner.run_sync(blocks=20)
    assert proxy.count("stale") == 1
    assert summary.stopped == "completed" and summary.stats["chain_checks"] == 20


def test_one_error_answer_to_set_base_fee_does_not_switch_the_historys_base_fees_off(
    history: MarketHistory, node: AnvilNode, tmp_path: Path
) -> None:
    chain_blocks: dict[int, int] = {}
    with FaultProxy(node.url) as proxy:

        def fault_at_block_5(report: BlockReport) -> None:
            chain_blocks[report.history_block] = report.chain_block
            if len(chain_blocks) == 5:
                proxy.inject("anvil_setNextBlockBaseFeePerGas", "rpc_error")

        runner = _proxied(
            history, proxy, _config(tmp_path, rpc_url=proxy.url), on_block=fault_at_block_5
        )
        summary = runner.run_sync(blocks=15)
    assert summary.stopped == "completed" and proxy.count("rpc_error") == 1
    fees = history.blocks["base_fee_wei"].to_list()
    # block 6 was mined with the node's own base fee; from block 7 on, the history's again
    for t in range(7, 15):
        block = node.w3.eth.get_block(chain_blocks[int(history.block_numbers[t])])
        assert block["baseFeePerGas"] == fees[t], f"history block {t}"


def test_the_pending_block_read_for_the_gas_price_is_retried(
    history: MarketHistory, node: AnvilNode, clean: RunSummary, tmp_path: Path
) -> None:
    with FaultProxy(node.url) as proxy:
        # a dev node that is not anvil: it keeps its own base fee
        proxy.inject("anvil_setNextBlockBaseFeePerGas", "no_method", times=10_000)
        proxy.inject("eth_getBlockByNumber", "drop", first_param="pending")
        runner = _proxied(history, proxy, _config(tmp_path, rpc_url=proxy.url))
        summary = runner.run_sync(blocks=20)
    assert proxy.count("drop") == 1
    assert summary.stopped == "completed"
    assert summary.trades.height == clean.trades.filter(pl.col("block") < 20_000_020).height


def test_the_first_nonce_read_of_a_live_run_is_retried(
    history: MarketHistory, node: AnvilNode, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FaultProxy(node.url) as proxy:
        proxy.inject("eth_getTransactionCount", "http500")
        runner = _proxied(history, proxy, _live_config(tmp_path, proxy, monkeypatch))
        summary = runner.run_sync(blocks=20)
    assert proxy.count("http500") == 1
    assert summary.stopped == "completed" and summary.stats["chain_trades"] >= 1


def test_mine_and_wait_mines_when_the_automine_probe_fails(node: AnvilNode) -> None:
    with FaultProxy(node.url, arm_on_batch=False) as proxy:
        w3 = attach(proxy.url, timeout=1.0)
        proxy.arm()
        proxy.inject("anvil_getAutomine", "drop")
        proxy.inject("hardhat_getAutomine", "drop")
        before = node.w3.eth.block_number
        mine_and_wait(w3, [], timeout=1.0)  # the probe is asked again, not taken as automine
        assert proxy.count("drop") == 1
        assert node.w3.eth.block_number == before + 1


def test_the_proxy_answers_like_the_node_when_no_fault_is_due(node: AnvilNode) -> None:
    with FaultProxy(node.url, arm_on_batch=False) as proxy:
        w3 = attach(proxy.url, timeout=1.0)
        assert w3.eth.chain_id == node.w3.eth.chain_id
        assert w3.eth.accounts == node.w3.eth.accounts
        batch = w3.provider.make_batch_request(
            [("eth_blockNumber", []), ("eth_chainId", [])]  # type: ignore[list-item]
        )
    assert isinstance(batch, list) and len(batch) == 2
    assert proxy.injected == [] and proxy.requests["eth_chainId"] >= 2
