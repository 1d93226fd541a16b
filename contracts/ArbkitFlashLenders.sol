// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @dev The three ERC-20 functions the lenders use.
interface IArbkitLenderToken {
    function balanceOf(address owner) external view returns (uint256);
    function transfer(address to, uint256 value) external returns (bool);
    function transferFrom(address from, address to, uint256 value) external returns (bool);
}

/// @notice What an Aave V3 `flashLoanSimple` borrower implements (same selector as Aave's
///         `IFlashLoanSimpleReceiver.executeOperation`).
interface IArbkitFlashLoanSimpleReceiver {
    function executeOperation(
        address asset,
        uint256 amount,
        uint256 premium,
        address initiator,
        bytes calldata params
    ) external returns (bool);
}

/// @notice What a Balancer V2 vault flash-loan recipient implements (same selector as
///         Balancer's `IFlashLoanRecipient.receiveFlashLoan`).
interface IArbkitFlashLoanRecipient {
    function receiveFlashLoan(
        address[] calldata tokens,
        uint256[] calldata amounts,
        uint256[] calldata feeAmounts,
        bytes calldata userData
    ) external;
}

/// @title ArbkitAaveLikeLender
/// @notice A flash lender with Aave V3's `flashLoanSimple` interface and premium rule.
/// @dev As in Aave V3's `FlashLoanLogic.executeFlashLoanSimple`:
///      - the premium is `percentMul(amount, FLASHLOAN_PREMIUM_TOTAL)`, i.e.
///        `(amount * premiumBps + 5_000) / 10_000` (rounded half up), in basis points;
///      - the asset is sent to the receiver, `executeOperation` must return true
///        ("invalid flash loan executor return" otherwise), and the lender then pulls
///        `amount + premium` back with `transferFrom` (the receiver approves it).
///      Liquidity is whatever balance of the asset the lender holds; there are no
///      aTokens, reserves or referral rewards (`referralCode` is accepted and ignored).
contract ArbkitAaveLikeLender {
    uint256 private constant PERCENTAGE_FACTOR = 1e4;
    uint256 private constant HALF_PERCENTAGE_FACTOR = 0.5e4;

    uint128 public immutable FLASHLOAN_PREMIUM_TOTAL;

    uint256 private unlocked = 1;

    event FlashLoan(
        address indexed target,
        address initiator,
        address indexed asset,
        uint256 amount,
        uint256 premium,
        uint16 indexed referralCode
    );

    constructor(uint128 premiumBps) {
        require(premiumBps <= PERCENTAGE_FACTOR, "AaveLike: PREMIUM_TOO_HIGH");
        FLASHLOAN_PREMIUM_TOTAL = premiumBps;
    }

    function flashLoanSimple(
        address receiverAddress,
        address asset,
        uint256 amount,
        bytes calldata params,
        uint16 referralCode
    ) external {
        require(unlocked == 1, "AaveLike: LOCKED");
        unlocked = 0;
        require(amount > 0, "AaveLike: INVALID_AMOUNT");
        uint256 premium =
            (amount * FLASHLOAN_PREMIUM_TOTAL + HALF_PERCENTAGE_FACTOR) / PERCENTAGE_FACTOR;
        require(IArbkitLenderToken(asset).transfer(receiverAddress, amount), "AaveLike: TRANSFER");
        require(
            IArbkitFlashLoanSimpleReceiver(receiverAddress).executeOperation(
                asset, amount, premium, msg.sender, params
            ),
            "AaveLike: INVALID_FLASHLOAN_EXECUTOR_RETURN"
        );
        require(
            IArbkitLenderToken(asset).transferFrom(receiverAddress, address(this), amount + premium),
            "AaveLike: REPAY"
        );
        emit FlashLoan(receiverAddress, msg.sender, asset, amount, premium, referralCode);
        unlocked = 1;
    }
}

/// @title ArbkitBalancerLikeVault
/// @notice A flash lender with the Balancer V2 vault's `flashLoan` interface and no fee.
/// @dev As in Balancer V2's `FlashLoans.flashLoan`: tokens must be strictly ascending, the
///      amounts are sent to the recipient, `receiveFlashLoan` is called with zero fee
///      amounts, and afterwards the vault's balance of each token must be back to at
///      least what it was ("BAL#602" in Balancer; here a named reason). The recipient
///      repays with plain transfers.
contract ArbkitBalancerLikeVault {
    uint256 private unlocked = 1;

    event FlashLoan(address indexed recipient, address indexed token, uint256 amount, uint256 feeAmount);

    function flashLoan(
        IArbkitFlashLoanRecipient recipient,
        address[] calldata tokens,
        uint256[] calldata amounts,
        bytes calldata userData
    ) external {
        require(unlocked == 1, "BalancerLike: LOCKED");
        unlocked = 0;
        require(tokens.length == amounts.length, "BalancerLike: INPUT_LENGTH_MISMATCH");
        uint256[] memory feeAmounts = new uint256[](tokens.length);
        uint256[] memory before = new uint256[](tokens.length);
        address previous = address(0);
        for (uint256 i = 0; i < tokens.length; ++i) {
            address token = tokens[i];
            require(token > previous, "BalancerLike: UNSORTED_TOKENS");
            previous = token;
            before[i] = IArbkitLenderToken(token).balanceOf(address(this));
            require(before[i] >= amounts[i], "BalancerLike: INSUFFICIENT_FLASH_LOAN_BALANCE");
            require(IArbkitLenderToken(token).transfer(address(recipient), amounts[i]), "BalancerLike: TRANSFER");
        }
        recipient.receiveFlashLoan(tokens, amounts, feeAmounts, userData);
        for (uint256 i = 0; i < tokens.length; ++i) {
            uint256 post = IArbkitLenderToken(tokens[i]).balanceOf(address(this));
            require(post >= before[i], "BalancerLike: INVALID_POST_LOAN_BALANCE");
            emit FlashLoan(address(recipient), tokens[i], amounts[i], 0);
        }
        unlocked = 1;
    }
}
