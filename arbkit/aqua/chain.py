"""A market history's Aqua flows on a local chain: ship, swap and dock as real transactions.

:class:`AquaChain` puts arbkit's own Aqua contract (``contracts/ArbkitAqua.sol``, written
from 1inch Aqua's published interface: same events, same selectors, so byte-identical
logs) on a dev node (anvil) and turns the ``aqua_events`` rows of a market history into
the transactions that emit them:

- the Aqua contract is installed at the configured address (by default
  :data:`arbkit.aqua.config.DEFAULT_AQUA_ADDRESSES`) with ``anvil_setCode`` (its
  runtime code needs no constructor state), and one ``ArbkitAquaApp`` at every ``app``
  address the history names (its runtime code is produced by running its constructor
  in an ``eth_call``), so the logs carry exactly the history's addresses;
- makers are impersonated at the history's addresses (``anvil_impersonateAccount``,
  ``anvil_setBalance``) and send ``ship`` and ``dock`` themselves; a taker account
  (impersonated too) sends each swap through the app, which pushes the taker's
  ``tokenIn`` to the maker (``Pushed``) and pulls ``tokenOut`` from the maker to the
  taker (``Pulled``) in one transaction;
- tokens are the chain's ERC-20s (``ArbkitToken``), mapped from the history's symbols.

Funding. Aqua balances are virtual: a maker's tokens stay in its wallet and are pulled
with ``transferFrom`` against its approval of Aqua. When a maker ships, its wallet is
credited with the allocation; before a swap the taker is credited with ``amountIn``.
A credit is an exact mint: ``balanceOf[account]`` and ``totalSupply`` of the
``ArbkitToken`` are both raised by the amount with ``anvil_setStorageAt`` (the storage
layout is checked against the token's own getters first). The wallet of a maker thus
always covers the sum of its strategies' virtual balances, so a pull fails only when
the history itself pulls more than the strategy holds. Approvals are real transactions:
each maker approves Aqua (once per token, before its ship, same sender so the nonce
orders them) and the taker approves the app (once per app and token, before its swap).

Mining. :meth:`AquaChain.send_block` sends a block's transactions and mines nothing;
the caller mines (e.g. :class:`arbkit.live.chain_layer.HistoryChain`, whose automine is
off). :meth:`AquaChain.replay` sends and mines block by block, for standalone use.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
from eth_abi.abi import encode as abi_encode
from eth_typing import ChecksumAddress
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.types import RPCEndpoint, TxParams, TxReceipt, Wei

from arbkit.aqua.config import DEFAULT_AQUA_ADDRESSES
from arbkit.aqua.events import AquaEvent, decode_aqua_log
from arbkit.chain.node import ChainError
from arbkit.chain.solidity import contracts_dir, load_contract
from arbkit.chain.uniswap import mine_and_wait
from arbkit.errors import DataError
from arbkit.market.history import MarketHistory

__all__ = [
    "AQUA_SOURCE",
    "DEFAULT_TAKER",
    "GAS_APPROVE",
    "GAS_SWAP",
    "AquaChain",
    "aqua_artifacts",
]

logger = logging.getLogger(__name__)

AQUA_SOURCE: Path = contracts_dir() / "ArbkitAqua.sol"
"""The Solidity source of ``ArbkitAqua`` and ``ArbkitAquaApp`` (compiled on its own)."""

DEFAULT_TAKER: ChecksumAddress = Web3.to_checksum_address(keccak(text="arbkit:aqua:taker")[-20:])
"""The account that sends the history's swaps unless another is given (impersonated)."""

GAS_APPROVE = 100_000
"""Gas limit of an ERC-20 approval."""
GAS_SWAP = 400_000
"""Gas limit of an app swap (transferFrom, approve, push, pull)."""
_GAS_SHIP_BASE, _GAS_SHIP_PER_TOKEN, _GAS_SHIP_PER_WORD = 150_000, 60_000, 2_000
_GAS_DOCK_BASE, _GAS_DOCK_PER_TOKEN = 80_000, 30_000

_SUPPLY_SLOT = 2  # ArbkitToken: name (0), symbol (1), totalSupply (2), balanceOf (3)
_BALANCE_SLOT = 3
_MAX_UINT = 2**256 - 1
_ETH_BALANCE_WEI = 10**22

