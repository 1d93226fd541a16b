from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arbkit.errors import (
    AMMError,
    InsufficientInputAmountError,
    InsufficientLiquidityError,
    InsufficientOutputAmountError,
    InvalidPathError,
    ValueOutOfRangeError,
)
from arbkit.market.amm import (
    MAX_UINT112,
    Hop,
    aave_flash_fee,
    get_amount_in,
    get_amount_out,
    get_amounts_in,
    get_amounts_out,
    optimal_cex_dex_trade,
    optimal_cycle,
    optimal_triangular_arb,
    optimal_two_pool_arb,
    quote_cycle,
    screen_cycles,
    screen_two_pool,
)

E18 = 10**18

# Uniswap/v2-core test/UniswapV2Pair.spec.ts `swapTestCases`:
# [swapAmount, token0Amount, token1Amount, expectedOutputAmount], amounts x 1e18 but the last.
V2_CORE_SWAP_CASES = [
    (1, 5, 10, 1662497915624478906),
    (1, 10, 5, 453305446940074565),
    (2, 5, 10, 2851015155847869602),
    (2, 10, 5, 831248957812239453),
    (1, 10, 10, 906610893880149131),
    (1, 100, 100, 987158034397061298),
    (1, 1000, 1000, 996006981039903216),
]


@pytest.mark.parametrize(("swap", "r0", "r1", "expected"), V2_CORE_SWAP_CASES)
def test_get_amount_out_with_fee_matches_uniswap_vectors(
    swap: int, r0: int, r1: int, expected: int
) -> None:
    assert get_amount_out(swap * E18, r0 * E18, r1 * E18) == expected


def test_get_amount_in_matches_router_swap_tokens_for_exact_tokens_vector() -> None:
    # v2-periphery UniswapV2Router02.spec.ts swapTokensForExactTokens: reserves 5e18/10e18,
    # outputAmount 1e18 -> expectedSwapAmount 557227237267357629
    assert get_amount_in(E18, 5 * E18, 10 * E18) == 557227237267357629


def test_router_library_small_vectors() -> None:
    # v2-periphery router tests: getAmountOut(2,100,100)=1, getAmountIn(1,100,100)=2,
    # getAmountsOut(2,[t0,t1])=[2,1], getAmountsIn(1,[t0,t1])=[2,1] on 10000/10000 reserves.
    assert get_amount_out(2, 100, 100) == 1
    assert get_amount_in(1, 100, 100) == 2
    assert get_amounts_out(2, [(10_000, 10_000)]) == [2, 1]
    assert get_amounts_in(1, [(10_000, 10_000)]) == [2, 1]


def test_reverts_are_typed_errors() -> None:
    with pytest.raises(InsufficientInputAmountError):
        get_amount_out(0, 100, 100)
    with pytest.raises(InsufficientInputAmountError):
        get_amount_out(-5, 100, 100)
    with pytest.raises(InsufficientLiquidityError):
        get_amount_out(2, 0, 100)
    with pytest.raises(InsufficientLiquidityError):
        get_amount_out(2, 100, -1)
    with pytest.raises(InsufficientOutputAmountError):
        get_amount_in(0, 100, 100)
    with pytest.raises(InsufficientLiquidityError):
        get_amount_in(100, 100, 100)  # amount_out == reserve_out: division by zero on chain
    with pytest.raises(InsufficientLiquidityError):
        get_amount_in(101, 100, 100)  # underflow on chain
    with pytest.raises(InvalidPathError):
        get_amounts_out(1, [])
    with pytest.raises(InvalidPathError):
        get_amounts_in(1, [])


def test_out_of_range_and_non_integer_inputs_are_refused() -> None:
    with pytest.raises(ValueOutOfRangeError, match="uint112"):
        get_amount_out(1, MAX_UINT112 + 1, 100)
    with pytest.raises(ValueOutOfRangeError, match="uint256"):
        get_amount_out(2**250, 10**30, 10**30)
    with pytest.raises(AMMError, match="integer"):
        get_amount_out(1.5, 100, 100)  # type: ignore[arg-type]
    with pytest.raises(AMMError, match="integer"):
        get_amount_out(True, 100, 100)  # type: ignore[arg-type]
    with pytest.raises(AMMError, match="integer"):
        get_amount_out(float("nan"), 100, 100)  # type: ignore[arg-type]
    with pytest.raises(AMMError, match="fee_bps"):
        get_amount_out(1, 100, 100, fee_bps=10_000)
    with pytest.raises(AMMError, match="cex_price"):
        optimal_cex_dex_trade(10**9, 10**9, float("nan"))
    with pytest.raises(AMMError, match="cex_price"):
        optimal_cex_dex_trade(10**9, 10**9, -1.0)


def _solidity_get_amount_out(a: int, r_in: int, r_out: int) -> int:
    # literal transcription of UniswapV2Library.getAmountOut (997/1000)
    amount_in_with_fee = a * 997
    return (amount_in_with_fee * r_out) // (r_in * 1000 + amount_in_with_fee)


