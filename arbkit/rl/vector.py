"""Numpy-batched vector version of :class:`~arbkit.rl.env.ArbitrageEnv`."""

from __future__ import annotations

import math
from collections import deque
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
from arbkit.rl._vector_kernel import first_bad_action, step_lanes
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
        self.num_envs = n = int(num_envs)
        self.config = env.config
        self.tables = env.tables
        self.single_observation_space = env.observation_space
        self.single_action_space = env.action_space
        self.observation_space = batch_space(env.observation_space, n)
        self.action_space = batch_space(env.action_space, n)
        self.metadata = {**env.metadata, "autoreset_mode": AutoresetMode.NEXT_STEP}
        self.render_mode = None
        self.window = env.window
        # positions in lot steps, as the single env's
        self._step_base = env.tables.step_base
        self._max_pos = math.floor(env.config.max_position_base / self._step_base)
        self._drawdown = env.config.max_drawdown_frac * env.config.initial_capital_quote
        self._capital = env.config.initial_capital_quote
        self._rngs: list[np.random.Generator | None] = [None] * n
        self._queues: list[deque[_Episode]] = [deque() for _ in range(n)]
        self._lanes = np.arange(n)
        self._start = np.full(n, env.start_low, dtype=np.int64)
        self._k = np.zeros(n, dtype=np.int64)
        self._pos = np.zeros(n)
        self._equity = np.full(n, self._capital)
        self._peak = np.full(n, self._capital)
        m = env.max_window_candidates
        # the cells give an outcome from a lane's uniforms at the flash itself; otherwise
        # (batch mode, or a model that does not split into cells) outcomes are computed
        # for the whole window at reset
        self._lazy = env.config.flash_outcomes == "cells" and env.replay.cells.exact
        self._draws = np.zeros((n, m, 2))
        shape = (1, 1) if self._lazy else (n, m)
        self._net = np.zeros(shape)
        self._code = np.zeros(shape, dtype=np.int8)
        self._reveal = np.zeros(shape, dtype=np.int64)
        self._lo = np.zeros(n, dtype=np.int64)
        self._credit = np.zeros((n, env.credit_length))
        self._ledger = env.replay.lanes(n)
        self._cur = np.full(n, -1, dtype=np.int64)
        self._cand_edge = np.append(env.tables.cand_edge, 0.0)  # index -1: no candidate
        self._cand_net = np.append(env.tables.cand_net, 0.0)
        self._autoreset = np.zeros(n, dtype=bool)
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

    def _refill(self, lanes: list[int]) -> None:
        k_target = self.config.prefetch_episodes
        env = self.single_env
        for i in lanes:
            q = self._queues[i]
            q.extend(env.draw_episodes(self._lane_rng(i), k_target - len(q)))

    def _reset_lanes(
        self, idx: IntArray, starts: IntArray | None, draws: FloatArray | None = None
    ) -> None:
        empty = [int(i) for i in idx if not self._queues[i]]
        if empty:
            self._refill(empty)
        env = self.single_env
        rp = env.replay
        queues = self._queues
        new_starts: list[int] = []
        new_draws: list[FloatArray] = []
        for j, i in enumerate(idx.tolist()):
            start, d = queues[i].popleft()
            if starts is not None:
                start = env.check_start(starts[j])
            if draws is not None:
                d = env.replay_draws(start, draws)
            new_starts.append(start)
            new_draws.append(d)
        self._start[idx] = new_starts
        for i, d in zip(idx.tolist(), new_draws, strict=True):
            self._draws[i, : d.shape[0]] = d
        self._lo[idx] = rp.starts[self._start[idx]]
        if not self._lazy:
            self._window_outcomes(idx)
        self._credit[idx] = 0.0
        self._ledger.clear(idx)
        self._k[idx] = 0
        self._pos[idx] = 0.0
        self._equity[idx] = self._capital
        self._peak[idx] = self._capital
        self._autoreset[idx] = False

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
            [self._draws[i, : r.size] for i, r in zip(idx.tolist(), rows, strict=True)]
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

    def _reset_infos(self, idx: IntArray, infos: dict[str, Any]) -> None:
        tb = self.tables
        t = self._start[idx]
        infos["block"][idx] = tb.block_numbers[t]
        infos["position_base"][idx] = 0.0
        infos["equity_quote"][idx] = self._capital
        for key in ("reward_trade", "reward_gas", "reward_flash", "reward_mtm"):
            infos[key][idx] = 0.0
        infos["executed"][idx] = False
        infos["flash_outcome"][idx] = -1
        infos["flash_candidate"][idx] = -1
        infos["expected_net_quote"][idx] = self._cand_net[self._cur[idx]]

    def _with_masks(self, infos: dict[str, Any]) -> dict[str, Any]:
        infos.update(self._masks)
        return infos

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
        for i in idx.tolist():
            s = seeds[i]
            if s is not None:
                self._rngs[i], _ = seeding.np_random(s)
                self._queues[i].clear()
        starts = opts.get("start")
        start_arr = None
        if starts is not None:
            start_arr = np.broadcast_to(np.asarray(starts, dtype=np.int64), idx.shape)
        draws = opts.get("draws")
        self._reset_lanes(idx, start_arr, None if draws is None else np.asarray(draws))
        self._cur[idx] = self._ledger.first_free(self._start)[idx]
        self._started = True
        obs = self.tables.features[self._start].copy()
        obs[:, 0] = self._cand_edge[self._cur]
        obs[:, 1] = self._pos / self._max_pos
        obs[:, 2] = 1.0
        infos = self._empty_infos()
        self._reset_infos(idx, infos)
        if idx.size == n:
            return obs, self._with_masks(infos)
        reset = np.zeros(n, dtype=bool)
        reset[idx] = True
        for key in _INFO_KEYS:
            infos[f"_{key}"] = reset  # only the lanes reset now have an info
        return obs, infos

    def _empty_infos(self) -> dict[str, Any]:
        n = self.num_envs
        return {
            "block": np.zeros(n, dtype=np.int64),
            "position_base": np.zeros(n),
            "equity_quote": np.zeros(n),
            "reward_trade": np.zeros(n),
            "reward_gas": np.zeros(n),
            "reward_flash": np.zeros(n),
            "reward_mtm": np.zeros(n),
            "executed": np.zeros(n, dtype=bool),
            "flash_outcome": np.zeros(n, dtype=np.int64),
            "flash_candidate": np.zeros(n, dtype=np.int64),
            "expected_net_quote": np.zeros(n),
        }

    def step(
        self, actions: npt.ArrayLike
    ) -> tuple[F32Array, FloatArray, BoolArray, BoolArray, dict[str, Any]]:
        """Step every lane (lanes whose episode ended last step are reset instead)."""
        if not self._started:
            raise ConfigError("ArbitrageVectorEnv.step: call reset() first")
        a = np.asarray(actions).reshape(-1)
        if a.shape != (self.num_envs,):
            raise InvalidAction(f"actions: expected {self.num_envs} actions, got shape {a.shape}")
        if a.dtype.kind not in "iu" or first_bad_action(a.astype(np.int64, copy=False)) >= 0:
            raise InvalidAction("actions: expected integers in 0..3 (buy, sell, hold, flash_arb)")
        resetting = self._autoreset.copy()
        ridx = np.flatnonzero(resetting) if resetting.any() else None
        if ridx is not None:
            self._reset_lanes(ridx, None)
        n = self.num_envs
        tb = self.tables
        rp = self.single_env.replay
        cells = rp.cells
        led = self._ledger
        obs = np.empty((n, tb.features.shape[1]), dtype=np.float32)
        # three allocations: each output is a contiguous row of one of them
        reward, prev_equity, prev_peak, trade, gas, flash, mtm, expected = np.empty((8, n))
        info_block, fcode, sent = np.empty((3, n), dtype=np.int64)
        terminated, truncated, executed = np.empty((3, n), dtype=bool)
        step_lanes(
            a.astype(np.int64, copy=False),
            resetting,
            self._start,
            self._k,
            self._pos,
            self._equity,
            self._peak,
            self._cur,
            self._lo,
            self._lazy,
            self._draws,
            self._net,
            self._code,
            self._reveal,
            self._credit,
            led.busy,
            led.taken,
            tb.lot_steps,
            tb.buy_ok,
            tb.buy_pnl,
            tb.buy_gas,
            tb.sell_ok,
            tb.sell_pnl,
            tb.sell_gas,
            tb.mark_step,
            tb.features,
            tb.block_numbers,
            self._cand_edge,
            self._cand_net,
            rp.starts,
            rp.cand_pools,
            rp.cand_route,
            rp.cand_gap,
            rp.next_change,
            rp.n_pools,
            cells.inclusion_bounds,
            cells.rival_bounds,
            cells.cell_net,
            cells.cell_code,
            cells.cell_reveal,
            float(self._max_pos),
            float(self._drawdown),
            int(self.window),
            float(self._capital),
            NOT_INCLUDED,
            NO_CANDIDATE,
            prev_equity,
            prev_peak,
            obs,
            reward,
            terminated,
            truncated,
            info_block,
            trade,
            gas,
            flash,
            mtm,
            executed,
            fcode,
            sent,
            expected,
        )
        done = terminated | truncated
        if done.any():
            # episodes that end credit the outcomes still to be known (as the single env)
            for i in np.flatnonzero(done).tolist():
                rest = math.fsum(self._credit[i, self._k[i] + 1 :].tolist())
                if rest != 0.0:
                    f = float(flash[i]) + rest
                    flash[i] = f
                    r = ((float(trade[i]) + float(gas[i])) + f) + float(mtm[i])
                    reward[i] = r
                    eq = float(prev_equity[i]) + r
                    pk = eq if eq > prev_peak[i] else float(prev_peak[i])
                    health = 1.0 - (pk - eq) / self._drawdown
                    self._equity[i], self._peak[i] = eq, pk
                    obs[i, 2] = 0.0 if health <= 0.0 else (1.0 if health >= 1.0 else health)
        infos = {
            "block": info_block,
            "position_base": self._pos * self._step_base,
            "equity_quote": self._equity.copy(),
            "reward_trade": trade,
            "reward_gas": gas,
            "reward_flash": flash,
            "reward_mtm": mtm,
            "executed": executed,
            "flash_outcome": fcode,
            "flash_candidate": sent,
            "expected_net_quote": expected,
        }
        self._autoreset = done
        return obs, reward, terminated, truncated, self._with_masks(infos)

    def close_extras(self, **kwargs: Any) -> None:
        """Nothing to release (no sub-processes)."""
