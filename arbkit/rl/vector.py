"""Numpy-batched vector version of :class:`~arbkit.rl.env.ArbitrageEnv`."""

from __future__ import annotations

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
from arbkit.execution import ExecutionConfig
from arbkit.market.history import MarketHistory
from arbkit.opportunities import ScanConfig
from arbkit.rl.config import ArbitrageEnvConfig
from arbkit.rl.env import ArbitrageEnv
from arbkit.rl.state import BUY, FLASH_ARB, SELL

__all__ = ["ArbitrageVectorEnv"]

F32Array = npt.NDArray[np.float32]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
Int8Array = npt.NDArray[np.int8]
_Episode = tuple[int, FloatArray, FloatArray, Int8Array]

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
    "expected_net_quote",
)


class ArbitrageVectorEnv(VectorEnv[F32Array, IntArray, npt.NDArray[Any]]):
    """``num_envs`` lanes of :class:`~arbkit.rl.env.ArbitrageEnv`, stepped as numpy arrays.

    Every lane has its own generator and window and behaves exactly like a single env:
    lane ``i`` of ``reset(seed=s)`` gives the same transitions, bit for bit, as
    ``ArbitrageEnv(...)`` reset with seed ``s + i`` and stepped with the same actions
    (reset again, unseeded, when its episode ends). The lanes share the single env's
    precomputed tables; a step is a handful of array operations over all lanes.

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
        self._max_pos = env.config.max_position_base
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
        self._net = np.zeros((n, self.window))
        self._code = np.zeros((n, self.window), dtype=np.int8)
        self._autoreset = np.zeros(n, dtype=bool)
        self._started = False
        self._true = np.ones(n, dtype=bool)
        self._true.setflags(write=False)

    # -- lanes -----------------------------------------------------------------------------
    def _lane_rng(self, i: int) -> np.random.Generator:
        rng = self._rngs[i]
        if rng is None:
            rng, _ = seeding.np_random()
            self._rngs[i] = rng
        return rng

    def _refill(self, lanes: list[int]) -> None:
        k_target = self.config.prefetch_episodes
        # top up lanes running low at the same time: one execute_batch call serves them all
        low = {i for i, q in enumerate(self._queues) if len(q) * 4 < k_target}
        fill = sorted(set(lanes) | low)
        env = self.single_env
        counts = [k_target - len(self._queues[i]) for i in fill]
        total = sum(counts)
        if total == 0:
            return
        st = np.empty(total, dtype=np.int64)
        dr = np.empty((total, self.window, 2))
        owners: list[int] = []
        j = 0
        lo, hi = env.start_low, env.start_high + 1
        for i, count in zip(fill, counts, strict=True):
            rng = self._lane_rng(i)
            for _ in range(count):
                st[j] = rng.integers(lo, hi)
                rng.random(out=dr[j])
                owners.append(i)
                j += 1
        net, code = env.oracle.outcomes(st, dr)
        starts = st.tolist()
        for j, i in enumerate(owners):
            self._queues[i].append((starts[j], dr[j], net[j], code[j]))

    def _reset_lanes(self, idx: IntArray, starts: IntArray | None) -> None:
        empty = [int(i) for i in idx if not self._queues[i]]
        if empty:
            self._refill(empty)
        env = self.single_env
        redo: list[tuple[int, int, FloatArray]] = []
        for j, i in enumerate(idx.tolist()):
            start, draws, net, code = self._queues[i].popleft()
            self._net[i] = net
            self._code[i] = code
            if starts is not None:
                s = env.check_start(starts[j])
                if s != start:
                    redo.append((i, s, draws))
                    start = s
            self._start[i] = start
        if redo:
            net2, code2 = env.oracle.outcomes(
                np.asarray([s for _, s, _ in redo], dtype=np.int64),
                np.stack([d for _, _, d in redo]),
            )
            for j, (i, _, _) in enumerate(redo):
                self._net[i] = net2[j]
                self._code[i] = code2[j]
        self._k[idx] = 0
        self._pos[idx] = 0.0
        self._equity[idx] = self._capital
        self._peak[idx] = self._capital
        self._autoreset[idx] = False

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
        infos["expected_net_quote"][idx] = tb.expected_net_quote[t]

    def _with_masks(self, infos: dict[str, Any]) -> dict[str, Any]:
        for key in _INFO_KEYS:
            infos[f"_{key}"] = self._true
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
        ``start`` (an int or one int per reset lane: the window starts). With a mask,
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
        self._reset_lanes(idx, start_arr)
        self._started = True
        obs = self.tables.features[self._start].copy()
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
        if a.dtype.kind not in "iu" or a.min() < 0 or a.max() > 3:
            raise InvalidAction("actions: expected integers in 0..3 (buy, sell, hold, flash_arb)")
        resetting = self._autoreset
        ridx = np.flatnonzero(resetting) if resetting.any() else None
        if ridx is not None:
            self._reset_lanes(ridx, None)
        tb = self.tables
        k = self._k
        t = self._start + k
        pos = self._pos
        is_buy = a == BUY
        is_sell = a == SELL
        lot = tb.lot_base[t]
        d = np.where(is_buy, lot, np.where(is_sell, -lot, 0.0))
        ok = np.where(is_buy, tb.buy_ok[t], is_sell & tb.sell_ok[t])
        ok &= np.abs(pos + d) <= self._max_pos
        delta = np.where(ok, d, 0.0)
        flow = np.where(ok, np.where(is_buy, tb.buy_flow[t], tb.sell_flow[t]), 0.0)
        gas = np.where(ok, np.where(is_buy, tb.buy_gas[t], tb.sell_gas[t]), 0.0)
        is_flash = a == FLASH_ARB
        flash = np.where(is_flash, self._net[self._lanes, k], 0.0)
        fcode = np.where(is_flash, self._code[self._lanes, k], -1)
        m1 = tb.mark[t + 1]
        trade = flow + delta * m1
        mtm = pos * (m1 - tb.mark[t])
        reward = ((trade - gas) + flash) + mtm
        pos = pos + delta
        equity = self._equity + reward
        peak = np.maximum(self._peak, equity)
        health = 1.0 - (peak - equity) / self._drawdown
        terminated = health <= 0.0
        k = k + 1
        truncated = (k >= self.window) & ~terminated
        obs = tb.features[t + 1]
        obs[:, 1] = pos / self._max_pos
        obs[:, 2] = np.clip(health, 0.0, 1.0)
        infos = {
            "block": tb.block_numbers[t + 1],
            "position_base": pos.copy(),
            "equity_quote": equity.copy(),
            "reward_trade": trade,
            "reward_gas": -gas,
            "reward_flash": flash,
            "reward_mtm": mtm,
            "executed": ok,
            "flash_outcome": fcode.astype(np.int64),
            "expected_net_quote": tb.expected_net_quote[t + 1],
        }
        if ridx is not None:
            # lanes reset at this step report their first observation instead
            k[ridx] = 0
            pos[ridx] = 0.0
            equity[ridx] = self._capital
            infos["position_base"][ridx] = 0.0
            infos["equity_quote"][ridx] = self._capital
            peak[ridx] = self._capital
            reward[ridx] = 0.0
            terminated[ridx] = False
            truncated[ridx] = False
            s = self._start[ridx]
            obs[ridx] = tb.features[s]
            self._reset_infos(ridx, infos)
        self._k, self._pos, self._equity, self._peak = k, pos, equity, peak
        self._autoreset = terminated | truncated
        return obs, reward, terminated, truncated, self._with_masks(infos)

    def close_extras(self, **kwargs: Any) -> None:
        """Nothing to release (no sub-processes)."""
