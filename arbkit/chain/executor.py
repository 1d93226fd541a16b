"""The flash-loan executor and the two flash lenders, on chain, and what arbkit predicts of them.

Contracts (``contracts/``, compiled with solc-js at first use):

- ``ArbkitExecutor``: owner-only; borrows the start token, swaps it along the route's
  pairs, repays, requires a minimum profit, optionally pays a coinbase bribe, sends the
  profit to the owner; otherwise reverts atomically.
- ``ArbkitAaveLikeLender``: Aave V3's ``flashLoanSimple`` with the premium read as
  ``FLASHLOAN_PREMIUM_TOTAL()`` and rounded half up (``percentMul``).
- ``ArbkitBalancerLikeVault``: the Balancer V2 vault's ``flashLoan``, no fee.
- The V2 flash swap needs no lender: the first pair lends its output.

:func:`predict_execution` is arbkit's prediction of one execution from the reserves it
was simulated against, with the same integer math the scanner uses
(:func:`arbkit.market.amm.get_amount_out`, :func:`arbkit.market.amm.aave_flash_fee`).
The parity test holds the chain to it, to the wei.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from eth_typing import ChecksumAddress
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError
from web3.logs import DISCARD
from web3.types import Nonce, TxParams, TxReceipt, Wei

from arbkit.chain.node import ChainError
from arbkit.chain.solidity import deploy_compiled
from arbkit.chain.uniswap import mine_and_wait
from arbkit.errors import ConfigError, DataError
from arbkit.market.amm import aave_flash_fee, get_amount_out
from arbkit.opportunities.config import FlashSource

__all__ = [
    "SOURCE_CODES",
    "ChainRoute",
    "ExecutionPrediction",
    "FlashExecutor",
    "FlashLenders",
    "SimulationResult",
    "deploy_executor",
    "deploy_flash_lenders",
    "predict_execution",
    "route_from_candidate",
]

logger = logging.getLogger(__name__)

SOURCE_CODES: Mapping[FlashSource, int] = {
    FlashSource.V2_FLASH_SWAP: 0,
    FlashSource.AAVE: 1,
    FlashSource.BALANCER: 2,
}
"""The executor's ``source`` argument for each flash source."""

GAS_EXECUTE = 900_000
"""Gas limit sent with an execution when none is given (a 3-hop Aave route uses ~330k)."""


@dataclass(frozen=True)
class FlashLenders:
    """The deployed Aave-like lender and Balancer-like vault.

    Attributes
    ----------
    aave
        ``ArbkitAaveLikeLender`` contract.
    vault
        ``ArbkitBalancerLikeVault`` contract.
    premium_bps
        The lender's ``FLASHLOAN_PREMIUM_TOTAL()``, read from the chain.
    """

    aave: Contract
    vault: Contract
    premium_bps: int

    def lender_for(self, source: FlashSource) -> ChecksumAddress:
        """Address passed as the executor's ``lender`` for ``source`` (zero for a flash swap)."""
        if source is FlashSource.AAVE:
            return self.aave.address
        if source is FlashSource.BALANCER:
            return self.vault.address
        return Web3.to_checksum_address("0x" + "00" * 20)


def deploy_flash_lenders(w3: Web3, deployer: str, *, premium_bps: int = 5) -> FlashLenders:
    """Deploy the Aave-like lender (premium ``premium_bps``) and the Balancer-like vault.

    Fund them by transferring tokens to their addresses; a loan larger than the
    lender's balance reverts, as on mainnet.
    """
    if isinstance(premium_bps, bool) or not 0 <= premium_bps <= 10_000:
        raise ConfigError(f"premium_bps must lie in [0, 10000], got {premium_bps!r}")
    aave = deploy_compiled(w3, deployer, "ArbkitAaveLikeLender", premium_bps)
    vault = deploy_compiled(w3, deployer, "ArbkitBalancerLikeVault")
    premium = int(aave.functions.FLASHLOAN_PREMIUM_TOTAL().call())
    return FlashLenders(aave=aave, vault=vault, premium_bps=premium)


def deploy_executor(w3: Web3, deployer: str, owner: str | None = None) -> Contract:
    """Deploy ``ArbkitExecutor`` owned by ``owner`` (the deployer by default)."""
    return deploy_compiled(
        w3, deployer, "ArbkitExecutor", Web3.to_checksum_address(owner or deployer)
    )