_TOKEN_ABI: list[dict[str, Any]] = [
    {
        "type": "function",
        "name": name,
        "stateMutability": mutability,
        "inputs": [{"name": f"a{i}", "type": t} for i, t in enumerate(inputs)],
        "outputs": [{"name": "", "type": out}],
    }
    for name, mutability, inputs, out in (
        ("totalSupply", "view", (), "uint256"),
        ("balanceOf", "view", ("address",), "uint256"),
        ("allowance", "view", ("address", "address"), "uint256"),
        ("approve", "nonpayable", ("address", "uint256"), "bool"),
    )
]

_KEY_COLUMNS = ("block", "tx_hash", "log_index", "event", "maker", "app", "strategy_hash")

StrategyKey = tuple[ChecksumAddress, ChecksumAddress, str]
"""``(maker, app, strategy_hash)``: checksum addresses and 0x lower-case hex."""


def aqua_artifacts() -> dict[str, dict[str, Any]]:
    """Compile (cached) ``contracts/ArbkitAqua.sol`` on its own.

    Returns
    -------
    dict
        ``{"ArbkitAqua": artifact, "ArbkitAquaApp": artifact}``, each with ``abi``,
        ``bytecode`` and ``deployed_bytecode``.
    """
    return {
        name: load_contract(name, sources=[AQUA_SOURCE]) for name in ("ArbkitAqua", "ArbkitAquaApp")
    }


def _bytes(value: str) -> bytes:
    text = value[2:] if value.startswith(("0x", "0X")) else value
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise DataError(f"not hex: {value[:80]!r}") from None


def _word(value: int) -> str:
    return "0x" + value.to_bytes(32, "big").hex()


def _mapping_slot(key: str, slot: int) -> int:
    return int.from_bytes(keccak(_bytes(key).rjust(32, b"\0") + slot.to_bytes(32, "big")), "big")


@dataclass(frozen=True)
class _Ship:
    maker: ChecksumAddress
    app: ChecksumAddress
    strategy: bytes
    tokens: tuple[ChecksumAddress, ...]
    amounts: tuple[int, ...]


@dataclass(frozen=True)
class _Swap:
    maker: ChecksumAddress
    app: ChecksumAddress
    strategy_hash: bytes
    token_in: ChecksumAddress
    amount_in: int
    token_out: ChecksumAddress
    amount_out: int


@dataclass(frozen=True)
class _Dock:
    maker: ChecksumAddress
    app: ChecksumAddress
    strategy_hash: bytes
    tokens: tuple[ChecksumAddress, ...]


_Action = _Ship | _Swap | _Dock


