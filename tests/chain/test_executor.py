"""The flash-loan executor and lenders on anvil: parity with arbkit's predictions, to the wei."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import polars as pl
import pytest
from web3.exceptions import ContractLogicError

from arbkit.chain import AnvilNode
from arbkit.chain.executor import ChainRoute, predict_execution, route_from_candidate
from arbkit.chain.market import ChainMarket, FlowReport, FlowStep
from arbkit.chain.parity import ParityReport, run_parity
from arbkit.chain.solidity import load_contract
from arbkit.chain.uniswap import mine_and_wait
from arbkit.chain.venues import pair_fee_bps
from arbkit.errors import ConfigError, DataError
from arbkit.market.amm import get_amount_out
from arbkit.market.sim import simulate_market
from arbkit.opportunities.config import FlashSource, ScanConfig
from arbkit.opportunities.scanner import scan_block


@pytest.fixture(scope="module")
def parity(npm_packages: object, solc: str) -> ParityReport:
    return run_parity(120, seed=11)


def test_parity_every_trade_pays_the_predicted_profit_to_the_wei(parity: ParityReport) -> None:
    assert len(parity.trades) >= 100
    assert parity.mismatches == []
    seen = {(t.kind, t.source) for t in parity.trades}
    assert seen == {
        (k, s) for k in ("dex_dex", "triangular") for s in ("aave", "balancer", "v2_flash_swap")
    }
    plain = [t for t in parity.trades if t.case == "plain"]
    assert len(plain) >= 40
    for t in plain:  # run against the state it was scanned on: the scanner's own number
        assert t.chain_success and t.chain_profit == t.scanner_profit == t.predicted_profit > 0


def test_parity_predicted_reverts_revert(parity: ParityReport) -> None:
    greedy = [t for t in parity.trades if t.case == "min_profit+1"]
    assert greedy and not any(t.chain_success or t.predicted_success for t in greedy)
    assert all(t.chain_profit == 0 for t in greedy)
    front = [t for t in parity.trades if t.case == "front_run"]
    assert front
    # a rival moved the state first: the profit differs from the scan but not from the
    # prediction made for the state the trade ran against
    assert any(t.chain_profit != t.scanner_profit for t in front)
    assert parity.bribes_checked >= 5


def test_parity_table_counts_every_trade(parity: ParityReport) -> None:
    table = parity.table()
    assert table["trades"].sum() == len(parity.trades)
    assert table["mismatches"].sum() == 0


@dataclass
class Setup:
    node: AnvilNode
    market: ChainMarket
    history: pl.DataFrame
    swaps: pl.DataFrame


@pytest.fixture(scope="module")
def setup(npm_packages: object, solc: str) -> Iterator[Setup]:
    sim = simulate_market(seed=5, n_blocks=40)
    history = sim.pool_states
    first = history.filter(pl.col("block") == history["block"].min())
    with AnvilNode() as node:
        market = ChainMarket.deploy(
            node.w3, first, deployer=node.accounts[0], owner=node.accounts[1]
        )
        yield Setup(node, market, history, sim.swaps)


@pytest.fixture
def fresh(setup: Setup) -> Iterator[Setup]:
    snap = setup.node.snapshot()
    setup.market.flow_report = FlowReport()  # counts of this test only
    try:
        yield setup
    finally:
        assert setup.node.revert(snap)


def _states(market: ChainMarket) -> dict[str, tuple[int, int]]:
    out = {}
    for r in market.pool_states().to_dicts():
        pool = market.pools[r["pool"]]
        pair = (int(r["reserve0"]), int(r["reserve1"]))
        out[r["pool"]] = pair[::-1] if pool.flipped else pair
    return out


def test_pools_start_with_the_history_reserves_on_real_and_fee_pairs(fresh: Setup) -> None:
    market = fresh.market
    first = fresh.history.filter(pl.col("block") == fresh.history["block"].min())
    want = {r["pool"]: (r["reserve0"], r["reserve1"]) for r in first.to_dicts()}
    assert _states(market) == want
    venues = {p.venue for p in market.pools.values()}
    assert venues == {"uniswap_v2", "sushiswap", "univ3_5bp"}
    factories = {
        market.uniswap.factory.address: "uniswap_v2",
        market.sushiswap.factory.address: "sushiswap",
    }
    for pool in market.pools.values():
        pair = fresh.node.w3.eth.contract(address=pool.address, abi=market.uniswap.pair_abi)
        if pool.fee_bps == 30:  # a real UniswapV2Pair made by its venue's factory
            assert factories[pair.functions.factory().call()] == pool.venue
        else:  # the project's V2-style pair with its fee
            fee_pair = fresh.node.w3.eth.contract(
                address=pool.address, abi=load_contract("ArbkitV2Pair")["abi"]
            )
            assert pair_fee_bps(fee_pair) == pool.fee_bps == 5


def test_order_flow_replays_each_recorded_swap_and_reproduces_every_block(fresh: Setup) -> None:
    market, history, swaps = fresh.market, fresh.history, fresh.swaps
    blocks = sorted(history["block"].unique().to_list())
    for b in blocks[1:]:
        rows = history.filter(pl.col("block") == b)
        tx = market.send_flow(market.flow_steps(rows, swaps=swaps.filter(pl.col("block") == b)))
        mine_and_wait(market.w3, [tx] if tx is not None else [])
        want = {r["pool"]: (r["reserve0"], r["reserve1"]) for r in rows.to_dicts()}
        assert _states(market) == want, f"history block {b}"
    report = market.flow_report
    # every noise and rival swap went in as it happened, nothing else was needed
    recorded = swaps.filter(pl.col("block") > blocks[0]).height
    assert recorded > len(blocks)
    assert report.recorded_swaps == report.swaps == recorded
    assert report.donations == report.burns == 0 and report.unreachable == []


def test_order_flow_without_recorded_swaps_reproduces_every_block(fresh: Setup) -> None:
    market, history = fresh.market, fresh.history
    blocks = sorted(history["block"].unique().to_list())
    for b in blocks[1:]:
        rows = history.filter(pl.col("block") == b)
        market.replay_block(rows)  # net change per pool, as for snapshot histories
        want = {r["pool"]: (r["reserve0"], r["reserve1"]) for r in rows.to_dicts()}
        assert _states(market) == want, f"history block {b}"
    report = market.flow_report
    assert report.unreachable == [] and report.recorded_swaps == 0
    assert report.swaps > len(blocks)  # real swaps went in, not only syncs


def _best(market: ChainMarket, source: FlashSource) -> ChainRoute:
    # push one pool off so there is an opportunity, then scan the chain
    pool = market.pools["uniswap_v2:USDC-WETH"]
    r0, r1 = market.reserves()[pool.address]
    amount = r0 // 50
    step = FlowStep(pool.address, amount0_in=amount, amount1_out=get_amount_out(amount, r0, r1))
    tx = market.send_flow([step])
    mine_and_wait(market.w3, [tx] if tx else [])
    cfg = ScanConfig(kinds=("dex_dex",), flash_source=source, min_net_profit_quote=-1e18)
    cands = scan_block(market.pool_states(), base_fee_wei=0, config=cfg)
    assert cands.height
    return route_from_candidate(
        cands.row(0, named=True), market.pool_map, market.token_addresses, market.fees_bps
    )


def test_only_the_owner_may_execute(fresh: Setup) -> None:
    market = fresh.market
    route = _best(market, FlashSource.BALANCER)
    call = market.executor.executor.functions.execute(
        2, market.lenders.vault.address, route.as_arg(), 0, 0
    )
    with pytest.raises(ContractLogicError, match="Executor: NOT_OWNER"):
        call.call({"from": market.deployer})
    assert market.executor.simulate(route, FlashSource.BALANCER).success


def test_callbacks_from_strangers_are_refused(fresh: Setup) -> None:
    market = fresh.market
    ex = market.executor.executor
    route = _best(market, FlashSource.AAVE)
    with pytest.raises(ContractLogicError, match="UNEXPECTED_CALLBACK"):
        ex.functions.uniswapV2Call(ex.address, 1, 0, b"").call({"from": market.owner})
    with pytest.raises(ContractLogicError, match="UNEXPECTED_CALLBACK"):
        ex.functions.executeOperation(route.token, 1, 0, ex.address, b"").call(
            {"from": market.deployer}
        )
    with pytest.raises(ContractLogicError, match="UNEXPECTED_CALLBACK"):
        ex.functions.receiveFlashLoan([route.token], [1], [0], b"").call({"from": market.deployer})


def test_loan_beyond_the_lenders_balance_reverts_as_predicted(fresh: Setup) -> None:
    market = fresh.market
    route = _best(market, FlashSource.BALANCER)
    token = next(c for c in market.tokens.values() if c.address == route.token)
    for source, lender in (
        (FlashSource.BALANCER, market.lenders.vault),
        (FlashSource.AAVE, market.lenders.aave),
    ):
        balance = int(token.functions.balanceOf(lender.address).call())
        big = route.with_amount(balance + 1)
        predicted = predict_execution(big, market.reserves(), source=source, lender_balance=balance)
        assert not predicted.success
        sim = market.executor.simulate(big, source)
        assert not sim.success and sim.reason


def test_deadline_and_bad_source_revert(fresh: Setup) -> None:
    market = fresh.market
    route = _best(market, FlashSource.V2_FLASH_SWAP)
    now = market.w3.eth.block_number
    past = market.executor.simulate(route, FlashSource.V2_FLASH_SWAP, deadline_block=now - 1)
    assert (past.success, past.reason) == (False, "Executor: DEADLINE")
    ok = market.executor.simulate(route, FlashSource.V2_FLASH_SWAP, deadline_block=now + 1)
    assert ok.success and ok.profit > 0
    call = market.executor.executor.functions.execute(7, market.owner, route.as_arg(), 0, 0)
    with pytest.raises(ContractLogicError, match="BAD_SOURCE"):
        call.call({"from": market.owner})


def test_executed_trade_pays_the_owner_and_the_event_reports_it(fresh: Setup) -> None:
    market = fresh.market
    route = _best(market, FlashSource.AAVE)
    predicted = predict_execution(
        route, market.reserves(), source=FlashSource.AAVE, premium_bps=market.lenders.premium_bps
    )
    token = next(c for c in market.tokens.values() if c.address == route.token)
    before = int(token.functions.balanceOf(market.owner).call())
    receipt = market.executor.execute_and_mine(route, FlashSource.AAVE)
    assert receipt["status"] == 1
    paid = int(token.functions.balanceOf(market.owner).call()) - before
    assert paid == market.executor.profit_of(receipt) == predicted.profit > 0
    assert int(token.functions.balanceOf(market.executor.executor.address).call()) == 0


def test_route_from_candidate_checks_the_route() -> None:
    pools = {"a": ("0x" + "11" * 20, "USDC", "WETH"), "b": ("0x" + "22" * 20, "USDC", "WETH")}
    tokens = {"USDC": "0x" + "33" * 20, "WETH": "0x" + "44" * 20}
    fees = {"a": 30, "b": 5}
    cand = {"route": ["a", "b"], "start_token": "WETH", "amount_in": 10}
    route = route_from_candidate(cand, pools, tokens, fees)
    assert route.zero_for_one == (False, True) and route.fee_bps == (30, 5)
    with pytest.raises(DataError, match="not deployed"):
        route_from_candidate({**cand, "route": ["a", "z"]}, pools, tokens, fees)
    with pytest.raises(DataError, match="does not trade"):
        route_from_candidate({**cand, "start_token": "DAI"}, pools, tokens, fees)
    with pytest.raises(ConfigError, match="positive"):
        route_from_candidate({**cand, "amount_in": 0}, pools, tokens, fees)
