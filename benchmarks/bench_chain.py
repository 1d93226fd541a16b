"""Transactions per second on anvil, and batched reserve reads next to one call per pool.

Run: ``.venv/bin/python benchmarks/bench_chain.py`` (needs ``npm ci``). Prints figures;
asserts nothing.

1. Throughput: ``N_TXS`` (``N_TXS_AUTOMINE`` with automine) ERC-20 transfers (the real Uniswap V2 test token, each to a fresh
   address) with every field given (gas, fees, nonce, chain id), so no ``eth_estimateGas``
   or fee lookup happens. "unsigned" is ``eth_sendTransaction`` from anvil's unlocked
   account (the node signs); "signed" is ``eth_sendRawTransaction`` of a transaction
   signed here with eth-account before the clock starts (its signing rate is printed
   apart: pure-Python signing would otherwise dominate). Each is sent through web3's
   ``w3.eth.send_*`` (its formatters and validation included: web3 8's default
   middleware adds two ``eth_chainId`` and one ``eth_getBlockByNumber`` request to each
   ``send_transaction``), as one raw JSON-RPC request per transaction, or as one batch. With manual mining, "send+mine" adds one
   ``anvil_mine`` and the last receipt; with automine anvil makes a block per
   transaction, so "send+mine" lasts until the last receipt is there. Median of
   ``ROUNDS`` rounds.
2. Reserve reads: ``N_POOLS`` real ``UniswapV2Pair`` s at one block; ``read_reserves``
   (one JSON-RPC batch) next to one request per pool, raw and through web3's
   ``getReserves().call()`` (the naive baseline); median and p95 latency.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import combinations
from typing import Any, cast

import numpy as np
from eth_abi.abi import encode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from web3 import Web3
from web3.types import RPCEndpoint, TxParams

from arbkit.chain import (
    AnvilNode,
    create_pair_with_liquidity,
    deploy_erc20,
    deploy_uniswap_v2,
    mine_and_wait,
    read_reserves,
)
from arbkit.chain.reader import TokenCache

N_TXS = 200  # per round with manual mining; 200 x 100k gas fits a 30M-gas block
N_TXS_AUTOMINE = 100  # per round with automine (a block per transaction: slower)
ROUNDS = 5
GAS_TRANSFER = 100_000
MAX_FEE_WEI = 100 * 10**9
TIP_WEI = 10**9
N_POOLS = 100
N_READS = 200
N_NAIVE_READS = 50  # the web3 baseline is ~50x slower per read
SEED = 0

_TRANSFER = keccak(text="transfer(address,uint256)")[:4]


def _percentiles_ms(seconds: list[float]) -> tuple[float, float]:
    ms = np.asarray(seconds) * 1e3
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 95))


# -- throughput --------------------------------------------------------------------------


@dataclass(frozen=True)
class SendMode:
    label: str
    signed: bool  # eth_sendRawTransaction of a locally signed tx, else eth_sendTransaction
    via: str  # "web3" (w3.eth.send_*), "rpc" (one raw request each) or "batch" (one batch)


SEND_MODES = [
    SendMode("unsigned, w3.eth.send_transaction", signed=False, via="web3"),
    SendMode("unsigned, eth_sendTransaction per tx", signed=False, via="rpc"),
    SendMode("unsigned, eth_sendTransaction, 1 batch", signed=False, via="batch"),
    SendMode("signed, w3.eth.send_raw_transaction", signed=True, via="web3"),
    SendMode("signed, eth_sendRawTransaction per tx", signed=True, via="rpc"),
    SendMode("signed, eth_sendRawTransaction, 1 batch", signed=True, via="batch"),
]


def _fresh_recipients(rng: np.random.Generator, n: int) -> list[str]:
    return [
        Web3.to_checksum_address(bytes(rng.integers(0, 256, 20, dtype=np.uint8))) for _ in range(n)
    ]


def _transfer_data(to: str, amount: int) -> str:
    return "0x" + (_TRANSFER + encode(["address", "uint256"], [to, amount])).hex()


def _transfer_tx(token: str, to: str, nonce: int, chain_id: int) -> dict[str, Any]:
    """Every field given: nothing left for web3 or the node to estimate or look up."""
    return {
        "to": token,
        "data": _transfer_data(to, 1),
        "gas": GAS_TRANSFER,
        "maxFeePerGas": MAX_FEE_WEI,
        "maxPriorityFeePerGas": TIP_WEI,
        "nonce": nonce,
        "chainId": chain_id,
        "value": 0,
    }


def _rpc_quantities(tx: dict[str, Any]) -> dict[str, Any]:
    return {k: hex(v) if isinstance(v, int) else v for k, v in tx.items()}


def _build_round(
    node: AnvilNode,
    token: str,
    sender: str,
    signer: LocalAccount,
    mode: SendMode,
    n: int,
    rng: np.random.Generator,
) -> list[tuple[RPCEndpoint, list[Any]]]:
    """The round's requests, built (and signed) before the clock starts."""
    nonce_of = signer.address if mode.signed else sender
    nonce = int(node.w3.eth.get_transaction_count(Web3.to_checksum_address(nonce_of), "pending"))
    requests: list[tuple[RPCEndpoint, list[Any]]] = []
    for i, to in enumerate(_fresh_recipients(rng, n)):
        tx = _transfer_tx(token, to, nonce + i, node.chain_id)
        if mode.signed:
            raw = signer.sign_transaction(tx).raw_transaction.to_0x_hex()
            requests.append((RPCEndpoint("eth_sendRawTransaction"), [raw]))
        else:
            requests.append((RPCEndpoint("eth_sendTransaction"), [{"from": sender, **tx}]))
    return requests


