"""Parity of arbkit's predictions with the chain: executed trades, profit to the wei.

:func:`run_parity` deploys a simulated market on a dev node (:class:`ChainMarket`),
then repeatedly moves one pool with a real swap, scans the chain's state with the
scanner, and executes the best candidate of each route kind with each flash source
through ``ArbkitExecutor``. For every trade it compares:

- the profit the chain pays the owner (the owner's token balance change) with the
  scanner's ``expected_profit`` and with :func:`predict_execution`;
- success and revert with the prediction. Some trades ask for one wei more than the
  predicted profit (a predicted revert), and some are front-run in the same block by
  a rival swap: those are predicted from the state the rival leaves behind, which is
  the state they run against.

It also checks that the coinbase receives the bribe sent with a trade.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl
from eth_typing import ChecksumAddress
from hexbytes import HexBytes
from web3.types import TxParams, Wei

from arbkit.chain.executor import (
    GAS_EXECUTE,
    SOURCE_CODES,
    ChainRoute,
    predict_execution,
    route_from_candidate,
)
from arbkit.chain.market import ChainMarket, FlowStep
from arbkit.chain.node import AnvilNode, ChainError
from arbkit.chain.uniswap import mine_and_wait
from arbkit.market.amm import get_amount_out
from arbkit.market.sim import simulate_market
from arbkit.opportunities.config import FlashSource, ScanConfig
from arbkit.opportunities.scanner import scan_block

__all__ = ["ParityReport", "ParityTrade", "run_parity"]

KINDS = ("dex_dex", "triangular")


@dataclass(frozen=True)
class ParityTrade:
    """One executed trade of the parity run.

    Attributes
    ----------
    kind, source
        Route kind and flash source.
    case
        ``plain`` (run against the state it was simulated against), ``min_profit+1``
        (asks one wei more than predicted) or ``front_run`` (a rival swap lands first,
        and the trade asks 90 % of the profit predicted before it).
    amount_in
        Amount borrowed.
    predicted_success, predicted_profit
        arbkit's prediction for the state the trade ran against.
    scanner_profit
        The scanner's ``expected_profit`` for the state before any rival.
    chain_success, chain_profit
        What the chain did: receipt status, the owner's balance change.
    gas_used
        Gas the transaction used.
    """

    kind: str
    source: str
    case: str
    amount_in: int
    predicted_success: bool
    predicted_profit: int
    scanner_profit: int
    chain_success: bool
    chain_profit: int
    gas_used: int

    @property
    def matches(self) -> bool:
        """Whether success and profit agree exactly."""
        return (
            self.predicted_success == self.chain_success
            and self.predicted_profit == self.chain_profit
        )


@dataclass
class ParityReport:
    """All trades of a parity run, and the bribe checks.

    Attributes
    ----------
    trades
        Every trade.
    bribes_checked
        Trades that paid a coinbase bribe whose receipt by the coinbase was verified.
    wall_s
        Wall time of the run, set-up included.
    """

    trades: list[ParityTrade] = field(default_factory=list)
    bribes_checked: int = 0
    wall_s: float = 0.0

    @property
    def mismatches(self) -> list[ParityTrade]:
        """Trades whose chain outcome differs from the prediction."""
        return [t for t in self.trades if not t.matches]

    def table(self) -> pl.DataFrame:
        """Trades, matches and mismatches per kind, source and case."""
        df = pl.DataFrame(
            {
                "kind": [t.kind for t in self.trades],
                "source": [t.source for t in self.trades],
                "case": [t.case for t in self.trades],
                "chain_success": [t.chain_success for t in self.trades],
                "matches": [t.matches for t in self.trades],
            }
        )
        return (
            df.group_by("kind", "source", "case")
            .agg(
                pl.len().alias("trades"),
                pl.col("chain_success").sum().alias("succeeded"),
                pl.col("matches").sum().alias("matches"),
                (~pl.col("matches")).sum().alias("mismatches"),
            )
            .sort("kind", "source", "case")
        )


def _owner_balance(market: ChainMarket, route: ChainRoute, block: int) -> int:
    (token,) = (c for c in market.tokens.values() if c.address == route.token)
    return int(token.functions.balanceOf(market.owner).call(block_identifier=block))


def _perturb(market: ChainMarket, rng: np.random.Generator, share: tuple[float, float]) -> FlowStep:
    """Draw a random real swap on a random pool, as an order-flow step."""
    pools = sorted(market.pools.values(), key=lambda p: p.pool)
    pool = pools[int(rng.integers(len(pools)))]
    r0, r1 = market.reserves()[pool.address]
    zero_in = bool(rng.integers(2))
    frac = float(rng.uniform(*share))
    if zero_in:
        amount = max(1, int(r0 * frac))
        out = get_amount_out(amount, r0, r1, pool.fee_bps)
        return FlowStep(pool.address, amount0_in=amount, amount1_out=out)
    amount = max(1, int(r1 * frac))
    out = get_amount_out(amount, r1, r0, pool.fee_bps)
    return FlowStep(pool.address, amount1_in=amount, amount0_out=out)


def _after(
    reserves: dict[ChecksumAddress, tuple[int, int]], step: FlowStep
) -> dict[ChecksumAddress, tuple[int, int]]:
    r0, r1 = reserves[step.pair]
    out = dict(reserves)
    out[step.pair] = (
        r0 + step.amount0_in - step.amount0_out,
        r1 + step.amount1_in - step.amount1_out,
    )
    return out


def run_parity(
    n_trades: int = 120,
    *,
    seed: int = 0,
    node: AnvilNode | None = None,
    sources: Sequence[FlashSource] = tuple(SOURCE_CODES),
    bribe_every: int = 7,
) -> ParityReport:
    """Execute at least ``n_trades`` trades on a dev chain and compare each with arbkit.

    Parameters
    ----------
    n_trades
        Least number of trades.
    seed
        Seed of the market and of the perturbations.
    node
        A running node with manual mining (a fresh :class:`AnvilNode` when omitted).
    sources
        Flash sources to cycle through.
    bribe_every
        Every this many trades pay a coinbase bribe, checked against the coinbase's
        balance change.
    """
    if node is None:
        with AnvilNode() as fresh:
            return run_parity(
                n_trades, seed=seed, node=fresh, sources=sources, bribe_every=bribe_every
            )
    start = time.perf_counter()
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    history = simulate_market(seed=seed, n_blocks=2)
    first = history.pool_states.filter(pl.col("block") == history.pool_states["block"].min())
    w3 = node.w3
    market = ChainMarket.deploy(w3, first, deployer=node.accounts[0], owner=node.accounts[1])
    premium = market.lenders.premium_bps
    report = ParityReport()
    cases = ("plain", "plain", "min_profit+1", "front_run")
    k = 0
    rounds = 0
    while len(report.trades) < n_trades:
        rounds += 1
        if rounds > 20 * n_trades:
            raise ChainError(f"parity: only {len(report.trades)} trades after {rounds} rounds")
        # move the market with a real swap, mined on its own
        tx = market.send_flow([_perturb(market, rng, (0.005, 0.03))])
        mine_and_wait(w3, [tx] if tx is not None else [])
        kind = KINDS[rounds % len(KINDS)]
        source = list(sources)[(rounds // len(KINDS)) % len(sources)]
        states = market.pool_states()
        cfg = ScanConfig(
            kinds=(kind,),
            flash_source=source,
            aave_premium_bps=premium,
            priority_fee_wei=0,
            min_net_profit_quote=-1e18,
        )
        candidates = scan_block(states, base_fee_wei=0, config=cfg)
        if candidates.height:
            cand = candidates.row(0, named=True)
            route = route_from_candidate(
                cand, market.pool_map, market.token_addresses, market.fees_bps
            )
            case = cases[int(rng.integers(len(cases)))]
            k += 1
            reserves = market.reserves()
            min_profit = 0
            pre: list[HexBytes] = []
            if case == "front_run":
                step = _perturb(market, rng, (0.0005, 0.02))
                reserves = _after(reserves, step)
                min_profit = int(cand["expected_profit"]) * 9 // 10
                flow_tx = market.order_flow.functions.replay([step.as_arg()]).build_transaction(
                    {"from": market.deployer, "gas": 1_000_000}
                )
                del flow_tx["from"]
                # the rival pays a higher tip, so it is ordered first in the block
                rival_tx: TxParams = {
                    **flow_tx,
                    "from": market.deployer,
                    "maxPriorityFeePerGas": Wei(5 * 10**9),
                    "maxFeePerGas": Wei(10**12),
                }
                pre.append(HexBytes(w3.eth.send_transaction(rival_tx)))
            elif case == "min_profit+1":
                min_profit = int(cand["expected_profit"]) + 1
            predicted = predict_execution(
                route, reserves, source=source, premium_bps=premium, min_profit=min_profit
            )
            bribe = 10**15 if k % bribe_every == 0 else 0
            block_before = w3.eth.block_number
            balance_before = _owner_balance(market, route, block_before)
            coinbase = w3.eth.get_block("pending")["miner"]
            cb_before = w3.eth.get_balance(coinbase, block_before)
            ours = market.executor.executor.functions.execute(
                SOURCE_CODES[source],
                market.lenders.lender_for(source),
                route.as_arg(),
                min_profit,
                0,
            ).transact(
                {
                    "from": market.owner,
                    "gas": GAS_EXECUTE,
                    "value": Wei(bribe),
                    "maxPriorityFeePerGas": Wei(10**9),
                    "maxFeePerGas": Wei(10**12),
                }
            )
            receipts = mine_and_wait(w3, [*pre, HexBytes(ours)], check=False)
            receipt = receipts[-1]
            if pre and receipts[0]["transactionIndex"] >= receipt["transactionIndex"]:
                raise ChainError("parity: the rival swap was not ordered before the trade")
            block = receipt["blockNumber"]
            chain_profit = _owner_balance(market, route, block) - balance_before
            success = receipt["status"] == 1
            if success and bribe:
                base_fee = int(w3.eth.get_block(block)["baseFeePerGas"])
                tips = sum(
                    (int(r["effectiveGasPrice"]) - base_fee) * int(r["gasUsed"]) for r in receipts
                )
                got = w3.eth.get_balance(coinbase, block) - cb_before
                if got != bribe + tips:
                    raise ChainError(f"parity: coinbase got {got} wei, expected {bribe + tips}")
                report.bribes_checked += 1
            report.trades.append(
                ParityTrade(
                    kind=kind,
                    source=str(source),
                    case=case,
                    amount_in=route.amount_in,
                    predicted_success=predicted.success,
                    predicted_profit=predicted.profit,
                    scanner_profit=int(cand["expected_profit"]),
                    chain_success=success,
                    chain_profit=chain_profit,
                    gas_used=int(receipt["gasUsed"]),
                )
            )
    report.wall_s = time.perf_counter() - start
    return report
