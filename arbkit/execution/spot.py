"""Spot orders in the one replay: one lot of the base token, bought or sold on one pool.

Every harness that trades spot (the backtest's ``Order(side=...)``, the env's ``buy``
and ``sell``, the dry-run) goes through :func:`spot_fills`, so that the same spot
actions cost the same everywhere:

- **The lot.** An order worth ``amount_quote`` at block ``t`` is
  ``floor(amount_quote / price_t)`` of the base token, rounded down to whole steps of
  ``10**-LOT_DECIMALS`` base token (:func:`lot_step_units`), so that positions add up
  exactly in integers (the backtest) and in integer-valued float64 (the env).
- **Buy** is exact output, as the router's ``swapTokensForExactTokens``: the pool sends
  exactly the lot and takes ``getAmountIn(lot)`` of the quote token.
- **Sell** is exact input of the lot, as ``swapExactTokensForTokens``.
- Both land at the top of block ``t + 1`` on the state at the end of block ``t``, pay
  ``gas_units * (base_fee + tip)`` of block ``t + 1``, and are valued at block
  ``t + 1``'s prices (:meth:`ExecutionModel.execute_swaps`).
- Positions are long only: a sell of more than the holding is refused, never resized
  (the portfolio holds the quote token and borrows nothing).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from arbkit.errors import ConfigError, DataError
from arbkit.execution.model import ExecutionModel
from arbkit.market.amm import get_amount_in
from arbkit.market.history import MarketHistory

__all__ = ["LOT_DECIMALS", "SPOT_GAS_UNITS", "SpotFills", "lot_step_units", "pick_spot_pool"]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

LOT_DECIMALS = 9
"""A lot is a whole number of ``10**-LOT_DECIMALS`` base tokens (a gwei of ETH)."""

SPOT_GAS_UNITS = 110_000
"""Gas of one spot swap through the router."""


def lot_step_units(decimals: int) -> int:
    """Return the base units of one lot step of a token with ``decimals`` decimals."""
    return int(10 ** max(int(decimals) - LOT_DECIMALS, 0))


def pick_spot_pool(history: MarketHistory, quote: str, base: str) -> str:
    """Return the spot pool of a pair: the lowest fee, then the deepest in quote at the start.

    Raises
    ------
    ConfigError
        When the history has no ``base``/``quote`` pool.
    """
    r0, r1 = history.reserves_float()
    pairs = [
        (p.fee_bps, -float(r0[0, i] if p.token0 == quote else r1[0, i]), p.pool)
        for i, p in enumerate(history.pools)
        if {p.token0, p.token1} == {quote, base}
    ]
    if not pairs:
        raise ConfigError(
            f"spot_pool: the history has no {quote}/{base} pool; name one with spot_pool="
        )
    return min(pairs)[2]


@dataclass(frozen=True)
class SpotFills:
    """One-lot spot buys and sells at a set of decision blocks (one entry per block).

    Attributes
    ----------
    pool, base_token, quote_token
        Where and what is traded.
    step_units
        Base units of one lot step (:func:`lot_step_units`).
    positions
        Decision blocks, as positions in the history.
    lot_steps
        The lot in steps (integer-valued float64, exact).
    lot_units
        The lot in base units (Python ints).
    buy_ok, sell_ok
        Whether the buy or sell of the lot executes (a lot of 0, a lot the pool cannot
        give, or the history's last block: no).
    buy_amount_in
        Quote units a buy pays (``getAmountIn(lot)``), 0 when not ok.
    sell_amount_out
        Quote units a sell receives, 0 when not ok.
    buy_pnl_quote, sell_pnl_quote
        What the swap gains against block ``t + 1``'s price, before gas: the value
        received minus the value paid (the fee and the slippage make it negative unless
        the pool was off the market).
    buy_gas_quote, sell_gas_quote
        Gas paid, in quote.
    """

    pool: str
    base_token: str
    quote_token: str
    step_units: int
    positions: npt.NDArray[np.int64]
    lot_steps: FloatArray
    lot_units: tuple[int, ...]
    buy_ok: BoolArray
    buy_amount_in: tuple[int, ...]
    buy_pnl_quote: FloatArray
    buy_gas_quote: FloatArray
    sell_ok: BoolArray
    sell_amount_out: tuple[int, ...]
    sell_pnl_quote: FloatArray
    sell_gas_quote: FloatArray


def spot_fills(
    model: ExecutionModel,
    pool: str,
    base: str,
    amount_quote: float | npt.ArrayLike,
    positions: npt.ArrayLike,
    *,
    priority_fee_wei: int,
    gas_units: int = SPOT_GAS_UNITS,
) -> SpotFills:
    """Return the outcomes of buying and of selling one lot at each decision block.

    Parameters
    ----------
    model
        The execution model of the history.
    pool
        The spot pool (it must trade ``base`` against the scan's quote token).
    base
        The token bought and sold.
    amount_quote
        What one lot is worth in quote at its decision block (a scalar or one per block).
    positions
        Decision blocks, as positions in the history.
    priority_fee_wei
        Tip per gas.
    gas_units
        Gas of one swap.
    """
    history = model.history
    quote = model.scan_config.quote_token
    p = history.pool_index.get(pool)
    if p is None:
        raise ConfigError(f"spot_pool: {pool!r} is not a pool of the history")
    info = history.pools[p]
    if {info.token0, info.token1} != {quote, base}:
        raise ConfigError(
            f"spot_pool: {pool!r} ({info.token0}/{info.token1}) does not trade {base!r} "
            f"against the quote token {quote!r}"
        )
    pos = np.asarray(positions, dtype=np.int64).ravel()
    if pos.size and (pos.min() < 0 or pos.max() >= history.n_blocks):
        raise DataError("spot order: a decision block is outside the history")
    size = np.broadcast_to(np.asarray(amount_quote, dtype=np.float64), pos.shape)
    if np.any(~np.isfinite(size)) or np.any(size < 0):
        raise ConfigError("spot order: amount_quote must be a finite number >= 0")
    dec = model.scan_config.token_decimals[base]
    step = lot_step_units(dec)
    unit_base = model.unit_price(base)
    price_step = unit_base[pos] * float(step)
    with np.errstate(divide="ignore", invalid="ignore"):
        steps = np.floor(np.nan_to_num(size / price_step, nan=0.0, posinf=0.0, neginf=0.0))
    lots = [int(s) * step for s in steps.tolist()]
    r0, r1 = history.reserves()
    q_is_0 = info.token0 == quote
    r_quote = (r0 if q_is_0 else r1)[pos, p]
    r_base = (r1 if q_is_0 else r0)[pos, p]
    fee = info.fee_bps
    last = history.n_blocks - 1
    amount_in = [
        get_amount_in(lot, int(rq), int(rb), fee) if 0 < lot < int(rb) and t < last else 0
        for lot, rq, rb, t in zip(
            lots, r_quote.tolist(), r_base.tolist(), pos.tolist(), strict=True
        )
    ]
    blocks = history.block_numbers[pos]
    buy = model.execute_swaps(
        pool, quote, amount_in, blocks, priority_fee_wei=priority_fee_wei, gas_units=gas_units
    )
    # exact output: the pool sends the lot (what getAmountIn's rounding adds stays in it)
    buy_ok = np.asarray(buy.executed, dtype=bool) & np.asarray(
        [int(o) >= lot for o, lot in zip(buy.amount_out.tolist(), lots, strict=True)], dtype=bool
    )
    inc = np.minimum(pos + 1, last)
    lot_value = np.asarray(lots, dtype=np.float64) * unit_base[inc]
    sell = model.execute_swaps(
        pool, base, lots, blocks, priority_fee_wei=priority_fee_wei, gas_units=gas_units
    )
    sell_ok = np.asarray(sell.executed, dtype=bool)
    return SpotFills(
        pool=pool,
        base_token=base,
        quote_token=quote,
        step_units=step,
        positions=pos,
        lot_steps=np.asarray(steps, dtype=np.float64),
        lot_units=tuple(lots),
        buy_ok=buy_ok,
        buy_amount_in=tuple(int(a) if ok else 0 for a, ok in zip(amount_in, buy_ok, strict=True)),
        buy_pnl_quote=np.where(buy_ok, lot_value - buy.value_in_quote, 0.0),
        buy_gas_quote=np.where(buy_ok, buy.gas_paid_quote, 0.0),
        sell_ok=sell_ok,
        sell_amount_out=tuple(
            int(a) if ok else 0 for a, ok in zip(sell.amount_out.tolist(), sell_ok, strict=True)
        ),
        sell_pnl_quote=np.where(sell_ok, sell.value_out_quote - lot_value, 0.0),
        sell_gas_quote=np.where(sell_ok, sell.gas_paid_quote, 0.0),
    )
