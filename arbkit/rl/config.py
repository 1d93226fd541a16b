"""Configuration of the tabular Q-learning arbitrage policy."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "MAX_Q_TABLE_STATES",
    "ArbitrageEnvConfig",
    "RLPolicyConfig",
    "StateBins",
    "StateScales",
]

MAX_Q_TABLE_STATES = 10_000_000
"""Upper bound on the number of discrete states (product of the bins), keeps the Q-table small."""

_SYMBOL = re.compile(r"[A-Z0-9]+/[A-Z0-9]+")


class StateBins(BaseModel):
    """Number of discretisation bins of each of the six state dimensions.

    Parameters
    ----------
    edge_quality
        Bins of the edge (bps).
    position_pct
        Bins of the position as a fraction of ``max_position_size``.
    portfolio_health
        Bins of the portfolio health.
    volatility
        Bins of the volatility.
    gas_percentile
        Bins of the gas price percentile.
    liquidity
        Bins of the liquidity score.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    edge_quality: int = Field(10, ge=2, le=1_000, strict=True)
    position_pct: int = Field(5, ge=2, le=1_000, strict=True)
    portfolio_health: int = Field(5, ge=2, le=1_000, strict=True)
    volatility: int = Field(5, ge=2, le=1_000, strict=True)
    gas_percentile: int = Field(5, ge=2, le=1_000, strict=True)
    liquidity: int = Field(5, ge=2, le=1_000, strict=True)

    @model_validator(mode="after")
    def _check_table_size(self) -> Self:
        if self.n_states > MAX_Q_TABLE_STATES:
            raise ValueError(
                f"{self.n_states} discrete states exceed the limit of {MAX_Q_TABLE_STATES}"
            )
        return self

    def as_tuple(self) -> tuple[int, int, int, int, int, int]:
        """Return the bins in state order.

        Returns
        -------
        tuple of int
            ``(edge_quality, position_pct, portfolio_health, volatility, gas_percentile,
            liquidity)``.
        """
        return (
            self.edge_quality,
            self.position_pct,
            self.portfolio_health,
            self.volatility,
            self.gas_percentile,
            self.liquidity,
        )

    @property
    def n_states(self) -> int:
        """Number of discrete states (product of the bins)."""
        return math.prod(self.as_tuple())


class StateScales(BaseModel):
    """How the six raw state quantities are normalised into the observation.

    The same scales are used by :class:`arbkit.rl.ArbitrageEnv` (observations) and by
    :class:`arbkit.rl.RLArbitragePolicy` (states built from a
    :class:`~arbkit.rl.MarketSnapshot`), so a policy trained in the env reads live
    snapshots the same way.

    Parameters
    ----------
    edge_scale_bps
        Net edge (after gas) mapped to 1; ``edge = clip(edge_bps / edge_scale_bps, 0, 1)``.
    volatility_scale_bps
        Per-block realised volatility mapped to 1.
    liquidity_floor_quote
        Pool depth (quote) mapped to 0; depth is scored on a log10 scale above it.
    liquidity_decades
        Decades of depth above the floor mapped to 1.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    edge_scale_bps: float = Field(10.0, gt=0)
    volatility_scale_bps: float = Field(20.0, gt=0)
    liquidity_floor_quote: float = Field(1.0e4, gt=0)
    liquidity_decades: float = Field(6.0, gt=0)


class ArbitrageEnvConfig(BaseModel):
    """Options of :class:`arbkit.rl.ArbitrageEnv` (everything but the history and models).

    Parameters
    ----------
    window_blocks
        Decisions per episode: an episode decides at blocks ``start .. start + window - 1``.
    warmup_blocks
        Earliest episode start, so that the trailing features are fully formed; ``None``
        uses ``max(volatility_window_blocks, gas_window_blocks)``.
    trade_size_quote
        Size of one spot buy or sell, in quote; converted at each decision block into a
        lot of the base token at that block's price.
    max_position_base
        Largest absolute position in whole base tokens; trades beyond it are rejected.
    initial_capital_quote
        Cash at the start of an episode.
    max_drawdown_frac
        Risk limit: the episode terminates when equity falls this fraction of the
        initial capital below its running peak.
    spot_pool
        Pool of the spot trades; ``None`` picks the lowest-fee pool pairing the quote
        token with the native token (deepest first on ties).
    swap_gas_units
        Gas of one spot swap.
    gas_multiplier
        Multiplies the gas units of every trade sent to the execution model (a cost knob:
        it changes what is charged, never which trade is taken).
    volatility_window_blocks, gas_window_blocks
        Trailing windows of the volatility and gas-percentile features.
    state_scales
        Normalisation of the observation.
    prefetch_episodes
        Episodes whose draws and flash outcomes are computed at once (speed only: the
        draws come from the env's generator in the same order whatever this is).
    flash_outcomes
        How the flash trades' outcomes are obtained from the execution model, both exact:
        ``"cells"`` uses the replay's :class:`~arbkit.execution.OutcomeCells` (the outcome
        of every candidate in every inclusion-delay / rival cell of the model's two
        uniforms, checked against direct calls), so an episode costs array look-ups;
        ``"batch"`` calls :meth:`~arbkit.execution.ExecutionModel.execute_batch` on every
        episode's candidates.
    latency_ms, priority_fee_wei, max_candidates
        The replay's settings (:class:`arbkit.execution.Replay`), as in the backtest:
        latency and tip of the flash trades, candidates per block.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    window_blocks: int = Field(256, ge=1, strict=True)
    warmup_blocks: int | None = Field(None, ge=0, strict=True)
    trade_size_quote: float = Field(10_000.0, gt=0)
    max_position_base: float = Field(10.0, gt=0)
    initial_capital_quote: float = Field(100_000.0, gt=0)
    max_drawdown_frac: float = Field(0.02, gt=0, le=1)
    spot_pool: str | None = None
    swap_gas_units: int = Field(110_000, ge=0, strict=True)
    gas_multiplier: float = Field(1.0, ge=0)
    volatility_window_blocks: int = Field(50, ge=2, strict=True)
    gas_window_blocks: int = Field(100, ge=1, strict=True)
    state_scales: StateScales = Field(default_factory=StateScales)
    prefetch_episodes: int = Field(16, ge=1, le=4_096, strict=True)
    flash_outcomes: Literal["cells", "batch"] = "cells"
    latency_ms: float = Field(0.0, ge=0)
    priority_fee_wei: int | None = Field(None, ge=0)
    max_candidates: int = Field(8, ge=1, strict=True)

    @property
    def warmup(self) -> int:
        """Earliest episode start (position in the history)."""
        if self.warmup_blocks is not None:
            return self.warmup_blocks
        return max(self.volatility_window_blocks, self.gas_window_blocks)


