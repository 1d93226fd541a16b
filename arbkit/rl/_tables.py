"""Everything the arbitrage env needs that depends only on the history, computed once.

The env's step is array lookups into an :class:`EnvTables`; the random part of an
episode (the execution model's draws for the flash trades) goes through
:meth:`FlashOracle.outcomes`, which asks :meth:`ExecutionModel.execute_batch` for many
episode windows at once.
"""

from __future__ import annotations

import math
import warnings
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt
import polars as pl

from arbkit.errors import ConfigError, DataError
from arbkit.execution import REASONS, ExecutionConfig, ExecutionModel
from arbkit.market.amm import get_amount_in
from arbkit.market.history import MarketHistory
from arbkit.market.sim import simulate_market
from arbkit.opportunities import ScanConfig, scan_blocks
from arbkit.rl.config import ArbitrageEnvConfig
from arbkit.rl.state import encode_states

FloatArray = npt.NDArray[np.float64]
F32Array = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
Int8Array = npt.NDArray[np.int8]

FLASH_OUTCOMES: tuple[str, ...] = (*REASONS, "no_candidate")
"""Codes of ``info["flash_outcome"]``: an index into this tuple, or -1 when no flash_arb."""
NO_CANDIDATE = len(REASONS)

DEFAULT_HISTORY_BLOCKS = 3_000
_CANDIDATE_COLUMNS = (
    "block",
    "route",
    "kind",
    "symbol",
    "start_token",
    "flash_source",
    "amount_in",
    "edge_bps",
    "gas_units",
)


@lru_cache(maxsize=2)
def default_history(n_blocks: int = DEFAULT_HISTORY_BLOCKS) -> MarketHistory:
    """Return the env's default history: ``simulate_market(seed=0)``, cached per process."""
    return simulate_market(seed=0, n_blocks=n_blocks)


def _scaled_gas(units: int, multiplier: float) -> int:
    return math.ceil(units * multiplier)


def best_candidates(
    history: MarketHistory, scan_config: ScanConfig, candidates: pl.DataFrame | None
) -> pl.DataFrame:
    """Return one candidate per block (the highest expected net profit), scanning if needed."""
    if candidates is None:
        candidates = scan_blocks(
            history.pool_states,
            base_fees=history.blocks.select("block", "base_fee_wei"),
            cex_quotes=history.cex_quotes,
            config=scan_config.model_copy(update={"max_candidates": 1}),
        )
    missing = [
        c
        for c in (*_CANDIDATE_COLUMNS, "net_profit_quote", "notional_quote")
        if c not in candidates.columns
    ]
    if missing:
        raise DataError(f"candidates: missing column(s) {missing} (use scan_blocks' table)")
    first, last = int(history.block_numbers[0]), int(history.block_numbers[-1])
    outside = candidates.filter(~pl.col("block").is_between(first, last))
    if outside.height:
        raise DataError(
            f"candidates: block {outside['block'][0]} is outside the history [{first}, {last}]"
        )
    return (
        candidates.with_row_index("_row")
        .sort(["block", "net_profit_quote", "_row"], descending=[False, True, False])
        .unique("block", keep="first", maintain_order=True)
        .drop("_row")
    )


def _pick_spot_pool(history: MarketHistory, quote: str, native: str) -> str:
    r0, r1 = history.reserves_float()
    pairs = [
        (p.fee_bps, -float(r0[0, i] if p.token0 == quote else r1[0, i]), p.pool)
        for i, p in enumerate(history.pools)
        if {p.token0, p.token1} == {quote, native}
    ]
    if not pairs:
        raise ConfigError(
            f"spot_pool: the history has no {quote}/{native} pool; name one with spot_pool="
        )
    return min(pairs)[2]


def _rolling_volatility_bps(mark: FloatArray, window: int) -> FloatArray:
    with np.errstate(divide="ignore", invalid="ignore"):
        ret = np.diff(np.log(mark), prepend=np.nan)
    vol = (
        pl.Series(ret)
        .fill_nan(None)
        .rolling_std(window_size=window, min_samples=2)
        .fill_null(0.0)
        .to_numpy()
    )
    return np.asarray(vol, dtype=np.float64) * 1e4


