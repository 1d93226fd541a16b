"""A canary signing key goes through the live runner and the CLI and comes out nowhere.

The canary is a valid secp256k1 key that exists only here. Each test collects every
place a key could leak to (log records at DEBUG, printed output, the JSON summary, the
execution log, the stage file, every file the run wrote, error text and tracebacks) and
asserts that no fragment of it, in any case, with or without ``0x``, is in any of them.
Assertions name the places, never the text, so a failure does not print the key (or the
environment) itself.
"""

from __future__ import annotations

import json
import logging
import traceback
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from eth_account import Account
from typer.testing import CliRunner

from arbkit.chain import AnvilNode
from arbkit.cli import app
from arbkit.live import AIFlashArbConfig, FlashArbitrageRunner
from arbkit.live.runner import BlockReport
from arbkit.live.safety import (
    PrivateKeyError,
    SafetyConfig,
    StageGate,
    StagePolicy,
    StageTracker,
)
from arbkit.market.history import MarketHistory
from arbkit.market.sim import simulate_market
from arbkit.metrics import MetricsCollector

pytestmark = pytest.mark.usefixtures("anvil_tooling")

ENV = "ARBKIT_PRIVATE_KEY"
CANARY = "0x" + ("c0ffee" * 11)[:64]
"""A valid key (0 < k < n) that signs nothing anywhere but in these tests."""
BAD_CANARY = "0x" + "c0ffee" * 10
"""Canary-like but malformed: 60 hex digits."""
FRAGMENT = "c0ffeec0ffee"
"""Twelve digits of both values: a partial leak shows this too."""

OPEN_STAGES = StagePolicy(simulation=StageGate(), dry_run=StageGate(), small_positions=StageGate())


def _leaks_text(text: str) -> bool:
    return FRAGMENT in text.lower()


def _leaks_bytes(data: bytes) -> bool:
    # as text in any case, and as the raw 32 bytes of the key
    return FRAGMENT.encode() in data.lower() or bytes.fromhex(CANARY[2:]) in data


def _leaking_files(root: Path) -> list[str]:
    return [
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file() and _leaks_bytes(p.read_bytes())
    ]


def _leaking_records(records: list[logging.LogRecord]) -> list[str]:
    where = []
    for r in records:
        parts = [r.getMessage(), repr(r.args), r.exc_text or "", r.stack_info or ""]
        if r.exc_info and r.exc_info[1] is not None:
            parts.append("".join(traceback.format_exception(r.exc_info[1])))
        if any(_leaks_text(p) for p in parts):
            where.append(f"{r.name}:{r.lineno}")
    return where


def _leaking_parquet(path: Path) -> list[str]:
    where = []
    if _leaks_bytes(path.read_bytes()):
        where.append("bytes")
    table = pl.read_parquet(path)
    if _leaks_text(table.write_csv()) or _leaks_text(repr(table.schema)):
        where.append("rows")
    if _leaks_text(json.dumps(pl.read_parquet_metadata(path), default=str)):
        where.append("metadata")
    return where


@pytest.fixture(scope="module")
def history() -> MarketHistory:
    # about five trades in the first 40 blocks
    return simulate_market({"arb_activity": 0.1}, seed=4, n_blocks=120)


def _config(tmp: Path, **kw: Any) -> AIFlashArbConfig:
    return AIFlashArbConfig(
        stage_file=str(tmp / "stage.json"),
        execution_log_dir=str(tmp / "executions"),
        models_dir=str(tmp / "models"),
        seed=0,
        **kw,
    )


def _promote_to_small_positions(stage_file: Path) -> None:
    tracker = StageTracker(stage_file, OPEN_STAGES)
    tracker.promote()
    tracker.promote()


