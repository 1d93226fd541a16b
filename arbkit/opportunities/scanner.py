"""Opportunity scanner: from pool states (and CEX quotes) to the candidates table.

Every block is scanned in two passes. The float screen (:func:`arbkit.market.amm.screen_cycles`)
evaluates the closed-form optimum of every route of every block at once; routes whose
float net profit comes within ``ScanConfig.screen_slack`` of the threshold are refined
with exact integer math (:func:`arbkit.market.amm.optimal_cycle`), and only the exact
result decides whether a candidate is kept. Routes depend only on which pools exist,
so they are enumerated once for a whole history.

Route kinds
-----------
``dex_dex``
    Two pools of the same pair: buy on one, sell on the other, in a flash loan.
``triangular``
    Three pools forming a cycle of three tokens, in a flash loan.
``cex_dex``
    One pool against a CEX quote of the same asset: pay on the DEX and sell on the
    CEX at the bid, or buy on the CEX at the ask and sell on the DEX. Inventory trades:
    no flash loan.

Prices used to express amounts in the quote token are causal (each block's own data):
the CEX mid when the asset has a quote at the block (best bid and ask across venues),
otherwise the deepest pool at that block linking the token to an already priced token
(the quote token itself is worth 1).

Columns: ``edge_bps`` is the marginal gain at zero size after pool fees (and, for
``cex_dex``, after the CEX fee) but before the flash premium; ``notional_quote`` is what
the input costs; ``slippage_quote`` is the price impact, so that
``notional * edge_bps / 1e4 - slippage - flash_fee - gas = net_profit_quote``.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cached_property

import numpy as np
import numpy.typing as npt
import polars as pl

from arbkit.errors import DataError
from arbkit.market.amm import BPS, MAX_UINT112, ArbResult, Hop, optimal_cycle, screen_cycles
from arbkit.market.tables import CANDIDATES_SCHEMA
from arbkit.opportunities.config import FlashSource, ScanConfig

__all__ = [
    "RouteSet",
    "build_routes",
    "price_tokens",
    "scan_block",
    "scan_blocks",
    "scan_reserve_snapshots",
]

FloatArray = npt.NDArray[np.float64]
_SCREEN_ELEMENTS = 1 << 18
"""(block, route) pairs screened per chunk by the vectorised flash-route screen."""
_POOL_COLUMNS = ("pool", "venue", "token0", "token1", "reserve0", "reserve1", "fee_bps")


@dataclass(frozen=True)
class _HopGroup:
    """Flash routes with the same hop count, as arrays (route i in row i)."""

    n_hops: int
    ids: npt.NDArray[np.int64]
    pools: npt.NDArray[np.int64]
    sells0: npt.NDArray[np.bool_]
    gammas: FloatArray
    start: npt.NDArray[np.int64]  # index into tokens
    tokens: tuple[str, ...]


@dataclass(frozen=True)
class RouteSet:
    """The routes a set of pools and CEX assets allows, enumerated once.

    Attributes
    ----------
    pools
        Pool ids, in the order hop indices refer to.
    tokens
        ``(token0, token1)`` of every pool.
    fees_bps
        Fee of every pool.
    hops
        Per route, ``(pool index, direction)`` per hop; direction 0 sells token0 for
        token1, 1 sells token1 for token0. For ``cex_dex`` routes a single DEX hop.
    kinds
        Route kind per route.
    start_tokens
        Token each route starts with (and, for cycles, ends with).
    cex_sides
        For ``cex_dex`` routes ``"sell_on_cex"`` or ``"buy_on_cex"``, else ``""``.
    cex_assets
        For ``cex_dex`` routes the CEX asset symbol (e.g. ``ETH``), else ``""``.
    """

    pools: tuple[str, ...]
    tokens: tuple[tuple[str, str], ...]
    fees_bps: tuple[int, ...]
    hops: tuple[tuple[tuple[int, int], ...], ...]
    kinds: tuple[str, ...]
    start_tokens: tuple[str, ...]
    cex_sides: tuple[str, ...]
    cex_assets: tuple[str, ...]
    _groups: dict[tuple[int, tuple[str, ...]], _HopGroup] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __len__(self) -> int:
        return len(self.hops)

    @cached_property
    def start_token_set(self) -> frozenset[str]:
        """Every route's start token."""
        return frozenset(self.start_tokens)

    @cached_property
    def cex_route_ids(self) -> tuple[int, ...]:
        """Indices of the ``cex_dex`` routes."""
        return tuple(r for r, k in enumerate(self.kinds) if k == "cex_dex")

    @cached_property
    def _flash_hop_counts(self) -> tuple[int, ...]:
        return tuple(
            sorted({len(h) for h, k in zip(self.hops, self.kinds, strict=True) if k != "cex_dex"})
        )

    def flash_groups(self, priced: Sequence[str]) -> list[_HopGroup]:
        """Return the flash routes starting from a ``priced`` token, by hop count, as arrays.

        Computed once per set of priced tokens and kept (the live scan reuses it).
        """
        out = []
        key_tokens = tuple(sorted(priced))
        for n_hops in self._flash_hop_counts:
            key = (n_hops, key_tokens)
            group = self._groups.get(key)
            if group is None:
                ids = [
                    r
                    for r in range(len(self.hops))
                    if self.kinds[r] != "cex_dex"
                    and len(self.hops[r]) == n_hops
                    and self.start_tokens[r] in key_tokens
                ]
                pools = np.array([[p for p, _ in self.hops[r]] for r in ids], dtype=np.int64)
                dirs = np.array([[d for _, d in self.hops[r]] for r in ids], dtype=np.int64)
                fees = np.asarray(self.fees_bps, dtype=np.float64)
                group = _HopGroup(
                    n_hops=n_hops,
                    ids=np.asarray(ids, dtype=np.int64),
                    pools=pools.reshape(len(ids), n_hops),
                    sells0=(dirs == 0).reshape(len(ids), n_hops),
                    gammas=(1.0 - fees[pools] / BPS).reshape(len(ids), n_hops),
                    start=np.asarray(
                        [key_tokens.index(self.start_tokens[r]) for r in ids], dtype=np.int64
                    ),
                    tokens=key_tokens,
                )
                self._groups[key] = group
            if group.ids.size:
                out.append(group)
        return out

    def route_pools(self, r: int) -> list[str]:
        """Return the pool ids of route ``r`` in hop order."""
        return [self.pools[p] for p, _ in self.hops[r]]


