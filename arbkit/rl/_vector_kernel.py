"""The vector env's step over every lane, compiled (numba): the single env's step, per lane.

Same arithmetic, in the same order, as :meth:`arbkit.rl.ArbitrageEnv.step`, so that a
lane gives bit for bit the single env's transitions (a test checks it). The gap rule is
the one replay's (:mod:`arbkit.execution._lanes`).

Layout, chosen for speed (a step over 1,024 lanes is a few tens of microseconds):

- Each lane's episodes come from its queue ``queue[lane, e]``: a start draw and the key
  of the window's uniforms per episode (``ArbitrageEnv.episode_draws``); a flash
  computes its candidate's two uniforms from the key (:mod:`arbkit.rl._uniforms`), or
  reads them from ``draws[lane]`` when the caller gave them (a backtest's draws). The
  caller refills a lane's queue (from the lane's generator) before a reset would find
  it empty.
- Outcomes still to be known are kept in a ring of ``credit.shape[1]`` slots per lane
  (a power of two above the label delay), indexed by the offset from the episode's
  start.
- Outputs are rows of three matrices (floats, ints, bools).

An episode that ends credits its outcomes still to come: here when there are none or
one; the caller sums two or more with ``math.fsum``, as the single env does (the lanes
are flagged in the ``NEED_FSUM`` row of ``out_b``, meaningful only in a step that
reports such lanes: the kernel writes it, and ``PREV_EQUITY`` / ``PREV_PEAK``, only for
them).
"""

from __future__ import annotations

from typing import Any

from numba import njit

from arbkit.execution._lanes import cell_of, lane_first_free, lane_take
from arbkit.rl._uniforms import uniform

BUY, SELL, FLASH_ARB = 0, 1, 3

# rows of the float state (fstate)
POS, EQUITY, PEAK = 0, 1, 2
# rows of the spot table (spot)
LOT, BUY_PNL, BUY_GAS, SELL_PNL, SELL_GAS, MARK = 0, 1, 2, 3, 4, 5
# rows of the float outputs (out_f)
REWARD, TRADE, GAS, FLASH, MTM, EXPECTED, POSITION, EQUITY_OUT = 0, 1, 2, 3, 4, 5, 6, 7
PREV_EQUITY, PREV_PEAK = 8, 9
N_FLOAT_OUT = 10
# rows of the int outputs (out_i) and bool outputs (out_b)
BLOCK, OUTCOME, SENT = 0, 1, 2
TERMINATED, TRUNCATED, EXECUTED, DONE, NEED_FSUM = 0, 1, 2, 3, 4
N_BOOL_OUT = 5
# rows of the lane state (lane) and the integer constants (iconsts)
L_START, L_K, L_CUR, L_LO, L_QNEXT, L_KEY, L_EXPLICIT = 0, 1, 2, 3, 4, 5, 6
N_LANE_ROWS = 7
I_LAZY, I_WINDOW, I_START_LOW, I_N_STARTS, I_NOT_INCLUDED, I_NO_CANDIDATE, I_N_POOLS = range(7)
# mode bits
POP, ONLY_RESETS = 1, 2
# the constants (consts)
MAX_POS, DRAWDOWN, CAPITAL, STEP_BASE = 0, 1, 2, 3


@njit(cache=True, nogil=True)
def pop_episode(
    i: int,
    lane: Any,
    queue: Any,
    start_low: int,
    n_starts: int,
) -> None:
    """Give lane ``i`` the next episode of its queue (the caller keeps it non-empty).

    As ``ArbitrageEnv.episode_from_draws``: the start from the first draw, the key of
    the window's uniforms from the second.
    """
    e = lane[L_QNEXT, i]
    lane[L_QNEXT, i] = e + 1
    lane[L_START, i] = start_low + queue[i, e, 0] % n_starts
    lane[L_KEY, i] = queue[i, e, 1]
    lane[L_EXPLICIT, i] = 0


@njit(cache=True, nogil=True)
def clear_lane(
    i: int,
    start: Any,
    k: Any,
    cur: Any,
    lo: Any,
    fstate: Any,
    credit: Any,
    busy: Any,
    taken: Any,
    starts: Any,
    capital: float,
) -> None:
    """Start lane ``i``'s episode at ``start[i]``: empty state, its first candidate."""
    k[i] = 0
    lo[i] = starts[start[i]]
    fstate[POS, i] = 0.0
    fstate[EQUITY, i] = capital
    fstate[PEAK, i] = capital
    for j in range(credit.shape[1]):
        credit[i, j] = 0.0
    for j in range(busy.shape[1]):
        busy[i, j] = 0
    for j in range(taken.shape[1]):
        taken[i, j] = -1
    cur[i] = -1


