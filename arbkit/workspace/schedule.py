"""Scheduled retraining: run the pipeline, keep a dated record of every run.

``arbkit schedule`` (or a cron line calling it) runs the DVC pipeline (``dvc repro``:
data, features, training notebooks, validation, promotion, report) and copies what the
run produced into ``reports/runs/<UTC time>/``: the executed notebooks, the metrics and
a ``run.json`` saying what ran and how it ended. A failed run changes nothing that is
live: promotion is the pipeline's last model stage, so the promoted model of a failed
run stays the one before it, and ``run.json`` / ``FAILED.md`` say why. A retraining
requested by the drift monitor (``models/retrain_requested.json``) forces the training
stages to run again and is cleared once a run succeeds.

A cron line (every day at 03:00)::

    0 3 * * * cd /path/to/arbkit && .venv/bin/arbkit schedule >> reports/runs/schedule.log 2>&1
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from arbkit.errors import ConfigError
from arbkit.io import write_atomic

__all__ = ["RETRAIN_MARKER", "TRAINING_STAGES", "ScheduledRun", "run_scheduled"]

RETRAIN_MARKER = Path("models") / "retrain_requested.json"
"""Written by the drift monitor; a scheduled run retrains when it exists."""

TRAINING_STAGES = ("train_route_model", "train_rl")
"""Stages forced to run again when a retraining was requested."""


@dataclass
class ScheduledRun:
    """What one scheduled run did.

    Attributes
    ----------
    run_dir
        ``reports/runs/<UTC time>/``.
    ok
        Whether the pipeline succeeded.
    returncode
        ``dvc repro``'s exit code.
    seconds
        Wall time.
    forced
        Stages forced to run (a retraining request).
    promoted
        ``{kind: version}`` promoted by this run (empty when nothing passed the gates).
    error
        The tail of the failing command's output (empty when ``ok``).
    """

    run_dir: Path
    ok: bool
    returncode: int
    seconds: float
    forced: tuple[str, ...] = ()
    promoted: dict[str, int] = field(default_factory=dict)
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Return the run as JSON-ready data."""
        return {
            "run_dir": str(self.run_dir),
            "ok": self.ok,
            "returncode": self.returncode,
            "seconds": round(self.seconds, 3),
            "forced": list(self.forced),
            "promoted": self.promoted,
            "error": self.error,
        }


def _registry_versions(root: Path) -> dict[str, int]:
    from arbkit.registry import ModelRegistry

    registry = ModelRegistry(root / "models")
    if not registry.registry_file.exists():
        return {}
    out: dict[str, int] = {}
    for record in registry.records():
        out[record.kind] = max(out.get(record.kind, 0), record.version)
    return out


def run_scheduled(
    root: str | os.PathLike[str] | None = None,
    *,
    force: bool = False,
    dvc: str | None = None,
    now: datetime | None = None,
) -> ScheduledRun:
    """Run the pipeline once and record it under ``reports/runs/<UTC time>/``.

    Parameters
    ----------
    root
        The project's root (default: :func:`arbkit.workspace.project_root`).
    force
        Re-run every stage (``dvc repro --force``), not only those whose inputs changed.
    dvc
        The ``dvc`` executable (default: the one beside this Python, else on ``PATH``).
    now
        The run's time stamp (default: the current UTC time).

    Returns
    -------
    ScheduledRun
    """
    from arbkit.workspace.stages import project_root

    base = project_root(root)
    exe = dvc or _dvc_executable()
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    run_dir = base / "reports" / "runs" / stamp
    if run_dir.exists():
        raise ConfigError(f"{run_dir}: a run with this time stamp exists already")
    run_dir.mkdir(parents=True)
    marker = base / RETRAIN_MARKER
    forced: tuple[str, ...] = TRAINING_STAGES if marker.exists() else ()
    before = _registry_versions(base)
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    t0 = time.perf_counter()
    log = run_dir / "dvc_repro.log"
    codes: list[int] = []
    with log.open("w") as out:
        for stage in forced:
            # a retraining request: run the training stages even if their inputs did not change
            codes.append(_call([exe, "repro", "--force", "--single-item", stage], base, env, out))
            if codes[-1]:
                break
        if not any(codes):
            codes.append(_call([exe, "repro", *(["--force"] if force else [])], base, env, out))
    seconds = time.perf_counter() - t0
    code = next((c for c in codes if c), 0)
    ok = code == 0
    after = _registry_versions(base)
    promoted = {k: v for k, v in after.items() if v != before.get(k)}
    error = "" if ok else "\n".join(log.read_text().splitlines()[-40:])
    # what the run produced (the executed notebooks and the metrics), dated
    for folder in ("reports/runs/pipeline", "metrics"):
        src = base / folder
        if src.is_dir():
            shutil.copytree(src, run_dir / Path(folder).name, dirs_exist_ok=True)
    for name in ("reports/pipeline/promotion.md", "reports/pipeline/validate.md"):
        if (base / name).is_file():
            shutil.copy2(base / name, run_dir / Path(name).name)
    run = ScheduledRun(run_dir, ok, code, seconds, forced, promoted, error)
    write_atomic(run_dir / "run.json", json.dumps(run.to_dict(), indent=2).encode() + b"\n")
    if ok and forced:
        # the requested retraining happened: clear the request and its drift alert
        from arbkit.drift import clear_retrain_request
        from arbkit.metrics import get_metrics_collector

        clear_retrain_request(marker, collector=get_metrics_collector())
    if not ok:
        live = ", ".join(f"{k} v{v}" for k, v in sorted(after.items())) or "none"
        write_atomic(
            run_dir / "FAILED.md",
            (
                f"# Scheduled run {stamp} failed\n\n`dvc repro` exited with {code}. The promoted "
                f"models are unchanged (live: {live}).\n\nLast lines of `dvc_repro.log`:\n\n"
                f"```\n{error}\n```\n"
            ).encode(),
        )
    return run


def _call(cmd: list[str], cwd: Path, env: dict[str, str], out: Any) -> int:
    out.write(f"$ {' '.join(cmd)}\n")
    out.flush()
    return subprocess.run(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT).returncode


def _dvc_executable() -> str:
    beside = Path(sys.executable).with_name("dvc")
    if beside.exists():
        return str(beside)
    found = shutil.which("dvc")
    if found is None:
        raise ConfigError("schedule: dvc is not installed (make setup installs it in .venv)")
    return found
