"""The real Uniswap V2 bytecode on anvil agrees with arbkit's integer AMM math to the wei."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from web3.contract import Contract
from web3.exceptions import ContractLogicError

from arbkit.chain.node import AnvilNode, ChainError
from arbkit.chain.uniswap import (
    CORE_PACKAGE,
    PAIR_INIT_CODE_HASH,
    PERIPHERY_PACKAGE,
    DeployedToken,
    UniswapV2Deployment,
    create_pair_with_liquidity,
    deploy_erc20,
    deploy_uniswap_v2,
    get_reserves,
    load_artifact,
    mine_and_wait,
    pair_init_code_hash,
)
from arbkit.errors import ConfigError, DataError
from arbkit.market.amm import get_amount_out

GAS = 300_000
RESERVE_A = 1_000 * 10**18
RESERVE_B = 3_000 * 10**18


@dataclass
class Market:
    node: AnvilNode
    deployment: UniswapV2Deployment
    token_a: DeployedToken
    token_b: DeployedToken
    pair: Contract


@pytest.fixture(scope="module")
def market(npm_packages: Path) -> Iterator[Market]:
    with AnvilNode() as node:
        w3 = node.w3
        deployer = node.accounts[0]
        deployment = deploy_uniswap_v2(w3, deployer)
        token_a = deploy_erc20(w3, deployer, "Token A", "TKA", 18, 10**30)
        token_b = deploy_erc20(w3, deployer, "Token B", "TKB", 18, 10**30)
        pair = create_pair_with_liquidity(
            deployment, token_a, token_b, RESERVE_A, RESERVE_B, deployer
        )
        yield Market(node, deployment, token_a, token_b, pair)


# -- artifacts ---------------------------------------------------------------------------


def test_pair_creation_code_hash_is_mainnet_init_code_hash(npm_packages: Path) -> None:
    assert pair_init_code_hash() == PAIR_INIT_CODE_HASH
    assert PAIR_INIT_CODE_HASH == (
        "0x96e8ac4277198ff8b6f785478aa9a39f403cb768dd02cbee326c3e7da348845f"
    )
    # Router02's UniswapV2Library.pairFor embeds the same hash.
    router = load_artifact(PERIPHERY_PACKAGE, "UniswapV2Router02")
    assert PAIR_INIT_CODE_HASH[2:] in router["bytecode"]


def test_load_artifact_returns_abi_and_hex_bytecode(npm_packages: Path) -> None:
    artifact = load_artifact(CORE_PACKAGE, "UniswapV2Factory")
    assert artifact["bytecode"].startswith("0x60")
    assert any(item.get("name") == "createPair" for item in artifact["abi"])


def test_load_artifact_names_missing_or_malformed_file(tmp_path: Path) -> None:
    build = tmp_path / "pkg" / "build"
    build.mkdir(parents=True)
    with pytest.raises(DataError, match=r"Missing\.json"):
        load_artifact("pkg", "Missing", tmp_path)
    (build / "Bad.json").write_text("{not json")
    with pytest.raises(DataError, match=r"Bad\.json"):
        load_artifact("pkg", "Bad", tmp_path)
    (build / "NoCode.json").write_text(json.dumps({"abi": []}))
    with pytest.raises(DataError, match=r"NoCode\.json.*bytecode"):
        load_artifact("pkg", "NoCode", tmp_path)
    (build / "Linked.json").write_text(json.dumps({"abi": [], "bytecode": "6080__$lib$__"}))
    with pytest.raises(DataError, match=r"Linked\.json"):
        load_artifact("pkg", "Linked", tmp_path)
    (build / "Good.json").write_text(json.dumps({"abi": [], "bytecode": "6080ABCD"}))
    assert load_artifact("pkg", "Good", tmp_path)["bytecode"] == "0x6080abcd"


# -- deployment --------------------------------------------------------------------------


def test_deployment_is_wired_and_pair_holds_exact_liquidity(market: Market) -> None:
    d, pair = market.deployment, market.pair
    deployer = market.node.accounts[0]
    assert d.router.functions.factory().call() == d.factory_address
    assert d.router.functions.WETH().call() == d.weth_address
    assert d.factory.functions.feeToSetter().call() == deployer
    assert d.factory.functions.allPairsLength().call() == 1
    assert d.weth.functions.symbol().call() == "WETH"
    token0 = pair.functions.token0().call()
    token1 = pair.functions.token1().call()
    assert int(token0, 16) < int(token1, 16)
    assert {token0, token1} == {market.token_a.address, market.token_b.address}
    by_token = {market.token_a.address: RESERVE_A, market.token_b.address: RESERVE_B}
    assert get_reserves(pair) == (by_token[token0], by_token[token1])
    minimum = pair.functions.MINIMUM_LIQUIDITY().call()
    expected_lp = math.isqrt(RESERVE_A * RESERVE_B) - minimum
    assert pair.functions.balanceOf(deployer).call() == expected_lp
    assert market.token_a.contract.functions.decimals().call() == 18
    assert market.token_a.symbol == "TKA"


def test_deploy_erc20_rejects_decimals_it_cannot_honour(market: Market) -> None:
    with pytest.raises(ConfigError, match="18 decimals"):
        deploy_erc20(market.node.w3, market.node.accounts[0], "Six", "SIX", 6, 10**12)


def test_create_pair_without_tokens_fails_clearly(market: Market) -> None:
    pauper = market.node.accounts[9]
    snap = market.node.snapshot()
    try:
        with pytest.raises(ChainError, match="reverted"):
            create_pair_with_liquidity(
                market.deployment, market.token_a, market.deployment.weth, 10, 10, pauper
            )
    finally:
        market.node.revert(snap)


def test_deploy_and_add_liquidity_with_automine(npm_packages: Path) -> None:
    with AnvilNode(manual_mining=False) as node:
        w3, deployer = node.w3, node.accounts[0]
        deployment = deploy_uniswap_v2(w3, deployer)
        token = deploy_erc20(w3, deployer, "Token", "TOK", 18, 10**24)
        weth = deployment.weth
        mine_and_wait(
            w3, [weth.functions.deposit().transact({"from": deployer, "value": 10**18, "gas": GAS})]
        )
        pair = create_pair_with_liquidity(deployment, token, weth, 5 * 10**21, 10**18, deployer)
        reserves = get_reserves(pair)
        assert sorted(reserves) == [10**18, 5 * 10**21]
        assert w3.eth.block_number == 9  # one block per transaction, none extra


# -- swaps against the Python model ------------------------------------------------------


def test_random_swaps_pay_exactly_get_amount_out(market: Market) -> None:
    snap = market.node.snapshot()  # leave the shared pair as the other tests expect it
    try:
        _check_random_swaps(market)
    finally:
        assert market.node.revert(snap)


def _check_random_swaps(market: Market) -> None:
    node, pair = market.node, market.pair
    w3 = node.w3
    deployer, trader = node.accounts[0], node.accounts[1]
    token_of = {t.address: t.contract for t in (market.token_a, market.token_b)}
    token0 = token_of[pair.functions.token0().call()]
    token1 = token_of[pair.functions.token1().call()]
    funding = [
        tok.functions.transfer(trader, 10**27).transact({"from": deployer, "gas": GAS})
        for tok in (token0, token1)
    ]
    mine_and_wait(w3, funding)
    reserve0, reserve1 = get_reserves(pair)
    rng = np.random.default_rng(20_240_611)
    for case in range(20):
        zero_for_one = bool(rng.integers(0, 2))
        token_in, token_out = (token0, token1) if zero_for_one else (token1, token0)
        reserve_in, reserve_out = (reserve0, reserve1) if zero_for_one else (reserve1, reserve0)
        amount_in = int(10 ** rng.uniform(4.0, 21.0)) + int(rng.integers(0, 1000))
        out = get_amount_out(amount_in, reserve_in, reserve_out)
        assert out > 0
        outs = (0, out) if zero_for_one else (out, 0)
        too_much = (0, out + 1) if zero_for_one else (out + 1, 0)

        paid_in = token_in.functions.transfer(pair.address, amount_in).transact(
            {"from": trader, "gas": GAS}
        )
        mine_and_wait(w3, [paid_in])
        with pytest.raises(ContractLogicError, match="UniswapV2: K"):
            pair.functions.swap(*too_much, trader, b"").call({"from": trader})

        before = token_out.functions.balanceOf(trader).call()
        swap = pair.functions.swap(*outs, trader, b"").transact({"from": trader, "gas": GAS})
        (receipt,) = mine_and_wait(w3, [swap])
        assert receipt["status"] == 1, f"case {case}"
        assert token_out.functions.balanceOf(trader).call() - before == out, f"case {case}"

        if zero_for_one:
            reserve0, reserve1 = reserve0 + amount_in, reserve1 - out
        else:
            reserve0, reserve1 = reserve0 - out, reserve1 + amount_in
        assert get_reserves(pair) == (reserve0, reserve1), f"case {case}"
    assert reserve0 * reserve1 > RESERVE_A * RESERVE_B  # fees stayed in the pool
