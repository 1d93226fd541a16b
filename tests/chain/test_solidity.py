"""solc-js compilation, its disk cache, and ArbkitToken on anvil and in a real Uniswap V2 pair."""

from __future__ import annotations

import logging
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from web3.contract import Contract
from web3.exceptions import ContractLogicError

from arbkit.chain import solidity
from arbkit.chain.node import NODE_MODULES_ENV, AnvilNode, ChainError
from arbkit.chain.solidity import (
    SolidityError,
    compile_contracts,
    contracts_dir,
    default_cache_dir,
    deploy_compiled,
    load_contract,
)
from arbkit.chain.uniswap import (
    create_pair_with_liquidity,
    deploy_uniswap_v2,
    get_reserves,
    mine_and_wait,
)
from arbkit.errors import ConfigError, DataError
from arbkit.market.amm import get_amount_out

GAS = 300_000
USDC_SUPPLY = 10_000_000 * 10**6
ARB_SUPPLY = 1_000_000 * 10**18
TOKEN_SOURCE = contracts_dir() / "ArbkitToken.sol"


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("solc-cache")


@pytest.fixture(scope="module")
def artifacts(solc: str, cache_dir: Path) -> dict[str, dict[str, Any]]:
    return compile_contracts(cache_dir=cache_dir)


@dataclass
class Chain:
    node: AnvilNode
    usdc: Contract
    arb: Contract

    @property
    def holder(self) -> str:
        return self.node.accounts[0]


@pytest.fixture(scope="module")
def chain(artifacts: dict[str, dict[str, Any]]) -> Iterator[Chain]:
    token = artifacts["ArbkitToken"]
    with AnvilNode() as node:
        w3, deployer = node.w3, node.accounts[0]
        usdc = deploy_compiled(w3, deployer, token, "USD Coin", "USDC", 6, USDC_SUPPLY, deployer)
        arb = deploy_compiled(w3, deployer, token, "Arb Token", "ARB", 18, ARB_SUPPLY, deployer)
        yield Chain(node, usdc, arb)


@pytest.fixture
def fresh(chain: Chain) -> Iterator[Chain]:
    """The shared chain, restored after the test."""
    snap = chain.node.snapshot()
    try:
        yield chain
    finally:
        assert chain.node.revert(snap)


def _send(chain: Chain, call: Any, sender: str) -> None:
    mine_and_wait(chain.node.w3, [call.transact({"from": sender, "gas": GAS})])


# -- compiling ---------------------------------------------------------------------------


def test_compile_returns_load_artifact_shape(
    artifacts: dict[str, dict[str, Any]], solc: str
) -> None:
    assert solc.startswith("0.8.37+")
    token = artifacts["ArbkitToken"]
    assert set(token) == {"abi", "bytecode", "deployed_bytecode"}
    assert token["bytecode"].startswith("0x60")
    assert token["deployed_bytecode"].startswith("0x60")
    assert token["bytecode"] == token["bytecode"].lower()
    names = {item.get("name") for item in token["abi"]}
    assert {
        "transfer",
        "transferFrom",
        "approve",
        "allowance",
        "balanceOf",
        "totalSupply",
        "name",
        "symbol",
        "decimals",
        "Transfer",
        "Approval",
    } <= names
    assert default_cache_dir().parts[-2:] == ("build", "contracts")


