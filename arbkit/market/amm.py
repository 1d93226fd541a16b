"""Exact constant-product (Uniswap V2) math on Python integers, and its float screen.

The integer functions reproduce ``UniswapV2Library`` to the wei: the same floor
divisions, the same ``+ 1`` in ``getAmountIn`` and the same reverts, raised here as
typed errors (:mod:`arbkit.errors`). The fee is a parameter in basis points; with the
default 30 bps, ``amountIn * 9970 / 10000`` is the library's ``amountIn * 997 / 1000``
(both sides of every fraction are scaled by ten, so results are identical).

Optimal sizing
--------------
A cycle of constant-product hops, with floors removed, maps an input ``a`` to
``A a / (B + C a)`` for integers ``A, B, C`` obtained by folding the hops
(:func:`fold_hops`). The real-valued profit ``k * out(a) - m * a`` is concave, so its
maximiser has a closed form. Because every floor and ceiling in the exact integer
computation can only lower the profit (the flash premium's half-up rounding aside,
which adds less than 1/2), the real profit is an upper envelope of the integer profit,
and its maximum, bounded exactly with ``math.isqrt``, caps every integer profit.
:func:`optimal_cycle` evaluates the integer profit next to the closed form, then
solves the quadratic "envelope > best integer profit seen" exactly to get the only
interval where a better amount can lie. The profit depends on the input only through
the amount reaching each hop, so the interval is searched over the amounts of the
coarsest token on the route (for each amount, the smallest input that delivers it),
outwards from the closed form, stopping when the cap is reached. The result is
``exact`` (proven maximal) when the search reached the cap or exhausted the interval;
otherwise it is the best amount within ``max_evals`` and ``profit_upper_bound`` says
how much more any amount could earn. When several amounts earn the maximum, the one
returned is not necessarily the smallest.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import numpy.typing as npt

from arbkit.errors import (
    AMMError,
    InsufficientInputAmountError,
    InsufficientLiquidityError,
    InsufficientOutputAmountError,
    InvalidPathError,
    ValueOutOfRangeError,
)

__all__ = [
    "BPS",
    "MAX_UINT112",
    "MAX_UINT256",
    "ArbResult",
    "Hop",
    "aave_flash_fee",
    "fold_hops",
    "get_amount_in",
    "get_amount_out",
    "get_amounts_in",
    "get_amounts_out",
    "optimal_cex_dex_trade",
    "optimal_cycle",
    "optimal_triangular_arb",
    "optimal_two_pool_arb",
    "quote_cycle",
    "screen_cycles",
    "screen_two_pool",
]

BPS = 10_000
MAX_UINT112 = 2**112 - 1
MAX_UINT256 = 2**256 - 1
FloatArray = npt.NDArray[np.float64]


def _check_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise AMMError(f"{name} must be an integer amount in base units, got {value!r}")
    return int(value)


def _check_fee(fee_bps: object) -> int:
    fee = _check_int("fee_bps", fee_bps)
    if not 0 <= fee < BPS:
        raise AMMError(f"fee_bps must lie in [0, {BPS}), got {fee}")
    return fee


def _check_reserves(reserve_in: object, reserve_out: object) -> tuple[int, int]:
    r_in = _check_int("reserve_in", reserve_in)
    r_out = _check_int("reserve_out", reserve_out)
    if r_in <= 0 or r_out <= 0:
        raise InsufficientLiquidityError(
            f"INSUFFICIENT_LIQUIDITY: reserves must be positive, got reserve_in={r_in}, "
            f"reserve_out={r_out}"
        )
    if r_in > MAX_UINT112 or r_out > MAX_UINT112:
        raise ValueOutOfRangeError(
            f"reserves must fit uint112 (<= {MAX_UINT112}), got reserve_in={r_in}, "
            f"reserve_out={r_out}"
        )
    return r_in, r_out


def _check_uint256(name: str, value: int) -> None:
    if value > MAX_UINT256:
        raise ValueOutOfRangeError(f"{name} overflows uint256 ({value})")


def get_amount_out(amount_in: int, reserve_in: int, reserve_out: int, fee_bps: int = 30) -> int:
    """Return the output of swapping ``amount_in`` into a pair, as ``getAmountOut`` does.

    Parameters
    ----------
    amount_in
        Input amount in base units of the input token.
    reserve_in, reserve_out
        Pair reserves of the input and output token (uint112).
    fee_bps
        Pool fee in basis points (30 for Uniswap V2).

    Returns
    -------
    int
        ``amount_in * (1e4 - fee) * reserve_out // (reserve_in * 1e4 + amount_in * (1e4 - fee))``.

    Raises
    ------
    InsufficientInputAmountError
        If ``amount_in <= 0``.
    InsufficientLiquidityError
        If a reserve is not positive.
    ValueOutOfRangeError
        If a reserve exceeds uint112 or an intermediate product overflows uint256
        (Solidity's SafeMath would revert).
    """
    amount = _check_int("amount_in", amount_in)
    if amount <= 0:
        raise InsufficientInputAmountError(
            f"INSUFFICIENT_INPUT_AMOUNT: amount_in must be positive, got {amount}"
        )
    r_in, r_out = _check_reserves(reserve_in, reserve_out)
    gamma = BPS - _check_fee(fee_bps)
    amount_with_fee = amount * gamma
    numerator = amount_with_fee * r_out
    # Solidity multiplies by the reduced fee factor (997 for 30 bps), so check that product.
    _check_uint256("amount_in * fee factor * reserve_out", numerator // math.gcd(gamma, BPS))
    return numerator // (r_in * BPS + amount_with_fee)


def get_amount_in(amount_out: int, reserve_in: int, reserve_out: int, fee_bps: int = 30) -> int:
    """Return the input needed to take ``amount_out`` out of a pair, as ``getAmountIn`` does.

    Parameters
    ----------
    amount_out
        Desired output in base units of the output token.
    reserve_in, reserve_out
        Pair reserves of the input and output token (uint112).
    fee_bps
        Pool fee in basis points.

    Returns
    -------
    int
        ``reserve_in * amount_out * 1e4 // ((reserve_out - amount_out) * (1e4 - fee)) + 1``.

    Raises
    ------
    InsufficientOutputAmountError
        If ``amount_out <= 0``.
    InsufficientLiquidityError
        If a reserve is not positive or ``amount_out >= reserve_out`` (the Solidity
        subtraction would underflow or the division be by zero).
    ValueOutOfRangeError
        If a reserve exceeds uint112 or a product overflows uint256.
    """
    amount = _check_int("amount_out", amount_out)
    if amount <= 0:
        raise InsufficientOutputAmountError(
            f"INSUFFICIENT_OUTPUT_AMOUNT: amount_out must be positive, got {amount}"
        )
    r_in, r_out = _check_reserves(reserve_in, reserve_out)
    if amount >= r_out:
        raise InsufficientLiquidityError(
            f"INSUFFICIENT_LIQUIDITY: amount_out={amount} must be below reserve_out={r_out}"
        )
    gamma = BPS - _check_fee(fee_bps)
    numerator = r_in * amount * BPS
    _check_uint256("reserve_in * amount_out * 1e4", numerator)
    return numerator // ((r_out - amount) * gamma) + 1


def _fees(fee_bps: int | Sequence[int], n: int) -> list[int]:
    if isinstance(fee_bps, int | np.integer) and not isinstance(fee_bps, bool):
        return [int(fee_bps)] * n
    fees = list(fee_bps)  # type: ignore[arg-type]
    if len(fees) != n:
        raise InvalidPathError(f"got {len(fees)} fees for {n} hops")
    return fees


def get_amounts_out(
    amount_in: int,
    reserves: Sequence[tuple[int, int]],
    fee_bps: int | Sequence[int] = 30,
) -> list[int]:
    """Chain :func:`get_amount_out` along a path, as ``getAmountsOut`` does.

    Parameters
    ----------
    amount_in
        Input of the first hop.
    reserves
        ``(reserve_in, reserve_out)`` of every hop, in path order.
    fee_bps
        One fee for all hops or one per hop.

    Returns
    -------
    list[int]
        ``[amount_in, out_1, ..., out_n]`` (length ``len(reserves) + 1``).

    Raises
    ------
    InvalidPathError
        If the path has no hop (the library requires ``path.length >= 2``).
    """
    if len(reserves) < 1:
        raise InvalidPathError("INVALID_PATH: a path needs at least one hop (two tokens)")
    fees = _fees(fee_bps, len(reserves))
    amounts = [_check_int("amount_in", amount_in)]
    for (r_in, r_out), fee in zip(reserves, fees, strict=True):
        amounts.append(get_amount_out(amounts[-1], r_in, r_out, fee))
    return amounts


def get_amounts_in(
    amount_out: int,
    reserves: Sequence[tuple[int, int]],
    fee_bps: int | Sequence[int] = 30,
) -> list[int]:
    """Chain :func:`get_amount_in` backwards along a path, as ``getAmountsIn`` does.

    Parameters
    ----------
    amount_out
        Desired output of the last hop.
    reserves
        ``(reserve_in, reserve_out)`` of every hop, in path order.
    fee_bps
        One fee for all hops or one per hop.

    Returns
    -------
    list[int]
        ``[in_1, ..., in_n, amount_out]``.
    """
    if len(reserves) < 1:
        raise InvalidPathError("INVALID_PATH: a path needs at least one hop (two tokens)")
    fees = _fees(fee_bps, len(reserves))
    amounts = [_check_int("amount_out", amount_out)]
    for (r_in, r_out), fee in zip(reversed(reserves), reversed(fees), strict=True):
        amounts.append(get_amount_in(amounts[-1], r_in, r_out, fee))
    amounts.reverse()
    return amounts


def aave_flash_fee(amount: int, premium_bps: int = 5) -> int:
    """Return an Aave V3 flash-loan premium: ``percentMul`` rounds half up.

    ``(amount * premium_bps + 5_000) // 10_000``; 0 for ``premium_bps == 0`` (Balancer).
    """
    return (amount * premium_bps + BPS // 2) // BPS if premium_bps else 0


@dataclass(frozen=True, slots=True)
class Hop:
    """One swap of a route: reserves of the token going in and the token coming out."""

    reserve_in: int
    reserve_out: int
    fee_bps: int = 30


@dataclass(frozen=True, slots=True)
class ArbResult:
    """The best integer amount for a route and what it earns.

    Attributes
    ----------
    amount_in
        Best input in base units of the start token (0 when nothing is profitable).
    amount_out
        Output of the last hop for ``amount_in`` (0 when ``amount_in`` is 0).
    profit
        Exact profit in the accounting token's base units after pool fees and the
        flash fee (and, for CEX-DEX trades, the CEX fee); 0 when nothing is profitable.
    flash_fee
        Flash-loan fee paid on ``amount_in``.
    exact
        ``True`` when ``amount_in`` is proven to be the integer maximiser.
    profit_upper_bound
        No integer amount earns more than this.
    evaluations
        Exact route evaluations spent.
    """

    amount_in: int
    amount_out: int
    profit: int
    flash_fee: int
    exact: bool
    profit_upper_bound: int
    evaluations: int

    @property
    def profitable(self) -> bool:
        """Whether some amount earns a positive profit."""
        return self.profit > 0


def fold_hops(hops: Sequence[Hop]) -> tuple[int, int, int]:
    """Fold a route into integers ``A, B, C`` with ``out(a) = A a / (B + C a)`` without floors.

    Parameters
    ----------
    hops
        The route's hops in order.

    Returns
    -------
    tuple[int, int, int]
        ``(A, B, C)``; the marginal rate at zero size is ``A / B``.
    """
    a_num, b_den, c_den = 1, 1, 0
    for hop in hops:
        r_in, r_out = _check_reserves(hop.reserve_in, hop.reserve_out)
        gamma = BPS - _check_fee(hop.fee_bps)
        a_num, b_den, c_den = (
            gamma * a_num * r_out,
            BPS * r_in * b_den,
            BPS * r_in * c_den + gamma * a_num,
        )
    return a_num, b_den, c_den


def _route_out(amount: int, hops: Sequence[Hop]) -> int:
    # Hot path of the refinement: reserves and fees were validated by fold_hops.
    for hop in hops:
        with_fee = amount * (BPS - hop.fee_bps)
        amount = with_fee * hop.reserve_out // (hop.reserve_in * BPS + with_fee)
        if amount == 0:
            return 0
    return amount


def _outwards(centre: int, lo: int, hi: int) -> Iterator[int]:
    # centre, centre + 1, centre - 1, centre + 2, ... restricted to [lo, hi]
    if lo > hi:
        return
    yield centre
    for step in range(1, max(centre - lo, hi - centre) + 1):
        if centre + step <= hi:
            yield centre + step
        if centre - step >= lo:
            yield centre - step


def _min_input_for(amount: int, hops: Sequence[Hop]) -> int | None:
    # Smallest input whose exact output through ``hops`` is at least ``amount``:
    # floor(g x R_out / (1e4 R_in + g x)) >= w  <=>  x >= w 1e4 R_in / (g (R_out - w)).
    for hop in reversed(hops):
        if amount >= hop.reserve_out:
            return None
        gamma = BPS - hop.fee_bps
        amount = _ceil_div(amount * BPS * hop.reserve_in, gamma * (hop.reserve_out - amount))
    return amount


def _as_fraction(name: str, value: Fraction | int | float | str) -> Fraction:
    if isinstance(value, float) and not math.isfinite(value):
        raise AMMError(f"{name} must be finite, got {value!r}")
    try:
        frac = Fraction(value)
    except (ValueError, TypeError, ZeroDivisionError) as exc:
        raise AMMError(f"{name} must be a number, got {value!r}") from exc
    if frac <= 0:
        raise AMMError(f"{name} must be positive, got {value!r}")
    return frac


def _ceil_div(num: int, den: int) -> int:
    return -((-num) // den)


def quote_cycle(
    amount_in: int,
    hops: Sequence[Hop],
    *,
    flash_fee_bps: int = 0,
    out_value: Fraction = Fraction(1),
    in_cost: Fraction = Fraction(1),
) -> int:
    """Return the exact profit of one amount through a route.

    ``floor(out_value * out(amount_in)) - ceil(in_cost * amount_in) - flash_fee``, in the
    accounting token's base units. For a cycle both factors are 1 and the profit is in the
    start token.
    """
    amount = _check_int("amount_in", amount_in)
    if amount <= 0:
        raise InsufficientInputAmountError(f"amount_in must be positive, got {amount}")
    fold_hops(hops)  # validates every hop
    out = _route_out(amount, hops)
    value = out_value.numerator * out // out_value.denominator
    cost = _ceil_div(in_cost.numerator * amount, in_cost.denominator)
    return value - cost - aave_flash_fee(amount, flash_fee_bps)


def optimal_cycle(
    hops: Sequence[Hop],
    *,
    flash_fee_bps: int = 0,
    out_value: Fraction | int | float | str = 1,
    in_cost: Fraction | int | float | str = 1,
    max_amount_in: int | None = None,
    max_evals: int = 4_096,
) -> ArbResult:
    """Find the integer input that maximises a route's exact integer profit.

    The profit of input ``a`` is ``floor(out_value * out(a)) - ceil(in_cost * a) -
    flash_fee(a)``, where ``out`` is the exact chain of :func:`get_amount_out` over
    ``hops`` and ``flash_fee`` rounds half up like Aave's ``percentMul``. With both
    factors 1 this is a cycle's profit in the start token; a CEX leg enters as
    ``out_value`` (what the CEX pays per unit of the last token, net of its fee) or as
    ``in_cost``.

    Parameters
    ----------
    hops
        The route's hops in order; the last hop's output token is valued by ``out_value``.
    flash_fee_bps
        Flash-loan premium on the borrowed input (0 for Balancer or a V2 flash swap).
    out_value, in_cost
        Positive rational prices in accounting-token base units per base unit.
    max_amount_in
        Optional cap on the input (e.g. the most that may be borrowed).
    max_evals
        Most exact route evaluations to spend in the refinement.

    Returns
    -------
    ArbResult
        The best amount and its exact profit; ``amount_in == 0`` when no amount earns
        a positive profit.
    """
    if not hops:
        raise InvalidPathError("INVALID_PATH: a route needs at least one hop")
    k = _as_fraction("out_value", out_value)
    m = _as_fraction("in_cost", in_cost)
    if not 0 <= flash_fee_bps < BPS:
        raise AMMError(f"flash_fee_bps must lie in [0, {BPS}), got {flash_fee_bps}")
    cap = MAX_UINT112 if max_amount_in is None else _check_int("max_amount_in", max_amount_in)
    if cap <= 0:
        raise AMMError(f"max_amount_in must be positive, got {cap}")
    a_num, b_den, c_den = fold_hops(hops)
    # Total marginal cost per unit of input: in_cost + flash premium.
    q = m + Fraction(flash_fee_bps, BPS)
    kn, kd, qn, qd = k.numerator, k.denominator, q.numerator, q.denominator
    # Integer profit <= real profit + slack: floors and ceilings only lower it, except
    # the flash premium's half-up rounding, which can raise it by less than 1/2.
    sn, sd = (1, 2) if flash_fee_bps else (0, 1)
    # Real maximum (sqrt(kA) - sqrt(qB))^2 / C, bounded above exactly with isqrt.
    den = kd * qd * c_den
    cross = math.isqrt(kn * kd * qn * qd * a_num * b_den)
    num = kn * qd * a_num + qn * kd * b_den - 2 * cross
    upper = max(0, (sd * num + sn * den) // (sd * den)) if kn * qd * a_num > qn * kd * b_den else 0

    evaluations = 0
    best_a, best_p = 0, 0

    def profit_at(a: int) -> int:
        nonlocal evaluations
        evaluations += 1
        out = _route_out(a, hops)
        value = kn * out // kd
        return value - _ceil_div(m.numerator * a, m.denominator) - aave_flash_fee(a, flash_fee_bps)

    # Closed form of the real maximiser: (B + C a)^2 = k A B / q.
    s = math.isqrt(kn * a_num * b_den * qd // (kd * qn))
    centre = max(1, min(cap, (s - b_den) // c_den))
    for a in range(max(1, centre - 2), min(cap, centre + 2) + 1):
        p = profit_at(a)
        if p > best_p:
            best_a, best_p = a, p
    if best_p >= upper:
        return _result(best_a, best_p, hops, flash_fee_bps, True, upper, evaluations)

    # Only amounts whose envelope (real profit + slack) reaches the target can beat
    # best_p: solve that quadratic inequality in a exactly.
    target = best_p + 1
    alpha = kd * qn * sd * c_den
    beta = kn * qd * sd * a_num - kd * qn * sd * b_den + kd * qd * (sn - sd * target) * c_den
    gamma_ = kd * qd * (sn - sd * target) * b_den
    disc = beta * beta + 4 * alpha * gamma_
    if disc < 0:
        return _result(best_a, best_p, hops, flash_fee_bps, True, upper, evaluations)
    root = math.isqrt(disc)
    lo = max(1, (beta - root - 1) // (2 * alpha))
    hi = min(cap, _ceil_div(beta + root + 1, 2 * alpha))
    if hi < lo:
        return _result(best_a, best_p, hops, flash_fee_bps, True, upper, evaluations)

    # The integer profit depends on the input only through the amount reaching each
    # hop (and the final output), and for every amount v reaching level j the smallest
    # input that delivers it is the best way to get it. So the search can run over the
    # amounts of the coarsest token on the route (fewest distinct values in [lo, hi]).
    level, values_lo, values_hi = 0, lo, hi
    amount_lo, amount_hi = lo, hi
    for j, hop in enumerate(hops, start=1):
        amount_lo = _route_out(amount_lo, [hop]) if amount_lo else 0
        amount_hi = _route_out(amount_hi, [hop])
        if amount_hi - amount_lo < values_hi - values_lo:
            level, values_lo, values_hi = j, amount_lo, amount_hi
    exact = values_hi - values_lo + 1 <= max_evals
    centre_v = _route_out(centre, hops[:level]) if level else centre
    if not exact:
        # Too wide to prove by enumeration: scan a window around the closed form.
        half = max_evals // 2
        values_lo, values_hi = max(values_lo, centre_v - half), min(values_hi, centre_v + half)
    # Walk outwards from the closed form and stop as soon as the bound is reached.
    for v in _outwards(min(max(centre_v, values_lo), values_hi), max(values_lo, 1), values_hi):
        a_v = _min_input_for(v, hops[:level]) if level else v
        if a_v is None or a_v > cap:
            continue
        p = profit_at(a_v)
        if p > best_p or (p == best_p and p > 0 and a_v < best_a):
            best_a, best_p = a_v, p
            if best_p >= upper:
                break
    return _result(
        best_a, best_p, hops, flash_fee_bps, exact or best_p >= upper, upper, evaluations
    )


def _result(
    best_a: int,
    best_p: int,
    hops: Sequence[Hop],
    flash_fee_bps: int,
    exact: bool,
    upper: int,
    evaluations: int,
) -> ArbResult:
    if best_p <= 0:
        return ArbResult(0, 0, 0, 0, exact, 0 if exact else upper, evaluations)
    return ArbResult(
        amount_in=best_a,
        amount_out=_route_out(best_a, hops),
        profit=best_p,
        flash_fee=aave_flash_fee(best_a, flash_fee_bps),
        exact=exact,
        profit_upper_bound=best_p if exact else max(best_p, upper),
        evaluations=evaluations,
    )


def optimal_two_pool_arb(
    reserve_in_a: int,
    reserve_out_a: int,
    reserve_in_b: int,
    reserve_out_b: int,
    *,
    fee_bps_a: int = 30,
    fee_bps_b: int = 30,
    flash_fee_bps: int = 0,
    max_amount_in: int | None = None,
) -> ArbResult:
    """Return the integer input maximising the exact profit of a two-pool cycle.

    The cycle sends token X into pool A (reserves ``reserve_in_a`` of X,
    ``reserve_out_a`` of Y) and the Y received into pool B (``reserve_in_b`` of Y,
    ``reserve_out_b`` of X). See :func:`optimal_cycle` for the method.

    Examples
    --------
    >>> r = optimal_two_pool_arb(1_000_000, 2_000_000, 1_900_000, 1_000_000)
    >>> r.amount_in > 0 and r.profit > 0
    True
    """
    return optimal_cycle(
        [Hop(reserve_in_a, reserve_out_a, fee_bps_a), Hop(reserve_in_b, reserve_out_b, fee_bps_b)],
        flash_fee_bps=flash_fee_bps,
        max_amount_in=max_amount_in,
    )


def optimal_triangular_arb(
    hops: Sequence[Hop], *, flash_fee_bps: int = 0, max_amount_in: int | None = None
) -> ArbResult:
    """Return the integer input maximising the exact profit of a three-pool cycle.

    Raises
    ------
    InvalidPathError
        If ``hops`` does not have exactly three hops.
    """
    if len(hops) != 3:
        raise InvalidPathError(f"a triangular cycle has 3 hops, got {len(hops)}")
    return optimal_cycle(hops, flash_fee_bps=flash_fee_bps, max_amount_in=max_amount_in)


def optimal_cex_dex_trade(
    reserve_in: int,
    reserve_out: int,
    cex_price: Fraction | int | float | str,
    *,
    side: str = "sell_on_cex",
    cex_fee_bps: float | Fraction = 10,
    fee_bps: int = 30,
    max_amount_in: int | None = None,
) -> ArbResult:
    """Size a CEX-DEX trade against a CEX price with a taker fee.

    Parameters
    ----------
    reserve_in, reserve_out
        The DEX pool's reserves of the token paid in and the token received.
    cex_price
        CEX price of the DEX's *output* token for ``side="sell_on_cex"`` (the bid), or of
        the DEX's *input* token for ``side="buy_on_cex"`` (the ask), in base units of the
        other token per base unit. Must be finite and positive.
    side
        ``"sell_on_cex"``: pay ``amount_in`` on the DEX, sell the output on the CEX at
        ``cex_price * (1 - fee)``; profit in the DEX input token. ``"buy_on_cex"``: buy
        ``amount_in`` of the DEX input token on the CEX at ``cex_price * (1 + fee)`` and
        sell it on the DEX; profit in the DEX output token.
    cex_fee_bps
        CEX taker fee in basis points.
    fee_bps
        DEX pool fee in basis points.
    max_amount_in
        Optional cap (e.g. CEX depth or inventory).

    Returns
    -------
    ArbResult
        Profit in the accounting token's base units.
    """
    price = _as_fraction("cex_price", cex_price)
    fee = (
        Fraction(cex_fee_bps) if not isinstance(cex_fee_bps, float) else Fraction(str(cex_fee_bps))
    )
    if not 0 <= fee < BPS:
        raise AMMError(f"cex_fee_bps must lie in [0, {BPS}), got {cex_fee_bps!r}")
    hop = [Hop(reserve_in, reserve_out, fee_bps)]
    if side == "sell_on_cex":
        return optimal_cycle(hop, out_value=price * (1 - fee / BPS), max_amount_in=max_amount_in)
    if side == "buy_on_cex":
        return optimal_cycle(hop, in_cost=price * (1 + fee / BPS), max_amount_in=max_amount_in)
    raise AMMError(f"side must be 'sell_on_cex' or 'buy_on_cex', got {side!r}")


def screen_cycles(
    reserves_in: Sequence[FloatArray],
    reserves_out: Sequence[FloatArray],
    gammas: Sequence[float | FloatArray],
    *,
    out_value: float | FloatArray = 1.0,
    in_cost: float | FloatArray = 1.0,
    chunk: int = 8_192,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Screen many routes in floats: closed-form optimal input, its profit and the edge.

    Pure array kernel, the float twin of :func:`optimal_cycle`. Each route is a chain
    of hops (one array per hop, one element per route); it is folded into
    ``out(a) = A a / (B + C a)`` and the profit ``k out(a) - q a`` is maximised at
    ``a* = (sqrt(k A B / q) - B) / C``. Routes with no edge get ``a* = 0`` and profit 0.
    Work runs chunk by chunk in reused buffers so the working set stays in cache.

    Parameters
    ----------
    reserves_in, reserves_out
        Per hop, the reserves of the token going in and the token coming out.
    gammas
        Per hop, ``1 - fee`` (0.997 for 30 bps).
    out_value
        ``k``: value of one unit of the last token in the accounting unit.
    in_cost
        ``q``: cost of one unit of input in the accounting unit (1 + flash premium).
    chunk
        Elements per chunk.

    Returns
    -------
    tuple[ndarray, ndarray, ndarray]
        Optimal input, profit at that input (accounting units) and the marginal rate
        ``k A / (q B)`` at zero size, float64.
    """
    hops = len(reserves_in)
    if hops == 0 or len(reserves_out) != hops or len(gammas) != hops:
        raise InvalidPathError(
            "screen_cycles needs the same number (>= 1) of in, out and fee arrays"
        )
    n = np.shape(reserves_in[0])[0]
    amount, profit, rate = np.empty(n), np.empty(n), np.empty(n)
    k_all = np.broadcast_to(np.asarray(out_value, dtype=np.float64), (n,))
    q_all = np.broadcast_to(np.asarray(in_cost, dtype=np.float64), (n,))
    g_all = [np.broadcast_to(np.asarray(g, dtype=np.float64), (n,)) for g in gammas]
    size = max(1, min(chunk, n))
    big_a, big_b, big_c, tmp = (np.empty(size) for _ in range(4))
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        w = stop - start
        a_, b_, c_, t_ = big_a[:w], big_b[:w], big_c[:w], tmp[:w]
        sl = slice(start, stop)
        # first hop: A = g R_out, B = R_in, C = g
        np.multiply(g_all[0][sl], reserves_out[0][sl], out=a_)
        np.copyto(b_, reserves_in[0][sl])
        np.copyto(c_, g_all[0][sl])
        for h in range(1, hops):
            r_in, r_out, g = reserves_in[h][sl], reserves_out[h][sl], g_all[h][sl]
            # C' = R_in C + g A ; B' = R_in B ; A' = g A R_out
            np.multiply(c_, r_in, out=c_)
            np.multiply(a_, g, out=t_)
            np.add(c_, t_, out=c_)
            np.multiply(b_, r_in, out=b_)
            np.multiply(t_, r_out, out=a_)
        k, q = k_all[sl], q_all[sl]
        np.multiply(a_, k, out=a_)  # fold the output value into A
        out_amt, out_pro, out_rate = amount[sl], profit[sl], rate[sl]
        np.multiply(b_, q, out=t_)
        np.divide(a_, t_, out=out_rate)
        # a* = (sqrt(k A B / q) - B) / C, clipped at 0
        np.multiply(a_, b_, out=t_)
        np.divide(t_, q, out=t_)
        np.sqrt(t_, out=t_)
        np.subtract(t_, b_, out=t_)
        np.maximum(t_, 0.0, out=t_)
        np.divide(t_, c_, out=out_amt)
        # profit = k A a / (B + C a) - q a
        np.multiply(c_, out_amt, out=c_)
        np.add(c_, b_, out=c_)
        np.multiply(a_, out_amt, out=a_)
        np.divide(a_, c_, out=out_pro)
        np.multiply(q, out_amt, out=t_)
        np.subtract(out_pro, t_, out=out_pro)
    return amount, profit, rate


def screen_two_pool(
    x_a: FloatArray,
    y_a: FloatArray,
    y_b: FloatArray,
    x_b: FloatArray,
    gamma_a: float | FloatArray = 0.997,
    gamma_b: float | FloatArray = 0.997,
) -> tuple[FloatArray, FloatArray]:
    """Screen many two-pool cycles X -> Y (pool A) -> X (pool B) in floats.

    A thin wrapper of :func:`screen_cycles`; returns the optimal input and its profit
    in X units.
    """
    amount, profit, _ = screen_cycles([x_a, y_b], [y_a, x_b], [gamma_a, gamma_b])
    return amount, profit
