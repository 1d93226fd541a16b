"""The one replay: what a policy may see and take at block ``t``, and when it learns the outcome.

:class:`ExecutionModel` says what happens to one trade. :class:`Replay` says everything
else every harness needs to replay many trades on a history, so that the backtest
(:class:`arbkit.backtest.Simulator`), the Gymnasium env and its vector env, the
decider's comparison and the dry-run pay the same for the same actions:

**Candidates.** The scanner runs once over the history and keeps the ``max_candidates``
best candidates of each block (8 by default), best expected net profit first. The gas
estimate of a candidate decided at block ``t`` uses the base fee of the block it lands
in, ``t + 1``: :func:`arbkit.market.gas.next_base_fees` gives it exactly from block
``t``'s header.

**Edges and their age.** A candidate's *gap* is its route (pools in hop order and start
token) over a run of consecutive blocks in which the route is a candidate; ``age_blocks``
counts the blocks of the run before ``t`` (causal). The execution model takes the age
as the edge's exposure to rivals.

**The gap rule.** Our trades do not move the replayed history, so a gap closed by our
trade would still show in the blocks after it. A candidate is withheld from a policy

- while one of its pools has an own trade in flight (until that trade's outcome is
  known);
- once a trade of the policy on the same gap was included (it landed, or a rival's
  backrun landed first: either way the gap is gone);
- while a pool that an included trade of ours traded still shows, in the replayed
  history, the state that trade executed on (the price there is the one we already
  traded against).

A trade that expired unincluded leaves its gap open after its deadline.

At most one candidate trade is sent per block.

**When outcomes are known.** An included trade's outcome is known at its including
block; an expired trade's at its deadline, ``t + first + max_delay_blocks`` (capped at
the end of the history), where ``first = 1 + floor(latency_ms / block_ms)`` is the first
block it may land in. A policy learns nothing about a trade before then, and every
outcome of a decision at ``t`` is known at ``t + label_delay_blocks(...)``: the label
delay of the route features and the training cut-off follow from it.

**Spot orders.** One lot of the base token worth a quote amount at the decision block,
bought with exact output or sold with exact input on the spot pool, long only
(:meth:`Replay.spot_fills`, :mod:`arbkit.execution.spot`).

**Common random numbers.** Each candidate has its own two uniforms drawn from the run's
seed (:meth:`Replay.draws`), so every policy replayed with the same seed meets the same
luck on the same candidate.

The state of one run (busy pools, gaps taken) is a :class:`GapLedger`; the vector env
keeps one per lane in arrays (:class:`LaneLedger`). :class:`OutcomeCells` maps draws to
the outcomes of default orders with array look-ups (the env's fast path), checked
against the execution model.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt
import polars as pl

from arbkit.errors import ConfigError, DataError
from arbkit.execution.config import ExecutionConfig
from arbkit.execution.model import REASONS, ExecutionModel, Outcome, Trade
from arbkit.execution.spot import SPOT_GAS_UNITS, SpotFills, pick_spot_pool, spot_fills
from arbkit.market.gas import next_base_fees
from arbkit.market.history import MarketHistory
from arbkit.opportunities import ScanConfig, scan_blocks

__all__ = [
    "DEFAULT_MAX_CANDIDATES",
    "NOT_INCLUDED",
    "GapLedger",
    "LaneLedger",
    "OutcomeCells",
    "Replay",
    "add_edge_age",
    "check_label_delay",
    "label_delay_blocks",
    "make_route_key",
    "route_keys",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
Int8Array = npt.NDArray[np.int8]

NOT_INCLUDED = REASONS.index("not_included")
DEFAULT_MAX_CANDIDATES = 8
"""Candidates a policy sees per block unless told otherwise."""


def label_delay_blocks(execution: ExecutionConfig, latency_ms: float = 0.0) -> int:
    """Return the blocks after a decision by which its outcome is known, whatever it is.

    ``1 + floor(latency_ms / block_ms) + max_delay_blocks``: the last block the trade
    could land in. Labels and rewards of a decision at ``t`` may be used from
    ``t + label_delay_blocks`` on, never earlier.
    """
    block_ms = execution.block_time_s * 1_000.0
    return 1 + math.floor(latency_ms / block_ms) + execution.max_delay_blocks


def check_label_delay(delay: int, execution: ExecutionConfig, latency_ms: float = 0.0) -> None:
    """Refuse a label delay under which a policy would learn an outcome too early.

    Raises
    ------
    ConfigError
        If ``delay`` is below :func:`label_delay_blocks`: an outcome would be learnt
        before its including block (or its deadline).
    """
    need = label_delay_blocks(execution, latency_ms)
    if delay < need:
        raise ConfigError(
            f"label_delay_blocks={delay} would reveal outcomes before their including block: "
            f"with latency {latency_ms:g} ms and max_delay_blocks="
            f"{execution.max_delay_blocks}, a trade decided at t is known at t + {need} at the "
            "latest"
        )


def make_route_key(route: Sequence[str], start_token: str = "", symbol: str = "") -> str:
    """Return the key identifying a route: ``start:pool1>pool2``.

    The pools in hop order plus the start token (a ``cex_dex`` pool is traded in both
    directions); a candidate without pools is keyed by its symbol.
    """
    if not route:
        return symbol
    return f"{start_token}:{'>'.join(route)}"


def route_keys(candidates: pl.DataFrame) -> list[str]:
    """Return :func:`make_route_key` of every row (``route``, ``start_token``, ``symbol``)."""
    n = candidates.height
    starts = (
        candidates["start_token"].to_list() if "start_token" in candidates.columns else [""] * n
    )
    symbols = candidates["symbol"].to_list() if "symbol" in candidates.columns else [""] * n
    return [
        make_route_key(r or (), s or "", y or "")
        for r, s, y in zip(candidates["route"].to_list(), starts, symbols, strict=True)
    ]


def add_edge_age(candidates: pl.DataFrame) -> pl.DataFrame:
    """Add ``age_blocks`` and ``gap_id`` to a candidates table (causal).

    ``age_blocks`` is the number of consecutive blocks just before ``t`` in which the same
    route (:func:`route_keys`) was a candidate too (0 for a new edge); ``gap_id`` numbers
    the runs (route, consecutive blocks), the same for every candidate of one run. Both
    read blocks ``<= t`` only.
    """
    keys = route_keys(candidates)
    frame = pl.DataFrame({"key": keys, "block": candidates["block"].cast(pl.Int64)}).with_row_index(
        "_row"
    )
    runs = (
        frame.select("key", "block")
        .unique()
        .sort("key", "block")
        .with_columns(
            (pl.col("block").diff().over("key") != 1).fill_null(True).cum_sum().alias("_run")
        )
        .with_columns(pl.col("block").min().over("_run").alias("_first"))
        .with_columns((pl.col("block") - pl.col("_first")).alias("age_blocks"))
    )
    # gaps numbered in order of their first block (then route): causal, a run that starts
    # by block t has the same number in every history that reaches t
    order = (
        runs.select("_run", "_first", "key")
        .unique("_run")
        .sort("_first", "key")
        .with_row_index("gap_id")
        .select("_run", pl.col("gap_id").cast(pl.Int64))
    )
    runs = runs.join(order, on="_run", how="left")
    joined = frame.join(runs, on=["key", "block"], how="left").sort("_row")
    return candidates.with_columns(
        joined["age_blocks"].cast(pl.Int64).alias("age_blocks"),
        joined["gap_id"].cast(pl.Int64).alias("gap_id"),
    )


class Replay:
    """What a policy may see and take at each block of a history, and what it costs.

    Parameters
    ----------
    history
        The market history.
    execution
        Options of the execution model.
    scan
        Scanner options (its ``max_candidates`` is replaced by the replay's).
    max_candidates
        Candidates a policy sees per block (the best ones by expected net profit).
    latency_ms
        Time from seeing a block to a trade reaching the builders.
    priority_fee_wei
        Tip per gas of default orders (``scan.priority_fee_wei`` when omitted).
    candidates
        A candidates table to use instead of scanning (it gains ``cand_id``,
        ``age_blocks`` and ``gap_id``).

    Attributes
    ----------
    model
        The execution model.
    candidates
        Every candidate of the history, sorted by block then expected net profit (best
        first), with ``cand_id`` (row number), ``age_blocks`` and ``gap_id``.
    first_eligible
        Blocks from a decision to the first block its trade may land in.
    """

    def __init__(
        self,
        history: MarketHistory,
        *,
        execution: ExecutionConfig | None = None,
        scan: ScanConfig | None = None,
        latency_ms: float = 0.0,
        priority_fee_wei: int | None = None,
        candidates: pl.DataFrame | None = None,
        max_candidates: int = DEFAULT_MAX_CANDIDATES,
    ) -> None:
        if max_candidates < 1:
            raise ConfigError(f"Replay: max_candidates={max_candidates} must be >= 1")
        if not math.isfinite(latency_ms) or latency_ms < 0:
            raise ConfigError(f"Replay: latency_ms={latency_ms} must be a finite number >= 0")
        if history.n_blocks < 2:
            raise DataError("Replay: the history needs at least two blocks")
        self.history = history
        self.execution = execution or ExecutionConfig()
        self.max_candidates = int(max_candidates)
        self.scan = (scan or ScanConfig()).model_copy(update={"max_candidates": max_candidates})
        self.latency_ms = float(latency_ms)
        tip = self.scan.priority_fee_wei if priority_fee_wei is None else int(priority_fee_wei)
        if tip < 0:
            raise ConfigError(f"Replay: priority_fee_wei={tip} must be >= 0")
        self.priority_fee_wei = tip
        self.model = ExecutionModel(history, self.execution, self.scan)
        self.n_blocks = history.n_blocks
        self.first_block = int(history.block_numbers[0])
        block_ms = self.execution.block_time_s * 1_000.0
        self.first_eligible = 1 + math.floor(self.latency_ms / block_ms)
        self.max_delay = self.execution.max_delay_blocks
        if candidates is None:
            candidates = self._scan()
        self.candidates = self._prepare(candidates)
        c = self.candidates
        pos = (c["block"].to_numpy() - self.first_block).astype(np.int64)
        self.cand_t: IntArray = pos
        self.starts: IntArray = np.searchsorted(pos, np.arange(self.n_blocks + 1)).astype(np.int64)
        pool_idx = history.pool_index
        self.n_pools = len(pool_idx)
        routes = c["route"].to_list()
        hops = max((len(r) for r in routes), default=1)
        pools = np.full((c.height, hops), self.n_pools, dtype=np.int64)  # padding: never busy
        for i, r in enumerate(routes):
            for j, p in enumerate(r):
                pools[i, j] = pool_idx[p]
        self.cand_pools: IntArray = pools
        self.cand_pool_lists: list[tuple[int, ...]] = [
            tuple(int(p) for p in row if p < self.n_pools) for row in pools
        ]
        self.cand_gap: IntArray = c["gap_id"].to_numpy().astype(np.int64)
        keys = route_keys(c)
        uniq = {k: i for i, k in enumerate(dict.fromkeys(keys))}
        self.cand_route: IntArray = np.asarray([uniq[k] for k in keys], dtype=np.int64)
        self.n_routes = len(uniq)
        self.cand_net: FloatArray = c["net_profit_quote"].to_numpy().astype(np.float64)
        self.next_change: IntArray = _next_change(history, self.n_pools)
        # plain lists for the scalar ledger (list indexing is the fastest scalar look-up)
        self.cand_route_list: list[int] = self.cand_route.tolist()
        self.cand_gap_list: list[int] = self.cand_gap.tolist()
        self.starts_list: list[int] = self.starts.tolist()
        width = int(np.diff(self.starts).max()) if self.n_blocks else 0
        self.max_per_block = max(width, 1)
        by_block = np.full((self.n_blocks, self.max_per_block), -1, dtype=np.int64)
        if c.height:
            rank = np.arange(c.height) - self.starts[pos]
            by_block[pos, rank] = np.arange(c.height)
        self.block_candidates: IntArray = by_block
        self._cells: OutcomeCells | None = None
        self._trades: pl.DataFrame | None = None
        # default orders' coinbase transfers: the candidates' own bids, when they carry one
        self._bribe: list[int] | None = (
            [int(b or 0) for b in c["bribe_wei"].to_list()] if "bribe_wei" in c.columns else None
        )

    # -- set-up ------------------------------------------------------------------------
    def _scan(self) -> pl.DataFrame:
        h = self.history
        b = h.blocks
        # the gas estimate of a trade decided at t uses the base fee of t + 1, exactly
        landing = next_base_fees(
            b["base_fee_wei"].cast(pl.Int64).to_numpy(),
            b["gas_used"].cast(pl.Int64).to_numpy(),
            b["gas_limit"].cast(pl.Int64).to_numpy(),
        )
        return scan_blocks(
            h.pool_states,
            base_fees=pl.DataFrame({"block": b["block"], "base_fee_wei": landing}),
            cex_quotes=h.cex_quotes,
            config=self.scan,
        )

    def _prepare(self, candidates: pl.DataFrame) -> pl.DataFrame:
        need = ("block", "route", "kind", "symbol", "start_token", "amount_in", "net_profit_quote")
        missing = [col for col in need if col not in candidates.columns]
        if missing:
            raise DataError(f"Replay: candidates lack column(s) {missing} (use scan_blocks')")
        first, last = self.first_block, int(self.history.block_numbers[-1])
        outside = candidates.filter(~pl.col("block").is_between(first, last))
        if outside.height:
            raise DataError(
                f"Replay: candidate block {outside['block'][0]} is outside the history "
                f"[{first}, {last}]"
            )
        unknown = set(candidates["route"].explode().drop_nulls().to_list()) - set(
            self.history.pool_index
        )
        if unknown:
            raise DataError(
                f"Replay: candidates trade pool(s) {sorted(unknown)} not in the history"
            )
        drop = [col for col in ("cand_id", "age_blocks", "gap_id") if col in candidates.columns]
        c = (
            candidates.drop(drop)
            .with_row_index("_row")
            .sort(["block", "net_profit_quote", "_row"], descending=[False, True, False])
            .drop("_row")
        )
        # at most max_candidates per block, best first
        c = c.filter(pl.int_range(pl.len()).over("block") < self.max_candidates)
        c = add_edge_age(c)
        return c.with_row_index("cand_id").with_columns(pl.col("cand_id").cast(pl.Int64))

    # -- luck and default orders -------------------------------------------------------
    def draws(self, seed: int) -> FloatArray:
        """Return the run's uniforms ``(u_incl, u_rival)``, one pair per candidate.

        From ``np.random.SeedSequence(seed)``: the same seed gives every policy the same
        luck on the same candidate (common random numbers).
        """
        if seed < 0:
            raise ConfigError(f"Replay: seed={seed} must be >= 0")
        rng = np.random.default_rng(np.random.SeedSequence(seed))
        return rng.random((max(self.candidates.height, 1), 2))[: self.candidates.height]

    def trades(self, rows: IntArray | None = None) -> pl.DataFrame:
        """Return the default orders of candidates (all, or ``rows``): full size, the run's tip."""
        c = self.candidates if rows is None else self.candidates[np.asarray(rows)]
        return c.with_columns(
            pl.lit(self.priority_fee_wei, dtype=pl.Int64).alias("priority_fee_wei"),
            pl.lit(self.latency_ms, dtype=pl.Float64).alias("latency_ms"),
        )

    def default_outcomes(self, draws: FloatArray) -> pl.DataFrame:
        """Return the outcome of every candidate's default order on ``draws`` (one row each)."""
        return self.model.execute_batch(self.trades(), draws=draws)

    def trade(
        self,
        cid: int,
        *,
        amount_in: int | None = None,
        priority_fee_wei: int | None = None,
        bribe_wei: int | None = None,
    ) -> Trade:
        """Return candidate ``cid`` as a :class:`Trade` (at most its optimal size).

        Raises
        ------
        DataError
            If the size is negative or above the candidate's profit-maximising size.
        """
        row = self.candidates.row(cid, named=True)
        own = int(row["amount_in"])
        amount = own if amount_in is None else int(amount_in)
        if not 0 <= amount <= own:
            raise DataError(
                f"candidate {cid}: size {amount} is outside [0, {own}] (the profit-maximising size)"
            )
        tip = self.priority_fee_wei if priority_fee_wei is None else int(priority_fee_wei)
        bribe = self.default_bribe_wei(cid) if bribe_wei is None else int(bribe_wei)
        return Trade.from_row(
            row,
            amount_in=amount,
            priority_fee_wei=tip,
            latency_ms=self.latency_ms,
            bribe_wei=bribe,
        )

    def with_bids(self, bribe_wei: Sequence[int], priority_fee_wei: int | None = None) -> Replay:
        """Return this replay with default orders that bid ``bribe_wei[cid]`` (wei).

        Same history, options and candidates (same ids, so the same draws per seed);
        only the default orders' coinbase transfer (and tip, when given) differ.
        """
        if len(bribe_wei) != self.candidates.height:
            raise DataError(
                f"Replay.with_bids: {len(bribe_wei)} bids for {self.candidates.height} candidates"
            )
        if any(int(b) < 0 for b in bribe_wei):
            raise DataError("Replay.with_bids: bids must be >= 0")
        table = self.candidates.with_columns(
            pl.Series("bribe_wei", [int(b) for b in bribe_wei], dtype=pl.Int64)
        )
        return Replay(
            self.history,
            execution=self.execution,
            scan=self.scan,
            latency_ms=self.latency_ms,
            priority_fee_wei=self.priority_fee_wei
            if priority_fee_wei is None
            else priority_fee_wei,
            candidates=table,
            max_candidates=self.max_candidates,
        )

    def default_bribe_wei(self, cid: int) -> int:
        """Return candidate ``cid``'s default coinbase transfer (its ``bribe_wei``, else 0)."""
        return 0 if self._bribe is None else self._bribe[cid]

    def execute(
        self,
        cid: int,
        draws: FloatArray,
        *,
        amount_in: int | None = None,
        priority_fee_wei: int | None = None,
        bribe_wei: int | None = None,
    ) -> Outcome:
        """Return the outcome of an order on candidate ``cid`` with its uniforms ``draws[cid]``."""
        trade = self.trade(
            cid, amount_in=amount_in, priority_fee_wei=priority_fee_wei, bribe_wei=bribe_wei
        )
        u = draws[cid]
        return self.model.execute(trade, draws=(float(u[0]), float(u[1])))

    def default_outcome_arrays(
        self, rows: IntArray, draws: FloatArray
    ) -> tuple[FloatArray, Int8Array, IntArray]:
        """Return net profit (quote), outcome code and reveal position of default orders.

        One model call for the default orders of candidates ``rows`` on ``draws``; the
        code indexes ``REASONS``.
        """
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size == 0:
            return np.zeros(0), np.zeros(0, dtype=np.int8), np.zeros(0, dtype=np.int64)
        if self._trades is None:
            self._trades = self.trades()
        out = self.model.execute_batch(self._trades[rows], draws=draws)
        codes = {r: i for i, r in enumerate(REASONS)}
        code = np.asarray([codes[r] for r in out["reason"].to_list()], dtype=np.int8)
        inc = out["included_block"].fill_null(-1).to_numpy()
        t = self.cand_t[rows]
        expired = np.minimum(t + self.first_eligible + self.max_delay, self.n_blocks)
        reveal = np.where(inc >= 0, inc - self.first_block, expired).astype(np.int64)
        return out["net_profit_quote"].to_numpy(), code, reveal

    def outcome_arrays(
        self, rows: IntArray, draws: FloatArray, *, use_cells: bool = True
    ) -> tuple[FloatArray, Int8Array, IntArray]:
        """Return the default orders' net, code and reveal position for ``draws``.

        From the outcome cells (array look-ups; they call the model themselves when
        they do not reproduce it) or, with ``use_cells=False``, one model call.
        """
        if use_cells:
            return self.cells.lookup(rows, draws)
        return self.default_outcome_arrays(rows, draws)

    # -- spot orders -------------------------------------------------------------------
    def spot_pool(self, base: str | None = None) -> str:
        """Return the pool spot orders of ``base`` (default the native token) trade on.

        The lowest-fee pool of ``base`` against the quote token, then the deepest.
        """
        base = self.scan.native_token if base is None else base
        return pick_spot_pool(self.history, self.scan.quote_token, base)

    def spot_fills(
        self,
        amount_quote: float | npt.ArrayLike,
        positions: npt.ArrayLike | None = None,
        *,
        pool: str | None = None,
        base: str | None = None,
        gas_units: int = SPOT_GAS_UNITS,
    ) -> SpotFills:
        """Return what buying and what selling one lot costs at each decision block.

        See :mod:`arbkit.execution.spot` for the order's semantics (one lot worth
        ``amount_quote``, exact-output buy, exact-input sell, long only).

        Parameters
        ----------
        amount_quote
            What one lot is worth at its decision block (scalar or one per block).
        positions
            Decision blocks as positions in the history (default: every block).
        pool, base
            Spot pool and base token (default: :meth:`spot_pool` of the native token).
        gas_units
            Gas of one swap.
        """
        base = self.scan.native_token if base is None else base
        pool = self.spot_pool(base) if pool is None else pool
        pos = np.arange(self.n_blocks) if positions is None else positions
        return spot_fills(
            self.model,
            pool,
            base,
            amount_quote,
            pos,
            priority_fee_wei=self.priority_fee_wei,
            gas_units=gas_units,
        )

    # -- timing ------------------------------------------------------------------------
    def reveal_position(self, t: int, included_block: int | None) -> int:
        """Position at which the outcome of a trade decided at position ``t`` is known.

        Its including block, or (expired) its deadline, the last block it could have
        landed in (once that block is seen without it, it is known to have expired);
        capped at the end of the history.
        """
        if included_block is not None:
            return int(included_block) - self.first_block
        return min(t + self.first_eligible + self.max_delay, self.n_blocks)

    @property
    def label_delay_blocks(self) -> int:
        """Blocks after which every outcome of a decision is known (its latest reveal)."""
        return label_delay_blocks(self.execution, self.latency_ms)

    # -- state of a run ----------------------------------------------------------------
    def ledger(self) -> GapLedger:
        """Return an empty gap ledger for one run."""
        return GapLedger(self)

    def lanes(self, n_lanes: int) -> LaneLedger:
        """Return empty gap ledgers for ``n_lanes`` runs at once (the vector env)."""
        return LaneLedger(self, n_lanes)

    @property
    def cells(self) -> OutcomeCells:
        """Outcome look-up of default orders for any draws (built on first use)."""
        if self._cells is None:
            self._cells = OutcomeCells(self)
        return self._cells


class GapLedger:
    """One run's state under the gap rule: busy pools and gaps already taken.

    Parameters
    ----------
    replay
        The replay the run belongs to.
    """

    def __init__(self, replay: Replay) -> None:
        self.replay = replay
        self.busy: list[int] = [0] * (replay.n_pools + 1)  # position from which a pool is free
        self.taken: list[int] = [-1] * replay.n_routes  # gap last taken per route
        self._pools = replay.cand_pool_lists
        self._route = replay.cand_route_list
        self._gap = replay.cand_gap_list
        self._starts = replay.starts_list

    def is_free(self, cid: int, t: int) -> bool:
        """Whether candidate ``cid`` may be traded at position ``t``."""
        busy = self.busy
        for p in self._pools[cid]:
            if busy[p] > t:
                return False
        return self.taken[self._route[cid]] != self._gap[cid]

    def free(self, t: int) -> list[int]:
        """Return the candidates of position ``t`` the run may trade, best first."""
        return [c for c in range(self._starts[t], self._starts[t + 1]) if self.is_free(c, t)]

    def first_free(self, t: int) -> int:
        """Return the best candidate of position ``t`` the run may trade, -1 if none."""
        for c in range(self._starts[t], self._starts[t + 1]):
            if self.is_free(c, t):
                return c
        return -1

    def take(self, cid: int, reveal: int, included: bool) -> None:
        """Record a trade on ``cid`` whose outcome is known at position ``reveal``.

        ``included``: the trade landed (or a rival's backrun beat it) at ``reveal``, on
        the pools' state at ``reveal - 1``.
        """
        busy = self.busy
        nxt = self.replay.next_change
        for p in self._pools[cid]:
            until = max(reveal, int(nxt[reveal - 1, p])) if included else reveal
            if busy[p] < until:
                busy[p] = until
        if included:
            self.taken[self._route[cid]] = self._gap[cid]


class LaneLedger:
    """Gap ledgers of many runs at once, in arrays (one row per lane).

    ``busy[lane, pool]`` and ``taken[lane, route]`` as in :class:`GapLedger`; the rule is
    applied by compiled kernels (``arbkit.execution._lanes``, numba) that the vector
    env's step also calls.

    Parameters
    ----------
    replay
        The replay the runs belong to.
    n_lanes
        Number of runs.
    """

    def __init__(self, replay: Replay, n_lanes: int) -> None:
        self.replay = replay
        self.n_lanes = n_lanes
        self.busy = np.zeros((n_lanes, replay.n_pools + 1), dtype=np.int64)
        self.taken = np.full((n_lanes, max(replay.n_routes, 1)), -1, dtype=np.int64)

    def clear(self, lanes: IntArray) -> None:
        """Empty the ledgers of ``lanes`` (a new episode)."""
        self.busy[lanes] = 0
        self.taken[lanes] = -1

    def first_free(self, t: IntArray) -> IntArray:
        """Return each lane's best candidate at its position ``t[lane]`` (-1 if none)."""
        from arbkit.execution._lanes import lanes_first_free

        r = self.replay
        return lanes_first_free(
            self.busy,
            self.taken,
            np.ascontiguousarray(t, dtype=np.int64),
            r.starts,
            r.cand_pools,
            r.cand_route,
            r.cand_gap,
            r.n_pools,
        )

    def take(self, lanes: IntArray, cids: IntArray, reveal: IntArray, included: BoolArray) -> None:
        """Record trades of ``lanes`` on ``cids``, known at positions ``reveal``."""
        from arbkit.execution._lanes import lanes_take

        r = self.replay
        lanes_take(
            self.busy,
            self.taken,
            np.ascontiguousarray(lanes, dtype=np.int64),
            np.ascontiguousarray(cids, dtype=np.int64),
            np.ascontiguousarray(reveal, dtype=np.int64),
            np.ascontiguousarray(included, dtype=np.bool_),
            r.cand_pools,
            r.cand_route,
            r.cand_gap,
            r.next_change,
            r.n_pools,
        )


def _next_change(history: MarketHistory, n_pools: int) -> IntArray:
    """``[t, p]``: the first position after ``t`` at which pool ``p``'s reserves change.

    ``n_blocks`` when they never change again; the last column (the padding pool of
    :attr:`Replay.cand_pools`) is 0.
    """
    n = history.n_blocks
    r0, r1 = history.reserves()
    out = np.zeros((n, n_pools + 1), dtype=np.int64)
    if n_pools == 0:
        return out
    changed = np.zeros((n, n_pools), dtype=bool)
    changed[1:] = (r0[1:] != r0[:-1]) | (r1[1:] != r1[:-1])
    pos = np.arange(n)
    for p in range(n_pools):
        marks = np.where(changed[:, p], pos, n)
        # smallest change position strictly after t: reverse running minimum, shifted
        after = np.minimum.accumulate(marks[::-1])[::-1]
        out[:-1, p] = after[1:]
        out[-1, p] = n
    return out


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


class OutcomeCells:
    """Outcomes of every candidate's default order for any draws, by array look-up.

    The model draws two uniforms per trade: ``u_incl`` sets the inclusion delay (a step
    function, non-increasing in ``u_incl``; past ``max_delay_blocks`` the trade is not
    included) and ``u_rival`` whether a rival lands first (below a threshold that
    depends on the delay). Within a cell of that grid the outcome is fixed. The cells'
    boundaries are found once per candidate by exact bisection with
    :meth:`ExecutionModel.execute_batch`, the outcome of every cell is asked of the model,
    and the result is checked against direct calls on random and boundary draws; if the
    check fails (a model whose outcomes do not split into cells), :meth:`lookup` calls
    the model directly.

    Attributes
    ----------
    exact
        The cells reproduce the model (checked); otherwise :meth:`lookup` calls it.
    inclusion_bounds
        ``[c, j]``: the smallest ``u_incl`` whose delay is at most ``j`` blocks.
    rival_bounds
        ``[c, j]``: the smallest ``u_rival`` no rival beats at delay ``j``.
    cell_net, cell_code, cell_reveal
        ``[c, cell]``: net profit, outcome code and reveal position of each cell
        (``2 j`` rival, ``2 j + 1`` clear, ``2 (max_delay + 1)`` not included).
    """

    def __init__(self, replay: Replay) -> None:
        self.replay = replay
        self.max_delay = replay.max_delay
        self._codes = {r: i for i, r in enumerate(REASONS)}
        self.exact = False
        d = self.max_delay
        m0 = replay.candidates.height
        self.inclusion_bounds = np.zeros((m0, d + 1))
        self.rival_bounds = np.zeros((m0, d + 1))
        self.cell_net = np.zeros((m0, 2 * (d + 1) + 1))
        self.cell_code = np.zeros((m0, 2 * (d + 1) + 1), dtype=np.int8)
        self.cell_reveal = np.zeros((m0, 2 * (d + 1) + 1), dtype=np.int64)
        m = replay.candidates.height
        if m and not replay.execution.revert_protection:
            self._build()
            self.exact = self._verify(np.random.default_rng(0), reps=4)
            if not self.exact:
                warnings.warn(
                    "Replay: the execution model's outcomes do not split into delay/rival "
                    "cells; outcomes are computed by execute_batch",
                    RuntimeWarning,
                    stacklevel=2,
                )

    def _call(self, rows: IntArray, draws: FloatArray) -> tuple[FloatArray, Int8Array, IntArray]:
        return self.replay.default_outcome_arrays(rows, draws)

    def _build(self) -> None:
        r = self.replay
        m = r.candidates.height
        d = self.max_delay
        rows = np.arange(m, dtype=np.int64)
        rep = np.tile(rows, d + 1)
        level = np.repeat(np.arange(d + 1), m)
        t_first = np.tile(r.cand_t + r.first_eligible, d + 1)

        def included_within(u: FloatArray) -> BoolArray:
            _, code, reveal = self._call(rep, np.column_stack([u, np.full(u.size, _ONE_MINUS)]))
            inc = code != NOT_INCLUDED
            return np.asarray(inc & (reveal - t_first <= level), dtype=np.bool_)

        b = _first_true(included_within, rep.size).reshape(d + 1, m).T
        self.inclusion_bounds = np.ascontiguousarray(b)
        u_cell = b.T.reshape(-1)

        def no_rival(u: FloatArray) -> BoolArray:
            _, code, _ = self._call(rep, np.column_stack([u_cell, u]))
            return np.asarray(code != self._codes["competitor"], dtype=np.bool_)

        c = _first_true(no_rival, rep.size)
        self.rival_bounds = np.ascontiguousarray(c.reshape(d + 1, m).T)
        all_rows = np.concatenate([rep, rep, rows])
        draws = np.column_stack(
            [
                np.concatenate([u_cell, u_cell, np.zeros(m)]),
                np.concatenate(
                    [np.zeros(rep.size), np.minimum(c, _ONE_MINUS), np.full(m, _ONE_MINUS)]
                ),
            ]
        )
        net, code, reveal = self._call(all_rows, draws)
        width = 2 * (d + 1) + 1
        self.cell_net = np.empty((m, width))
        self.cell_code = np.empty((m, width), dtype=np.int8)
        self.cell_reveal = np.empty((m, width), dtype=np.int64)
        n_rep = rep.size
        for k in range(d + 1):
            for part, off in ((0, 0), (1, n_rep)):
                sl = slice(off + k * m, off + (k + 1) * m)
                self.cell_net[:, 2 * k + part] = net[sl]
                self.cell_code[:, 2 * k + part] = code[sl]
                self.cell_reveal[:, 2 * k + part] = reveal[sl]
        self.cell_net[:, -1] = net[2 * n_rep :]
        self.cell_code[:, -1] = code[2 * n_rep :]
        self.cell_reveal[:, -1] = reveal[2 * n_rep :]

    def _cell(self, rows: IntArray, draws: FloatArray) -> IntArray:
        d = self.max_delay
        delay = (draws[:, 0:1] < self.inclusion_bounds[rows]).sum(axis=1)
        k = np.minimum(delay, d)
        clear = draws[:, 1] >= self.rival_bounds[rows, k]
        return np.where(delay <= d, 2 * k + clear, 2 * (d + 1)).astype(np.int64)

    def _verify(self, rng: np.random.Generator, reps: int) -> bool:
        m = self.replay.candidates.height
        rows = [np.tile(np.arange(m, dtype=np.int64), reps)]
        draws = [rng.random((m * reps, 2))]
        for k in range(self.max_delay + 1):
            for u0 in (
                self.inclusion_bounds[:, k],
                np.nextafter(self.inclusion_bounds[:, k], -1.0),
            ):
                for u1 in (self.rival_bounds[:, k], np.nextafter(self.rival_bounds[:, k], -1.0)):
                    rows.append(np.arange(m))
                    draws.append(
                        np.column_stack(
                            [np.clip(u0, 0.0, _ONE_MINUS), np.clip(u1, 0.0, _ONE_MINUS)]
                        )
                    )
        all_rows, all_draws = np.concatenate(rows), np.concatenate(draws)
        got = self._call(all_rows, all_draws)
        cell = self._cell(all_rows, all_draws)
        want = (
            self.cell_net[all_rows, cell],
            self.cell_code[all_rows, cell],
            self.cell_reveal[all_rows, cell],
        )
        return bool(
            np.array_equal(got[0], want[0])
            and np.array_equal(got[1], want[1])
            and np.array_equal(got[2], want[2])
        )

    def lookup(self, rows: IntArray, draws: FloatArray) -> tuple[FloatArray, Int8Array, IntArray]:
        """Return net profit (quote), outcome code (index into ``REASONS``) and reveal position.

        Parameters
        ----------
        rows
            Candidate ids.
        draws
            Their uniforms ``(u_incl, u_rival)``, shape ``(len(rows), 2)``.
        """
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size == 0:
            return np.zeros(0), np.zeros(0, dtype=np.int8), np.zeros(0, dtype=np.int64)
        if not self.exact:
            return self._call(rows, np.asarray(draws, dtype=np.float64))
        cell = self._cell(rows, draws)
        return self.cell_net[rows, cell], self.cell_code[rows, cell], self.cell_reveal[rows, cell]
