"""Seeded, calibrated block-by-block market simulator.

:func:`simulate_market` produces a :class:`~arbkit.market.history.MarketHistory` of 12 s
blocks with:

- **CEX mid** of ETH in USD with regime switching (``stable``, ``volatile``, ``trending``;
  a Markov chain with per-block switching probabilities), Gaussian log returns whose
  volatility and drift depend on the regime, and Poisson jumps. USDT trades at a
  mean-reverting rate around 1 USDC. Quotes ``ETH/USDC`` and ``ETH/USDT`` are published
  every block with a bid/ask spread.
- **Pools**: three pairs (USDC/WETH, WETH/USDT, USDC/USDT), each on two 30 bps Uniswap V2
  style venues and a 5 bps venue (a constant-product stand-in for a concentrated
  Uniswap V3 pool, its depth being the virtual depth near the price). Reserves are exact
  integers and every swap goes through the Uniswap V2 integer formula.
- **Noise order flow** on every pool: a Poisson number of swaps per block, random side,
  log-normal size as a share of the pool.
- **Competing arbitrageurs** who close the gap between a pool and the CEX only with
  latency: when a pool's price is outside its fee band by more than their minimum edge,
  one of them arrives in the block with a probability that grows with the excess, and
  trades the pool back to the band edge (leaving a small residual). Their priority fee
  and coinbase bribe per block are drawn log-normal (``competitor_tip_wei``,
  ``competitor_bribe_wei`` in the blocks table), higher in volatile regimes.
- **EIP-1559 base fee** from simulated gas use: the block's gas-used share follows a
  persistent (AR(1) in logit space) demand process plus the gas of the swaps and
  arbitrages simulated in the block; each next base fee is computed exactly with
  :func:`arbkit.market.gas.next_base_fee`.
- **Aqua makers** who ship strategies (``Shipped``), are traded through (a ``Pushed`` of
  the taker's token and a ``Pulled`` of the maker's token, priced at the CEX mid less the
  strategy's spread) and dock them (``Docked``).

Every random draw comes from children of ``np.random.SeedSequence(seed)``; the same seed
and params give a byte-identical history (and files, see
:meth:`~arbkit.market.history.MarketHistory.save`). Defaults are calibrated to the real
data in ``../shared/data/real``; ``reports/calibration/`` compares them side by side.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from arbkit.errors import ConfigError
from arbkit.market.gas import next_base_fee
from arbkit.market.history import MarketHistory, empty_swaps
from arbkit.market.tables import (
    AQUA_EVENTS_SCHEMA,
    BLOCKS_SCHEMA,
    CEX_QUOTES_SCHEMA,
    INT,
    POOL_STATES_SCHEMA,
    SWAPS_SCHEMA,
)
from arbkit.market.tokens import TOKEN_DECIMALS

__all__ = ["REGIMES", "PoolSpec", "SimParams", "simulate_market"]

REGIMES = ("stable", "volatile", "trending")
_SIM_TOKENS = ("USDC", "USDT", "WETH")  # the tokens the simulator has USD price paths for
FloatArray = npt.NDArray[np.float64]


class PoolSpec(BaseModel):
    """One simulated pool.

    Parameters
    ----------
    venue
        Venue name; the pool id is ``"{venue}:{token0}-{token1}"``.
    token0, token1
        Tokens (USDC, USDT or WETH).
    fee_bps
        Swap fee.
    depth_usd
        Initial value of each side of the pool in USD.
    noise_swaps_per_block
        Mean number of noise swaps per block.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    venue: str
    token0: str
    token1: str
    fee_bps: int = Field(30, ge=1, lt=10_000)
    depth_usd: float = Field(gt=0)
    noise_swaps_per_block: float = Field(0.5, ge=0)

    @property
    def pool_id(self) -> str:
        """The pool id used in the tables."""
        return f"{self.venue}:{self.token0}-{self.token1}"


