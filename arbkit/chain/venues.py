"""The simulated market's on-chain venues: fee-parameterised V2 pairs, liquidity, swaps.

The market has three venues: Uniswap V2 (30 bp), SushiSwap (a second deployment of the
same real factory, see :func:`arbkit.chain.uniswap.deploy_uniswap_v2`) and a 5 bp venue.
The last is the project's ``contracts/ArbkitV2Pair.sol``: a pair with Uniswap V2's
behaviour and a swap fee set at deployment in basis points (at 30 it gives the same
outputs, reserves and reverts as the real ``UniswapV2Pair``; the tests check this).
It is compiled with solc-js at first use and cached (:mod:`arbkit.chain.solidity`).

- :func:`deploy_fee_pair` deploys an ``ArbkitV2Pair`` for two tokens (sorted by
  address, as the V2 factory sorts them) and a fee.
- :func:`add_liquidity` transfers both tokens to a pair and calls ``mint``, as the V2
  router does without its ratio rounding, so a new pair's reserves are the amounts.
- :func:`swap_exact_in` transfers an input to a pair and calls ``swap`` for the exact
  :func:`arbkit.market.amm.get_amount_out` of the reserves and fee read on chain. It
  works for ``ArbkitV2Pair`` and the real ``UniswapV2Pair`` (30 bp, no ``feeBps()``).

Mining: every function works with automine on or off. The transactions of one call are
sent without waiting (the sender's nonces keep their order), then
:func:`~arbkit.chain.uniswap.mine_and_wait` mines one block when automine is off and
raises :class:`~arbkit.chain.node.ChainError` if one of them reverted. Gas limits are
explicit, so nothing needs an ``eth_estimateGas`` round trip.

Reserves are read at the latest block. When other pending transactions trade the same
pair in the block that mines a swap, its output may no longer satisfy the pair's K
check: the swap reverts (a :class:`~arbkit.chain.node.ChainError`) while the input
transfer, a separate transaction, stays in the pair (``skim`` returns it).
"""

from __future__ import annotations

from pathlib import Path

from eth_typing import ChecksumAddress
from web3 import Web3
from web3.contract import Contract
from web3.types import TxParams

from arbkit.chain.solidity import deploy_compiled, load_contract
from arbkit.chain.uniswap import (
    GAS_CALL,
    GAS_DEPLOY,
    DeployedToken,
    TokenLike,
    get_reserves,
    mine_and_wait,
)
from arbkit.errors import ConfigError, InsufficientOutputAmountError
from arbkit.market.amm import get_amount_out

__all__ = [
    "ARBKIT_PAIR_CONTRACT",
    "BPS",
    "UNISWAP_V2_FEE_BPS",
    "add_liquidity",
    "deploy_fee_pair",
    "pair_fee_bps",
    "sort_tokens",
    "swap_exact_in",
]

#: Name of the fee-parameterised pair in ``contracts/ArbkitV2Pair.sol``.
ARBKIT_PAIR_CONTRACT = "ArbkitV2Pair"
#: The fee of a real Uniswap V2 (and SushiSwap) pair, in basis points.
UNISWAP_V2_FEE_BPS = 30
#: Basis points in one.
BPS = 10_000


def _address(token: TokenLike) -> ChecksumAddress:
    if isinstance(token, DeployedToken):
        return token.address
    if isinstance(token, str):
        if not Web3.is_address(token):
            raise ConfigError(f"{token!r} is not an address")
        return Web3.to_checksum_address(token)
    return Web3.to_checksum_address(token.address)


