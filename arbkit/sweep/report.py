"""A sweep's reports, DVC metrics and the best trial's parameters in ``params.yaml``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from arbkit.errors import ConfigError, DataError
from arbkit.io import write_atomic
from arbkit.sweep.run import SweepResult

__all__ = [
    "PARAMS_KEYS",
    "format_sweep",
    "read_current_settings",
    "sweep_metrics",
    "write_best_params",
    "write_sweep_reports",
]

PARAMS_KEYS: dict[str, tuple[tuple[str, ...], dict[str, str]]] = {
    # target: (section path in params.yaml, {sweep parameter: key there})
    "decider": (
        ("validate", "decider"),
        {
            "confidence_threshold": "confidence_threshold",
            "min_profit_eth": "min_profit_eth",
            "bid_share": "bid_share",
        },
    ),
    "q_learning": (
        ("rl_policy",),
        {
            "learning_rate": "learning_rate",
            "discount_factor": "discount_factor",
            "epsilon_end": "epsilon_end",
            "episodes": "episodes",
        },
    ),
}
"""Where :func:`write_best_params` writes each target's parameters (the stages that
read them: ``validate`` for the decider, ``train_rl`` for Q-learning)."""


def _load_params(path: Path) -> Any:
    try:
        from ruamel.yaml import YAML
    except ImportError as exc:  # installed with DVC (the research extra)
        raise ConfigError("reading params.yaml needs ruamel.yaml (the research extra)") from exc
    yaml = YAML()
    yaml.preserve_quotes = True
    try:
        doc = yaml.load(path.read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read ({exc})") from None
    except Exception as exc:  # ruamel's parser errors have no common public base
        raise DataError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(doc, dict):
        raise DataError(f"{path}: expected a mapping at the top")
    return yaml, doc


def read_current_settings(
    target: str, params_file: str | os.PathLike[str] = "params.yaml"
) -> dict[str, float]:
    """Return the target's current settings in ``params_file`` (:data:`PARAMS_KEYS`).

    Keys missing from the file are left out (the sweep keeps its defaults for them).

    Raises
    ------
    DataError
        If the file cannot be read, or a setting there is not a number.
    """
    path = Path(params_file)
    _, doc = _load_params(path)
    section_path, keys = PARAMS_KEYS[target]
    node: Any = doc
    for part in section_path:
        node = node.get(part) if isinstance(node, dict) else None
    if not isinstance(node, dict):
        return {}
    out: dict[str, float] = {}
    for name, key in keys.items():
        if key not in node:
            continue
        value = node[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            where = ".".join((*section_path, key))
            raise DataError(f"{path}: {where} = {value!r} is not a number")
        out[name] = float(value)
    return out


def _value(name: str, v: float, result: SweepResult) -> float | int:
    spec = result.config.resolved_space()[name]
    return int(v) if spec.integer else float(v)


def sweep_metrics(result: SweepResult) -> dict[str, Any]:
    """Return the sweep's DVC metrics: the best and the starting objective, the best parameters."""
    best, start = result.best, result.start
    out: dict[str, Any] = {
        "target": result.config.target,
        "trials": len(result.trials),
        "folds": len(result.extra.get("folds", [])),
        "best_trial": best.number,
        "best_net_profit": best.value,
        "start_net_profit": start.value,
        "best_vs_start": best.value - start.value,
        "best": {k: _value(k, v, result) for k, v in best.params.items()},
        "executor": result.executor,
        "workers": result.workers,
    }
    return out


