"""Tests of arbkit.config: layering, risk profiles, environment, errors, atomic save, hot reload."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

import arbkit.config as config_module
from arbkit.aqua.config import AquaOpportunityConfig
from arbkit.config import (
    ENV_VARS,
    PROFILE_KEYS,
    RISK_PROFILES,
    AIConfig,
    AIConfigManager,
    AIMode,
    RiskProfile,
)
from arbkit.decider.config import AdvancedAIConfig, FactorWeights
from arbkit.errors import ConfigError
from arbkit.live.config import AIFlashArbConfig
from arbkit.rl.config import RLPolicyConfig, StateBins

# Quick Start §2 of the guide, verbatim.
GUIDE_JSON = """{
  "enable_ai_system": true,
  "ai_mode": "conservative",
  "portfolio_value_eth": 100.0,
  "advanced_decider": {
    "confidence_threshold": 0.75,
    "enable_ml_scoring": true,
    "kelly_fraction": 0.25
  },
  "flash_runner": {
    "enable_ai_scoring": true,
    "ai_min_confidence": 0.75
  }
}
"""

# Quick Start §3 of the guide.
GUIDE_ENV = {
    "AI_ENABLED": "true",
    "AI_MODE": "conservative",
    "AI_MIN_CONFIDENCE": "0.75",
    "AQUA_ENABLE_COPY_TRADING": "false",
    "AQUA_ENABLE_COUNTER_TRADING": "true",
}

# The guide's "Risk Profiles" table.
GUIDE_TABLE: dict[str, dict[str, Any]] = {
    "conservative": {
        "confidence_threshold": 0.75,
        "kelly_fraction": 0.15,
        "max_leverage": 2.0,
        "max_flash_borrow_eth": 50.0,
        "min_profit_eth": 0.20,
        "enable_copy_trading": False,
    },
    "balanced": {
        "confidence_threshold": 0.70,
        "kelly_fraction": 0.25,
        "max_leverage": 3.0,
        "max_flash_borrow_eth": 100.0,
        "min_profit_eth": 0.15,
        "enable_copy_trading": False,
    },
    "aggressive": {
        "confidence_threshold": 0.60,
        "kelly_fraction": 0.35,
        "max_leverage": 5.0,
        "max_flash_borrow_eth": 200.0,
        "min_profit_eth": 0.10,
        "enable_copy_trading": True,
    },
}


def _get(config: AIConfig, dotted: str) -> Any:
    value: Any = config
    for part in dotted.split("."):
        value = getattr(value, part)
    return value


def _write(path: Path, data: dict[str, Any] | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def _wait_for(condition: Callable[[], bool], timeout_s: float = 1.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def _assert_profile(config: AIConfig, name: str) -> None:
    row = GUIDE_TABLE[name]
    assert config.advanced_decider.confidence_threshold == row["confidence_threshold"]
    assert config.flash_runner.ai_min_confidence == row["confidence_threshold"]
    assert config.advanced_decider.kelly_fraction == row["kelly_fraction"]
    assert config.advanced_decider.max_leverage == row["max_leverage"]
    assert config.advanced_decider.max_flash_borrow_eth == row["max_flash_borrow_eth"]
    assert config.advanced_decider.min_profit_eth == row["min_profit_eth"]
    assert config.aqua.enable_copy_trading is row["enable_copy_trading"]


@pytest.fixture
def guide_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return _write(Path("config/ai_config.json"), GUIDE_JSON)


# --- the guide's snippets ------------------------------------------------------------------


def test_guide_usage_snippet_loads_applies_profile_and_saves(guide_file: Path) -> None:
    manager = AIConfigManager(config_path="config/ai_config.json", environ={})
    manager.update_config({"ai_mode": "conservative"})
    config = manager.get_config()
    assert config.enable_ai_system is True
    _assert_profile(config, "conservative")
    assert manager.save_config() == guide_file
    reloaded = AIConfigManager(config_path=guide_file, environ={}).get_config()
    assert reloaded == config


def test_guide_example_json_loads_as_is() -> None:
    config = AIConfig.model_validate_json(GUIDE_JSON)
    assert config.ai_mode is AIMode.CONSERVATIVE
    assert config.advanced_decider.kelly_fraction == 0.25  # explicit, wins over the profile
    assert config.advanced_decider.confidence_threshold == 0.75
    assert config.advanced_decider.max_leverage == 2.0  # from the conservative profile
    assert config.advanced_decider.min_profit_eth == 0.20
    assert config.flash_runner.portfolio_value_eth == 100.0
    assert config.flash_runner.enable_execution is False


def test_guide_component_snippets_construct() -> None:
    decider = AdvancedAIConfig(
        confidence_threshold=0.70, enable_ml_scoring=True, kelly_fraction=0.25
    )
    runner = AIFlashArbConfig(
        enable_ai_scoring=True,
        ai_min_confidence=0.75,
        enable_flash_loans=True,
        enable_execution=False,
        portfolio_value_eth=100.0,
    )
    rl = RLPolicyConfig(
        learning_rate=0.01,
        epsilon_start=0.20,
        max_position_size=10.0,
        target_symbols=["ETH/USDC", "BTC/USDT"],
    )
    aqua = AquaOpportunityConfig(
        min_pushed_amount_usd=10_000.0,
        enable_copy_trading=False,
        enable_counter_trading=True,
        max_position_size_usd=5_000.0,
    )
    assert decider.kelly_fraction == 0.25
    assert runner.high_confidence_size_boost == 0.20
    assert runner.rpc_url is None
    assert rl.target_symbols == ("ETH/USDC", "BTC/USDT")
    assert rl.save_every_episodes == 100
    assert aqua.aqua_contract_addresses == (
        "0x1111113ccf1426a8e30e2bff5e005d929bf6a90a",
        "0x4a055aa172c98ec32de118b9b5b6ac8b4099a580",
    )


def test_guide_json_with_guide_environment_gives_conservative_profile(guide_file: Path) -> None:
    config = AIConfigManager(config_path=guide_file, environ=GUIDE_ENV).get_config()
    # AI_MODE selects the profile at the environment layer, over the file's explicit kelly.
    _assert_profile(config, "conservative")
    assert config.enable_ai_system is True
    assert config.aqua.enable_counter_trading is True


# --- risk profiles -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["conservative", "balanced", "aggressive"])
def test_risk_profiles_match_guide_table_exactly(name: str) -> None:
    profile = RISK_PROFILES[name]
    assert profile.name == name
    assert profile.model_dump(exclude={"name"}) == GUIDE_TABLE[name]


def test_risk_profiles_hold_exactly_the_three_guide_profiles() -> None:
    assert list(RISK_PROFILES) == ["conservative", "balanced", "aggressive"]
    assert set(RISK_PROFILES["aggressive"].to_overrides()) == set(PROFILE_KEYS)


def test_risk_profiles_are_immutable() -> None:
    with pytest.raises(TypeError):
        RISK_PROFILES["reckless"] = RISK_PROFILES["aggressive"]  # type: ignore[index]
    with pytest.raises(ValidationError):
        RISK_PROFILES["conservative"].kelly_fraction = 0.9  # type: ignore[misc]
    overrides = RISK_PROFILES["conservative"].to_overrides()
    overrides["advanced_decider.kelly_fraction"] = 0.9
    assert RISK_PROFILES["conservative"].kelly_fraction == 0.15


@pytest.mark.parametrize("name", ["conservative", "balanced", "aggressive"])
def test_update_config_with_profile_applies_guide_table(name: str) -> None:
    manager = AIConfigManager(environ={})
    config = manager.update_config({"ai_mode": name})
    assert config.ai_mode == name
    _assert_profile(config, name)


def test_default_config_equals_balanced_profile() -> None:
    config = AIConfigManager(environ={}).get_config()
    assert config == AIConfig()
    assert config.ai_mode is AIMode.BALANCED
    _assert_profile(config, "balanced")
    assert config.flash_runner.enable_execution is False


def test_direct_construction_applies_profile_to_unset_section_fields() -> None:
    config = AIConfig(
        ai_mode=AIMode.AGGRESSIVE,
        advanced_decider=AdvancedAIConfig(kelly_fraction=0.3),
    )
    assert config.advanced_decider.kelly_fraction == 0.3
    assert config.advanced_decider.max_leverage == 5.0
    assert config.aqua.enable_copy_trading is True


# --- precedence ----------------------------------------------------------------------------


def test_file_value_overrides_default(tmp_path: Path) -> None:
    path = _write(tmp_path / "c.json", {"rl_policy": {"learning_rate": 0.05}})
    config = AIConfigManager(path, environ={}).get_config()
    assert config.rl_policy.learning_rate == 0.05
    _assert_profile(config, "balanced")


def test_file_profile_overrides_defaults_and_explicit_file_value_wins(guide_file: Path) -> None:
    config = AIConfigManager(guide_file, environ={}).get_config()
    assert config.advanced_decider.kelly_fraction == 0.25
    assert config.advanced_decider.max_flash_borrow_eth == 50.0


def test_update_config_profile_overrides_explicit_file_values(guide_file: Path) -> None:
    manager = AIConfigManager(guide_file, environ={})
    assert manager.get_config().advanced_decider.kelly_fraction == 0.25
    _assert_profile(manager.update_config({"ai_mode": "aggressive"}), "aggressive")


def test_environment_value_overrides_file_value(guide_file: Path) -> None:
    config = AIConfigManager(guide_file, environ={"AI_MIN_CONFIDENCE": "0.8"}).get_config()
    assert config.flash_runner.ai_min_confidence == 0.8
    assert config.advanced_decider.kelly_fraction == 0.25


def test_environment_profile_overrides_file_but_same_layer_value_wins(guide_file: Path) -> None:
    env = {"AI_MODE": "aggressive", "AQUA_ENABLE_COPY_TRADING": "no"}
    config = AIConfigManager(guide_file, environ=env).get_config()
    assert config.advanced_decider.kelly_fraction == 0.35
    assert config.advanced_decider.max_leverage == 5.0
    assert config.aqua.enable_copy_trading is False


def test_update_config_overrides_environment(guide_file: Path) -> None:
    manager = AIConfigManager(guide_file, environ={"AI_MIN_CONFIDENCE": "0.8"})
    config = manager.update_config({"flash_runner.ai_min_confidence": 0.9})
    assert config.flash_runner.ai_min_confidence == 0.9


def test_update_config_explicit_value_wins_over_profile_in_same_call() -> None:
    manager = AIConfigManager(environ={})
    config = manager.update_config(
        {"ai_mode": "aggressive", "advanced_decider.kelly_fraction": 0.3}
    )
    assert config.advanced_decider.kelly_fraction == 0.3
    assert config.advanced_decider.max_leverage == 5.0


def test_later_update_config_profile_overrides_earlier_update() -> None:
    manager = AIConfigManager(environ={})
    manager.update_config({"advanced_decider": {"kelly_fraction": 0.3}})
    config = manager.update_config({"ai_mode": "conservative"})
    assert config.advanced_decider.kelly_fraction == 0.15
    config = manager.update_config({"advanced_decider.kelly_fraction": 0.2})
    assert config.advanced_decider.kelly_fraction == 0.2
    assert config.ai_mode is AIMode.CONSERVATIVE


def test_portfolio_value_applies_to_flash_runner_unless_set_there(tmp_path: Path) -> None:
    path = _write(tmp_path / "c.json", {"portfolio_value_eth": 250.0})
    manager = AIConfigManager(path, environ={})
    assert manager.get_config().flash_runner.portfolio_value_eth == 250.0
    config = manager.update_config({"flash_runner.portfolio_value_eth": 10.0})
    assert config.portfolio_value_eth == 250.0
    assert config.flash_runner.portfolio_value_eth == 10.0
    config = manager.update_config({"portfolio_value_eth": 50.0})
    assert config.flash_runner.portfolio_value_eth == 50.0


def test_update_config_accepts_dotted_and_nested_keys_together() -> None:
    manager = AIConfigManager(environ={})
    updates = {
        "rl_policy": {"learning_rate": 0.05, "n_bins": {"liquidity": 7}},
        "rl_policy.discount_factor": 0.9,
        "aqua.max_slippage_bps": 30.0,
    }
    config = manager.update_config(updates)
    assert config.rl_policy.learning_rate == 0.05
    assert config.rl_policy.n_bins.liquidity == 7
    assert config.rl_policy.discount_factor == 0.9
    assert config.aqua.max_slippage_bps == 30.0
    assert updates["rl_policy"] == {"learning_rate": 0.05, "n_bins": {"liquidity": 7}}


def test_update_config_accepts_section_models_and_enums() -> None:
    manager = AIConfigManager(environ={})
    config = manager.update_config(
        {"ai_mode": AIMode.AGGRESSIVE, "flash_runner": AIFlashArbConfig(scan_interval_s=2.0)}
    )
    assert config.flash_runner.scan_interval_s == 2.0
    assert config.flash_runner.ai_min_confidence == 0.60  # unset in the model: profile applies


# --- environment ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("true", True),
        ("1", True),
        ("yes", True),
        ("TRUE", True),
        (" Yes ", True),
        ("false", False),
        ("0", False),
        ("no", False),
        ("No", False),
    ],
)
def test_environment_booleans_parse_strictly(raw: str, expected: bool) -> None:
    env = {"AI_ENABLED": raw, "AQUA_ENABLE_COUNTER_TRADING": raw}
    config = AIConfigManager(environ=env).get_config()
    assert config.enable_ai_system is expected
    assert config.aqua.enable_counter_trading is expected


@pytest.mark.parametrize("var", ["AI_ENABLED", "AQUA_ENABLE_COPY_TRADING"])
@pytest.mark.parametrize("raw", ["maybe", "", "on", "2", "tru"])
def test_environment_bad_boolean_names_variable_and_value(var: str, raw: str) -> None:
    with pytest.raises(ConfigError) as info:
        AIConfigManager(environ={var: raw})
    assert var in str(info.value)
    assert repr(raw) in str(info.value)


def test_environment_non_numeric_confidence_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"AI_MIN_CONFIDENCE = 'high': must be a number"):
        AIConfigManager(environ={"AI_MIN_CONFIDENCE": "high"})


def test_environment_out_of_range_confidence_names_variable_and_key() -> None:
    with pytest.raises(ConfigError) as info:
        AIConfigManager(environ={"AI_MIN_CONFIDENCE": "1.5"})
    assert str(info.value) == (
        "environment variable AI_MIN_CONFIDENCE: flash_runner.ai_min_confidence = 1.5: must be <= 1"
    )


def test_environment_unknown_mode_is_refused() -> None:
    with pytest.raises(ConfigError) as info:
        AIConfigManager(environ={"AI_MODE": "reckless"})
    assert 'environment variable AI_MODE: ai_mode = "reckless": must be one of' in str(info.value)


def test_environment_mode_is_case_insensitive() -> None:
    config = AIConfigManager(environ={"AI_MODE": " Aggressive "}).get_config()
    _assert_profile(config, "aggressive")


def test_environment_defaults_to_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AI_ENABLED", "false")
    assert AIConfigManager().get_config().enable_ai_system is False


# --- errors --------------------------------------------------------------------------------


def test_out_of_range_value_error_names_file_key_and_value(guide_file: Path) -> None:
    _write(guide_file, {"advanced_decider": {"kelly_fraction": 1.7}})
    with pytest.raises(ConfigError) as info:
        AIConfigManager(config_path="config/ai_config.json", environ={})
    assert (
        str(info.value)
        == "config/ai_config.json: advanced_decider.kelly_fraction = 1.7: must be <= 1"
    )


def test_malformed_json_error_names_file_and_position(tmp_path: Path) -> None:
    path = _write(tmp_path / "bad.json", '{\n  "ai_mode": "balanced",\n}\n')
    with pytest.raises(ConfigError) as info:
        AIConfigManager(path, environ={})
    message = str(info.value)
    assert message.startswith(f"{path}: malformed JSON at line 3")


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('{"ai_mode": "balanced", "ai_mode": "aggressive"}', "duplicate key 'ai_mode'"),
        ('{"portfolio_value_eth": NaN}', "NaN is not valid JSON"),
        ("[1, 2]", "the top level must be a JSON object, got list"),
    ],
)
def test_invalid_json_documents_are_refused(tmp_path: Path, text: str, needle: str) -> None:
    path = _write(tmp_path / "c.json", text)
    with pytest.raises(ConfigError, match=needle) as info:
        AIConfigManager(path, environ={})
    assert str(info.value).startswith(str(path))


def test_unknown_key_error_names_file_and_dotted_key(tmp_path: Path) -> None:
    path = _write(tmp_path / "c.json", {"advanced_decider": {"kelly_fractoin": 0.2}})
    with pytest.raises(ConfigError) as info:
        AIConfigManager(path, environ={})
    assert str(info.value) == f"{path}: advanced_decider.kelly_fractoin = 0.2: unknown key"


def test_unknown_top_level_section_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path / "c.json", {"flash_runnr": {}})
    with pytest.raises(ConfigError, match=r"flash_runnr = \{\}: unknown key"):
        AIConfigManager(path, environ={})


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"enable_ai_system": "yes"}, 'enable_ai_system = "yes": must be true or false'),
        (
            {"advanced_decider": {"kelly_fraction": "0.25"}},
            'kelly_fraction = "0.25": must be a number',
        ),
        ({"rl_policy": {"batch_size": 3.5}}, "rl_policy.batch_size = 3.5: must be an integer"),
        ({"aqua": 5}, "aqua = 5: must be an object"),
        ({"ai_mode": "yolo"}, 'ai_mode = "yolo": must be one of'),
        ({"rl_policy": {"target_symbols": ["ETH/USDC", 3]}}, "rl_policy.target_symbols[1] = 3"),
        ({"flash_runner": {"rpc_url": "ftp://key@host"}}, "flash_runner.rpc_url = <redacted>"),
    ],
)
def test_wrong_type_or_value_is_refused_with_key_and_value(
    tmp_path: Path, data: dict[str, Any], expected: str
) -> None:
    path = _write(tmp_path / "c.json", data)
    with pytest.raises(ConfigError) as info:
        AIConfigManager(path, environ={})
    assert str(info.value).startswith(f"{path}: ")
    assert expected in str(info.value)
    assert "key@host" not in str(info.value)


def test_cross_field_rules_are_enforced() -> None:
    with pytest.raises(ValidationError, match="must sum to 1"):
        FactorWeights(liquidity=0.5)
    with pytest.raises(ValidationError, match="high_confidence_threshold"):
        AdvancedAIConfig(confidence_threshold=0.9)
    with pytest.raises(ValidationError, match="epsilon_end"):
        RLPolicyConfig(epsilon_start=0.01, epsilon_end=0.1)
    with pytest.raises(ValidationError, match="batch_size"):
        RLPolicyConfig(replay_buffer_size=8, batch_size=16)
    with pytest.raises(ValidationError, match="discrete states"):
        StateBins(edge_quality=1000, position_pct=1000, portfolio_health=1000)
    with pytest.raises(ValidationError, match="addresses"):
        AquaOpportunityConfig(aqua_contract_addresses=("0x12",))
    upper = "0x1111113CCF1426A8E30E2BFF5E005D929BF6A90A"
    assert AquaOpportunityConfig(aqua_contract_addresses=(upper,)).aqua_contract_addresses == (
        upper.lower(),
    )
    weights = FactorWeights(edge_quality=0.4, execution_risk=0.1)
    assert sum(weights.as_dict().values()) == pytest.approx(1.0)


def test_missing_file_at_construction_uses_defaults(tmp_path: Path) -> None:
    manager = AIConfigManager(tmp_path / "absent" / "ai_config.json", environ={})
    assert manager.get_config() == AIConfig()


def test_directory_as_config_path_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a directory"):
        AIConfigManager(tmp_path, environ={})


def test_unreadable_config_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path / "c.json", {})

    def deny(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", deny)
    with pytest.raises(ConfigError, match=f"{path}: cannot read config file: Permission denied"):
        AIConfigManager(path, environ={})


def test_bad_update_config_keeps_last_good_config(guide_file: Path) -> None:
    manager = AIConfigManager(guide_file, environ={})
    good = manager.update_config({"rl_policy.learning_rate": 0.05})
    bad_updates: list[dict[str, Any]] = [
        {"advanced_decider.kelly_fraction": 1.7},
        {"advanced_decider.kelly_fraction": 0.2, "advanced_decider.nope": 1},
        {"ai_mode": "yolo"},
        {"rl_policy": 3, "rl_policy.learning_rate": 0.1},
        {"": 1},
        {"aqua.max_slippage_bps": object()},
    ]
    for updates in bad_updates:
        with pytest.raises(ConfigError):
            manager.update_config(updates)
        assert manager.get_config() is good
    # The refused updates left nothing behind in the runtime layer.
    config = manager.update_config({"rl_policy.discount_factor": 0.9})
    assert config.advanced_decider.kelly_fraction == 0.25
    assert config.ai_mode is AIMode.CONSERVATIVE
    assert config.rl_policy.learning_rate == 0.05


def test_bad_update_config_message_names_source_key_and_value() -> None:
    manager = AIConfigManager(environ={})
    with pytest.raises(ConfigError) as info:
        manager.update_config({"advanced_decider.kelly_fraction": 1.7})
    assert str(info.value) == "update_config: advanced_decider.kelly_fraction = 1.7: must be <= 1"


# --- save ----------------------------------------------------------------------------------


def test_save_then_load_round_trip_is_equal(tmp_path: Path) -> None:
    path = _write(tmp_path / "c.json", GUIDE_JSON)
    manager = AIConfigManager(path, environ={})
    manager.update_config({"ai_mode": "aggressive", "aqua.enable_copy_trading": False})
    manager.update_config({"rl_policy": {"target_symbols": ["ETH/USDC"], "seed": 7}})
    out = manager.save_config(tmp_path / "saved.json")
    assert AIConfigManager(out, environ={}).get_config() == manager.get_config()
    assert AIConfig.model_validate_json(out.read_text()) == manager.get_config()


def _leaf_keys(data: dict[str, Any], prefix: str = "") -> set[str]:
    keys: set[str] = set()
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        keys |= _leaf_keys(value, f"{dotted}.") if isinstance(value, dict) else {dotted}
    return keys


def test_save_config_keeps_file_keys_a_risk_profile_overrode(guide_file: Path) -> None:
    # The guide's usage snippet on the guide's JSON: the profile overrides the file's
    # confidence_threshold, kelly_fraction and ai_min_confidence.
    before = json.loads(GUIDE_JSON)
    manager = AIConfigManager(config_path="config/ai_config.json", environ={})
    manager.update_config({"ai_mode": "conservative"})
    manager.save_config()
    saved = json.loads(guide_file.read_text())
    assert _leaf_keys(saved) == _leaf_keys(before)
    assert saved["advanced_decider"]["kelly_fraction"] == 0.15  # the value in force
    assert saved["advanced_decider"]["confidence_threshold"] == 0.75
    assert saved["flash_runner"]["ai_min_confidence"] == 0.75
    assert saved["advanced_decider"]["enable_ml_scoring"] is True
    assert AIConfigManager(guide_file, environ={}).get_config() == manager.get_config()


def test_save_config_keeps_runtime_keys_a_later_risk_profile_overrode(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    manager = AIConfigManager(path, environ={})
    manager.update_config(
        {"advanced_decider.kelly_fraction": 0.3, "aqua.enable_copy_trading": False}
    )
    manager.update_config({"ai_mode": "aggressive"})
    config = manager.update_config({"advanced_decider.max_leverage": 4.0})
    assert config.advanced_decider.kelly_fraction == 0.35
    manager.save_config()
    assert json.loads(path.read_text()) == {
        "ai_mode": "aggressive",
        "advanced_decider": {"kelly_fraction": 0.35, "max_leverage": 4.0},
        "aqua": {"enable_copy_trading": True},
    }
    assert AIConfigManager(path, environ={}).get_config() == config


def test_save_config_keeps_the_flash_runner_portfolio_value_the_top_level_one_overrode(
    tmp_path: Path,
) -> None:
    path = _write(tmp_path / "c.json", {"flash_runner": {"portfolio_value_eth": 50.0}})
    manager = AIConfigManager(path, environ={})
    config = manager.update_config({"portfolio_value_eth": 200.0})
    assert config.flash_runner.portfolio_value_eth == 200.0
    manager.save_config()
    saved = json.loads(path.read_text())
    assert saved == {"portfolio_value_eth": 200.0, "flash_runner": {"portfolio_value_eth": 200.0}}
    assert AIConfigManager(path, environ={}).get_config() == config


def test_a_profile_override_keeps_the_same_config_as_before(guide_file: Path) -> None:
    # Keeping the overridden keys changes what is written, not the config in force.
    env = {"AI_MODE": "aggressive"}
    manager = AIConfigManager(guide_file, environ=env)
    _assert_profile(manager.get_config(), "aggressive")
    config = manager.update_config({"ai_mode": "balanced", "advanced_decider.max_leverage": 4.0})
    assert config.advanced_decider.kelly_fraction == 0.25
    assert config.advanced_decider.max_leverage == 4.0
    assert config.aqua.enable_copy_trading is False


def test_save_config_does_not_persist_environment_values(guide_file: Path) -> None:
    manager = AIConfigManager(guide_file, environ={"AI_MIN_CONFIDENCE": "0.9", "AI_ENABLED": "0"})
    manager.update_config({"rl_policy.learning_rate": 0.05})
    manager.save_config()
    saved = json.loads(guide_file.read_text())
    assert saved["flash_runner"]["ai_min_confidence"] == 0.75
    assert saved["enable_ai_system"] is True
    assert saved["rl_policy"] == {"learning_rate": 0.05}
    # The environment still applies in the running manager.
    assert manager.get_config().flash_runner.ai_min_confidence == 0.9


def test_save_config_leaves_no_temporary_files(guide_file: Path) -> None:
    manager = AIConfigManager(guide_file, environ={})
    manager.update_config({"ai_mode": "balanced"})
    manager.save_config()
    manager.save_config()
    assert sorted(p.name for p in guide_file.parent.iterdir()) == ["ai_config.json"]


def test_failed_save_leaves_old_file_intact(
    guide_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = guide_file.read_bytes()
    manager = AIConfigManager(guide_file, environ={})
    manager.update_config({"ai_mode": "aggressive"})

    def broken_replace(src: Any, dst: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(ConfigError, match="cannot save config: No space left on device"):
        manager.save_config()
    assert guide_file.read_bytes() == before
    assert [p.name for p in guide_file.parent.iterdir()] == ["ai_config.json"]


def test_save_config_writes_through_the_shared_atomic_writer(
    guide_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[Path, bytes]] = []
    real = config_module.write_atomic

    def spy(target: Any, data: bytes, **kwargs: Any) -> Path:
        calls.append((Path(target), data))
        assert kwargs == {"new_file_mode": 0o600}  # a config may hold an RPC URL's secret
        return real(target, data, **kwargs)

    monkeypatch.setattr(config_module, "write_atomic", spy)
    manager = AIConfigManager(guide_file, environ={})
    manager.save_config()
    assert calls == [(guide_file, guide_file.read_bytes())]
    assert not hasattr(config_module, "_write_atomic")


def test_a_new_config_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    target = tmp_path / "fresh" / "ai_config.json"
    AIConfigManager(environ={}).save_config(target)
    assert (target.stat().st_mode & 0o777) == 0o600


def test_save_config_into_an_unwritable_place_names_the_target(tmp_path: Path) -> None:
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("x")
    target = blocker / "ai_config.json"
    with pytest.raises(ConfigError, match=r"not_a_dir/ai_config\.json: cannot save config"):
        AIConfigManager(environ={}).save_config(target)
    assert blocker.read_text() == "x"


def test_save_config_keeps_file_mode(guide_file: Path) -> None:
    guide_file.chmod(0o640)
    AIConfigManager(guide_file, environ={}).save_config()
    assert guide_file.stat().st_mode & 0o777 == 0o640


def test_save_config_without_any_path_is_refused() -> None:
    with pytest.raises(ConfigError, match="no path"):
        AIConfigManager(environ={}).save_config()


def test_save_config_creates_missing_file_and_directory(tmp_path: Path) -> None:
    path = tmp_path / "config" / "ai_config.json"
    manager = AIConfigManager(path, environ={})
    manager.update_config({"ai_mode": "conservative"})
    assert manager.save_config() == path
    assert json.loads(path.read_text()) == {"ai_mode": "conservative"}
    assert manager.reload_if_changed() is False  # our own write is not an external change


# --- hot reload ----------------------------------------------------------------------------


def test_reload_if_changed_picks_up_a_changed_file(guide_file: Path) -> None:
    manager = AIConfigManager(guide_file, environ={})
    assert manager.reload_if_changed() is False
    _write(guide_file, {"ai_mode": "aggressive", "rl_policy": {"learning_rate": 0.02}})
    assert manager.reload_if_changed() is True
    config = manager.get_config()
    _assert_profile(config, "aggressive")
    assert config.rl_policy.learning_rate == 0.02
    assert manager.reload_if_changed() is False


def test_reload_refuses_invalid_file_and_keeps_last_good_config(guide_file: Path) -> None:
    manager = AIConfigManager(guide_file, environ={})
    good = manager.get_config()
    _write(guide_file, {"advanced_decider": {"kelly_fraction": 1.7}})
    with pytest.raises(ConfigError, match=r"kelly_fraction = 1\.7: must be <= 1"):
        manager.reload_if_changed()
    assert manager.get_config() is good
    assert manager.reload_if_changed() is False  # the same refused content raises once
    _write(guide_file, "{ not json")
    with pytest.raises(ConfigError, match="malformed JSON"):
        manager.reload_if_changed()
    assert manager.get_config() is good
    _write(guide_file, {"ai_mode": "balanced"})
    assert manager.reload_if_changed() is True
    _assert_profile(manager.get_config(), "balanced")


def test_reload_keeps_environment_and_runtime_layers_on_top(guide_file: Path) -> None:
    manager = AIConfigManager(guide_file, environ={"AI_ENABLED": "false"})
    manager.update_config({"rl_policy.learning_rate": 0.05})
    _write(guide_file, {"enable_ai_system": True, "rl_policy": {"learning_rate": 0.5}})
    assert manager.reload_if_changed() is True
    config = manager.get_config()
    assert config.enable_ai_system is False
    assert config.rl_policy.learning_rate == 0.05


def test_reload_keeps_config_when_file_disappears_then_loads_new_file(guide_file: Path) -> None:
    manager = AIConfigManager(guide_file, environ={})
    good = manager.get_config()
    guide_file.unlink()
    assert manager.reload_if_changed() is False
    assert manager.get_config() is good
    _write(guide_file, {"ai_mode": "aggressive"})
    assert manager.reload_if_changed() is True
    _assert_profile(manager.get_config(), "aggressive")


def test_reload_without_config_path_is_a_no_op() -> None:
    assert AIConfigManager(environ={}).reload_if_changed() is False


def test_watcher_thread_picks_up_a_change(guide_file: Path) -> None:
    with AIConfigManager(guide_file, environ={}) as manager:
        manager.start_watching(interval_s=0.02)
        assert manager.watching
        _write(guide_file, {"ai_mode": "aggressive"})
        assert _wait_for(lambda: manager.get_config().ai_mode is AIMode.AGGRESSIVE)
    assert not manager.watching


def test_watcher_logs_refused_reload_and_keeps_last_good_config(
    guide_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    manager = AIConfigManager(guide_file, environ={})
    good = manager.get_config()
    caplog.set_level(logging.WARNING, logger="arbkit.config")
    manager.start_watching(interval_s=0.02)
    try:
        _write(guide_file, {"rl_policy": {"learning_rate": -1.0}})
        assert _wait_for(lambda: "refused config reload" in caplog.text)
    finally:
        manager.stop_watching()
    assert "rl_policy.learning_rate = -1.0: must be > 0" in caplog.text
    assert manager.get_config() is good


def test_start_watching_validates_arguments_and_state(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no config_path"):
        AIConfigManager(environ={}).start_watching()
    manager = AIConfigManager(tmp_path / "c.json", environ={})
    with pytest.raises(ConfigError, match="interval_s"):
        manager.start_watching(0.0)
    manager.start_watching(10.0)
    try:
        with pytest.raises(RuntimeError, match="already running"):
            manager.start_watching(10.0)
    finally:
        manager.stop_watching()
    manager.stop_watching()  # idempotent
    assert not manager.watching


def test_concurrent_updates_are_all_applied() -> None:
    manager = AIConfigManager(environ={})
    keys = [
        "rl_policy.learning_rate",
        "rl_policy.discount_factor",
        "aqua.max_slippage_bps",
        "aqua.strategy_cooldown_s",
    ]

    def worker(key: str) -> None:
        for i in range(1, 31):
            manager.update_config({key: i / 100})

    threads = [threading.Thread(target=worker, args=(key,)) for key in keys]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    config = manager.get_config()
    assert [_get(config, key) for key in keys] == [0.30] * 4


def test_risk_profile_model_refuses_out_of_table_values() -> None:
    with pytest.raises(ValidationError):
        RiskProfile(
            name=AIMode.BALANCED,
            confidence_threshold=1.5,
            kelly_fraction=0.25,
            max_leverage=3.0,
            max_flash_borrow_eth=100.0,
            min_profit_eth=0.15,
            enable_copy_trading=False,
        )


def test_module_exports_documented_names() -> None:
    assert set(config_module.__all__) >= {"AIConfig", "AIConfigManager", "RISK_PROFILES"}
