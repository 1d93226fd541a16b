// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {IUniswapV2Callee} from "./ArbkitV2Pair.sol";
import {IArbkitFlashLoanSimpleReceiver, IArbkitFlashLoanRecipient} from "./ArbkitFlashLenders.sol";

/// @dev The pair functions the executor uses (Uniswap V2 pairs and ArbkitV2Pair alike).
interface IArbkitExecutorPair {
    function getReserves() external view returns (uint112 reserve0, uint112 reserve1, uint32 ts);
    function swap(uint256 amount0Out, uint256 amount1Out, address to, bytes calldata data) external;
}

/// @dev The ERC-20 functions the executor uses.
interface IArbkitExecutorToken {
    function balanceOf(address owner) external view returns (uint256);
    function transfer(address to, uint256 value) external returns (bool);
    function approve(address spender, uint256 value) external returns (bool);
}

/// @dev The two flash lenders' entry points.
interface IArbkitAaveLikePool {
    function flashLoanSimple(
        address receiverAddress,
        address asset,
        uint256 amount,
        bytes calldata params,
        uint16 referralCode
    ) external;
}

interface IArbkitBalancerLikeVault {
    function flashLoan(
        IArbkitFlashLoanRecipient recipient,
        address[] calldata tokens,
        uint256[] calldata amounts,
        bytes calldata userData
    ) external;
}

