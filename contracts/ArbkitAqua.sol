// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @dev The ERC-20 functions Aqua and its replay app use (ArbkitToken and any standard token).
interface IArbkitAquaToken {
    function transferFrom(address from, address to, uint256 value) external returns (bool);
    function approve(address spender, uint256 value) external returns (bool);
}

/// @dev The Aqua functions an app calls.
interface IArbkitAqua {
    function push(address maker, address app, bytes32 strategyHash, address token, uint256 amount)
        external;
    function pull(address maker, bytes32 strategyHash, address token, uint256 amount, address to)
        external;
}

/// @title ArbkitAqua
/// @notice arbkit's own implementation of the 1inch Aqua interface (shared liquidity with
///         virtual balances `balances[maker][app][strategyHash][token]`), written from the
///         published interface and its documented semantics only. Its events and function
///         selectors are those of IAqua, so its logs are byte-identical to the real
///         contract's: no event parameter is indexed (topic0 only, every field in data).
/// @dev Balances are virtual: shipping moves no tokens. The maker's tokens stay in its
///      wallet and an app `pull`s them with `transferFrom` against the maker's approval of
///      this contract; `push` moves tokens from the caller to the maker.
///
///      `rawBalances` returns `(balance, tokensCount)` where `tokensCount` is a status byte:
///      - 0: the (maker, app, strategyHash, token) entry was never shipped;
///      - 1..254: the strategy is live and was shipped with that many tokens, this one
///        among them;
///      - 255 (`DOCKED`): the strategy was docked (its balance is zero).
///      A docked strategy may be shipped again (the same bytes give the same hash).
contract ArbkitAqua {
    event Shipped(address maker, address app, bytes32 strategyHash, bytes strategy);
    event Docked(address maker, address app, bytes32 strategyHash);
    event Pulled(address maker, address app, bytes32 strategyHash, address token, uint256 amount);
    event Pushed(address maker, address app, bytes32 strategyHash, address token, uint256 amount);

    struct Entry {
        uint248 balance;
        uint8 tokensCount;
    }

    uint8 private constant _DOCKED = 0xff;

    /// @dev balances[maker][app][strategyHash][token], packed with the status byte.
    mapping(address => mapping(address => mapping(bytes32 => mapping(address => Entry))))
        private _entries;
    /// @dev The status byte of each strategy (same coding as `Entry.tokensCount`).
    mapping(address => mapping(address => mapping(bytes32 => uint8))) private _strategies;

    /// @notice Ship `strategy` for `app` with the given virtual allocation; the caller is
    ///         the maker. Emits `Shipped`, then one `Pushed` per token (no tokens move).
    function ship(
        address app,
        bytes calldata strategy,
        address[] calldata tokens,
        uint256[] calldata amounts
    ) external returns (bytes32 strategyHash) {
        uint256 n = tokens.length;
        require(n == amounts.length, "ArbkitAqua: tokens and amounts differ in length");
        require(n > 0 && n < _DOCKED, "ArbkitAqua: a strategy has 1 to 254 tokens");
        strategyHash = keccak256(strategy);
        uint8 status = _strategies[msg.sender][app][strategyHash];
        require(status == 0 || status == _DOCKED, "ArbkitAqua: strategy is already live");
        uint8 count = uint8(n);
        _strategies[msg.sender][app][strategyHash] = count;
        emit Shipped(msg.sender, app, strategyHash, strategy);
        mapping(address => Entry) storage entries = _entries[msg.sender][app][strategyHash];
        for (uint256 i = 0; i < n; ++i) {
            Entry storage entry = entries[tokens[i]];
            require(entry.tokensCount != count, "ArbkitAqua: duplicate token");
            require(amounts[i] <= type(uint248).max, "ArbkitAqua: amount overflows uint248");
            entry.balance = uint248(amounts[i]);
            entry.tokensCount = count;
            emit Pushed(msg.sender, app, strategyHash, tokens[i], amounts[i]);
        }
    }

    /// @notice Dock a live strategy of the caller: zero its balances. `tokens` must list
    ///         exactly the strategy's tokens.
    function dock(address app, bytes32 strategyHash, address[] calldata tokens) external {
        uint8 count = _strategies[msg.sender][app][strategyHash];
        require(count != 0 && count != _DOCKED, "ArbkitAqua: strategy is not live");
        require(tokens.length == count, "ArbkitAqua: dock must list the strategy's tokens");
        mapping(address => Entry) storage entries = _entries[msg.sender][app][strategyHash];
        for (uint256 i = 0; i < tokens.length; ++i) {
            Entry storage entry = entries[tokens[i]];
            require(entry.tokensCount == count, "ArbkitAqua: token is not in the strategy");
            entry.balance = 0;
            entry.tokensCount = _DOCKED;
        }
        _strategies[msg.sender][app][strategyHash] = _DOCKED;
        emit Docked(msg.sender, app, strategyHash);
    }

    /// @notice Called by an app: take `amount` of `token` out of `maker`'s strategy for the
    ///         caller and send it from the maker's wallet to `to`.
    function pull(address maker, bytes32 strategyHash, address token, uint256 amount, address to)
        external
    {
        Entry storage entry = _entries[maker][msg.sender][strategyHash][token];
        uint248 balance = entry.balance;
        require(amount <= balance, "ArbkitAqua: pull exceeds the strategy's balance");
        entry.balance = balance - uint248(amount);
        emit Pulled(maker, msg.sender, strategyHash, token, amount);
        _transferFrom(token, maker, to, amount);
    }

    /// @notice Pay `amount` of `token` from the caller to `maker`, crediting the live
    ///         strategy `(maker, app, strategyHash)`.
    function push(address maker, address app, bytes32 strategyHash, address token, uint256 amount)
        external
    {
        Entry storage entry = _entries[maker][app][strategyHash][token];
        uint8 count = entry.tokensCount;
        require(count != 0 && count != _DOCKED, "ArbkitAqua: strategy is not live");
        uint256 balance = uint256(entry.balance) + amount;
        require(balance <= type(uint248).max, "ArbkitAqua: balance overflows uint248");
        entry.balance = uint248(balance);
        emit Pushed(maker, app, strategyHash, token, amount);
        _transferFrom(token, msg.sender, maker, amount);
    }

    /// @notice The virtual balance and the status byte (see the contract's notes).
    function rawBalances(address maker, address app, bytes32 strategyHash, address token)
        external
        view
        returns (uint248 balance, uint8 tokensCount)
    {
        Entry storage entry = _entries[maker][app][strategyHash][token];
        return (entry.balance, entry.tokensCount);
    }

    /// @notice The balances of two tokens of a live strategy; reverts unless both belong
    ///         to the live strategy.
    function safeBalances(
        address maker,
        address app,
        bytes32 strategyHash,
        address token0,
        address token1
    ) external view returns (uint256 balance0, uint256 balance1) {
        mapping(address => Entry) storage entries = _entries[maker][app][strategyHash];
        Entry storage e0 = entries[token0];
        Entry storage e1 = entries[token1];
        require(
            e0.tokensCount != 0 && e0.tokensCount != _DOCKED && e1.tokensCount != 0
                && e1.tokensCount != _DOCKED,
            "ArbkitAqua: token is not in a live strategy"
        );
        return (e0.balance, e1.balance);
    }

    function _transferFrom(address token, address from, address to, uint256 amount) private {
        require(token.code.length > 0, "ArbkitAqua: token has no code");
        (bool ok, bytes memory ret) = token.call(
            abi.encodeCall(IArbkitAquaToken.transferFrom, (from, to, amount))
        );
        require(ok && (ret.length == 0 || abi.decode(ret, (bool))), "ArbkitAqua: transfer failed");
    }
}

