"""Numpy-batched vector version of :class:`~arbkit.rl.env.ArbitrageEnv`."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
from gymnasium.error import InvalidAction
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from arbkit.errors import ConfigError
from arbkit.execution import NOT_INCLUDED, ExecutionConfig
from arbkit.market.history import MarketHistory
from arbkit.opportunities import ScanConfig
from arbkit.rl._tables import NO_CANDIDATE
from arbkit.rl._uniforms import uniforms
from arbkit.rl._vector_kernel import (
    BLOCK,
    DONE,
    EQUITY,
    EQUITY_OUT,
    EXECUTED,
    EXPECTED,
    FLASH,
    GAS,
    I_LAZY,
    I_N_POOLS,
    I_N_STARTS,
    I_NO_CANDIDATE,
    I_NOT_INCLUDED,
    I_START_LOW,
    I_WINDOW,
    L_CUR,
    L_EXPLICIT,
    L_K,
    L_KEY,
    L_LO,
    L_QNEXT,
    L_START,
    MTM,
    N_BOOL_OUT,
    N_FLOAT_OUT,
    N_LANE_ROWS,
    NEED_FSUM,
    ONLY_RESETS,
    OUTCOME,
    PEAK,
    POP,
    POSITION,
    PREV_EQUITY,
    PREV_PEAK,
    REWARD,
    SENT,
    TERMINATED,
    TRADE,
    TRUNCATED,
    pop_episode,
    step_lanes,
)
from arbkit.rl.config import ArbitrageEnvConfig
from arbkit.rl.env import ArbitrageEnv

__all__ = ["ArbitrageVectorEnv"]

F32Array = npt.NDArray[np.float32]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
Int8Array = npt.NDArray[np.int8]
_Episode = tuple[int, FloatArray]

_INFO_KEYS = (
    "block",
    "position_base",
    "equity_quote",
    "reward_trade",
    "reward_gas",
    "reward_flash",
    "reward_mtm",
    "executed",
    "flash_outcome",
    "flash_candidate",
    "expected_net_quote",
)


def _padded_row(n: int) -> int:
    """Return a row length >= ``n`` (8-byte items) whose rows never share a 4 KiB offset."""
    m = n + 8
    while any((d * m * 8) % 4096 == 0 for d in range(1, N_FLOAT_OUT)):
        m += 8
    return m


class ArbitrageVectorEnv(VectorEnv[F32Array, IntArray, npt.NDArray[Any]]):
    """``num_envs`` lanes of :class:`~arbkit.rl.env.ArbitrageEnv`, stepped as numpy arrays.

    Every lane has its own generator and window and behaves exactly like a single env:
    lane ``i`` of ``reset(seed=s)`` gives the same transitions, bit for bit, as
    ``ArbitrageEnv(...)`` reset with seed ``s + i`` and stepped with the same actions
    (reset again, unseeded, when its episode ends). The lanes share the single env's
    precomputed tables and replay; each lane keeps its own state of the replay's gap
    rule (:class:`arbkit.execution.LaneLedger`) and its outcomes still to be known, in
    arrays. A step is one compiled pass over the lanes (numba,
    :mod:`arbkit.rl._vector_kernel`), the single env's arithmetic lane by lane; with the
    replay's exact outcome cells a flash trade's outcome is read from the lane's uniforms
    at the step itself, so a reset only copies the episode's start and uniforms.

    Autoreset is Gymnasium's default ``NEXT_STEP``: the step after a lane's episode
    ends resets that lane (its action is ignored, reward 0, not done) and returns the
    first observation of the new episode. ``infos`` holds the single env's info keys as
    arrays (with Gymnasium's ``_key`` masks).

    Parameters
    ----------
    num_envs
        Number of lanes.
    history, config, execution_config, scan_config, candidates, **options
        As for :class:`~arbkit.rl.env.ArbitrageEnv`.
    """

    def __init__(
        self,
        num_envs: int,
        history: MarketHistory | None = None,
        *,
        config: ArbitrageEnvConfig | None = None,
        execution_config: ExecutionConfig | None = None,
        scan_config: ScanConfig | None = None,
        candidates: pl.DataFrame | None = None,
        **options: Any,
    ) -> None:
        if int(num_envs) < 1:
            raise ConfigError(f"num_envs={num_envs}: need at least one lane")
        self.single_env = ArbitrageEnv(
            history,
            config=config,
            execution_config=execution_config,
            scan_config=scan_config,
            candidates=candidates,
            **options,
        )
        env = self.single_env
        rp = env.replay
        tb = env.tables
        self.num_envs = n = int(num_envs)
        self.config = env.config
        self.tables = tb
        self.single_observation_space = env.observation_space
        self.single_action_space = env.action_space
        self.observation_space = batch_space(env.observation_space, n)
        self.action_space = batch_space(env.action_space, n)
        self.metadata = {**env.metadata, "autoreset_mode": AutoresetMode.NEXT_STEP}
        self.render_mode = None
        self.window = env.window
        cfg = env.config
        # positions in lot steps, as the single env's
        self._max_pos = math.floor(cfg.max_position_base / tb.step_base)
        self._drawdown = cfg.max_drawdown_frac * cfg.initial_capital_quote
        self._capital = cfg.initial_capital_quote
        self._consts = np.array(
            [self._max_pos, self._drawdown, self._capital, tb.step_base], dtype=np.float64
        )
        self._rngs: list[np.random.Generator | None] = [None] * n
        self._lanes = np.arange(n)
        # rows of n lanes padded to self._row: rows of a matrix whose addresses match in
        # their low 12 bits would stall the stores of a step (4K aliasing)
        self._row = row = _padded_row(n)
        self._fstate = np.zeros((3, row))  # position (lot steps), equity, peak
        # lane integers: window start, step, current candidate, its first candidate row,
        # next episode of its queue (views of one matrix, the kernel's argument)
        self._lane = np.zeros((N_LANE_ROWS, row), dtype=np.int64)
        self._start = self._lane[L_START, :n]
        self._k = self._lane[L_K, :n]
        self._cur = self._lane[L_CUR, :n]
        self._lo = self._lane[L_LO, :n]
        self._qnext = self._lane[L_QNEXT, :n]
        self._start[:] = env.start_low
        self._cur[:] = -1
        # each lane's queue of episodes: one row of uniforms per episode (the stream does
        # not depend on the depth, so a shallow queue keeps memory small), and the
        # uniforms of its current episode
        self._depth = min(cfg.prefetch_episodes, 4)
        self._queue = np.zeros((n, self._depth, 2), dtype=np.int64)
        self._qnext[:] = self._depth  # depth: empty
        self._draws = np.zeros((n, 2 * env.max_window_candidates))
        self._n_starts = env.start_high - env.start_low + 1
        self._n_features = tb.features.shape[1]
        m = env.max_window_candidates
        # the cells give an outcome from a lane's uniforms at the flash itself; otherwise
        # (batch mode, or a model that does not split into cells) outcomes are computed
        # for the whole window at reset
        self._lazy = cfg.flash_outcomes == "cells" and rp.cells.exact
        shape = (1, 1) if self._lazy else (n, m)
        self._net = np.zeros(shape)
        self._code = np.zeros(shape, dtype=np.int8)
        self._reveal = np.zeros(shape, dtype=np.int64)
        # outcomes still to be known, in a ring longer than the label delay
        ring = 1 << (rp.label_delay_blocks + 1).bit_length()  # a power of two > delay + 1
        self._credit = np.zeros((n, ring))
        self._ledger = rp.lanes(n)
        # per-block tables as rows of one matrix each (fewer arguments to the kernel)
        self._spot = np.ascontiguousarray(
            np.stack([tb.lot_steps, tb.buy_pnl, tb.buy_gas, tb.sell_pnl, tb.sell_gas, tb.mark_step])
        )
        self._spot_ok = np.ascontiguousarray(np.stack([tb.buy_ok, tb.sell_ok]))
        # each candidate's observed edge and expected net; column -1: no candidate
        self._cand = np.ascontiguousarray(
            np.stack([np.append(tb.cand_edge, 0.0), np.append(tb.cand_net, 0.0)])
        )
        self._autoreset = np.zeros(n, dtype=bool)
        self._n_autoreset = 0
        self._holds = np.full(n, 2, dtype=np.int64)
        self._iconsts = np.zeros(7, dtype=np.int64)
        self._iconsts[I_LAZY] = int(self._lazy)
        self._iconsts[I_WINDOW] = self.window
        self._iconsts[I_START_LOW] = env.start_low
        self._iconsts[I_N_STARTS] = self._n_starts
        self._iconsts[I_NOT_INCLUDED] = NOT_INCLUDED
        self._iconsts[I_NO_CANDIDATE] = NO_CANDIDATE
        self._iconsts[I_N_POOLS] = rp.n_pools
        cells = rp.cells
        led = self._ledger
        # the kernel's arguments that keep their identity (arrays change in place)
        self._state_args = (
            self._lane,
            self._fstate,
            self._queue,
            self._draws,
            self._net,
            self._code,
            self._reveal,
            self._credit,
            led.busy,
            led.taken,
            self._spot,
            self._spot_ok,
            tb.features,
            tb.block_numbers,
            self._cand,
            rp.starts,
            rp.cand_pools,
            rp.cand_route,
            rp.cand_gap,
            rp.next_change,
            cells.inclusion_bounds,
            cells.rival_bounds,
            cells.cell_net,
            cells.cell_code,
            cells.cell_reveal,
            self._consts,
            self._iconsts,
        )
        self._started = False
        self._true = np.ones(n, dtype=bool)
        self._true.setflags(write=False)
        self._masks = {f"_{key}": self._true for key in _INFO_KEYS}

    # -- lanes -----------------------------------------------------------------------------
    def _lane_rng(self, i: int) -> np.random.Generator:
        rng = self._rngs[i]
        if rng is None:
            rng, _ = seeding.np_random()
            self._rngs[i] = rng
        return rng

    def _refill(self, lanes: IntArray) -> None:
        """Draw a new queue of episodes for each lane of ``lanes`` (from its generator)."""
        env = self.single_env
        for i in lanes.tolist():
            self._queue[i] = env.episode_draws(self._lane_rng(i), self._depth)
        self._qnext[lanes] = 0

    def _refill_empty(self, lanes: IntArray) -> None:
        empty = lanes[self._qnext[lanes] >= self._depth]
        if empty.size:
            self._refill(empty)

    def _pop(self, idx: IntArray) -> None:
        """Give lanes ``idx`` their next episode (start and uniforms)."""
        self._refill_empty(idx)
        low = self.single_env.start_low
        for i in idx.tolist():
            pop_episode(i, self._lane, self._queue, low, self._n_starts)

    def _window_outcomes(self, idx: IntArray) -> None:
        """Compute the outcomes of the windows' candidates of lanes ``idx`` at once."""
        rp = self.single_env.replay
        rows: list[IntArray] = []
        for i in idx.tolist():
            lo, hi = int(rp.starts[self._start[i]]), int(rp.starts[self._start[i] + self.window])
            rows.append(np.arange(lo, hi, dtype=np.int64))
        all_rows = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
        if all_rows.size == 0:
            return
        draws = np.concatenate(
            [
                (
                    self._draws[i, : 2 * r.size]
                    if self._lane[L_EXPLICIT, i]
                    else uniforms(int(self._lane[L_KEY, i]), 2 * r.size)
                ).reshape(r.size, 2)
                for i, r in zip(idx.tolist(), rows, strict=True)
            ]
        )
        net, code, reveal = rp.outcome_arrays(
            all_rows, draws, use_cells=self.config.flash_outcomes == "cells"
        )
        off = 0
        for i, r in zip(idx.tolist(), rows, strict=True):
            m = r.size
            self._net[i, :m] = net[off : off + m]
            self._code[i, :m] = code[off : off + m]
            self._reveal[i, :m] = reveal[off : off + m] - self._start[i]
            off += m

    def _with_masks(self, infos: dict[str, Any]) -> dict[str, Any]:
        infos.update(self._masks)
        return infos

    def _run_kernel(
        self, actions: IntArray, resetting: BoolArray, mode: int
    ) -> tuple[F32Array, FloatArray, IntArray, BoolArray, tuple[int, int, int]]:
        n = self.num_envs
        row = self._row
        obs = np.empty((n, self._n_features), dtype=np.float32)
        out_f = np.empty((N_FLOAT_OUT, row))
        out_i = np.empty((3, row), dtype=np.int64)
        out_b = np.empty((N_BOOL_OUT, row), dtype=bool)
        out_b[NEED_FSUM] = False  # the kernel sets only the lanes to sum
        counts = step_lanes(actions, resetting, mode, *self._state_args, obs, out_f, out_i, out_b)
        return obs, out_f[:, :n], out_i[:, :n], out_b[:, :n], counts

    @staticmethod
    def _infos(out_f: FloatArray, out_i: IntArray, out_b: BoolArray) -> dict[str, Any]:
        return {
            "block": out_i[BLOCK],
            "position_base": out_f[POSITION],
            "equity_quote": out_f[EQUITY_OUT],
            "reward_trade": out_f[TRADE],
            "reward_gas": out_f[GAS],
            "reward_flash": out_f[FLASH],
            "reward_mtm": out_f[MTM],
            "executed": out_b[EXECUTED],
            "flash_outcome": out_i[OUTCOME],
            "flash_candidate": out_i[SENT],
            "expected_net_quote": out_f[EXPECTED],
        }

    # -- gymnasium API ---------------------------------------------------------------------
    def reset(
        self,
        *,
        seed: int | list[int | None] | None = None,
        options: dict[str, Any] | None = None,
    ) -> tuple[F32Array, dict[str, Any]]:
        """Reset lanes; ``seed=s`` seeds lane ``i`` with ``s + i``.

        ``options`` may hold ``reset_mask`` (bool array: reset only those lanes) and
        ``start`` (an int or one int per reset lane: the window starts) and ``draws`` (the
        replay's uniforms, ``replay.draws(seed)``, for every reset lane). With a mask,
        ``infos`` holds only the reset lanes (Gymnasium's ``_key`` masks say which).
        """
        n = self.num_envs
        if seed is None:
            seeds: list[int | None] = [None] * n
        elif isinstance(seed, int | np.integer):
            seeds = [int(seed) + i for i in range(n)]
        else:
            seeds = list(seed)
            if len(seeds) != n:
                raise ConfigError(f"reset: {len(seeds)} seeds for {n} lanes")
        opts = dict(options or {})
        mask = opts.pop("reset_mask", None)
        if mask is None:
            idx = self._lanes
        else:
            m = np.asarray(mask, dtype=bool)
            if m.shape != (n,) or not m.any():
                raise ConfigError("reset: reset_mask must be a bool array of num_envs with a True")
            idx = np.flatnonzero(m)
        env = self.single_env
        starts = opts.get("start")
        start_arr = None
        if starts is not None:
            start_arr = np.broadcast_to(np.asarray(starts, dtype=np.int64), idx.shape)
            for s in start_arr.tolist():
                env.check_start(s)
        draws = opts.get("draws")
        if draws is not None:
            env.replay_draws(env.start_low, draws)  # checks the shape
        for i in idx.tolist():
            s = seeds[i]
            if s is not None:
                self._rngs[i], _ = seeding.np_random(s)
                self._qnext[i] = self._depth  # the queue is stale
        self._pop(idx)
        if start_arr is not None:
            self._start[idx] = start_arr
        if draws is not None:
            for i in idx.tolist():
                d = env.replay_draws(int(self._start[i]), draws)
                self._draws[i, : d.size] = d.ravel()
                self._lane[L_EXPLICIT, i] = 1
        if not self._lazy:
            self._window_outcomes(idx)
        resetting = np.zeros(n, dtype=bool)
        resetting[idx] = True
        actions = self._holds
        # lanes not reset are not stepped: they report their current observation
        obs, out_f, out_i, out_b, _ = self._run_kernel(actions, resetting, ONLY_RESETS)
        self._autoreset[idx] = False
        self._n_autoreset = int(self._autoreset.sum())
        self._started = True
        infos = self._infos(out_f, out_i, out_b)
        if idx.size == n:
            return obs, self._with_masks(infos)
        reset = np.zeros(n, dtype=bool)
        reset[idx] = True
        for key in _INFO_KEYS:
            infos[f"_{key}"] = reset  # only the lanes reset now have an info
        return obs, infos

    def step(
        self, actions: npt.ArrayLike
    ) -> tuple[F32Array, FloatArray, BoolArray, BoolArray, dict[str, Any]]:
        """Step every lane (lanes whose episode ended last step are reset instead)."""
        if not self._started:
            raise ConfigError("ArbitrageVectorEnv.step: call reset() first")
        a = np.asarray(actions).reshape(-1)
        if a.shape != (self.num_envs,):
            raise InvalidAction(f"actions: expected {self.num_envs} actions, got shape {a.shape}")
        if a.dtype.kind not in "iu":
            raise InvalidAction("actions: expected integers in 0..3 (buy, sell, hold, flash_arb)")
        resetting = self._autoreset
        mode = POP
        if self._n_autoreset:
            ridx = np.flatnonzero(resetting)
            if self._lazy:
                self._refill_empty(ridx)  # the kernel pops the next episode
            else:
                self._pop(ridx)
                self._window_outcomes(ridx)
                mode = 0
        obs, out_f, out_i, out_b, (bad, n_done, n_fsum) = self._run_kernel(
            a.astype(np.int64, copy=False), resetting, mode
        )
        if bad >= 0:
            raise InvalidAction(
                f"actions[{bad}]={a[bad]!r}: expected integers in 0..3 (buy, sell, hold, flash_arb)"
            )
        if n_fsum:
            self._credit_pending(obs, out_f, out_b[NEED_FSUM])
        self._autoreset = out_b[DONE]
        self._n_autoreset = n_done
        infos = self._infos(out_f, out_i, out_b)
        return obs, out_f[REWARD], out_b[TERMINATED], out_b[TRUNCATED], self._with_masks(infos)

    def _credit_pending(self, obs: F32Array, out_f: FloatArray, need: BoolArray) -> None:
        """Credit two or more outcomes still to come of lanes whose episode ended (fsum)."""
        for i in np.flatnonzero(need).tolist():
            rest = math.fsum(self._credit[i].tolist())
            if rest == 0.0:
                continue
            f = float(out_f[FLASH, i]) + rest
            out_f[FLASH, i] = f
            r = ((float(out_f[TRADE, i]) + float(out_f[GAS, i])) + f) + float(out_f[MTM, i])
            out_f[REWARD, i] = r
            eq0, pk0 = float(out_f[PREV_EQUITY, i]), float(out_f[PREV_PEAK, i])
            eq = eq0 + r
            pk = eq if eq > pk0 else pk0
            health = 1.0 - (pk - eq) / self._drawdown
            self._fstate[EQUITY, i], self._fstate[PEAK, i] = eq, pk
            out_f[EQUITY_OUT, i] = eq
            obs[i, 2] = 0.0 if health <= 0.0 else (1.0 if health >= 1.0 else health)

    def close_extras(self, **kwargs: Any) -> None:
        """Nothing to release (no sub-processes)."""