def _send(w3: Web3, requests: list[tuple[RPCEndpoint, list[Any]]], via: str) -> list[Any]:
    """Send the round's requests; return the transaction hashes."""
    if via == "batch":
        answers = w3.provider.make_batch_request(requests)  # type: ignore[attr-defined]
        return [a["result"] for a in answers]
    if via == "rpc":
        return [w3.provider.make_request(method, params)["result"] for method, params in requests]
    hashes = []
    for method, (param,) in requests:
        if method == "eth_sendRawTransaction":
            hashes.append(w3.eth.send_raw_transaction(param))
        else:
            hashes.append(w3.eth.send_transaction(cast(TxParams, param)))
    return hashes


def _run_round(
    node: AnvilNode, requests: list[tuple[RPCEndpoint, list[Any]]], via: str
) -> tuple[float, float]:
    """Send, then mine (manual mining) and wait for the last receipt; return both times."""
    w3 = node.w3
    start = time.perf_counter()
    hashes = _send(w3, requests, via)
    sent = time.perf_counter()
    if node.manual_mining:
        node.mine()
    receipt = w3.eth.wait_for_transaction_receipt(hashes[-1], timeout=30, poll_latency=0.002)
    done = time.perf_counter()
    if receipt["status"] != 1:
        raise RuntimeError(f"the last transfer of the round reverted: {receipt}")
    if node.manual_mining:
        count = w3.eth.get_block_transaction_count(receipt["blockNumber"])
        if count != len(requests):
            raise RuntimeError(f"the round's block holds {count} of {len(requests)} transfers")
    return sent - start, done - start


def bench_throughput(rng: np.random.Generator) -> tuple[list[tuple[str, float, float]], float]:
    """Rows of (label, send tx/s, send+mine tx/s), medians over ``ROUNDS``; signing tx/s."""
    rows: list[tuple[str, float, float]] = []
    with AnvilNode() as node:
        w3, deployer = node.w3, node.accounts[0]
        token = deploy_erc20(w3, deployer, "Bench", "BEN", 18, 10**30).contract
        signer: LocalAccount = Account.from_key(bytes(rng.integers(0, 256, 32, dtype=np.uint8)))
        node.rpc("anvil_setBalance", signer.address, hex(10**24))
        fund: TxParams = {"from": deployer, "gas": GAS_TRANSFER}
        mine_and_wait(w3, [token.functions.transfer(signer.address, 10**27).transact(fund)])

        t0 = time.perf_counter()
        for i in range(N_TXS):
            signer.sign_transaction(_transfer_tx(token.address, deployer, i, node.chain_id))
        signing = N_TXS / (time.perf_counter() - t0)

        for automine in (False, True):
            node.set_automine(automine)
            mining = "automine" if automine else "manual"
            n = N_TXS_AUTOMINE if automine else N_TXS
            for mode in SEND_MODES:
                warm = _build_round(node, token.address, deployer, signer, mode, 20, rng)
                _run_round(node, warm, mode.via)
                times = []
                for _ in range(ROUNDS):
                    requests = _build_round(node, token.address, deployer, signer, mode, n, rng)
                    times.append(_run_round(node, requests, mode.via))
                send = float(np.median([n / t for t, _ in times]))
                total = float(np.median([n / t for _, t in times]))
                rows.append((f"{mode.label} ({mining}, {n} tx)", send, total))
    return rows, signing


