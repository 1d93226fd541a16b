"""Speed targets, each printed beside its reference in one run: figures, never assertions.

Run: ``.venv/bin/python benchmarks/bench_targets.py`` (all three) or with ``rl``,
``vector`` or ``backtest`` to run one part. Needs the ``bench`` extra (gym-anytrading).

1. Single env: :class:`arbkit.rl.ArbitrageEnv` against gym-anytrading's ``StocksEnv`` on
   the same price series (the default history's mark price, 3,000 blocks), random
   actions, resets counted, the same number of steps. Target: ours >= 1.5x theirs.
2. Vector env: :class:`arbkit.rl.ArbitrageVectorEnv` at 1,024 lanes against a trivial
   numpy-batched env written here (price look-ups, a position update, a reward, Gymnasium's
   next-step autoreset), end to end from the first reset, lane-steps per second.
   Target: ours >= 75% of the trivial one.
3. A 30-day backtest (216,000 blocks) with the decider and its route model in the loop:
   simulation, replay construction (scan + outcome table) and the run, wall time.
   Target: under 60 s.

Both sides of a pair run in the same process under ``threadpool_limits(1)``, are warmed
up once, and are timed in alternating rounds (the median of each side is reported), so
that a busy moment of the machine does not land on one side only.
"""

from __future__ import annotations

import statistics
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import numpy.typing as npt
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

ROUNDS = 3
SINGLE_STEPS = 300_000
LANES = 1_024
VECTOR_EPISODES = 16  # per lane: 16 x 256 steps x 1,024 lanes = 4.2M lane-steps per round
MONTH = 216_000

F32Array = npt.NDArray[np.float32]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def _rounds(sides: dict[str, Callable[[], float]], rounds: int = ROUNDS) -> dict[str, float]:
    """Warm each side up once, then time them alternately; return each side's median."""
    for run in sides.values():
        run()
    got: dict[str, list[float]] = {name: [] for name in sides}
    for r in range(rounds):
        order = list(sides.items())
        if r % 2:
            order.reverse()
        for name, run in order:
            got[name].append(run())
    return {name: statistics.median(v) for name, v in got.items()}


# -- 1. single env vs gym-anytrading ----------------------------------------------------------
def _steps_per_s(env: Any, n_actions: int, steps: int) -> float:
    """Random actions, the env reset (unseeded) whenever its episode ends, resets counted."""
    env.reset(seed=0)
    actions = np.random.default_rng(0).integers(0, n_actions, steps).tolist()
    step, reset = env.step, env.reset
    t0 = time.perf_counter()
    for a in actions:
        _, _, terminated, truncated, _ = step(a)
        if terminated or truncated:
            reset()
    return steps / (time.perf_counter() - t0)


def _episode_resets(env: Any, n_actions: int, steps: int) -> int:
    env.reset(seed=0)
    resets = 0
    for a in np.random.default_rng(0).integers(0, n_actions, steps).tolist():
        _, _, terminated, truncated, _ = env.step(a)
        if terminated or truncated:
            env.reset()
            resets += 1
    return resets