def test_the_canary_key_owns_the_executor_and_leaks_nowhere(
    history: MarketHistory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(ENV, CANARY)
    caplog.set_level(logging.DEBUG)
    owners: list[str] = []
    runner: FlashArbitrageRunner | None = None

    def read_the_owner(report: BlockReport) -> None:
        # the embedded node stops with the run: ask the executor while it runs
        if not owners:
            assert runner is not None and runner.chain is not None
            assert runner.chain.market is not None
            owners.append(runner.chain.market.executor.executor.functions.owner().call())

    runner = FlashArbitrageRunner(
        config=_config(tmp_path, enable_execution=True),
        history=history,
        metrics=MetricsCollector(),
        on_block=read_the_owner,
    )
    summary = runner.run_sync(blocks=40)
    # the key is really used: its account owns the executor and sent the trades
    address = Account.from_key(CANARY).address
    assert owners == [address]
    assert runner.chain is not None and runner.chain.market is not None
    assert runner.chain.market.owner == address
    assert summary.mode == "live" and summary.stopped == "completed"
    assert summary.stats["chain_trades"] >= 3 and summary.execution_log is not None

    out = capsys.readouterr()
    texts = {
        "stdout": out.out,
        "stderr": out.err,
        "caplog text": caplog.text,
        "summary": repr(summary),
        "stats": json.dumps(summary.stats, default=str),
        "metrics": json.dumps(summary.metrics, default=str),
        "trades": summary.trades.write_csv(),
        "stage file": Path(runner.config.stage_file).read_text(),
    }
    assert [k for k, v in texts.items() if _leaks_text(v)] == []
    assert len(caplog.records) > 0
    assert _leaking_records(caplog.records) == []
    assert _leaking_parquet(Path(summary.execution_log)) == []
    assert _leaking_files(tmp_path) == []


def test_the_cli_executes_with_the_canary_key_and_leaks_nowhere(
    history: MarketHistory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    history.save(tmp_path / "history")
    config = tmp_path / "ai_config.json"
    config.write_text(json.dumps({"enable_ai_system": False}))
    summary_file = tmp_path / "s.json"
    stage_file = tmp_path / "stage.json"
    executions = tmp_path / "executions"
    result = CliRunner().invoke(
        app,
        [
            "live",
            "--execute",
            "--blocks",
            "40",
            "--history",
            str(tmp_path / "history"),
            "--config",
            str(config),
            "--models",
            str(tmp_path / "models"),
            "--json",
            str(summary_file),
            "--stage-file",
            str(stage_file),
        ],
        env={
            ENV: CANARY,
            "ARBKIT_METRICS_DB": ":memory:",
            "ARBKIT_EXECUTIONS_DIR": str(executions),
        },
    )
    leaked_output = _leaks_text(result.output)
    assert not leaked_output
    assert result.exit_code == 0, result.output
    assert "live run" in result.output
    summary = json.loads(summary_file.read_text())
    assert summary["mode"] == "live" and summary["blocks"] == 40
    assert summary["stats"]["chain_trades"] >= 3
    logs = list(executions.glob("*.parquet"))
    assert len(logs) == 1
    assert _leaking_parquet(logs[0]) == []
    assert json.loads(stage_file.read_text())["stage"] == "simulation"
    assert _leaking_records(caplog.records) == []
    assert _leaking_files(tmp_path) == []


def _malformed_key_error(
    node: AnvilNode, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> PrivateKeyError:
    _promote_to_small_positions(tmp_path / "stage.json")
    monkeypatch.setenv(ENV, BAD_CANARY)
    cfg = _config(
        tmp_path,
        rpc_url=node.url,
        enable_execution=True,
        safety=SafetyConfig(stages=OPEN_STAGES),
    )
    runner = FlashArbitrageRunner(config=cfg, history=simulate_market(seed=0, n_blocks=6))
    with pytest.raises(PrivateKeyError) as info:
        runner.run_sync(blocks=5)
    return info.value


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


@pytest.fixture
def node() -> Any:
    with AnvilNode() as n:
        yield n


def test_a_malformed_key_fails_naming_the_variable_never_the_value(
    node: AnvilNode,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    exc = _malformed_key_error(node, tmp_path, monkeypatch)
    assert ENV in str(exc) and "64 hex digits" in str(exc)
    chain = _chain(exc)
    texts = {f"{type(e).__name__} {i}": f"{e!s} {e!r} {e.args!r}" for i, e in enumerate(chain)}
    texts["traceback"] = "".join(traceback.format_exception(exc))
    assert [k for k, v in texts.items() if _leaks_text(v)] == []
    assert _leaking_records(caplog.records) == []
    assert _leaking_files(tmp_path) == []


def test_a_malformed_key_is_not_in_a_traceback_with_locals(
    node: AnvilNode, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exc = _malformed_key_error(node, tmp_path, monkeypatch)
    shown = traceback.TracebackException.from_exception(exc, capture_locals=True)
    leaking = [
        f"{frame.name} ({Path(frame.filename).name}:{frame.lineno})"
        for frame in shown.stack
        if "arbkit" in Path(frame.filename).parts
        and any(_leaks_text(value) for value in (frame.locals or {}).values())
    ]
    assert leaking == []


def test_the_cli_refuses_a_malformed_key_on_an_rpc_url_without_showing_it(
    node: AnvilNode, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    stage_file = tmp_path / "stage.json"
    _promote_to_small_positions(stage_file)
    config = tmp_path / "ai_config.json"
    config.write_text(json.dumps({"enable_ai_system": False}))
    summary_file = tmp_path / "s.json"
    result = CliRunner().invoke(
        app,
        [
            "live",
            "--execute",
            "--rpc-url",
            node.url,
            "--blocks",
            "5",
            "--config",
            str(config),
            "--models",
            str(tmp_path / "models"),
            "--json",
            str(summary_file),
            "--stage-file",
            str(stage_file),
        ],
        env={
            ENV: BAD_CANARY,
            "ARBKIT_METRICS_DB": ":memory:",
            "ARBKIT_EXECUTIONS_DIR": str(tmp_path / "executions"),
        },
    )
    leaked_output = _leaks_text(result.output)
    assert not leaked_output
    assert result.exit_code == 2
    assert ENV in result.output
    assert not summary_file.exists()
    assert _leaking_records(caplog.records) == []
    assert _leaking_files(tmp_path) == []