# -- reserve reads -----------------------------------------------------------------------


def _timings(fn: Callable[[], Any], n: int) -> list[float]:
    for _ in range(5):
        fn()  # warm-up
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def bench_reads() -> list[tuple[str, int, float, float]]:
    """Rows of (label, reads, median ms, p95 ms) for ``N_POOLS`` pools; the naive one last."""
    with AnvilNode() as node:
        w3, deployer = node.w3, node.accounts[0]
        deployment = deploy_uniswap_v2(w3, deployer)
        n_tokens = 15  # 105 distinct pairs
        tokens = [deploy_erc20(w3, deployer, f"T{i}", f"T{i}", 18, 10**30) for i in range(n_tokens)]
        pairs = [
            create_pair_with_liquidity(
                deployment, a, b, (i + 1) * 10**20 + i, (2 * i + 3) * 10**19, deployer
            )
            for i, (a, b) in enumerate(list(combinations(tokens, 2))[:N_POOLS])
        ]
        addresses = [p.address for p in pairs]
        block = int(w3.eth.block_number)
        cache: TokenCache = {}
        first = read_reserves(w3, addresses, block, token_cache=cache)
        naive = [p.functions.getReserves().call(block_identifier=block)[:2] for p in pairs]
        if [r.reserves for r in first] != [tuple(n) for n in naive]:
            raise RuntimeError("batched and one-by-one reads disagree")
        get_reserves = "0x" + keccak(text="getReserves()")[:4].hex()

        def one_request_each() -> None:
            for address in addresses:
                call = {"to": address, "data": get_reserves}
                w3.provider.make_request(RPCEndpoint("eth_call"), [call, hex(block)])

        def naive_web3() -> None:
            for pair in pairs:
                pair.functions.getReserves().call(block_identifier=block)

        cases: list[tuple[str, int, Callable[[], Any]]] = [
            (
                "read_reserves: 1 batch, block number, tokens cached",
                N_READS,
                lambda: read_reserves(w3, addresses, block, token_cache=cache),
            ),
            (
                "read_reserves: block='latest' (+1 round trip)",
                N_READS,
                lambda: read_reserves(w3, addresses, "latest", token_cache=cache),
            ),
            (
                f"read_reserves: no token cache ({3 * N_POOLS} eth_calls)",
                N_READS,
                lambda: read_reserves(w3, addresses, block),
            ),
            (f"{N_POOLS} raw eth_call requests, one each", N_READS, one_request_each),
            (f"naive: {N_POOLS} x getReserves().call()", N_NAIVE_READS, naive_web3),
        ]
        return [(label, n, *_percentiles_ms(_timings(fn, n))) for label, n, fn in cases]


def main() -> None:
    rng = np.random.default_rng(SEED)
    rows, signing = bench_throughput(rng)
    print(f"anvil throughput: ERC-20 transfers, median of {ROUNDS} rounds")
    print(
        f"  {'mode (mining, transactions per round)':<58} {'send tx/s':>10} {'send+mine tx/s':>15}"
    )
    for label, send, total in rows:
        print(f"  {label:<58} {send:10,.0f} {total:15,.0f}")
    print(f"  (signed rows sign before the clock starts; eth-account signs {signing:,.0f} tx/s)")

    print(f"\nreserve reads: {N_POOLS} real UniswapV2Pairs at one block")
    print(f"  {'method':<58} {'reads':>6} {'median ms':>10} {'p95 ms':>9} {'naive/this':>11}")
    reads = bench_reads()
    naive_median = reads[-1][2]
    for label, n, median, p95 in reads:
        print(f"  {label:<58} {n:6d} {median:10.2f} {p95:9.2f} {naive_median / median:10.1f}x")


if __name__ == "__main__":
    main()