def _gas_percentile(base_fee: FloatArray, window: int) -> FloatArray:
    n = base_fee.size
    padded = np.concatenate([np.full(window - 1, np.nan), base_fee])
    win = np.lib.stride_tricks.sliding_window_view(padded, window)  # (n, window), trailing
    valid = np.isfinite(win)
    at_most = (win <= base_fee[:, None]) & valid
    return np.asarray(at_most.sum(axis=1) / np.maximum(valid.sum(axis=1), 1), dtype=np.float64)[:n]


@dataclass(frozen=True, eq=False)
class EnvTables:
    """Per-block arrays of one history (position ``t`` = the ``t``-th block).

    Spot arrays describe a trade decided at block ``t`` (landing at ``t + 1``); features
    at ``t`` use data up to ``t`` only.
    """

    n_blocks: int
    block_numbers: IntArray
    spot_pool: str
    base_token: str
    quote_token: str
    features: F32Array  # (n, 6): normalised state with position and health set to 0 / 1
    edge_bps: FloatArray
    volatility_bps: FloatArray
    gas_percentile: FloatArray
    liquidity_quote: FloatArray
    expected_net_quote: FloatArray  # best candidate's expected net profit, 0 when none
    mark: FloatArray  # quote per whole base token
    lot_base: FloatArray  # whole base tokens of one spot trade
    lot_units: tuple[int, ...]  # the same in base units
    buy_ok: BoolArray
    buy_flow: FloatArray  # -(quote paid), valued at t + 1
    buy_gas: FloatArray
    buy_amount_in: tuple[int, ...]  # quote base units paid for the lot
    sell_ok: BoolArray
    sell_flow: FloatArray  # quote received, valued at t + 1
    sell_gas: FloatArray
    candidate_row: IntArray  # row of the block's candidate in ``candidates``, -1 if none
    candidates: pl.DataFrame