def bench_single() -> None:
    import pandas as pd
    from gym_anytrading.envs import StocksEnv  # type: ignore[import-untyped]

    import arbkit.rl  # noqa: F401  (registers the id)
    from arbkit.rl import ArbitrageEnv

    ours = ArbitrageEnv()
    window = ours.window
    prices = pd.DataFrame({"Close": ours.tables.mark.astype(np.float64)})  # 3,000 blocks
    lookback = 30  # gym-anytrading's stocks-v0 default
    # the same episode length as ours (256 steps), hence the same number of resets
    theirs = StocksEnv(
        df=prices, window_size=lookback, frame_bound=(lookback, lookback + window + 1)
    )
    # one episode over the whole 3,000-block series
    theirs_full = StocksEnv(df=prices, window_size=lookback, frame_bound=(lookback, len(prices)))
    n = SINGLE_STEPS
    print(
        f"1. single env, {n:,} random-action steps per round, resets included, "
        f"median of {ROUNDS} alternating rounds, 1 thread"
    )
    print(
        f"   resets per round: ours {_episode_resets(ours, 4, n)}, gym-anytrading "
        f"{_episode_resets(theirs, 2, n)} (same 256-step episodes), full-series "
        f"{_episode_resets(theirs_full, 2, n)}"
    )
    with threadpool_limits(1):
        med = _rounds(
            {
                "ours": lambda: _steps_per_s(ours, 4, n),
                "gat": lambda: _steps_per_s(theirs, 2, n),
                "gat_full": lambda: _steps_per_s(theirs_full, 2, n),
            }
        )
        # gym-anytrading returns a view of its feature frame as the observation (no copy);
        # the passive checker of gym.make warns about it at every check
        warnings.filterwarnings("ignore", message=".*share an object.*")
        made = _rounds(
            {
                "ours": lambda: _steps_per_s(gym.make("arbkit/Arbitrage-v0"), 4, n // 3),
                "gat": lambda: _steps_per_s(
                    gym.make(
                        "stocks-v0",
                        df=prices,
                        window_size=lookback,
                        frame_bound=(lookback, lookback + window + 1),
                    ),
                    2,
                    n // 3,
                ),
            }
        )
    print(f"   ArbitrageEnv (4 actions)                        {med['ours']:>11,.0f} steps/s")
    print(f"   gym-anytrading StocksEnv, 256-step episodes     {med['gat']:>11,.0f} steps/s")
    print(
        f"   ratio ours / gym-anytrading                     {med['ours'] / med['gat']:>11.2f}x"
        "   (target >= 1.50x)"
    )
    print(
        f"   gym-anytrading, one 2,970-step episode          {med['gat_full']:>11,.0f} steps/s"
        f"   (ratio {med['ours'] / med['gat_full']:.2f}x)"
    )
    print(
        f"   via gym.make (checker + order wrappers): ours {made['ours']:,.0f}, "
        f"gym-anytrading {made['gat']:,.0f} steps/s, ratio {made['ours'] / made['gat']:.2f}x"
    )
    print(
        "   note: gym-anytrading's observation is a view of its frame (no copy, 2 actions, "
        "3-key info); ours is a fresh float32 array, 4 actions, 11-key info"
    )


# -- 2. vector env vs a trivial numpy-batched env -----------------------------------------------
class TrivialVectorEnv(VectorEnv[F32Array, IntArray, Any]):
    """The least a batched trading env does: the reference for the vector env's overhead.

    A step looks up two prices per lane, updates a clipped position (buy, sell, hold; the
    fourth action holds), pays a proportional fee, rewards the mark-to-market and copies a
    feature row into the observation; lanes whose window ended are reset at their next step
    (Gymnasium's ``NEXT_STEP`` autoreset) with a start from the env's generator. No infos.
    """

    def __init__(
        self, num_envs: int, prices: FloatArray, features: F32Array, window: int, warmup: int
    ) -> None:
        self.num_envs = n = num_envs
        self.single_observation_space = gym.spaces.Box(
            -np.inf, np.inf, (features.shape[1],), dtype=np.float32
        )
        self.single_action_space = gym.spaces.Discrete(4)
        self.observation_space = batch_space(self.single_observation_space, n)
        self.action_space = batch_space(self.single_action_space, n)
        self.metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP}
        self.prices = prices
        self.features = features
        self.window = window
        self.low, self.high = warmup, len(prices) - window - 1
        self.lot = 1.0
        self.max_pos = 5.0
        self.fee = 0.003
        self.rng = np.random.default_rng()
        self.start = np.zeros(n, dtype=np.int64)
        self.k = np.zeros(n, dtype=np.int64)
        self.pos = np.zeros(n)
        self.done = np.zeros(n, dtype=bool)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[F32Array, dict[str, Any]]:
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        self.start = self.rng.integers(self.low, self.high + 1, self.num_envs)
        self.k[:] = 0
        self.pos[:] = 0.0
        self.done[:] = False
        obs = self.features[self.start]
        obs[:, 1] = 0.0
        return obs, {}

    def step(
        self, actions: IntArray
    ) -> tuple[F32Array, FloatArray, npt.NDArray[np.bool_], npt.NDArray[np.bool_], dict[str, Any]]:
        a = np.asarray(actions)
        resetting = self.done
        if resetting.any():
            idx = np.flatnonzero(resetting)
            self.start[idx] = self.rng.integers(self.low, self.high + 1, idx.size)
            self.k[idx] = 0
            self.pos[idx] = 0.0
        t = self.start + self.k
        p0 = self.prices[t]
        p1 = self.prices[t + 1]
        delta = np.where(a == 0, self.lot, np.where(a == 1, -self.lot, 0.0))
        new_pos = np.clip(self.pos + delta, -self.max_pos, self.max_pos)
        traded = new_pos - self.pos
        reward = new_pos * (p1 - p0) - self.fee * np.abs(traded) * p0
        reward[resetting] = 0.0
        self.pos = np.where(resetting, 0.0, new_pos)
        self.k = np.where(resetting, 0, self.k + 1)
        truncated = self.k >= self.window
        terminated = np.zeros(self.num_envs, dtype=bool)
        obs = self.features[np.where(resetting, t, t + 1)]
        obs[:, 1] = self.pos / self.max_pos
        self.done = truncated
        return obs, reward, terminated, truncated, {}


def _lane_steps_per_s(venv: Any, lanes: int, episodes: int) -> float:
    """End to end: the first reset (episode draws) and every step, autoresets included."""
    n_steps = venv.window * episodes
    actions = np.random.default_rng(0).integers(0, 4, (n_steps, lanes))
    step = venv.step
    t0 = time.perf_counter()
    venv.reset(seed=0)
    for a in actions:
        step(a)
    return actions.size / (time.perf_counter() - t0)