def _token_after(tokens: tuple[str, str], direction: int) -> str:
    return tokens[1 - direction]


def build_routes(
    pools: Sequence[str],
    tokens: Sequence[tuple[str, str]],
    fees_bps: Sequence[int],
    *,
    cex_assets: Sequence[str] = (),
    config: ScanConfig | None = None,
) -> RouteSet:
    """Enumerate every route of the configured kinds over a set of pools.

    Cycles are listed once per direction: a cycle through the same pools in the same
    order is the same trade whatever token it starts from, so each is started from the
    token that :func:`scan_blocks` can value best (the quote token, then the native
    token, then the first token of the cycle). Routes through a pool twice are skipped.

    Parameters
    ----------
    pools, tokens, fees_bps
        Pool ids, their ``(token0, token1)`` and fees.
    cex_assets
        On-chain token symbols that have a CEX quote against some pool's other token.
    config
        Scanner options (route kinds, quote and native token).

    Returns
    -------
    RouteSet
    """
    cfg = config or ScanConfig()
    hops: list[tuple[tuple[int, int], ...]] = []
    kinds: list[str] = []
    starts: list[str] = []
    sides: list[str] = []
    assets: list[str] = []
    preference = {cfg.quote_token: 0, cfg.native_token: 1}

    def add_cycle(cycle: list[tuple[int, int]], kind: str) -> None:
        # rotate so that the cycle starts from the preferred token
        start_tokens = [tokens[p][d] for p, d in cycle]
        best = min(range(len(cycle)), key=lambda i: (preference.get(start_tokens[i], 2), i))
        rotated = tuple(cycle[best:] + cycle[:best])
        hops.append(rotated)
        kinds.append(kind)
        starts.append(start_tokens[best])
        sides.append("")
        assets.append("")

    by_pair: dict[frozenset[str], list[int]] = {}
    for i, (t0, t1) in enumerate(tokens):
        if t0 == t1:
            raise DataError(f"pool {pools[i]!r} has the same token on both sides ({t0})")
        by_pair.setdefault(frozenset((t0, t1)), []).append(i)

    if "dex_dex" in cfg.kinds:
        for members in by_pair.values():
            for i, j in itertools.combinations(members, 2):
                # sell token0 on pool i and the proceeds on pool j, and the reverse
                d_j = 0 if tokens[j][0] == tokens[i][1] else 1
                add_cycle([(i, 0), (j, d_j)], "dex_dex")
                add_cycle([(i, 1), (j, 1 - d_j)], "dex_dex")

    if "triangular" in cfg.kinds:
        all_tokens = sorted({t for pair in tokens for t in pair})
        for a, b, c in itertools.combinations(all_tokens, 3):
            ab = by_pair.get(frozenset((a, b)), [])
            bc = by_pair.get(frozenset((b, c)), [])
            ca = by_pair.get(frozenset((c, a)), [])
            for p1, p2, p3 in itertools.product(ab, bc, ca):
                forward = [
                    (p1, 0 if tokens[p1][0] == a else 1),
                    (p2, 0 if tokens[p2][0] == b else 1),
                    (p3, 0 if tokens[p3][0] == c else 1),
                ]
                backward = [
                    (p3, 1 - forward[2][1]),
                    (p2, 1 - forward[1][1]),
                    (p1, 1 - forward[0][1]),
                ]
                add_cycle(forward, "triangular")
                add_cycle(backward, "triangular")

    if "cex_dex" in cfg.kinds:
        cex = set(cex_assets)
        for i, (t0, t1) in enumerate(tokens):
            for asset_side, asset in ((0, t0), (1, t1)):
                if asset not in cex:
                    continue
                # sell_on_cex: pay the other token into the pool, receive the asset
                hops.append(((i, 1 - asset_side),))
                kinds.append("cex_dex")
                starts.append(tokens[i][1 - asset_side])
                sides.append("sell_on_cex")
                assets.append(asset)
                # buy_on_cex: buy the asset on the CEX, sell it into the pool
                hops.append(((i, asset_side),))
                kinds.append("cex_dex")
                starts.append(asset)
                sides.append("buy_on_cex")
                assets.append(asset)

    return RouteSet(
        pools=tuple(pools),
        tokens=tuple((t0, t1) for t0, t1 in tokens),
        fees_bps=tuple(int(f) for f in fees_bps),
        hops=tuple(hops),
        kinds=tuple(kinds),
        start_tokens=tuple(starts),
        cex_sides=tuple(sides),
        cex_assets=tuple(assets),
    )