def _default_pools() -> tuple[PoolSpec, ...]:
    layout = {
        ("USDC", "WETH"): (60e6, 30e6, 30e6),
        ("WETH", "USDT"): (24e6, 12e6, 18e6),
        ("USDC", "USDT"): (20e6, 5e6, 30e6),
    }
    venues = (("uniswap_v2", 30, 0.6), ("sushiswap", 30, 0.3), ("univ3_5bp", 5, 0.9))
    out: list[PoolSpec] = []
    for (t0, t1), depths in layout.items():
        for (venue, fee, rate), depth in zip(venues, depths, strict=True):
            out.append(
                PoolSpec(
                    venue=venue,
                    token0=t0,
                    token1=t1,
                    fee_bps=fee,
                    depth_usd=depth,
                    noise_swaps_per_block=rate,
                )
            )
    return tuple(out)


class SimParams(BaseModel):
    """Parameters of :func:`simulate_market` (defaults calibrated to the real data).

    Volatilities and drifts are per 12 s block, in log-return units. Rates are per block.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    n_blocks: int = Field(7_200, ge=2, description="Blocks to simulate (7,200 = one day).")
    start_block: int = Field(20_000_000, ge=1)
    start_timestamp: int = Field(1_700_000_000, ge=0, description="UTC seconds of block 0.")
    block_time_s: int = Field(12, ge=1)
    pools: tuple[PoolSpec, ...] = Field(default_factory=_default_pools)
    eth_usd0: float = Field(3_000.0, gt=0)
    # regimes: stable, volatile, trending
    regime_sigma: tuple[float, float, float] = (3.0e-4, 1.0e-3, 5.0e-4)
    regime_drift: tuple[float, float, float] = (0.0, 0.0, 2.0e-5)
    regime_mean_blocks: tuple[float, float, float] = (2_400.0, 600.0, 900.0)
    regime_next: tuple[tuple[float, float, float], ...] = (
        (0.0, 0.6, 0.4),
        (0.7, 0.0, 0.3),
        (0.6, 0.4, 0.0),
    )
    jump_rate: tuple[float, float, float] = (1.0e-4, 1.0e-3, 3.0e-4)
    jump_sigma: float = Field(0.008, ge=0)
    usdt_sigma: float = Field(2.0e-5, ge=0)
    usdt_reversion: float = Field(0.01, ge=0, le=1)
    cex_half_spread_bps: float = Field(0.5, ge=0)
    cex_size_eth: float = Field(50.0, gt=0)
    noise_size_median: float = Field(
        5.0e-5, gt=0, description="Median noise swap as a share of the input reserve."
    )
    noise_size_sigma: float = Field(1.0, ge=0)
    arb_min_edge_bps: float = Field(
        2.0, ge=0, description="Excess over the fee band below which rivals do not act."
    )
    arb_scale_bps: float = Field(
        8.0, gt=0, description="Excess at which a rival arrives with probability 1 - 1/e."
    )
    arb_activity: float = Field(0.9, ge=0, le=1, description="Most likely arrival per block.")
    arb_residual_bps: float = Field(
        2.0, ge=0, description="Rivals stop up to this far inside the band edge."
    )
    gas_limit: int = Field(60_000_000, gt=0)
    base_fee0_wei: int = Field(60_000_000, gt=0)
    gas_share_mean: float = Field(0.5, gt=0, lt=1, description="Mean gas-used share.")
    gas_share_persistence: float = Field(0.3, ge=0, lt=1)
    gas_share_sigma: float = Field(1.2, ge=0, description="Logit-space noise of gas demand.")
    gas_per_swap: int = Field(110_000, ge=0)
    gas_per_arb: int = Field(180_000, ge=0)
    gas_price_elasticity: float = Field(
        1.5, ge=0, description="Logit-space fall of gas demand per unit of log(base fee / ref)."
    )
    base_fee_ref_wei: int = Field(
        60_000_000, gt=0, description="Base fee at which demand is at its mean."
    )
    volatile_gas_boost: float = Field(0.4, description="Logit shift of gas demand when volatile.")
    tip_zero_share: float = Field(
        0.6, ge=0, le=1, description="Share of blocks where rivals tip nothing (pay by coinbase)."
    )
    tip_over_base_fee_median: float = Field(
        0.7, ge=0, description="Median nonzero rival tip per gas, as a multiple of the base fee."
    )
    tip_sigma: float = Field(1.0, ge=0)
    bribe_zero_share: float = Field(0.37, ge=0, le=1)
    both_zero_share: float = Field(0.003, ge=0, le=1, description="Blocks with neither.")
    bribe_median_wei: int = Field(
        1_470_000_000_000_000, ge=0, description="Median nonzero coinbase transfer per arbitrage."
    )
    bribe_sigma: float = Field(1.5, ge=0)
    full_block_rate: float = Field(0.016, ge=0, le=1, description="Share of full blocks.")
    volatile_tip_mult: float = Field(2.0, ge=1)
    aqua_makers: int = Field(6, ge=0)
    aqua_ship_rate: float = Field(1.0 / 600.0, ge=0)
    aqua_trade_rate: float = Field(0.02, ge=0, description="Trades per block per live strategy.")
    aqua_dock_rate: float = Field(1.0 / 3_000.0, ge=0)
    aqua_size_median_usd: float = Field(50_000.0, gt=0)
    aqua_size_sigma: float = Field(1.5, ge=0)
    aqua_spread_bps: float = Field(8.0, ge=0)

    @model_validator(mode="after")
    def _check(self) -> SimParams:
        if not self.both_zero_share <= min(self.tip_zero_share, self.bribe_zero_share):
            raise ValueError("both_zero_share must not exceed tip_zero_share or bribe_zero_share")
        if self.tip_zero_share + self.bribe_zero_share - self.both_zero_share > 1:
            raise ValueError("tip_zero_share + bribe_zero_share - both_zero_share must be <= 1")
        for row in self.regime_next:
            if len(row) != 3 or abs(sum(row) - 1.0) > 1e-9 or min(row) < 0:
                raise ValueError(f"regime_next rows must be 3 probabilities summing to 1: {row}")
        if len(self.regime_next) != 3:
            raise ValueError("regime_next must be a 3x3 matrix")
        ids = [p.pool_id for p in self.pools]
        if len(set(ids)) != len(ids):
            raise ValueError(f"pool ids must be unique: {ids}")
        for p in self.pools:
            for t in (p.token0, p.token1):
                if t not in _SIM_TOKENS:
                    raise ValueError(
                        f"pool {p.pool_id}: token {t!r} is not one of {sorted(_SIM_TOKENS)}"
                    )
        return self


def _regimes(n: int, params: SimParams, rng: np.random.Generator) -> npt.NDArray[np.int8]:
    switch = 1.0 / np.asarray(params.regime_mean_blocks)
    u = rng.random(n)
    v = rng.random(n)
    nxt = np.cumsum(np.asarray(params.regime_next), axis=1)
    out = np.empty(n, dtype=np.int8)
    r = 0
    for i in range(n):
        if u[i] < switch[r]:
            r = int(np.searchsorted(nxt[r], v[i], side="right"))
            r = min(r, 2)
        out[i] = r
    return out


def _eth_path(reg: npt.NDArray[np.int8], params: SimParams, rng: np.random.Generator) -> FloatArray:
    n = reg.size
    sigma = np.asarray(params.regime_sigma)[reg]
    drift = np.asarray(params.regime_drift)[reg]
    # a trending episode goes up or down for its whole length
    starts = np.flatnonzero(np.diff(np.concatenate(([-1], reg.astype(np.int64)))) != 0)
    signs = np.where(rng.random(starts.size) < 0.5, -1.0, 1.0)
    episode = np.cumsum(np.isin(np.arange(n), starts)) - 1
    drift = drift * signs[episode]
    z = rng.standard_normal(n)
    jumps = rng.random(n) < np.asarray(params.jump_rate)[reg]
    jump_size = rng.standard_normal(n) * params.jump_sigma
    ret = drift + sigma * z + np.where(jumps, jump_size, 0.0)
    ret[0] = 0.0
    return np.asarray(params.eth_usd0 * np.exp(np.cumsum(ret)), dtype=np.float64)


def _usdt_path(n: int, params: SimParams, rng: np.random.Generator) -> FloatArray:
    z = rng.standard_normal(n) * params.usdt_sigma
    x = np.empty(n)
    level = 0.0
    k = params.usdt_reversion
    for i in range(n):
        level = level * (1.0 - k) + z[i]
        x[i] = level
    return np.asarray(np.exp(x), dtype=np.float64)  # USDC per USDT


def _hex(rng: np.random.Generator, n_bytes: int) -> str:
    return "0x" + rng.bytes(n_bytes).hex()


def simulate_market(
    params: SimParams | dict[str, Any] | None = None,
    *,
    seed: int = 0,
    n_blocks: int | None = None,
) -> MarketHistory:
    """Simulate a market history.

    Parameters
    ----------
    params
        Simulation parameters (a :class:`SimParams` or a dict of its fields); calibrated
        defaults when omitted.
    seed
        Seed of the run; every draw comes from ``np.random.SeedSequence(seed)``.
    n_blocks
        Number of blocks, overriding ``params.n_blocks``.

    Returns
    -------
    MarketHistory
        Blocks (with ``competitor_tip_wei``, ``competitor_bribe_wei``, ``regime``), dense
        pool states, CEX quotes and Aqua events. ``meta`` holds the seed and the params.
    """
    try:
        p = params if isinstance(params, SimParams) else SimParams(**(params or {}))
        if n_blocks is not None:
            p = SimParams.model_validate({**p.model_dump(), "n_blocks": n_blocks})
    except ValidationError as exc:
        raise ConfigError(f"simulate_market: invalid params: {exc}") from exc
    n = p.n_blocks
    ss = np.random.SeedSequence(seed)
    (
        rng_reg,
        rng_eth,
        rng_usdt,
        rng_noise,
        rng_arb,
        rng_gas,
        rng_tip,
        rng_aqua,
    ) = (np.random.default_rng(s) for s in ss.spawn(8))

    reg = _regimes(n, p, rng_reg)
    eth_usd = _eth_path(reg, p, rng_eth)
    usdt_usdc = _usdt_path(n, p, rng_usdt)
    usd = {"USDC": np.ones(n), "USDT": usdt_usdc, "WETH": eth_usd}

    pools = p.pools
    m = len(pools)
    dec0 = [TOKEN_DECIMALS[q.token0] for q in pools]
    dec1 = [TOKEN_DECIMALS[q.token1] for q in pools]
    fee = [q.fee_bps for q in pools]
    gam = [10_000 - f for f in fee]
    # reference price of token0 in token1 (raw base units), per block and pool
    ref_raw = np.empty((n, m))
    for j, q in enumerate(pools):
        ref_raw[:, j] = usd[q.token0] / usd[q.token1] * 10.0 ** (dec1[j] - dec0[j])
    r0 = [int(q.depth_usd / usd[q.token0][0] * 10 ** dec0[j]) for j, q in enumerate(pools)]
    r1 = [int(q.depth_usd / usd[q.token1][0] * 10 ** dec1[j]) for j, q in enumerate(pools)]

    n_swaps = rng_noise.poisson([q.noise_swaps_per_block for q in pools], size=(n, m))
    total_swaps = int(n_swaps.sum())
    sizes = np.exp(
        math.log(p.noise_size_median) + p.noise_size_sigma * rng_noise.standard_normal(total_swaps)
    ).tolist()
    sides = (rng_noise.random(total_swaps) < 0.5).tolist()
    # one searcher backruns every pool of a pair in the same bundle: one draw per pair
    pair_keys = sorted({(q.token0, q.token1) for q in pools})
    pair_of = np.asarray([pair_keys.index((q.token0, q.token1)) for q in pools])
    arb_u = rng_arb.random((n, len(pair_keys)))[:, pair_of]
    arb_resid = (rng_arb.random((n, len(pair_keys))) * p.arb_residual_bps / 1e4)[:, pair_of]
    band = np.asarray([f / 1e4 for f in fee])
    min_edge = p.arb_min_edge_bps / 1e4
    log_ref = np.log(ref_raw)

    out0: list[list[int]] = [[0] * n for _ in range(m)]
    out1: list[list[int]] = [[0] * n for _ in range(m)]
    swaps_in_block = np.zeros(n, dtype=np.int64)
    arbs_in_block = np.zeros(n, dtype=np.int64)
    k_swap = 0
    n_swaps_l = n_swaps.tolist()
    arb_u_l = arb_u.tolist()
    resid_l = arb_resid.tolist()
    log_ref_l = log_ref.tolist()
    band_l = band.tolist()
    scale = p.arb_scale_bps / 1e4
    activity = p.arb_activity
    # every swap applied, in order: (t, pool, rival?, sells token0?, amount in, amount out)
    recorded: list[tuple[int, int, bool, bool, int, int]] = []
    rec_append = recorded.append
    for t in range(n):
        row_swaps = n_swaps_l[t]
        row_u = arb_u_l[t]
        row_res = resid_l[t]
        row_ref = log_ref_l[t]
        arbs = 0
        for j in range(m):
            a0, a1 = r0[j], r1[j]
            g = gam[j]
            for _ in range(row_swaps[j]):
                frac = sizes[k_swap]
                if sides[k_swap]:  # sell token0
                    amt = int(a0 * frac)
                    if amt > 0:
                        awf = amt * g
                        out = awf * a1 // (a0 * 10_000 + awf)
                        if 0 < out < a1:
                            a0, a1 = a0 + amt, a1 - out
                            rec_append((t, j, False, True, amt, out))
                else:
                    amt = int(a1 * frac)
                    if amt > 0:
                        awf = amt * g
                        out = awf * a0 // (a1 * 10_000 + awf)
                        if 0 < out < a0:
                            a0, a1 = a0 - out, a1 + amt
                            rec_append((t, j, False, False, amt, out))
                k_swap += 1
            # a rival closes the gap to the CEX, with latency
            gap = math.log(a1 / a0) - row_ref[j]
            excess = abs(gap) - band_l[j] - min_edge
            if excess > 0 and row_u[j] < activity * -math.expm1(-excess / scale):
                target = row_ref[j] + math.copysign(band_l[j] + row_res[j], gap)
                # constant product: reserve0 at the target price sqrt(k / P)
                k = float(a0) * float(a1)
                t0 = math.sqrt(k / math.exp(target))
                if gap > 0:  # pool overprices token0: sell token0 into it
                    amt = int((t0 - a0) / (g / 10_000))
                    if amt > 0:
                        awf = amt * g
                        out = awf * a1 // (a0 * 10_000 + awf)
                        if 0 < out < a1:
                            a0, a1 = a0 + amt, a1 - out
                            arbs += 1
                            rec_append((t, j, True, True, amt, out))
                else:  # buy token0 from the pool with token1
                    t1 = k / t0
                    amt = int((t1 - a1) / (g / 10_000))
                    if amt > 0:
                        awf = amt * g
                        out = awf * a0 // (a1 * 10_000 + awf)
                        if 0 < out < a0:
                            a0, a1 = a0 - out, a1 + amt
                            arbs += 1
                            rec_append((t, j, True, False, amt, out))
            r0[j], r1[j] = a0, a1
            out0[j][t] = a0
            out1[j][t] = a1
        swaps_in_block[t] = sum(row_swaps)
        arbs_in_block[t] = arbs

    # gas demand, base fee, competitor tips and bribes
    logit_mean = math.log(p.gas_share_mean / (1 - p.gas_share_mean))
    eps = rng_gas.standard_normal(n) * p.gas_share_sigma
    boost = np.where(reg == 1, p.volatile_gas_boost, 0.0)
    gas_used = np.empty(n, dtype=np.int64)
    base_fee = np.empty(n, dtype=np.int64)
    x = 0.0
    bf = p.base_fee0_wei
    own = (swaps_in_block * p.gas_per_swap + arbs_in_block * p.gas_per_arb).tolist()
    phi = p.gas_share_persistence
    elasticity = p.gas_price_elasticity
    log_ref_fee = math.log(p.base_fee_ref_wei)
    eps_l, boost_l = eps.tolist(), boost.tolist()
    full_u = rng_gas.random(n).tolist()
    for t in range(n):
        x = phi * x + eps_l[t]
        demand = logit_mean + x + boost_l[t] - elasticity * (math.log(bf) - log_ref_fee)
        share = 1.0 / (1.0 + math.exp(-demand))
        used = min(p.gas_limit, int(share * p.gas_limit) + own[t])
        if full_u[t] < p.full_block_rate:
            used = p.gas_limit
        gas_used[t] = used
        base_fee[t] = bf
        bf = next_base_fee(bf, used, p.gas_limit)
    tip_mult = np.where(reg == 1, p.volatile_tip_mult, 1.0)
    tip_ratio = p.tip_over_base_fee_median * np.exp(p.tip_sigma * rng_tip.standard_normal(n))
    bribe = p.bribe_median_wei * tip_mult * np.exp(p.bribe_sigma * rng_tip.standard_normal(n))
    # rivals mostly pay either by tip or by coinbase transfer: one draw decides which
    pay = rng_tip.random(n)
    no_tip = pay < p.tip_zero_share
    lo = p.tip_zero_share - p.both_zero_share
    no_bribe = (pay >= lo) & (pay < lo + p.bribe_zero_share)
    tips = np.where(no_tip, 0, np.floor(base_fee * tip_ratio * tip_mult)).astype(np.int64)
    bribes = np.where(no_bribe, 0, np.floor(bribe)).astype(np.int64)

    block_no = np.arange(p.start_block, p.start_block + n, dtype=np.int64)
    ts = p.start_timestamp + np.arange(n, dtype=np.int64) * p.block_time_s
    blocks = pl.DataFrame(
        {
            "block": block_no,
            "timestamp": ts,
            "base_fee_wei": base_fee,
            "gas_used": gas_used,
            "gas_limit": np.full(n, p.gas_limit, dtype=np.int64),
            "competitor_tip_wei": tips,
            "competitor_bribe_wei": bribes,
            "regime": pl.Series(np.asarray(REGIMES)[reg]).cast(pl.String),
        },
        schema_overrides=dict(BLOCKS_SCHEMA),
    )

    pool_frames = []
    for j, q in enumerate(pools):
        pool_frames.append(
            pl.DataFrame(
                {
                    "block": block_no,
                    "pool": np.full(n, q.pool_id, dtype=object),
                    "venue": np.full(n, q.venue, dtype=object),
                    "token0": np.full(n, q.token0, dtype=object),
                    "token1": np.full(n, q.token1, dtype=object),
                    "reserve0": pl.Series(out0[j], dtype=INT),
                    "reserve1": pl.Series(out1[j], dtype=INT),
                    "fee_bps": np.full(n, q.fee_bps, dtype=np.int64),
                },
                schema=dict(POOL_STATES_SCHEMA),
            )
        )
    pool_states = pl.concat(pool_frames).sort(["block", "pool"])

    half = p.cex_half_spread_bps / 1e4
    quote_frames = []
    for symbol, mid in (("ETH/USDC", eth_usd), ("ETH/USDT", eth_usd / usdt_usdc)):
        quote_frames.append(
            pl.DataFrame(
                {
                    "timestamp": ts,
                    "venue": np.full(n, "binance", dtype=object),
                    "symbol": np.full(n, symbol, dtype=object),
                    "bid": mid * (1 - half),
                    "ask": mid * (1 + half),
                    "bid_size": np.full(n, p.cex_size_eth),
                    "ask_size": np.full(n, p.cex_size_eth),
                    "block": block_no,
                },
                schema={**dict(CEX_QUOTES_SCHEMA), "block": pl.Int64()},
            )
        )
    cex_quotes = pl.concat(quote_frames).sort(["block", "symbol"])

    aqua = _aqua_events(p, block_no, usd, rng_aqua, seed)
    meta = {"source": "arbkit.market.sim", "seed": int(seed), "params": p.model_dump(mode="json")}
    return MarketHistory(
        blocks, pool_states, cex_quotes, aqua, meta, _swaps(recorded, block_no, pools)
    )


def _swaps(
    recorded: list[tuple[int, int, bool, bool, int, int]],
    block_no: npt.NDArray[np.int64],
    pools: tuple[PoolSpec, ...],
) -> pl.DataFrame:
    """Return the recorded swaps as a ``swaps`` table (``seq`` counts within each block)."""
    if not recorded:
        return empty_swaps()
    t, j, rival, sells0, amt_in, amt_out = (list(c) for c in zip(*recorded, strict=True))
    t_arr = np.asarray(t, dtype=np.int64)
    first = np.searchsorted(t_arr, t_arr, side="left")  # position of the block's first swap
    ids = [q.pool_id for q in pools]
    return pl.DataFrame(
        {
            "block": block_no[t_arr],
            "seq": np.arange(t_arr.size, dtype=np.int64) - first,
            "pool": [ids[i] for i in j],
            "kind": ["rival" if r else "noise" for r in rival],
            "sells_token0": sells0,
            "amount_in": pl.Series(amt_in, dtype=INT),
            "amount_out": pl.Series(amt_out, dtype=INT),
        },
        schema=dict(SWAPS_SCHEMA),
    )


def _aqua_events(
    p: SimParams,
    block_no: npt.NDArray[np.int64],
    usd: dict[str, FloatArray],
    rng: np.random.Generator,
    seed: int,
) -> pl.DataFrame:
    """Makers ship strategies on a pair, takers trade through them, makers dock them."""
    n = block_no.size
    if p.aqua_makers == 0 or n == 0 or p.aqua_ship_rate == 0:
        return pl.DataFrame(schema=dict(AQUA_EVENTS_SCHEMA))
    makers = [_hex(rng, 20) for _ in range(p.aqua_makers)]
    app = _hex(rng, 20)
    pairs = sorted({(q.token0, q.token1) for q in p.pools})
    ships = np.flatnonzero(rng.random(n) < p.aqua_ship_rate)
    # (position, order within block, event, maker, strategy, token, amount)
    events: list[tuple[int, int, str, str, str, str | None, int | None]] = []
    for t_ship in ships.tolist():
        maker = makers[int(rng.integers(len(makers)))]
        t0, t1 = pairs[int(rng.integers(len(pairs)))]
        strategy = _hex(rng, 32)
        size_usd = p.aqua_size_median_usd * math.exp(p.aqua_size_sigma * rng.standard_normal())
        life = int(rng.geometric(p.aqua_dock_rate)) if p.aqua_dock_rate > 0 else n
        t_dock = t_ship + life
        events.append((t_ship, 0, "Shipped", maker, strategy, None, None))
        if t_dock < n:
            events.append((t_dock, 2, "Docked", maker, strategy, None, None))
        end = min(t_dock, n)
        n_trades = int(rng.poisson(p.aqua_trade_rate * max(end - t_ship - 1, 0)))
        if n_trades == 0:
            continue
        when = np.sort(rng.integers(t_ship + 1, end, size=n_trades))
        flip = rng.random(n_trades) < 0.5
        usd_amt = size_usd * 0.05 * np.exp(rng.standard_normal(n_trades))
        for t, f, amount_usd in zip(when.tolist(), flip.tolist(), usd_amt.tolist(), strict=True):
            t_in, t_out = (t1, t0) if f else (t0, t1)
            amt_in = int(amount_usd / usd[t_in][t] * 10 ** TOKEN_DECIMALS[t_in])
            amt_out = int(
                amount_usd
                * (1 - p.aqua_spread_bps / 1e4)
                / usd[t_out][t]
                * 10 ** TOKEN_DECIMALS[t_out]
            )
            events.append((t, 1, "Pushed", maker, strategy, t_in, amt_in))
            events.append((t, 1, "Pulled", maker, strategy, t_out, amt_out))
    events.sort(key=lambda e: (e[0], e[1]))
    rows: dict[str, list[object]] = {k: [] for k in AQUA_EVENTS_SCHEMA}
    last_t, log_index, tx_no = -1, 0, 0
    prev_strategy: tuple[int, str, int] | None = None
    for t, order, event, maker, strategy, token, amount in events:
        if t != last_t:
            last_t, log_index, tx_no = t, 0, 0
        # a Pushed and its Pulled share a transaction
        if not (event == "Pulled" and prev_strategy == (t, strategy, order)):
            tx_no += 1
        prev_strategy = (t, strategy, order)
        blk = int(block_no[t])
        rows["block"].append(blk)
        rows["tx_hash"].append(
            "0x" + hashlib.sha256(f"aqua:{seed}:{blk}:{tx_no}".encode()).hexdigest()
        )
        rows["log_index"].append(log_index)
        rows["event"].append(event)
        rows["maker"].append(maker)
        rows["app"].append(app)
        rows["strategy_hash"].append(strategy)
        rows["token"].append(token)
        rows["amount"].append(amount)
        log_index += 1
    return pl.DataFrame(rows, schema=dict(AQUA_EVENTS_SCHEMA))
