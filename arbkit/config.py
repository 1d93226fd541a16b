"""Unified configuration of the AI components: JSON file, environment, risk profiles, hot reload.

:class:`AIConfig` holds one section per component (``advanced_decider``, ``flash_runner``,
``rl_policy``, ``aqua``, ``scanner``) plus the system-wide switches. :class:`AIConfigManager`
loads it from a JSON file and the environment, applies risk profiles, accepts runtime
updates, saves atomically and reloads the file when it changes.

Precedence
----------
From lowest to highest:

1. defaults (the field defaults of every section; they equal the ``balanced`` profile);
2. the risk profile of the selected ``ai_mode`` (see :data:`RISK_PROFILES`);
3. the JSON file;
4. the environment variables (:data:`ENV_VARS`);
5. runtime :meth:`AIConfigManager.update_config` calls (a later call wins over an earlier one).

A risk profile applies at the layer that selects it, i.e. the layer that sets ``ai_mode``: it
overrides the profile-controlled values (:data:`PROFILE_KEYS`) set in earlier layers, and
values set explicitly in the same layer or in later layers win over it. So a file with
``"ai_mode": "conservative"`` and ``"kelly_fraction": 0.25`` gives a Kelly fraction of 0.25,
and ``update_config({"ai_mode": "aggressive"})`` afterwards gives 0.35. The top-level
``portfolio_value_eth`` follows the same rule for ``flash_runner.portfolio_value_eth``.
An overridden key keeps its place with the overriding value, so
:meth:`AIConfigManager.save_config` writes every key the file and the updates set.

Importing this module does no I/O.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import math
import os
import threading
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticSerializationError, to_jsonable_python

from arbkit.aqua.config import AquaOpportunityConfig
from arbkit.decider.config import AdvancedAIConfig
from arbkit.errors import ConfigError
from arbkit.io import write_atomic
from arbkit.live.config import AIFlashArbConfig
from arbkit.opportunities.config import ScanConfig
from arbkit.rl.config import RLPolicyConfig

__all__ = [
    "ENV_VARS",
    "PROFILE_KEYS",
    "RISK_PROFILES",
    "AIConfig",
    "AIConfigManager",
    "AIMode",
    "RiskProfile",
]

logger = logging.getLogger(__name__)

_Layer = dict[str, Any]


class AIMode(StrEnum):
    """Name of a risk profile, the value of :attr:`AIConfig.ai_mode`."""

    CONSERVATIVE = "conservative"
    BALANCED = "balanced"
    AGGRESSIVE = "aggressive"


PROFILE_KEYS: tuple[str, ...] = (
    "advanced_decider.confidence_threshold",
    "flash_runner.ai_min_confidence",
    "advanced_decider.kelly_fraction",
    "advanced_decider.max_leverage",
    "advanced_decider.max_flash_borrow_eth",
    "advanced_decider.min_profit_eth",
    "aqua.enable_copy_trading",
)
"""Dotted config keys a risk profile sets."""

# A layer that sets the key on the left also sets the key on the right unless it sets that
# one explicitly; a later layer setting the left key overrides the right key of earlier layers.
_LINKED_KEYS: tuple[tuple[str, str], ...] = (
    ("portfolio_value_eth", "flash_runner.portfolio_value_eth"),
)


class RiskProfile(BaseModel):
    """One row set of the guide's risk-profile table.

    Parameters
    ----------
    name
        Profile name, the value of ``ai_mode`` that selects it.
    confidence_threshold
        Minimum confidence of an executed trade; sets both
        ``advanced_decider.confidence_threshold`` and ``flash_runner.ai_min_confidence``.
    kelly_fraction
        Fraction of the full Kelly size (``advanced_decider.kelly_fraction``).
    max_leverage
        Cap on notional / portfolio value (``advanced_decider.max_leverage``).
    max_flash_borrow_eth
        Cap on one flash loan, in ETH (``advanced_decider.max_flash_borrow_eth``).
    min_profit_eth
        Minimum expected net profit, in ETH (``advanced_decider.min_profit_eth``).
    enable_copy_trading
        Copy whale trades (``aqua.enable_copy_trading``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    name: AIMode
    confidence_threshold: float = Field(ge=0, le=1)
    kelly_fraction: float = Field(gt=0, le=1)
    max_leverage: float = Field(ge=1)
    max_flash_borrow_eth: float = Field(gt=0)
    min_profit_eth: float = Field(ge=0)
    enable_copy_trading: bool

    def to_overrides(self) -> dict[str, float | bool]:
        """Return the config values this profile sets, keyed by dotted config key.

        Returns
        -------
        dict[str, float | bool]
            One entry per key of :data:`PROFILE_KEYS`.
        """
        return {
            "advanced_decider.confidence_threshold": self.confidence_threshold,
            "flash_runner.ai_min_confidence": self.confidence_threshold,
            "advanced_decider.kelly_fraction": self.kelly_fraction,
            "advanced_decider.max_leverage": self.max_leverage,
            "advanced_decider.max_flash_borrow_eth": self.max_flash_borrow_eth,
            "advanced_decider.min_profit_eth": self.min_profit_eth,
            "aqua.enable_copy_trading": self.enable_copy_trading,
        }


RISK_PROFILES: Mapping[str, RiskProfile] = MappingProxyType(
    {
        AIMode.CONSERVATIVE.value: RiskProfile(
            name=AIMode.CONSERVATIVE,
            confidence_threshold=0.75,
            kelly_fraction=0.15,
            max_leverage=2.0,
            max_flash_borrow_eth=50.0,
            min_profit_eth=0.20,
            enable_copy_trading=False,
        ),
        AIMode.BALANCED.value: RiskProfile(
            name=AIMode.BALANCED,
            confidence_threshold=0.70,
            kelly_fraction=0.25,
            max_leverage=3.0,
            max_flash_borrow_eth=100.0,
            min_profit_eth=0.15,
            enable_copy_trading=False,
        ),
        AIMode.AGGRESSIVE.value: RiskProfile(
            name=AIMode.AGGRESSIVE,
            confidence_threshold=0.60,
            kelly_fraction=0.35,
            max_leverage=5.0,
            max_flash_borrow_eth=200.0,
            min_profit_eth=0.10,
            enable_copy_trading=True,
        ),
    }
)
"""The guide's risk profiles by name (immutable)."""

ENV_VARS: Mapping[str, str] = MappingProxyType(
    {
        "AI_ENABLED": "enable_ai_system",
        "AI_MODE": "ai_mode",
        "AI_MIN_CONFIDENCE": "flash_runner.ai_min_confidence",
        "AQUA_ENABLE_COPY_TRADING": "aqua.enable_copy_trading",
        "AQUA_ENABLE_COUNTER_TRADING": "aqua.enable_counter_trading",
    }
)
"""Environment variables read by :class:`AIConfigManager` and the dotted key each one sets."""

_SECTIONS: tuple[str, ...] = ("advanced_decider", "flash_runner", "rl_policy", "aqua", "scanner")
_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})
_SECRET_KEYS = frozenset({"flash_runner.rpc_url"})  # RPC URLs often embed an API key
_MAX_SHOWN_CHARS = 120


