"""Configuration of the AI flash-arbitrage runner (dry-run unless execution is asked for)."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

from arbkit.live.safety import SafetyConfig
from arbkit.opportunities.config import FlashSource

__all__ = ["AIFlashArbConfig"]

_RPC_SCHEMES = ("http://", "https://", "ws://", "wss://")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class AIFlashArbConfig(BaseModel):
    """Options of :class:`arbkit.live.AIFlashArbitrageRunner`.

    Parameters
    ----------
    enable_ai_scoring
        Rank candidates with the advanced decider; when off, the runner takes the
        candidate with the highest expected net profit.
    ai_min_confidence
        Minimum decider confidence (0-1) for a trade. Risk-profile controlled.
    enable_flash_loans
        Fund DEX routes with flash loans; when off, only inventory-funded trades run.
    enable_execution
        Send transactions. ``False`` (the default) is dry-run: decisions are made,
        simulated and logged, nothing is sent.
    portfolio_value_eth
        Portfolio value used for Kelly sizing, in ETH.
    high_confidence_size_boost
        Relative size increase of high-confidence decisions (0.20 = +20 %).
    scan_interval_s
        Pause between two scans, in seconds (12 s is one mainnet block).
    rpc_url
        Node endpoint (``http(s)://``, ``ws(s)://`` or a path ending in ``.ipc``) of a
        dev node or fork that mines on request; ``None`` starts the embedded anvil node.
    private_key_env
        Name of the environment variable holding the signing key. The key itself never
        appears in a config file, a log or an error message. Required to send on an
        ``rpc_url``; on the embedded node a dev account signs when it is unset.
    flash_source
        Where executed routes borrow: ``balancer`` (no fee), ``aave`` (premium read
        from the lender) or ``v2_flash_swap``.
    seed
        Seed of the run (the replay's luck in a dry-run, the simulated history).
    blocks
        Blocks to run; ``None`` for the whole history.
    safety
        Stage thresholds, stop-loss, risk caps and the kill file.
    stage_file
        Where the trading stage and its track record are kept.
    models_dir
        The model registry; only promoted, hash-verified models are loaded.
    execution_log_dir
        Folder of the execution log (source ``dry_run`` or ``live``); ``None`` for
        ``$ARBKIT_EXECUTIONS_DIR``, else ``data/executions``.
    write_execution_log
        Whether the run's executions are written to the execution log.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    enable_ai_scoring: bool = Field(True, strict=True)
    ai_min_confidence: float = Field(0.70, ge=0, le=1, strict=True)
    enable_flash_loans: bool = Field(True, strict=True)
    enable_execution: bool = Field(False, strict=True)
    portfolio_value_eth: float = Field(100.0, gt=0, strict=True)
    high_confidence_size_boost: float = Field(0.20, ge=0, le=1, strict=True)
    scan_interval_s: float = Field(12.0, gt=0, le=3_600, strict=True)
    rpc_url: str | None = Field(None, strict=True)
    private_key_env: str = Field("ARBKIT_PRIVATE_KEY", strict=True)
    flash_source: FlashSource = FlashSource.BALANCER
    seed: int = Field(0, ge=0, strict=True)
    blocks: int | None = Field(None, ge=1, strict=True)
    safety: SafetyConfig = Field(default_factory=SafetyConfig)
    stage_file: str = Field("live/stage.json", min_length=1, strict=True)
    models_dir: str = Field("models", min_length=1, strict=True)
    execution_log_dir: str | None = Field(None, min_length=1, strict=True)
    write_execution_log: bool = Field(True, strict=True)

    @field_validator("rpc_url")
    @classmethod
    def _check_rpc_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if value.startswith(_RPC_SCHEMES) or value.endswith(".ipc"):
            return value
        raise ValueError("must start with http://, https://, ws:// or wss://, or end in .ipc")

    @field_validator("private_key_env")
    @classmethod
    def _check_env_name(cls, value: str) -> str:
        if _ENV_NAME.fullmatch(value) is None:
            raise ValueError("must be an environment variable name (letters, digits, _)")
        return value
