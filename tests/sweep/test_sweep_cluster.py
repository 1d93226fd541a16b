"""The cluster path: a sweep sent to a Ray head started with `ray start --head`."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sweep_cases import need_ray, small_sweep, sweep_cli

from arbkit.sweep import run_sweep

need_ray()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Ray head node of 2 CPUs started by the `ray` CLI, as on a cluster; stopped after."""
    port = _free_port()
    log = tmp_path_factory.mktemp("ray_head") / "head.log"
    ray_cli = str(Path(sys.executable).with_name("ray"))
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                ray_cli,
                "start",
                "--head",
                f"--port={port}",
                "--num-cpus=2",
                "--include-dashboard=false",
                "--disable-usage-stats",
                "--block",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "RAY_AUTH_MODE": "token"},
        )
    try:
        deadline = time.monotonic() + 120
        while b"block forever" not in log.read_bytes():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"ray start --head failed:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield f"127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_a_sweep_on_a_ray_start_cluster_equals_the_local_sweep(
    ray_head: str, tmp_path: Path
) -> None:
    reference = run_sweep(small_sweep())
    cmd = sweep_cli(tmp_path, "--executor", "ray", "--address", ray_head, ledger=False)
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_AUTH_MODE", "RAY_ADDRESS")}
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    doc: dict[str, Any] = json.loads(out.stdout)
    assert doc["metrics"]["executor"] == "ray" and doc["metrics"]["workers"] == 2
    assert doc["trials"] == reference.results()
    assert "2 worker(s)" in out.stderr and f"ledger {tmp_path}" in out.stderr
    # the same through RAY_ADDRESS, as `ray start` suggests
    env["RAY_ADDRESS"] = ray_head
    cmd = sweep_cli(tmp_path, "--executor", "ray", reports="reports2", ledger=False)
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert json.loads(out.stdout)["trials"] == reference.results()
