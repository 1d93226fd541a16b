"""ArbkitV2Pair against the real Uniswap V2 pair, its fee, flash swaps and the venue helpers."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_abi.abi import encode
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError
from web3.types import TxParams

from arbkit.chain.node import AnvilNode, ChainError
from arbkit.chain.solidity import compile_contracts, deploy_compiled, load_contract
from arbkit.chain.uniswap import (
    UniswapV2Deployment,
    create_pair_with_liquidity,
    deploy_uniswap_v2,
    get_reserves,
    mine_and_wait,
)
from arbkit.chain.venues import (
    add_liquidity,
    deploy_fee_pair,
    pair_fee_bps,
    sort_tokens,
    swap_exact_in,
)
from arbkit.errors import ConfigError, InsufficientOutputAmountError
from arbkit.market.amm import get_amount_out

GAS = 300_000
USDC_SUPPLY = 10**9 * 10**6
WETH_SUPPLY = 10**7 * 10**18
RESERVE_USDC = 2_000_000 * 10**6
RESERVE_WETH = 1_000 * 10**18
SEED = 20_240_601
N_SWAPS = 30
Q112 = 2**112

CALLEE_SOURCE = """// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

interface ITestToken { function transfer(address to, uint256 value) external returns (bool); }
interface ITestPair { function sync() external; }

/// Test-only flash-swap borrower: records the callback, optionally re-enters the pair,
/// then repays `repay` of `token` (it must already hold it).
contract FlashCallee {
    address public lastSender;
    uint256 public lastAmount0;
    uint256 public lastAmount1;
    uint256 public calls;

    function uniswapV2Call(address sender, uint256 amount0, uint256 amount1, bytes calldata data)
        external
    {
        (address token, uint256 repay, bool reenter) = abi.decode(data, (address, uint256, bool));
        lastSender = sender;
        lastAmount0 = amount0;
        lastAmount1 = amount1;
        calls += 1;
        if (reenter) ITestPair(msg.sender).sync();
        require(ITestToken(token).transfer(msg.sender, repay), "repay failed");
    }
}
"""


@dataclass
class Venues:
    node: AnvilNode
    deployment: UniswapV2Deployment
    usdc: Contract
    weth: Contract
    cache: Path

    @property
    def w3(self) -> Web3:
        return self.node.w3

    @property
    def holder(self) -> str:
        return self.node.accounts[0]

    @property
    def trader(self) -> str:
        return self.node.accounts[1]

    def token(self, address: str) -> Contract:
        return self.usdc if address == self.usdc.address else self.weth

    def other(self, token: Contract) -> Contract:
        return self.weth if token.address == self.usdc.address else self.usdc


@pytest.fixture(scope="module")
def venues(
    npm_packages: Path, solc: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Venues]:
    cache = tmp_path_factory.mktemp("solc-cache")
    token = load_contract("ArbkitToken", cache_dir=cache)  # compiles contracts/ once
    with AnvilNode() as node:
        w3, holder, trader = node.w3, node.accounts[0], node.accounts[1]
        usdc = deploy_compiled(w3, holder, token, "USD Coin", "USDC", 6, USDC_SUPPLY, holder)
        weth = deploy_compiled(w3, holder, token, "Wrapped Ether", "WETH", 18, WETH_SUPPLY, holder)
        deployment = deploy_uniswap_v2(w3, holder)
        call: TxParams = {"from": holder, "gas": GAS}
        mine_and_wait(
            w3,
            [
                usdc.functions.transfer(trader, USDC_SUPPLY // 2).transact(call),
                weth.functions.transfer(trader, WETH_SUPPLY // 2).transact(call),
            ],
        )
        yield Venues(node, deployment, usdc, weth, cache)


@pytest.fixture
def fresh(venues: Venues) -> Iterator[Venues]:
    """The shared chain, restored after the test."""
    snap = venues.node.snapshot()
    try:
        yield venues
    finally:
        assert venues.node.revert(snap)


# -- helpers -----------------------------------------------------------------------------


def _real_pair(v: Venues) -> Contract:
    return create_pair_with_liquidity(
        v.deployment, v.usdc, v.weth, RESERVE_USDC, RESERVE_WETH, v.holder
    )


def _fee_pair(v: Venues, fee_bps: int) -> Contract:
    pair = deploy_fee_pair(v.w3, v.holder, v.usdc, v.weth, fee_bps, cache_dir=v.cache)
    t0, t1 = _tokens(v, pair)
    amounts = {v.usdc.address: RESERVE_USDC, v.weth.address: RESERVE_WETH}
    add_liquidity(pair, t0, t1, amounts[t0.address], amounts[t1.address], v.holder)
    return pair


def _tokens(v: Venues, pair: Contract) -> tuple[Contract, Contract]:
    return v.token(pair.functions.token0().call()), v.token(pair.functions.token1().call())


Outs = tuple[int, int]


def _quote(
    v: Venues, pair: Contract, token_in: Contract, amount: int, fee: int
) -> tuple[int, Outs, Outs]:
    """Return (out, outs tuple for swap, outs with out + 1)."""
    t0, _ = _tokens(v, pair)
    r0, r1 = get_reserves(pair)
    zero_for_one = token_in.address == t0.address
    r_in, r_out = (r0, r1) if zero_for_one else (r1, r0)
    out = get_amount_out(amount, r_in, r_out, fee)
    if zero_for_one:
        return out, (0, out), (0, out + 1)
    return out, (out, 0), (out + 1, 0)


def _send(v: Venues, call: Any, sender: str) -> None:
    mine_and_wait(v.w3, [call.transact({"from": sender, "gas": GAS})])


def _probe(v: Venues, pair: Contract, token_in: Contract, amount: int, fee: int, k: str) -> int:
    """With `amount` paid in (then undone): `out` passes the pair's checks, `out + 1` fails K."""
    out, outs, too_much = _quote(v, pair, token_in, amount, fee)
    snap = v.node.snapshot()
    try:
        _send(v, token_in.functions.transfer(pair.address, amount), v.trader)
        with pytest.raises(ContractLogicError, match=k):
            pair.functions.swap(*too_much, v.trader, b"").call({"from": v.trader})
        pair.functions.swap(*outs, v.trader, b"").call({"from": v.trader})
    finally:
        assert v.node.revert(snap)
    return int(out)