def _solidity_get_amount_in(out: int, r_in: int, r_out: int) -> int:
    return (r_in * out * 1000) // ((r_out - out) * 997) + 1


uint112 = st.integers(min_value=1, max_value=MAX_UINT112)


@given(a=st.integers(min_value=1, max_value=2**120), r_in=uint112, r_out=uint112)
def test_get_amount_out_equals_library_transcription(a: int, r_in: int, r_out: int) -> None:
    assert get_amount_out(a, r_in, r_out) == _solidity_get_amount_out(a, r_in, r_out)


@given(
    r_in=uint112, r_out=st.integers(min_value=2, max_value=MAX_UINT112), frac=st.floats(0.0, 1.0)
)
def test_get_amount_in_equals_library_and_delivers(r_in: int, r_out: int, frac: float) -> None:
    out = max(1, min(r_out - 1, int(frac * (r_out - 1))))
    a = get_amount_in(out, r_in, r_out)
    assert a == _solidity_get_amount_in(out, r_in, r_out)
    # paying getAmountIn always buys at least the asked output, and the pair invariant holds
    if a * 9970 * r_out < 2**256:
        assert get_amount_out(a, r_in, r_out) >= out
    bal_in, bal_out = r_in + a, r_out - out
    assert (bal_in * 1000 - a * 3) * (bal_out * 1000) >= r_in * r_out * 1000**2


def _brute_best_vectorised(
    xa: int, ya: int, yb: int, xb: int, flash_bps: int = 0
) -> tuple[int, int]:
    # independent numpy brute force over every input below pool B's X reserve
    a = np.arange(1, xb, dtype=np.int64)
    y = (a * 997 * ya) // (xa * 1000 + a * 997)
    out = (y * 997 * xb) // (yb * 1000 + y * 997)
    profit = out - a - (a * flash_bps + 5000) // 10_000
    i = int(np.argmax(profit))
    return int(profit[i]), int(a[i])


def test_optimal_two_pool_arb_equals_brute_force_on_10000_random_pairs() -> None:
    rng = np.random.default_rng(20261124)
    profitable = 0
    for _ in range(10_000):
        xa, xb = (int(v) for v in rng.integers(50, 20_000, size=2))
        price_a, price_b = rng.lognormal(0.0, 1.0), rng.lognormal(0.0, 1.0)
        ya = max(1, int(xa * price_a))
        # pool B priced near pool A, gap up to +-5 %
        yb = max(1, int(xb * price_a * rng.uniform(0.95, 1.05)))
        del price_b
        if xa * 997 * ya >= 2**62 or yb * 997 * xb >= 2**62:
            continue
        flash = int(rng.choice([0, 0, 5, 9]))
        res = optimal_two_pool_arb(xa, ya, yb, xb, flash_fee_bps=flash)
        brute, _ = _brute_best_vectorised(xa, ya, yb, xb, flash)
        assert res.exact
        if brute <= 0:
            assert res.amount_in == 0 and res.profit == 0
        else:
            profitable += 1
            assert res.profit == brute
            assert (
                quote_cycle(res.amount_in, [Hop(xa, ya), Hop(yb, xb)], flash_fee_bps=flash) == brute
            )
    assert profitable > 1_000  # the sample exercises the refinement, not only "no edge"


def _np_out(a: np.ndarray, r_in: int, r_out: int, fee_bps: int) -> np.ndarray:
    # independent int64 transcription of getAmountOut with a bps fee
    with_fee = a * (10_000 - fee_bps)
    return (with_fee * r_out) // (r_in * 10_000 + with_fee)


@settings(max_examples=150, deadline=None)
@given(
    r=st.lists(st.integers(min_value=100, max_value=3_000), min_size=6, max_size=6),
    fees=st.lists(st.sampled_from([5, 30, 100]), min_size=3, max_size=3),
)
def test_optimal_triangular_arb_equals_brute_force(r: list[int], fees: list[int]) -> None:
    hops = [Hop(r[0], r[1], fees[0]), Hop(r[2], r[3], fees[1]), Hop(r[4], r[5], fees[2])]
    res = optimal_triangular_arb(hops)
    a = np.arange(1, 20_000, dtype=np.int64)
    out = a
    for h in hops:
        out = _np_out(out, h.reserve_in, h.reserve_out, h.fee_bps)
    brute = max(0, int((out - a).max()))
    assert res.exact
    assert res.profit == brute