@dataclass(frozen=True)
class ChainRoute:
    """One cycle as the executor takes it.

    Attributes
    ----------
    token
        Start (and end) token, the one borrowed.
    amount_in
        Amount borrowed and swapped into the first pair, in base units.
    pairs
        The pairs, in order.
    zero_for_one
        Per hop, whether it sells the pair's token0.
    fee_bps
        Per hop, the pair's swap fee.
    """

    token: ChecksumAddress
    amount_in: int
    pairs: tuple[ChecksumAddress, ...]
    zero_for_one: tuple[bool, ...]
    fee_bps: tuple[int, ...]

    def __post_init__(self) -> None:
        n = len(self.pairs)
        if n < 2 or len(self.zero_for_one) != n or len(self.fee_bps) != n:
            raise ConfigError(
                f"a route needs >= 2 pairs with one direction and fee each, got {n} pairs, "
                f"{len(self.zero_for_one)} directions, {len(self.fee_bps)} fees"
            )
        if isinstance(self.amount_in, bool) or self.amount_in <= 0:
            raise ConfigError(f"amount_in must be a positive integer, got {self.amount_in!r}")

    def with_amount(self, amount_in: int) -> ChainRoute:
        """Return the same route with another input amount."""
        return ChainRoute(self.token, amount_in, self.pairs, self.zero_for_one, self.fee_bps)

    def as_arg(self) -> tuple[Any, ...]:
        """Return the route as the executor's ``Route`` struct argument."""
        return (
            self.token,
            self.amount_in,
            list(self.pairs),
            list(self.zero_for_one),
            list(self.fee_bps),
        )


def route_from_candidate(
    candidate: Mapping[str, Any],
    pools: Mapping[str, tuple[str, str, str]],
    token_addresses: Mapping[str, str],
    fees_bps: Mapping[str, int],
) -> ChainRoute:
    """Turn a row of the candidates table into a :class:`ChainRoute`.

    Parameters
    ----------
    candidate
        A candidates row (``route``, ``start_token``, ``amount_in``).
    pools
        Pool id -> ``(pair address, token0 symbol, token1 symbol)``.
    token_addresses
        Token symbol -> address.
    fees_bps
        Pool id -> swap fee.

    Raises
    ------
    DataError
        If a pool or token is unknown or the route does not chain its tokens.
    """
    token = str(candidate["start_token"])
    pairs: list[ChecksumAddress] = []
    directions: list[bool] = []
    fees: list[int] = []
    for pool in candidate["route"]:
        if pool not in pools:
            raise DataError(f"candidate route: pool {pool!r} is not deployed on this chain")
        address, t0, t1 = pools[pool]
        if token == t0:
            directions.append(True)
            token = t1
        elif token == t1:
            directions.append(False)
            token = t0
        else:
            raise DataError(f"candidate route: pool {pool!r} ({t0}/{t1}) does not trade {token}")
        pairs.append(Web3.to_checksum_address(address))
        fees.append(int(fees_bps[pool]))
    start = str(candidate["start_token"])
    if token != start:
        raise DataError(f"candidate route {list(candidate['route'])} does not end in {start}")
    if start not in token_addresses:
        raise DataError(f"candidate route: token {start!r} has no address")
    return ChainRoute(
        token=Web3.to_checksum_address(token_addresses[start]),
        amount_in=int(candidate["amount_in"]),
        pairs=tuple(pairs),
        zero_for_one=tuple(directions),
        fee_bps=tuple(fees),
    )


@dataclass(frozen=True)
class ExecutionPrediction:
    """What arbkit predicts one execution does.

    Attributes
    ----------
    success
        Whether the transaction succeeds.
    profit
        Profit paid to the owner in the start token's base units (0 on a revert).
    amounts
        Every hop's input then output amounts, as the executor computes them.
    flash_fee
        Fee paid to the lender.
    reason
        Why it reverts (empty on success).
    """

    success: bool
    profit: int
    amounts: tuple[int, ...]
    flash_fee: int
    reason: str


def predict_execution(
    route: ChainRoute,
    reserves: Mapping[ChecksumAddress, tuple[int, int]],
    *,
    source: FlashSource,
    premium_bps: int = 5,
    min_profit: int = 0,
    lender_balance: int | None = None,
) -> ExecutionPrediction:
    """Predict one execution from the pairs' reserves, with arbkit's exact integer math.

    Parameters
    ----------
    route
        The cycle and its input amount.
    reserves
        Pair address -> ``(reserve0, reserve1)`` of the state the call runs against.
    source
        The flash source.
    premium_bps
        The Aave-like lender's premium (ignored for the other sources).
    min_profit
        The executor's ``minProfit`` argument.
    lender_balance
        The lender's balance of the start token, when known (a larger loan reverts).
    """
    fee = aave_flash_fee(route.amount_in, premium_bps) if source is FlashSource.AAVE else 0
    amounts = [route.amount_in]
    amount = route.amount_in
    for pair, zf, fee_bps in zip(route.pairs, route.zero_for_one, route.fee_bps, strict=True):
        r0, r1 = reserves[Web3.to_checksum_address(pair)]
        reserve_in, reserve_out = (r0, r1) if zf else (r1, r0)
        amount = get_amount_out(amount, reserve_in, reserve_out, fee_bps)
        amounts.append(amount)
        if amount == 0:
            return ExecutionPrediction(False, 0, tuple(amounts), fee, "INSUFFICIENT_OUTPUT_AMOUNT")
    if (
        source is not FlashSource.V2_FLASH_SWAP
        and lender_balance is not None
        and lender_balance < route.amount_in
    ):
        return ExecutionPrediction(False, 0, tuple(amounts), fee, "lender balance too small")
    profit = amount - route.amount_in - fee
    if profit < min_profit:
        reason = "PROFIT_BELOW_MIN" if profit >= 0 else "loss: the repayment fails"
        return ExecutionPrediction(False, 0, tuple(amounts), fee, reason)
    return ExecutionPrediction(True, profit, tuple(amounts), fee, "")