def _swap_hashes(
    v: Venues, pair: Contract, token_in: Contract, amount: int, outs: Outs
) -> list[HexBytes]:
    tx: TxParams = {"from": v.trader, "gas": GAS}
    return [
        token_in.functions.transfer(pair.address, amount).transact(tx),
        pair.functions.swap(*outs, v.trader, b"").transact(tx),
    ]


# -- parity with the real Uniswap V2 pair at 30 bp ---------------------------------------


def test_identical_to_real_uniswap_v2_pair_at_30bp(fresh: Venues) -> None:
    v = fresh
    real, ours = _real_pair(v), _fee_pair(v, 30)
    assert pair_fee_bps(real) == 30 and pair_fee_bps(ours) == 30
    assert real.functions.token0().call() == ours.functions.token0().call()
    assert get_reserves(real) == get_reserves(ours)
    for pair in (real, ours):  # the same LP shares, 1000 locked at the zero address
        assert pair.functions.balanceOf("0x" + "00" * 20).call() == 1000
    assert real.functions.balanceOf(v.holder).call() == ours.functions.balanceOf(v.holder).call()
    assert real.functions.totalSupply().call() == ours.functions.totalSupply().call()

    rng = random.Random(SEED)
    exponents = {v.usdc.address: (0.0, 11.5), v.weth.address: (10.0, 20.2)}
    seen_in: dict[str, list[int]] = {v.usdc.address: [], v.weth.address: []}
    for _ in range(N_SWAPS):
        token_in = rng.choice((v.usdc, v.weth))
        amount = int(10 ** rng.uniform(*exponents[token_in.address]))
        seen_in[token_in.address].append(amount)
        expected = _probe(v, real, token_in, amount, 30, "UniswapV2: K")
        assert _probe(v, ours, token_in, amount, 30, "ArbkitV2: K") == expected
        out_real = swap_exact_in(v.w3, real, token_in, amount, v.trader)
        out_ours = swap_exact_in(v.w3, ours, token_in, amount, v.trader)
        assert out_real == out_ours == expected > 0
        assert get_reserves(real) == get_reserves(ours)
    for amounts in seen_in.values():  # both directions, amounts over orders of magnitude
        assert len(amounts) >= 5 and max(amounts) > 10**6 * min(amounts)
    assert real.functions.kLast().call() == 0  # the factory's protocol fee is off


