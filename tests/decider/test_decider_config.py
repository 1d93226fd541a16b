from __future__ import annotations

import pytest
from pydantic import ValidationError

from arbkit.config import AIConfig
from arbkit.decider import AdvancedAIConfig, RoutePredictorConfig


def test_the_extended_config_keeps_the_profile_defaults_and_stays_compatible() -> None:
    cfg = AdvancedAIConfig()
    assert (cfg.confidence_threshold, cfg.kelly_fraction, cfg.min_profit_eth) == (0.7, 0.25, 0.15)
    assert cfg.route_model.calibration == "platt"
    # the AI config section still validates the guide's JSON and round-trips
    ai = AIConfig.model_validate({"advanced_decider": {"kelly_fraction": 0.2}})
    again = AIConfig.model_validate(ai.model_dump(mode="json"))
    assert again.advanced_decider == ai.advanced_decider


@pytest.mark.parametrize(
    "kwargs",
    [
        {"min_training_samples": 500, "max_training_samples": 100},
        {"ml_blend_weight": 1.5},
        {"rank_by": "profit"},
        {"route_model": {"calibration": "beta"}},
        {"scoring": {"edge_scale_bps": 0.0}},
    ],
)
def test_bad_decider_options_are_refused(kwargs) -> None:
    with pytest.raises(ValidationError):
        AdvancedAIConfig.model_validate(kwargs)


def test_route_predictor_config_is_frozen() -> None:
    cfg = RoutePredictorConfig()
    with pytest.raises(ValidationError):
        cfg.n_estimators = 5  # type: ignore[misc]