def format_sweep(result: SweepResult) -> str:
    """Return the sweep as markdown: the setting, the best trial beside the start, all trials."""
    cfg = result.config
    best, start = result.best, result.start
    names = list(cfg.resolved_space())
    folds = result.extra.get("folds", [])
    where = f"{result.executor}, {result.workers} worker(s)" + (
        f" on {result.nodes} nodes" if result.nodes > 1 else ""
    )
    lines = [
        f"# Sweep of `{cfg.target}`",
        "",
        f"{len(result.trials)} trials (Optuna TPE, seed {cfg.seed}, {cfg.startup_trials} random "
        f"start-up trials, batches of {cfg.batch_size}). Each trial trains on every fold's "
        "train window and is replayed on its test window by the one replay; its objective is "
        f"the walk-forward net profit (quote) summed over the {len(folds)} test windows "
        f"(same execution draws for every trial). Trial 0 runs the starting setting: "
        + (
            f"the one in `{result.extra['defaults_from']}`."
            if result.extra.get("defaults_from")
            else "the built-in defaults (the pipeline's values before any sweep)."
        ),
        "",
        "Folds (block positions): "
        + "; ".join(
            f"train {f['train'][0]}–{f['train'][1]}, test {f['test'][0]}–{f['test'][1]}"
            for f in folds
        ),
        "",
        "| | trial | net profit | " + " | ".join(names) + " |",
        "|---|---|---|" + "---|" * len(names),
        f"| best | {best.number} | {best.value:,.2f} | "
        + " | ".join(f"{best.params[n]:.4g}" for n in names)
        + " |",
        f"| start | {start.number} | {start.value:,.2f} | "
        + " | ".join(f"{start.params[n]:.4g}" for n in names)
        + " |",
        "",
        "The best trial is chosen on these test windows, so its net is an optimistic "
        "estimate; the pipeline's validate stage measures the chosen setting on the "
        "held-out test history.",
        "",
        f"Ran on {where}: {result.evaluated} trials evaluated, {result.resumed} resumed "
        f"from the ledger, {result.seconds:,.1f} s (start-up {result.startup_seconds:,.1f} s "
        "apart).",
        "",
        "## Every trial",
        "",
        "| trial | net profit | trades | " + " | ".join(names) + " | seed |",
        "|---|---|---|" + "---|" * len(names) + "---|",
    ]
    for t in result.trials:
        trades = sum(int(f["trade_count"]) for f in t.folds)
        lines.append(
            f"| {t.number} | {t.value:,.2f} | {trades} | "
            + " | ".join(f"{t.params[n]:.4g}" for n in names)
            + f" | {t.seed} |"
        )
    return "\n".join(lines) + "\n"


def write_sweep_reports(
    result: SweepResult,
    *,
    report_dir: str | os.PathLike[str] = "reports/sweep",
    metrics_file: str | os.PathLike[str] | None = "metrics/sweep.json",
) -> list[Path]:
    """Write ``<report_dir>/<target>.md`` and ``.json`` (every trial) and the DVC metrics.

    The local and the Ray executor write the same files.
    """
    from arbkit.workspace.stages import write_metrics

    target = result.config.target
    out = Path(report_dir)
    md = write_atomic(out / f"{target}.md", format_sweep(result).encode())
    doc = {
        "config": result.config.model_dump(mode="json"),
        "metrics": sweep_metrics(result),
        "folds": result.extra.get("folds", []),
        "trials": [vars(t) for t in result.trials],
        "run": {
            "executor": result.executor,
            "workers": result.workers,
            "nodes": result.nodes,
            "evaluated": result.evaluated,
            "resumed": result.resumed,
            "seconds": result.seconds,
            "startup_seconds": result.startup_seconds,
        },
    }
    js = write_atomic(out / f"{target}.json", (json.dumps(doc, indent=1) + "\n").encode())
    paths = [md, js]
    if metrics_file is not None:
        paths.append(write_metrics(metrics_file, sweep_metrics(result)))
    return paths


def write_best_params(
    result: SweepResult, params_file: str | os.PathLike[str] = "params.yaml"
) -> dict[str, float | int]:
    """Write the best trial's parameters where the pipeline reads them (:data:`PARAMS_KEYS`).

    The file keeps its comments and order (a YAML round trip) and is replaced atomically.

    Returns
    -------
    dict
        The keys written and their values.

    Raises
    ------
    DataError
        If the file is missing or not a YAML mapping.
    """
    import io

    path = Path(params_file)
    yaml, doc = _load_params(path)
    section_path, keys = PARAMS_KEYS[result.config.target]
    node: Any = doc
    for part in section_path:
        if part not in node or node[part] is None:
            node[part] = {}
        node = node[part]
        if not isinstance(node, dict):
            raise DataError(f"{path}: {'.'.join(section_path)} is not a mapping")
    written: dict[str, float | int] = {}
    for name, key in keys.items():
        value = _value(name, result.best.params[name], result)
        node[key] = value
        written[".".join((*section_path, key))] = value
    buf = io.StringIO()
    yaml.dump(doc, buf)
    write_atomic(path, buf.getvalue().encode())
    return written