class AIConfig(BaseModel):
    """Configuration of the whole AI system, one section per component.

    Constructing it directly applies the risk profile of ``ai_mode`` to the
    profile-controlled values not given explicitly (the same rule as one layer of
    :class:`AIConfigManager`), so the guide's example JSON validates as-is. Unknown keys
    are refused.

    Parameters
    ----------
    enable_ai_system
        Master switch of the AI components.
    ai_mode
        Risk profile: ``conservative``, ``balanced`` or ``aggressive``.
    portfolio_value_eth
        Portfolio value, in ETH; also sets ``flash_runner.portfolio_value_eth`` unless
        that is given explicitly.
    advanced_decider
        Options of the advanced AI decider.
    flash_runner
        Options of the AI flash-arbitrage runner.
    rl_policy
        Options of the RL trading policy.
    aqua
        Options of the Aqua opportunity detector.
    scanner
        Options of the opportunity scanner.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    enable_ai_system: bool = Field(True, strict=True)
    ai_mode: AIMode = AIMode.BALANCED
    portfolio_value_eth: float = Field(100.0, gt=0, strict=True)
    advanced_decider: AdvancedAIConfig = Field(default_factory=AdvancedAIConfig)
    flash_runner: AIFlashArbConfig = Field(default_factory=AIFlashArbConfig)
    rl_policy: RLPolicyConfig = Field(default_factory=RLPolicyConfig)
    aqua: AquaOpportunityConfig = Field(default_factory=AquaOpportunityConfig)
    scanner: ScanConfig = Field(default_factory=ScanConfig)

    @model_validator(mode="before")
    @classmethod
    def _apply_profile_and_links(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        expanded: _Layer = dict(data)
        for section in _SECTIONS:
            value = expanded.get(section)
            if isinstance(value, BaseModel):
                expanded[section] = value.model_dump(exclude_unset=True)
        mode = expanded.get("ai_mode")
        profile = RISK_PROFILES.get(mode) if isinstance(mode, str) else None
        if profile is not None:
            for key, value in profile.to_overrides().items():
                _set_default(expanded, key, value)
        for source, target in _LINKED_KEYS:
            if source in expanded:
                _set_default(expanded, target, expanded[source])
        return expanded


class AIConfigManager:
    """Load, layer, update, save and hot-reload an :class:`AIConfig`.

    Precedence, lowest to highest: defaults < risk profile of the selected ``ai_mode`` <
    JSON file < environment < runtime :meth:`update_config`. A risk profile applies at the
    layer that selects it: it overrides profile-controlled values set in earlier layers,
    and values set explicitly in the same layer or later ones win over it.

    The environment variables of :data:`ENV_VARS` are read once, at construction. Booleans
    accept ``true/false/1/0/yes/no`` (any case); any other value is a :class:`ConfigError`
    naming the variable and the value.

    A missing config file at construction means defaults (the file is picked up by
    :meth:`reload_if_changed` once it appears, and created by :meth:`save_config`); a path
    that is a directory or cannot be read is a :class:`ConfigError`. Every refused input
    (malformed JSON, unknown key, wrong type or value, unknown profile) raises a
    :class:`ConfigError` whose message names the source, the dotted key and the value, e.g.
    ``config/ai_config.json: advanced_decider.kelly_fraction = 1.7: must be <= 1``; the last
    good config then stays in force. All methods are thread-safe.

    Parameters
    ----------
    config_path
        JSON file holding the file layer; ``None`` for no file.
    environ
        Environment to read the variables from; ``None`` reads ``os.environ``.

    Raises
    ------
    ConfigError
        If the file, an environment variable or their combination is invalid.

    Examples
    --------
    >>> manager = AIConfigManager(config_path="config/ai_config.json")  # doctest: +SKIP
    >>> manager.update_config({"ai_mode": "conservative"})  # doctest: +SKIP
    >>> manager.get_config().enable_ai_system  # doctest: +SKIP
    True
    >>> manager.save_config()  # doctest: +SKIP
    """

    def __init__(
        self,
        config_path: str | os.PathLike[str] | None = None,
        *,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._lock = threading.RLock()
        self._path = Path(config_path) if config_path is not None else None
        self._env_layer, self._env_origins = _read_environment(
            os.environ if environ is None else environ
        )
        self._file_layer: _Layer = {}
        self._file_digest: str | None = None
        self._file_missing = False
        self._runtime_layer: _Layer = {}
        self._watcher: threading.Thread | None = None
        self._stop_event = threading.Event()
        if self._path is not None:
            raw = self._read_file(self._path)
            if raw is None:
                self._file_missing = True
                logger.info("config file %s not found; using defaults", self._path)
            else:
                self._file_digest = _digest(raw)
                self._file_layer = _parse_json(raw, str(self._path))
        self._config = self._build(self._file_layer, self._runtime_layer)

    @property
    def config_path(self) -> Path | None:
        """Path of the JSON file, or ``None`` when the manager has no file."""
        return self._path

    def get_config(self) -> AIConfig:
        """Return the configuration in force.

        Returns
        -------
        AIConfig
            An immutable snapshot; later updates and reloads do not change it.
        """
        with self._lock:
            return self._config

    def update_config(self, updates: Mapping[str, Any]) -> AIConfig:
        """Apply runtime updates on top of every other layer.

        Parameters
        ----------
        updates
            Nested dicts (``{"advanced_decider": {"kelly_fraction": 0.2}}``) and/or dotted
            keys (``{"advanced_decider.kelly_fraction": 0.2}``). ``{"ai_mode": name}``
            applies that risk profile; explicit values in the same call win over it.

        Returns
        -------
        AIConfig
            The new configuration in force.

        Raises
        ------
        ConfigError
            If a key is unknown or a value invalid; the previous config stays in force.
        """
        layer = _nest_updates(updates, "update_config")
        with self._lock:
            runtime = _overlay(self._runtime_layer, layer)
            config = self._build(self._file_layer, runtime)
            self._runtime_layer = runtime
            self._config = config
            return config

    def save_config(self, path: str | os.PathLike[str] | None = None) -> Path:
        """Write the file values and the runtime updates to a JSON file, atomically.

        Environment-derived values are not written. Every key the file had and every key
        given to :meth:`update_config` is kept: one that a risk profile selected later
        (or a later ``portfolio_value_eth``) overrode is written with the overriding value,
        the one in force without the environment, so loading the file gives that config.
        The JSON is written with :func:`arbkit.io.write_atomic` (a temporary file in the
        target's directory, synced, then renamed over the target), so the target is
        either the old or the new file, never a partial one; an existing file keeps its
        mode.

        Parameters
        ----------
        path
            Where to write; ``None`` writes to the manager's ``config_path``.

        Returns
        -------
        Path
            The path written.

        Raises
        ------
        ConfigError
            If there is no path, the values without the environment are invalid, or the
            file cannot be written (the old file is then left intact).
        """
        with self._lock:
            target = Path(path) if path is not None else self._path
            if target is None:
                raise ConfigError("save_config: no path given and the manager has no config_path")
            layer = _overlay(self._file_layer, self._runtime_layer)
            _validate(layer, f"{target} (values to save, without the environment)", {})
            data = (json.dumps(layer, indent=2, allow_nan=False) + "\n").encode("utf-8")
            try:
                # the file may hold an RPC URL with credentials: a new one is owner-only
                write_atomic(target, data, new_file_mode=0o600)
            except OSError as exc:
                raise ConfigError(f"{target}: cannot save config: {exc.strerror or exc}") from exc
            if self._path is not None and _same_file(target, self._path):
                self._file_layer = layer
                self._file_digest = _digest(data)
                self._file_missing = False
            logger.info("saved config to %s", target)
            return target

    def reload_if_changed(self) -> bool:
        """Reload the JSON file when its content changed since it was last looked at.

        A deleted file keeps the last config in force. Refused content is remembered, so
        the same invalid file raises once, not at every call.

        Returns
        -------
        bool
            ``True`` if a changed file was loaded, ``False`` otherwise.

        Raises
        ------
        ConfigError
            If the changed file is unreadable or invalid; the last good config stays in
            force.
        """
        if self._path is None:
            return False
        with self._lock:
            raw = self._read_file(self._path)
            if raw is None:
                if not self._file_missing:
                    logger.warning(
                        "config file %s disappeared; keeping the last config", self._path
                    )
                    self._file_missing = True
                return False
            self._file_missing = False
            digest = _digest(raw)
            if digest == self._file_digest:
                return False
            self._file_digest = digest
            layer = _parse_json(raw, str(self._path))
            config = self._build(layer, self._runtime_layer)
            self._file_layer = layer
            self._config = config
            logger.info("reloaded config from %s", self._path)
            return True

    def start_watching(self, interval_s: float = 1.0) -> None:
        """Poll the JSON file in a daemon thread and reload it when it changes.

        Refused reloads are logged (once per distinct error) and the last good config
        stays in force.

        Parameters
        ----------
        interval_s
            Seconds between two polls.

        Raises
        ------
        ConfigError
            If the manager has no config file or ``interval_s`` is not positive.
        RuntimeError
            If the watcher is already running.
        """
        if not (math.isfinite(interval_s) and interval_s > 0):
            raise ConfigError(f"start_watching: interval_s = {interval_s!r}: must be > 0")
        if self._path is None:
            raise ConfigError("start_watching: the manager has no config_path to watch")
        with self._lock:
            if self._watcher is not None and self._watcher.is_alive():
                raise RuntimeError("the config watcher is already running")
            self._stop_event = threading.Event()
            self._watcher = threading.Thread(
                target=self._watch,
                args=(interval_s, self._stop_event),
                name="arbkit-config-watcher",
                daemon=True,
            )
            self._watcher.start()

    def stop_watching(self, timeout_s: float | None = 5.0) -> None:
        """Stop the watcher thread, if any, and wait for it to end.

        Parameters
        ----------
        timeout_s
            Longest wait for the thread, in seconds; ``None`` waits without limit.
        """
        with self._lock:
            watcher, self._watcher = self._watcher, None
            self._stop_event.set()
        if watcher is not None:
            watcher.join(timeout_s)

    @property
    def watching(self) -> bool:
        """Whether the watcher thread is running."""
        with self._lock:
            return self._watcher is not None and self._watcher.is_alive()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop_watching()

    def _watch(self, interval_s: float, stop: threading.Event) -> None:
        last_error: str | None = None
        while not stop.wait(interval_s):
            try:
                self.reload_if_changed()
            except ConfigError as exc:
                if str(exc) != last_error:
                    last_error = str(exc)
                    logger.warning("refused config reload, keeping the last good config: %s", exc)
            except Exception:
                logger.exception("config watcher failed to poll %s", self._path)
            else:
                last_error = None

    def _build(self, file_layer: _Layer, runtime_layer: _Layer) -> AIConfig:
        # Validate after each layer so that an error names the layer that introduced it.
        steps: tuple[tuple[str, _Layer, Mapping[str, str]], ...] = (
            (str(self._path), file_layer, {}),
            ("environment", self._env_layer, self._env_origins),
            ("update_config", runtime_layer, {}),
        )
        merged: _Layer = {}
        config: AIConfig | None = None
        for source, layer, origins in steps:
            if layer:
                merged = _overlay(merged, layer)
                config = _validate(merged, source, origins)
        return config if config is not None else _validate({}, "defaults", {})

    @staticmethod
    def _read_file(path: Path) -> bytes | None:
        try:
            if path.is_dir():
                raise ConfigError(f"{path}: is a directory, not a config file")
            return path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read config file: {exc.strerror or exc}") from exc


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _same_file(a: Path, b: Path) -> bool:
    return a.absolute().resolve() == b.absolute().resolve()


class _DuplicateKeyError(ValueError):
    pass


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKeyError(key)
        result[key] = value
    return result


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _parse_json(raw: bytes, source: str) -> _Layer:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{source}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        data = json.loads(
            text, object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant
        )
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{source}: malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    except _DuplicateKeyError as exc:
        raise ConfigError(f"{source}: malformed JSON: duplicate key {exc.args[0]!r}") from None
    except ValueError as exc:
        raise ConfigError(f"{source}: malformed JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source}: the top level must be a JSON object, got {type(data).__name__}"
        )
    return data


def _parse_bool(var: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"environment variable {var} = {raw!r}: must be one of true/false/1/0/yes/no")


def _read_environment(environ: Mapping[str, str]) -> tuple[_Layer, dict[str, str]]:
    layer: _Layer = {}
    origins: dict[str, str] = {}
    for var, key in ENV_VARS.items():
        raw = environ.get(var)
        if raw is None:
            continue
        value: Any
        if var == "AI_MODE":
            value = raw.strip().lower()
        elif var == "AI_MIN_CONFIDENCE":
            try:
                value = float(raw)
            except ValueError:
                raise ConfigError(
                    f"environment variable {var} = {raw!r}: must be a number"
                ) from None
        else:
            value = _parse_bool(var, raw)
        _set_dotted(layer, key, value)
        origins[key] = var
    return layer, origins


def _nest_updates(updates: Mapping[str, Any], source: str) -> _Layer:
    if not isinstance(updates, Mapping):
        raise ConfigError(f"{source}: expected a mapping of keys to values, got {updates!r}")
    layer: _Layer = {}
    for key, value in updates.items():
        if not isinstance(key, str) or not key or any(not p for p in key.split(".")):
            raise ConfigError(f"{source}: {key!r} is not a valid config key")
        try:
            plain = _to_plain(value)
        except (PydanticSerializationError, TypeError) as exc:
            raise ConfigError(
                f"{source}: {key} = {_show(value, key)}: not a JSON-compatible value ({exc})"
            ) from None
        parts = key.split(".")
        node = layer
        for i, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                prefix = ".".join(parts[: i + 1])
                raise ConfigError(f"{source}: {key} conflicts with the value given for {prefix}")
            node = child
        leaf = parts[-1]
        if isinstance(node.get(leaf), dict) and isinstance(plain, dict):
            _deep_merge(node[leaf], plain)
        elif leaf in node:
            raise ConfigError(f"{source}: {key} is given twice")
        else:
            node[leaf] = plain
    return layer


def _to_plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        value = value.model_dump(exclude_unset=True)
    if isinstance(value, Mapping):
        plain: dict[str, Any] = {}
        for k, v in value.items():
            key = to_jsonable_python(k)
            if not isinstance(key, str):
                raise TypeError(f"mapping key {k!r} is not a string")
            plain[key] = _to_plain(v)
        return plain
    if isinstance(value, list | tuple):
        return [_to_plain(v) for v in value]
    return to_jsonable_python(value)


def _set_dotted(layer: _Layer, key: str, value: Any) -> None:
    *parents, leaf = key.split(".")
    node = layer
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value


def _set_default(data: _Layer, key: str, value: Any) -> None:
    # Copy on write: `data` is a shallow copy of the caller's input, which must not change.
    *parents, leaf = key.split(".")
    node = data
    for part in parents:
        child = node.get(part, {})
        if not isinstance(child, Mapping):
            return  # the wrong type is reported by validation
        child = dict(child)
        node[part] = child
        node = child
    node.setdefault(leaf, value)


def _contains(layer: _Layer, key: str) -> bool:
    node: Any = layer
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def _delete(layer: _Layer, key: str) -> None:
    *parents, leaf = key.split(".")
    nodes: list[_Layer] = [layer]
    for part in parents:
        child = nodes[-1].get(part)
        if not isinstance(child, dict):
            return
        nodes.append(child)
    nodes[-1].pop(leaf, None)
    for parent, part, node in zip(
        reversed(nodes[:-1]), reversed(parents), reversed(nodes[1:]), strict=True
    ):
        if not node:
            del parent[part]


def _deep_merge(target: _Layer, source: _Layer) -> None:
    for key, value in source.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _deep_merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def _overlay(base: _Layer, layer: _Layer) -> _Layer:
    # Merge `layer` over `base` into one equivalent layer, profile rule included. A key of
    # `base` that the layer's profile (or linked key) overrides keeps its place with the
    # overriding value, so a saved file still holds every key it had.
    result = copy.deepcopy(base)
    if "ai_mode" in layer:
        mode = layer["ai_mode"]
        profile = RISK_PROFILES.get(mode) if isinstance(mode, str) else None
        overrides = profile.to_overrides() if profile is not None else {}
        for key in PROFILE_KEYS:
            _replace(result, key, overrides)
    for source, target in _LINKED_KEYS:
        if _contains(layer, source):
            _replace(result, target, {target: _get_dotted(layer, source)})
    _deep_merge(result, layer)
    return result


def _replace(layer: _Layer, key: str, values: Mapping[str, Any]) -> None:
    if not _contains(layer, key):
        return
    if key in values:
        _set_dotted(layer, key, copy.deepcopy(values[key]))
    else:  # unknown profile: the layer is refused by validation anyway
        _delete(layer, key)


def _get_dotted(layer: _Layer, key: str) -> Any:
    node: Any = layer
    for part in key.split("."):
        node = node[part]
    return node


def _validate(layer: _Layer, source: str, origins: Mapping[str, str]) -> AIConfig:
    try:
        return AIConfig.model_validate(layer)
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc, source, origins)) from None


def _dotted(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "(top level)"


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


_BOUND_OPS = {
    "less_than_equal": ("le", "<="),
    "less_than": ("lt", "<"),
    "greater_than_equal": ("ge", ">="),
    "greater_than": ("gt", ">"),
}
_TYPE_MESSAGES = {
    "extra_forbidden": "unknown key",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "finite_number": "must be a finite number",
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be an integer",
    "string_type": "must be a string",
    "model_type": "must be an object",
    "dict_type": "must be an object",
    "tuple_type": "must be a list",
    "list_type": "must be a list",
}


def _describe(error: Mapping[str, Any]) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind in _BOUND_OPS:
        name, op = _BOUND_OPS[kind]
        return f"must be {op} {_number(ctx[name])}"
    if kind == "value_error" and "error" in ctx:
        return str(ctx["error"])
    if kind == "enum":
        return f"must be one of {ctx['expected']}"
    message = _TYPE_MESSAGES.get(kind)
    return message if message is not None else str(error["msg"])


def _show(value: Any, key: str) -> str:
    if key in _SECRET_KEYS:
        return "<redacted>"
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    try:
        text = json.dumps(value, default=repr)
    except ValueError:
        text = repr(value)
    return text if len(text) <= _MAX_SHOWN_CHARS else text[: _MAX_SHOWN_CHARS - 3] + "..."


def _format_errors(exc: ValidationError, source: str, origins: Mapping[str, str]) -> str:
    lines = []
    for error in exc.errors(include_url=False):
        key = _dotted(tuple(error["loc"]))
        var = origins.get(key)
        where = f"environment variable {var}" if var is not None else source
        lines.append(f"{where}: {key} = {_show(error['input'], key)}: {_describe(error)}")
    return "\n".join(lines)
