"""Advanced AI decider (user guide section 1). So far: its configuration."""

from __future__ import annotations

from arbkit.decider.config import AdvancedAIConfig, FactorWeights

__all__ = ["AdvancedAIConfig", "FactorWeights"]