def _check_amount(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be an int amount in base units, got {value!r}")
    if value <= 0:
        raise ConfigError(f"{name} must be positive, got {value}")
    return value


def _check_fee(fee_bps: object) -> int:
    if isinstance(fee_bps, bool) or not isinstance(fee_bps, int) or not 0 <= fee_bps < BPS:
        raise ConfigError(f"fee_bps must be an int in [0, {BPS}), got {fee_bps!r}")
    return fee_bps


def sort_tokens(token_a: TokenLike, token_b: TokenLike) -> tuple[ChecksumAddress, ChecksumAddress]:
    """Return the two token addresses as ``(token0, token1)``: lower address first.

    This is ``UniswapV2Library.sortTokens`` (addresses compared as numbers).

    Raises
    ------
    ConfigError
        If the tokens are the same or one is the zero address.
    """
    a, b = _address(token_a), _address(token_b)
    if int(a, 16) == int(b, 16):
        raise ConfigError(f"a pair needs two different tokens, got {a} twice")
    token0, token1 = (a, b) if int(a, 16) < int(b, 16) else (b, a)
    if int(token0, 16) == 0:
        raise ConfigError("a pair cannot hold the zero address as a token")
    return token0, token1


def deploy_fee_pair(
    w3: Web3,
    deployer: str,
    token_a: TokenLike,
    token_b: TokenLike,
    fee_bps: int,
    *,
    cache_dir: Path | None = None,
    gas: int = GAS_DEPLOY,
) -> Contract:
    """Deploy an ``ArbkitV2Pair`` for ``token_a``/``token_b`` with a swap fee of ``fee_bps``.

    The tokens are sorted first (:func:`sort_tokens`), so ``token0`` is the one with the
    lower address, as in a factory-made Uniswap V2 pair. The pair starts empty: add
    liquidity with :func:`add_liquidity`.

    Parameters
    ----------
    w3
        Connection to a node where ``deployer`` is an unlocked account.
    deployer
        Sender of the deployment.
    token_a, token_b
        The two tokens, in any order (contracts, :class:`DeployedToken` s or addresses).
    fee_bps
        Swap fee in basis points, ``0 <= fee_bps < 10000`` (30 is Uniswap V2's 0.3 %).
    cache_dir
        solc cache folder; see :func:`arbkit.chain.solidity.compile_contracts`.
    gas
        Gas limit of the deployment.

    Returns
    -------
    Contract
        The deployed pair, with the ``ArbkitV2Pair`` ABI.

    Raises
    ------
    ConfigError
        If the fee is out of range or the tokens are the same; or (on a cache miss)
        Node.js or solc-js is missing.
    ChainError
        If the deployment reverts.
    """
    fee = _check_fee(fee_bps)
    token0, token1 = sort_tokens(token_a, token_b)
    artifact = load_contract(ARBKIT_PAIR_CONTRACT, cache_dir=cache_dir)
    return deploy_compiled(w3, deployer, artifact, token0, token1, fee, gas=gas)


def _has_function(contract: Contract, name: str) -> bool:
    return any(item.get("type") == "function" and item.get("name") == name for item in contract.abi)


def pair_fee_bps(pair: Contract) -> int:
    """Return a pair's swap fee in basis points.

    Calls ``feeBps()`` when the contract's ABI has it (an ``ArbkitV2Pair``); a pair
    whose ABI lacks it is taken for a real Uniswap V2 pair: 30.
    """
    if _has_function(pair, "feeBps"):
        return int(pair.functions.feeBps().call())
    return UNISWAP_V2_FEE_BPS


def _pair_tokens(pair: Contract) -> tuple[ChecksumAddress, ChecksumAddress]:
    token0 = Web3.to_checksum_address(pair.functions.token0().call())
    token1 = Web3.to_checksum_address(pair.functions.token1().call())
    return token0, token1


def add_liquidity(
    pair: Contract,
    token0_contract: Contract,
    token1_contract: Contract,
    amount0: int,
    amount1: int,
    provider: str,
) -> int:
    """Transfer ``amount0``/``amount1`` to ``pair`` and mint LP shares to ``provider``.

    Three transactions from ``provider`` (two transfers, then ``pair.mint(provider)``)
    mined in one block when automine is off. On an empty pair the reserves become
    exactly the amounts and ``isqrt(amount0 * amount1) - 1000`` shares are minted (1000
    are locked at the zero address); later, the smaller of the two ratios counts, as in
    Uniswap V2 (an unbalanced excess is donated to the pair).

    Works for ``ArbkitV2Pair`` and ``UniswapV2Pair``. Each amount goes with its own token
    contract, so passing the two tokens in either order gives the same result.

    Returns
    -------
    int
        LP shares credited to ``provider`` (its ``balanceOf`` change; pending
        transactions of others that mint to ``provider`` in the same block count too).

    Raises
    ------
    ConfigError
        If an amount is not positive or the two contracts are not the pair's tokens.
    ChainError
        If a transaction reverts (e.g. ``provider`` lacks a token, or the first mint is
        too small: ``isqrt(amount0 * amount1) <= 1000``).
    """
    a0 = _check_amount("amount0", amount0)
    a1 = _check_amount("amount1", amount1)
    given = {_address(token0_contract), _address(token1_contract)}
    tokens = set(_pair_tokens(pair))
    if given != tokens:
        raise ConfigError(
            f"the token contracts {sorted(given)} are not the pair's tokens {sorted(tokens)}"
        )
    w3 = pair.w3
    sender = Web3.to_checksum_address(provider)
    before = int(pair.functions.balanceOf(sender).call())
    tx: TxParams = {"from": sender, "gas": GAS_CALL}
    hashes = [
        token0_contract.functions.transfer(pair.address, a0).transact(tx),
        token1_contract.functions.transfer(pair.address, a1).transact(tx),
        pair.functions.mint(sender).transact(tx),
    ]
    mine_and_wait(w3, hashes)
    return int(pair.functions.balanceOf(sender).call()) - before


def swap_exact_in(
    w3: Web3,
    pair: Contract,
    token_in_contract: Contract,
    amount_in: int,
    trader: str,
    *,
    min_out: int | None = None,
    fee_bps: int | None = None,
    to: str | None = None,
) -> int:
    """Swap exactly ``amount_in`` of ``token_in_contract`` in ``pair``; return the output.

    Reads the pair's reserves (and its fee, unless given) at the latest block, computes
    ``out = get_amount_out(amount_in, reserve_in, reserve_out, fee_bps)`` (the exact
    ``UniswapV2Library`` formula), then sends ``token_in.transfer(pair, amount_in)`` and
    ``pair.swap(...)`` for ``out`` of the other token, both from ``trader``, mined in one
    block when automine is off. Nothing is sent when a check fails first.

    Parameters
    ----------
    w3
        Connection to the node; ``trader`` must be an unlocked account.
    pair
        An ``ArbkitV2Pair`` or a real ``UniswapV2Pair`` contract object.
    token_in_contract
        The token paid in (one of the pair's two tokens); its ABI is also used to read
        the output token's ``balanceOf``.
    amount_in
        Input in base units, transferred from ``trader``.
    trader
        Sender of both transactions; pays the input.
    min_out
        Smallest acceptable output (the router's ``amountOutMin``); checked before
        anything is sent.
    fee_bps
        Fee used to compute the output; by default :func:`pair_fee_bps` (the pair's
        ``feeBps()``, or 30 for a real Uniswap V2 pair). A fee above the pair's own gives
        a smaller output, which the pair accepts; one below it makes the swap revert.
    to
        Recipient of the output (``trader`` by default).

    Returns
    -------
    int
        The output the recipient received (its balance change in the output token;
        ``out`` for a standard ERC-20).

    Raises
    ------
    ConfigError
        If ``amount_in`` is not positive, the token is not in the pair, the fee is out
        of range, ``to`` is one of the pair's tokens (the pair's ``INVALID_TO``), or
        ``trader`` holds less than ``amount_in``.
    InsufficientOutputAmountError
        If ``out`` is 0 or below ``min_out`` (nothing is sent).
    InsufficientLiquidityError
        If a reserve is empty.
    ChainError
        If a transaction reverts (see the module docstring on concurrent trades).
    """
    amount = _check_amount("amount_in", amount_in)
    fee = _check_fee(fee_bps) if fee_bps is not None else pair_fee_bps(pair)
    sender = Web3.to_checksum_address(trader)
    recipient = Web3.to_checksum_address(to) if to is not None else sender
    token0, token1 = _pair_tokens(pair)
    token_in = _address(token_in_contract)
    if token_in not in (token0, token1):
        raise ConfigError(f"token {token_in} is not in pair {pair.address} ({token0}, {token1})")
    if recipient in (token0, token1):
        raise ConfigError(f"the output cannot go to one of the pair's tokens ({recipient})")
    zero_for_one = token_in == token0
    token_out = token1 if zero_for_one else token0

    reserve0, reserve1 = get_reserves(pair)
    reserve_in, reserve_out = (reserve0, reserve1) if zero_for_one else (reserve1, reserve0)
    out = get_amount_out(amount, reserve_in, reserve_out, fee)
    if out <= 0:
        raise InsufficientOutputAmountError(
            f"INSUFFICIENT_OUTPUT_AMOUNT: {amount} in gives 0 out at reserves "
            f"({reserve_in}, {reserve_out}) and fee {fee} bp"
        )
    if min_out is not None and out < min_out:
        raise InsufficientOutputAmountError(
            f"INSUFFICIENT_OUTPUT_AMOUNT: {amount} in gives {out} out, below min_out={min_out}"
        )
    held = int(token_in_contract.functions.balanceOf(sender).call())
    if held < amount:
        raise ConfigError(f"trader {sender} holds {held} of {token_in}, needs {amount}")

    out_contract = w3.eth.contract(address=token_out, abi=token_in_contract.abi)
    before = int(out_contract.functions.balanceOf(recipient).call())
    outs = (0, out) if zero_for_one else (out, 0)
    tx: TxParams = {"from": sender, "gas": GAS_CALL}
    hashes = [
        token_in_contract.functions.transfer(pair.address, amount).transact(tx),
        pair.functions.swap(outs[0], outs[1], recipient, b"").transact(tx),
    ]
    mine_and_wait(w3, hashes)
    return int(out_contract.functions.balanceOf(recipient).call()) - before
