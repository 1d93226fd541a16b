"""The one execution model: what happens to a trade decided at block ``t``.

Used by the backtest, the Gymnasium environment, the decider's labels and the dry-run.
A trade decided after seeing the state at block ``t`` goes through these steps:

1. **Inclusion.** It reaches the builders ``latency_ms`` later: its first eligible block
   is ``t + 1 + floor(latency_ms / block_ms)``. In each eligible block it is included with
   probability ``p = 1 - exp(-tip / inclusion_tip_scale_wei)``; after
   ``max_delay_blocks`` further blocks it expires (``not_included``, nothing paid).
   One uniform ``u_incl`` gives the extra delay by inversion:
   ``floor(log(u_incl) / log(1 - p))``.
   The bid per gas is ``tip + bribe_wei / gas_units`` (a coinbase transfer counts).
2. **Competition: the builder's auction.** A rival may want the same edge. When the
   history records its swaps (simulated histories: ``MarketHistory.swaps``), the rival
   is there exactly when the history has a rival's swap on one of the trade's pools in
   the including block (``rival_presence="history"``): the history itself says who came
   for the edge. Otherwise it shows up with a hazard that grows with the edge and with
   the exposure (how old the edge was at decision, the latency, and the blocks spent
   waiting). The block then goes to the better bid, compared as Flashbots scored
   bundles for the same edge: by the effective gas price, the payment to the builder
   per unit of gas, ``B = tip + bribe_wei / gas_units`` for us and ``C / rival_gas_units``
   for the rival. ``C`` is the including block's rival payment
   ``C0 = competitor_tip_wei * rival_gas_units + competitor_bribe_wei`` (the
   simulator draws it from the real bids, see :mod:`arbkit.market.sim`) scaled to the
   contested trade's volume ``V`` (quote, at the decision block) as real bids scale,
   and never above what the edge is worth to it, half the gross edge (the profit of the
   optimal trade across a constant-product gap; 2023-08-08's 4,968 CEX-DEX arbitrages:
   ``log bribe = 0.505 log volume + c``, median volume 8,618 USD)::

       C        = min(C0 * (V / rival_bid_reference_volume_quote)
                            ** rival_bid_volume_elasticity,
                      rival_bid_cap_share * edge_bps / 1e4 * V)          (in wei)
       present  = rival swap on a route pool in the including block       (history)
                = 1 - exp(-hazard)                                        (hazard)
       hazard   = rival_rate_per_block * (1 + edge_bps / rival_edge_scale_bps)
                  * (1 + age_blocks + latency_ms / block_ms + extra_delay)
       c        = C / rival_gas_units
       p_rival  = present * c**k / (B**k + c**k)

   ``k = auction_sharpness`` makes the auction smooth: the rival's bid is known to us only
   through its distribution, and bids tie at 1/2; ``k -> inf`` is the sharp first-price
   auction (the higher bid always wins). A higher bid never raises ``p_rival`` and never
   lowers the inclusion probability.
   If ``u_rival < p_rival`` the rival's backrun lands first, leaves no edge on the
   route, and our trade reverts on its minimum-profit check (``competitor``).
3. **Re-pricing.** Otherwise the trade executes at the top of its including block, on
   the pool states at the end of the block before, with the exact Uniswap V2 integer
   math. Flash-loan routes pay the flash fee (Aave: 5 bps rounded half up; Balancer and
   V2 flash swaps: none). CEX-DEX trades settle their CEX leg once the DEX leg lands, at
   the including block's quote (the latest at or before it) with the CEX fee, floored
   (sell) or ceiled (buy) to base units; their on-chain minimum is set from the quote at
   decision, so a CEX move after the decision changes the P&L but does not revert.
4. **Revert.** When the profit (after the flash fee; for CEX-DEX valued at the decision's
   quote) is below the trade's ``min_profit``, or a hop would revert in the pair
   contract, the trade reverts: no
   token profit, and it pays ``revert_gas_fraction`` of its gas (nothing with
   ``revert_protection``).
5. **Gas.** ``gas_used * (base_fee + tip)`` of the including block, in wei; valued in the
   quote token at that block's native-token price. A successful trade also pays its
   ``bribe_wei`` (a revert undoes the transfer).

Each trade consumes exactly two uniforms, ``(u_incl, u_rival)``, in that order:
:meth:`ExecutionModel.execute` draws ``rng.random(2)`` and
:meth:`ExecutionModel.execute_batch` draws ``rng.random((n, 2))``, so the same generator
gives the same outcomes trade by trade. Draws can also be passed explicitly (common
random numbers when comparing policies).

What the model does not do: our own trades do not move the replayed history (a
backtest must not trade the same pools twice before its earlier trade lands).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from arbkit.errors import DataError
from arbkit.execution.config import ExecutionConfig
from arbkit.market.amm import BPS, aave_flash_fee
from arbkit.market.history import MarketHistory
from arbkit.opportunities.config import ScanConfig
from arbkit.opportunities.scanner import price_tokens

__all__ = [
    "OUTCOME_COLUMNS",
    "REASONS",
    "ExecutionModel",
    "Outcome",
    "SwapOutcomes",
    "Trade",
    "rival_share",
    "scale_rival_bid",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
ObjArray = npt.NDArray[np.object_]

REASONS = ("ok", "not_included", "competitor", "min_profit", "amm_revert")

OUTCOME_COLUMNS: Mapping[str, pl.DataType] = {
    "block": pl.Int64(),
    "route": pl.List(pl.String()),
    "kind": pl.String(),
    "start_token": pl.String(),
    "profit_token": pl.String(),
    "amount_in": pl.Int128(),
    "included_block": pl.Int64(),
    "success": pl.Boolean(),
    "realized_profit": pl.Int128(),
    "flash_fee": pl.Int128(),
    "gas_used": pl.Int64(),
    "gas_paid_wei": pl.Int128(),
    "bribe_paid_wei": pl.Int128(),
    "realized_profit_quote": pl.Float64(),
    "gas_paid_quote": pl.Float64(),
    "net_profit_quote": pl.Float64(),
    "reason": pl.String(),
}


@dataclass(frozen=True)
class Trade:
    """A trade decided after seeing block ``block``.

    Attributes
    ----------
    block
        Decision block (the state the decision saw); the trade lands at ``block + 1`` or later.
    route
        Pool ids in hop order.
    start_token
        Token the route starts with (for ``cex_dex`` the token paid in: the CEX asset when
        buying on the CEX, the pool's other token when selling on the CEX).
    amount_in
        Input in base units of ``start_token``.
    kind
        ``dex_dex``, ``triangular`` or ``cex_dex``.
    symbol
        For ``cex_dex``: ``ASSET/OTHER`` in on-chain names (the scanner's ``symbol``).
    flash_source
        ``balancer``, ``aave``, ``v2_flash_swap`` or ``inventory`` (``cex_dex``).
    gas_units
        Gas the trade uses when it succeeds.
    min_profit
        Revert when the realised profit (profit token base units, after the flash fee) is
        below this; must be non-negative.
    priority_fee_wei
        Tip per gas.
    latency_ms
        Time from seeing block ``block`` to the trade reaching the builders.
    edge_bps
        The edge at decision (drives competition).
    age_blocks
        How many blocks the edge had already existed at decision.
    bribe_wei
        Coinbase transfer to the builder, paid only when the trade succeeds (it is part of
        the transaction, so a revert undoes it). It counts towards the bid per gas.
    """

    block: int
    route: tuple[str, ...]
    start_token: str
    amount_in: int
    kind: str = "dex_dex"
    symbol: str = ""
    flash_source: str = "balancer"
    gas_units: int = 220_000
    min_profit: int = 0
    priority_fee_wei: int = 1_000_000_000
    latency_ms: float = 0.0
    edge_bps: float = 0.0
    age_blocks: int = 0
    bribe_wei: int = 0

    @classmethod
    def from_row(cls, row: Mapping[str, Any], **overrides: Any) -> Trade:
        """Build a trade from one row of a trades or candidates table.

        Reads the columns :meth:`ExecutionModel.execute_batch` reads, with the same
        defaults for the optional ones (except ``priority_fee_wei``, whose default is
        this class's); ``overrides`` replace any field.
        """

        def get(name: str, default: Any) -> Any:
            value = row.get(name)
            return default if value is None else value

        kind = str(row["kind"])
        fields: dict[str, Any] = {
            "block": int(row["block"]),
            "route": tuple(row["route"]),
            "start_token": str(row["start_token"]),
            "amount_in": int(row["amount_in"]),
            "kind": kind,
            "symbol": str(get("symbol", "")),
            "flash_source": str(
                get("flash_source", "inventory" if kind == "cex_dex" else "balancer")
            ),
            "gas_units": int(get("gas_units", 220_000)),
            "min_profit": int(get("min_profit", 0)),
            "priority_fee_wei": int(get("priority_fee_wei", cls.priority_fee_wei)),
            "latency_ms": float(get("latency_ms", 0.0)),
            "edge_bps": float(get("edge_bps", 0.0)),
            "age_blocks": int(get("age_blocks", 0)),
            "bribe_wei": int(get("bribe_wei", 0)),
        }
        fields.update(overrides)
        return cls(**fields)


@dataclass(frozen=True)
class Outcome:
    """What happened to a :class:`Trade` (fields as in :data:`OUTCOME_COLUMNS`)."""

    block: int
    route: tuple[str, ...]
    kind: str
    start_token: str
    profit_token: str
    amount_in: int
    included_block: int | None
    success: bool
    realized_profit: int
    flash_fee: int
    gas_used: int
    gas_paid_wei: int
    bribe_paid_wei: int
    realized_profit_quote: float
    gas_paid_quote: float
    net_profit_quote: float
    reason: str


@dataclass(frozen=True)
class SwapOutcomes:
    """Outcomes of :meth:`ExecutionModel.execute_swaps`, one entry per swap.

    Attributes
    ----------
    token_out
        Token received.
    executed
        Whether each swap executed.
    amount_out
        Exact output in base units (object array of Python ints; 0 when not executed).
    gas_paid_wei
        Gas paid (object array of Python ints).
    value_in_quote, value_out_quote, gas_paid_quote
        Input, output and gas valued in the quote token at the including block.
    """

    token_out: str
    executed: npt.NDArray[np.bool_]
    amount_out: ObjArray
    gas_paid_wei: ObjArray
    value_in_quote: FloatArray
    value_out_quote: FloatArray
    gas_paid_quote: FloatArray


@dataclass(frozen=True)
class _Route:
    pools: tuple[int, ...]
    dirs: tuple[int, ...]  # 0: token0 in, 1: token1 in
    fees: tuple[int, ...]
    profit_token: str
    cex_side: str  # "" | "sell_on_cex" | "buy_on_cex"
    cex_key: tuple[str, str]  # (asset, other) for cex_dex


class ExecutionModel:
    """Outcomes of trades on a :class:`~arbkit.market.history.MarketHistory`.

    Parameters
    ----------
    history
        The market history trades are replayed on.
    config
        Inclusion, competition, revert and cost options.
    scan_config
        Token decimals, quote and native token, Aave premium and CEX fee (shared with
        the scanner so that predicted and realised figures use one set of numbers).
    """

    def __init__(
        self,
        history: MarketHistory,
        config: ExecutionConfig | None = None,
        scan_config: ScanConfig | None = None,
    ) -> None:
        self.history = history
        self.config = config or ExecutionConfig()
        self.scan_config = scan_config or ScanConfig()
        cfg, scfg = self.config, self.scan_config
        self._first_block = int(history.block_numbers[0])
        self._n = history.n_blocks
        self._block_ms = cfg.block_time_s * 1000.0
        self._r0, self._r1 = history.reserves()
        # reserve * 1e4, the fee-free part of every swap's denominator, computed once
        self._rb0, self._rb1 = self._r0 * BPS, self._r1 * BPS
        pools = history.pools
        self._pool_idx = history.pool_index
        self._pool_tokens = [(p.token0, p.token1) for p in pools]
        self._pool_fees = [p.fee_bps for p in pools]
        self._base_fee: list[int] = history.blocks["base_fee_wei"].to_list()
        self._base_fee_arr = np.empty(self._n, dtype=object)
        self._base_fee_arr[:] = self._base_fee
        # the rival's total payment to the builder per block (tip * its gas + coinbase)
        if "competitor_tip_wei" in history.blocks.columns:
            rival_tip = history.blocks["competitor_tip_wei"].cast(pl.Float64).to_numpy()
        else:
            rival_tip = np.full(self._n, float(cfg.default_competitor_tip_wei))
        self._rival_bid = rival_tip * np.float64(cfg.rival_gas_units)
        if "competitor_bribe_wei" in history.blocks.columns:
            bribe = history.blocks["competitor_bribe_wei"].cast(pl.Float64).to_numpy()
            self._rival_bid = self._rival_bid + bribe
        # where the history says a rival came: (block position, pool) of its swaps
        self._rival_at: npt.NDArray[np.bool_] | None = None
        swaps = history.swaps
        mode = cfg.rival_presence
        if mode == "auto":
            mode = "history" if swaps.height else "hazard"
        if mode == "history":
            if not swaps.height:
                raise DataError(
                    "execution: rival_presence='history' needs the history's swaps table"
                )
            riv = swaps.filter(pl.col("kind") == "rival")
            at = np.zeros((self._n, len(self._pool_idx) + 1), dtype=np.bool_)  # + padding
            if riv.height:
                pos = riv["block"].to_numpy() - self._first_block
                pool = np.asarray([self._pool_idx[p] for p in riv["pool"].to_list()])
                ok = (pos >= 0) & (pos < self._n)
                at[pos[ok], pool[ok]] = True
            self._rival_at = at
        # CEX best bid/ask per (asset, other) in on-chain names, per block.
        self._cex_bid: dict[tuple[str, str], FloatArray] = {}
        self._cex_ask: dict[tuple[str, str], FloatArray] = {}
        q = history.cex_quotes
        if q.height:
            best = q.group_by("block", "symbol").agg(pl.col("bid").max(), pl.col("ask").min())
            aliases = scfg.cex_asset_aliases
            for (symbol,), grp in sorted(best.group_by("symbol"), key=lambda kv: str(kv[0][0])):
                base, _, quote = str(symbol).partition("/")
                key = (aliases.get(base, base), aliases.get(quote, quote))
                bid = np.full(self._n, np.nan)
                ask = np.full(self._n, np.nan)
                idx = grp["block"].to_numpy() - self._first_block
                ok = (idx >= 0) & (idx < self._n)
                bid[idx[ok]] = grp["bid"].to_numpy()[ok]
                ask[idx[ok]] = grp["ask"].to_numpy()[ok]
                # the CEX leg settles at the latest quote at or before the block
                self._cex_bid[key] = _ffill(bid)
                self._cex_ask[key] = _ffill(ask)
        r0f, r1f = history.reserves_float()
        for t0, t1 in self._pool_tokens:
            for t in (t0, t1):
                if t not in scfg.token_decimals:
                    raise DataError(f"history: token {t!r} has no decimals in ScanConfig")
        whole = price_tokens(self._pool_tokens, r0f, r1f, self._cex_bid, self._cex_ask, scfg)
        dec = scfg.token_decimals
        self._unit_price = {t: p / 10.0 ** dec[t] for t, p in whole.items()}
        if scfg.native_token not in self._unit_price:
            raise DataError(f"history: no price for the native token {scfg.native_token!r}")
        self._routes: dict[tuple[tuple[str, ...], str, str, str], _Route] = {}

    def rival_bids(
        self,
        t: IntArray,
        inc: IntArray,
        start_tokens: Sequence[str],
        amounts: FloatArray,
        edge_bps: FloatArray,
    ) -> FloatArray:
        """Return the rival's bid (wei) for each contested trade (module docstring, step 2).

        Parameters
        ----------
        t, inc
            Decision and including block positions.
        start_tokens, amounts
            The trades' input token and size (base units).
        edge_bps
            The trades' edges.
        """
        cfg = self.config
        volume = np.full(t.size, np.nan)
        tokens = np.asarray(start_tokens, dtype=object)
        for token in dict.fromkeys(start_tokens):
            price = self._unit_price.get(token)
            if price is not None:
                rows = np.flatnonzero(tokens == token)
                volume[rows] = amounts[rows] * price[t[rows]]
        return scale_rival_bid(
            self._rival_bid[inc],
            volume,
            edge_bps,
            self._unit_price[self.scan_config.native_token][t],
            reference_volume=cfg.rival_bid_reference_volume_quote,
            elasticity=cfg.rival_bid_volume_elasticity,
            cap_share=cfg.rival_bid_cap_share,
        )

    def _contest(
        self,
        t: IntArray,
        inc: IntArray,
        routes: Sequence[Sequence[str]],
        start_tokens: Sequence[str],
        amounts: FloatArray,
        edge_bps: FloatArray,
    ) -> tuple[FloatArray | None, FloatArray]:
        """Return who contests each trade and the rival's bid per gas (step 2).

        ``present`` is 1.0 where the history has a rival's swap on a route pool in the
        including block (``None`` without history presence: the hazard decides); the bid
        is :meth:`rival_bids` per unit of the rival's gas.
        """
        present: FloatArray | None = None
        if self._rival_at is not None:
            pad = self._rival_at.shape[1] - 1
            hops = max((len(r) for r in routes), default=1)
            pools = np.full((len(routes), hops), pad, dtype=np.int64)
            for i, r in enumerate(routes):
                for j, p in enumerate(r):
                    pools[i, j] = self._pool_idx.get(p, pad)
            hit = self._rival_at[inc[:, None], pools].any(axis=1)
            present = np.asarray(hit, dtype=np.float64)
        per_gas = self.rival_bids(t, inc, start_tokens, amounts, edge_bps) / np.float64(
            self.config.rival_gas_units
        )
        return present, per_gas

    # -- helpers -------------------------------------------------------------------------
    def unit_price(self, token: str) -> FloatArray:
        """Return the quote value of one base unit of ``token`` at each block (NaN if unknown)."""
        try:
            return self._unit_price[token]
        except KeyError:
            raise DataError(f"no price for token {token!r} in this history") from None

    def _route(self, route: Sequence[str], start: str, kind: str, symbol: str) -> _Route:
        key = (tuple(route), start, kind, symbol)
        cached = self._routes.get(key)
        if cached is not None:
            return cached
        if not route:
            raise DataError("trade: empty route")
        pools: list[int] = []
        dirs: list[int] = []
        token = start
        cex_side, cex_key = "", ("", "")
        if kind == "cex_dex":
            if len(route) != 1:
                raise DataError(f"trade: a cex_dex route has one pool, got {list(route)}")
            asset, _, other = symbol.partition("/")
            if not other:
                raise DataError(f"trade: cex_dex symbol {symbol!r} is not ASSET/OTHER")
            cex_side = "buy_on_cex" if start == asset else "sell_on_cex"
            cex_key = (asset, other)
            if cex_key not in self._cex_bid:
                raise DataError(f"trade: no CEX quotes for {symbol!r} in this history")
        elif kind not in ("dex_dex", "triangular"):
            raise DataError(f"trade: unknown kind {kind!r}")
        for pid in route:
            p = self._pool_idx.get(pid)
            if p is None:
                raise DataError(f"trade: pool {pid!r} is not in this history")
            t0, t1 = self._pool_tokens[p]
            if token == t0:
                d, token = 0, t1
            elif token == t1:
                d, token = 1, t0
            else:
                raise DataError(f"trade: route {list(route)} cannot take {token!r} into {pid!r}")
            pools.append(p)
            dirs.append(d)
        if kind == "cex_dex":
            profit_token = cex_key[1]
            expect = cex_key[1] if cex_side == "buy_on_cex" else cex_key[0]
            if token != expect:
                raise DataError(f"trade: cex_dex route {list(route)} does not fit {symbol!r}")
        else:
            profit_token = start
            if token != start:
                raise DataError(f"trade: route {list(route)} does not return to {start!r}")
        r = _Route(
            tuple(pools),
            tuple(dirs),
            tuple(self._pool_fees[p] for p in pools),
            profit_token,
            cex_side,
            cex_key,
        )
        self._routes[key] = r
        return r

    def _flash_fee(self, source: str, amount: int) -> int:
        if not self.config.charge_flash_fee or source != "aave":
            return 0
        return aave_flash_fee(amount, self.scan_config.aave_premium_bps)

    # -- scalar API ----------------------------------------------------------------------
    def execute(
        self,
        trade: Trade,
        rng: np.random.Generator | None = None,
        *,
        draws: tuple[float, float] | None = None,
    ) -> Outcome:
        """Return the outcome of one trade.

        Parameters
        ----------
        trade
            The trade.
        rng
            Source of the two uniforms ``(u_incl, u_rival)`` (``rng.random(2)``).
        draws
            The two uniforms given explicitly instead of ``rng``.

        Raises
        ------
        DataError
            If the trade does not fit the history (unknown pool, broken route, decision
            block outside the history, negative amount or minimum profit).
        """
        if draws is None:
            if rng is None:
                raise ValueError("execute: pass rng or draws")
            u = rng.random(2)
            u_incl, u_rival = float(u[0]), float(u[1])
        else:
            u_incl, u_rival = float(draws[0]), float(draws[1])
        cfg = self.config
        route = self._route(trade.route, trade.start_token, trade.kind, trade.symbol)
        t = trade.block - self._first_block
        if not 0 <= t < self._n:
            raise DataError(f"trade: decision block {trade.block} is outside the history")
        amount = int(trade.amount_in)
        if amount < 0 or trade.min_profit < 0 or trade.priority_fee_wei < 0 or trade.bribe_wei < 0:
            raise DataError(
                "trade: amount_in, min_profit, priority_fee_wei and bribe_wei must be >= 0"
            )
        if trade.latency_ms < 0 or trade.age_blocks < 0:
            raise DataError("trade: latency_ms and age_blocks must be >= 0")
        tip = int(trade.priority_fee_wei)

        def result(
            included: int | None, reason: str, profit: int = 0, fee: int = 0, gas: int = 0
        ) -> Outcome:
            gas_paid = bribe_paid = 0
            gas_q = profit_q = bribe_q = 0.0
            if included is not None:
                i = included - self._first_block
                if cfg.charge_gas:
                    gas_paid = gas * (self._base_fee[i] + tip)
                    if reason == "ok":
                        bribe_paid = int(trade.bribe_wei)
                gas_q = float(np.float64(float(gas_paid)) * self._unit_price[native][i])
                bribe_q = float(np.float64(float(bribe_paid)) * self._unit_price[native][i])
                profit_q = float(
                    np.float64(float(profit)) * self._unit_price[route.profit_token][i]
                )
            return Outcome(
                trade.block,
                tuple(trade.route),
                trade.kind,
                trade.start_token,
                route.profit_token,
                amount,
                included,
                reason == "ok",
                profit,
                fee,
                gas,
                gas_paid,
                bribe_paid,
                profit_q,
                gas_q,
                float(np.float64(profit_q - gas_q) - np.float64(bribe_q)),
                reason,
            )

        native = self.scan_config.native_token
        first = 1 + math.floor(trade.latency_ms / self._block_ms)
        bid = np.float64(tip) + np.float64(trade.bribe_wei) / np.float64(max(trade.gas_units, 1))
        p_inc = -np.expm1(-bid / np.float64(cfg.inclusion_tip_scale_wei))
        if cfg.certain_inclusion:
            p_inc = np.float64(1.0)
        extra_f = _extra_delay(np.float64(u_incl), p_inc)
        if not extra_f <= cfg.max_delay_blocks or t + first + int(extra_f) >= self._n:
            return result(None, "not_included")
        extra = int(extra_f)
        inc = t + first + extra
        included_block = inc + self._first_block
        gas_revert = int(trade.gas_units * cfg.revert_gas_fraction)
        if cfg.competition:
            present, rival = self._contest(
                np.array([t]),
                np.array([inc]),
                [trade.route],
                [trade.start_token],
                np.array([float(amount)]),
                np.array([float(trade.edge_bps)]),
            )
            p_riv = _rival_probability(
                np.float64(cfg.rival_rate_per_block),
                np.float64(trade.edge_bps),
                np.float64(cfg.rival_edge_scale_bps),
                np.float64(trade.age_blocks) + np.float64(trade.latency_ms) / self._block_ms,
                np.float64(extra),
                bid,
                np.float64(rival[0]),
                np.float64(cfg.auction_sharpness),
                None if present is None else np.float64(present[0]),
            )
            if u_rival < p_riv:
                if cfg.revert_protection:
                    return result(None, "competitor")
                return result(included_block, "competitor", gas=gas_revert)
        s = inc - 1  # state at the end of the block before the including one
        a = amount
        reverted = a <= 0
        for p, d, f in zip(route.pools, route.dirs, route.fees, strict=True):
            if a <= 0:
                reverted = True
                break
            r_in = self._r0[s, p] if d == 0 else self._r1[s, p]
            r_out = self._r1[s, p] if d == 0 else self._r0[s, p]
            awf = a * (BPS - f)
            a = awf * r_out // (r_in * BPS + awf)
        if reverted or a <= 0:
            if cfg.revert_protection:
                return result(None, "amm_revert")
            return result(included_block, "amm_revert", gas=gas_revert)
        fee = 0
        if route.cex_side == "sell_on_cex":
            planned = self._cex_unit(route.cex_key, t, sell=True)
            unit = self._cex_unit(route.cex_key, inc, sell=True)
            check = int(np.floor(np.float64(float(a)) * planned)) - amount
            profit = int(np.floor(np.float64(float(a)) * unit)) - amount
        elif route.cex_side == "buy_on_cex":
            planned = self._cex_unit(route.cex_key, t, sell=False)
            unit = self._cex_unit(route.cex_key, inc, sell=False)
            check = a - int(np.ceil(np.float64(float(amount)) * planned))
            profit = a - int(np.ceil(np.float64(float(amount)) * unit))
        else:
            fee = self._flash_fee(trade.flash_source, amount)
            profit = check = a - amount - fee
        if check < trade.min_profit:
            if cfg.revert_protection:
                return result(None, "min_profit")
            return result(included_block, "min_profit", gas=gas_revert)
        return result(included_block, "ok", profit=profit, fee=fee, gas=int(trade.gas_units))

    def _cex_unit(self, key: tuple[str, str], i: int, *, sell: bool) -> np.float64:
        return self._cex_units(key, np.array([i]), sell=sell)[0]  # type: ignore[no-any-return]

    def _cex_units(self, key: tuple[str, str], idx: IntArray, *, sell: bool) -> FloatArray:
        asset, other = key
        dec = self.scan_config.token_decimals
        scale = 10.0 ** (dec[other] - dec[asset])
        fee = self.scan_config.cex_fee_bps / BPS
        quote = (self._cex_bid if sell else self._cex_ask)[key][idx]
        if not np.all(np.isfinite(quote)):
            bad = int(np.asarray(idx)[~np.isfinite(quote)][0]) + self._first_block
            raise DataError(f"no {asset}/{other} CEX quote at or before block {bad}")
        if sell:
            return quote * scale * (1.0 - fee)
        return quote * scale * (1.0 + fee)

    # -- spot swaps ----------------------------------------------------------------------
    def execute_swaps(
        self,
        pool: str,
        token_in: str,
        amount_in: npt.ArrayLike,
        blocks: npt.ArrayLike,
        *,
        priority_fee_wei: int | None = None,
        gas_units: int = 110_000,
    ) -> SwapOutcomes:
        """Return the outcomes of plain swaps (no flash loan, no competition) on one pool.

        A swap decided at block ``t`` lands at the top of block ``t + 1`` and executes on
        the state at the end of block ``t`` with the exact Uniswap V2 integer math; it pays
        ``gas_units * (base_fee + tip)`` of block ``t + 1``. Swaps decided at the last
        block of the history, or with a zero amount, do not execute (output 0, no gas).

        Parameters
        ----------
        pool
            Pool id.
        token_in
            Token paid in (one of the pool's two tokens).
        amount_in
            Input amounts in base units (Python ints or int64), one per swap.
        blocks
            Decision blocks, one per swap.
        priority_fee_wei
            Tip per gas (default ``ScanConfig.priority_fee_wei``).
        gas_units
            Gas of one swap.
        """
        p = self._pool_idx.get(pool)
        if p is None:
            raise DataError(f"swap: pool {pool!r} is not in this history")
        t0, t1 = self._pool_tokens[p]
        if token_in not in (t0, t1):
            raise DataError(f"swap: {token_in!r} is not a token of {pool!r} ({t0}/{t1})")
        d = 0 if token_in == t0 else 1
        token_out = t1 if d == 0 else t0
        amt = np.asarray(amount_in, dtype=object).ravel()
        t = np.asarray(blocks, dtype=np.int64).ravel() - self._first_block
        if amt.shape != t.shape:
            raise ValueError("swap: amount_in and blocks must have the same length")
        if t.size and (t.min() < 0 or t.max() >= self._n):
            raise DataError("swap: a decision block is outside the history")
        if t.size and (amt < 0).astype(bool).any():
            raise DataError("swap: amounts must be >= 0")
        live = (t + 1 < self._n) & (amt > 0).astype(bool)
        s = np.where(live, t, 0)
        inc = np.where(live, t + 1, 0)
        r_in = (self._r0 if d == 0 else self._r1)[s, p]
        r_out = (self._r1 if d == 0 else self._r0)[s, p]
        a = np.where(live, amt, 0)
        awf = a * (BPS - self._pool_fees[p])
        out = np.where(live, awf * r_out // (r_in * BPS + awf), 0)
        tip = self.scan_config.priority_fee_wei if priority_fee_wei is None else priority_fee_wei
        gas_paid = np.zeros(t.size, dtype=object)
        if self.config.charge_gas:
            gas_paid = np.where(live, (self._base_fee_arr[inc] + tip) * gas_units, 0)
        price_in = self._unit_price[token_in][inc]
        price_out = self._unit_price[token_out][inc]
        native = self._unit_price[self.scan_config.native_token][inc]
        return SwapOutcomes(
            token_out=token_out,
            executed=live,
            amount_out=out,
            gas_paid_wei=gas_paid,
            value_in_quote=np.where(live, a.astype(np.float64) * price_in, 0.0),
            value_out_quote=np.where(live, out.astype(np.float64) * price_out, 0.0),
            gas_paid_quote=np.where(live, gas_paid.astype(np.float64) * native, 0.0),
        )

    # -- vectorised API ------------------------------------------------------------------
    def execute_batch(
        self,
        trades: pl.DataFrame,
        *,
        rng: np.random.Generator | None = None,
        draws: npt.ArrayLike | None = None,
    ) -> pl.DataFrame:
        """Return the outcomes of many trades at once (same results as :meth:`execute`).

        Parameters
        ----------
        trades
            One row per trade with ``block``, ``route``, ``start_token``, ``amount_in``,
            ``kind`` and, optionally, ``symbol``, ``flash_source`` (default ``balancer``;
            ``inventory`` for ``cex_dex``), ``gas_units`` (default 220,000),
            ``min_profit`` (0), ``priority_fee_wei`` (``ScanConfig.priority_fee_wei``),
            ``bribe_wei`` (0),
            ``latency_ms`` (0), ``edge_bps`` (0) and ``age_blocks`` (0). The scanner's
            candidates table fits as it is.
        rng
            Source of the uniforms: ``rng.random((n, 2))``.
        draws
            An ``(n, 2)`` array of uniforms ``(u_incl, u_rival)`` instead of ``rng``.

        Returns
        -------
        polars.DataFrame
            One row per trade, in order, with the columns of :data:`OUTCOME_COLUMNS`.
        """
        n = trades.height
        if draws is None:
            if rng is None:
                raise ValueError("execute_batch: pass rng or draws")
            u = rng.random((n, 2))
        else:
            u = np.asarray(draws, dtype=np.float64)
            if u.shape != (n, 2):
                raise ValueError(f"execute_batch: draws must have shape ({n}, 2), got {u.shape}")
        if n == 0:
            return pl.DataFrame(schema=dict(OUTCOME_COLUMNS))
        cfg, scfg = self.config, self.scan_config
        for name in ("block", "route", "start_token", "amount_in", "kind"):
            if name not in trades.columns:
                raise DataError(f"trades: missing column {name!r}")

        def col(name: str, default: object, dtype: pl.DataType) -> pl.Series:
            if name in trades.columns:
                s = trades[name]
                if s.null_count():
                    raise DataError(f"trades: column {name!r} has nulls")
                return s.cast(dtype)
            return pl.Series(name, [default] * n, dtype=dtype)

        blocks = trades["block"].cast(pl.Int64).to_numpy()
        t = blocks - self._first_block
        bad = np.flatnonzero((t < 0) | (t >= self._n))
        if bad.size:
            raise DataError(
                f"trades: row {int(bad[0])}: decision block {int(blocks[bad[0]])} is outside "
                "the history"
            )
        amounts = _series_to_object_ints(trades["amount_in"].cast(pl.Int128))
        min_profit = _series_to_object_ints(col("min_profit", 0, pl.Int128()))
        tips = col("priority_fee_wei", scfg.priority_fee_wei, pl.Int64()).to_numpy()
        latency = col("latency_ms", 0.0, pl.Float64()).to_numpy()
        edge = col("edge_bps", 0.0, pl.Float64()).to_numpy()
        age = col("age_blocks", 0, pl.Int64()).to_numpy()
        gas_units = col("gas_units", 220_000, pl.Int64()).to_numpy()
        bribes = col("bribe_wei", 0, pl.Int64()).to_numpy()
        symbols = col("symbol", "", pl.String()).alias("symbol")
        if "flash_source" in trades.columns:
            sources = trades["flash_source"].alias("flash_source")
        else:
            sources = (
                trades.select(
                    pl.when(pl.col("kind") == "cex_dex")
                    .then(pl.lit("inventory"))
                    .otherwise(pl.lit("balancer"))
                    .alias("flash_source")
                )
            ).to_series()
        neg = np.flatnonzero(
            (amounts < 0).astype(bool) | (min_profit < 0).astype(bool) | (tips < 0)
        )
        if neg.size:
            raise DataError(
                f"trades: row {int(neg[0])}: amount_in, min_profit and priority_fee_wei must "
                "be >= 0"
            )
        if np.any(latency < 0) or np.any(age < 0):
            raise DataError("trades: latency_ms and age_blocks must be >= 0")

        # 1. inclusion
        first = 1 + np.floor(latency / self._block_ms).astype(np.int64)
        if np.any(bribes < 0):
            raise DataError("trades: bribe_wei must be >= 0")
        bid = tips.astype(np.float64) + bribes.astype(np.float64) / np.maximum(gas_units, 1).astype(
            np.float64
        )
        p_inc = -np.expm1(-bid / np.float64(cfg.inclusion_tip_scale_wei))
        if cfg.certain_inclusion:
            p_inc = np.ones(n)
        extra_f = _extra_delay(u[:, 0], p_inc)
        ok_delay = extra_f <= cfg.max_delay_blocks  # NaN/inf compare False
        extra = np.where(ok_delay, extra_f, 0).astype(np.int64)
        inc = t + first + extra
        included = ok_delay & (inc < self._n)
        inc = np.where(included, inc, 0)

        # reason codes index REASONS: ok, not_included, competitor, min_profit, amm_revert
        reason = np.where(included, 0, 1).astype(np.int8)
        # 2. competition
        if cfg.competition:
            present_b, rival_b = self._contest(
                t,
                inc,
                trades["route"].to_list(),
                trades["start_token"].to_list(),
                amounts.astype(np.float64),
                edge,
            )
            p_riv = _rival_probability(
                np.float64(cfg.rival_rate_per_block),
                edge,
                np.float64(cfg.rival_edge_scale_bps),
                age.astype(np.float64) + latency / self._block_ms,
                extra.astype(np.float64),
                bid,
                rival_b,
                np.float64(cfg.auction_sharpness),
                present_b,
            )
            reason[included & (u[:, 1] < p_riv)] = 2
        # 3. re-pricing, one route (and flash source) at a time, exact object-int arithmetic
        keyed = trades.select(
            pl.col("route"),
            pl.col("start_token"),
            pl.col("kind"),
            symbols,
            sources,
        ).with_row_index("row")
        groups = keyed.group_by(
            ["route", "start_token", "kind", "symbol", "flash_source"], maintain_order=True
        ).agg(pl.col("row"))
        profit = np.zeros(n, dtype=object)
        fee = np.zeros(n, dtype=object)
        profit_q = np.zeros(n)
        token_names: list[str] = []
        token_code = np.zeros(n, dtype=np.int32)
        premium = self.scan_config.aave_premium_bps
        for route_ids, start, kind, symbol, source, rows_all in groups.iter_rows():
            route = self._route(route_ids, start, kind, symbol)
            rows_all_arr = np.asarray(rows_all, dtype=np.int64)
            if route.profit_token not in token_names:
                token_names.append(route.profit_token)
            token_code[rows_all_arr] = token_names.index(route.profit_token)
            rows = rows_all_arr[reason[rows_all_arr] == 0]
            if rows.size == 0:
                continue
            s = inc[rows] - 1  # state at the end of the block before the including one
            amt = amounts[rows]
            a = amt
            # a zero amount stays zero through every hop, and a zero input reverts in the
            # pair, so checking the last output covers every hop
            for p, d, f in zip(route.pools, route.dirs, route.fees, strict=True):
                rb_in = (self._rb0 if d == 0 else self._rb1)[s, p]
                r_out = (self._r1 if d == 0 else self._r0)[s, p]
                awf = a * (BPS - f)
                a = awf * r_out // (rb_in + awf)
            failed = (a <= 0).astype(bool) | (amt <= 0).astype(bool)
            fe = np.zeros(rows.size, dtype=object)
            if route.cex_side:
                sell = route.cex_side == "sell_on_cex"
                planned = self._cex_units(route.cex_key, t[rows], sell=sell)
                unit = self._cex_units(route.cex_key, inc[rows], sell=sell)
                if sell:
                    a_f = a.astype(np.float64)
                    check = _to_object_ints(np.floor(a_f * planned)) - amt
                    pr = _to_object_ints(np.floor(a_f * unit)) - amt
                else:
                    amt_f = amt.astype(np.float64)
                    check = a - _to_object_ints(np.ceil(amt_f * planned))
                    pr = a - _to_object_ints(np.ceil(amt_f * unit))
            else:
                if source == "aave" and cfg.charge_flash_fee and premium:
                    fe = (amt * premium + BPS // 2) // BPS
                    pr = a - amt - fe
                else:
                    pr = a - amt
                check = pr
            below = (~failed) & (check < min_profit[rows]).astype(bool)
            reason[rows[failed]] = 4
            reason[rows[below]] = 3
            good = ~(failed | below)
            g_rows = rows[good]
            profit[g_rows] = pr[good]
            fee[g_rows] = fe[good]
            profit_q[g_rows] = (
                pr[good].astype(np.float64) * self._unit_price[route.profit_token][inc[g_rows]]
            )

        # 4-5. reverts and gas
        success = reason == 0
        if cfg.revert_protection:
            included = included & success
        gas_revert = (gas_units * cfg.revert_gas_fraction).astype(np.int64)
        gas_used = np.where(included, np.where(success, gas_units, gas_revert), 0)
        gas_paid: npt.NDArray[Any] = np.zeros(n, dtype=np.int64)
        if cfg.charge_gas:
            price = self._base_fee_arr[inc].astype(object) + tips.astype(object)
            gas_paid = np.where(included, gas_used.astype(object) * price, 0)
        native_price = self._unit_price[scfg.native_token][inc]
        gas_q = np.where(included, gas_paid.astype(np.float64) * native_price, 0.0)
        bribe_paid = np.where(success & cfg.charge_gas, bribes, 0)
        bribe_q = np.where(included, bribe_paid.astype(np.float64) * native_price, 0.0)
        out = pl.DataFrame(
            [
                pl.Series("block", blocks, dtype=pl.Int64),
                trades["route"].alias("route"),
                trades["kind"].alias("kind"),
                trades["start_token"].alias("start_token"),
                pl.Series("profit_token", token_code).replace_strict(
                    list(range(len(token_names))), token_names, return_dtype=pl.String
                )
                if token_names
                else pl.Series("profit_token", [None] * n, dtype=pl.String),
                trades["amount_in"].cast(pl.Int128).alias("amount_in"),
                pl.Series("included_block", inc + self._first_block, dtype=pl.Int64),
                pl.Series("success", success),
                _int128_series("realized_profit", profit),
                _int128_series("flash_fee", fee),
                pl.Series("gas_used", gas_used, dtype=pl.Int64),
                _int128_series("gas_paid_wei", gas_paid),
                _int128_series("bribe_paid_wei", bribe_paid),
                pl.Series("realized_profit_quote", profit_q),
                pl.Series("gas_paid_quote", gas_q),
                pl.Series("net_profit_quote", (profit_q - gas_q) - bribe_q),
                pl.Series("reason", reason).replace_strict(
                    list(range(len(REASONS))), list(REASONS), return_dtype=pl.String
                ),
            ]
        )
        return out.with_columns(
            pl.when(pl.Series(included)).then(pl.col("included_block")).alias("included_block")
        )


def _ffill(x: FloatArray) -> FloatArray:
    idx = np.where(np.isnan(x), 0, np.arange(x.size))
    np.maximum.accumulate(idx, out=idx)
    out = x[idx]
    return np.asarray(out, dtype=np.float64)


def _to_object_ints(values: FloatArray) -> ObjArray:
    """Exact Python ints of integral floats (beyond int64 when needed)."""
    out = np.empty(values.size, dtype=object)
    if values.size and np.all(np.abs(values) < 2.0**62):
        out[:] = values.astype(np.int64).tolist()
    else:
        out[:] = [int(x) for x in values.tolist()]
    return out


def _series_to_object_ints(series: pl.Series) -> ObjArray:
    if series.null_count():
        raise DataError(f"trades: column {series.name!r} has nulls")
    try:
        return series.cast(pl.Int64, strict=True).to_numpy().astype(object)
    except pl.exceptions.InvalidOperationError:
        out = np.empty(series.len(), dtype=object)
        out[:] = series.to_list()
        return out


def _int128_series(name: str, values: npt.NDArray[Any]) -> pl.Series:
    if values.dtype != object:
        return pl.Series(name, values, dtype=pl.Int64).cast(pl.Int128)
    try:
        fast = values.astype(np.int64)
    except OverflowError:
        return pl.Series(name, values.tolist(), dtype=pl.Int128)
    return pl.Series(name, fast, dtype=pl.Int64).cast(pl.Int128)


def _extra_delay(u: FloatArray | np.float64, p: FloatArray | np.float64) -> FloatArray:
    """Blocks waited past the first eligible one: inverse of the geometric law (inf: never)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        log_miss = np.log1p(-p)
        k = np.where(p >= 1.0, 0.0, np.where(p <= 0.0, np.inf, np.floor(np.log(u) / log_miss)))
    return np.asarray(k, dtype=np.float64)


def _rival_probability(
    rate: np.float64,
    edge_bps: FloatArray | np.float64,
    edge_scale: np.float64,
    exposure0: FloatArray | np.float64,
    extra: FloatArray | np.float64,
    bid: FloatArray | np.float64,
    rival_bid: FloatArray | np.float64,
    sharpness: np.float64,
    present: FloatArray | np.float64 | None = None,
) -> FloatArray:
    """Chance that a rival takes the edge first: it shows up, then outbids us (smoothly).

    ``present`` (0/1 per trade, from the history) replaces the hazard when given.
    """
    if present is None:
        hazard = rate * (1.0 + np.maximum(edge_bps, 0.0) / edge_scale) * (1.0 + exposure0 + extra)
        present = -np.expm1(-hazard)
    return np.asarray(present * rival_share(bid, rival_bid, sharpness), dtype=np.float64)


def scale_rival_bid(
    bid: FloatArray,
    volume_quote: FloatArray,
    edge_bps: FloatArray,
    native_price: FloatArray,
    *,
    reference_volume: float,
    elasticity: float,
    cap_share: float | None,
) -> FloatArray:
    """Scale a rival's bid to the contested volume and cap it at what the edge is worth.

    ``bid * (V / reference_volume) ** elasticity``, then at most
    ``cap_share * edge_bps / 1e4 * V / native_price`` (in the unit ``native_price``
    prices: per wei for a bid in wei, per ETH for one in ETH). A trade without a
    positive volume keeps ``bid``; without a finite cap it is not capped.
    """
    ok = np.isfinite(volume_quote) & (volume_quote > 0)
    ref = np.float64(reference_volume)
    scale = np.where(ok, (np.where(ok, volume_quote, ref) / ref) ** elasticity, 1.0)
    out = bid * scale
    if cap_share is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            cap = cap_share * np.maximum(edge_bps, 0.0) * 1e-4 * volume_quote / native_price
        out = np.where(ok & np.isfinite(cap), np.minimum(out, cap), out)
    return np.asarray(out, dtype=np.float64)


def rival_share(
    bid: FloatArray | np.float64 | float,
    rival_bid: FloatArray | np.float64 | float,
    sharpness: np.float64 | float,
) -> FloatArray:
    """``C**k / (B**k + C**k)``: the rival's chance to win the auction against our bid.

    Computed as ``1 / (1 + (B / C)**k)`` in logs (no overflow); 1/2 when both bid nothing,
    0 when only we bid, 1 when only the rival bids. Non-increasing in ``bid``.
    """
    b = np.asarray(bid, dtype=np.float64)
    c = np.asarray(rival_bid, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.float64(sharpness) * (np.log(b) - np.log(c))
        share = 0.5 * (1.0 - np.tanh(0.5 * z))  # 1 / (1 + exp(z)), stable
    both_zero = (b <= 0) & (c <= 0)
    return np.asarray(np.where(both_zero, 0.5, share), dtype=np.float64)