/// @title ArbkitExecutor
/// @notice Runs one flash-funded arbitrage cycle atomically: borrow the start token, swap
///         it along the route's V2-style pairs back into the start token, repay the loan,
///         require a profit of at least `minProfit`, optionally pay a coinbase bribe (the
///         ether sent with the call), and send the profit to the owner. Anything else
///         reverts the whole transaction.
/// @dev Each hop's output is computed from the pair's reserves at execution time with
///      UniswapV2Library's formula and the hop's fee in basis points:
///      `out = in * (10000 - fee) * rOut / (rIn * 10000 + in * (10000 - fee))`.
///      At fee 30 this is the library's `* 997 / * 1000` formula, to the wei. Outputs go
///      straight to the next pair and the last one to this contract, as the router does.
///      Flash sources: 0 = the first pair's V2 flash swap (no fee beyond the pair's;
///      repaid in the start token), 1 = an Aave-like `flashLoanSimple` lender (premium
///      as the lender computes it), 2 = a Balancer-like vault (no fee). Callbacks are
///      accepted only from the lender or pair of the execution in progress.
contract ArbkitExecutor is
    IUniswapV2Callee,
    IArbkitFlashLoanSimpleReceiver,
    IArbkitFlashLoanRecipient
{
    uint8 public constant SOURCE_V2_FLASH_SWAP = 0;
    uint8 public constant SOURCE_AAVE = 1;
    uint8 public constant SOURCE_BALANCER = 2;
    uint256 private constant BPS = 10_000;

    address public immutable owner;

    // The pair or lender whose callback the execution in progress expects (0 when idle).
    address private expectedCaller;

    event Executed(
        uint8 indexed source,
        address indexed token,
        uint256 amountIn,
        uint256 profit,
        uint256 bribe
    );

    struct Route {
        address token;
        uint256 amountIn;
        address[] pairs;
        bool[] zeroForOne;
        uint16[] feeBps;
    }

    modifier onlyOwner() {
        require(msg.sender == owner, "Executor: NOT_OWNER");
        _;
    }

    constructor(address owner_) {
        require(owner_ != address(0), "Executor: ZERO_OWNER");
        owner = owner_;
    }

    /// @notice Execute one cycle; returns the profit sent to the owner.
    /// @param source Flash source (see the contract notes).
    /// @param lender The Aave-like pool or the Balancer-like vault (ignored for source 0).
    /// @param route The cycle: start (and end) token, the amount borrowed and swapped into
    ///        the first pair, the pairs in order, per hop whether it sells the pair's
    ///        token0, and per hop the pair's swap fee in basis points.
    /// @param minProfit Least profit, in the start token, or the call reverts.
    /// @param deadlineBlock Last block the call may run in (0: no deadline).
    function execute(
        uint8 source,
        address lender,
        Route calldata route,
        uint256 minProfit,
        uint256 deadlineBlock
    ) external payable onlyOwner returns (uint256 profit) {
        require(deadlineBlock == 0 || block.number <= deadlineBlock, "Executor: DEADLINE");
        uint256 n = route.pairs.length;
        require(
            n >= 2 && route.zeroForOne.length == n && route.feeBps.length == n,
            "Executor: BAD_ROUTE"
        );
        require(route.amountIn > 0, "Executor: ZERO_AMOUNT");
        IArbkitExecutorToken token = IArbkitExecutorToken(route.token);
        uint256 before = token.balanceOf(address(this));
        _borrow(source, lender, route);
        require(expectedCaller == address(0), "Executor: NO_CALLBACK");
        uint256 afterBalance = token.balanceOf(address(this));
        require(afterBalance >= before + minProfit, "Executor: PROFIT_BELOW_MIN");
        profit = afterBalance - before;
        if (profit > 0) {
            require(token.transfer(owner, profit), "Executor: PAYOUT");
        }
        if (msg.value > 0) {
            (bool paid,) = block.coinbase.call{value: msg.value}("");
            require(paid, "Executor: BRIBE");
        }
        emit Executed(source, route.token, route.amountIn, profit, msg.value);
    }

    /// @notice Uniswap V2 flash-swap callback: finish the route and repay the first pair.
    function uniswapV2Call(address sender, uint256 amount0, uint256 amount1, bytes calldata data)
        external
        override
    {
        require(msg.sender == expectedCaller && sender == address(this), "Executor: UNEXPECTED_CALLBACK");
        expectedCaller = address(0);
        Route memory route = abi.decode(data, (Route));
        uint256 borrowed = amount0 + amount1;
        _pay(_tokenOut(route, 0), route.pairs[1], borrowed);
        _swapAlong(route, 1, borrowed);
        _pay(route.token, route.pairs[0], route.amountIn);
    }

    /// @notice Aave-like flash-loan callback: run the route and approve the repayment.
    function executeOperation(
        address asset,
        uint256 amount,
        uint256 premium,
        address initiator,
        bytes calldata params
    ) external override returns (bool) {
        require(msg.sender == expectedCaller && initiator == address(this), "Executor: UNEXPECTED_CALLBACK");
        expectedCaller = address(0);
        Route memory route = abi.decode(params, (Route));
        require(asset == route.token && amount == route.amountIn, "Executor: LOAN_MISMATCH");
        _pay(asset, route.pairs[0], amount);
        _swapAlong(route, 0, amount);
        require(IArbkitExecutorToken(asset).approve(msg.sender, amount + premium), "Executor: APPROVE");
        return true;
    }

    /// @notice Balancer-like flash-loan callback: run the route and repay the vault.
    function receiveFlashLoan(
        address[] calldata tokens,
        uint256[] calldata amounts,
        uint256[] calldata feeAmounts,
        bytes calldata userData
    ) external override {
        require(msg.sender == expectedCaller, "Executor: UNEXPECTED_CALLBACK");
        expectedCaller = address(0);
        Route memory route = abi.decode(userData, (Route));
        require(
            tokens.length == 1 && tokens[0] == route.token && amounts[0] == route.amountIn,
            "Executor: LOAN_MISMATCH"
        );
        _pay(route.token, route.pairs[0], route.amountIn);
        _swapAlong(route, 0, route.amountIn);
        _pay(route.token, msg.sender, route.amountIn + feeAmounts[0]);
    }

    /// @notice Send tokens or ether held by the executor to the owner.
    function sweep(address token, uint256 amount) external onlyOwner {
        if (token == address(0)) {
            (bool sent,) = owner.call{value: amount}("");
            require(sent, "Executor: SWEEP");
        } else {
            require(IArbkitExecutorToken(token).transfer(owner, amount), "Executor: SWEEP");
        }
    }

    // Start the flash loan; the lender's or pair's callback runs the route and repays.
    function _borrow(uint8 source, address lender, Route memory route) private {
        bytes memory data = abi.encode(route);
        if (source == SOURCE_V2_FLASH_SWAP) {
            uint256 out = _amountOut(route.pairs[0], route.zeroForOne[0], route.feeBps[0], route.amountIn);
            expectedCaller = route.pairs[0];
            IArbkitExecutorPair(route.pairs[0]).swap(
                route.zeroForOne[0] ? 0 : out, route.zeroForOne[0] ? out : 0, address(this), data
            );
        } else if (source == SOURCE_AAVE) {
            expectedCaller = lender;
            IArbkitAaveLikePool(lender).flashLoanSimple(address(this), route.token, route.amountIn, data, 0);
        } else if (source == SOURCE_BALANCER) {
            expectedCaller = lender;
            address[] memory tokens = new address[](1);
            uint256[] memory amounts = new uint256[](1);
            tokens[0] = route.token;
            amounts[0] = route.amountIn;
            IArbkitBalancerLikeVault(lender).flashLoan(
                IArbkitFlashLoanRecipient(address(this)), tokens, amounts, data
            );
        } else {
            revert("Executor: BAD_SOURCE");
        }
    }

    function _amountOut(address pair, bool zeroForOne, uint16 feeBps, uint256 amountIn)
        private
        view
        returns (uint256)
    {
        (uint112 r0, uint112 r1,) = IArbkitExecutorPair(pair).getReserves();
        (uint256 reserveIn, uint256 reserveOut) = zeroForOne ? (uint256(r0), uint256(r1)) : (uint256(r1), uint256(r0));
        uint256 inWithFee = amountIn * (BPS - feeBps);
        return (inWithFee * reserveOut) / (reserveIn * BPS + inWithFee);
    }

    // The token a hop pays out: the executor does not know pair tokens, so the first hop's
    // output token is found through the pair (token0 or token1 by direction).
    function _tokenOut(Route memory route, uint256 hop) private view returns (address) {
        (bool ok, bytes memory ret) = route.pairs[hop].staticcall(
            abi.encodeWithSignature(route.zeroForOne[hop] ? "token1()" : "token0()")
        );
        require(ok && ret.length == 32, "Executor: PAIR_TOKEN");
        return abi.decode(ret, (address));
    }

    // Swap `amountIn`, already held by pair `from`, along hops from..n-1; return the output,
    // which ends up in this contract.
    function _swapAlong(Route memory route, uint256 from, uint256 amountIn) private returns (uint256) {
        uint256 n = route.pairs.length;
        uint256 amount = amountIn;
        for (uint256 i = from; i < n; ++i) {
            uint256 out = _amountOut(route.pairs[i], route.zeroForOne[i], route.feeBps[i], amount);
            address to = i + 1 < n ? route.pairs[i + 1] : address(this);
            IArbkitExecutorPair(route.pairs[i]).swap(
                route.zeroForOne[i] ? 0 : out, route.zeroForOne[i] ? out : 0, to, ""
            );
            amount = out;
        }
        return amount;
    }

    function _pay(address token, address to, uint256 amount) private {
        require(IArbkitExecutorToken(token).transfer(to, amount), "Executor: TRANSFER");
    }
}