def test_cumulative_prices_and_timestamp_match_real_pair(fresh: Venues) -> None:
    v = fresh
    real, ours = _real_pair(v), _fee_pair(v, 30)
    t_first = v.w3.eth.get_block("latest")["timestamp"] + 100
    for when, token_in, amount in (
        (t_first, v.usdc, 12_345 * 10**6),
        (t_first + 37, v.weth, 3 * 10**18 + 11),
    ):
        before = {p.address: _cumulatives(p) for p in (real, ours)}
        reserves = get_reserves(ours)
        assert get_reserves(real) == reserves
        hashes = []
        for pair in (real, ours):  # both swaps in the same block
            _, outs, _ = _quote(v, pair, token_in, amount, 30)
            hashes += _swap_hashes(v, pair, token_in, amount, outs)
        v.node.rpc("evm_setNextBlockTimestamp", when)
        mine_and_wait(v.w3, hashes)
        assert real.functions.getReserves().call() == ours.functions.getReserves().call()
        assert ours.functions.getReserves().call()[2] == when % 2**32
    # The last block's accumulation: the reserves before it times 37 s, in UQ112x112.
    r0, r1 = reserves
    expected = ((r1 * Q112 // r0) * 37, (r0 * Q112 // r1) * 37)
    for pair in (real, ours):
        now = _cumulatives(pair)
        assert (now[0] - before[pair.address][0], now[1] - before[pair.address][1]) == expected


def _cumulatives(pair: Contract) -> tuple[int, int]:
    return (
        pair.functions.price0CumulativeLast().call(),
        pair.functions.price1CumulativeLast().call(),
    )


def test_revert_reasons_match_real_pair(fresh: Venues) -> None:
    v = fresh
    real, ours = _real_pair(v), _fee_pair(v, 30)
    for pair, prefix in ((real, "UniswapV2"), (ours, "ArbkitV2")):
        t0, _ = _tokens(v, pair)
        r0, _ = get_reserves(pair)
        sender: TxParams = {"from": v.trader}
        for args, reason in (
            ((0, 0, v.trader, b""), "INSUFFICIENT_OUTPUT_AMOUNT"),
            ((r0, 0, v.trader, b""), "INSUFFICIENT_LIQUIDITY"),
            ((1, 0, t0.address, b""), "INVALID_TO"),
            ((1, 0, v.trader, b""), "INSUFFICIENT_INPUT_AMOUNT"),
        ):
            with pytest.raises(ContractLogicError, match=f"{prefix}: {reason}"):
                pair.functions.swap(*args).call(sender)
        with pytest.raises(ContractLogicError, match=f"{prefix}: INSUFFICIENT_LIQUIDITY_MINTED"):
            pair.functions.mint(v.trader).call(sender)


def test_skim_and_sync_match_real_pair(fresh: Venues) -> None:
    v = fresh
    real, ours = _real_pair(v), _fee_pair(v, 30)
    donation = {v.usdc.address: 777 * 10**6 + 1, v.weth.address: 5 * 10**18 + 3}
    sink = v.node.accounts[5]
    for pair in (real, ours):
        for token in (v.usdc, v.weth):
            _send(v, token.functions.transfer(pair.address, donation[token.address]), v.trader)
        before = [t.functions.balanceOf(sink).call() for t in (v.usdc, v.weth)]
        _send(v, pair.functions.skim(sink), v.trader)
        after = [t.functions.balanceOf(sink).call() for t in (v.usdc, v.weth)]
        assert after[0] - before[0] == donation[v.usdc.address]
        assert after[1] - before[1] == donation[v.weth.address]
        assert v.usdc.functions.balanceOf(pair.address).call() == RESERVE_USDC
        # Donate again and sync: the reserves take the balances.
        for token in (v.usdc, v.weth):
            _send(v, token.functions.transfer(pair.address, donation[token.address]), v.trader)
        _send(v, pair.functions.sync(), v.trader)
    assert get_reserves(real) == get_reserves(ours)
    t0, _ = _tokens(v, ours)
    reserve0 = RESERVE_USDC if t0.address == v.usdc.address else RESERVE_WETH
    assert get_reserves(ours)[0] == reserve0 + donation[t0.address]
    (sync,) = ours.events.Sync.get_logs(from_block="latest")
    assert (sync["args"]["reserve0"], sync["args"]["reserve1"]) == get_reserves(ours)
    amount = 10**17
    assert swap_exact_in(v.w3, real, v.weth, amount, v.trader) == swap_exact_in(
        v.w3, ours, v.weth, amount, v.trader
    )


# -- the 5 bp venue ----------------------------------------------------------------------


def test_5bp_pair_pays_exact_amount_and_more_than_30bp(fresh: Venues) -> None:
    v = fresh
    p5, p30 = _fee_pair(v, 5), _fee_pair(v, 30)
    assert p5.functions.feeBps().call() == 5 and pair_fee_bps(p5) == 5
    for token_in, amount in (
        (v.usdc, 50_000 * 10**6),
        (v.weth, 25 * 10**18),
        (v.usdc, 1_234_567),
        (v.weth, 10**12 + 1),
    ):
        snap = v.node.snapshot()
        try:
            expected5 = _probe(v, p5, token_in, amount, 5, "ArbkitV2: K")
            expected30 = _probe(v, p30, token_in, amount, 30, "ArbkitV2: K")
            out5 = swap_exact_in(v.w3, p5, token_in, amount, v.trader)
            out30 = swap_exact_in(v.w3, p30, token_in, amount, v.trader)
            assert out5 == expected5 and out30 == expected30
            assert out5 > out30
            t0, _ = _tokens(v, p5)
            r_in = RESERVE_USDC if token_in.address == v.usdc.address else RESERVE_WETH
            assert get_reserves(p5)[0 if token_in.address == t0.address else 1] == r_in + amount
        finally:
            assert v.node.revert(snap)

    # A larger fee than the pair's own only pays less, which the pair accepts; a smaller
    # one pays more than K allows: the swap reverts (after the input transfer is mined).
    out, _, _ = _quote(v, p5, v.weth, 10**18, 30)
    assert swap_exact_in(v.w3, p5, v.weth, 10**18, v.trader, fee_bps=30) == out
    with pytest.raises(ChainError, match="reverted"):
        swap_exact_in(v.w3, p5, v.weth, 10**18, v.trader, fee_bps=0)


# -- flash swaps -------------------------------------------------------------------------


def test_swap_with_data_to_an_eoa_reverts(fresh: Venues) -> None:
    v = fresh
    for pair in (_real_pair(v), _fee_pair(v, 30)):
        amount = 10**18
        _, outs, _ = _quote(v, pair, v.weth, amount, 30)
        _send(v, v.weth.functions.transfer(pair.address, amount), v.trader)
        with pytest.raises(ContractLogicError):  # no code at `to` to call back
            pair.functions.swap(*outs, v.trader, b"\x01").call({"from": v.trader})
        pair.functions.swap(*outs, v.trader, b"").call({"from": v.trader})  # paid, no data: ok


def test_flash_swap_repaid_in_callback(fresh: Venues, tmp_path: Path) -> None:
    v = fresh
    source = tmp_path / "FlashCallee.sol"
    source.write_text(CALLEE_SOURCE)
    artifact = compile_contracts([source], cache_dir=tmp_path / "cache")["FlashCallee"]
    pairs = (
        (_real_pair(v), "UniswapV2", 30),
        (_fee_pair(v, 30), "ArbkitV2", 30),
        (_fee_pair(v, 5), "ArbkitV2", 5),
    )
    received = []
    for pair, prefix, fee in pairs:
        callee = deploy_compiled(v.w3, v.holder, artifact)
        repay = 40_000 * 10**6  # USDC repaid inside the callback, for WETH taken first
        _send(v, v.usdc.functions.transfer(callee.address, repay), v.trader)
        out, outs, too_much = _quote(v, pair, v.usdc, repay, fee)
        data = encode(["address", "uint256", "bool"], [v.usdc.address, repay, False])
        reenter = encode(["address", "uint256", "bool"], [v.usdc.address, repay, True])
        sender: TxParams = {"from": v.trader, "gas": GAS}
        with pytest.raises(ContractLogicError, match=f"{prefix}: K"):
            pair.functions.swap(*too_much, callee.address, data).call(sender)
        with pytest.raises(ContractLogicError, match=f"{prefix}: LOCKED"):
            pair.functions.swap(*outs, callee.address, reenter).call(sender)
        reserves = get_reserves(pair)
        _send(v, pair.functions.swap(*outs, callee.address, data), v.trader)
        assert v.weth.functions.balanceOf(callee.address).call() == out
        assert v.usdc.functions.balanceOf(callee.address).call() == 0
        assert callee.functions.calls().call() == 1
        assert callee.functions.lastSender().call() == v.trader
        assert (
            callee.functions.lastAmount0().call(),
            callee.functions.lastAmount1().call(),
        ) == outs
        usdc_is_0 = pair.functions.token0().call() == v.usdc.address
        delta = (repay, -out) if usdc_is_0 else (-out, repay)
        assert get_reserves(pair) == (reserves[0] + delta[0], reserves[1] + delta[1])
        (swap,) = pair.events.Swap.get_logs(from_block="latest")
        ins = (repay, 0) if usdc_is_0 else (0, repay)
        assert (swap["args"]["amount0In"], swap["args"]["amount1In"]) == ins
        assert (swap["args"]["amount0Out"], swap["args"]["amount1Out"]) == outs
        assert swap["args"]["sender"] == v.trader and swap["args"]["to"] == callee.address
        received.append(out)
    assert received[0] == received[1] < received[2]


# -- mint and the constructor ------------------------------------------------------------


def test_first_mint_locks_minimum_liquidity_and_later_mints_take_min_ratio(
    fresh: Venues,
) -> None:
    v = fresh
    pair = deploy_fee_pair(v.w3, v.holder, v.weth, v.usdc, 5, cache_dir=v.cache)
    t0, t1 = _tokens(v, pair)
    assert (t0.address, t1.address) == sort_tokens(v.usdc, v.weth)
    assert int(t0.address, 16) < int(t1.address, 16)
    assert get_reserves(pair) == (0, 0) and pair.functions.totalSupply().call() == 0
    a0, a1 = 123_456_789_012, 987_654_321 * 10**12 + 5
    liquidity = add_liquidity(pair, t0, t1, a0, a1, v.holder)
    assert liquidity == math.isqrt(a0 * a1) - 1000
    assert pair.functions.balanceOf(v.holder).call() == liquidity
    assert pair.functions.balanceOf("0x" + "00" * 20).call() == 1000
    assert pair.functions.totalSupply().call() == math.isqrt(a0 * a1)
    assert get_reserves(pair) == (a0, a1)
    (mint,) = pair.events.Mint.get_logs(from_block="latest")
    assert (mint["args"]["sender"], mint["args"]["amount0"], mint["args"]["amount1"]) == (
        v.holder,
        a0,
        a1,
    )

    # An unbalanced second deposit is credited by the smaller ratio; `mint` returns it.
    b0, b1 = a0 // 3, a1 // 2
    supply = pair.functions.totalSupply().call()
    expected = min(b0 * supply // a0, b1 * supply // a1)
    _send(v, t0.functions.transfer(pair.address, b0), v.holder)
    _send(v, t1.functions.transfer(pair.address, b1), v.holder)
    assert pair.functions.mint(v.trader).call({"from": v.holder}) == expected
    _send(v, pair.functions.mint(v.trader), v.holder)
    assert pair.functions.balanceOf(v.trader).call() == expected
    assert get_reserves(pair) == (a0 + b0, a1 + b1)
    # The real pair credits the same shares for the same deposits.
    real = create_pair_with_liquidity(v.deployment, t0, t1, a0, a1, v.holder)
    assert real.functions.balanceOf(v.holder).call() == liquidity
    assert add_liquidity(real, t1, t0, b1, b0, v.holder) == expected


def test_first_mint_too_small_reverts(fresh: Venues) -> None:
    v = fresh
    pair = deploy_fee_pair(v.w3, v.holder, v.usdc, v.weth, 5, cache_dir=v.cache)
    t0, t1 = _tokens(v, pair)
    with pytest.raises(ChainError, match="reverted"):
        add_liquidity(pair, t0, t1, 1000, 1000, v.holder)  # sqrt = 1000: nothing left
    with pytest.raises(ContractLogicError, match="ArbkitV2: INSUFFICIENT_LIQUIDITY_MINTED"):
        pair.functions.mint(v.holder).call({"from": v.holder})
    assert add_liquidity(pair, t0, t1, 1, 1, v.holder) == 1  # isqrt(1001 * 1001) - 1000


def test_constructor_checks_fee_and_token_order(fresh: Venues) -> None:
    v = fresh
    artifact = load_contract("ArbkitV2Pair", cache_dir=v.cache)
    factory = v.w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    t0, t1 = sort_tokens(v.usdc, v.weth)
    sender = {"from": v.holder}
    for fee in (10_000, 65_535):
        with pytest.raises(ContractLogicError, match="ArbkitV2: FEE_TOO_HIGH"):
            factory.constructor(t0, t1, fee).estimate_gas(sender)
        with pytest.raises(ConfigError, match="fee_bps"):
            deploy_fee_pair(v.w3, v.holder, t0, t1, fee, cache_dir=v.cache)
    with pytest.raises(ChainError, match="reverted"):  # mined, it fails too
        deploy_compiled(v.w3, v.holder, artifact, t0, t1, 10_000)
    with pytest.raises(ContractLogicError, match="ArbkitV2: TOKENS_NOT_SORTED"):
        factory.constructor(t1, t0, 5).estimate_gas(sender)
    with pytest.raises(ContractLogicError, match="ArbkitV2: TOKENS_NOT_SORTED"):
        factory.constructor(t0, t0, 5).estimate_gas(sender)
    top = deploy_fee_pair(v.w3, v.holder, t1, t0, 9_999, cache_dir=v.cache)
    assert top.functions.feeBps().call() == 9_999
    assert (top.functions.token0().call(), top.functions.token1().call()) == (t0, t1)
    with pytest.raises(ConfigError, match="different tokens"):
        deploy_fee_pair(v.w3, v.holder, t0, t0, 5, cache_dir=v.cache)


# -- the helpers -------------------------------------------------------------------------


def test_swap_exact_in_checks_before_sending(fresh: Venues) -> None:
    v = fresh
    pair = _fee_pair(v, 5)
    block = v.w3.eth.block_number
    balance = v.weth.functions.balanceOf(v.trader).call()
    out, _, _ = _quote(v, pair, v.weth, 10**18, 5)
    with pytest.raises(InsufficientOutputAmountError, match="min_out"):
        swap_exact_in(v.w3, pair, v.weth, 10**18, v.trader, min_out=out + 1)
    with pytest.raises(InsufficientOutputAmountError, match="gives 0 out"):
        swap_exact_in(v.w3, pair, v.weth, 1, v.trader)  # 1 wei of WETH buys no USDC
    with pytest.raises(ConfigError, match="holds"):
        swap_exact_in(v.w3, pair, v.weth, 10**18, v.node.accounts[7])
    with pytest.raises(ConfigError, match="not in pair"):
        swap_exact_in(v.w3, pair, v.deployment.weth, 10**18, v.trader)
    with pytest.raises(ConfigError, match="positive"):
        swap_exact_in(v.w3, pair, v.weth, 0, v.trader)
    with pytest.raises(ConfigError, match="cannot go to"):
        swap_exact_in(v.w3, pair, v.weth, 10**18, v.trader, to=v.usdc.address)
    with pytest.raises(ConfigError, match="fee_bps"):
        swap_exact_in(v.w3, pair, v.weth, 10**18, v.trader, fee_bps=10_000)
    assert v.w3.eth.block_number == block  # nothing was sent or mined
    assert v.weth.functions.balanceOf(v.trader).call() == balance
    # min_out == out passes; the output may go to another recipient.
    sink = v.node.accounts[6]
    assert swap_exact_in(v.w3, pair, v.weth, 10**18, v.trader, min_out=out, to=sink) == out
    assert v.usdc.functions.balanceOf(sink).call() == out
    with pytest.raises(ConfigError, match="not the pair's tokens"):
        add_liquidity(pair, v.usdc, v.deployment.weth, 1, 1, v.holder)


def test_helpers_work_with_automine(fresh: Venues) -> None:
    v = fresh
    v.node.set_automine(True)
    try:
        pair = _fee_pair(v, 5)
        amount = 7 * 10**18
        out, _, _ = _quote(v, pair, v.weth, amount, 5)
        assert swap_exact_in(v.w3, pair, v.weth, amount, v.trader) == out
    finally:
        v.node.set_automine(False)
