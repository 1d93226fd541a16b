"""Deploy the real Uniswap V2 contracts (from the pinned npm packages) on a dev chain.

The bytecode is read at run time from ``node_modules`` (installed by ``npm ci`` from
the project's ``package-lock.json``); nothing is vendored into the repository:

- ``@uniswap/v2-core@1.0.1``: ``UniswapV2Factory`` and ``UniswapV2Pair``. The pair's
  creation code hashes to :data:`PAIR_INIT_CODE_HASH`, the init code hash of mainnet's
  Uniswap V2, so the pairs deployed here run mainnet's exact code.
- ``@uniswap/v2-periphery@1.1.0-beta.0``: ``UniswapV2Router02``, ``WETH9`` and the test
  token ``ERC20`` used by :func:`deploy_erc20`.

Test token choice: both packages ship an ``ERC20.json`` with a constructor
``ERC20(uint256 _totalSupply)`` that mints the whole supply to the deployer. v2-core's
is built on the pair's own LP-token code and reports ``"Uniswap V2"`` / ``"UNI-V2"``, so
a test token would look like an LP share. The periphery's (the router tests' token)
is a standalone ERC-20 (with ``permit``) reporting ``"Test Token"`` / ``"TT"`` / 18
decimals; :func:`deploy_erc20` uses it. Its name, symbol and decimals are constants, so
the requested name and symbol are kept as off-chain labels on the returned
:class:`DeployedToken`, and decimals other than 18 are rejected rather than faked.

Mining: every function works with automine on or off. Transactions are sent without
waiting, then :func:`mine_and_wait` mines one block when automine is off (anvil) and
reads the receipts, raising :class:`~arbkit.chain.node.ChainError` on a failed one.
Gas limits are given explicitly, so no transaction needs an ``eth_estimateGas`` round trip.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_typing import ChecksumAddress
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import TimeExhausted
from web3.types import RPCEndpoint, TxParams, TxReceipt

from arbkit.chain.node import ChainError, find_node_modules
from arbkit.errors import ConfigError, DataError

__all__ = [
    "CORE_PACKAGE",
    "PAIR_INIT_CODE_HASH",
    "PERIPHERY_PACKAGE",
    "DeployedToken",
    "UniswapV2Deployment",
    "create_pair_with_liquidity",
    "deploy_contract",
    "deploy_erc20",
    "deploy_uniswap_v2",
    "erc20_contract",
    "get_reserves",
    "is_automine",
    "load_artifact",
    "mine_and_wait",
    "pair_contract",
    "pair_init_code_hash",
    "send_and_mine",
]

CORE_PACKAGE = "@uniswap/v2-core"
PERIPHERY_PACKAGE = "@uniswap/v2-periphery"
#: keccak256 of UniswapV2Pair's creation code: mainnet's Uniswap V2 init code hash.
PAIR_INIT_CODE_HASH = "0x96e8ac4277198ff8b6f785478aa9a39f403cb768dd02cbee326c3e7da348845f"

#: Explicit gas limits (anvil's block gas limit is 30M; each is well above real use).
GAS_DEPLOY = 6_000_000
GAS_CREATE_PAIR = 5_000_000
GAS_CALL = 300_000


def load_artifact(package: str, name: str, node_modules: Path | None = None) -> dict[str, Any]:
    """Read the build artifact ``node_modules/<package>/build/<name>.json``.

    Parameters
    ----------
    package
        npm package, e.g. ``"@uniswap/v2-core"``.
    name
        Contract name, e.g. ``"UniswapV2Pair"``.
    node_modules
        The ``node_modules`` folder; found with
        :func:`~arbkit.chain.node.find_node_modules` when omitted.

    Returns
    -------
    dict
        ``{"abi": list, "bytecode": "0x..."}`` (the creation code, ``0x``-prefixed),
        plus ``"deployed_bytecode"`` when the artifact has it.

    Raises
    ------
    ConfigError
        If ``node_modules`` cannot be found (run ``npm ci``).
    DataError
        If the file is missing, is not JSON, or lacks a list ``abi`` or hex ``bytecode``.
    """
    modules = node_modules if node_modules is not None else find_node_modules()
    path = modules / package / "build" / f"{name}.json"
    if not path.is_file():
        raise DataError(
            f"artifact {path} not found: is {package} installed? run `npm ci` in the project root"
        )
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"artifact {path} is not readable JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise DataError(f"artifact {path} must hold a JSON object, got {type(raw).__name__}")
    abi = raw.get("abi")
    if not isinstance(abi, list):
        raise DataError(f"artifact {path} has no 'abi' list")
    evm_raw = raw.get("evm")
    evm: dict[str, Any] = evm_raw if isinstance(evm_raw, dict) else {}
    bytecode = raw.get("bytecode")
    if isinstance(bytecode, dict):  # solc standard-json shape: {"object": "..."}
        bytecode = bytecode.get("object")
    if not bytecode and isinstance(evm.get("bytecode"), dict):
        bytecode = evm["bytecode"].get("object")
    code = _normalise_hex(bytecode, path, "bytecode")
    result: dict[str, Any] = {"abi": abi, "bytecode": code}
    deployed = evm.get("deployedBytecode")
    if isinstance(deployed, dict) and deployed.get("object"):
        result["deployed_bytecode"] = _normalise_hex(deployed["object"], path, "deployedBytecode")
    return result


def _normalise_hex(value: object, path: Path, field: str) -> str:
    if not isinstance(value, str) or not value:
        raise DataError(f"artifact {path} has no '{field}' hex string")
    text = value[2:] if value.startswith(("0x", "0X")) else value
    if not text or len(text) % 2 or any(c not in "0123456789abcdefABCDEF" for c in text):
        raise DataError(
            f"artifact {path}: '{field}' is not complete hex (unlinked library placeholders?)"
        )
    return "0x" + text.lower()


def pair_init_code_hash(node_modules: Path | None = None) -> str:
    """Return keccak256 of the installed ``UniswapV2Pair`` creation code, ``0x``-prefixed.

    Equals :data:`PAIR_INIT_CODE_HASH` for the pinned ``@uniswap/v2-core@1.0.1``.
    """
    code = load_artifact(CORE_PACKAGE, "UniswapV2Pair", node_modules)["bytecode"]
    return "0x" + keccak(hexstr=code).hex()


# -- sending and mining ------------------------------------------------------------------


def is_automine(w3: Web3) -> bool:
    """Whether the node mines a block per transaction by itself.

    Asks ``anvil_getAutomine`` (then ``hardhat_getAutomine``); a node that answers
    both with an error (a real network: the methods do not exist) counts as mining by
    itself.

    Raises
    ------
    ChainError
        If a probe gets no answer at all (a dropped connection, a timeout) three times
        running: rather than wait for a block that nobody mines.
    """
    for method in ("anvil_getAutomine", "hardhat_getAutomine"):
        for attempt in range(3):
            try:
                response = w3.provider.make_request(RPCEndpoint(method), [])
                break
            except (OSError, TimeoutError, ValueError) as exc:
                if attempt == 2:
                    raise ChainError(
                        f"{method}: no answer from the node ({type(exc).__name__})"
                    ) from None
                time.sleep(0.1 * 2**attempt)
        if "error" not in response:
            return bool(response.get("result"))
    return True


def mine_and_wait(
    w3: Web3,
    tx_hashes: Sequence[HexBytes | bytes | str],
    *,
    timeout: float = 30.0,
    check: bool = True,
) -> list[TxReceipt]:
    """Mine one block if automine is off, then return the receipts of ``tx_hashes``.

    Parameters
    ----------
    w3
        Connection to the node.
    tx_hashes
        Hashes of transactions already sent (in any order).
    timeout
        Seconds to wait for each receipt (only matters on a node that mines by itself
        at intervals).
    check
        Raise when a transaction failed (receipt status 0).

    Raises
    ------
    ChainError
        If a receipt does not arrive in time, or (with ``check``) a transaction reverted.
    """
    if not is_automine(w3):
        response = w3.provider.make_request(RPCEndpoint("evm_mine"), [])
        if "error" in response:
            raise ChainError(f"evm_mine failed: {response['error']}")
    receipts: list[TxReceipt] = []
    for tx_hash in tx_hashes:
        h = HexBytes(tx_hash)
        try:
            receipt = w3.eth.wait_for_transaction_receipt(h, timeout=timeout, poll_latency=0.05)
        except TimeExhausted:
            raise ChainError(
                f"transaction {h.to_0x_hex()} was not mined within {timeout:g} s "
                "(still pending: was it sent after the block was mined, or underpriced?)"
            ) from None
        if check and receipt["status"] != 1:
            raise ChainError(
                f"transaction {h.to_0x_hex()} reverted in block {receipt['blockNumber']} "
                f"(gas used {receipt['gasUsed']}); replay it with eth_call for the reason"
            )
        receipts.append(receipt)
    return receipts


def send_and_mine(w3: Web3, tx: TxParams, *, check: bool = True) -> TxReceipt:
    """Send ``tx`` from an unlocked account, mine it if automine is off, return its receipt."""
    tx_hash = w3.eth.send_transaction(tx)
    return mine_and_wait(w3, [tx_hash], check=check)[0]


def _send_deploy(
    w3: Web3, artifact: dict[str, Any], deployer: str, args: Sequence[Any], gas: int
) -> HexBytes:
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    tx: TxParams = {"from": Web3.to_checksum_address(deployer), "gas": gas}
    return HexBytes(factory.constructor(*args).transact(tx))


def _deployed(w3: Web3, artifact: dict[str, Any], receipt: TxReceipt, what: str) -> Contract:
    address = receipt.get("contractAddress")
    if not address:
        raise ChainError(f"deploying {what} produced no contract address")
    return w3.eth.contract(address=address, abi=artifact["abi"])


def deploy_contract(
    w3: Web3,
    deployer: str,
    package: str,
    name: str,
    *args: Any,
    gas: int = GAS_DEPLOY,
    node_modules: Path | None = None,
) -> Contract:
    """Deploy the artifact ``<package>/build/<name>.json`` with constructor ``args``."""
    artifact = load_artifact(package, name, node_modules)
    tx_hash = _send_deploy(w3, artifact, deployer, args, gas)
    (receipt,) = mine_and_wait(w3, [tx_hash])
    return _deployed(w3, artifact, receipt, f"{package}/{name}")


# -- Uniswap V2 --------------------------------------------------------------------------


@dataclass(frozen=True)
class UniswapV2Deployment:
    """The contracts of one Uniswap V2 deployment."""

    w3: Web3
    deployer: ChecksumAddress
    weth: Contract
    factory: Contract
    router: Contract
    pair_abi: list[Any]

    @property
    def weth_address(self) -> ChecksumAddress:
        """Address of WETH9."""
        return self.weth.address

    @property
    def factory_address(self) -> ChecksumAddress:
        """Address of UniswapV2Factory."""
        return self.factory.address

    @property
    def router_address(self) -> ChecksumAddress:
        """Address of UniswapV2Router02."""
        return self.router.address


def deploy_uniswap_v2(
    w3: Web3, deployer: str, *, node_modules: Path | None = None
) -> UniswapV2Deployment:
    """Deploy WETH9, UniswapV2Factory (``feeToSetter = deployer``) and UniswapV2Router02.

    WETH9 and the factory go in one block, the router (which takes their addresses) in
    the next; with automine on, each transaction makes its own block.

    Parameters
    ----------
    w3
        Connection to a dev node where ``deployer`` is an unlocked account.
    deployer
        Address that sends the deployments and may later set the protocol fee.
    node_modules
        Where the npm packages are; see :func:`load_artifact`.
    """
    owner = Web3.to_checksum_address(deployer)
    weth_art = load_artifact(PERIPHERY_PACKAGE, "WETH9", node_modules)
    factory_art = load_artifact(CORE_PACKAGE, "UniswapV2Factory", node_modules)
    router_art = load_artifact(PERIPHERY_PACKAGE, "UniswapV2Router02", node_modules)
    pair_art = load_artifact(CORE_PACKAGE, "UniswapV2Pair", node_modules)
    hashes = [
        _send_deploy(w3, weth_art, owner, (), GAS_DEPLOY),
        _send_deploy(w3, factory_art, owner, (owner,), GAS_DEPLOY),
    ]
    weth_receipt, factory_receipt = mine_and_wait(w3, hashes)
    weth = _deployed(w3, weth_art, weth_receipt, "WETH9")
    factory = _deployed(w3, factory_art, factory_receipt, "UniswapV2Factory")
    router_hash = _send_deploy(w3, router_art, owner, (factory.address, weth.address), GAS_DEPLOY)
    (router_receipt,) = mine_and_wait(w3, [router_hash])
    router = _deployed(w3, router_art, router_receipt, "UniswapV2Router02")
    return UniswapV2Deployment(
        w3=w3, deployer=owner, weth=weth, factory=factory, router=router, pair_abi=pair_art["abi"]
    )


@dataclass(frozen=True)
class DeployedToken:
    """A test ERC-20 deployed by :func:`deploy_erc20`.

    ``name`` and ``symbol`` are the caller's labels; on chain the token reports
    ``"Test Token"`` / ``"TT"`` (see the module docstring).
    """

    contract: Contract
    name: str
    symbol: str
    decimals: int

    @property
    def address(self) -> ChecksumAddress:
        """Address of the token contract."""
        return self.contract.address


TokenLike = DeployedToken | Contract | str


def erc20_contract(w3: Web3, address: str, node_modules: Path | None = None) -> Contract:
    """Return an ERC-20 contract object for ``address`` (the periphery's test token ABI)."""
    abi = load_artifact(PERIPHERY_PACKAGE, "ERC20", node_modules)["abi"]
    return w3.eth.contract(address=Web3.to_checksum_address(address), abi=abi)


def deploy_erc20(
    w3: Web3,
    deployer: str,
    name: str,
    symbol: str,
    decimals: int,
    supply: int,
    *,
    node_modules: Path | None = None,
) -> DeployedToken:
    """Deploy a test ERC-20 whose whole ``supply`` (base units) goes to ``deployer``.

    Uses ``@uniswap/v2-periphery/build/ERC20.json`` (see the module docstring).

    Raises
    ------
    ConfigError
        If ``decimals`` is not 18 (the token's decimals are fixed) or ``supply`` is not
        a uint256.
    """
    if decimals != 18:
        raise ConfigError(
            f"decimals={decimals} for {symbol}: the pinned test token "
            "(@uniswap/v2-periphery ERC20.json) always has 18 decimals"
        )
    if isinstance(supply, bool) or not isinstance(supply, int) or not 0 <= supply < 2**256:
        raise ConfigError(f"supply of {symbol} must be a uint256 amount, got {supply!r}")
    contract = deploy_contract(w3, deployer, PERIPHERY_PACKAGE, "ERC20", supply, gas=GAS_DEPLOY)
    return DeployedToken(contract=contract, name=name, symbol=symbol, decimals=decimals)


def _token_contract(w3: Web3, token: TokenLike) -> Contract:
    if isinstance(token, DeployedToken):
        return token.contract
    if isinstance(token, str):
        return erc20_contract(w3, token)
    return token


def pair_contract(deployment: UniswapV2Deployment, address: str) -> Contract:
    """Return the UniswapV2Pair contract object at ``address``."""
    return deployment.w3.eth.contract(
        address=Web3.to_checksum_address(address), abi=deployment.pair_abi
    )


def get_reserves(pair: Contract) -> tuple[int, int]:
    """Return the pair's ``(reserve0, reserve1)`` as Python ints."""
    reserve0, reserve1, _ = pair.functions.getReserves().call()
    return int(reserve0), int(reserve1)


def create_pair_with_liquidity(
    deployment: UniswapV2Deployment,
    token_a: TokenLike,
    token_b: TokenLike,
    amount_a: int,
    amount_b: int,
    provider: str,
) -> Contract:
    """Create the ``token_a``/``token_b`` pair (if needed) and add exact liquidity.

    The tokens are transferred straight to the pair, then ``pair.mint(provider)`` is
    called (as the router does, without its slippage rounding), so the reserves are
    exactly ``amount_a`` and ``amount_b`` on a new pair. ``provider`` must be an
    unlocked account holding both amounts.

    Returns
    -------
    Contract
        The UniswapV2Pair; ``token0`` is the token with the lower address.

    Raises
    ------
    ConfigError
        If an amount is not positive or the tokens are the same.
    ChainError
        If a transaction fails (e.g. ``provider`` lacks the tokens).
    """
    if amount_a <= 0 or amount_b <= 0:
        raise ConfigError(f"liquidity amounts must be positive, got {amount_a} and {amount_b}")
    w3 = deployment.w3
    sender = Web3.to_checksum_address(provider)
    contract_a = _token_contract(w3, token_a)
    contract_b = _token_contract(w3, token_b)
    if contract_a.address == contract_b.address:
        raise ConfigError(f"a pair needs two different tokens, got {contract_a.address} twice")
    zero = "0x" + "00" * 20
    factory = deployment.factory
    address = factory.functions.getPair(contract_a.address, contract_b.address).call()
    if int(address, 16) == int(zero, 16):
        tx: TxParams = {"from": sender, "gas": GAS_CREATE_PAIR}
        tx_hash = factory.functions.createPair(contract_a.address, contract_b.address).transact(tx)
        mine_and_wait(w3, [tx_hash])
        address = factory.functions.getPair(contract_a.address, contract_b.address).call()
    pair = pair_contract(deployment, address)
    call: TxParams = {"from": sender, "gas": GAS_CALL}
    hashes = [
        contract_a.functions.transfer(pair.address, amount_a).transact(call),
        contract_b.functions.transfer(pair.address, amount_b).transact(call),
        pair.functions.mint(sender).transact(call),
    ]
    mine_and_wait(w3, hashes)
    return pair