def bench_vector() -> None:
    from arbkit.rl import ArbitrageEnv, ArbitrageVectorEnv

    single = ArbitrageEnv()  # builds and caches the default history's tables
    tb = single.tables
    prices = tb.mark.astype(np.float64)

    def ours() -> float:
        return _lane_steps_per_s(ArbitrageVectorEnv(LANES), LANES, VECTOR_EPISODES)

    def trivial() -> float:
        venv = TrivialVectorEnv(LANES, prices, tb.features, single.window, single.start_low)
        return _lane_steps_per_s(venv, LANES, VECTOR_EPISODES)

    print(
        f"2. vector env, {LANES:,} lanes x {VECTOR_EPISODES} episodes of {single.window} steps "
        f"per round, end to end from the first reset, median of {ROUNDS} rounds, 1 thread"
    )
    with threadpool_limits(1):
        med = _rounds({"ours": ours, "trivial": trivial})
    print(f"   ArbitrageVectorEnv                     {med['ours']:>13,.0f} lane-steps/s")
    print(f"   trivial numpy-batched env              {med['trivial']:>13,.0f} lane-steps/s")
    print(
        f"   ratio ours / trivial                   {med['ours'] / med['trivial']:>13.1%}"
        "   (target >= 75%)"
    )


# -- 3. a 30-day backtest with the decider and its model ----------------------------------------
def _backtest(n_blocks: int, policy: Any, seed: int = 0) -> tuple[dict[str, float], dict[str, Any]]:
    import arbkit.backtest.engine as engine
    from arbkit.backtest import BacktestConfig, Simulator, get_replay
    from arbkit.market.sim import simulate_market

    # private: the run's outcome table, which run_sync builds (and caches) otherwise
    build_outcomes = getattr(engine, "_default_outcomes", None)

    cfg = BacktestConfig()
    times: dict[str, float] = {}
    t0 = time.perf_counter()
    history = simulate_market(seed=seed, n_blocks=n_blocks)
    times["simulate"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    replay = get_replay(history, cfg)  # scan every block, keep the best candidates
    times["scan"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    # the outcome table of default orders on the run's draws, which run_sync would build
    # (and cache per replay and seed) on its first call; NaN: left inside the run
    if build_outcomes is not None:
        build_outcomes(replay, cfg.seed, replay.draws(cfg.seed))
    times["outcomes"] = time.perf_counter() - t0 if build_outcomes is not None else np.nan
    t0 = time.perf_counter()
    res = Simulator(policy, history, cfg, replay=replay).run_sync()
    times["run"] = time.perf_counter() - t0
    info = {"candidates": replay.candidates.height, "trades": res["trade_count"]}
    info["orders"] = res["order_count"]
    info["net"] = res["net_profit"]
    return times, info


def bench_backtest() -> None:
    from arbkit.backtest.learners import make_decider
    from arbkit.market.sim import simulate_market

    t0 = time.perf_counter()
    train = simulate_market(seed=10_000, n_blocks=21_600)
    decider_warm = make_decider(train, seed=0, use_model=True)
    t_train_warm = time.perf_counter() - t0
    # warm-up: imports, first fits and first polars plans, on one simulated day
    _backtest(7_200, decider_warm, seed=1)
    t0 = time.perf_counter()
    decider = make_decider(train, seed=0, use_model=True)
    t_train = time.perf_counter() - t0
    times, info = _backtest(MONTH, decider)
    wall = sum(v for v in times.values() if np.isfinite(v))
    print(
        f"3. 30-day backtest ({MONTH:,} blocks), decider + route model in the loop, "
        "default threads, after a one-day warm-up"
    )
    print(f"   simulate 30 days                         {times['simulate']:6.1f} s")
    print(
        f"   replay construction: scan                {times['scan']:6.1f} s "
        f"({info['candidates']:,} candidates)"
    )
    print(f"   replay construction: outcome table      {times['outcomes']:6.1f} s")
    print(
        f"   run (decider + model, {MONTH:,} blocks)  {times['run']:6.1f} s "
        f"= {MONTH / times['run']:,.0f} blocks/s; {info['orders']:,} orders, "
        f"{info['trades']:,} trades, net {info['net']:,.0f}"
    )
    print(f"   wall time, simulate + scan + outcomes + run {wall:6.1f} s   (target < 60 s)")
    print(
        f"   not included: fitting the decider on a 3-day training history {t_train:.1f} s "
        f"(simulating that history and the first fit: {t_train_warm:.1f} s)"
    )


PARTS = {"rl": bench_single, "vector": bench_vector, "backtest": bench_backtest}


def main(argv: list[str]) -> None:
    unknown = [a for a in argv if a not in PARTS]
    if unknown:
        raise SystemExit(f"unknown part(s) {unknown}: choose from {sorted(PARTS)}")
    for name in argv or list(PARTS):
        PARTS[name]()


if __name__ == "__main__":
    main(sys.argv[1:])
