"""The promotion stage: the gates of ``params.yaml`` decide which candidate models go live.

A candidate that passes every gate of its kind is copied into the registry
(:class:`arbkit.registry.ModelRegistry`, ``models/registry.json``) with its sha256, metrics,
gate results, training-data hash, parameters and git revision. One that fails is not; the
report names each failed gate and by how much it missed. The previous promoted model of a
kind stays in place either way.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from arbkit.errors import ConfigError
from arbkit.io import write_atomic
from arbkit.registry import (
    ModelRegistry,
    PromotionRefused,
    check_gates,
    format_gates,
    gates_from_params,
    hash_paths,
)

__all__ = ["promote_candidates", "sidecar_of"]


def sidecar_of(kind: str, model_file: str | os.PathLike[str]) -> Path | None:
    """Return the metadata file saved beside a model of ``kind`` (None if it has none)."""
    path = Path(model_file)
    if kind == "route_model":
        from arbkit.decider.predictor import sidecar_path

        return sidecar_path(path)
    if kind == "rl_policy":
        return path.with_name(path.name + ".sha256")
    return None


def promote_candidates(
    registry_root: str | os.PathLike[str],
    *,
    candidates: Mapping[str, str | os.PathLike[str]],
    metrics: Mapping[str, Mapping[str, Any]],
    gates: Mapping[str, Mapping[str, Mapping[str, Any]]],
    training_data: str | os.PathLike[str],
    params: Mapping[str, Any],
    report_file: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Check every candidate's gates and promote those that pass them all.

    Parameters
    ----------
    registry_root
        The registry's folder (``models``).
    candidates
        ``{kind: model file}`` (``route_model``, ``rl_policy``).
    metrics
        ``{kind: metrics}`` the gates read.
    gates
        ``{kind: {gate name: {metric, op, threshold}}}`` (``params.yaml``'s ``gates``).
    training_data
        The training data the candidates were fitted on (hashed into the record).
    params
        The parameters of the run (recorded).
    report_file
        Where to write the Markdown report (optional).

    Returns
    -------
    dict[str, Any]
        Per kind: ``promoted`` (0/1), ``version`` (or None), ``failed_gates`` and each
        gate's margin: the metrics DVC shows.

    Raises
    ------
    ConfigError
        If a candidate has no gates (nothing is promoted unchecked).
    """
    registry = ModelRegistry(registry_root)
    # the registry and its folder exist even before anything is promoted (DVC tracks them)
    if not registry.registry_file.exists():
        write_atomic(registry.registry_file, b"[]\n")
    (registry.root / "promoted").mkdir(parents=True, exist_ok=True)
    data_hash = hash_paths([training_data])
    outcome: dict[str, Any] = {}
    lines = [
        "# Promotion",
        "",
        f"Registry `{Path(registry_root).name}/registry.json`; training data sha256 "
        f"`{data_hash[:16]}`.",
        "",
    ]
    for kind, model_file in candidates.items():
        spec = gates.get(kind)
        if not spec:
            raise ConfigError(f"promotion: no gates for {kind!r} in params.yaml (gates.{kind})")
        results = check_gates(metrics.get(kind, {}), gates_from_params(spec))
        failed = [r for r in results if not r.passed]
        entry: dict[str, Any] = {
            "promoted": 0,
            "version": None,
            "failed_gates": [r.name for r in failed],
            "margins": {r.name: r.margin for r in results},
        }
        lines += [f"## {kind}", "", format_gates(results), ""]
        if failed:
            lines += ["**Not promoted.** Failed gates:", ""]
            lines += [f"- `{r.name}`: {r.reason}" for r in failed]
        else:
            try:
                record = registry.promote(
                    kind,
                    model_file,
                    gates=results,
                    metrics={k: v for k, v in metrics.get(kind, {}).items() if _is_number(v)},
                    data_hash=data_hash,
                    params=dict(params),
                    sidecar=sidecar_of(kind, model_file),
                )
            except PromotionRefused as exc:  # pragma: no cover - the gates passed above
                lines += [f"**Not promoted:** {exc}"]
            else:
                entry["promoted"] = 1
                entry["version"] = record.version
                lines += [
                    f"**Promoted** as version {record.version}: `{record.file}`, sha256 "
                    f"`{record.sha256[:16]}`."
                ]
        latest = registry.latest(kind)
        lines += [
            "",
            "Live model of this kind: "
            + (f"version {latest.version} (`{latest.file}`)." if latest else "none promoted yet."),
            "",
        ]
        outcome[kind] = entry
    if report_file is not None:
        write_atomic(Path(report_file), "\n".join(lines).encode())
    return outcome


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)
