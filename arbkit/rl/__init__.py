"""RL trading policy (user guide section 3). So far: its configuration."""

from __future__ import annotations

from arbkit.rl.config import RLPolicyConfig, StateBins

__all__ = ["RLPolicyConfig", "StateBins"]
