"""Local chain tooling: anvil, the real Uniswap V2 contracts, solc-js, batched reserve reads.

An anvil node, the real Uniswap V2 contracts from npm, the project's Solidity compiled
with solc-js, and pool reserves read in one JSON-RPC batch.

Needs the ``chain`` extra (web3) and the npm packages pinned in ``package.json``
(``npm ci`` in the project root installs anvil, Uniswap V2's build artifacts and solc-js).
"""

from arbkit.chain.executor import (
    ChainRoute,
    ExecutionPrediction,
    FlashExecutor,
    FlashLenders,
    SimulationResult,
    deploy_executor,
    deploy_flash_lenders,
    predict_execution,
    route_from_candidate,
)
from arbkit.chain.market import ChainMarket, ChainPool, FlowReport, FlowStep
from arbkit.chain.node import (
    DEFAULT_CHAIN_ID,
    DEFAULT_MNEMONIC,
    AnvilNode,
    ChainError,
    anvil_binary,
    attach,
    find_node_modules,
    redact_url,
)
from arbkit.chain.reader import (
    PairReserves,
    ReserveTracker,
    read_reserves,
    resolve_block,
)
from arbkit.chain.solidity import (
    SolidityError,
    compile_contracts,
    deploy_compiled,
    load_contract,
    solc_version,
)
from arbkit.chain.uniswap import (
    PAIR_INIT_CODE_HASH,
    DeployedToken,
    UniswapV2Deployment,
    create_pair_with_liquidity,
    deploy_erc20,
    deploy_uniswap_v2,
    get_reserves,
    load_artifact,
    mine_and_wait,
    pair_init_code_hash,
    send_and_mine,
)
from arbkit.chain.venues import (
    add_liquidity,
    deploy_fee_pair,
    pair_fee_bps,
    swap_exact_in,
)

__all__ = [
    "DEFAULT_CHAIN_ID",
    "DEFAULT_MNEMONIC",
    "PAIR_INIT_CODE_HASH",
    "AnvilNode",
    "ChainError",
    "ChainMarket",
    "ChainPool",
    "ChainRoute",
    "DeployedToken",
    "ExecutionPrediction",
    "FlashExecutor",
    "FlashLenders",
    "FlowReport",
    "FlowStep",
    "PairReserves",
    "ReserveTracker",
    "SimulationResult",
    "SolidityError",
    "UniswapV2Deployment",
    "add_liquidity",
    "anvil_binary",
    "attach",
    "compile_contracts",
    "create_pair_with_liquidity",
    "deploy_compiled",
    "deploy_erc20",
    "deploy_executor",
    "deploy_fee_pair",
    "deploy_flash_lenders",
    "deploy_uniswap_v2",
    "find_node_modules",
    "get_reserves",
    "load_artifact",
    "load_contract",
    "mine_and_wait",
    "pair_fee_bps",
    "pair_init_code_hash",
    "predict_execution",
    "read_reserves",
    "redact_url",
    "resolve_block",
    "route_from_candidate",
    "send_and_mine",
    "solc_version",
    "swap_exact_in",
]
