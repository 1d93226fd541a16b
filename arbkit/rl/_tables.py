"""Everything the arbitrage env needs that depends only on the history, computed once.

The env's step is array look-ups into an :class:`EnvTables` and the one replay
(:class:`arbkit.execution.Replay`): its candidates, its gap rule and its outcome cells,
shared with the backtest.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt
import polars as pl

from arbkit.errors import ConfigError, DataError
from arbkit.execution import REASONS, ExecutionConfig, Replay
from arbkit.market.history import MarketHistory
from arbkit.market.sim import simulate_market
from arbkit.opportunities import ScanConfig
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


@lru_cache(maxsize=2)
def default_history(n_blocks: int = DEFAULT_HISTORY_BLOCKS) -> MarketHistory:
    """Return the env's default history: ``simulate_market(seed=0)``, cached per process."""
    return simulate_market(seed=0, n_blocks=n_blocks)


def _scaled_gas(units: int, multiplier: float) -> int:
    return math.ceil(units * multiplier)


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
    cand_edge: FloatArray  # each replay candidate's normalised edge (observation 0)
    cand_net: FloatArray  # each replay candidate's expected net profit (quote)
    mark: FloatArray  # quote per whole base token
    # spot orders (the replay's, arbkit.execution.spot): positions count lot steps
    step_units: int  # base units of one lot step
    step_base: float  # whole base tokens of one lot step
    mark_step: FloatArray  # quote per lot step
    lot_steps: FloatArray  # one spot lot, in steps (integer-valued)
    lot_base: FloatArray  # the same in whole base tokens
    lot_units: tuple[int, ...]  # the same in base units
    buy_ok: BoolArray
    buy_pnl: FloatArray  # lot value - quote paid, at t + 1
    buy_gas: FloatArray
    buy_amount_in: tuple[int, ...]  # quote base units paid for the lot
    sell_ok: BoolArray
    sell_pnl: FloatArray  # quote received - lot value, at t + 1
    sell_gas: FloatArray
    sell_amount_out: tuple[int, ...]  # quote base units received


def build_tables(history: MarketHistory, replay: Replay, config: ArbitrageEnvConfig) -> EnvTables:
    """Precompute features, spot trade outcomes and each candidate's observed edge."""
    model = replay.model
    scfg = model.scan_config
    n = history.n_blocks
    quote, native = scfg.quote_token, scfg.native_token
    pool_id = config.spot_pool or replay.spot_pool(native)
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

    # spot lots: the replay's spot orders, trade_size_quote of base at the block's price
    fills = replay.spot_fills(
        config.trade_size_quote,
        pool=pool_id,
        base=base,
        gas_units=_scaled_gas(config.swap_gas_units, config.gas_multiplier),
    )
    blocks = history.block_numbers
    step_base = fills.step_units / 10.0**dec_base

    # features (causal: block t uses data up to t); observation 0 is set at each step
    # from the best candidate the replay leaves free
    cands = replay.candidates
    with np.errstate(divide="ignore", invalid="ignore"):
        cand_edge_bps = np.nan_to_num(
            cands["net_profit_quote"].to_numpy() / cands["notional_quote"].to_numpy() * 1e4
        )
    cand_edge = encode_states(
        edge_bps=cand_edge_bps,
        position_frac=0.0,
        portfolio_health=1.0,
        volatility_bps=np.zeros(cands.height),
        gas_percentile=np.zeros(cands.height),
        liquidity_quote=np.zeros(cands.height),
        scales=config.state_scales,
    )[:, 0].astype(np.float64)
    first = replay.block_candidates[:, 0]
    edge = np.append(cand_edge_bps, 0.0)[first]
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
        cand_edge=cand_edge,
        cand_net=replay.cand_net,
        mark=np.asarray(mark, dtype=np.float64),
        step_units=fills.step_units,
        step_base=step_base,
        mark_step=np.asarray(unit_base * float(fills.step_units), dtype=np.float64),
        lot_steps=fills.lot_steps,
        lot_base=fills.lot_steps * step_base,
        lot_units=fills.lot_units,
        buy_ok=fills.buy_ok,
        buy_pnl=fills.buy_pnl_quote,
        buy_gas=fills.buy_gas_quote,
        buy_amount_in=fills.buy_amount_in,
        sell_ok=fills.sell_ok,
        sell_pnl=fills.sell_pnl_quote,
        sell_gas=fills.sell_gas_quote,
        sell_amount_out=fills.sell_amount_out,
    )


# Tables depend only on the history and the options; envs built alike share them.
_CACHE: weakref.WeakKeyDictionary[MarketHistory, dict[str, tuple[EnvTables, Replay]]] = (
    weakref.WeakKeyDictionary()
)


def make_replay(
    history: MarketHistory,
    config: ArbitrageEnvConfig,
    execution_config: ExecutionConfig,
    scan_config: ScanConfig,
    candidates: pl.DataFrame | None,
) -> Replay:
    """Return the env's replay: the backtest's, with the gas of every trade scaled."""

    def build(table: pl.DataFrame | None) -> Replay:
        return Replay(
            history,
            execution=execution_config,
            scan=scan_config,
            latency_ms=config.latency_ms,
            priority_fee_wei=config.priority_fee_wei,
            candidates=table,
            max_candidates=config.max_candidates,
        )

    replay = build(candidates)
    if config.gas_multiplier == 1.0:
        return replay
    return build(
        replay.candidates.with_columns(
            pl.col("gas_units").map_elements(
                lambda g: _scaled_gas(int(g), config.gas_multiplier), return_dtype=pl.Int64
            )
        )
    )


def get_tables(
    history: MarketHistory,
    config: ArbitrageEnvConfig,
    execution_config: ExecutionConfig,
    scan_config: ScanConfig,
    candidates: pl.DataFrame | None,
) -> tuple[EnvTables, Replay]:
    """Return the (cached, when no candidates table is given) tables and replay."""
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
    replay = make_replay(history, config, execution_config, scan_config, candidates)
    if config.flash_outcomes == "cells":
        replay.cells  # noqa: B018 - build the outcome cells once, with the tables
    result = (build_tables(history, replay, config), replay)
    if candidates is None:
        per_history[key] = result
    return result
