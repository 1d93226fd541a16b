"""Configuration of the backtest harness."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from arbkit.execution.config import ExecutionConfig
from arbkit.execution.replay import DEFAULT_MAX_CANDIDATES
from arbkit.opportunities.config import ScanConfig

__all__ = ["BacktestConfig", "WalkForwardConfig"]


class BacktestConfig(BaseModel):
    """Options of :class:`arbkit.backtest.Simulator`.

    Parameters
    ----------
    seed
        Seed of the run: the execution model's uniforms come from
        ``np.random.SeedSequence(seed)``; every policy replayed with the same seed on the
        same history sees the same draws for the same candidate (common random numbers).
    portfolio_value_eth
        Starting capital in ETH (valued at the first block's ETH price).
    scan
        Scanner options (candidate kinds, flash source, gas model, CEX fee).
    max_candidates
        Candidates a policy sees per block (the replay's; the best by expected net).
    execution
        Execution-model options (inclusion, competition, reverts, costs).
    latency_ms
        Time from seeing a block to the policy's trade reaching the builders.
    priority_fee_wei
        Tip per gas of the policy's trades (default ``scan.priority_fee_wei``).
    blocks_per_day
        Blocks per day, for daily returns and the Sharpe ratio (7,200 at 12 s).
    progress
        Show a progress bar.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    seed: int = 0
    portfolio_value_eth: float = Field(100.0, gt=0)
    scan: ScanConfig = Field(default_factory=ScanConfig)
    max_candidates: int = Field(DEFAULT_MAX_CANDIDATES, ge=1)
    execution: ExecutionConfig = Field(default_factory=ExecutionConfig)
    latency_ms: float = Field(0.0, ge=0)
    priority_fee_wei: int | None = Field(None, ge=0)
    blocks_per_day: int = Field(7_200, ge=1)
    progress: bool = False


class WalkForwardConfig(BaseModel):
    """Folds of :func:`arbkit.backtest.walk_forward`, in blocks.

    Each fold trains on ``train_blocks``, skips ``purge_blocks`` (so that labels whose
    outcome lands after the training window cannot leak into it), then tests on
    ``test_blocks``; the next fold starts ``step_blocks`` later (default: the test
    length, giving back-to-back test windows). ``purge_blocks=None`` (the default) is the
    label delay of the backtest's execution settings
    (:func:`arbkit.execution.label_delay_blocks`); a smaller value is refused.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    train_blocks: int = Field(7_200, ge=1)
    purge_blocks: int | None = Field(None, ge=0)
    test_blocks: int = Field(3_600, ge=1)
    step_blocks: int | None = Field(None, ge=1)
    max_folds: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _no_overlap(self) -> WalkForwardConfig:
        if self.step_blocks is not None and self.step_blocks < self.test_blocks:
            raise ValueError(
                f"step_blocks={self.step_blocks} < test_blocks={self.test_blocks}: test "
                "windows would overlap and be counted twice in the pooled result"
            )
        return self
