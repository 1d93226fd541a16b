"""Uniswap V2's published swap vectors and 1,000+ random swaps, on the real pair bytecode.

The published vectors are ``swapTestCases`` and ``optimisticTestCases`` of
``test/UniswapV2Pair.spec.ts`` in Uniswap/v2-core (amounts in whole 1e18 tokens, except
those written as strings, which are in wei). Each runs on a fresh pair (created, funded
with ``mint`` and dropped again with a node snapshot), as upstream does.

The random cases run on 64 real ``UniswapV2Pair`` s at once, one case per pair per block:

1. ``anvil_setStorageAt`` gives each pair the case's reserves (slot 8) and token
   balances, so that any reserves up to uint112 can be tried without minting;
2. one ``eth_call`` per case, pinned to the latest block with a state override of the
   pair's input balance, checks the boundary: one wei more out than
   :func:`~arbkit.market.amm.get_amount_out` (or one wei less in than
   :func:`~arbkit.market.amm.get_amount_in`) reverts with ``UniswapV2: K``;
3. every case's input ``transfer`` and ``swap`` are sent as real transactions and mined
   in one block; each swap must succeed, pay its recipient exactly the computed output
   and leave the reserves at ``(reserve_in + amount_in, reserve_out - amount_out)``.

Every step is a single JSON-RPC batch, so a round of 64 cases costs a handful of round
trips and one block.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from eth_abi.abi import decode, encode
from eth_typing import ChecksumAddress, HexStr
from eth_utils.crypto import keccak
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError
from web3.types import RPCEndpoint, TxParams

from arbkit.chain.node import AnvilNode
from arbkit.chain.reader import read_reserves
from arbkit.chain.uniswap import (
    DeployedToken,
    UniswapV2Deployment,
    create_pair_with_liquidity,
    deploy_erc20,
    deploy_uniswap_v2,
    get_reserves,
    mine_and_wait,
)
from arbkit.market.amm import get_amount_in, get_amount_out

GAS = 300_000
E18 = 10**18
UINT112_MAX = 2**112 - 1
SUPPLY = 10**40  # per token: covers every input of every round (the pairs' balances are reset)

# Uniswap/v2-core test/UniswapV2Pair.spec.ts, commit 00873c4 (v1.0.1): ints are whole
# tokens (expandTo18Decimals), strings are wei.
# swapTestCases: [swapAmount, token0Amount, token1Amount, expectedOutputAmount].
_SWAP_TEST_CASES: list[tuple[int | str, ...]] = [
    (1, 5, 10, "1662497915624478906"),
    (1, 10, 5, "453305446940074565"),
    (2, 5, 10, "2851015155847869602"),
    (2, 10, 5, "831248957812239453"),
    (1, 10, 10, "906610893880149131"),
    (1, 100, 100, "987158034397061298"),
    (1, 1000, 1000, "996006981039903216"),
]
# optimisticTestCases: [outputAmount, token0Amount, token1Amount, inputAmount]; token0 out,
# token0 paid back (a flash swap repaid in the same token).
_OPTIMISTIC_TEST_CASES: list[tuple[int | str, ...]] = [
    ("997000000000000000", 5, 10, 1),  # given amountIn, amountOut = floor(amountIn * .997)
    ("997000000000000000", 10, 5, 1),
    ("997000000000000000", 5, 5, 1),
    (1, 5, 5, "1003009027081243732"),  # given amountOut, amountIn = ceiling(amountOut / .997)
]


def _expand(value: int | str) -> int:
    return int(value) if isinstance(value, str) else value * E18


SWAP_TEST_CASES = [tuple(_expand(v) for v in case) for case in _SWAP_TEST_CASES]
OPTIMISTIC_TEST_CASES = [tuple(_expand(v) for v in case) for case in _OPTIMISTIC_TEST_CASES]

# Storage layout of the pinned UniswapV2Pair and test ERC20 (checked by the farm fixture).
RESERVES_SLOT = 8  # reserve0 (uint112) | reserve1 (uint112) << 112 | blockTimestampLast << 224
BALANCE_OF_SLOT = 1  # mapping(address => uint) balanceOf

N_FARM_TOKENS = 12
N_FARM_PAIRS = 64  # cases per block
N_OUT_CASES = 1_024
N_IN_CASES = 256
SEED_OUT = 20_240_612
SEED_IN = 20_240_613
# Gas limits of the random rounds' transactions: 64 * (100k + 250k) stays under anvil's
# 30M block gas limit, so every round fits in one block.
GAS_TRANSFER = 100_000
GAS_SWAP = 250_000

_SWAP = keccak(text="swap(uint256,uint256,address,bytes)")[:4]
_TRANSFER = keccak(text="transfer(address,uint256)")[:4]
_BALANCE_OF = keccak(text="balanceOf(address)")[:4]
_ERROR_STRING = keccak(text="Error(string)")[:4]


def _flash_repayment(amount_out: int) -> int:
    """Least same-token repayment for ``amount_out`` taken: ceil(amount_out / 0.997)."""
    return -(-amount_out * 1000 // 997)


# -- JSON-RPC helpers --------------------------------------------------------------------


def _batch(w3: Web3, requests: Sequence[tuple[str, list[Any]]]) -> list[dict[str, Any]]:
    if not requests:
        return []
    answers = w3.provider.make_batch_request(  # type: ignore[attr-defined]
        [(RPCEndpoint(method), params) for method, params in requests]
    )
    assert isinstance(answers, list), f"the node rejected the batch: {answers}"
    assert len(answers) == len(requests), f"{len(requests)} requests, {len(answers)} answers"
    return [dict(a) for a in answers]


def _revert_reason(answer: dict[str, Any]) -> str | None:
    """The ``Error(string)`` reason of a failed eth_call answer; None if it succeeded."""
    error = answer.get("error")
    if error is None:
        return None
    data = error.get("data") if isinstance(error, dict) else None
    if (
        isinstance(data, str)
        and data.startswith("0x")
        and bytes.fromhex(data[2:10]) == (_ERROR_STRING)
    ):
        (reason,) = decode(["string"], bytes.fromhex(data[10:]))
        return str(reason)
    return f"<no reason: {error}>"


def _eth_call(
    to: str, data: str, *, sender: str | None = None, override: Mapping[str, Any] | None = None
) -> tuple[str, list[Any]]:
    call: dict[str, str] = {"to": to, "data": data}
    if sender is not None:
        call["from"] = sender
    return ("eth_call", [call, "latest"] + ([override] if override is not None else []))


def _word(value: int) -> str:
    return "0x" + value.to_bytes(32, "big").hex()


def _balance_slot(holder: str) -> str:
    return "0x" + keccak(encode(["address", "uint256"], [holder, BALANCE_OF_SLOT])).hex()


def _swap_data(amount0_out: int, amount1_out: int, to: str) -> str:
    args = encode(["uint256", "uint256", "address", "bytes"], [amount0_out, amount1_out, to, b""])
    return "0x" + (_SWAP + args).hex()


def _transfer_data(to: str, amount: int) -> str:
    return "0x" + (_TRANSFER + encode(["address", "uint256"], [to, amount])).hex()


def _balance_of_data(holder: str) -> HexStr:
    return HexStr("0x" + (_BALANCE_OF + encode(["address"], [holder])).hex())


# -- published vectors -------------------------------------------------------------------


@dataclass
class VectorChain:
    node: AnvilNode
    deployment: UniswapV2Deployment
    token0: DeployedToken  # the lower address, as the pair sorts them
    token1: DeployedToken


@pytest.fixture(scope="module")
def vector_chain(npm_packages: Path) -> Iterator[VectorChain]:
    with AnvilNode() as node:
        w3, deployer = node.w3, node.accounts[0]
        deployment = deploy_uniswap_v2(w3, deployer)
        a = deploy_erc20(w3, deployer, "Token A", "TKA", 18, 10**30)
        b = deploy_erc20(w3, deployer, "Token B", "TKB", 18, 10**30)
        token0, token1 = (a, b) if int(a.address, 16) < int(b.address, 16) else (b, a)
        yield VectorChain(node, deployment, token0, token1)


@contextmanager
def _fresh_pair(chain: VectorChain, amount0: int, amount1: int) -> Iterator[Contract]:
    """A new pair holding exactly ``(amount0, amount1)``; gone again afterwards."""
    snap = chain.node.snapshot()
    try:
        deployer = chain.node.accounts[0]
        pair = create_pair_with_liquidity(
            chain.deployment, chain.token0, chain.token1, amount0, amount1, deployer
        )
        assert get_reserves(pair) == (amount0, amount1)
        yield pair
    finally:
        assert chain.node.revert(snap)


def _transfer(chain: VectorChain, token: DeployedToken, to: str, amount: int) -> None:
    tx: TxParams = {"from": chain.node.accounts[0], "gas": GAS}
    mine_and_wait(chain.node.w3, [token.contract.functions.transfer(to, amount).transact(tx)])


def _case_id(case: tuple[int, ...]) -> str:
    return "-".join(str(v) for v in case)


@pytest.mark.parametrize("case", SWAP_TEST_CASES, ids=_case_id)
def test_get_amount_out_matches_uniswap_swap_test_cases(case: tuple[int, ...]) -> None:
    swap_amount, token0_amount, token1_amount, expected = case
    assert get_amount_out(swap_amount, token0_amount, token1_amount) == expected


@pytest.mark.parametrize("case", SWAP_TEST_CASES, ids=_case_id)
def test_real_pair_pays_uniswap_swap_test_cases_to_the_wei(
    vector_chain: VectorChain, case: tuple[int, ...]
) -> None:
    swap_amount, token0_amount, token1_amount, expected = case
    w3 = vector_chain.node.w3
    deployer, recipient = vector_chain.node.accounts[0], vector_chain.node.accounts[1]
    with _fresh_pair(vector_chain, token0_amount, token1_amount) as pair:
        _transfer(vector_chain, vector_chain.token0, pair.address, swap_amount)
        with pytest.raises(ContractLogicError, match="UniswapV2: K"):
            pair.functions.swap(0, expected + 1, recipient, b"").call({"from": deployer})
        token1 = vector_chain.token1.contract
        before = token1.functions.balanceOf(recipient).call()
        tx: TxParams = {"from": deployer, "gas": GAS}
        mine_and_wait(w3, [pair.functions.swap(0, expected, recipient, b"").transact(tx)])
        assert token1.functions.balanceOf(recipient).call() - before == expected
        assert get_reserves(pair) == (token0_amount + swap_amount, token1_amount - expected)


@pytest.mark.parametrize("case", OPTIMISTIC_TEST_CASES, ids=_case_id)
def test_real_pair_takes_uniswap_optimistic_test_cases_to_the_wei(
    vector_chain: VectorChain, case: tuple[int, ...]
) -> None:
    output_amount, token0_amount, token1_amount, input_amount = case
    assert _flash_repayment(output_amount) == input_amount
    w3 = vector_chain.node.w3
    deployer, recipient = vector_chain.node.accounts[0], vector_chain.node.accounts[1]
    token0 = vector_chain.token0
    with _fresh_pair(vector_chain, token0_amount, token1_amount) as pair:
        # One wei short of the repayment: the K check fails.
        _transfer(vector_chain, token0, pair.address, input_amount - 1)
        with pytest.raises(ContractLogicError, match="UniswapV2: K"):
            pair.functions.swap(output_amount, 0, recipient, b"").call({"from": deployer})
        # Fully repaid: the published check (one wei more out fails), then the swap.
        _transfer(vector_chain, token0, pair.address, 1)
        with pytest.raises(ContractLogicError, match="UniswapV2: K"):
            pair.functions.swap(output_amount + 1, 0, recipient, b"").call({"from": deployer})
        tx: TxParams = {"from": deployer, "gas": GAS}
        mine_and_wait(w3, [pair.functions.swap(output_amount, 0, recipient, b"").transact(tx)])
        assert token0.contract.functions.balanceOf(recipient).call() == output_amount
        assert get_reserves(pair) == (
            token0_amount - output_amount + input_amount,
            token1_amount,
        )


# -- random cases on many pairs ----------------------------------------------------------


@dataclass(frozen=True)
class FarmPair:
    address: ChecksumAddress
    token0: ChecksumAddress
    token1: ChecksumAddress


@dataclass
class Farm:
    node: AnvilNode
    trader: ChecksumAddress
    pairs: list[FarmPair]


@dataclass(frozen=True)
class SwapCase:
    """One swap: pay ``amount_in``, take ``amount_out``; the probe must go as expected.

    The probe is the same swap with ``probe_in`` paid and ``probe_out`` asked, made with
    ``eth_call``; it must revert with ``UniswapV2: K`` when ``probe_reverts``, else pass.
    """

    index: int
    zero_for_one: bool
    reserve0: int
    reserve1: int
    amount_in: int
    amount_out: int
    probe_in: int
    probe_out: int
    probe_reverts: bool

    @property
    def reserves_in_out(self) -> tuple[int, int]:
        if self.zero_for_one:
            return self.reserve0, self.reserve1
        return self.reserve1, self.reserve0

    def outs(self, amount_out: int) -> tuple[int, int]:
        return (0, amount_out) if self.zero_for_one else (amount_out, 0)

    def reserves_after(self) -> tuple[int, int]:
        if self.zero_for_one:
            return self.reserve0 + self.amount_in, self.reserve1 - self.amount_out
        return self.reserve0 - self.amount_out, self.reserve1 + self.amount_in

    def recipient(self, offset: int) -> ChecksumAddress:
        # A fresh address per case, so its balance before the swap is 0.
        return Web3.to_checksum_address(f"0x{0xC0FFEE << 120 | (offset + self.index):040x}")

    def describe(self) -> str:
        direction = "token0->token1" if self.zero_for_one else "token1->token0"
        return (
            f"case {self.index} ({direction}, reserves ({self.reserve0}, {self.reserve1}), "
            f"amount_in {self.amount_in}, expected out {self.amount_out})"
        )


@pytest.fixture(scope="module")
def farm(npm_packages: Path) -> Iterator[Farm]:
    with AnvilNode() as node:
        w3, deployer = node.w3, node.accounts[0]
        deployment = deploy_uniswap_v2(w3, deployer)
        tokens = [
            deploy_erc20(w3, deployer, f"T{i}", f"T{i}", 18, SUPPLY) for i in range(N_FARM_TOKENS)
        ]
        pairs = [
            create_pair_with_liquidity(deployment, a, b, 10**18, 10**18, deployer)
            for a, b in list(combinations(tokens, 2))[:N_FARM_PAIRS]
        ]
        read = read_reserves(w3, [p.address for p in pairs])
        farm_pairs = [FarmPair(r.pair, r.token0, r.token1) for r in read]
        _check_storage_layout(w3, farm_pairs[0], read[0].reserves)
        yield Farm(node, Web3.to_checksum_address(deployer), farm_pairs)


def _check_storage_layout(w3: Web3, pair: FarmPair, reserves: tuple[int, int]) -> None:
    """Fail clearly if the pinned contracts do not keep state where the rounds write it."""
    word = int.from_bytes(w3.eth.get_storage_at(pair.address, RESERVES_SLOT), "big")
    assert (word & UINT112_MAX, word >> 112 & UINT112_MAX) == reserves, (
        f"UniswapV2Pair does not keep its reserves in slot {RESERVES_SLOT}"
    )
    balance_word = w3.eth.get_storage_at(pair.token0, int(_balance_slot(pair.address), 16))
    (held,) = decode(
        ["uint256"], w3.eth.call({"to": pair.token0, "data": _balance_of_data(pair.address)})
    )
    assert int.from_bytes(balance_word, "big") == held, (
        f"the test ERC20 does not keep balanceOf in mapping slot {BALANCE_OF_SLOT}"
    )


def _draw_reserve(rng: np.random.Generator) -> int:
    style = int(rng.integers(0, 3))
    if style == 0:  # any magnitude, from a few wei to ~1e31 base units
        value = int(10 ** rng.uniform(0.0, 31.0)) + int(rng.integers(0, 1_000))
    else:  # 1e-3 .. 1e9 whole tokens of a 6- or an 18-decimal token
        decimals = 6 if style == 1 else 18
        value = int(10 ** rng.uniform(-3.0, 9.0) * 10**decimals)
    return min(max(value, 1), UINT112_MAX)


def _draw_out_case(rng: np.random.Generator, index: int) -> SwapCase:
    """A random exact-input swap; redrawn until it is a K-boundary test on a valid pair.

    Redrawn when the output is 0 (``swap`` refuses a zero output before the K check), when
    one wei more would take the whole reserve (``INSUFFICIENT_LIQUIDITY`` before the K
    check) or when the input would push the reserve past uint112 (``OVERFLOW``).
    """
    while True:
        zero_for_one = bool(rng.integers(0, 2))
        reserve0, reserve1 = _draw_reserve(rng), _draw_reserve(rng)
        reserve_in, reserve_out = (reserve0, reserve1) if zero_for_one else (reserve1, reserve0)
        if rng.integers(0, 2):  # relative to the pool: 1e-9 to ~30x its input reserve
            amount_in = int(reserve_in * 10 ** rng.uniform(-9.0, 1.5))
        else:  # any magnitude
            amount_in = int(10 ** rng.uniform(0.0, 31.0))
        amount_in += int(rng.integers(0, 100))
        if amount_in < 1 or reserve_in + amount_in > UINT112_MAX:
            continue
        out = get_amount_out(amount_in, reserve_in, reserve_out)
        if out < 1 or out + 1 >= reserve_out:
            continue
        return SwapCase(
            index=index,
            zero_for_one=zero_for_one,
            reserve0=reserve0,
            reserve1=reserve1,
            amount_in=amount_in,
            amount_out=out,
            probe_in=amount_in,
            probe_out=out + 1,
            probe_reverts=True,
        )


def _in_case(
    index: int, zero_for_one: bool, reserve_in: int, reserve_out: int, amount_out: int
) -> SwapCase:
    amount_in = get_amount_in(amount_out, reserve_in, reserve_out)
    # getAmountIn is floor(n / d) + 1: one wei more than the least input when d divides n.
    exact = (reserve_in * amount_out * 1000) % ((reserve_out - amount_out) * 997) == 0
    reserve0, reserve1 = (reserve_in, reserve_out) if zero_for_one else (reserve_out, reserve_in)
    return SwapCase(
        index=index,
        zero_for_one=zero_for_one,
        reserve0=reserve0,
        reserve1=reserve1,
        amount_in=amount_in,
        amount_out=amount_out,
        probe_in=amount_in - 1,
        probe_out=amount_out,
        probe_reverts=not exact,
    )


def _draw_in_case(rng: np.random.Generator, index: int) -> SwapCase:
    """A random exact-output swap; redrawn if its input would be 1 or overflow uint112."""
    while True:
        zero_for_one = bool(rng.integers(0, 2))
        reserve_in, reserve_out = _draw_reserve(rng), _draw_reserve(rng)
        if reserve_out < 2:
            continue
        fraction = 10 ** rng.uniform(-9.0, -0.0005)
        amount_out = min(max(int(reserve_out * fraction), 1), reserve_out - 1)
        case = _in_case(index, zero_for_one, reserve_in, reserve_out, amount_out)
        if case.amount_in >= 2 and reserve_in + case.amount_in <= UINT112_MAX:
            return case


def _run_round(farm: Farm, cases: Sequence[SwapCase], offset: int) -> list[str]:
    """Run up to one case per farm pair in one block; return the failures' descriptions."""
    w3, trader = farm.node.w3, farm.trader
    assert len(cases) <= len(farm.pairs)
    jobs = list(zip(farm.pairs, cases, strict=False))

    # 1. Reserves and matching balances, written straight into the pairs' and tokens' state.
    writes: list[tuple[str, list[Any]]] = []
    for pair, case in jobs:
        word = case.reserve0 | case.reserve1 << 112 | 1 << 224
        writes.append(("anvil_setStorageAt", [pair.address, hex(RESERVES_SLOT), _word(word)]))
        for token, reserve in ((pair.token0, case.reserve0), (pair.token1, case.reserve1)):
            writes.append(
                ("anvil_setStorageAt", [token, _balance_slot(pair.address), _word(reserve)])
            )
    failures = [f"setStorageAt failed: {a['error']}" for a in _batch(w3, writes) if "error" in a]
    if failures:
        return failures

    # 2. The boundary, by eth_call with the pair's input balance overridden.
    probes: list[tuple[str, list[Any]]] = []
    for pair, case in jobs:
        token_in = pair.token0 if case.zero_for_one else pair.token1
        reserve_in, _ = case.reserves_in_out
        override: dict[str, Any] = {
            token_in: {
                "stateDiff": {_balance_slot(pair.address): _word(reserve_in + case.probe_in)}
            }
        }
        data = _swap_data(*case.outs(case.probe_out), case.recipient(offset))
        probes.append(_eth_call(pair.address, data, sender=trader, override=override))
    for (_, case), answer in zip(jobs, _batch(w3, probes), strict=True):
        reason = _revert_reason(answer)
        wanted = "UniswapV2: K" if case.probe_reverts else None
        if reason != wanted:
            failures.append(
                f"{case.describe()}: paying {case.probe_in} for {case.probe_out} out should "
                f"{'revert with UniswapV2: K' if wanted else 'succeed'}, got {reason or 'success'}"
            )

    # 3. The real input transfers and swaps, all mined in one block.
    nonce = int(w3.eth.get_transaction_count(trader, "pending"))
    sends: list[tuple[str, list[Any]]] = []
    for pair, case in jobs:
        token_in = pair.token0 if case.zero_for_one else pair.token1
        txs = [
            (token_in, _transfer_data(pair.address, case.amount_in), GAS_TRANSFER),
            (
                pair.address,
                _swap_data(*case.outs(case.amount_out), case.recipient(offset)),
                GAS_SWAP,
            ),
        ]
        for to, data, gas in txs:
            tx = {"from": trader, "to": to, "data": data, "gas": hex(gas), "nonce": hex(nonce)}
            sends.append(("eth_sendTransaction", [tx]))
            nonce += 1
    sent = _batch(w3, sends)
    refused = [a["error"] for a in sent if "error" in a]
    assert not refused, f"the node refused transactions: {refused[:3]}"
    farm.node.mine()
    receipts = _batch(w3, [("eth_getTransactionReceipt", [a["result"]]) for a in sent])
    balances = _batch(
        w3,
        [
            _eth_call(pair.token1 if case.zero_for_one else pair.token0, balance_of)
            for pair, case in jobs
            for balance_of in [_balance_of_data(case.recipient(offset))]
        ],
    )
    after = read_reserves(w3, [pair.address for pair, _ in jobs])
    for i, ((_, case), balance, reserves) in enumerate(zip(jobs, balances, after, strict=True)):
        transfer, swap = receipts[2 * i].get("result"), receipts[2 * i + 1].get("result")
        statuses = [None if r is None else int(r["status"], 16) for r in (transfer, swap)]
        if statuses != [1, 1]:
            failures.append(f"{case.describe()}: transfer/swap receipts status {statuses}")
            continue
        paid = int(balance["result"], 16)
        if paid != case.amount_out or reserves.reserves != case.reserves_after():
            failures.append(
                f"{case.describe()}: got {paid} out (reserves after {reserves.reserves}, "
                f"expected {case.reserves_after()})"
            )
    return failures


