"""``arbkit serve``: run the metrics API and dashboard with uvicorn."""

from __future__ import annotations

import ipaddress
import logging
from pathlib import Path
from typing import Annotated

import typer

from arbkit.metrics.collector import MetricsCollector
from arbkit.metrics.config import MetricsConfig, resolve_db_path

__all__ = ["serve"]

logger = logging.getLogger("arbkit.metrics")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(
    host: Annotated[
        str,
        typer.Option(help="Interface to listen on; the API has no authentication, keep it local."),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65_535, help="TCP port.")] = 8000,
    db_path: Annotated[
        Path | None,
        typer.Option(
            "--db-path",
            help=(
                "Metrics database to serve; default: $ARBKIT_METRICS_DB, else "
                "data/metrics/metrics.sqlite under the current directory."
            ),
            dir_okay=False,
        ),
    ] = None,
    live_dir: Annotated[
        Path | None,
        typer.Option(
            "--live-dir",
            help=(
                "Folder of the live runner's stage.json and status.json, shown in the "
                "dashboard's Runner panel; default: $ARBKIT_LIVE_DIR, else live under the "
                "current directory."
            ),
            file_okay=False,
        ),
    ] = None,
) -> None:
    """Serve the metrics API, the Prometheus endpoint and the dashboard.

    Routes: ``/`` (dashboard), ``/api/ai/metrics``, ``/api/ai/alerts``,
    ``/api/ai/metrics/recent``, ``/api/ai/timeseries``, ``/api/ai/runner`` and
    ``/metrics`` (Prometheus).

    Parameters
    ----------
    host
        Interface to listen on (loopback by default).
    port
        TCP port.
    db_path
        Metrics database; the process-wide default when ``None``.
    live_dir
        Live runner's folder; :func:`arbkit.metrics.service.resolve_live_dir` when ``None``.
    """
    import uvicorn

    from arbkit.metrics.service import create_app, resolve_live_dir

    if not 1 <= port <= 65_535:
        msg = f"port must be in [1, 65535], got {port}"
        raise typer.BadParameter(msg, param_hint="--port")
    path = resolve_db_path() if db_path is None else db_path
    if not _is_loopback(host):
        logger.warning(
            "serving the metrics API on %s: it has no authentication, anyone who can reach "
            "this address can read the metrics",
            host,
        )
    runner_dir = resolve_live_dir() if live_dir is None else live_dir.expanduser().absolute()
    with MetricsCollector(MetricsConfig(db_path=path)) as collector:
        typer.echo(
            f"arbkit metrics on http://{host}:{port}/ (database {path or ':memory:'}, "
            f"live runner {runner_dir})"
        )
        app = create_app(collector, runner_dir=runner_dir)
        uvicorn.run(app, host=host, port=port, log_level="info")