def _validate_pool_states(df: pl.DataFrame) -> None:
    missing = [c for c in ("block", *_POOL_COLUMNS) if c not in df.columns]
    if missing:
        raise DataError(f"pool_states: missing column(s) {missing}")
    for col in ("reserve0", "reserve1"):
        dtype = df.schema[col]
        if not dtype.is_integer():
            raise DataError(
                f"pool_states: column {col!r} must hold exact integers (Int128), got {dtype}; "
                "reserves are never floats"
            )
        bad = df.filter(pl.col(col).is_null() | (pl.col(col) <= 0) | (pl.col(col) > MAX_UINT112))
        if bad.height:
            row = bad.row(0, named=True)
            raise DataError(
                f"pool_states: {col} of pool {row['pool']!r} at block {row['block']} is "
                f"{row[col]!r}; reserves must be integers in [1, 2**112 - 1]"
            )
    bad_fee = df.filter((pl.col("fee_bps") < 0) | (pl.col("fee_bps") >= BPS))
    if bad_fee.height:
        row = bad_fee.row(0, named=True)
        raise DataError(f"pool_states: fee_bps of pool {row['pool']!r} is {row['fee_bps']}")
    dup = df.group_by("block", "pool").len().filter(pl.col("len") > 1)
    if dup.height:
        row = dup.row(0, named=True)
        raise DataError(f"pool_states: pool {row['pool']!r} appears twice at block {row['block']}")


def _validate_cex(df: pl.DataFrame) -> None:
    for col in ("symbol", "bid", "ask"):
        if col not in df.columns:
            raise DataError(f"cex_quotes: missing column {col!r}")
    if "block" not in df.columns:
        raise DataError(
            "cex_quotes: needs a 'block' column aligning each quote to a block (no look-ahead)"
        )
    bad = df.filter(
        ~pl.col("bid").is_finite()
        | ~pl.col("ask").is_finite()
        | (pl.col("bid") <= 0)
        | (pl.col("ask") < pl.col("bid"))
    )
    if bad.height:
        row = bad.row(0, named=True)
        raise DataError(
            f"cex_quotes: {row['symbol']} at block {row['block']} has bid={row['bid']!r}, "
            f"ask={row['ask']!r}; need finite 0 < bid <= ask"
        )


def scan_block(
    pool_states: pl.DataFrame,
    *,
    base_fee_wei: int,
    cex_quotes: pl.DataFrame | None = None,
    config: ScanConfig | None = None,
) -> pl.DataFrame:
    """Scan one block's pool states for arbitrage candidates.

    Parameters
    ----------
    pool_states
        Rows of one block in the ``pool_states`` contract (exact integer reserves).
    base_fee_wei
        Base fee of the block the trade would land in.
    cex_quotes
        Optional CEX quotes (``symbol`` like ``ETH/USDC``, ``bid``, ``ask``) valid at
        this block. A ``block`` column is optional here.
    config
        Scanner options.

    Returns
    -------
    polars.DataFrame
        The candidates table (DESIGN.md), best net profit first.
    """
    if pool_states.height and pool_states["block"].n_unique() > 1:
        raise DataError("scan_block: pool_states holds several blocks; use scan_blocks")
    if cex_quotes is not None and "block" not in cex_quotes.columns and pool_states.height:
        cex_quotes = cex_quotes.with_columns(pl.lit(pool_states["block"][0]).alias("block"))
    return scan_blocks(pool_states, base_fees=base_fee_wei, cex_quotes=cex_quotes, config=config)