@njit(cache=True, nogil=True)
def first_bad_action(actions: Any) -> int:
    """Return the first lane whose action is outside 0..3, -1 if none."""
    for i in range(actions.shape[0]):
        if actions[i] < 0 or actions[i] > 3:
            return i
    return -1


@njit(cache=True, nogil=True)
def step_lanes(
    actions: Any,
    resetting: Any,
    mode: int,
    # lane state
    lane: Any,
    fstate: Any,
    queue: Any,
    draws: Any,
    net_c: Any,
    code_c: Any,
    reveal_c: Any,
    credit: Any,
    busy: Any,
    taken: Any,
    # tables
    spot: Any,
    spot_ok: Any,
    features: Any,
    block_numbers: Any,
    cand: Any,
    starts: Any,
    cand_pools: Any,
    cand_route: Any,
    cand_gap: Any,
    next_change: Any,
    inclusion_bounds: Any,
    rival_bounds: Any,
    cell_net: Any,
    cell_code: Any,
    cell_reveal: Any,
    # constants
    consts: Any,
    iconsts: Any,
    # outputs
    obs: Any,
    out_f: Any,
    out_i: Any,
    out_b: Any,
) -> tuple[int, int, int]:
    """Step every lane in place and return three counts.

    The counts: the first lane with an invalid action (-1 if none), the lanes whose
    episode ended, and the lanes whose pending outcomes the caller must sum.
    ``mode``: ``POP`` (lanes in ``resetting`` pop their next episode from their queue,
    else the caller set it) and ``ONLY_RESETS`` (the other lanes are not stepped: they
    report their current observation and zeros). Lanes in ``resetting`` start their
    episode and report its first observation. Nothing changes when an action is
    invalid.
    """
    pop = (mode & POP) != 0
    only_resets = (mode & ONLY_RESETS) != 0
    start = lane[L_START]
    k = lane[L_K]
    cur = lane[L_CUR]
    lo = lane[L_LO]
    key = lane[L_KEY]
    explicit = lane[L_EXPLICIT]
    lazy = iconsts[I_LAZY] != 0
    window = iconsts[I_WINDOW]
    start_low = iconsts[I_START_LOW]
    n_starts = iconsts[I_N_STARTS]
    not_included = iconsts[I_NOT_INCLUDED]
    no_candidate = iconsts[I_NO_CANDIDATE]
    n_pools = iconsts[I_N_POOLS]
    n_lanes = actions.shape[0]
    for i in range(n_lanes):
        if not (resetting[i] or only_resets) and (actions[i] < 0 or actions[i] > 3):
            return i, 0, 0
    n_done = 0
    n_fsum = 0
    max_pos = consts[MAX_POS]
    drawdown = consts[DRAWDOWN]
    capital = consts[CAPITAL]
    step_base = consts[STEP_BASE]
    n_slots = credit.shape[1]
    ring = n_slots - 1  # the ring's length is a power of two: offset & ring is its slot
    n_feat = obs.shape[1]
    for i in range(n_lanes):
        out_b[DONE, i] = False
        if resetting[i]:
            if pop:
                pop_episode(i, lane, queue, start_low, n_starts)
            clear_lane(i, start, k, cur, lo, fstate, credit, busy, taken, starts, capital)
            s = start[i]
            c = -1
            if starts[s] != starts[s + 1]:
                c = lane_first_free(
                    busy, taken, i, s, starts, cand_pools, cand_route, cand_gap, n_pools
                )
            cur[i] = c
            for f in range(n_feat):
                obs[i, f] = features[s, f]
            obs[i, 0] = cand[0, c]
            obs[i, 1] = 0.0
            obs[i, 2] = 1.0
            out_f[REWARD, i] = 0.0
            out_f[TRADE, i] = 0.0
            out_f[GAS, i] = 0.0
            out_f[FLASH, i] = 0.0
            out_f[MTM, i] = 0.0
            out_f[EXPECTED, i] = cand[1, c]
            out_f[POSITION, i] = 0.0
            out_f[EQUITY_OUT, i] = capital
            out_i[BLOCK, i] = block_numbers[s]
            out_i[OUTCOME, i] = -1
            out_i[SENT, i] = -1
            out_b[TERMINATED, i] = False
            out_b[TRUNCATED, i] = False
            out_b[EXECUTED, i] = False
            continue
        if only_resets:
            t = start[i] + k[i]
            eq = fstate[EQUITY, i]
            health = 1.0 - (fstate[PEAK, i] - eq) / drawdown
            for f in range(n_feat):
                obs[i, f] = features[t, f]
            obs[i, 0] = cand[0, cur[i]]
            obs[i, 1] = fstate[POS, i] / max_pos
            obs[i, 2] = 0.0 if health <= 0.0 else (1.0 if health >= 1.0 else health)
            for r in range(out_f.shape[0]):
                out_f[r, i] = 0.0
            for r in range(out_i.shape[0]):
                out_i[r, i] = 0
            for r in range(out_b.shape[0]):
                out_b[r, i] = False
            continue
        a = actions[i]
        eq0 = fstate[EQUITY, i]
        pk0 = fstate[PEAK, i]
        kk = k[i]
        t = start[i] + kk
        p = fstate[POS, i]
        delta = 0.0
        trade = 0.0
        gas = 0.0
        executed = False
        # positions count lot steps (integer-valued floats: exact); long only
        if a == BUY:
            if spot_ok[0, t] and p + spot[LOT, t] <= max_pos:
                delta = spot[LOT, t]
                trade = spot[BUY_PNL, t]
                gas = spot[BUY_GAS, t]
                executed = True
        elif a == SELL and spot_ok[1, t] and spot[LOT, t] <= p:
            delta = -spot[LOT, t]
            trade = spot[SELL_PNL, t]
            gas = spot[SELL_GAS, t]
            executed = True
        fcode = -1
        sent = -1
        if a == FLASH_ARB:
            sent = cur[i]
            if sent >= 0:
                j = sent - lo[i]
                if lazy:
                    # the cell of this candidate's uniforms, as OutcomeCells.lookup
                    if explicit[i]:  # uniforms given (a backtest's draws)
                        u_incl = draws[i, 2 * j]
                        u_rival = draws[i, 2 * j + 1]
                    else:
                        u_incl = uniform(key[i], 2 * j)
                        u_rival = uniform(key[i], 2 * j + 1)
                    cell = cell_of(inclusion_bounds, rival_bounds, sent, u_incl, u_rival)
                    fcode = cell_code[sent, cell]
                    r = cell_reveal[sent, cell] - start[i]
                    net = cell_net[sent, cell]
                else:
                    fcode = code_c[i, j]
                    r = reveal_c[i, j]
                    net = net_c[i, j]
                lane_take(
                    busy,
                    taken,
                    i,
                    sent,
                    r + start[i],
                    fcode != not_included,
                    cand_pools,
                    cand_route,
                    cand_gap,
                    next_change,
                    n_pools,
                )
                credit[i, r & ring] += net
            else:
                fcode = no_candidate
        # outcomes known at the next block are credited now (the slot is then free)
        here = (kk + 1) & ring
        flash = credit[i, here]
        credit[i, here] = 0.0
        mtm = p * (spot[MARK, t + 1] - spot[MARK, t])
        rw = ((trade - gas) + flash) + mtm
        p = p + delta
        eq = eq0 + rw
        pk = pk0
        if eq > pk:
            pk = eq
        health = 1.0 - (pk - eq) / drawdown
        term = health <= 0.0
        kk += 1
        trunc = kk >= window and not term
        if term or trunc:
            # the episode ends: outcomes still to be known are credited with it
            pending = 0
            rest = 0.0
            for j in range(n_slots):
                if credit[i, j] != 0.0:
                    pending += 1
                    rest = credit[i, j]
            if pending >= 2:
                out_b[NEED_FSUM, i] = True  # the caller sums them exactly (math.fsum)
                out_f[PREV_EQUITY, i] = eq0  # from which the caller recomputes
                out_f[PREV_PEAK, i] = pk0
                n_fsum += 1
            elif pending == 1:
                flash = flash + rest
                rw = ((trade - gas) + flash) + mtm
                eq = eq0 + rw
                pk = eq if eq > pk0 else pk0
                health = 1.0 - (pk - eq) / drawdown
        fstate[POS, i] = p
        fstate[EQUITY, i] = eq
        fstate[PEAK, i] = pk
        k[i] = kk
        t1 = t + 1
        c = -1
        if starts[t1] != starts[t1 + 1]:
            c = lane_first_free(
                busy, taken, i, t1, starts, cand_pools, cand_route, cand_gap, n_pools
            )
        cur[i] = c
        for f in range(n_feat):
            obs[i, f] = features[t1, f]
        obs[i, 0] = cand[0, c]
        obs[i, 1] = p / max_pos
        obs[i, 2] = 0.0 if health <= 0.0 else (1.0 if health >= 1.0 else health)
        out_f[REWARD, i] = rw
        out_f[TRADE, i] = trade
        out_f[GAS, i] = -gas
        out_f[FLASH, i] = flash
        out_f[MTM, i] = mtm
        out_f[EXPECTED, i] = cand[1, c]
        out_f[POSITION, i] = p * step_base
        out_f[EQUITY_OUT, i] = eq
        out_i[BLOCK, i] = block_numbers[t1]
        out_i[OUTCOME, i] = fcode
        out_i[SENT, i] = sent
        out_b[TERMINATED, i] = term
        out_b[TRUNCATED, i] = trunc
        if term or trunc:
            out_b[DONE, i] = True
            n_done += 1
        out_b[EXECUTED, i] = executed
    return -1, n_done, n_fsum
