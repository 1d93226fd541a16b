"""Gymnasium arbitrage environment over windows of a market history."""

from __future__ import annotations

import dataclasses
import math
from collections import deque
from typing import Any, SupportsFloat, SupportsInt

import gymnasium as gym
import numpy as np
import numpy.typing as npt
import polars as pl
from gymnasium import spaces
from gymnasium.error import InvalidAction, ResetNeeded
from pydantic import ValidationError

from arbkit.errors import ConfigError
from arbkit.execution import NOT_INCLUDED, ExecutionConfig, GapLedger
from arbkit.market.history import MarketHistory
from arbkit.opportunities import ScanConfig
from arbkit.rl._tables import (
    FLASH_OUTCOMES,
    NO_CANDIDATE,
    EnvTables,
    default_history,
    get_tables,
)
from arbkit.rl._uniforms import uniforms
from arbkit.rl.config import ArbitrageEnvConfig
from arbkit.rl.state import (
    ACTIONS,
    BUY,
    FLASH_ARB,
    OBS_HIGH,
    OBS_LOW,
    SELL,
    MarketSnapshot,
    PortfolioState,
)

__all__ = ["ENV_ID", "FLASH_OUTCOMES", "ArbitrageEnv", "make_config"]

ENV_ID = "arbkit/Arbitrage-v0"
F32Array = npt.NDArray[np.float32]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Int8Array = npt.NDArray[np.int8]
_Episode = tuple[int, FloatArray]  # window start, uniforms of the window's candidates


def make_config(config: ArbitrageEnvConfig | None, options: dict[str, Any]) -> ArbitrageEnvConfig:
    """Return ``config`` (or the defaults) with ``options`` (its field names) applied.

    Raises
    ------
    ConfigError
        If an option is unknown or invalid; the message names the option.
    """
    base = (config or ArbitrageEnvConfig()).model_dump()
    try:
        return ArbitrageEnvConfig.model_validate({**base, **options})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"ArbitrageEnv options: {problems}") from None


class _Lookups:
    """Python lists of the per-block tables: scalar indexing of a list is the fastest."""

    def __init__(self, t: EnvTables) -> None:
        self.mark: list[float] = t.mark_step.tolist()
        self.lot: list[float] = t.lot_steps.tolist()
        self.buy_ok: list[bool] = t.buy_ok.tolist()
        self.buy_pnl: list[float] = t.buy_pnl.tolist()
        self.buy_gas: list[float] = t.buy_gas.tolist()
        self.sell_ok: list[bool] = t.sell_ok.tolist()
        self.sell_pnl: list[float] = t.sell_pnl.tolist()
        self.sell_gas: list[float] = t.sell_gas.tolist()
        self.block: list[int] = t.block_numbers.tolist()
        self.cand_edge: list[float] = t.cand_edge.tolist()
        self.cand_net: list[float] = t.cand_net.tolist()