def _empty_candidates() -> pl.DataFrame:
    return pl.DataFrame(schema=dict(CANDIDATES_SCHEMA))


def scan_blocks(
    pool_states: pl.DataFrame,
    *,
    base_fees: pl.DataFrame | int,
    cex_quotes: pl.DataFrame | None = None,
    config: ScanConfig | None = None,
    routes: RouteSet | None = None,
) -> pl.DataFrame:
    """Scan many blocks at once: one float screen over every (block, route), exact refinement.

    Parameters
    ----------
    pool_states
        Rows in the ``pool_states`` contract for any number of blocks.
    base_fees
        A table with ``block`` and ``base_fee_wei`` (the base fee paid by a trade
        landing at that block), or one base fee for every block.
    cex_quotes
        Optional CEX quotes with ``block``, ``symbol`` (``ASSET/QUOTE``), ``bid``, ``ask``.
    config
        Scanner options.
    routes
        Routes to use (from :func:`build_routes`); enumerated from the pools when omitted.

    Returns
    -------
    polars.DataFrame
        The candidates table, sorted by block then net profit (best first).

    Raises
    ------
    DataError
        If pool states or quotes are malformed (missing columns, reserves that are
        not positive uint112 integers, negative or non-finite prices, a token with
        no known decimals or no price).
    """
    cfg = config or ScanConfig()
    _validate_pool_states(pool_states)
    if pool_states.height == 0:
        return _empty_candidates()
    if cex_quotes is not None:
        _validate_cex(cex_quotes)

    meta = pool_states.group_by("pool", maintain_order=True).agg(
        pl.col("token0").first(),
        pl.col("token1").first(),
        pl.col("fee_bps").first(),
        (pl.struct("token0", "token1", "fee_bps").n_unique() > 1).alias("changes"),
    )
    changing = meta.filter(pl.col("changes"))
    if changing.height:
        raise DataError(
            f"pool_states: pool {changing['pool'][0]!r} changes token0/token1/fee_bps between "
            "blocks; give a changed pool a new id"
        )
    pool_ids: list[str] = meta["pool"].to_list()
    pool_tokens: list[tuple[str, str]] = list(
        zip(meta["token0"].to_list(), meta["token1"].to_list(), strict=True)
    )
    pool_fees: list[int] = meta["fee_bps"].to_list()
    if routes is not None:
        # Index pools in the order the routes were built for; check they describe the data.
        known = dict(
            zip(routes.pools, zip(routes.tokens, routes.fees_bps, strict=True), strict=True)
        )
        for pid, tok, fee in zip(pool_ids, pool_tokens, pool_fees, strict=True):
            if known.get(pid) != (tok, fee):
                raise DataError(
                    f"routes: pool {pid!r} ({tok}, {fee} bps) is not in the RouteSet as given; "
                    "build the routes from the same pools"
                )
        pool_ids, pool_tokens = list(routes.pools), list(routes.tokens)
        pool_fees = list(routes.fees_bps)
    for t0, t1 in pool_tokens:
        for t in (t0, t1):
            if t not in cfg.token_decimals:
                raise DataError(
                    f"pool_states: token {t!r} has no decimals in ScanConfig.token_decimals"
                )

    blocks = np.sort(pool_states["block"].unique().to_numpy())
    n_blocks, n_pools = blocks.shape[0], len(pool_ids)
    block_idx = {int(b): i for i, b in enumerate(blocks)}
    pool_idx = {p: i for i, p in enumerate(pool_ids)}
    bi = np.searchsorted(blocks, pool_states["block"].to_numpy())
    pi = np.array([pool_idx[p] for p in pool_states["pool"].to_list()], dtype=np.int64)
    r0_int: list[int] = pool_states["reserve0"].to_list()
    r1_int: list[int] = pool_states["reserve1"].to_list()
    r0 = np.full((n_blocks, n_pools), np.nan)
    r1 = np.full((n_blocks, n_pools), np.nan)
    r0[bi, pi] = np.asarray(r0_int, dtype=np.float64)
    r1[bi, pi] = np.asarray(r1_int, dtype=np.float64)
    row_of = np.full((n_blocks, n_pools), -1, dtype=np.int64)
    row_of[bi, pi] = np.arange(pool_states.height)

    # CEX quotes per block and asset (in whole tokens of the pool's other token)
    cex_bid: dict[tuple[str, str], FloatArray] = {}
    cex_ask: dict[tuple[str, str], FloatArray] = {}
    if cex_quotes is not None and cex_quotes.height:
        aliases = cfg.cex_asset_aliases
        best = cex_quotes.group_by("block", "symbol", maintain_order=True).agg(
            pl.col("bid").max(), pl.col("ask").min()
        )  # several venues at one block: trade at the best of them
        for (symbol,), grp in best.group_by("symbol", maintain_order=True):
            base, _, quote = str(symbol).partition("/")
            if not quote:
                raise DataError(f"cex_quotes: symbol {symbol!r} is not of the form BASE/QUOTE")
            key = (aliases.get(base, base), aliases.get(quote, quote))
            bid = np.full(n_blocks, np.nan)
            ask = np.full(n_blocks, np.nan)
            g = grp.filter(pl.col("block").is_in(list(block_idx)))
            idx = np.searchsorted(blocks, g["block"].to_numpy())
            bid[idx] = g["bid"].to_numpy()
            ask[idx] = g["ask"].to_numpy()
            cex_bid[key], cex_ask[key] = bid, ask

    cex_assets = sorted(
        {a for (a, q) in cex_bid if any(a in pair and q in pair for pair in pool_tokens)}
    )
    rs = (
        routes
        if routes is not None
        else build_routes(pool_ids, pool_tokens, pool_fees, cex_assets=cex_assets, config=cfg)
    )
    if len(rs) == 0:
        return _empty_candidates()

    prices = price_tokens(pool_tokens, r0, r1, cex_bid, cex_ask, cfg)  # quote per whole token
    dec = cfg.token_decimals
    unit_price = {t: p / 10.0 ** dec[t] for t, p in prices.items()}  # quote per base unit

    if isinstance(base_fees, int | np.integer):
        if base_fees < 0:
            raise DataError(f"base_fees: must be non-negative, got {base_fees}")
        base_fee = np.full(n_blocks, float(base_fees))
    else:
        for col in ("block", "base_fee_wei"):
            if col not in base_fees.columns:
                raise DataError(f"base_fees: missing column {col!r}")
        bad_fee = base_fees.filter(pl.col("base_fee_wei").is_null() | (pl.col("base_fee_wei") < 0))
        if bad_fee.height:
            raise DataError(
                f"base_fees: base_fee_wei at block {bad_fee['block'][0]} is "
                f"{bad_fee['base_fee_wei'][0]!r}; need a non-negative integer"
            )
        fee_map = dict(
            zip(base_fees["block"].to_list(), base_fees["base_fee_wei"].to_list(), strict=True)
        )
        missing = [int(b) for b in blocks if int(b) not in fee_map]
        if missing:
            raise DataError(f"base_fees: no base fee for block(s) {missing[:5]}")
        base_fee = np.array([float(fee_map[int(b)]) for b in blocks])
    gas_price_eth = (base_fee + cfg.priority_fee_wei) / 1e18
    if cfg.native_token not in unit_price:
        raise DataError(
            f"no price for the native token {cfg.native_token!r}: add a pool or CEX quote"
        )
    native_quote = prices[cfg.native_token]

    flash_bps = cfg.aave_premium_bps if cfg.flash_source is FlashSource.AAVE else 0
    results: list[dict[str, object]] = []
    survivors: list[tuple[int, float, int, int, float, float, float, float]] = []
    # Flash routes (dex_dex, triangular): screened many routes at a time, grouped by hop
    # count (arrays kept on the RouteSet); the same element-wise float operations as one
    # route at a time.
    q_flash = 1.0 + flash_bps / BPS
    per_chunk = max(1, _SCREEN_ELEMENTS // max(n_blocks, 1))
    starts = rs.start_token_set
    for group in rs.flash_groups([t for t in unit_price if t in starts]):
        n_hops = group.n_hops
        gas_units = (
            cfg.gas_base_units
            + cfg.gas_per_hop_units * n_hops
            + cfg.flash_overhead_units.get(cfg.flash_source, 0)
        )
        gas_cost_quote = gas_units * gas_price_eth * native_quote  # per block
        threshold = gas_cost_quote + cfg.min_net_profit_quote
        slack = cfg.screen_slack * np.abs(threshold)
        units = np.stack([unit_price[t] for t in group.tokens])  # (tokens, blocks)
        for lo in range(0, group.ids.size, per_chunk):
            hi = min(lo + per_chunk, group.ids.size)
            width = hi - lo
            r_in: list[FloatArray] = []
            r_out: list[FloatArray] = []
            gammas: list[FloatArray] = []
            for h in range(n_hops):
                pc, sc = group.pools[lo:hi, h], group.sells0[lo:hi, h]
                a0, a1 = r0[:, pc], r1[:, pc]  # (blocks, routes)
                r_in.append(np.where(sc, a0, a1).ravel())
                r_out.append(np.where(sc, a1, a0).ravel())
                gammas.append(np.broadcast_to(group.gammas[lo:hi, h], (n_blocks, width)).ravel())
            q_arr = np.full(n_blocks * width, q_flash)
            _amount, profit_f, rate_f = screen_cycles(r_in, r_out, gammas, in_cost=q_arr)
            unit = units[group.start[lo:hi]].T  # (blocks, routes)
            profit_quote = profit_f.reshape(n_blocks, width) * unit
            keep = (
                np.isfinite(profit_quote)
                & (profit_quote > 0)
                & (profit_quote >= (threshold - slack)[:, None])
            )
            if not keep.any():
                continue
            float_net = profit_quote - gas_cost_quote[:, None]
            rate = rate_f.reshape(n_blocks, width)
            for b, j in zip(*np.nonzero(keep), strict=True):
                survivors.append(
                    (
                        int(b),
                        -float(float_net[b, j]),
                        int(group.ids[lo + j]),
                        gas_units,
                        float(gas_cost_quote[b]),
                        float(rate[b, j] * q_flash),
                        float(unit[b, j]),
                        float(unit[b, j]),
                    )
                )
    # CEX-DEX routes (one pool each, few of them): one route at a time
    for r in rs.cex_route_ids:
        route_hops = rs.hops[r]
        start = rs.start_tokens[r]
        if start not in unit_price:
            continue
        c_in = [np.where(d == 0, r0[:, p], r1[:, p]) for p, d in route_hops]
        c_out = [np.where(d == 0, r1[:, p], r0[:, p]) for p, d in route_hops]
        c_gammas = [1.0 - rs.fees_bps[p] / BPS for p, _ in route_hops]
        gas_units = cfg.cex_dex_gas_units
        pool_p, _d = route_hops[0]
        pair = rs.tokens[pool_p]
        asset = rs.cex_assets[r]
        other = pair[0] if pair[1] == asset else pair[1]
        bid_arr, ask_arr = cex_bid.get((asset, other)), cex_ask.get((asset, other))
        if bid_arr is None or ask_arr is None:
            continue
        scale = 10.0 ** (dec[other] - dec[asset])  # whole price -> base-unit price
        cex_fee = cfg.cex_fee_bps / BPS
        if rs.cex_sides[r] == "sell_on_cex":
            k_val, q_val = bid_arr * scale * (1 - cex_fee), np.ones(n_blocks)
        else:
            k_val, q_val = np.ones(n_blocks), ask_arr * scale * (1 + cex_fee)
        _, profit, c_rate = screen_cycles(c_in, c_out, c_gammas, out_value=k_val, in_cost=q_val)
        profit_unit = unit_price[other]  # cex profit is in the DEX "other" token
        # notional: what the input costs; for buy_on_cex the asset is paid at ask + fee
        start_unit = unit_price[start] if rs.cex_sides[r] == "sell_on_cex" else q_val * profit_unit
        c_gas_quote = gas_units * gas_price_eth * native_quote
        c_profit_quote = profit * profit_unit
        c_threshold = c_gas_quote + cfg.min_net_profit_quote
        c_keep = (
            np.isfinite(c_profit_quote)
            & (c_profit_quote > 0)
            & (c_profit_quote >= c_threshold - cfg.screen_slack * np.abs(c_threshold))
        )
        c_net = c_profit_quote - c_gas_quote
        for b in np.flatnonzero(c_keep):
            survivors.append(
                (
                    int(b),
                    -float(c_net[b]),
                    r,
                    gas_units,
                    float(c_gas_quote[b]),
                    float(c_rate[b]),
                    float(start_unit[b]),
                    float(profit_unit[b]),
                )
            )

    # Exact refinement, best float estimate first, at most max_candidates kept per block.
    survivors.sort()
    kept_in_block: dict[int, int] = {}
    for blk, _, r, gas_units, gas_cost_q, gross_rate, su, pu in survivors:
        if kept_in_block.get(blk, 0) >= cfg.max_candidates:
            continue
        res = _refine(rs, r, blk, r0_int, r1_int, row_of, flash_bps, cex_bid, cex_ask, cfg, su)
        if res is None:
            continue
        expected_q = res.profit * pu
        net = expected_q - gas_cost_q
        if net <= cfg.min_net_profit_quote:
            continue
        kept_in_block[blk] = kept_in_block.get(blk, 0) + 1
        kind = rs.kinds[r]
        notional = res.amount_in * su
        edge_bps = (gross_rate - 1.0) * 1e4
        flash_fee_q = res.flash_fee * su
        slippage = notional * edge_bps / 1e4 - expected_q - flash_fee_q
        liquidity = min(
            float(
                r0[blk, p] * unit_price[rs.tokens[p][0]][blk]
                + r1[blk, p] * unit_price[rs.tokens[p][1]][blk]
            )
            for p, _ in rs.hops[r]
        )
        results.append(
            {
                "block": int(blocks[blk]),
                "route": rs.route_pools(r),
                "kind": kind,
                "symbol": _symbol(rs, r),
                "start_token": rs.start_tokens[r],
                "flash_source": cfg.flash_source.value if kind != "cex_dex" else "inventory",
                "amount_in": res.amount_in,
                "expected_profit": res.profit,
                "flash_fee": res.flash_fee,
                "profit_gap_bound": res.profit_upper_bound - res.profit,
                "edge_bps": edge_bps,
                "notional_quote": notional,
                "expected_profit_quote": expected_q,
                "gas_units": gas_units,
                "gas_cost_quote": gas_cost_q,
                "flash_fee_quote": flash_fee_q,
                "slippage_quote": max(slippage, 0.0),
                "liquidity_quote": liquidity,
                "net_profit_quote": net,
            }
        )
    if not results:
        return _empty_candidates()
    out = pl.DataFrame(results, schema=dict(CANDIDATES_SCHEMA))
    return out.sort(["block", "net_profit_quote"], descending=[False, True], maintain_order=True)


def _symbol(rs: RouteSet, r: int) -> str:
    if rs.kinds[r] == "cex_dex":
        p, _ = rs.hops[r][0]
        asset = rs.cex_assets[r]
        other = rs.tokens[p][0] if rs.tokens[p][1] == asset else rs.tokens[p][1]
        return f"{asset}/{other}"
    path = [rs.start_tokens[r]]
    for p, d in rs.hops[r]:
        path.append(_token_after(rs.tokens[p], d))
    if len(rs.hops[r]) == 2:
        return f"{path[1]}/{path[0]}"
    return "->".join(path)


def _refine(
    rs: RouteSet,
    r: int,
    b: int,
    r0_int: list[int],
    r1_int: list[int],
    row_of: npt.NDArray[np.int64],
    flash_bps: int,
    cex_bid: dict[tuple[str, str], FloatArray],
    cex_ask: dict[tuple[str, str], FloatArray],
    cfg: ScanConfig,
    start_unit_price: float,
) -> ArbResult | None:
    """Exact integer optimum of route ``r`` at block row ``b``, or None when unprofitable."""
    hops: list[Hop] = []
    for p, d in rs.hops[r]:
        row = int(row_of[b, p])
        if row < 0:
            return None
        res0, res1 = r0_int[row], r1_int[row]
        hops.append(Hop(res0, res1, rs.fees_bps[p]) if d == 0 else Hop(res1, res0, rs.fees_bps[p]))
    if rs.kinds[r] == "cex_dex":
        p, _ = rs.hops[r][0]
        asset = rs.cex_assets[r]
        other = rs.tokens[p][0] if rs.tokens[p][1] == asset else rs.tokens[p][1]
        dec = cfg.token_decimals
        scale = Fraction(10) ** (dec[other] - dec[asset])
        fee = Fraction(str(cfg.cex_fee_bps)) / BPS
        if rs.cex_sides[r] == "sell_on_cex":
            price = Fraction(str(float(cex_bid[(asset, other)][b]))) * scale * (1 - fee)
            res = optimal_cycle(hops, out_value=price, max_evals=cfg.refine_max_evals)
        else:
            price = Fraction(str(float(cex_ask[(asset, other)][b]))) * scale * (1 + fee)
            res = optimal_cycle(hops, in_cost=price, max_evals=cfg.refine_max_evals)
        return res if res.profitable else None
    cap: int | None = None
    if cfg.max_borrow_quote is not None and start_unit_price > 0:
        cap = max(1, int(cfg.max_borrow_quote / start_unit_price))
    res = optimal_cycle(
        hops, flash_fee_bps=flash_bps, max_amount_in=cap, max_evals=cfg.refine_max_evals
    )
    return res if res.profitable else None


def price_tokens(
    pool_tokens: Sequence[tuple[str, str]],
    r0: FloatArray,
    r1: FloatArray,
    cex_bid: dict[tuple[str, str], FloatArray],
    cex_ask: dict[tuple[str, str], FloatArray],
    cfg: ScanConfig,
) -> dict[str, FloatArray]:
    """Price every token in whole quote tokens, block by block (NaN where unknown).

    Causal: the price at a block uses that block's data only. A CEX mid is preferred
    where the asset has a quote at the block; otherwise the price comes from the pool,
    present at that block, that is deepest (in quote) among those linking the token to
    an already priced token. Sources missing at a block fall back to the next one.
    The scanner and :class:`arbkit.execution.ExecutionModel` price alike through this.

    Parameters
    ----------
    pool_tokens
        ``(token0, token1)`` of every pool, in the column order of ``r0`` and ``r1``.
    r0, r1
        Reserves in base units as floats, shape ``(n_blocks, n_pools)``; NaN where
        the pool has no state at the block.
    cex_bid, cex_ask
        Best bid and ask per ``(asset, quote)`` pair of token symbols (CEX asset names
        already mapped by ``cex_asset_aliases``), shape ``(n_blocks,)``, in whole
        ``quote`` per whole ``asset``; NaN where there is no quote.
    cfg
        Scanner options: ``quote_token`` (priced 1) and ``token_decimals`` (which must
        hold every token of ``pool_tokens``).

    Returns
    -------
    dict of str to ndarray
        Price of one whole token in whole quote tokens, shape ``(n_blocks,)``, for the
        quote token and every token that could be priced at some block.
    """
    n_blocks = r0.shape[0]
    dec = cfg.token_decimals
    prices: dict[str, FloatArray] = {cfg.quote_token: np.ones(n_blocks)}
    tokens = {t for pair in pool_tokens for t in pair} | {a for a, _ in cex_bid}
    for _ in range(len(tokens) + 1):
        changed = False
        for token in sorted(tokens - {cfg.quote_token}):
            current = prices.get(token, np.full(n_blocks, np.nan))
            missing = np.isnan(current)
            if not missing.any():
                continue
            best_price = np.full(n_blocks, np.nan)
            best_depth = np.full(n_blocks, -np.inf)
            # a pair against the quote token itself wins over one through another token;
            # the order is fixed so that every caller prices alike
            pairs = sorted(cex_bid.items(), key=lambda kv: (kv[0][1] == cfg.quote_token, kv[0]))
            for (asset, quote), bid in pairs:
                if asset == token and quote in prices:
                    mid = (bid + cex_ask[(asset, quote)]) / 2 * prices[quote]
                    use = np.isfinite(mid)
                    best_price = np.where(use, mid, best_price)
                    best_depth = np.where(use, np.inf, best_depth)
            for p, (t0, t1) in enumerate(pool_tokens):
                if token not in (t0, t1):
                    continue
                other = t1 if token == t0 else t0
                if other not in prices:
                    continue
                whole_tok = (r0[:, p] if token == t0 else r1[:, p]) / 10.0 ** dec[token]
                whole_oth = (r1[:, p] if token == t0 else r0[:, p]) / 10.0 ** dec[other]
                price = prices[other] * whole_oth / whole_tok
                depth = whole_oth * prices[other]
                better = np.isfinite(price) & (np.nan_to_num(depth, nan=-np.inf) > best_depth)
                best_price = np.where(better, price, best_price)
                best_depth = np.where(better, depth, best_depth)
            filled = np.where(missing, best_price, current)
            if np.isfinite(filled).sum() > np.isfinite(current).sum():
                prices[token] = filled
                changed = True
        if not changed:
            break
    return prices


def scan_reserve_snapshots(
    pool_states: pl.DataFrame,
    *,
    base_fee_wei: int,
    config: ScanConfig | None = None,
) -> pl.DataFrame:
    """Scan reserve snapshots that carry a ``timestamp`` but no block number.

    Each distinct timestamp is scanned as one block (the ``block`` column of the result
    holds the snapshot's UTC timestamp), all at the same assumed base fee.

    Parameters
    ----------
    pool_states
        Pool states with ``timestamp`` (e.g. from
        :func:`arbkit.market.data.load_univ2_sushi_pair`).
    base_fee_wei
        Assumed base fee for every snapshot.
    config
        Scanner options.
    """
    if "timestamp" not in pool_states.columns:
        raise DataError("scan_reserve_snapshots: pool_states needs a 'timestamp' column")
    states = pool_states.with_columns(pl.col("timestamp").cast(pl.Int64).alias("block"))
    return scan_blocks(states, base_fees=base_fee_wei, config=config)