def _run_cases(farm: Farm, cases: Sequence[SwapCase], offset: int) -> None:
    failures: list[str] = []
    size = len(farm.pairs)
    for start in range(0, len(cases), size):
        failures += _run_round(farm, cases[start : start + size], offset)
    shown = "\n".join(failures[:20])
    assert not failures, f"{len(failures)} of {len(cases)} cases failed:\n{shown}"


def test_random_swaps_pay_exactly_get_amount_out_and_one_wei_more_reverts(farm: Farm) -> None:
    rng = np.random.default_rng(SEED_OUT)
    cases = [_draw_out_case(rng, i) for i in range(N_OUT_CASES)]
    reserves = [r for c in cases for r in (c.reserve0, c.reserve1)]
    # The draw spans tiny to ~1e30 reserves, both directions, 6- and 18-decimal magnitudes.
    assert min(reserves) < 10**3 and max(reserves) > 10**29
    assert 0.4 < np.mean([c.zero_for_one for c in cases]) < 0.6
    _run_cases(farm, cases, offset=0)


def test_random_get_amount_in_is_the_least_input_for_its_output(farm: Farm) -> None:
    rng = np.random.default_rng(SEED_IN)
    # The hand-made first case has an exact division: there getAmountIn's "+ 1" makes it
    # one wei more than needed, and one wei less still succeeds.
    exact = _in_case(0, True, reserve_in=997, reserve_out=2_000, amount_out=1_000)
    assert (exact.amount_in, exact.probe_reverts) == (1_001, False)
    cases = [exact] + [_draw_in_case(rng, i) for i in range(1, N_IN_CASES)]
    _run_cases(farm, cases, offset=1_000_000)
