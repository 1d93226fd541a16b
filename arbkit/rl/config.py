"""Configuration of the tabular Q-learning arbitrage policy."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = ["MAX_Q_TABLE_STATES", "RLPolicyConfig", "StateBins"]

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
    target_symbols
        Symbols the policy trades, as ``BASE/QUOTE``.
    replay_buffer_size
        Capacity of the experience-replay buffer, in transitions.
    batch_size
        Transitions replayed per learning step; at most ``replay_buffer_size``.
    save_every_episodes
        Save the Q-table to ``model_path`` every this many episodes.
    model_path
        Where the trained policy is saved.
    n_bins
        Discretisation of the six state dimensions.
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
    target_symbols: tuple[str, ...] = ("ETH/USDC", "BTC/USDT")
    replay_buffer_size: int = Field(10_000, ge=1, strict=True)
    batch_size: int = Field(32, ge=1, strict=True)
    save_every_episodes: int = Field(100, ge=1, strict=True)
    model_path: Path = Path("models/rl_policy_model.pkl")
    n_bins: StateBins = Field(default_factory=StateBins)
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
        if self.batch_size > self.replay_buffer_size:
            raise ValueError(
                f"batch_size ({self.batch_size}) must be <= replay_buffer_size "
                f"({self.replay_buffer_size})"
            )
        return self