class RLPolicyConfig(BaseModel):
    """Options of :class:`arbkit.rl.RLArbitragePolicy`.

    Exploration is epsilon-greedy: epsilon starts at ``epsilon_start`` and is multiplied
    by ``epsilon_decay`` at the end of every episode, never going below ``epsilon_end``.

    Parameters
    ----------
    learning_rate
        Q-learning step size (alpha).
    discount_factor
        Discount of future rewards (gamma).
    epsilon_start, epsilon_end, epsilon_decay
        Exploration schedule, see above.
    max_position_size
        Largest position per symbol, in units of the base asset.
    trade_size
        Size of one buy or sell order, in units of the base asset.
    target_symbols
        Symbols the policy trades, as ``BASE/QUOTE``.
    replay_buffer_size
        Capacity of the experience-replay buffer, in transitions.
    batch_size
        Transitions replayed per learning step; at most ``replay_buffer_size``.
    save_every_episodes
        Save the Q-table to ``model_path`` every this many episodes.
    model_path
        Where the trained policy is saved (an ``.npz`` Q-table with a ``.sha256`` sidecar).
    n_bins
        Discretisation of the six state dimensions.
    state_scales
        Normalisation of snapshots into states (as in the env's observation).
    seed
        Seed of the policy's random generator; ``None`` draws fresh OS entropy.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    learning_rate: float = Field(0.01, gt=0, le=1, strict=True)
    discount_factor: float = Field(0.95, ge=0, le=1, strict=True)
    epsilon_start: float = Field(0.20, ge=0, le=1, strict=True)
    epsilon_end: float = Field(0.01, ge=0, le=1, strict=True)
    epsilon_decay: float = Field(0.995, gt=0, le=1, strict=True)
    max_position_size: float = Field(10.0, gt=0, strict=True)
    trade_size: float = Field(1.0, gt=0, strict=True)
    target_symbols: tuple[str, ...] = ("ETH/USDC", "BTC/USDT")
    replay_buffer_size: int = Field(10_000, ge=1, strict=True)
    batch_size: int = Field(32, ge=1, strict=True)
    save_every_episodes: int = Field(100, ge=1, strict=True)
    model_path: Path = Path("models/rl_policy_model.npz")
    n_bins: StateBins = Field(default_factory=StateBins)
    state_scales: StateScales = Field(default_factory=StateScales)
    seed: int | None = Field(None, ge=0, strict=True)

    @field_validator("target_symbols")
    @classmethod
    def _check_symbols(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("must name at least one symbol")
        bad = [s for s in value if _SYMBOL.fullmatch(s) is None]
        if bad:
            raise ValueError(f"symbols must look like 'ETH/USDC' (upper case BASE/QUOTE): {bad}")
        if len(set(value)) != len(value):
            raise ValueError("symbols must be unique")
        return value

    @model_validator(mode="after")
    def _check_consistency(self) -> Self:
        if self.epsilon_end > self.epsilon_start:
            raise ValueError(
                f"epsilon_end ({self.epsilon_end:g}) must be <= epsilon_start "
                f"({self.epsilon_start:g})"
            )
        if self.trade_size > self.max_position_size:
            raise ValueError(
                f"trade_size ({self.trade_size:g}) must be <= max_position_size "
                f"({self.max_position_size:g})"
            )
        if self.batch_size > self.replay_buffer_size:
            raise ValueError(
                f"batch_size ({self.batch_size}) must be <= replay_buffer_size "
                f"({self.replay_buffer_size})"
            )
        return self