def test_cache_hit_runs_no_node_and_survives_empty_path(
    artifacts: dict[str, dict[str, Any]], cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = list(cache_dir.glob("solc-*.json"))
    assert len(files) == 1
    assert len(files[0].stem.removeprefix("solc-")) == 64  # the sha256 key

    def no_subprocess(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a cache hit must not run Node")

    monkeypatch.setenv("PATH", "")
    monkeypatch.setattr(subprocess, "run", no_subprocess)
    assert compile_contracts(cache_dir=cache_dir) == artifacts
    assert load_contract("ArbkitToken", cache_dir=cache_dir) == artifacts["ArbkitToken"]
    with pytest.raises(DataError, match=r"NoSuchToken.*ArbkitToken"):
        load_contract("NoSuchToken", cache_dir=cache_dir)
    # Other settings are another key: that needs Node, which is now off PATH.
    with pytest.raises(ConfigError, match=r"Node\.js 20.*npm ci"):
        compile_contracts(cache_dir=cache_dir, optimize_runs=999)


def test_changing_a_source_byte_invalidates_the_cache(
    artifacts: dict[str, dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "ArbkitToken.sol"
    shutil.copyfile(TOKEN_SOURCE, source)
    cache = tmp_path / "cache"
    runs = []
    real_run = subprocess.run

    def counting_run(*args: Any, **kwargs: Any) -> Any:
        runs.append(args)
        return real_run(*args, **kwargs)

    monkeypatch.setattr(subprocess, "run", counting_run)
    first = compile_contracts([source], cache_dir=cache)
    assert len(runs) == 1
    assert compile_contracts([source], cache_dir=cache) == first
    assert len(runs) == 1  # hit

    text = source.read_bytes()
    source.write_bytes(text.replace(b"A minimal ERC-20", b"A minimal ERC-2O", 1))
    second = compile_contracts([source], cache_dir=cache)
    assert len(runs) == 2  # one byte changed: miss, recompiled
    assert len(list(cache.glob("solc-*.json"))) == 2
    assert second["ArbkitToken"]["abi"] == first["ArbkitToken"]["abi"]
    # The metadata hash appended to the code covers the source bytes.
    assert second["ArbkitToken"]["deployed_bytecode"] != first["ArbkitToken"]["deployed_bytecode"]


def test_syntax_error_names_file_and_line(solc: str, tmp_path: Path) -> None:
    broken = tmp_path / "Broken.sol"
    broken.write_text(
        "// SPDX-License-Identifier: MIT\n"
        "pragma solidity ^0.8.20;\n"
        "contract Broken {\n"
        "    function f() external pure returns (uint256) {\n"
        "        return 1\n"
        "    }\n"
        "}\n"
    )
    with pytest.raises(SolidityError) as info:
        compile_contracts([broken], cache_dir=tmp_path / "cache")
    message = str(info.value)
    assert f"{broken.as_posix()}:6:" in message  # solc points at the token after `1`
    assert "ParserError" in message
    assert isinstance(info.value, ChainError)
    assert isinstance(info.value, DataError)
    assert not list((tmp_path / "cache").glob("*.json"))  # failures are not cached


def test_warnings_are_logged_not_fatal(
    solc: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    source = tmp_path / "Warn.sol"
    source.write_text(
        "// SPDX-License-Identifier: MIT\n"
        "pragma solidity ^0.8.20;\n"
        "contract Warn {\n"
        "    function f(uint256 unused) external pure returns (uint256) {\n"
        "        return 7;\n"
        "    }\n"
        "}\n"
    )
    with caplog.at_level(logging.WARNING, logger="arbkit.chain.solidity"):
        result = compile_contracts([source], cache_dir=tmp_path / "cache")
    assert result["Warn"]["bytecode"].startswith("0x60")
    assert any(
        f"{source.as_posix()}:4:" in r.getMessage() and "Warning" in r.getMessage()
        for r in caplog.records
    )


def test_missing_solc_package_or_source_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(DataError, match=r"Nope\.sol"):
        compile_contracts([tmp_path / "Nope.sol"], cache_dir=tmp_path)
    with pytest.raises(ConfigError, match="optimize_runs"):
        compile_contracts(optimize_runs=-1, cache_dir=tmp_path)
    monkeypatch.setenv(NODE_MODULES_ENV, str(tmp_path))  # a node_modules without solc
    with pytest.raises(ConfigError, match=r"solc.*Node\.js 20.*npm ci"):
        compile_contracts(cache_dir=tmp_path)
    with pytest.raises(ConfigError, match="npm ci"):
        solidity.solc_version()


# -- the token on anvil ------------------------------------------------------------------


def test_tokens_report_metadata_and_mint_to_holder(chain: Chain) -> None:
    for token, name, symbol, decimals, supply in (
        (chain.usdc, "USD Coin", "USDC", 6, USDC_SUPPLY),
        (chain.arb, "Arb Token", "ARB", 18, ARB_SUPPLY),
    ):
        assert token.functions.name().call() == name
        assert token.functions.symbol().call() == symbol
        assert token.functions.decimals().call() == decimals
        assert token.functions.totalSupply().call() == supply
        assert token.functions.balanceOf(chain.holder).call() == supply
        (mint,) = token.events.Transfer.get_logs(from_block=0)
        assert mint["args"]["to"] == chain.holder and mint["args"]["value"] == supply
        assert int(mint["args"]["from"], 16) == 0


def test_transfer_and_transfer_from_with_approve(fresh: Chain) -> None:
    usdc, holder = fresh.usdc, fresh.holder
    alice, bob = fresh.node.accounts[1], fresh.node.accounts[2]
    assert usdc.functions.transfer(alice, 5).call({"from": holder}) is True
    _send(fresh, usdc.functions.transfer(alice, 250 * 10**6), holder)
    assert usdc.functions.balanceOf(alice).call() == 250 * 10**6
    assert usdc.functions.balanceOf(holder).call() == USDC_SUPPLY - 250 * 10**6

    _send(fresh, usdc.functions.approve(bob, 100 * 10**6), alice)
    assert usdc.functions.allowance(alice, bob).call() == 100 * 10**6
    (approval,) = usdc.events.Approval.get_logs(from_block="latest")
    assert approval["args"]["owner"] == alice and approval["args"]["spender"] == bob
    _send(fresh, usdc.functions.transferFrom(alice, bob, 60 * 10**6), bob)
    assert usdc.functions.allowance(alice, bob).call() == 40 * 10**6
    assert usdc.functions.balanceOf(alice).call() == 190 * 10**6
    assert usdc.functions.balanceOf(bob).call() == 60 * 10**6
    assert usdc.functions.totalSupply().call() == USDC_SUPPLY


def test_overspending_reverts(fresh: Chain) -> None:
    arb, holder = fresh.arb, fresh.holder
    alice, bob = fresh.node.accounts[1], fresh.node.accounts[2]
    _send(fresh, arb.functions.transfer(alice, 10), holder)
    with pytest.raises(ContractLogicError, match="insufficient balance"):
        arb.functions.transfer(bob, 11).call({"from": alice})
    _send(fresh, arb.functions.approve(bob, 5), alice)
    with pytest.raises(ContractLogicError, match="insufficient allowance"):
        arb.functions.transferFrom(alice, bob, 6).call({"from": bob})
    _send(fresh, arb.functions.approve(bob, 50), alice)
    with pytest.raises(ContractLogicError, match="insufficient balance"):
        arb.functions.transferFrom(alice, bob, 11).call({"from": bob})
    with pytest.raises(ChainError, match="reverted"):  # a mined overspend fails too
        _send(fresh, arb.functions.transfer(bob, 11), alice)
    assert arb.functions.balanceOf(alice).call() == 10
    assert arb.functions.balanceOf(bob).call() == 0


def test_tokens_trade_in_a_real_uniswap_v2_pair(fresh: Chain) -> None:
    node, usdc, arb, holder = fresh.node, fresh.usdc, fresh.arb, fresh.holder
    w3, trader = node.w3, node.accounts[3]
    deployment = deploy_uniswap_v2(w3, holder)
    reserve_usdc, reserve_arb = 2_000_000 * 10**6, 1_000 * 10**18
    pair = create_pair_with_liquidity(deployment, usdc, arb, reserve_usdc, reserve_arb, holder)
    by_token = {usdc.address: reserve_usdc, arb.address: reserve_arb}
    token0 = pair.functions.token0().call()
    token1 = pair.functions.token1().call()
    assert get_reserves(pair) == (by_token[token0], by_token[token1])

    mine_and_wait(
        w3,
        [
            usdc.functions.transfer(trader, 10_000 * 10**6).transact({"from": holder, "gas": GAS}),
            arb.functions.transfer(trader, 10 * 10**18).transact({"from": holder, "gas": GAS}),
        ],
    )
    for token_in, token_out, amount_in in (
        (usdc, arb, 1_234_567_891),  # 1234.567891 USDC
        (arb, usdc, 3 * 10**18 + 7),
    ):
        reserves = dict(zip((token0, token1), get_reserves(pair), strict=True))
        out = get_amount_out(amount_in, reserves[token_in.address], reserves[token_out.address])
        assert out > 0
        zero_for_one = token_in.address == token0
        outs = (0, out) if zero_for_one else (out, 0)
        too_much = (0, out + 1) if zero_for_one else (out + 1, 0)
        _send(fresh, token_in.functions.transfer(pair.address, amount_in), trader)
        with pytest.raises(ContractLogicError, match="UniswapV2: K"):
            pair.functions.swap(*too_much, trader, b"").call({"from": trader})
        before = token_out.functions.balanceOf(trader).call()
        _send(fresh, pair.functions.swap(*outs, trader, b""), trader)
        assert token_out.functions.balanceOf(trader).call() - before == out
        after = dict(zip((token0, token1), get_reserves(pair), strict=True))
        assert after[token_in.address] == reserves[token_in.address] + amount_in
        assert after[token_out.address] == reserves[token_out.address] - out