def build_tables(
    history: MarketHistory,
    model: ExecutionModel,
    config: ArbitrageEnvConfig,
    candidates: pl.DataFrame | None,
) -> EnvTables:
    """Precompute features, spot trade outcomes and the per-block best candidate."""
    scfg = model.scan_config
    n = history.n_blocks
    quote, native = scfg.quote_token, scfg.native_token
    pool_id = config.spot_pool or _pick_spot_pool(history, quote, native)
    p = history.pool_index.get(pool_id)
    if p is None:
        raise ConfigError(f"spot_pool: {pool_id!r} is not a pool of the history")
    info = history.pools[p]
    if quote not in (info.token0, info.token1):
        raise ConfigError(
            f"spot_pool: {pool_id!r} ({info.token0}/{info.token1}) does not trade the quote "
            f"token {quote!r}"
        )
    base = info.token1 if info.token0 == quote else info.token0
    dec_base = scfg.token_decimals[base]
    unit_base = model.unit_price(base)
    mark = unit_base * 10.0**dec_base
    lo = config.warmup
    if not np.all(np.isfinite(mark[lo:])):
        bad = lo + int(np.flatnonzero(~np.isfinite(mark[lo:]))[0])
        raise DataError(f"history: no price for {base!r} at block {history.block_numbers[bad]}")

    # spot lots: trade_size_quote of base at the decision block's price
    with np.errstate(divide="ignore", invalid="ignore"):
        lot_f = np.floor(np.nan_to_num(config.trade_size_quote / unit_base, nan=0.0, posinf=0.0))
    lots = [int(x) for x in lot_f.tolist()]
    r0, r1 = history.reserves()
    q_is_0 = info.token0 == quote
    r_quote = r0[:, p] if q_is_0 else r1[:, p]
    r_base = r1[:, p] if q_is_0 else r0[:, p]
    amount_in = [
        get_amount_in(lot, int(rq), int(rb), info.fee_bps) if 0 < lot < int(rb) else 0
        for lot, rq, rb in zip(lots, r_quote.tolist(), r_base.tolist(), strict=True)
    ]
    gas_units = _scaled_gas(config.swap_gas_units, config.gas_multiplier)
    blocks = history.block_numbers
    buy = model.execute_swaps(pool_id, quote, amount_in, blocks, gas_units=gas_units)
    got = np.asarray(
        [int(o) >= lot for o, lot in zip(buy.amount_out.tolist(), lots, strict=True)], dtype=bool
    )
    buy_ok = buy.executed & got
    sell = model.execute_swaps(pool_id, base, lots, blocks, gas_units=gas_units)
    sell_ok = np.asarray(sell.executed, dtype=bool)

    # features (causal: block t uses data up to t)
    best = best_candidates(history, scfg, candidates)
    row_of = np.full(n, -1, dtype=np.int64)
    pos = best["block"].to_numpy() - blocks[0]
    row_of[pos] = np.arange(best.height)
    net = np.zeros(n)
    edge = np.zeros(n)
    net[pos] = best["net_profit_quote"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        edge[pos] = np.nan_to_num(
            best["net_profit_quote"].to_numpy() / best["notional_quote"].to_numpy() * 1e4
        )
    vol = _rolling_volatility_bps(mark, config.volatility_window_blocks)
    gas_pct = _gas_percentile(history.base_fee_wei.astype(np.float64), config.gas_window_blocks)
    r0f, r1f = history.reserves_float()
    depth = np.nan_to_num(
        r0f[:, p] * model.unit_price(info.token0) + r1f[:, p] * model.unit_price(info.token1)
    )
    features = encode_states(
        edge_bps=edge,
        position_frac=0.0,
        portfolio_health=1.0,
        volatility_bps=vol,
        gas_percentile=gas_pct,
        liquidity_quote=depth,
        scales=config.state_scales,
    )
    cand = best.select(_CANDIDATE_COLUMNS).with_columns(
        pl.col("gas_units").map_elements(
            lambda g: _scaled_gas(int(g), config.gas_multiplier), return_dtype=pl.Int64
        )
    )
    return EnvTables(
        n_blocks=n,
        block_numbers=blocks,
        spot_pool=pool_id,
        base_token=base,
        quote_token=quote,
        features=features,
        edge_bps=edge,
        volatility_bps=vol,
        gas_percentile=gas_pct,
        liquidity_quote=depth,
        expected_net_quote=net,
        mark=np.asarray(mark, dtype=np.float64),
        lot_base=lot_f / 10.0**dec_base,
        lot_units=tuple(lots),
        buy_ok=buy_ok,
        buy_flow=np.where(buy_ok, -buy.value_in_quote, 0.0),
        buy_gas=np.where(buy_ok, buy.gas_paid_quote, 0.0),
        buy_amount_in=tuple(amount_in),
        sell_ok=sell_ok,
        sell_flow=np.where(sell_ok, sell.value_out_quote, 0.0),
        sell_gas=np.where(sell_ok, sell.gas_paid_quote, 0.0),
        candidate_row=row_of,
        candidates=cand,
    )


_ONE_MINUS = float(np.nextafter(1.0, 0.0))
_ONE_MINUS_BITS = int(np.float64(_ONE_MINUS).view(np.int64))


def _first_true(pred: Callable[[FloatArray], BoolArray], size: int) -> FloatArray:
    """Smallest ``u`` in ``[0, 1)`` where a monotone (False..True) predicate holds, per row.

    Bisection over the bit patterns of the doubles (ordered like the values for u >= 0),
    so the result is exact; 1.0 where the predicate never holds.
    """
    lo = np.zeros(size, dtype=np.int64)
    hi = np.full(size, _ONE_MINUS_BITS, dtype=np.int64)
    at_zero = pred(np.zeros(size))
    at_top = pred(np.full(size, _ONE_MINUS))
    result = np.where(at_zero, 0.0, np.where(at_top, np.nan, 1.0))
    active = ~at_zero & at_top
    while active.any():
        mid = lo + (hi - lo) // 2
        p = pred(mid.view(np.float64))
        hi = np.where(active & p, mid, hi)
        lo = np.where(active & ~p, mid, lo)
        active &= hi - lo > 1
    return np.where(np.isnan(result), hi.view(np.float64), result)


class FlashOracle:
    """Outcomes of the flash trades of episode windows, from the one execution model.

    The model draws two uniforms per trade: ``u_incl`` sets the inclusion delay (a
    step function, non-increasing in ``u_incl``; past ``max_delay_blocks`` the trade is
    not included) and ``u_rival`` whether a rival lands first (below a threshold that
    depends on the delay). Within a cell of that grid the outcome is fixed. In
    ``"cells"`` mode the oracle asks the model, once, for the cell boundaries of every
    candidate (exact bisection with :meth:`ExecutionModel.execute_batch`) and for the
    outcome in every cell, checks the result against direct calls on random draws, and
    then maps draws to outcomes with array operations. ``"batch"`` mode calls
    ``execute_batch`` on every window.
    """

    def __init__(self, model: ExecutionModel, tables: EnvTables, mode: str = "cells") -> None:
        self.model = model
        self.tables = tables
        self._codes = {r: i for i, r in enumerate(REASONS)}
        self.max_delay = model.config.max_delay_blocks
        self.mode = "batch"
        if mode == "cells" and tables.candidates.height and not model.config.revert_protection:
            self._build_cells()
            if self._verify(np.random.default_rng(0), reps=4):
                self.mode = "cells"
            else:
                warnings.warn(
                    "ArbitrageEnv: the execution model's outcomes do not split into "
                    "delay/rival cells as expected; using execute_batch per episode",
                    RuntimeWarning,
                    stacklevel=3,
                )

    # -- direct calls ----------------------------------------------------------------------
    def _call(self, rows: IntArray, draws: FloatArray) -> tuple[FloatArray, Int8Array, FloatArray]:
        """Return net profit, outcome code and delay (inf: not included) of candidate rows."""
        trades = self.tables.candidates[rows]
        out = self.model.execute_batch(trades, draws=draws)
        code = np.asarray([self._codes[r] for r in out["reason"].to_list()], dtype=np.int8)
        inc = out["included_block"].fill_null(-1).to_numpy()
        delay = np.where(
            inc >= 0, (inc - trades["block"].to_numpy() - 1).astype(np.float64), np.inf
        )
        return out["net_profit_quote"].to_numpy(), code, delay

    # -- cells -----------------------------------------------------------------------------
    def _build_cells(self) -> None:
        m = self.tables.candidates.height
        d = self.max_delay
        rows = np.arange(m, dtype=np.int64)
        rep = np.tile(rows, d + 1)
        level = np.repeat(np.arange(d + 1), m)  # boundary j = level + 1

        def included_within(u: FloatArray) -> BoolArray:
            _, _, delay = self._call(rep, np.column_stack([u, np.full(u.size, _ONE_MINUS)]))
            return np.asarray(delay <= level, dtype=np.bool_)

        # b[:, j - 1]: smallest u_incl whose delay is at most j - 1 (u < b_j counts a block)
        b = _first_true(included_within, rep.size).reshape(d + 1, m).T
        self._b = np.ascontiguousarray(b)
        u_cell = b.T.reshape(-1)  # cell k is [b[:, k], b[:, k - 1]); its lower end is in it

        def no_rival(u: FloatArray) -> BoolArray:
            _, code, _ = self._call(rep, np.column_stack([u_cell, u]))
            return np.asarray(code != self._codes["competitor"], dtype=np.bool_)

        c = _first_true(no_rival, rep.size)
        self._c = np.ascontiguousarray(c.reshape(d + 1, m).T)
        # outcomes: cell 2k (rival), 2k + 1 (no rival), 2(d + 1) (not included)
        u1_rival = np.zeros(rep.size)
        u1_clear = np.minimum(c, _ONE_MINUS)
        all_rows = np.concatenate([rep, rep, rows])
        draws = np.column_stack(
            [
                np.concatenate([u_cell, u_cell, np.zeros(m)]),
                np.concatenate([u1_rival, u1_clear, np.full(m, _ONE_MINUS)]),
            ]
        )
        net, code, _ = self._call(all_rows, draws)
        cell_net = np.empty((m, 2 * (d + 1) + 1))
        cell_code = np.empty((m, 2 * (d + 1) + 1), dtype=np.int8)
        n_rep = rep.size
        for k in range(d + 1):
            sl = slice(k * m, (k + 1) * m)
            cell_net[:, 2 * k] = net[:n_rep][sl]
            cell_code[:, 2 * k] = code[:n_rep][sl]
            cell_net[:, 2 * k + 1] = net[n_rep : 2 * n_rep][sl]
            cell_code[:, 2 * k + 1] = code[n_rep : 2 * n_rep][sl]
        cell_net[:, -1] = net[2 * n_rep :]
        cell_code[:, -1] = code[2 * n_rep :]
        self._cell_net = cell_net
        self._cell_code = cell_code

    def _lookup(self, rows: IntArray, draws: FloatArray) -> tuple[FloatArray, Int8Array]:
        d = self.max_delay
        delay = (draws[:, 0:1] < self._b[rows]).sum(axis=1)
        k = np.minimum(delay, d)
        clear = draws[:, 1] >= self._c[rows, k]
        cell = np.where(delay <= d, 2 * k + clear, 2 * (d + 1))
        return self._cell_net[rows, cell], self._cell_code[rows, cell]

    def _verify(self, rng: np.random.Generator, reps: int) -> bool:
        m = self.tables.candidates.height
        rows = np.tile(np.arange(m, dtype=np.int64), reps)
        draws = rng.random((rows.size, 2))
        # also probe each boundary and its neighbour below
        for k in range(self.max_delay + 1):
            for u0 in (self._b[:, k], np.nextafter(self._b[:, k], -1.0)):
                u0c = np.clip(u0, 0.0, _ONE_MINUS)
                for u1 in (self._c[:, k], np.nextafter(self._c[:, k], -1.0)):
                    u1c = np.clip(u1, 0.0, _ONE_MINUS)
                    rows = np.concatenate([rows, np.arange(m)])
                    draws = np.concatenate([draws, np.column_stack([u0c, u1c])])
        net, code, _ = self._call(rows, draws)
        net2, code2 = self._lookup(rows, draws)
        return bool(np.array_equal(net, net2) and np.array_equal(code, code2))

    # -- API -------------------------------------------------------------------------------
    def outcomes(self, starts: IntArray, draws: FloatArray) -> tuple[FloatArray, Int8Array]:
        """Return net profit (quote) and outcome code of flash_arb at every window block.

        Parameters
        ----------
        starts
            Window starts, shape ``(k,)``.
        draws
            The execution model's uniforms ``(u_incl, u_rival)``, shape ``(k, window, 2)``:
            one pair per block of each window, used by the block's candidate if it has one.
        """
        k, window = draws.shape[0], draws.shape[1]
        net = np.zeros((k, window))
        code = np.full((k, window), NO_CANDIDATE, dtype=np.int8)
        offsets = np.arange(window, dtype=np.int64)
        # chunks keep the temporaries in cache; batch mode wants one model call
        chunk = max(1, (1 << 16) // window) if self.mode == "cells" else max(k, 1)
        for lo in range(0, k, chunk):
            hi = min(lo + chunk, k)
            rows = self.tables.candidate_row[starts[lo:hi, None] + offsets]
            has = rows >= 0
            if not has.any():
                continue
            d = draws[lo:hi][has]
            if self.mode == "cells":
                n_, c_ = self._lookup(rows[has], d)
            else:
                n_, c_, _ = self._call(rows[has], d)
            net[lo:hi][has] = n_
            code[lo:hi][has] = c_
        return net, code


# Tables depend only on the history and the options; envs built alike share them.
_CACHE: weakref.WeakKeyDictionary[MarketHistory, dict[str, tuple[EnvTables, FlashOracle]]] = (
    weakref.WeakKeyDictionary()
)


def get_tables(
    history: MarketHistory,
    config: ArbitrageEnvConfig,
    execution_config: ExecutionConfig,
    scan_config: ScanConfig,
    candidates: pl.DataFrame | None,
) -> tuple[EnvTables, FlashOracle]:
    """Return the (cached, when no candidates table is given) tables and flash oracle."""
    key = "|".join(
        (
            config.model_dump_json(exclude={"window_blocks", "prefetch_episodes"}),
            execution_config.model_dump_json(),
            scan_config.model_dump_json(),
        )
    )
    per_history = _CACHE.setdefault(history, {}) if candidates is None else {}
    hit = per_history.get(key)
    if hit is not None:
        return hit
    model = ExecutionModel(history, execution_config, scan_config)
    tables = build_tables(history, model, config, candidates)
    result = (tables, FlashOracle(model, tables, config.flash_outcomes))
    if candidates is None:
        per_history[key] = result
    return result
