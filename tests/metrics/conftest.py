"""Fixtures of the metrics tests: a settable clock, an isolated process-wide collector, a
quiet set of thresholds, and a uvicorn server running in a thread."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI

from arbkit.metrics import AlertThresholds, set_metrics_collector

# Every alert disabled: a test switches on the one alert it checks.
INERT = {
    "min_win_rate": None,
    "max_gas_share": None,
    "min_success_rate": None,
    "max_drawdown": None,
}


# No hold time and no clear band: an alert raises and clears on the first crossing, so
# that a test of a threshold's predicate needs no clock. Tests of the hysteresis set them.
IMMEDIATE = {
    "for_s": 0.0,
    "clear_for_s": 0.0,
    "win_rate_clear_band": 0.0,
    "gas_share_clear_band": 0.0,
    "success_rate_clear_band": 0.0,
    "drawdown_clear_band": 0.0,
}


def thresholds_only(**active: float | int | None) -> AlertThresholds:
    """Return thresholds where only the keys given (plus window settings) can fire.

    Alerts raise and clear on the first crossing unless the hold or band keys are given.
    """
    values: dict[str, float | int | None] = {
        **INERT,
        **IMMEDIATE,
        "window_executions": None,
        "min_executions": 1,
    }
    values.update(active)
    return AlertThresholds.model_validate(values)


class FakeClock:
    """A clock the test moves by hand (UTC epoch seconds)."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fresh_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """Point the process-wide collector at a temporary database; restore it afterwards."""
    db = tmp_path / "default" / "metrics.sqlite"
    monkeypatch.setenv("ARBKIT_METRICS_DB", str(db))
    previous = set_metrics_collector(None)
    yield db
    created = set_metrics_collector(previous)
    if created is not None:
        created.close()


class ServerThread:
    """uvicorn serving an app on 127.0.0.1 (a free port) in a background thread."""

    def __init__(self, app: FastAPI) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerThread:
        self._thread.start()
        deadline = time.monotonic() + 10.0
        while not self.server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                msg = "uvicorn did not start within 10 s"
                raise RuntimeError(msg)
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self._thread.join(10.0)
        self._sock.close()


@pytest.fixture
def only() -> Callable[..., AlertThresholds]:
    """``only(min_win_rate=0.45)``: thresholds where only the given alert can fire."""
    return thresholds_only


@pytest.fixture(scope="session")
def serve_app() -> type[ServerThread]:
    """``with serve_app(app) as server:`` runs ``app`` on ``server.url``."""
    return ServerThread