class ArbitrageEnv(gym.Env[F32Array, np.int64]):
    """Trade spot and flash arbitrage over a window of market history.

    ## Description

    Each step is one block of a replayed :class:`~arbkit.market.history.MarketHistory`
    (simulated or real). The agent sees the state at block ``t`` and picks an action; the
    execution model (:class:`arbkit.execution.ExecutionModel`, the one shared with the
    backtest and the dry-run) says what the action yields when it lands at ``t + 1`` or
    later. The account holds quote-token cash and a long position in the base token of
    one spot pool (by default the cheapest ``USDC/WETH`` pool).

    Trades go through the one replay (:class:`arbkit.execution.Replay`), the same as
    the backtest's: the same candidates (the ``max_candidates`` best of each block), the
    same gap rule (a candidate is withheld while one of its pools has a trade of ours in
    flight, and once we traded its gap), the same edge ages and the same moment an
    outcome becomes known (its including block, or its deadline). Everything that
    depends only on the history is computed once: the replay's candidates and their
    outcome cells, the features, and the exact outcome of a spot buy and sell at every
    block. The random part (inclusion delay and rivals of the flash trades) is one pair
    of uniforms per candidate of the window, from a key drawn from ``self.np_random`` at
    reset (:mod:`arbkit.rl._uniforms`; or given as
    ``options={"draws": replay.draws(seed)}`` to meet a backtest's luck); a
    step is array look-ups and the gap rule's check of at most ``max_candidates``
    candidates.

    ## Action Space

    ``Discrete(4)``:

    | Num | Action    | Effect                                                             |
    |-----|-----------|--------------------------------------------------------------------|
    | 0   | buy       | exact-output swap for one lot (``trade_size_quote`` of base at the |
    |     |           | block's price) on the spot pool: pays the AMM fee, slippage, gas   |
    | 1   | sell      | exact-input swap of one lot of base (the lot at the block's price) |
    | 2   | hold      | nothing                                                            |
    | 3   | flash_arb | execute the block's best candidate the gap rule leaves free (no-op |
    |     |           | when there is none)                                                |

    Spot orders are the one replay's (:mod:`arbkit.execution.spot`), the backtest's
    ``Order(side=..., amount_quote=trade_size_quote)``: a lot is rounded down to whole
    steps of 1e-9 base token, so positions add up exactly. Positions are long only: a
    buy that would take the position above ``max_position_base`` and a sell of more
    than the position are rejected (nothing happens, ``info["executed"]`` is False).

    ## Observation Space

    ``Box(6,)``, float32, the guide's state (see :mod:`arbkit.rl.state`):

    | Num | Observation      | Min | Max | Raw quantity                                   |
    |-----|------------------|-----|-----|------------------------------------------------|
    | 0   | edge_quality     | 0   | 1   | best free candidate's expected net profit /    |
    |     |                  |     |     | notional (bps, after gas) / ``edge_scale_bps`` |
    | 1   | position_pct     | 0   | 1   | position / ``max_position_base``               |
    | 2   | portfolio_health | 0   | 1   | 1 - drawdown from peak / drawdown limit        |
    | 3   | volatility       | 0   | 1   | trailing per-block volatility of the base price|
    | 4   | gas_percentile   | 0   | 1   | base fee's percentile in a trailing window     |
    | 5   | liquidity        | 0   | 1   | log10 depth of the spot pool above a floor     |

    Features at block ``t`` use data up to ``t`` only.

    ## Rewards

    The change of equity (cash + position at the execution model's price of the base
    token), in quote, split into the components in ``info``:

    - ``reward_trade``: the spot trade against the mark, value received minus value
      paid at block ``t + 1``'s price (AMM fee and slippage make it negative unless the
      pool was off the market); the backtest's ``realized_profit_quote`` of the swap,
    - ``reward_gas``: minus the spot trade's gas,
    - ``reward_flash``: the ``net_profit_quote`` (after gas; a reverted trade pays its
      gas) of the flash trades whose outcome becomes known at the next block (their
      including block), credited then, not at the decision; when the episode ends, the
      outcomes still to come are credited with its last step, so an episode's rewards add
      up to the net of every trade it sent,
    - ``reward_mtm``: the held position revalued, ``position * (mark[t+1] - mark[t])``.

    ``reward = ((reward_trade + reward_gas) + reward_flash) + reward_mtm``.

    Costs enter only through the execution model, so for a fixed action sequence (same
    seed, same candidate set: a block's candidate is chosen once, from the scanner's
    estimate, and ``gas_multiplier`` only changes what is charged) raising gas (the
    multiplier or the base fee) never raises the reward of any step; nor does raising a
    pool fee or the flash-loan premium for spot trades and flash-loan routes, whose
    revert check is their realised profit. Exceptions, from the model's semantics: a
    CEX-DEX trade's on-chain minimum is set from the decision's quote net of the CEX
    fee, so a higher CEX or pool fee can make it revert (paying gas only) where it
    would have landed at a loss after the CEX moved; likewise with
    ``revert_gas_fraction < 1`` or ``revert_protection``. Buying and selling back at an
    unchanged price loses exactly the fees and gas.

    ## Info

    ``block`` (the block the next decision sees), ``position_base``, ``equity_quote``,
    the four reward components, ``executed`` (a spot trade happened),
    ``flash_candidate`` (the replay's ``cand_id`` sent by flash_arb, -1 if none),
    ``flash_outcome`` (-1 without flash_arb, else an index into ``FLASH_OUTCOMES``:
    the model's reasons plus ``no_candidate``; for accounting, it is known to the
    agent only through ``reward_flash`` at its including block) and
    ``expected_net_quote`` (the next block's best free candidate's expected net
    profit, 0 when it has none). Reset returns the same keys with zero rewards.

    ## Starting State

    A window start drawn uniformly from ``[warmup, n_blocks - window_blocks - 1]`` (or
    ``options={"start": s}``), no position, cash ``initial_capital_quote``, health 1.

    ## Episode End

    - Termination: the risk limit, equity ``max_drawdown_frac * initial_capital_quote``
      below its running peak (health 0).
    - Truncation: the end of the window, after ``window_blocks`` decisions.

    ## Arguments

    ```python
    import gymnasium as gym
    import arbkit.rl  # registers the id

    env = gym.make("arbkit/Arbitrage-v0")  # simulate_market(seed=0, n_blocks=3000)
    env = gym.make("arbkit/Arbitrage-v0", history=h, window_blocks=512)
    ```

    - ``history``: the market history (default: the simulated one above, cached).
    - ``execution_config``, ``scan_config``: options of the execution model and scanner.
    - ``candidates``: a candidates table to use instead of scanning (one best row per
      block is kept), e.g. to hold the candidate set fixed while costs change.
    - ``config`` and any :class:`~arbkit.rl.config.ArbitrageEnvConfig` field as a keyword
      (``window_blocks``, ``trade_size_quote``, ``max_position_base``,
      ``initial_capital_quote``, ``max_drawdown_frac``, ``spot_pool``,
      ``gas_multiplier``, ...).
    - ``render_mode``: ``None`` or ``"ansi"``.

    ## Version History

    - v0: initial version.
    """

    metadata: dict[str, Any] = {"render_modes": ["ansi"], "render_fps": 1}  # noqa: RUF012

    def __init__(
        self,
        history: MarketHistory | None = None,
        *,
        config: ArbitrageEnvConfig | None = None,
        execution_config: ExecutionConfig | None = None,
        scan_config: ScanConfig | None = None,
        candidates: pl.DataFrame | None = None,
        render_mode: str | None = None,
        **options: Any,
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ConfigError(f"render_mode {render_mode!r}: expected None or 'ansi'")
        self.render_mode = render_mode
        self.config = make_config(config, options)
        self.history = history if history is not None else default_history()
        self.execution_config = execution_config or ExecutionConfig()
        self.scan_config = scan_config or ScanConfig()
        self.tables, self.replay = get_tables(
            self.history, self.config, self.execution_config, self.scan_config, candidates
        )
        cfg = self.config
        self.window = cfg.window_blocks
        self.start_low = cfg.warmup
        self.start_high = self.tables.n_blocks - self.window - 1
        if self.start_high < self.start_low:
            raise ConfigError(
                f"window_blocks={self.window}: a {self.tables.n_blocks}-block history fits no "
                f"window after the {self.start_low}-block warm-up (need at least "
                f"{self.start_low + self.window + 1} blocks)"
            )
        self.observation_space = spaces.Box(OBS_LOW, OBS_HIGH, dtype=np.float32)
        self.action_space = spaces.Discrete(len(ACTIONS))
        aliases = {v: k for k, v in self.scan_config.cex_asset_aliases.items()}
        self.symbol = f"{aliases.get(self.tables.base_token, self.tables.base_token)}/" + (
            self.tables.quote_token
        )
        self._lk = _Lookups(self.tables)
        rp = self.replay
        lo = rp.starts[self.start_low : self.start_high + 1]
        hi = rp.starts[self.start_low + self.window : self.start_high + 1 + self.window]
        self.max_window_candidates = max(int((hi - lo).max()), 1)
        # outcomes are known at most this many blocks after their decision
        self.credit_length = self.window + rp.label_delay_blocks + 1
        self._ledger: GapLedger = rp.ledger()
        self._cand_starts: list[int] = rp.starts_list
        self._features = self.tables.features
        self._lo = 0
        self._cur = -1
        self._net_c: list[float] = []
        self._code_c: list[int] = []
        self._reveal_c: list[int] = []
        self._credit: list[float] = [0.0] * self.credit_length
        # positions in lot steps: the largest one, and the base tokens of one step
        self._step_base = self.tables.step_base
        self._max_pos = math.floor(cfg.max_position_base / self._step_base)
        self._drawdown = cfg.max_drawdown_frac * cfg.initial_capital_quote
        self._queue: deque[_Episode] = deque()
        self._queue_rng: np.random.Generator | None = None
        self._start = self.start_low
        self._k = 0
        self._pos = 0.0
        self._equity = cfg.initial_capital_quote
        self._peak = cfg.initial_capital_quote
        self._done = True

    # -- episode draws ---------------------------------------------------------------------
    def episode_draws(self, rng: np.random.Generator, k: int) -> IntArray:
        """Draw ``k`` episodes from ``rng``: shape ``(k, 2)``, a start draw and a key each.

        One ``rng.integers`` call (63-bit integers), so the stream does not depend on
        how many episodes are drawn at once. :meth:`episode_from_draws` turns a row into
        an episode.
        """
        return rng.integers(0, 2**63, size=(k, 2), dtype=np.int64)

    def episode_from_draws(self, row: IntArray) -> _Episode:
        """Return ``(start, draws)`` of one row of :meth:`episode_draws`.

        The start is ``start_low + row[0] % n_starts``; the window's uniforms come from
        the key ``row[1]`` (:mod:`arbkit.rl._uniforms`): candidate ``j`` of the window
        uses the pair ``draws[j]``, whatever the start.
        """
        n_starts = self.start_high - self.start_low + 1
        start = self.start_low + int(row[0]) % n_starts
        m = self.max_window_candidates
        return start, uniforms(int(row[1]), 2 * m).reshape(m, 2)

    def draw_episodes(self, rng: np.random.Generator, k: int) -> list[_Episode]:
        """Draw ``k`` episodes from ``rng``: ``(start, draws)`` each.

        See :meth:`episode_draws` for the order of the draws.
        """
        return [self.episode_from_draws(row) for row in self.episode_draws(rng, k)]

    def episode_outcomes(
        self, start: int, draws: FloatArray
    ) -> tuple[FloatArray, Int8Array, IntArray]:
        """Net profit, outcome code and reveal position of the window's candidates.

        ``draws`` holds at least one pair of uniforms per candidate of the window (in
        candidate order).
        """
        rp = self.replay
        lo, hi = int(rp.starts[start]), int(rp.starts[start + self.window])
        rows = np.arange(lo, hi, dtype=np.int64)
        d = np.asarray(draws[: hi - lo], dtype=np.float64)
        return rp.outcome_arrays(rows, d, use_cells=self.config.flash_outcomes == "cells")

    def check_start(self, start: SupportsInt) -> int:
        """Return ``start`` as an int after checking it is a valid window start."""
        s = int(start)
        if not self.start_low <= s <= self.start_high:
            raise ConfigError(
                f"options['start']={s}: must lie in [{self.start_low}, {self.start_high}] "
                "(warm-up to the last block that fits a window)"
            )
        return s

    # -- gymnasium API ---------------------------------------------------------------------
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[F32Array, dict[str, Any]]:
        """Start an episode; ``options={"start": s}`` fixes the window start.

        The episode's random numbers are drawn from ``self.np_random`` in a fixed order
        (window start, then the key of the window's uniforms) even when the start is
        given, so the same seed meets the same draws whatever the starts.
        """
        super().reset(seed=seed)
        rng = self.np_random
        if seed is not None or self._queue_rng is not rng:
            self._queue.clear()
            self._queue_rng = rng
        if not self._queue:
            self._queue.extend(self.draw_episodes(rng, self.config.prefetch_episodes))
        start, draws = self._queue.popleft()
        opts = options or {}
        if opts.get("start") is not None:
            start = self.check_start(opts["start"])
        if opts.get("draws") is not None:
            draws = self.replay_draws(start, opts["draws"])
        net, code, reveal = self.episode_outcomes(start, draws)
        self._start, self._k = start, 0
        self._lo = int(self.replay.starts[start])
        self._net_c = net.tolist()
        self._code_c = code.tolist()
        self._reveal_c = (reveal - start).tolist()
        self._credit = [0.0] * self.credit_length
        self._ledger = self.replay.ledger()
        self._pos = 0.0
        self._equity = self._peak = self.config.initial_capital_quote
        self._done = False
        self._cur = self._ledger.first_free(start)
        obs = self.tables.features[start].copy()
        obs[0] = self._lk.cand_edge[self._cur] if self._cur >= 0 else 0.0
        return obs, self._info(start, 0.0, 0.0, 0.0, 0.0, False, -1, -1)

    def replay_draws(self, start: int, draws: Any) -> FloatArray:
        """Return the rows of the replay's uniforms ``draws`` that the window at ``start`` uses.

        Raises
        ------
        ConfigError
            If ``draws`` is not one pair of uniforms per candidate of the replay.
        """
        rp = self.replay
        d = np.asarray(draws, dtype=np.float64)
        if d.shape != (rp.candidates.height, 2):
            raise ConfigError(
                f"options['draws']: expected the replay's uniforms, shape "
                f"({rp.candidates.height}, 2), got {d.shape}"
            )
        lo, hi = int(rp.starts[start]), int(rp.starts[start + self.window])
        return d[lo:hi]

    def step(
        self, action: SupportsInt
    ) -> tuple[F32Array, SupportsFloat, bool, bool, dict[str, Any]]:
        """Apply one action at the current block; see the class docstring."""
        if self._done:
            raise ResetNeeded("ArbitrageEnv.step: the episode is over; call reset()")
        a = int(action)
        if not 0 <= a < 4:
            raise InvalidAction(f"action {action!r}: expected 0..3 ({', '.join(ACTIONS)})")
        lk = self._lk
        k = self._k
        t = self._start + k
        pos = self._pos
        delta = trade = gas = 0.0
        executed = False
        # positions count lot steps (integer-valued floats: exact); long only
        if a == BUY:
            if lk.buy_ok[t] and pos + lk.lot[t] <= self._max_pos:
                delta, trade, gas, executed = lk.lot[t], lk.buy_pnl[t], lk.buy_gas[t], True
        elif a == SELL and lk.sell_ok[t] and lk.lot[t] <= pos:
            delta, trade, gas, executed = -lk.lot[t], lk.sell_pnl[t], lk.sell_gas[t], True
        fcode = sent = -1
        credit = self._credit
        if a == FLASH_ARB:
            sent = self._cur
            if sent >= 0:
                j = sent - self._lo
                fcode = self._code_c[j]
                r = self._reveal_c[j]
                self._ledger.take(sent, r + self._start, fcode != NOT_INCLUDED)
                credit[r] += self._net_c[j]
            else:
                fcode = NO_CANDIDATE
        # outcomes known at the next block are credited now
        flash = credit[k + 1]
        mtm = pos * (lk.mark[t + 1] - lk.mark[t])
        reward = ((trade - gas) + flash) + mtm
        self._pos = pos = pos + delta
        equity = self._equity + reward
        peak = self._peak
        if equity > peak:
            peak = equity
        health = 1.0 - (peak - equity) / self._drawdown
        terminated = health <= 0.0
        self._k = k = k + 1
        truncated = k >= self.window and not terminated
        if terminated or truncated:
            # the episode ends: outcomes still to be known are credited with it
            rest = math.fsum(credit[k + 1 :])
            if rest != 0.0:
                flash = flash + rest
                reward = ((trade - gas) + flash) + mtm
                equity = self._equity + reward
                peak = equity if equity > self._peak else self._peak
                health = 1.0 - (peak - equity) / self._drawdown
            self._done = True
        self._equity, self._peak = equity, peak
        t1 = t + 1
        # the best candidate the gap rule leaves free at the next block (most have none)
        starts = self._cand_starts
        cur = self._ledger.first_free(t1) if starts[t1] != starts[t1 + 1] else -1
        self._cur = cur
        obs = self._features[t1].copy()
        obs[0] = lk.cand_edge[cur] if cur >= 0 else 0.0
        obs[1] = pos / self._max_pos
        obs[2] = 0.0 if health <= 0.0 else (1.0 if health >= 1.0 else health)
        info = {
            "block": lk.block[t1],
            "position_base": pos * self._step_base,
            "equity_quote": equity,
            "reward_trade": trade,
            "reward_gas": -gas,
            "reward_flash": flash,
            "reward_mtm": mtm,
            "executed": executed,
            "flash_outcome": fcode,
            "flash_candidate": sent,
            "expected_net_quote": lk.cand_net[cur] if cur >= 0 else 0.0,
        }
        return obs, reward, terminated, truncated, info

    def _info(
        self,
        t: int,
        trade: float,
        gas: float,
        flash: float,
        mtm: float,
        executed: bool,
        fcode: int,
        sent: int,
    ) -> dict[str, Any]:
        cur = self._cur
        return {
            "block": self._lk.block[t],
            "position_base": self._pos * self._step_base,
            "equity_quote": self._equity,
            "reward_trade": trade,
            "reward_gas": gas,
            "reward_flash": flash,
            "reward_mtm": mtm,
            "executed": executed,
            "flash_outcome": fcode,
            "flash_candidate": sent,
            "expected_net_quote": self._lk.cand_net[cur] if cur >= 0 else 0.0,
        }

    def render(self) -> str | None:
        """Return a one-line text summary (``render_mode="ansi"``), else ``None``."""
        if self.render_mode != "ansi":
            return None
        t = self._start + self._k
        return (
            f"block {self._lk.block[t]} step {self._k}/{self.window} "
            f"position {self._pos * self._step_base:+.4f} {self.tables.base_token} "
            f"equity {self._equity:,.2f} {self.tables.quote_token}"
        )

    # -- bridges to the policy API ---------------------------------------------------------
    @property
    def current_index(self) -> int:
        """Position in the history of the block the next decision sees."""
        return self._start + self._k

    def market_snapshot(self) -> MarketSnapshot:
        """Return the market at the current block as a :class:`MarketSnapshot`.

        Its edge is the best candidate the gap rule leaves free in this episode (as the
        observation), not merely the block's best.
        """
        snap = self.snapshot_at(self.current_index)
        cur = self._cur
        edge = 0.0
        if cur >= 0:
            row = self.replay.candidates.row(cur, named=True)
            notional = float(row["notional_quote"])
            edge = float(row["net_profit_quote"]) / notional * 1e4 if notional > 0 else 0.0
        return dataclasses.replace(snap, edge_bps={self.symbol: edge})

    def snapshot_at(self, t: int) -> MarketSnapshot:
        """Return the market at history position ``t`` as a :class:`MarketSnapshot`.

        The same causal features as the observation (data up to ``t``), unnormalised,
        keyed by :attr:`symbol`: what a backtest or live adapter hands to
        :meth:`RLArbitragePolicy.decide`.
        """
        tb = self.tables
        if not 0 <= t < tb.n_blocks:
            raise ConfigError(f"snapshot_at({t}): outside the {tb.n_blocks}-block history")
        ts = self.history.blocks["timestamp"][t]
        return MarketSnapshot(
            timestamp=float(ts),
            prices={self.symbol: float(tb.mark[t])},
            edge_bps={self.symbol: float(tb.edge_bps[t])},
            volatility_bps={self.symbol: float(tb.volatility_bps[t])},
            gas_percentile=float(tb.gas_percentile[t]),
            liquidity_quote={self.symbol: float(tb.liquidity_quote[t])},
            block=int(tb.block_numbers[t]),
        )

    def portfolio_state(self) -> PortfolioState:
        """Return the account as a :class:`PortfolioState`."""
        t = self.current_index
        return PortfolioState(
            cash_quote=self._equity - self._pos * float(self.tables.mark_step[t]),
            positions={self.symbol: self._pos * self._step_base},
            equity_quote=self._equity,
            peak_equity_quote=self._peak,
            max_drawdown_quote=self._drawdown,
        )
