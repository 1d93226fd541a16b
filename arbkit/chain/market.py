"""A market history on a local chain: pools seeded from one block, order flow replayed.

:class:`ChainMarket` deploys, on a dev node (anvil):

- one ERC-20 (``ArbkitToken``, the history's decimals) per token of the history;
- the real Uniswap V2 factory, router and WETH9 for ``uniswap_v2`` pools, a second
  deployment of the same bytecode for ``sushiswap`` pools, and the project's
  ``ArbkitV2Pair`` for every pool whose fee is not 30 bp (e.g. the 5 bp venue);
- the two flash lenders and the flash-loan executor (:mod:`arbkit.chain.executor`);
- ``ArbkitOrderFlow``, which replays the history's order flow.

Every pool starts with exactly the reserves of the history at the seeding block.
:meth:`ChainMarket.flow_steps` turns the next block of history into real swaps. When
the history recorded its swaps (the simulator does: ``MarketHistory.swaps``), each noise
and rival swap is sent as it happened, in order, and pays exactly what it paid in the
history. Otherwise (snapshots of real pools), per pool, the net swap of the block through
the pair (its K check referees it) and, when
the reserves grew by more than one swap explains (the fees of several swaps), a
donation and ``sync``. A transition that no fee-paying swap can reach (a reserve must
fall further than any swap allows: liquidity left the pool, or our own trade paid fees
into it) burns liquidity held by the order-flow contract, then donates and syncs to the
exact reserves; it is counted in :attr:`FlowReport.burns`. Only when the contract
lacks the liquidity does the chain land on the nearest state a swap reaches, counted
in :attr:`FlowReport.unreachable`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl
from eth_typing import ChecksumAddress
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.types import Nonce, TxParams

from arbkit.chain.executor import (
    FlashExecutor,
    FlashLenders,
    deploy_executor,
    deploy_flash_lenders,
)
from arbkit.chain.reader import TokenCache, read_reserves
from arbkit.chain.solidity import deploy_compiled
from arbkit.chain.uniswap import (
    UniswapV2Deployment,
    create_pair_with_liquidity,
    deploy_uniswap_v2,
    mine_and_wait,
)
from arbkit.chain.venues import add_liquidity, deploy_fee_pair
from arbkit.errors import DataError
from arbkit.market.amm import get_amount_in, get_amount_out
from arbkit.market.tables import POOL_STATES_SCHEMA
from arbkit.market.tokens import TOKEN_DECIMALS

__all__ = ["ChainMarket", "ChainPool", "FlowReport", "FlowStep"]

_LP_ABI: list[dict[str, Any]] = [
    {
        "name": name,
        "type": "function",
        "stateMutability": mut,
        "inputs": inputs,
        "outputs": [{"name": "", "type": out}],
    }
    for name, mut, inputs, out in (
        ("totalSupply", "view", [], "uint256"),
        ("balanceOf", "view", [{"name": "owner", "type": "address"}], "uint256"),
        (
            "transfer",
            "nonpayable",
            [{"name": "to", "type": "address"}, {"name": "value", "type": "uint256"}],
            "bool",
        ),
    )
]
"""The LP-share functions of both pair kinds (UniswapV2Pair's ERC-20 and ArbkitV2Pair)."""

logger = logging.getLogger(__name__)

GAS_FLOW = 6_000_000
"""Gas limit of one block's order-flow transaction."""

REAL_V2_VENUES = ("uniswap_v2", "sushiswap")
"""Venues deployed as the real Uniswap V2 bytecode (one factory each) when their fee is 30 bp."""


@dataclass(frozen=True)
class ChainPool:
    """One pool of the history, deployed.

    Attributes
    ----------
    pool
        The history's pool id.
    venue
        The history's venue.
    address
        The pair's address.
    token0, token1
        Token symbols in the pair's on-chain order (token0 has the lower address).
    fee_bps
        Swap fee.
    flipped
        Whether the on-chain order is the reverse of the history's.
    """

    pool: str
    venue: str
    address: ChecksumAddress
    token0: str
    token1: str
    fee_bps: int
    flipped: bool


@dataclass(frozen=True)
class FlowStep:
    """One pool's order flow for one block (an ``ArbkitOrderFlow.Step``)."""

    pair: ChecksumAddress
    burn_liquidity: int = 0
    amount0_in: int = 0
    amount1_in: int = 0
    amount0_out: int = 0
    amount1_out: int = 0
    donate0: int = 0
    donate1: int = 0

    def as_arg(self) -> tuple[Any, ...]:
        """Return the step as the contract's struct argument."""
        return (
            self.pair,
            self.burn_liquidity,
            self.amount0_in,
            self.amount1_in,
            self.amount0_out,
            self.amount1_out,
            self.donate0,
            self.donate1,
        )


@dataclass
class FlowReport:
    """What replaying order flow did.

    Attributes
    ----------
    blocks
        History blocks replayed.
    swaps
        Swaps sent.
    donations
        Donation-and-sync steps sent.
    burns
        Liquidity burns sent (transitions no swap reaches).
    recorded_swaps
        Swaps sent one by one as the history recorded them (noise and rival swaps).
    unreachable
        ``(history block, pool, reserve0 off by, reserve1 off by)`` of transitions no
        fee-paying swap can reach; the chain lands on the nearest reachable state.
    """

    blocks: int = 0
    swaps: int = 0
    donations: int = 0
    burns: int = 0
    recorded_swaps: int = 0
    unreachable: list[tuple[int, str, int, int]] = field(default_factory=list)


def _transition(
    pair: ChecksumAddress, current: tuple[int, int], target: tuple[int, int], fee_bps: int
) -> tuple[FlowStep | None, tuple[int, int]]:
    """Return the step taking ``current`` reserves to ``target`` and the reserves it reaches."""
    (a, b), (ta, tb) = current, target
    if (a, b) == (ta, tb):
        return None, current
    if ta >= a and tb >= b:
        return FlowStep(pair, donate0=ta - a, donate1=tb - b), target
    if ta < a and tb < b:  # both fall: not a swap; swap out token0, the rest stays off
        need = get_amount_in(a - ta, b, a, fee_bps)
        return FlowStep(pair, amount1_in=need, amount0_out=a - ta), (ta, b + need)
    if tb < b:  # token0 in, token1 out
        need = get_amount_in(b - tb, a, b, fee_bps)
        extra = ta - a - need
        if extra >= 0:
            step = FlowStep(pair, amount0_in=need, amount1_out=b - tb, donate0=extra)
            return step, target
        return FlowStep(pair, amount0_in=need, amount1_out=b - tb), (a + need, tb)
    need = get_amount_in(a - ta, b, a, fee_bps)  # token1 in, token0 out
    extra = tb - b - need
    if extra >= 0:
        return FlowStep(pair, amount1_in=need, amount0_out=a - ta, donate1=extra), target
    return FlowStep(pair, amount1_in=need, amount0_out=a - ta), (ta, b + need)


def _burn_step(
    pair: ChecksumAddress,
    current: tuple[int, int],
    target: tuple[int, int],
    supply: int,
    held: int,
) -> FlowStep | None:
    """Return a burn-then-donate step reaching ``target`` exactly, or None without liquidity.

    Burns the least liquidity ``L`` leaving both reserves at or below the target
    (V2's burn pays ``L * balance // supply`` of each token), then donates the rest.
    """
    (a, b), (ta, tb) = current, target
    need0, need1 = max(0, a - ta), max(0, b - tb)
    liquidity = max(-(-need0 * supply // a), -(-need1 * supply // b), 1)
    if liquidity > held or liquidity >= supply:
        return None
    out0, out1 = liquidity * a // supply, liquidity * b // supply
    if out0 == 0 or out1 == 0:
        liquidity = max(liquidity, -(-supply // a), -(-supply // b))
        if liquidity > held or liquidity >= supply:
            return None
        out0, out1 = liquidity * a // supply, liquidity * b // supply
    return FlowStep(
        pair, burn_liquidity=liquidity, donate0=ta - (a - out0), donate1=tb - (b - out1)
    )


class ChainMarket:
    """A market history's pools, lenders and executor, deployed on a dev node.

    Use :meth:`deploy`; the constructor only gathers what it made.

    Attributes
    ----------
    w3
        The connection.
    deployer
        The account that deployed everything and sends the order flow.
    owner
        The executor's owner (the trading account).
    tokens
        Token symbol -> ``ArbkitToken`` contract.
    pools
        Pool id -> :class:`ChainPool`.
    uniswap, sushiswap
        The two real Uniswap V2 deployments.
    lenders
        The flash lenders.
    executor
        The executor, wrapped.
    order_flow
        The ``ArbkitOrderFlow`` contract.
    """

    def __init__(
        self,
        *,
        w3: Web3,
        deployer: ChecksumAddress,
        owner: ChecksumAddress,
        tokens: dict[str, Contract],
        pools: dict[str, ChainPool],
        uniswap: UniswapV2Deployment,
        sushiswap: UniswapV2Deployment,
        lenders: FlashLenders,
        executor: FlashExecutor,
        order_flow: Contract,
    ) -> None:
        self.w3 = w3
        self.deployer = deployer
        self.owner = owner
        self.tokens = tokens
        self.pools = pools
        self.uniswap = uniswap
        self.sushiswap = sushiswap
        self.lenders = lenders
        self.executor = executor
        self.order_flow = order_flow
        self.flow_report = FlowReport()
        self._token_cache: TokenCache = {}
        self._by_address = {p.address: p for p in pools.values()}
        self._lp_abi = _LP_ABI

    # -- set-up ---------------------------------------------------------------------------

    @classmethod
    def deploy(
        cls,
        w3: Web3,
        pool_states: pl.DataFrame,
        *,
        deployer: str,
        owner: str | None = None,
        token_decimals: Mapping[str, int] | None = None,
        premium_bps: int = 5,
        lender_share: float = 0.5,
    ) -> ChainMarket:
        """Deploy the history's pools with the reserves of one block, and the rest.

        Parameters
        ----------
        w3
            A dev node where ``deployer`` (and ``owner``) are unlocked accounts.
        pool_states
            The history's rows of the seeding block (``pool_states`` contract).
        deployer
            Holds every token's supply; sends deployments and order flow.
        owner
            The executor's owner (``deployer`` by default).
        token_decimals
            Decimals per token symbol (:data:`arbkit.market.tokens.TOKEN_DECIMALS` by default).
        premium_bps
            The Aave-like lender's premium.
        lender_share
            Each lender holds, of each token, this fraction of the token's total reserves
            across the pools (the most a flash loan can borrow).

        Raises
        ------
        DataError
            If ``pool_states`` holds several blocks or a token has no decimals.
        """
        if pool_states.height == 0 or pool_states["block"].n_unique() != 1:
            raise DataError("ChainMarket.deploy: pool_states must hold exactly one block")
        decimals = dict(token_decimals or TOKEN_DECIMALS)
        sender = Web3.to_checksum_address(deployer)
        trader = Web3.to_checksum_address(owner or deployer)
        rows = pool_states.sort("pool").to_dicts()
        symbols = sorted({r["token0"] for r in rows} | {r["token1"] for r in rows})
        missing = [s for s in symbols if s not in decimals]
        if missing:
            raise DataError(f"ChainMarket.deploy: no decimals for token(s) {missing}")
        totals = dict.fromkeys(symbols, 0)
        for r in rows:
            totals[r["token0"]] += int(r["reserve0"])
            totals[r["token1"]] += int(r["reserve1"])
        tokens: dict[str, Contract] = {}
        for sym in symbols:
            supply = totals[sym] * 1_000 + 10 ** (decimals[sym] + 12)
            tokens[sym] = deploy_compiled(
                w3, sender, "ArbkitToken", f"arbkit {sym}", sym, decimals[sym], supply, sender
            )
        uniswap = deploy_uniswap_v2(w3, sender)
        sushiswap = deploy_uniswap_v2(w3, sender)
        factories = {"uniswap_v2": uniswap, "sushiswap": sushiswap}
        pools: dict[str, ChainPool] = {}
        for r in rows:
            t0, t1 = str(r["token0"]), str(r["token1"])
            a0, a1 = int(r["reserve0"]), int(r["reserve1"])
            fee = int(r["fee_bps"])
            venue = str(r["venue"])
            if fee == 30 and venue in factories:
                pair = create_pair_with_liquidity(
                    factories[venue], tokens[t0], tokens[t1], a0, a1, sender
                )
            else:
                pair = deploy_fee_pair(w3, sender, tokens[t0], tokens[t1], fee)
                add_liquidity(pair, tokens[t0], tokens[t1], a0, a1, sender)
            flipped = pair.functions.token0().call() != tokens[t0].address
            c0, c1 = (t1, t0) if flipped else (t0, t1)
            pools[str(r["pool"])] = ChainPool(
                str(r["pool"]), venue, pair.address, c0, c1, fee, flipped
            )
        order_flow = deploy_compiled(w3, sender, "ArbkitOrderFlow", sender)
        # the order flow holds the liquidity, to burn what no swap can undo
        moves = []
        for pool in pools.values():
            pair = w3.eth.contract(address=pool.address, abi=_LP_ABI)
            shares = int(pair.functions.balanceOf(sender).call())
            moves.append(
                pair.functions.transfer(order_flow.address, shares).transact(
                    {"from": sender, "gas": 100_000}
                )
            )
        mine_and_wait(w3, moves)
        lenders = deploy_flash_lenders(w3, sender, premium_bps=premium_bps)
        executor = deploy_executor(w3, sender, trader)
        tx: TxParams = {"from": sender, "gas": 100_000}
        funding = []
        for sym in symbols:
            lend = int(totals[sym] * lender_share)
            for to in (lenders.aave.address, lenders.vault.address):
                funding.append(tokens[sym].functions.transfer(to, lend).transact(tx))
            funding.append(
                tokens[sym].functions.transfer(order_flow.address, totals[sym] * 100).transact(tx)
            )
        mine_and_wait(w3, funding)
        return cls(
            w3=w3,
            deployer=sender,
            owner=trader,
            tokens=tokens,
            pools=pools,
            uniswap=uniswap,
            sushiswap=sushiswap,
            lenders=lenders,
            executor=FlashExecutor(executor, lenders, trader),
            order_flow=order_flow,
        )

    # -- reading ----------------------------------------------------------------------------

    @property
    def token_addresses(self) -> dict[str, ChecksumAddress]:
        """Token symbol -> address."""
        return {sym: c.address for sym, c in self.tokens.items()}

    @property
    def pool_map(self) -> dict[str, tuple[str, str, str]]:
        """Pool id -> ``(address, token0, token1)`` (on-chain order), for route building."""
        return {p.pool: (p.address, p.token0, p.token1) for p in self.pools.values()}

    @property
    def fees_bps(self) -> dict[str, int]:
        """Pool id -> fee."""
        return {p.pool: p.fee_bps for p in self.pools.values()}

    def reserves(self, block: int | str = "latest") -> dict[ChecksumAddress, tuple[int, int]]:
        """Every pair's reserves at ``block``, read in one JSON-RPC batch."""
        reads = read_reserves(
            self.w3, [p.address for p in self.pools.values()], block, token_cache=self._token_cache
        )
        return {r.pair: r.reserves for r in reads}

    def pool_states(self, block: int | str = "latest") -> pl.DataFrame:
        """Return the pools' state at ``block`` as a ``pool_states`` table (on-chain order).

        The ``block`` column holds the chain's block number.
        """
        reads = read_reserves(
            self.w3, [p.address for p in self.pools.values()], block, token_cache=self._token_cache
        )
        rows = []
        for r in reads:
            p = self._by_address[r.pair]
            rows.append(
                {
                    "block": r.block,
                    "pool": p.pool,
                    "venue": p.venue,
                    "token0": p.token0,
                    "token1": p.token1,
                    "reserve0": r.reserve0,
                    "reserve1": r.reserve1,
                    "fee_bps": p.fee_bps,
                }
            )
        return pl.DataFrame(rows, schema=dict(POOL_STATES_SCHEMA))

    # -- order flow -------------------------------------------------------------------------

    def _recorded_steps(
        self,
        swaps: pl.DataFrame,
        now: dict[ChecksumAddress, tuple[int, int]],
        wants: Mapping[str, tuple[int, int]],
    ) -> tuple[list[FlowStep], set[str]]:
        """Return the block's recorded swaps as steps, for the pools they take to the target.

        A pool's swaps are used only when each pays exactly ``get_amount_out`` from the
        pool's current reserves and together they end on the target; otherwise the pool
        falls back to its net transition (e.g. after our own trade moved it).
        """
        by_pool: dict[str, list[tuple[int, FlowStep]]] = {}
        trial: dict[str, tuple[int, int]] = {}
        bad: set[str] = set()
        for r in swaps.sort("seq").iter_rows(named=True):
            pool = self.pools.get(str(r["pool"]))
            if pool is None or pool.pool in bad:
                continue
            a, b = trial.get(pool.pool, now[pool.address])
            amount_in, amount_out = int(r["amount_in"]), int(r["amount_out"])
            sells0 = bool(r["sells_token0"]) != pool.flipped  # in the pair's token order
            r_in, r_out = (a, b) if sells0 else (b, a)
            if amount_in <= 0 or get_amount_out(amount_in, r_in, r_out, pool.fee_bps) != amount_out:
                bad.add(pool.pool)
                continue
            if sells0:
                trial[pool.pool] = (a + amount_in, b - amount_out)
                step = FlowStep(pool.address, amount0_in=amount_in, amount1_out=amount_out)
            else:
                trial[pool.pool] = (a - amount_out, b + amount_in)
                step = FlowStep(pool.address, amount1_in=amount_in, amount0_out=amount_out)
            by_pool.setdefault(pool.pool, []).append((int(r["seq"]), step))
        done = {p for p, end in trial.items() if p not in bad and wants.get(p) == end}
        ordered = sorted((seq, step) for p in done for seq, step in by_pool[p])
        for p in done:
            now[self.pools[p].address] = trial[p]
        return [step for _, step in ordered], done

    def flow_steps(
        self,
        target: pl.DataFrame,
        current: Mapping[ChecksumAddress, tuple[int, int]] | None = None,
        swaps: pl.DataFrame | None = None,
    ) -> list[FlowStep]:
        """Return the steps taking the chain's reserves to ``target`` (one history block).

        Parameters
        ----------
        target
            The history's rows of the next block.
        current
            The reserves to start from (read from the chain when omitted).
        swaps
            The block's recorded swaps (``MarketHistory.swaps`` rows of that block), sent
            one by one, in order, for every pool they take exactly to the target; the
            other pools get their net transition.
        """
        if target.height == 0:
            return []
        blocks = target["block"].unique()
        if blocks.len() != 1:
            raise DataError("ChainMarket.flow_steps: target must hold exactly one block")
        history_block = int(blocks[0])
        now = dict(current) if current is not None else self.reserves()
        wants: dict[str, tuple[int, int]] = {}
        for r in target.to_dicts():
            pool = self.pools.get(str(r["pool"]))
            if pool is None:
                raise DataError(
                    f"ChainMarket.flow_steps: pool {r['pool']!r} of block {history_block} "
                    "was not deployed"
                )
            want = (int(r["reserve0"]), int(r["reserve1"]))
            wants[pool.pool] = (want[1], want[0]) if pool.flipped else want
        steps: list[FlowStep] = []
        done: set[str] = set()
        if swaps is not None and swaps.height:
            steps, done = self._recorded_steps(swaps, now, wants)
            self.flow_report.recorded_swaps += len(steps)
        for name, want in wants.items():
            if name in done:
                continue
            pool = self.pools[name]
            step, reached = _transition(pool.address, now[pool.address], want, pool.fee_bps)
            if step is None:
                continue
            if reached != want:
                pair = self.w3.eth.contract(address=pool.address, abi=self._lp_abi)
                burn = _burn_step(
                    pool.address,
                    now[pool.address],
                    want,
                    int(pair.functions.totalSupply().call()),
                    int(pair.functions.balanceOf(self.order_flow.address).call()),
                )
                if burn is not None:
                    step, reached = burn, want
            steps.append(step)
            if reached != want:
                self.flow_report.unreachable.append(
                    (history_block, pool.pool, reached[0] - want[0], reached[1] - want[1])
                )
            now[pool.address] = reached
        return steps

    def send_flow(self, steps: Sequence[FlowStep], *, nonce: int | None = None) -> HexBytes | None:
        """Send one block's order flow as one transaction (not mined); ``None`` if empty."""
        if not steps:
            return None
        tx: TxParams = {"from": self.deployer, "gas": GAS_FLOW}
        if nonce is not None:
            tx["nonce"] = Nonce(nonce)
        tx_hash = self.order_flow.functions.replay([s.as_arg() for s in steps]).transact(tx)
        self.flow_report.blocks += 1
        self.flow_report.swaps += sum(1 for s in steps if s.amount0_out or s.amount1_out)
        self.flow_report.donations += sum(1 for s in steps if s.donate0 or s.donate1)
        self.flow_report.burns += sum(1 for s in steps if s.burn_liquidity)
        return HexBytes(tx_hash)

    def replay_block(self, target: pl.DataFrame) -> None:
        """Send and mine one history block's order flow (a block of its own)."""
        tx_hash = self.send_flow(self.flow_steps(target))
        mine_and_wait(self.w3, [tx_hash] if tx_hash is not None else [])