@settings(max_examples=150, deadline=None)
@given(
    r_in=st.integers(min_value=100, max_value=5_000),
    r_out=st.integers(min_value=100, max_value=5_000),
    num=st.integers(min_value=1, max_value=400),
    den=st.integers(min_value=1, max_value=400),
    cex_fee=st.sampled_from([0, 10, 25]),
)
def test_optimal_cex_dex_trade_equals_brute_force(
    r_in: int, r_out: int, num: int, den: int, cex_fee: int
) -> None:
    price = Fraction(num, den)
    a = np.arange(1, 200_000, dtype=np.int64)
    out = _np_out(a, r_in, r_out, 30)
    sell = optimal_cex_dex_trade(r_in, r_out, price, side="sell_on_cex", cex_fee_bps=cex_fee)
    k = price * (1 - Fraction(cex_fee, 10_000))  # num * (1e4 - fee) / (den * 1e4)
    brute = max(0, int(((out * (num * (10_000 - cex_fee))) // (den * 10_000) - a).max()))
    assert sell.exact and sell.profit == brute
    buy = optimal_cex_dex_trade(r_in, r_out, price, side="buy_on_cex", cex_fee_bps=cex_fee)
    m_num, m_den = num * (10_000 + cex_fee), den * 10_000
    assert Fraction(m_num, m_den) == price * (1 + Fraction(cex_fee, 10_000)) and k > 0
    brute_buy = max(0, int((out - (-((-a * m_num) // m_den))).max()))
    assert buy.exact and buy.profit == brute_buy


@settings(max_examples=300, deadline=None)
@given(
    xa=st.integers(min_value=10**15, max_value=10**30),
    gap=st.floats(min_value=-0.05, max_value=0.05),
    price=st.floats(min_value=1e-9, max_value=1e9),
    flash=st.sampled_from([0, 5]),
    depth=st.floats(min_value=0.01, max_value=100.0),
)
def test_optimal_two_pool_arb_large_pools_is_locally_optimal_and_bounded(
    xa: int, gap: float, price: float, flash: int, depth: float
) -> None:
    ya = max(1, int(xa * price))
    xb = max(1, int(xa * depth))
    yb = max(1, int(xb * price * (1 + gap)))
    if max(xa, ya, xb, yb) > MAX_UINT112:
        return
    hops = [Hop(xa, ya), Hop(yb, xb)]
    res = optimal_cycle(hops, flash_fee_bps=flash)
    assert res.profit <= res.profit_upper_bound
    if res.amount_in:
        assert quote_cycle(res.amount_in, hops, flash_fee_bps=flash) == res.profit
        for d in (-3, -2, -1, 1, 2, 3):
            if res.amount_in + d > 0:
                assert quote_cycle(res.amount_in + d, hops, flash_fee_bps=flash) <= res.profit


def test_optimal_arb_respects_cap_and_reports_no_edge() -> None:
    res = optimal_two_pool_arb(10**24, 3 * 10**15, 3 * 10**15, 10**24)
    assert res == optimal_two_pool_arb(10**24, 3 * 10**15, 3 * 10**15, 10**24)
    assert res.amount_in == 0 and res.profit == 0 and res.exact  # same price: fees kill it
    capped = optimal_two_pool_arb(10**24, 3 * 10**15, 2 * 10**15, 10**24, max_amount_in=10**20)
    free = optimal_two_pool_arb(10**24, 3 * 10**15, 2 * 10**15, 10**24)
    assert capped.amount_in <= 10**20 < free.amount_in
    assert capped.profit < free.profit


def test_aave_flash_fee_rounds_half_up() -> None:
    assert aave_flash_fee(10_000, 5) == 5
    assert aave_flash_fee(1_000, 5) == 1  # 0.5 rounds up
    assert aave_flash_fee(999, 5) == 0  # 0.4995 rounds down
    assert aave_flash_fee(10**18, 0) == 0


def test_screen_agrees_with_exact_optimum() -> None:
    rng = np.random.default_rng(7)
    n = 200
    xa = rng.uniform(1e20, 1e24, n)
    ya = xa * rng.uniform(1e-12, 1e-11, n)
    yb = rng.uniform(1e20, 1e24, n) * 5e-12
    xb = yb / (ya / xa) * rng.uniform(0.97, 1.03, n)
    amount, profit = screen_two_pool(xa, ya, yb, xb)
    for i in range(n):
        res = optimal_two_pool_arb(int(xa[i]), int(ya[i]), int(yb[i]), int(xb[i]))
        if res.profit > 10**6:
            assert profit[i] == pytest.approx(res.profit, rel=1e-6)
            assert amount[i] == pytest.approx(res.amount_in, rel=1e-3)
        elif res.profit == 0:
            assert profit[i] < 10**6


def test_screen_cycles_folds_three_hops_like_exact_math() -> None:
    hops = [
        Hop(10**24, 3 * 10**15, 30),
        Hop(3 * 10**15, 3 * 10**15, 5),
        Hop(3 * 10**15, (1.02e24).__int__(), 30),
    ]
    res = optimal_triangular_arb(hops)
    _amount, profit, rate = screen_cycles(
        [np.array([float(h.reserve_in)]) for h in hops],
        [np.array([float(h.reserve_out)]) for h in hops],
        [1 - h.fee_bps / 10_000 for h in hops],
    )
    assert res.profit > 0 and rate[0] > 1
    assert profit[0] == pytest.approx(res.profit, rel=1e-6)


def test_uint256_check_uses_the_librarys_997_factor() -> None:
    # Solidity computes amountIn * 997 * reserveOut: 2**131 * 997 * (2**112 - 1) fits uint256
    assert get_amount_out(2**131, MAX_UINT112, MAX_UINT112) == _solidity_get_amount_out(
        2**131, MAX_UINT112, MAX_UINT112
    )
