"""Configuration of the AI flash-arbitrage runner (dry-run unless execution is asked for)."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

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
        Node endpoint (``http(s)://``, ``ws(s)://`` or a path ending in ``.ipc``);
        ``None`` uses the embedded chain (eth-tester + py-evm).
    private_key_env
        Name of the environment variable holding the signing key. The key itself never
        appears in a config file, a log or an error message.
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