class AquaChain:
    """Drive a market history's Aqua events as real transactions on a dev node.

    Parameters
    ----------
    w3
        A dev node (anvil): the driver uses ``anvil_setCode``, ``anvil_setStorageAt``,
        ``anvil_impersonateAccount`` and ``anvil_setBalance``.
    tokens
        Token symbol -> address of the chain's ``ArbkitToken`` (e.g.
        ``ChainMarket.token_addresses``). Rows may name tokens by symbol or by address.
    aqua_address
        Where the Aqua contract is installed (the address its logs carry).
    taker
        The account that sends the swaps (impersonated); :data:`DEFAULT_TAKER` by default.
        It receives the pulled tokens.
    max_fee_per_gas, priority_fee_per_gas
        EIP-1559 fees of every transaction sent, in wei. Explicit (not the node's
        default, twice the current base fee) so that the transactions are included
        whatever base fee the caller sets for the next block (HistoryChain sets the
        history's); equal for all, so the node orders them as they were sent.

    Attributes
    ----------
    w3, aqua_address, taker
        As given (addresses checksummed).
    tokens
        Token symbol -> checksum address.
    aqua
        The Aqua contract (``ArbkitAqua``'s ABI at :attr:`aqua_address`).
    apps
        App address -> ``ArbkitAquaApp`` contract installed there.
    """

    def __init__(
        self,
        w3: Web3,
        tokens: Mapping[str, str],
        *,
        aqua_address: str = DEFAULT_AQUA_ADDRESSES[0],
        taker: str | None = None,
        max_fee_per_gas: int = 10**12,
        priority_fee_per_gas: int = 10**9,
    ) -> None:
        if not 0 <= priority_fee_per_gas <= max_fee_per_gas:
            raise DataError("need 0 <= priority_fee_per_gas <= max_fee_per_gas")
        self.w3 = w3
        self.max_fee_per_gas = int(max_fee_per_gas)
        self.priority_fee_per_gas = int(priority_fee_per_gas)
        self.tokens: dict[str, ChecksumAddress] = {
            str(sym): Web3.to_checksum_address(addr) for sym, addr in tokens.items()
        }
        self.aqua_address = Web3.to_checksum_address(aqua_address)
        self.taker = Web3.to_checksum_address(taker or DEFAULT_TAKER)
        artifacts = aqua_artifacts()
        self._app_artifact = artifacts["ArbkitAquaApp"]
        self._rpc("anvil_setCode", self.aqua_address, artifacts["ArbkitAqua"]["deployed_bytecode"])
        self.aqua: Contract = w3.eth.contract(
            address=self.aqua_address, abi=artifacts["ArbkitAqua"]["abi"]
        )
        self.apps: dict[ChecksumAddress, Contract] = {}
        self._app_code: str | None = None
        self._accounts: set[ChecksumAddress] = set()
        self._approved: set[tuple[ChecksumAddress, ChecksumAddress, ChecksumAddress]] = set()
        self._checked_tokens: set[ChecksumAddress] = set()
        self._live: dict[StrategyKey, tuple[ChecksumAddress, ...]] = {}
        self._token_contracts: dict[ChecksumAddress, Contract] = {}
        self._account(self.taker)

    # -- node helpers -------------------------------------------------------------------

    def _rpc(self, method: str, *params: Any) -> Any:
        response = self.w3.provider.make_request(RPCEndpoint(method), list(params))
        if "error" in response:
            raise ChainError(f"{method} failed: {response['error']}")
        return response.get("result")

    def _account(self, address: ChecksumAddress) -> None:
        """Impersonate ``address`` and give it gas money (once)."""
        if address in self._accounts:
            return
        self._rpc("anvil_impersonateAccount", address)
        if int(self.w3.eth.get_balance(address)) < _ETH_BALANCE_WEI // 2:
            self._rpc("anvil_setBalance", address, hex(_ETH_BALANCE_WEI))
        self._accounts.add(address)

    def _token(self, address: ChecksumAddress) -> Contract:
        contract = self._token_contracts.get(address)
        if contract is None:
            contract = self.w3.eth.contract(address=address, abi=_TOKEN_ABI)
            self._token_contracts[address] = contract
        return contract

    def install_app(self, app: str) -> Contract:
        """Install ``ArbkitAquaApp`` (bound to :attr:`aqua_address`) at ``app``.

        The runtime code is what the app's constructor returns, run in an ``eth_call``
        (nothing is mined). Installing an app already installed does nothing;
        :meth:`send_block` installs every app its rows name.

        Parameters
        ----------
        app
            The address the app's code is put at (the ``app`` of the history's events).

        Returns
        -------
        Contract
            The app contract at ``app``.
        """
        address = Web3.to_checksum_address(app)
        if address in self.apps:
            return self.apps[address]
        if self._app_code is None:
            creation = _bytes(self._app_artifact["bytecode"]) + abi_encode(
                ["address"], [self.aqua_address]
            )
            code = self._rpc("eth_call", {"data": "0x" + creation.hex()}, "latest")
            if not isinstance(code, str) or len(code) <= 2:
                raise ChainError("running ArbkitAquaApp's constructor returned no code")
            self._app_code = code
        self._rpc("anvil_setCode", address, self._app_code)
        contract = self.w3.eth.contract(address=address, abi=self._app_artifact["abi"])
        self.apps[address] = contract
        return contract

    def token_address(self, token: str) -> ChecksumAddress:
        """Return the chain address of ``token`` (a symbol of :attr:`tokens` or an address).

        Raises
        ------
        DataError
            If ``token`` is a symbol that is not mapped.
        """
        if token in self.tokens:
            return self.tokens[token]
        if token.startswith(("0x", "0X")) and len(token) == 42:
            return Web3.to_checksum_address(token)
        raise DataError(f"token {token!r} is not one of the chain's tokens {sorted(self.tokens)}")

    def credit(self, account: str, token: str, amount: int) -> None:
        """Mint ``amount`` of ``token`` to ``account`` (no transaction; takes effect now).

        ``balanceOf[account]`` and ``totalSupply`` of the ``ArbkitToken`` both rise by
        ``amount`` (``anvil_setStorageAt``; no ``Transfer`` log). Pending transactions
        run against the credited state when the block is mined.

        Parameters
        ----------
        account
            Who receives the tokens.
        token
            A symbol of :attr:`tokens` or a token address.
        amount
            Base units to mint.

        Raises
        ------
        ChainError
            If the token's storage is not ``ArbkitToken``'s layout.
        """
        if amount < 0:
            raise DataError(f"cannot credit a negative amount ({amount})")
        if amount == 0:
            return
        address = self.token_address(token)
        holder = Web3.to_checksum_address(account)
        contract = self._token(address)
        balance_slot = _mapping_slot(holder, _BALANCE_SLOT)
        balance = int(self._rpc("eth_getStorageAt", address, hex(balance_slot), "latest"), 16)
        supply = int(self._rpc("eth_getStorageAt", address, hex(_SUPPLY_SLOT), "latest"), 16)
        if address not in self._checked_tokens:
            if (
                int(contract.functions.totalSupply().call()) != supply
                or int(contract.functions.balanceOf(holder).call()) != balance
            ):
                raise ChainError(
                    f"token {address} does not have ArbkitToken's storage layout "
                    "(totalSupply at slot 2, balanceOf at slot 3); cannot credit it"
                )
            self._checked_tokens.add(address)
        if supply + amount > _MAX_UINT:
            raise ChainError(f"crediting {amount} overflows the total supply of {address}")
        self._rpc("anvil_setStorageAt", address, hex(balance_slot), _word(balance + amount))
        self._rpc("anvil_setStorageAt", address, _word(_SUPPLY_SLOT), _word(supply + amount))

    # -- planning -----------------------------------------------------------------------

    @property
    def live_strategies(self) -> dict[StrategyKey, tuple[ChecksumAddress, ...]]:
        """Strategies shipped (sent) and not docked: ``(maker, app, hash)`` -> tokens."""
        return dict(self._live)

    def _plan(
        self, rows: pl.DataFrame, live: dict[StrategyKey, tuple[ChecksumAddress, ...]]
    ) -> list[_Action]:
        missing = [c for c in (*_KEY_COLUMNS, "token", "amount") if c not in rows.columns]
        if missing:
            raise DataError(f"aqua_events rows lack column(s) {missing}")
        has_strategy = "strategy" in rows.columns
        ordered = rows.sort(["block", "log_index"]).to_dicts()
        actions: list[_Action] = []
        seen: set[str] = set()
        for tx_hash, group_iter in itertools.groupby(ordered, key=lambda r: str(r["tx_hash"])):
            group = list(group_iter)
            where = f"aqua_events tx {tx_hash} (block {group[0]['block']})"
            if tx_hash in seen:
                raise DataError(f"{where}: its rows are not contiguous in log order")
            seen.add(tx_hash)
            kinds = [str(r["event"]) for r in group]
            keys = {
                (
                    Web3.to_checksum_address(str(r["maker"])),
                    Web3.to_checksum_address(str(r["app"])),
                    str(r["strategy_hash"]).lower(),
                )
                for r in group
            }
            if len(keys) != 1:
                raise DataError(f"{where}: rows name several (maker, app, strategy_hash)")
            key = next(iter(keys))
            maker, app, hash_hex = key
            if kinds[0] == "Shipped" and all(k == "Pushed" for k in kinds[1:]):
                raw = group[0].get("strategy") if has_strategy else None
                if raw is None:
                    raise DataError(f"{where}: a Shipped row needs the 'strategy' bytes")
                strategy = _bytes(str(raw))
                if "0x" + keccak(strategy).hex() != hash_hex:
                    raise DataError(f"{where}: strategy_hash is not keccak256(strategy)")
                if key in live:
                    raise DataError(f"{where}: strategy {hash_hex} is already live")
                tokens = tuple(self.token_address(str(r["token"])) for r in group[1:])
                amounts = tuple(int(r["amount"]) for r in group[1:])
                if not tokens or len(set(tokens)) != len(tokens):
                    raise DataError(f"{where}: a ship needs one allocation per distinct token")
                live[key] = tokens
                actions.append(_Ship(maker, app, strategy, tokens, amounts))
            elif kinds == ["Pushed", "Pulled"]:
                tokens_live = live.get(key)
                if tokens_live is None:
                    raise DataError(f"{where}: swap through strategy {hash_hex}, not live")
                t_in = self.token_address(str(group[0]["token"]))
                t_out = self.token_address(str(group[1]["token"]))
                if t_in not in tokens_live or t_out not in tokens_live:
                    raise DataError(f"{where}: swap tokens are not the strategy's")
                actions.append(
                    _Swap(
                        maker,
                        app,
                        _bytes(hash_hex),
                        t_in,
                        int(group[0]["amount"]),
                        t_out,
                        int(group[1]["amount"]),
                    )
                )
            elif kinds == ["Docked"]:
                tokens_live = live.pop(key, None)
                if tokens_live is None:
                    raise DataError(
                        f"{where}: dock of strategy {hash_hex}, which was not shipped here "
                        "(its tokens are unknown)"
                    )
                actions.append(_Dock(maker, app, _bytes(hash_hex), tokens_live))
            else:
                raise DataError(
                    f"{where}: events {kinds} are not a ship (Shipped + Pushed allocations), "
                    "a swap (Pushed + Pulled) or a dock (Docked)"
                )
        return actions

    # -- sending ------------------------------------------------------------------------

    def _send(self, call: Any, sender: ChecksumAddress, gas: int) -> HexBytes:
        tx: TxParams = {
            "from": sender,
            "gas": gas,
            "maxFeePerGas": Wei(self.max_fee_per_gas),
            "maxPriorityFeePerGas": Wei(self.priority_fee_per_gas),
        }
        return HexBytes(call.transact(tx))

    def _approve(
        self, owner: ChecksumAddress, token: ChecksumAddress, spender: ChecksumAddress
    ) -> list[HexBytes]:
        if (owner, token, spender) in self._approved:
            return []
        self._approved.add((owner, token, spender))
        call = self._token(token).functions.approve(spender, _MAX_UINT)
        return [self._send(call, owner, GAS_APPROVE)]

    def send_block(self, rows: pl.DataFrame) -> list[HexBytes]:
        """Send the transactions of one history block's ``aqua_events`` rows; mine nothing.

        Rows are grouped by ``tx_hash`` in log order: ``Shipped`` followed by its
        ``Pushed`` allocation rows -> one ``ship`` from the maker; ``Pushed`` then
        ``Pulled`` -> one app ``swap`` from :attr:`taker`; ``Docked`` -> one ``dock`` from
        the maker (with the tokens it shipped). The block is checked whole before
        anything is sent. Approvals a transaction needs are sent before it by the same
        account (the nonce orders them); credits take effect at once (see
        :meth:`credit`).

        Parameters
        ----------
        rows
            ``aqua_events`` rows (``AQUA_EVENTS_SCHEMA`` plus ``strategy``: 0x hex of the
            strategy bytes on ``Shipped`` rows); tokens by symbol or address.

        Returns
        -------
        list of HexBytes
            Hashes of every transaction sent (approvals included), in send order. The
            caller mines them (one block) and may check their receipts.

        Raises
        ------
        DataError
            If the rows are not ships, swaps and docks as above, a swap or dock names a
            strategy not live here, or a token is unknown.
        """
        if rows.height == 0:
            return []
        live = dict(self._live)
        actions = self._plan(rows, live)
        self._live = live  # planned whole: a failure below is the node's, not the data's
        hashes: list[HexBytes] = []
        for action in actions:
            self._account(action.maker)
            app = self.install_app(action.app)
            if isinstance(action, _Ship):
                for token, amount in zip(action.tokens, action.amounts, strict=True):
                    self.credit(action.maker, token, amount)
                    hashes += self._approve(action.maker, token, self.aqua_address)
                gas = (
                    _GAS_SHIP_BASE
                    + _GAS_SHIP_PER_TOKEN * len(action.tokens)
                    + _GAS_SHIP_PER_WORD * (len(action.strategy) // 32 + 1)
                )
                call = self.aqua.functions.ship(
                    action.app, action.strategy, list(action.tokens), list(action.amounts)
                )
                hashes.append(self._send(call, action.maker, gas))
            elif isinstance(action, _Swap):
                self.credit(self.taker, action.token_in, action.amount_in)
                hashes += self._approve(self.taker, action.token_in, action.app)
                call = app.functions.swap(
                    action.maker,
                    action.strategy_hash,
                    action.token_in,
                    action.amount_in,
                    action.token_out,
                    action.amount_out,
                    self.taker,
                )
                hashes.append(self._send(call, self.taker, GAS_SWAP))
            else:
                gas = _GAS_DOCK_BASE + _GAS_DOCK_PER_TOKEN * len(action.tokens)
                call = self.aqua.functions.dock(
                    action.app, action.strategy_hash, list(action.tokens)
                )
                hashes.append(self._send(call, action.maker, gas))
        return hashes

    # -- reading ------------------------------------------------------------------------

    def decode_receipts(self, receipts: Iterable[TxReceipt]) -> list[AquaEvent]:
        """Return the Aqua events in ``receipts``, in chain order.

        Parameters
        ----------
        receipts
            Transaction receipts; only logs emitted by :attr:`aqua_address` are read.

        Returns
        -------
        list of AquaEvent
            Each log decoded with :func:`arbkit.aqua.events.decode_aqua_log`.
        """
        events: list[AquaEvent] = []
        for receipt in receipts:
            for log in receipt["logs"]:
                if Web3.to_checksum_address(log["address"]) == self.aqua_address:
                    events.append(decode_aqua_log(log, addresses=[self.aqua_address]))
        return sorted(events, key=lambda e: e.key)

    def raw_balances(self, maker: str, app: str, strategy_hash: str, token: str) -> tuple[int, int]:
        """Aqua's ``rawBalances`` at the latest block.

        Parameters
        ----------
        maker, app
            Addresses (any case).
        strategy_hash
            0x hex of the strategy's hash.
        token
            A symbol of :attr:`tokens` or a token address.

        Returns
        -------
        tuple of int
            ``(balance, status)``: the status byte is 0 (never shipped), the strategy's
            token count (live) or 255 (docked); see ``contracts/ArbkitAqua.sol``.
        """
        balance, count = self.aqua.functions.rawBalances(
            Web3.to_checksum_address(maker),
            Web3.to_checksum_address(app),
            _bytes(strategy_hash),
            self.token_address(token),
        ).call()
        return int(balance), int(count)

    def replay(
        self,
        history: MarketHistory | pl.DataFrame,
        *,
        blocks: Iterable[int] | None = None,
        timeout: float = 30.0,
    ) -> list[AquaEvent]:
        """Send and mine a history's Aqua events block by block (standalone use).

        Each history block with Aqua events becomes one mined chain block (with automine
        off; several with automine on).

        Parameters
        ----------
        history
            A market history, or its ``aqua_events`` table.
        blocks
            History block numbers to play (all blocks with Aqua events by default).
        timeout
            Seconds to wait for each receipt.

        Returns
        -------
        list of AquaEvent
            The events decoded from the chain's logs, in chain order.

        Raises
        ------
        ChainError
            If a transaction reverts.
        """
        table = history.aqua_events if isinstance(history, MarketHistory) else history
        if blocks is not None:
            table = table.filter(pl.col("block").is_in(sorted({int(b) for b in blocks})))
        events: list[AquaEvent] = []
        if table.height == 0:
            return events
        parts: Sequence[pl.DataFrame] = table.sort(["block", "log_index"]).partition_by(
            "block", maintain_order=True
        )
        for part in parts:
            hashes = self.send_block(part)
            receipts = mine_and_wait(self.w3, hashes, timeout=timeout)
            events += self.decode_receipts(receipts)
        return events
