"""The vector env's step over every lane, compiled (numba): the single env's step, per lane.

Same arithmetic, in the same order, as :meth:`arbkit.rl.ArbitrageEnv.step`, so that a
lane gives bit for bit the single env's transitions (a test checks it). The gap rule is
the one replay's (:mod:`arbkit.execution._lanes`). Episodes that end are flagged; the
caller credits the outcomes still to come with ``math.fsum``, as the single env does.
"""

from __future__ import annotations

from typing import Any

from numba import njit

from arbkit.execution._lanes import cell_of, lane_first_free, lane_take

BUY, SELL, FLASH_ARB = 0, 1, 3


@njit(cache=True, nogil=True)
def step_lanes(
    actions: Any,
    resetting: Any,
    # lane state
    start: Any,
    k: Any,
    pos: Any,
    equity: Any,
    peak: Any,
    cur: Any,
    lo: Any,
    lazy: bool,
    draws: Any,
    net_c: Any,
    code_c: Any,
    reveal_c: Any,
    credit: Any,
    busy: Any,
    taken: Any,
    # tables
    lot: Any,
    buy_ok: Any,
    buy_pnl: Any,
    buy_gas: Any,
    sell_ok: Any,
    sell_pnl: Any,
    sell_gas: Any,
    mark: Any,
    features: Any,
    block_numbers: Any,
    cand_edge: Any,
    cand_net: Any,
    starts: Any,
    cand_pools: Any,
    cand_route: Any,
    cand_gap: Any,
    next_change: Any,
    n_pools: int,
    inclusion_bounds: Any,
    rival_bounds: Any,
    cell_net: Any,
    cell_code: Any,
    cell_reveal: Any,
    # constants
    max_pos: float,
    drawdown: float,
    window: int,
    capital: float,
    not_included: int,
    no_candidate: int,
    # outputs
    prev_equity: Any,
    prev_peak: Any,
    obs: Any,
    reward: Any,
    terminated: Any,
    truncated: Any,
    info_block: Any,
    info_trade: Any,
    info_gas: Any,
    info_flash: Any,
    info_mtm: Any,
    info_executed: Any,
    info_outcome: Any,
    info_sent: Any,
    info_expected: Any,
) -> None:
    """Step every lane in place (lanes in ``resetting`` report their first observation)."""
    n_lanes = actions.shape[0]
    for i in range(n_lanes):
        if resetting[i]:
            s = start[i]
            c = lane_first_free(
                busy, taken, i, s, starts, cand_pools, cand_route, cand_gap, n_pools
            )
            cur[i] = c
            for f in range(obs.shape[1]):
                obs[i, f] = features[s, f]
            obs[i, 0] = cand_edge[c] if c >= 0 else 0.0
            obs[i, 1] = 0.0
            obs[i, 2] = 1.0
            reward[i] = 0.0
            terminated[i] = False
            truncated[i] = False
            info_block[i] = block_numbers[s]
            info_trade[i] = 0.0
            info_gas[i] = 0.0
            info_flash[i] = 0.0
            info_mtm[i] = 0.0
            info_executed[i] = False
            info_outcome[i] = -1
            info_sent[i] = -1
            info_expected[i] = cand_net[c] if c >= 0 else 0.0
            continue
        a = actions[i]
        prev_equity[i] = equity[i]
        prev_peak[i] = peak[i]
        kk = k[i]
        t = start[i] + kk
        p = pos[i]
        delta = 0.0
        trade = 0.0
        gas = 0.0
        executed = False
        # positions count lot steps (integer-valued floats: exact); long only
        if a == BUY:
            if buy_ok[t] and p + lot[t] <= max_pos:
                delta = lot[t]
                trade = buy_pnl[t]
                gas = buy_gas[t]
                executed = True
        elif a == SELL and sell_ok[t] and lot[t] <= p:
            delta = -lot[t]
            trade = sell_pnl[t]
            gas = sell_gas[t]
            executed = True
        fcode = -1
        sent = -1
        if a == FLASH_ARB:
            sent = cur[i]
            if sent >= 0:
                j = sent - lo[i]
                if lazy:
                    # the cell of this candidate's uniforms, as OutcomeCells.lookup
                    cell = cell_of(
                        inclusion_bounds, rival_bounds, sent, draws[i, j, 0], draws[i, j, 1]
                    )
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
                credit[i, r] += net
            else:
                fcode = no_candidate
        flash = credit[i, kk + 1]
        mtm = p * (mark[t + 1] - mark[t])
        rw = ((trade - gas) + flash) + mtm
        p = p + delta
        eq = equity[i] + rw
        pk = peak[i]
        if eq > pk:
            pk = eq
        health = 1.0 - (pk - eq) / drawdown
        term = health <= 0.0
        kk += 1
        trunc = kk >= window and not term
        pos[i] = p
        equity[i] = eq
        peak[i] = pk
        k[i] = kk
        t1 = t + 1
        c = -1
        if starts[t1] != starts[t1 + 1]:
            c = lane_first_free(
                busy, taken, i, t1, starts, cand_pools, cand_route, cand_gap, n_pools
            )
        cur[i] = c
        for f in range(obs.shape[1]):
            obs[i, f] = features[t1, f]
        obs[i, 0] = cand_edge[c] if c >= 0 else 0.0
        obs[i, 1] = p / max_pos
        obs[i, 2] = 0.0 if health <= 0.0 else (1.0 if health >= 1.0 else health)
        reward[i] = rw
        terminated[i] = term
        truncated[i] = trunc
        info_block[i] = block_numbers[t1]
        info_trade[i] = trade
        info_gas[i] = -gas
        info_flash[i] = flash
        info_mtm[i] = mtm
        info_executed[i] = executed
        info_outcome[i] = fcode
        info_sent[i] = sent
        info_expected[i] = cand_net[c] if c >= 0 else 0.0


@njit(cache=True, nogil=True)
def first_bad_action(actions: Any) -> int:
    """Return the first lane whose action is outside 0..3, -1 if none."""
    for i in range(actions.shape[0]):
        if actions[i] < 0 or actions[i] > 3:
            return i
    return -1