@dataclass(frozen=True)
class SimulationResult:
    """The outcome of an ``eth_call`` of the executor.

    Attributes
    ----------
    success
        Whether the call returned.
    profit
        The returned profit (0 on a revert).
    reason
        The revert reason (empty on success).
    """

    success: bool
    profit: int
    reason: str


class FlashExecutor:
    """Builds, simulates and sends executions of a deployed ``ArbkitExecutor``.

    Parameters
    ----------
    executor
        The deployed executor.
    lenders
        The flash lenders it borrows from.
    owner
        The executor's owner: the account that sends (and, signing locally, owns the key).
    """

    def __init__(self, executor: Contract, lenders: FlashLenders, owner: str) -> None:
        self.executor = executor
        self.lenders = lenders
        self.owner = Web3.to_checksum_address(owner)
        self.w3: Web3 = executor.w3

    def _call(
        self, route: ChainRoute, source: FlashSource, min_profit: int, deadline_block: int
    ) -> Any:
        return self.executor.functions.execute(
            SOURCE_CODES[source],
            self.lenders.lender_for(source),
            route.as_arg(),
            int(min_profit),
            int(deadline_block),
        )

    def simulate(
        self,
        route: ChainRoute,
        source: FlashSource,
        *,
        min_profit: int = 0,
        deadline_block: int = 0,
        bribe_wei: int = 0,
        block: int | str = "latest",
    ) -> SimulationResult:
        """``eth_call`` the execution against ``block``'s state.

        A revert is a result, not an error; transport failures raise :class:`ChainError`.
        """
        tx: TxParams = {"from": self.owner, "value": Wei(bribe_wei), "gas": GAS_EXECUTE}
        try:
            profit = self._call(route, source, min_profit, deadline_block).call(
                tx, block_identifier=block
            )
        except ContractLogicError as exc:
            return SimulationResult(False, 0, _reason(exc))
        return SimulationResult(True, int(profit), "")

    def build_transaction(
        self,
        route: ChainRoute,
        source: FlashSource,
        *,
        min_profit: int,
        nonce: int,
        max_fee_per_gas: int,
        max_priority_fee_per_gas: int,
        gas: int = GAS_EXECUTE,
        deadline_block: int = 0,
        bribe_wei: int = 0,
    ) -> TxParams:
        """Build an EIP-1559 transaction calling ``execute``, with explicit gas and nonce."""
        tx: TxParams = {
            "from": self.owner,
            "nonce": Nonce(nonce),
            "gas": gas,
            "maxFeePerGas": Wei(max_fee_per_gas),
            "maxPriorityFeePerGas": Wei(max_priority_fee_per_gas),
            "value": Wei(bribe_wei),
            "chainId": self.w3.eth.chain_id,
        }
        built: TxParams = self._call(route, source, min_profit, deadline_block).build_transaction(
            tx
        )
        return built

    def send(self, tx: TxParams, signer: Any | None = None) -> HexBytes:
        """Send ``tx``: signed with ``signer`` (an eth-account ``LocalAccount``) or by the node.

        The node signs only for its own unlocked accounts (anvil's dev accounts).
        """
        if signer is not None:
            signed = signer.sign_transaction(dict(tx))
            return HexBytes(self.w3.eth.send_raw_transaction(signed.raw_transaction))
        return HexBytes(self.w3.eth.send_transaction(tx))

    def profit_of(self, receipt: TxReceipt) -> int:
        """Profit the receipt's ``Executed`` event reports (0 for a reverted transaction)."""
        if receipt["status"] != 1:
            return 0
        events = self.executor.events.Executed().process_receipt(receipt, errors=DISCARD)
        if len(events) != 1:
            raise ChainError(
                f"transaction {receipt['transactionHash'].hex()} has {len(events)} Executed "
                "events, expected 1"
            )
        return int(events[0]["args"]["profit"])

    def execute_and_mine(
        self, route: ChainRoute, source: FlashSource, *, min_profit: int = 0, bribe_wei: int = 0
    ) -> TxReceipt:
        """Send one execution from the (unlocked) owner and mine it; for tests and tools."""
        tx: TxParams = {"from": self.owner, "gas": GAS_EXECUTE, "value": Wei(bribe_wei)}
        tx_hash = self._call(route, source, min_profit, 0).transact(tx)
        (receipt,) = mine_and_wait(self.w3, [HexBytes(tx_hash)], check=False)
        return receipt


def _reason(exc: ContractLogicError) -> str:
    text = str(exc.message if getattr(exc, "message", None) else exc)
    return text.removeprefix("execution reverted: ").strip()
