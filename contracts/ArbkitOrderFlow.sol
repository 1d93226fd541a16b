// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @dev The pair functions order flow uses (Uniswap V2 pairs and ArbkitV2Pair alike).
interface IArbkitFlowPair {
    function token0() external view returns (address);
    function token1() external view returns (address);
    function swap(uint256 amount0Out, uint256 amount1Out, address to, bytes calldata data) external;
    function sync() external;
    function transfer(address to, uint256 value) external returns (bool);
    function burn(address to) external returns (uint256 amount0, uint256 amount1);
}

/// @dev The ERC-20 function order flow uses.
interface IArbkitFlowToken {
    function transfer(address to, uint256 value) external returns (bool);
}

/// @title ArbkitOrderFlow
/// @notice Replays a block of market history's order flow on a local chain: per pool, one
///         real swap through the pair (the net of the block's noise and rival swaps) and,
///         when the history's reserves grew by more than a swap explains (fees of the
///         block's several swaps), a donation of the difference followed by `sync`.
///         A state no swap reaches (a reserve must fall by more than any swap allows, e.g.
///         after our own trade paid fees into the pool) is reached by burning liquidity the
///         contract holds, then donating the rest and syncing.
/// @dev The contract trades from its own balances (funded once by the deployer) and only
///      its owner may use it. Each step pays `amountIn` of the input token to the pair and
///      asks for `amount0Out`/`amount1Out`, so the pair's own K check referees every swap.
contract ArbkitOrderFlow {
    struct Step {
        address pair;
        uint256 burnLiquidity;
        uint256 amount0In;
        uint256 amount1In;
        uint256 amount0Out;
        uint256 amount1Out;
        uint256 donate0;
        uint256 donate1;
    }

    address public immutable owner;

    constructor(address owner_) {
        owner = owner_;
    }

    function replay(Step[] calldata steps) external {
        require(msg.sender == owner, "OrderFlow: NOT_OWNER");
        for (uint256 i = 0; i < steps.length; ++i) {
            Step calldata s = steps[i];
            IArbkitFlowPair pair = IArbkitFlowPair(s.pair);
            if (s.burnLiquidity > 0) {
                require(pair.transfer(s.pair, s.burnLiquidity), "OrderFlow: LP_TRANSFER");
                pair.burn(address(this));
            }
            if (s.amount0Out > 0 || s.amount1Out > 0) {
                if (s.amount0In > 0) _pay(pair.token0(), s.pair, s.amount0In);
                if (s.amount1In > 0) _pay(pair.token1(), s.pair, s.amount1In);
                pair.swap(s.amount0Out, s.amount1Out, address(this), "");
            }
            if (s.donate0 > 0 || s.donate1 > 0) {
                if (s.donate0 > 0) _pay(pair.token0(), s.pair, s.donate0);
                if (s.donate1 > 0) _pay(pair.token1(), s.pair, s.donate1);
                pair.sync();
            }
        }
    }

    function _pay(address token, address to, uint256 amount) private {
        require(IArbkitFlowToken(token).transfer(to, amount), "OrderFlow: TRANSFER");
    }
}
