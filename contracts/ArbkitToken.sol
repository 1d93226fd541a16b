// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title ArbkitToken
/// @notice A minimal ERC-20 for local test chains, with its name, symbol and decimals
///         chosen at deployment (e.g. a 6-decimal "USDC" next to 18-decimal tokens).
/// @dev The whole supply is minted once, to `holder`, in the constructor; there is no
///      owner, no later minting or burning and no fee on transfer. Every state-changing
///      function returns `true` or reverts, so the Uniswap V2 pair's `_safeTransfer`
///      (a low-level `transfer` call that accepts no data or an encoded `true`) works
///      with it. Balances and allowances use Solidity 0.8's checked arithmetic; the
///      explicit `require`s only add readable revert reasons.
contract ArbkitToken {
    string public name;
    string public symbol;
    uint8 public immutable decimals;
    uint256 public totalSupply;

    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);

    constructor(
        string memory name_,
        string memory symbol_,
        uint8 decimals_,
        uint256 supply,
        address holder
    ) {
        require(holder != address(0), "ArbkitToken: mint to the zero address");
        name = name_;
        symbol = symbol_;
        decimals = decimals_;
        totalSupply = supply;
        balanceOf[holder] = supply;
        emit Transfer(address(0), holder, supply);
    }

    /// @notice Move `value` base units from the caller to `to`.
    function transfer(address to, uint256 value) external returns (bool) {
        _move(msg.sender, to, value);
        return true;
    }

    /// @notice Let `spender` move up to `value` of the caller's tokens (replaces any
    ///         earlier allowance).
    function approve(address spender, uint256 value) external returns (bool) {
        require(spender != address(0), "ArbkitToken: approve to the zero address");
        allowance[msg.sender][spender] = value;
        emit Approval(msg.sender, spender, value);
        return true;
    }

    /// @notice Move `value` from `from` to `to`, spending the caller's allowance.
    function transferFrom(address from, address to, uint256 value) external returns (bool) {
        uint256 allowed = allowance[from][msg.sender];
        require(allowed >= value, "ArbkitToken: insufficient allowance");
        allowance[from][msg.sender] = allowed - value;
        _move(from, to, value);
        return true;
    }

    function _move(address from, address to, uint256 value) private {
        require(to != address(0), "ArbkitToken: transfer to the zero address");
        uint256 held = balanceOf[from];
        require(held >= value, "ArbkitToken: insufficient balance");
        balanceOf[from] = held - value;
        balanceOf[to] += value;
        emit Transfer(from, to, value);
    }
}
