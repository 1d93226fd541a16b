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
  trades the pool back to the band edge (leaving a small residual). Each block has a
  rival bid calibrated to real 2023 CEX-DEX arbitrageurs (see :class:`SimParams`): its
  total payment to the builder per arbitrage is ``competitor_tip_wei`` (priority fee per
  gas) x ``gas_per_arb`` + ``competitor_bribe_wei`` (coinbase transfer), higher in the
  volatile regime and growing with the USD volume of the block's rival swaps, and
  ``competitor_bot`` names the bot (an id drawn from the real per-bot shares).
- **EIP-1559 base fee** from simulated gas use: the block's gas-used share follows a
  persistent (AR(1) in logit space) demand process plus the gas of the swaps and
  arbitrages simulated in the block; each next base fee is computed exactly with
  :func:`arbkit.market.gas.next_base_fee`.
- **Aqua makers** who ship strategies on a pair and dock them. A ``Shipped`` row (its
  ``strategy`` column holds the strategy bytes as 0x hex, ``abi.encode(address token0,
  address token1, uint256 spread in 0.01 bp, uint256 tilt x 1e6, uint256 nonce)`` with
  :func:`arbkit.aqua.events.token_address` stand-ins, and ``strategy_hash`` is their
  keccak256) is followed in its transaction by one ``Pushed`` per token: the allocation
  (no tokens move). The tilt is the share of the strategy's USD size put in the pair's
  non-stable token (token0 if both or neither are stable). An uninformed maker's tilt is
  uniform on [0.1, 0.9]; each maker is informed, for the whole history, with
  probability ``aqua_informed_share``, and an informed maker's tilt is
  ``0.5 +- U(0.2, 0.4)``, signed by the return of that token against the other from the
  ship block to ``aqua_info_horizon_blocks`` later (look-ahead: the whale knows).
  Informedness is not recorded anywhere in the table. Takers then trade
  through the strategy in later blocks, each trade a transaction of a ``Pushed`` (the
  taker's token in) then a ``Pulled`` (the maker's token out, worth the CEX mid value in
  less the strategy's spread); the simulator keeps each strategy's balances (allocation
  + pushes - pulls) and skips a trade whose pull exceeds the balance. ``Docked`` (no
  amounts) releases the balances; nothing follows it. The ``strategy`` column is an
  extra column of the ``aqua_events`` table (null except on ``Shipped`` rows).

Every random draw comes from children of ``np.random.SeedSequence(seed)``; the same seed
and params give a byte-identical history (and files, see
:meth:`~arbkit.market.history.MarketHistory.save`). Defaults are calibrated to the real
data in ``../shared/data/real``; ``reports/calibration/`` compares them side by side.
"""

from __future__ import annotations

import hashlib
import math
import statistics
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
from arbkit.market.tokens import STABLECOINS, TOKEN_DECIMALS

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


# Transactions per rival bot in the real CEX-DEX sample of 2023-08-08 (4,968 txs): a bot is
# its mev_bot_label (18 labelled bots), or its sender (from_addr) when the label is empty (77
# senders); 95 bots, largest first. Top share 1842 / 4968 = 0.371, HHI 0.171 (the labelled
# bots alone: HHI 0.158 over all txs).
_REAL_BOT_TX_COUNTS: tuple[int, ...] = (
    (1842, 551, 490, 249, 245, 198, 171, 158, 147, 143, 119, 73, 57, 54, 47, 35, 26, 26, 25)
    + (22, 22, 21, 18, 17, 15, 13, 12, 11, 10, 9, 9, 8, 7, 6, 5, 5)
    + (4,) * 7
    + (3,) * 2
    + (2,) * 18
    + (1,) * 32
)


class SimParams(BaseModel):
    """Parameters of :func:`simulate_market` (defaults calibrated to the real data).

    Volatilities and drifts are per 12 s block, in log-return units. Rates are per block.

    Rival bids (``rival_*``) are calibrated to the 4,968 included CEX-DEX arbitrage
    transactions of 2023-08-08 (``cexdex_arb_txs_20230808``): the block's total rival
    payment to the builder, ``competitor_tip_wei x gas_per_arb + competitor_bribe_wei``, is
    drawn so that its marginal over the run has the real ``mev_value`` zero share,
    p10, median and p90 (0.003, 0.000218, 0.00192, 0.0111 ETH). The positive part is a
    two-piece log-normal (one sigma below the median, one above: the real left tail is
    heavier), shifted up by ``log(rival_volatile_bid_mult)`` in the volatile regime; the
    stable-regime location and the two sigmas are solved so that the mixture over the run's
    regimes hits the three quantiles. In blocks with rival swaps the bid grows with the
    swaps' USD volume: its latent normal score is ``c z_volume + sqrt(1 - c^2) eps``
    (a Gaussian copula, so the marginal stays exact), ``z_volume`` the normal score of the
    block's volume among the run's rival blocks and ``c`` set so that the slope of
    ``log(bid)`` on ``log(volume)`` is ``rival_volume_elasticity`` (capped at 0.99). Real
    fit: OLS of ``log(mev_value x 1,851.5 USD/ETH)`` on ``log(volume USD)`` over the 4,953
    paying txs gives slope 0.505, intercept -3.63, residual sd 1.79, R^2 0.174
    (correlation 0.417, Spearman 0.445); 1,851.5 USD/ETH is the median price implied by
    the sample's single-trade WETH-USDC/USDT rows. The simulated volumes are less
    dispersed than the real ones (sd of log volume ~0.9 vs 1.62), so at the real slope
    the simulated correlation is weaker (~0.25). The split between priority
    fee and coinbase transfer follows the real ``cb_transfer / mev_value``: 36.6% of paying
    txs pay only by priority fee, 3.57% by both (coinbase share Beta(2.39, 0.41), moments
    of the real shares), the rest only by coinbase. The rival bot of a block
    (``competitor_bot``) is drawn from the real per-bot transaction counts
    (:data:`_REAL_BOT_TX_COUNTS`).
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
    full_block_rate: float = Field(0.016, ge=0, le=1, description="Share of full blocks.")
    rival_bid_median_eth: float = Field(
        1.9197e-3,
        gt=0,
        description=(
            "Median of the rival's total payment to the builder per arbitrage, "
            "competitor_tip_wei x gas_per_arb + competitor_bribe_wei, in ETH (real mev_value)."
        ),
    )
    rival_bid_p10_eth: float = Field(
        2.1767e-4, gt=0, description="10th percentile of that total (real mev_value), ETH."
    )
    rival_bid_p90_eth: float = Field(
        1.11395e-2, gt=0, description="90th percentile of that total (real mev_value), ETH."
    )
    rival_bid_zero_share: float = Field(
        0.003, ge=0, lt=0.1, description="Share of blocks where the rival pays nothing (15/4968)."
    )
    rival_volatile_bid_mult: float = Field(
        2.0, ge=1, description="Rivals bid this many times more in the volatile regime."
    )
    rival_volume_elasticity: float = Field(
        0.505,
        ge=0,
        description=(
            "Slope of log(bid) on log(USD volume of the block's rival swaps): the real OLS "
            "slope of log(mev_value) on log(volume) over the 4,953 paying txs."
        ),
    )
    rival_tip_only_share: float = Field(
        0.366, ge=0, le=1, description="Share of paying rivals who pay only by priority fee."
    )
    rival_split_share: float = Field(
        0.0357,
        ge=0,
        le=1,
        description="Share of paying rivals who pay by both; the rest pay only by coinbase.",
    )
    rival_split_cb_beta: tuple[float, float] = Field(
        (2.39, 0.41),
        description="Beta(a, b) of the coinbase share of the bid when a rival pays by both.",
    )
    rival_bot_tx_counts: tuple[int, ...] = Field(
        default_factory=lambda: _REAL_BOT_TX_COUNTS,
        min_length=1,
        description="Weights of the rival bots (competitor_bot ids 0, 1, ...), largest first.",
    )
    aqua_makers: int = Field(6, ge=0)
    aqua_ship_rate: float = Field(1.0 / 600.0, ge=0)
    aqua_trade_rate: float = Field(0.02, ge=0, description="Trades per block per live strategy.")
    aqua_dock_rate: float = Field(1.0 / 3_000.0, ge=0)
    aqua_size_median_usd: float = Field(50_000.0, gt=0)
    aqua_size_sigma: float = Field(1.5, ge=0)
    aqua_spread_bps: float = Field(8.0, ge=0)
    aqua_informed_share: float = Field(
        0.0,
        ge=0,
        le=1,
        description=(
            "Probability that a maker is informed (drawn once per maker): its tilts lean "
            "towards the token that gains over the next aqua_info_horizon_blocks (never "
            "recorded)."
        ),
    )
    aqua_info_horizon_blocks: int = Field(
        300, ge=1, description="How far ahead (blocks) an informed maker knows the price."
    )

    @model_validator(mode="after")
    def _check(self) -> SimParams:
        if not self.rival_bid_p10_eth < self.rival_bid_median_eth < self.rival_bid_p90_eth:
            raise ValueError("rival_bid_p10_eth < rival_bid_median_eth < rival_bid_p90_eth needed")
        if self.rival_tip_only_share + self.rival_split_share > 1:
            raise ValueError("rival_tip_only_share + rival_split_share must be <= 1")
        if min(self.rival_split_cb_beta) <= 0:
            raise ValueError(f"rival_split_cb_beta must be positive: {self.rival_split_cb_beta}")
        if min(self.rival_bot_tx_counts) < 0 or sum(self.rival_bot_tx_counts) == 0:
            raise ValueError("rival_bot_tx_counts must be >= 0 with a positive sum")
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


_NORMAL = statistics.NormalDist()
_LEVELS = (0.1, 0.5, 0.9)


def _two_piece_cdf(x: float, loc: float, sigma_lo: float, sigma_hi: float) -> float:
    return _NORMAL.cdf((x - loc) / (sigma_lo if x < loc else sigma_hi))


def _rival_bid_law(p: SimParams, volatile_share: float) -> tuple[float, float, float]:
    """Return the stable-regime log-ETH location and the lower and upper sigmas of a bid.

    Solved so that the two-piece log-normal, shifted by ``log(rival_volatile_bid_mult)``
    in a ``volatile_share`` of blocks, has the target p10, median and p90 over all blocks
    once the ``rival_bid_zero_share`` of zero bids is counted.
    """
    z0 = p.rival_bid_zero_share
    targets = [
        math.log(q) for q in (p.rival_bid_p10_eth, p.rival_bid_median_eth, p.rival_bid_p90_eth)
    ]
    levels = [(lv - z0) / (1 - z0) for lv in _LEVELS]  # quantile levels of the positive part
    shift = math.log(p.rival_volatile_bid_mult)
    w = volatile_share
    z10, z90 = _NORMAL.inv_cdf(levels[0]), _NORMAL.inv_cdf(levels[2])
    loc = targets[1]
    s_lo = (targets[0] - targets[1]) / z10 if z10 < 0 else 1.0
    s_hi = (targets[2] - targets[1]) / z90 if z90 > 0 else 1.0

    def quantile(level: float) -> float:
        lo, hi = loc - 12 * s_lo, loc + shift + 12 * s_hi
        for _ in range(80):
            mid = 0.5 * (lo + hi)
            f = (1 - w) * _two_piece_cdf(mid, loc, s_lo, s_hi) + w * _two_piece_cdf(
                mid, loc + shift, s_lo, s_hi
            )
            lo, hi = (mid, hi) if f < level else (lo, mid)
        return 0.5 * (lo + hi)

    for _ in range(200):
        q10, q50, q90 = (quantile(lv) for lv in levels)
        step = targets[1] - q50
        loc += step
        s_lo *= (targets[1] - targets[0]) / (q50 - q10)
        s_hi *= (targets[2] - targets[1]) / (q90 - q50)
        if abs(step) < 1e-12 and abs(q90 - q10 - (targets[2] - targets[0])) < 1e-10:
            break
    return loc, s_lo, s_hi


_MAX_LOADING = 0.99
# Bids are capped at 9 ETH so that they fit the Int64 wei columns (real max: 2.83 ETH; a
# bid this large is a ~5-sigma draw, about one block in a million).
_LOG_MAX_BID_ETH = math.log(9.0)


def _volume_loading(
    z_vol: FloatArray,
    log_vol: FloatArray,
    shift: FloatArray,
    s_lo: float,
    s_hi: float,
    p: SimParams,
) -> float:
    """Return the loading ``c`` of the bid's latent score on the volume's normal score.

    With ``y = c z_vol + sqrt(1 - c^2) eps`` and the two-piece scale ``g(y) = s_lo y``
    (``y < 0``) or ``s_hi y``, ``E[g(y) | z_vol]`` has a closed form; ``c`` is bisected so
    that the least-squares slope of that expectation plus the regime ``shift`` (volatile
    blocks bid more and have larger rival swaps) on ``log_vol`` (the expected slope of
    ``log(bid)`` on ``log(volume)``) is ``rival_volume_elasticity``, within
    ``[0, _MAX_LOADING]``.
    """
    var = float(np.var(log_vol))
    target = p.rival_volume_elasticity
    if var <= 0:
        return 0.0
    centred = log_vol - log_vol.mean()
    from_regime = float(np.mean((shift - shift.mean()) * centred)) / var
    pdf = np.vectorize(_NORMAL.pdf, otypes=[np.float64])
    cdf = np.vectorize(_NORMAL.cdf, otypes=[np.float64])

    def slope(c: float) -> float:
        a, b = c * z_vol, math.sqrt(1 - c * c)
        r = a / b
        phi, big_phi = pdf(r), cdf(r)
        mean_g = s_hi * (a * big_phi + b * phi) + s_lo * (a * (1 - big_phi) - b * phi)
        return float(np.mean((mean_g - mean_g.mean()) * centred)) / var + from_regime

    if slope(0.0) >= target:
        return 0.0
    if slope(_MAX_LOADING) <= target:
        return _MAX_LOADING
    lo, hi = 0.0, _MAX_LOADING
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if slope(mid) < target else (lo, mid)
    return 0.5 * (lo + hi)


def _rival_bids(
    p: SimParams,
    reg: npt.NDArray[np.int8],
    rival_usd: FloatArray,
    rng: np.random.Generator,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Draw each block's rival tip per gas and coinbase bribe (int wei).

    The total ``tip x gas_per_arb + bribe`` follows :func:`_rival_bid_law`; where the block
    has rival swaps (``rival_usd > 0``, their USD volume) the latent normal score is
    ``c z_volume + sqrt(1 - c^2) eps``, ``z_volume`` the normal score of the block's
    volume among the run's rival blocks (ties in block order), so the marginal is kept;
    ``c`` is set by :func:`_volume_loading`.
    """
    n = reg.size
    loc, s_lo, s_hi = _rival_bid_law(p, float(np.mean(reg == 1)) if n else 0.0)
    eps = rng.standard_normal(n)
    u_zero = rng.random(n)
    u_split = rng.random(n)
    cb_share_split = rng.beta(*p.rival_split_cb_beta, size=n)
    z = eps.copy()
    shift = np.where(reg == 1, math.log(p.rival_volatile_bid_mult), 0.0)
    active = np.flatnonzero(rival_usd > 0)
    if active.size:
        rank = np.empty(active.size, dtype=np.int64)
        rank[np.argsort(rival_usd[active], kind="stable")] = np.arange(active.size)
        z_vol = np.asarray([_NORMAL.inv_cdf((r + 0.5) / active.size) for r in rank.tolist()])
        c = _volume_loading(z_vol, np.log(rival_usd[active]), shift[active], s_lo, s_hi, p)
        z[active] = c * z_vol + math.sqrt(1 - c * c) * eps[active]
    log_eth = np.minimum(loc + shift + np.where(z < 0, s_lo, s_hi) * z, _LOG_MAX_BID_ETH)
    total = np.where(u_zero < p.rival_bid_zero_share, 0.0, np.floor(np.exp(log_eth) * 1e18))
    cb_share = np.where(
        u_split < p.rival_tip_only_share,
        0.0,
        np.where(u_split < p.rival_tip_only_share + p.rival_split_share, cb_share_split, 1.0),
    )
    if p.gas_per_arb == 0:  # no gas to spread a tip over: the rival pays by coinbase
        cb_share = np.ones(n)
    bribes = np.floor(total * cb_share)
    tips = np.floor((total - bribes) / max(p.gas_per_arb, 1))
    return tips.astype(np.int64), bribes.astype(np.int64)


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
        Blocks (with ``competitor_tip_wei``, ``competitor_bribe_wei``, ``competitor_bot``,
        ``regime``; see :class:`SimParams` for the rival bids), dense
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
    # spawned after the first eight, so adding it changed none of their streams
    rng_bot = np.random.default_rng(ss.spawn(1)[0])

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
    # the rival's bid: its total payment to the builder, then its split into tip and bribe
    rival_usd = np.zeros(n)
    for t, j, rival, sells0, amt_in, _ in recorded:
        if rival:
            token = pools[j].token0 if sells0 else pools[j].token1
            rival_usd[t] += amt_in / 10 ** TOKEN_DECIMALS[token] * usd[token][t]
    tips, bribes = _rival_bids(p, reg, rival_usd, rng_tip)
    bots = rng_bot.choice(
        len(p.rival_bot_tx_counts),
        size=n,
        p=np.asarray(p.rival_bot_tx_counts, dtype=np.float64) / sum(p.rival_bot_tx_counts),
    ).astype(np.int64)

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
            "competitor_bot": bots,
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


# an uninformed maker's tilt is uniform on this range, wide enough to cover the informed
# tilts (0.1-0.3 and 0.7-0.9): the size of a tilt does not tell who is informed
_AQUA_UNINFORMED_TILT = (0.1, 0.9)
_AQUA_INFORMED_TILT = (0.2, 0.4)  # an informed maker's tilt is 0.5 +- uniform on this range
_AQUA_TILT_SCALE = 1_000_000  # the strategy bytes hold the tilt x 1e6 (an integer)
_AQUA_STRATEGY_TYPES = ["address", "address", "uint256", "uint256", "uint256"]
# (position, order in block, strategy no, tx no within the strategy, event, maker,
#  strategy hash, token, amount, strategy bytes as 0x hex)
_AquaRow = tuple[int, int, int, int, str, str, str, str | None, int | None, str | None]


def _aqua_tilt_token(t0: str, t1: str) -> int:
    """Index (0 or 1) of the token whose share a strategy's tilt gives: the non-stable one."""
    return 1 if t0 in STABLECOINS and t1 not in STABLECOINS else 0


def _aqua_events(
    p: SimParams,
    block_no: npt.NDArray[np.int64],
    usd: dict[str, FloatArray],
    rng: np.random.Generator,
    seed: int,
) -> pl.DataFrame:
    """Makers ship strategies on a pair, takers trade through them, makers dock them.

    Each maker is informed or not once for the whole history (one coin per maker, drawn
    right after the makers). Each strategy draws, in this order and whatever the params:
    maker, pair, USD size, lifetime and both tilt uniforms, then its trades; so a change
    of ``aqua_informed_share`` changes tilts (hence allocations, strategy bytes and
    hashes, and which trades the balances allow) and nothing else.
    """
    n = block_no.size
    schema = {**dict(AQUA_EVENTS_SCHEMA), "strategy": pl.String()}
    if p.aqua_makers == 0 or n == 0 or p.aqua_ship_rate == 0:
        return pl.DataFrame(schema=schema)
    # the chain extra (eth-abi, eth-utils): imported here so the module imports without it
    from eth_abi.abi import encode as abi_encode
    from eth_utils.crypto import keccak

    from arbkit.aqua.events import token_address

    makers = [_hex(rng, 20) for _ in range(p.aqua_makers)]
    knows = (rng.random(p.aqua_makers) < p.aqua_informed_share).tolist()
    app = _hex(rng, 20)
    pairs = sorted({(q.token0, q.token1) for q in p.pools})
    ships = np.flatnonzero(rng.random(n) < p.aqua_ship_rate)
    spread_int = round(p.aqua_spread_bps * 100)  # hundredths of a bp
    # order in block: 0 ship, 1 trade, 2 dock (see _AquaRow)
    events: list[_AquaRow] = []
    for k, t_ship in enumerate(ships.tolist()):
        who = int(rng.integers(len(makers)))
        maker, informed = makers[who], bool(knows[who])
        pair = pairs[int(rng.integers(len(pairs)))]
        size_usd = p.aqua_size_median_usd * math.exp(p.aqua_size_sigma * rng.standard_normal())
        life = int(rng.geometric(p.aqua_dock_rate)) if p.aqua_dock_rate > 0 else n
        u_plain = float(rng.uniform(*_AQUA_UNINFORMED_TILT))
        u_info = float(rng.uniform(*_AQUA_INFORMED_TILT))
        i_tilt = _aqua_tilt_token(*pair)
        a, b = pair[i_tilt], pair[1 - i_tilt]
        if informed:
            # the whale knows the tilted token's return against the other one, in USD,
            # from the ship block to ship + horizon (clipped at the history's end)
            t_h = min(t_ship + p.aqua_info_horizon_blocks, n - 1)
            r = (usd[a][t_h] / usd[b][t_h]) / (usd[a][t_ship] / usd[b][t_ship]) - 1.0
            tilt = 0.5 + (u_info if r >= 0 else -u_info)
        else:
            tilt = u_plain
        tilt_scaled = round(tilt * _AQUA_TILT_SCALE)
        share = {a: tilt_scaled / _AQUA_TILT_SCALE, b: 1.0 - tilt_scaled / _AQUA_TILT_SCALE}
        strategy = abi_encode(
            _AQUA_STRATEGY_TYPES,
            [token_address(pair[0]), token_address(pair[1]), spread_int, tilt_scaled, k],
        )
        s_hash = "0x" + keccak(strategy).hex()
        events.append(
            (t_ship, 0, k, 0, "Shipped", maker, s_hash, None, None, "0x" + strategy.hex())
        )
        balance: dict[str, int] = {}
        for tok in pair:  # the allocation: pushed in the ship tx, no tokens move
            amt = int(share[tok] * size_usd / usd[tok][t_ship] * 10 ** TOKEN_DECIMALS[tok])
            balance[tok] = amt
            events.append((t_ship, 0, k, 0, "Pushed", maker, s_hash, tok, amt, None))
        t_dock = t_ship + life
        if t_dock < n:  # releases the balances: no amounts
            events.append((t_dock, 2, k, 0, "Docked", maker, s_hash, None, None, None))
        end = min(t_dock, n)
        n_trades = int(rng.poisson(p.aqua_trade_rate * max(end - t_ship - 1, 0)))
        if n_trades == 0:
            continue
        when = np.sort(rng.integers(t_ship + 1, end, size=n_trades))
        flip = rng.random(n_trades) < 0.5
        usd_amt = size_usd * 0.05 * np.exp(rng.standard_normal(n_trades))
        trades = zip(when.tolist(), flip.tolist(), usd_amt.tolist(), strict=True)
        for i, (t, f, amount_usd) in enumerate(trades, start=1):
            t_in, t_out = (pair[1], pair[0]) if f else pair
            amt_in = int(amount_usd / usd[t_in][t] * 10 ** TOKEN_DECIMALS[t_in])
            amt_out = int(
                amount_usd
                * (1 - p.aqua_spread_bps / 1e4)
                / usd[t_out][t]
                * 10 ** TOKEN_DECIMALS[t_out]
            )
            if amt_out > balance[t_out] or amt_in <= 0 or amt_out <= 0:
                continue  # the strategy cannot pay it: the taker's trade does not happen
            balance[t_in] += amt_in
            balance[t_out] -= amt_out
            events.append((t, 1, k, i, "Pushed", maker, s_hash, t_in, amt_in, None))
            events.append((t, 1, k, i, "Pulled", maker, s_hash, t_out, amt_out, None))
    events.sort(key=lambda e: e[:4])  # stable: keeps each tx's own log order
    rows: dict[str, list[object]] = {c: [] for c in schema}
    last_t, log_index, tx_no = -1, 0, 0
    last_tx: tuple[int, int, int, int] | None = None
    for t, order, k, k_tx, event, maker, s_hash, token, amount, strategy_hex in events:
        if t != last_t:
            last_t, log_index, tx_no = t, 0, 0
        if (t, order, k, k_tx) != last_tx:
            tx_no += 1
            last_tx = (t, order, k, k_tx)
        blk = int(block_no[t])
        rows["block"].append(blk)
        rows["tx_hash"].append(
            "0x" + hashlib.sha256(f"aqua:{seed}:{blk}:{tx_no}".encode()).hexdigest()
        )
        rows["log_index"].append(log_index)
        rows["event"].append(event)
        rows["maker"].append(maker)
        rows["app"].append(app)
        rows["strategy_hash"].append(s_hash)
        rows["token"].append(token)
        rows["amount"].append(amount)
        rows["strategy"].append(strategy_hex)
        log_index += 1
    return pl.DataFrame(rows, schema=schema)
