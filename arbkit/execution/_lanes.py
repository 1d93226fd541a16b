"""Compiled kernels of the gap rule for many runs at once (the vector env's lanes).

The same rule as :class:`arbkit.execution.GapLedger`, on the arrays of a
:class:`arbkit.execution.LaneLedger` (``busy[lane, pool]``: the position from which the
pool is free; ``taken[lane, route]``: the gap last taken on the route), compiled with
numba so that a step over a thousand lanes costs microseconds. A test checks these
kernels against the scalar ledger decision by decision.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@njit(cache=True, nogil=True)
def lane_first_free(
    busy: IntArray,
    taken: IntArray,
    lane: int,
    t: int,
    starts: IntArray,
    cand_pools: IntArray,
    cand_route: IntArray,
    cand_gap: IntArray,
    n_pools: int,
) -> int:
    """Return the best candidate of position ``t`` that ``lane`` may trade, -1 if none."""
    for c in range(starts[t], starts[t + 1]):
        free = taken[lane, cand_route[c]] != cand_gap[c]
        if free:
            for h in range(cand_pools.shape[1]):
                p = cand_pools[c, h]
                if p < n_pools and busy[lane, p] > t:
                    free = False
                    break
        if free:
            return c
    return -1


@njit(cache=True, nogil=True)
def lane_take(
    busy: IntArray,
    taken: IntArray,
    lane: int,
    cand: int,
    reveal: int,
    included: bool,
    cand_pools: IntArray,
    cand_route: IntArray,
    cand_gap: IntArray,
    next_change: IntArray,
    n_pools: int,
) -> None:
    """Record ``lane``'s trade on ``cand``, known at ``reveal`` (see ``GapLedger.take``)."""
    for h in range(cand_pools.shape[1]):
        p = cand_pools[cand, h]
        if p >= n_pools:
            continue
        until = reveal
        if included:
            nxt = next_change[reveal - 1, p]
            if nxt > until:
                until = nxt
        if busy[lane, p] < until:
            busy[lane, p] = until
    if included:
        taken[lane, cand_route[cand]] = cand_gap[cand]


@njit(cache=True, nogil=True)
def lanes_first_free(
    busy: IntArray,
    taken: IntArray,
    t: IntArray,
    starts: IntArray,
    cand_pools: IntArray,
    cand_route: IntArray,
    cand_gap: IntArray,
    n_pools: int,
) -> IntArray:
    """Return each lane's best candidate at its position ``t[lane]`` (-1 if none)."""
    out = np.empty(t.size, dtype=np.int64)
    for lane in range(t.size):
        out[lane] = lane_first_free(
            busy, taken, lane, t[lane], starts, cand_pools, cand_route, cand_gap, n_pools
        )
    return out


@njit(cache=True, nogil=True)
def lanes_take(
    busy: IntArray,
    taken: IntArray,
    lanes: IntArray,
    cands: IntArray,
    reveal: IntArray,
    included: BoolArray,
    cand_pools: IntArray,
    cand_route: IntArray,
    cand_gap: IntArray,
    next_change: IntArray,
    n_pools: int,
) -> None:
    """Record the trades of ``lanes`` on ``cands``, known at ``reveal``."""
    for j in range(lanes.size):
        lane_take(
            busy,
            taken,
            lanes[j],
            cands[j],
            reveal[j],
            included[j],
            cand_pools,
            cand_route,
            cand_gap,
            next_change,
            n_pools,
        )


@njit(cache=True, nogil=True)
def cell_of(
    inclusion_bounds: npt.NDArray[np.float64],
    rival_bounds: npt.NDArray[np.float64],
    cand: int,
    u_incl: float,
    u_rival: float,
) -> int:
    """Return the outcome cell of ``cand`` for the uniforms (see ``OutcomeCells``)."""
    d: int = inclusion_bounds.shape[1] - 1
    delay = 0
    for j in range(d + 1):
        if u_incl < inclusion_bounds[cand, j]:
            delay += 1
    if delay > d:
        return 2 * (d + 1)
    clear = 1 if u_rival >= rival_bounds[cand, delay] else 0
    return int(2 * delay + clear)
