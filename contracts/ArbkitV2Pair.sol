// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @notice What a flash-swap borrower implements: the pair calls it after sending the
///         requested outputs, when `swap` is given non-empty `data` (same selector as
///         Uniswap V2's callee interface, so one borrower serves both kinds of pair).
interface IUniswapV2Callee {
    function uniswapV2Call(address sender, uint256 amount0, uint256 amount1, bytes calldata data)
        external;
}

/// @dev The two ERC-20 functions the pair uses.
interface IArbkitV2PairToken {
    function balanceOf(address owner) external view returns (uint256);
    function transfer(address to, uint256 value) external returns (bool);
}

/// @title ArbkitV2Pair
/// @notice A constant-product pair with the behaviour of a Uniswap V2 pair and a swap fee
///         chosen at deployment, in basis points (30 reproduces Uniswap V2 exactly).
/// @dev Differences from UniswapV2Pair, all deliberate:
///      - the fee is `feeBps` instead of the fixed 0.3 %, charged in the K check as
///        `balance * 10000 - amountIn * feeBps`;
///      - there is no factory: the tokens (sorted, token0 < token1) and the fee are
///        constructor arguments, and there is no `initialize`;
///      - there is no protocol fee (no `feeTo`, no `kLast`): all swap fees stay with the
///        liquidity providers;
///      - LP shares are a `balanceOf` mapping and `totalSupply` with `transfer` only (no
///        approve, transferFrom or permit of shares); `burn` is V2's.
///      Everything else follows V2: optimistic transfers and the flash-swap callback in
///      `swap`, MINIMUM_LIQUIDITY locked at the zero address on the first mint, uint112
///      reserves with a 32-bit timestamp and the UQ112x112 cumulative prices, `skim`,
///      `sync`, the reentrancy lock, and the same events.
contract ArbkitV2Pair {
    uint256 public constant MINIMUM_LIQUIDITY = 10 ** 3;
    uint256 private constant BPS = 10_000;
    uint256 private constant Q112 = 2 ** 112;

    address public immutable token0;
    address public immutable token1;
    uint16 public immutable feeBps;

    uint256 public totalSupply;
    mapping(address => uint256) public balanceOf;

    // One storage slot, as in V2: 112 + 112 + 32 bits.
    uint112 private reserve0;
    uint112 private reserve1;
    uint32 private blockTimestampLast;

    uint256 public price0CumulativeLast;
    uint256 public price1CumulativeLast;

    uint256 private unlocked = 1;

    event Mint(address indexed sender, uint256 amount0, uint256 amount1);
    event Burn(address indexed sender, uint256 amount0, uint256 amount1, address indexed to);
    event Transfer(address indexed from, address indexed to, uint256 value);
    event Swap(
        address indexed sender,
        uint256 amount0In,
        uint256 amount1In,
        uint256 amount0Out,
        uint256 amount1Out,
        address indexed to
    );
    event Sync(uint112 reserve0, uint112 reserve1);

    modifier lock() {
        require(unlocked == 1, "ArbkitV2: LOCKED");
        unlocked = 0;
        _;
        unlocked = 1;
    }

    constructor(address token0_, address token1_, uint16 feeBps_) {
        require(token0_ != address(0), "ArbkitV2: ZERO_ADDRESS");
        require(token0_ < token1_, "ArbkitV2: TOKENS_NOT_SORTED");
        require(feeBps_ < BPS, "ArbkitV2: FEE_TOO_HIGH");
        token0 = token0_;
        token1 = token1_;
        feeBps = feeBps_;
    }

    /// @notice The reserves as of the last update and the (mod 2**32) time of that update.
    function getReserves()
        public
        view
        returns (uint112 _reserve0, uint112 _reserve1, uint32 _blockTimestampLast)
    {
        return (reserve0, reserve1, blockTimestampLast);
    }

    /// @notice Credit `to` with LP shares for the tokens sent to the pair since the last
    ///         update (the caller transfers both tokens first, in the same transaction
    ///         for safety, as the V2 router does).
    function mint(address to) external lock returns (uint256 liquidity) {
        (uint112 r0, uint112 r1,) = getReserves();
        uint256 balance0 = IArbkitV2PairToken(token0).balanceOf(address(this));
        uint256 balance1 = IArbkitV2PairToken(token1).balanceOf(address(this));
        uint256 added0 = balance0 - r0;
        uint256 added1 = balance1 - r1;

        uint256 supply = totalSupply;
        if (supply == 0) {
            liquidity = _floorSqrt(added0 * added1) - MINIMUM_LIQUIDITY;
            _mintShares(address(0), MINIMUM_LIQUIDITY); // locked for ever
        } else {
            uint256 by0 = (added0 * supply) / r0;
            uint256 by1 = (added1 * supply) / r1;
            liquidity = by0 < by1 ? by0 : by1;
        }
        require(liquidity > 0, "ArbkitV2: INSUFFICIENT_LIQUIDITY_MINTED");
        _mintShares(to, liquidity);

        _update(balance0, balance1, r0, r1);
        emit Mint(msg.sender, added0, added1);
    }

    /// @notice Move `value` LP shares from the caller to `to` (send them to the pair itself
    ///         before `burn`, as with V2's ERC-20 shares).
    function transfer(address to, uint256 value) external returns (bool) {
        require(balanceOf[msg.sender] >= value, "ArbkitV2: INSUFFICIENT_SHARES");
        balanceOf[msg.sender] -= value;
        balanceOf[to] += value;
        emit Transfer(msg.sender, to, value);
        return true;
    }

    /// @notice Burn the LP shares held by the pair and send `to` their part of both
    ///         balances (V2's `burn`, without the protocol fee).
    function burn(address to) external lock returns (uint256 amount0, uint256 amount1) {
        (uint112 r0, uint112 r1,) = getReserves();
        address t0 = token0;
        address t1 = token1;
        uint256 balance0 = IArbkitV2PairToken(t0).balanceOf(address(this));
        uint256 balance1 = IArbkitV2PairToken(t1).balanceOf(address(this));
        uint256 liquidity = balanceOf[address(this)];
        uint256 supply = totalSupply;
        amount0 = (liquidity * balance0) / supply;
        amount1 = (liquidity * balance1) / supply;
        require(amount0 > 0 && amount1 > 0, "ArbkitV2: INSUFFICIENT_LIQUIDITY_BURNED");
        balanceOf[address(this)] = 0;
        totalSupply = supply - liquidity;
        emit Transfer(address(this), address(0), liquidity);
        _safeTransfer(t0, to, amount0);
        _safeTransfer(t1, to, amount1);
        balance0 = IArbkitV2PairToken(t0).balanceOf(address(this));
        balance1 = IArbkitV2PairToken(t1).balanceOf(address(this));
        _update(balance0, balance1, r0, r1);
        emit Burn(msg.sender, amount0, amount1, to);
    }

    /// @notice Send `amount0Out`/`amount1Out` to `to`, call it back when `data` is not
    ///         empty, then require that the tokens received pay for the outputs and fee.
    function swap(uint256 amount0Out, uint256 amount1Out, address to, bytes calldata data)
        external
        lock
    {
        require(amount0Out > 0 || amount1Out > 0, "ArbkitV2: INSUFFICIENT_OUTPUT_AMOUNT");
        (uint112 r0, uint112 r1,) = getReserves();
        require(amount0Out < r0 && amount1Out < r1, "ArbkitV2: INSUFFICIENT_LIQUIDITY");

        (uint256 balance0, uint256 balance1) = _payOut(amount0Out, amount1Out, to, data);

        // Whatever exceeds the reserve left after the payout came in during this call.
        uint256 amount0In = balance0 > r0 - amount0Out ? balance0 - (r0 - amount0Out) : 0;
        uint256 amount1In = balance1 > r1 - amount1Out ? balance1 - (r1 - amount1Out) : 0;
        require(amount0In > 0 || amount1In > 0, "ArbkitV2: INSUFFICIENT_INPUT_AMOUNT");
        _requireK(balance0, balance1, amount0In, amount1In, r0, r1);

        _update(balance0, balance1, r0, r1);
        emit Swap(msg.sender, amount0In, amount1In, amount0Out, amount1Out, to);
    }

    /// @notice Send `to` whatever the pair holds above its reserves.
    function skim(address to) external lock {
        address t0 = token0;
        address t1 = token1;
        _safeTransfer(t0, to, IArbkitV2PairToken(t0).balanceOf(address(this)) - reserve0);
        _safeTransfer(t1, to, IArbkitV2PairToken(t1).balanceOf(address(this)) - reserve1);
    }

    /// @notice Set the reserves to the pair's balances.
    function sync() external lock {
        _update(
            IArbkitV2PairToken(token0).balanceOf(address(this)),
            IArbkitV2PairToken(token1).balanceOf(address(this)),
            reserve0,
            reserve1
        );
    }

    // -- internals ------------------------------------------------------------------------

    /// @dev Store the new reserves and, on the first update of a block with both old
    ///      reserves non-zero, add old price * elapsed seconds to the cumulative prices.
    function _update(uint256 balance0, uint256 balance1, uint112 r0, uint112 r1) private {
        require(
            balance0 <= type(uint112).max && balance1 <= type(uint112).max, "ArbkitV2: OVERFLOW"
        );
        uint32 now32 = uint32(block.timestamp % 2 ** 32);
        unchecked {
            // Wrapping subtraction and sums are intended (as in V2).
            uint32 elapsed = now32 - blockTimestampLast;
            if (elapsed > 0 && r0 != 0 && r1 != 0) {
                price0CumulativeLast += ((uint256(r1) * Q112) / r0) * elapsed;
                price1CumulativeLast += ((uint256(r0) * Q112) / r1) * elapsed;
            }
        }
        reserve0 = uint112(balance0);
        reserve1 = uint112(balance1);
        blockTimestampLast = now32;
        emit Sync(reserve0, reserve1);
    }

    function _mintShares(address to, uint256 value) private {
        totalSupply += value;
        balanceOf[to] += value;
    }

    /// @dev The optimistic half of `swap`: send the outputs, call the borrower back when
    ///      `data` is not empty, and return the balances held afterwards.
    function _payOut(uint256 amount0Out, uint256 amount1Out, address to, bytes calldata data)
        private
        returns (uint256 balance0, uint256 balance1)
    {
        address t0 = token0;
        address t1 = token1;
        require(to != t0 && to != t1, "ArbkitV2: INVALID_TO");
        if (amount0Out > 0) _safeTransfer(t0, to, amount0Out);
        if (amount1Out > 0) _safeTransfer(t1, to, amount1Out);
        if (data.length > 0) {
            IUniswapV2Callee(to).uniswapV2Call(msg.sender, amount0Out, amount1Out, data);
        }
        balance0 = IArbkitV2PairToken(t0).balanceOf(address(this));
        balance1 = IArbkitV2PairToken(t1).balanceOf(address(this));
    }

    /// @dev The constant-product check net of the fee, scaled by 10000 on each side:
    ///      (b0 * 1e4 - in0 * fee) * (b1 * 1e4 - in1 * fee) >= r0 * r1 * 1e8. At fee 30 this
    ///      is V2's (b * 1000 - in * 3) check with both sides multiplied by 100.
    function _requireK(
        uint256 balance0,
        uint256 balance1,
        uint256 amount0In,
        uint256 amount1In,
        uint112 r0,
        uint112 r1
    ) private view {
        uint256 fee = feeBps;
        uint256 adjusted0 = balance0 * BPS - amount0In * fee;
        uint256 adjusted1 = balance1 * BPS - amount1In * fee;
        require(adjusted0 * adjusted1 >= uint256(r0) * uint256(r1) * (BPS * BPS), "ArbkitV2: K");
    }

    /// @dev `transfer` through a low-level call, accepting tokens that return nothing.
    function _safeTransfer(address token, address to, uint256 value) private {
        (bool ok, bytes memory result) =
            token.call(abi.encodeCall(IArbkitV2PairToken.transfer, (to, value)));
        require(
            ok && (result.length == 0 || abi.decode(result, (bool))), "ArbkitV2: TRANSFER_FAILED"
        );
    }

    /// @dev floor(sqrt(y)) by Newton's iteration from above.
    function _floorSqrt(uint256 y) private pure returns (uint256 root) {
        if (y == 0) return 0;
        root = y;
        uint256 next = y / 2 + (y % 2); // (y + 1) / 2 without overflow
        while (next < root) {
            root = next;
            next = (y / next + next) / 2;
        }
    }
}