/// @title ArbkitAquaApp
/// @notice A minimal Aqua app for replaying market history: a taker's swap through a
///         maker's strategy at the amounts the history recorded (it prices nothing).
/// @dev `swap` takes `amountIn` of `tokenIn` from the taker (its approval of this app),
///      pushes it to the maker through Aqua (`Pushed`), then pulls `amountOut` of
///      `tokenOut` from the maker to `recipient` (`Pulled`), all in one transaction,
///      so Aqua's logs name this contract as the app.
contract ArbkitAquaApp {
    IArbkitAqua public immutable aqua;

    constructor(address aqua_) {
        require(aqua_ != address(0), "ArbkitAquaApp: zero Aqua address");
        aqua = IArbkitAqua(aqua_);
    }

    /// @notice Swap `amountIn` of `tokenIn` for `amountOut` of `tokenOut` through the
    ///         strategy `(maker, this app, strategyHash)`.
    function swap(
        address maker,
        bytes32 strategyHash,
        address tokenIn,
        uint256 amountIn,
        address tokenOut,
        uint256 amountOut,
        address recipient
    ) external {
        _call(
            tokenIn,
            abi.encodeCall(IArbkitAquaToken.transferFrom, (msg.sender, address(this), amountIn))
        );
        _call(tokenIn, abi.encodeCall(IArbkitAquaToken.approve, (address(aqua), amountIn)));
        aqua.push(maker, address(this), strategyHash, tokenIn, amountIn);
        aqua.pull(maker, strategyHash, tokenOut, amountOut, recipient);
    }

    function _call(address token, bytes memory data) private {
        require(token.code.length > 0, "ArbkitAquaApp: token has no code");
        (bool ok, bytes memory ret) = token.call(data);
        require(
            ok && (ret.length == 0 || abi.decode(ret, (bool))), "ArbkitAquaApp: token call failed"
        );
    }
}
