"""Tests of the live runner's safety layer (arbkit.live.safety)."""

from __future__ import annotations

import asyncio
import copy
import io
import json
import logging
import os
import pickle
import signal
import threading
import traceback
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from pydantic import ValidationError

from arbkit.errors import ArbkitError, ConfigError
from arbkit.live.safety import (
    ExecutionNotAllowedError,
    KillSwitch,
    NonceManager,
    OutcomeRecord,
    PrivateKeyError,
    RedactSecrets,
    RiskCap,
    RiskCaps,
    RiskCapsConfig,
    SafetyConfig,
    SecretKey,
    StageError,
    StageFileError,
    StageGate,
    StageLockedError,
    StagePolicy,
    StageTracker,
    StopLoss,
    StopLossConfig,
    TrackRecord,
    TradingStage,
    is_nonce_error,
    load_private_key,
    require_execution_allowed,
    review_stage,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class FakeClock:
    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


def outcome(
    stage: TradingStage, profit: float, *, success: bool = True, at: datetime = T0
) -> OutcomeRecord:
    return OutcomeRecord(timestamp=at, success=success, net_profit_quote=profit, stage=stage)


LOOSE_GATE = StageGate(min_records=2, min_success_rate=0.5, min_elapsed_s=3600)
POLICY = StagePolicy(
    simulation=StageGate(min_records=2, min_success_rate=0.5),
    dry_run=LOOSE_GATE,
    small_positions=LOOSE_GATE,
    small_positions_fraction=0.25,
    small_positions_max_size_quote=2.0,
)


# --------------------------------------------------------------------------------------
# Stages
# --------------------------------------------------------------------------------------


def test_trading_stage_order_follows_the_guide_progression() -> None:
    assert [s.value for s in TradingStage] == [
        "simulation",
        "dry_run",
        "small_positions",
        "full_size",
    ]
    assert TradingStage.SIMULATION.next_stage is TradingStage.DRY_RUN
    assert TradingStage.FULL_SIZE.next_stage is None
    assert TradingStage.SIMULATION.previous_stage is None
    assert TradingStage.FULL_SIZE.previous_stage is TradingStage.SMALL_POSITIONS
    assert [s.sends_transactions for s in TradingStage] == [False, False, True, True]


def test_stage_policy_is_frozen_forbids_unknown_keys_and_loads_from_config_dict() -> None:
    policy = StagePolicy.model_validate(
        {"dry_run": {"min_records": 10, "min_elapsed_s": 60}, "small_positions_fraction": 0.5}
    )
    assert policy.dry_run.min_records == 10
    assert policy.gate(TradingStage.FULL_SIZE) is None
    with pytest.raises(ValidationError, match="min_trades"):
        StagePolicy.model_validate({"dry_run": {"min_trades": 3}})
    with pytest.raises(ValidationError):
        StageGate(min_success_rate=1.5)
    with pytest.raises(ValidationError):
        policy.small_positions_fraction = 1.0  # type: ignore[misc]


def test_new_tracker_starts_at_simulation_and_writes_the_state_file(tmp_path: Path) -> None:
    path = tmp_path / "state" / "stage.json"
    tracker = StageTracker(path, POLICY, clock=FakeClock())
    assert tracker.stage is TradingStage.SIMULATION
    state = json.loads(path.read_text())
    assert state["stage"] == "simulation"
    assert state["version"] == 1
    assert list(path.parent.iterdir()) == [path]  # no temp file left behind


def test_promote_refuses_and_lists_every_unmet_threshold_with_value_and_requirement(
    tmp_path: Path,
) -> None:
    gate = StageGate(
        min_records=5,
        min_success_rate=0.6,
        min_net_profit_quote=1.0,
        max_drawdown_quote=0.5,
        min_elapsed_s=24 * 3600,
    )
    clock = FakeClock()
    tracker = StageTracker(
        tmp_path / "s.json", POLICY.model_copy(update={"simulation": gate}), clock=clock
    )
    for profit, ok in [(0.4, True), (-1.0, False), (0.1, False)]:
        tracker.record(outcome(TradingStage.SIMULATION, profit, success=ok))
    clock.advance(hours=2)

    review = tracker.review()
    assert not review.unlocked
    assert len(review.unmet) == 5
    with pytest.raises(StageLockedError) as err:
        tracker.promote()
    text = str(err.value)
    assert "simulation -> dry_run locked" in text
    assert "records 3 < 5 required" in text
    assert "success rate 33.3% < 60.0% required" in text
    assert "net profit -0.5 < 1 required" in text
    assert "max drawdown 1 > 0.5 allowed" in text
    assert "time in stage 2.00 h < 24.00 h required" in text
    assert tracker.stage is TradingStage.SIMULATION


def test_promote_moves_up_one_stage_only_when_unlocked_and_survives_reload(
    tmp_path: Path,
) -> None:
    path = tmp_path / "stage.json"
    clock = FakeClock()
    tracker = StageTracker(path, POLICY, clock=clock)
    tracker.record(outcome(TradingStage.SIMULATION, 0.1))
    tracker.record(outcome(TradingStage.SIMULATION, 0.2))
    assert tracker.review().unlocked
    assert tracker.promote() is TradingStage.DRY_RUN
    assert tracker.track_record == TrackRecord()  # the new stage starts from scratch
    assert tracker.entered_at == T0

    # dry_run needs one hour in the stage: records alone do not unlock it
    clock.advance(minutes=1)
    tracker.record(outcome(TradingStage.DRY_RUN, 0.1, at=clock.now))
    tracker.record(outcome(TradingStage.DRY_RUN, 0.1, at=clock.now))
    with pytest.raises(StageLockedError, match="time in stage"):
        tracker.promote()

    reloaded = StageTracker(path, POLICY, clock=clock)
    assert reloaded.stage is TradingStage.DRY_RUN
    assert reloaded.track_record.count == 2
    assert [(t.from_stage, t.to_stage) for t in reloaded.history] == [
        (TradingStage.SIMULATION, TradingStage.DRY_RUN)
    ]
    clock.advance(hours=1)
    assert reloaded.promote() is TradingStage.SMALL_POSITIONS
    assert StageTracker(path, POLICY, clock=clock).stage is TradingStage.SMALL_POSITIONS


def test_promote_at_full_size_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "stage.json"
    path.write_text(json.dumps({"version": 1, "stage": "full_size", "entered_at": T0.isoformat()}))
    tracker = StageTracker(path, POLICY, clock=FakeClock())
    with pytest.raises(StageLockedError, match="full_size is the last stage"):
        tracker.promote()
    # full_size has nothing to unlock, so its outcomes are not kept
    assert not tracker.record(outcome(TradingStage.FULL_SIZE, 1.0))


def test_record_counts_only_outcomes_of_the_current_stage_since_it_was_entered(
    tmp_path: Path,
) -> None:
    tracker = StageTracker(tmp_path / "s.json", POLICY, clock=FakeClock())
    # simulation outcomes carry replay times, long before the stage was entered
    assert tracker.record(outcome(TradingStage.SIMULATION, 1.0, at=T0 - timedelta(days=400)))
    assert not tracker.record(outcome(TradingStage.DRY_RUN, 1.0))
    assert tracker.track_record.count == 1

    path = tmp_path / "d.json"
    path.write_text(json.dumps({"version": 1, "stage": "dry_run", "entered_at": T0.isoformat()}))
    dry = StageTracker(path, POLICY, clock=FakeClock())
    # a decision made before the stage was (re-)entered, settled after, does not count
    assert not dry.record(outcome(TradingStage.DRY_RUN, 1.0, at=T0 - timedelta(seconds=1)))
    assert dry.record(outcome(TradingStage.DRY_RUN, 1.0, at=T0))
    assert dry.track_record.count == 1


def test_demote_is_always_allowed_and_restarts_the_track_record(tmp_path: Path) -> None:
    path = tmp_path / "stage.json"
    path.write_text(json.dumps({"version": 1, "stage": "full_size", "entered_at": T0.isoformat()}))
    tracker = StageTracker(path, POLICY, clock=FakeClock())
    assert tracker.demote(reason="stop-loss hit") is TradingStage.SMALL_POSITIONS
    tracker.record(outcome(TradingStage.SMALL_POSITIONS, -1.0))
    assert tracker.demote(to=TradingStage.DRY_RUN) is TradingStage.DRY_RUN
    assert tracker.track_record.count == 0
    assert tracker.demote() is TradingStage.SIMULATION
    assert tracker.demote() is TradingStage.SIMULATION  # nothing below: stays
    with pytest.raises(StageError, match="use promote"):
        tracker.demote(to=TradingStage.FULL_SIZE)
    assert tracker.history[0].reason == "stop-loss hit"
    assert StageTracker(path, POLICY).stage is TradingStage.SIMULATION


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{not json", "not valid JSON"),
        ('{"version": 1, "stage": "moon", "entered_at": "2026-03-01T00:00:00Z"}', "stage"),
        ('{"version": 1, "stage": "dry_run"}', "entered_at: Field required"),
        ('{"version": 1, "stage": "dry_run", "entered_at": "2026-03-01T00:00:00"}', "timezone"),
        (
            '{"version": 1, "stage": "dry_run", "entered_at": "2026-03-01T00:00:00Z", "x": 1}',
            "x: Extra inputs",
        ),
        ('{"version": 2, "entered_at": "2026-03-01T00:00:00Z"}', "version"),
        ("[]", "<root>"),
    ],
)
def test_bad_state_file_raises_an_error_naming_the_file(
    tmp_path: Path, content: str, expected: str
) -> None:
    path = tmp_path / "stage.json"
    path.write_text(content)
    with pytest.raises(StageFileError) as err:
        StageTracker(path, POLICY)
    assert str(path) in str(err.value)
    assert expected in str(err.value)
    assert path.read_text() == content  # never overwritten


def test_failed_state_write_leaves_the_old_file_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "stage.json"
    tracker = StageTracker(path, POLICY, clock=FakeClock())
    before = path.read_bytes()

    def broken_replace(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        tracker.record(outcome(TradingStage.SIMULATION, 1.0))
    assert path.read_bytes() == before
    assert list(tmp_path.iterdir()) == [path]


def test_review_stage_works_on_an_external_sequence_of_records() -> None:
    records = [
        outcome(TradingStage.DRY_RUN, 1.0),
        outcome(TradingStage.DRY_RUN, -3.0, success=False),
        outcome(TradingStage.SIMULATION, 100.0),  # another stage: skipped
        outcome(TradingStage.DRY_RUN, 0.5),
    ]
    track = TrackRecord.from_records(records, stage=TradingStage.DRY_RUN)
    assert track.count == 3
    assert track.success_rate == pytest.approx(2 / 3)
    assert track.net_profit_quote == pytest.approx(-1.5)
    assert track.peak_profit_quote == pytest.approx(1.0)
    assert track.max_drawdown_quote == pytest.approx(3.0)
    gate = StageGate(min_records=3, min_success_rate=0.6, max_drawdown_quote=5.0)
    review = review_stage(
        TradingStage.DRY_RUN, track, gate, entered_at=T0, now=T0 + timedelta(hours=1)
    )
    assert review.unmet == ("net profit -1.5 < 0 required (quote units)",)
    assert review.next_stage is TradingStage.SMALL_POSITIONS
    with pytest.raises(ValueError, match="timezone-aware"):
        review_stage(TradingStage.DRY_RUN, track, gate, entered_at=T0, now=datetime(2026, 3, 2))


def test_empty_track_record_reports_success_rate_as_unavailable() -> None:
    review = review_stage(
        TradingStage.SIMULATION, TrackRecord(), StagePolicy().simulation, entered_at=T0, now=T0
    )
    assert "records 0 < 100 required" in review.reason
    assert "success rate n/a (no records) < 60.0% required" in review.reason


def test_small_positions_caps_size_by_fraction_and_absolute_cap(tmp_path: Path) -> None:
    assert POLICY.cap_size(TradingStage.SMALL_POSITIONS, 4.0) == pytest.approx(1.0)
    assert POLICY.cap_size(TradingStage.SMALL_POSITIONS, 40.0) == pytest.approx(2.0)
    for stage in (TradingStage.SIMULATION, TradingStage.DRY_RUN, TradingStage.FULL_SIZE):
        assert POLICY.cap_size(stage, 40.0) == 40.0
    with pytest.raises(ValueError, match="size_quote"):
        POLICY.cap_size(TradingStage.SMALL_POSITIONS, -1.0)
    path = tmp_path / "s.json"
    path.write_text(
        json.dumps({"version": 1, "stage": "small_positions", "entered_at": T0.isoformat()})
    )
    assert StageTracker(path, POLICY).cap_size(40.0) == pytest.approx(2.0)


def test_execution_is_refused_below_small_positions(tmp_path: Path) -> None:
    for stage in (TradingStage.SIMULATION, TradingStage.DRY_RUN):
        with pytest.raises(ExecutionNotAllowedError) as err:
            require_execution_allowed(stage, enable_execution=True)
        assert f"stage {stage.value!r}" in str(err.value)
        assert "small_positions" in str(err.value)
        assert isinstance(err.value, ConfigError)
        require_execution_allowed(stage, enable_execution=False)
    for stage in (TradingStage.SMALL_POSITIONS, TradingStage.FULL_SIZE):
        require_execution_allowed(stage, enable_execution=True)
    tracker = StageTracker(tmp_path / "s.json", POLICY)
    with pytest.raises(ExecutionNotAllowedError):
        tracker.require_execution_allowed(enable_execution=True)


def test_safety_config_defaults_validate_and_forbid_unknown_keys() -> None:
    cfg = SafetyConfig()
    assert cfg.risk_caps.max_trades_per_block == 1
    assert cfg.stages.dry_run.min_elapsed_s == 24 * 3600
    with pytest.raises(ValidationError):
        SafetyConfig.model_validate({"stop_loss": {"daily_loss": 1.0}})


# --------------------------------------------------------------------------------------
# Stop-loss and risk caps
# --------------------------------------------------------------------------------------


def test_daily_loss_limit_halts_and_stays_halted_past_midnight_until_reset() -> None:
    stop = StopLoss(
        StopLossConfig(
            daily_loss_limit_quote=1.0, daily_loss_limit_fraction=None, max_drawdown_fraction=None
        ),
        equity_quote=100.0,
    )
    assert not stop.record(-0.6, T0)
    assert stop.record(-0.4, T0 + timedelta(hours=1))  # reaching the limit halts
    assert stop.halted
    assert stop.reason is not None
    assert "daily loss 1 reached the limit 1" in stop.reason
    assert "2026-03-01 UTC" in stop.reason
    # profits and a new day do not clear it
    stop.record(5.0, T0 + timedelta(days=1))
    assert stop.halted
    stop.reset(T0 + timedelta(days=1))
    assert not stop.halted
    assert stop.reason is None


def test_daily_window_resets_at_utc_midnight_not_local_midnight() -> None:
    config = StopLossConfig(
        daily_loss_limit_quote=1.0, daily_loss_limit_fraction=None, max_drawdown_fraction=None
    )
    stop = StopLoss(config, equity_quote=100.0)
    stop.record(-0.9, datetime(2026, 3, 1, 23, 0, tzinfo=UTC))
    # 00:30 on 2 March in UTC+2 is 22:30 UTC on 1 March: still the same UTC day
    local_after_midnight = datetime(2026, 3, 2, 0, 30, tzinfo=timezone(timedelta(hours=2)))
    assert not stop.record(-0.05, local_after_midnight)
    assert stop.daily_pnl_quote == pytest.approx(-0.95)
    # 00:10 UTC opens a new window: the day's loss starts again from zero
    assert not stop.record(-0.9, datetime(2026, 3, 2, 0, 10, tzinfo=UTC))
    assert stop.daily_pnl_quote == pytest.approx(-0.9)
    assert stop.record(-0.1, datetime(2026, 3, 2, 8, 0, tzinfo=UTC))


def test_drawdown_fraction_is_measured_from_peak_equity_and_reset_rebases_it() -> None:
    stop = StopLoss(
        StopLossConfig(daily_loss_limit_fraction=None, max_drawdown_fraction=0.10),
        equity_quote=100.0,
    )
    stop.record(20.0, T0)  # peak 120
    assert not stop.record(-11.0, T0 + timedelta(days=1))  # 109: 9.2 % below peak
    assert stop.record(-1.0, T0 + timedelta(days=2))  # 108: 10 % below peak
    assert stop.reason is not None
    assert "drawdown 10.00% from peak equity 120" in stop.reason
    stop.reset(T0 + timedelta(days=2))
    assert stop.peak_equity_quote == pytest.approx(108.0)
    assert not stop.record(-1.0, T0 + timedelta(days=2))


def test_stop_loss_daily_fraction_and_drawdown_quote_limits() -> None:
    stop = StopLoss(StopLossConfig(), equity_quote=10.0)  # 5 % a day, 10 % drawdown
    assert stop.record(-0.5, T0)
    assert "daily loss 5.00%" in (stop.reason or "")
    abs_dd = StopLoss(
        StopLossConfig(
            daily_loss_limit_fraction=None, max_drawdown_fraction=None, max_drawdown_quote=2.0
        ),
        equity_quote=0.0,
    )
    abs_dd.record(3.0, T0)
    abs_dd.record(-1.0, T0 + timedelta(days=1))
    assert abs_dd.record(-1.0, T0 + timedelta(days=2))
    assert "drawdown 2 from peak equity 3" in (abs_dd.reason or "")


def test_stop_loss_rejects_naive_times_and_non_finite_pnl() -> None:
    stop = StopLoss(StopLossConfig(), equity_quote=10.0)
    with pytest.raises(ValueError, match="timezone-aware"):
        stop.record(-0.1, datetime(2026, 3, 1))
    with pytest.raises(ValueError, match="finite"):
        stop.record(float("nan"), T0)
    with pytest.raises(ValueError, match="fractional"):
        StopLoss(StopLossConfig(), equity_quote=0.0)


def test_risk_caps_name_the_cap_that_refuses_a_trade() -> None:
    caps = RiskCaps(
        RiskCapsConfig(
            max_position_size_quote=5.0,
            max_gas_price_wei=100 * 10**9,
            max_trades_per_block=2,
            max_trades_per_day=3,
        )
    )
    gwei = 10**9
    ok = caps.check_trade(5.0, 100 * gwei, block_number=10, now=T0)
    assert ok.ok
    assert ok.cap is None
    size = caps.check_trade(5.1, 1, block_number=10, now=T0)
    assert size.cap is RiskCap.POSITION_SIZE
    assert "size 5.1 > 5" in size.detail
    gas = caps.check_trade(1.0, 100 * gwei + 1, block_number=10, now=T0)
    assert gas.cap is RiskCap.GAS_PRICE
    assert str(gas.cap) == "max_gas_price_wei"  # named after its config key

    caps.record_trade(block_number=10, now=T0)
    caps.record_trade(block_number=10, now=T0)
    block = caps.check_trade(1.0, gwei, block_number=10, now=T0)
    assert block.cap is RiskCap.TRADES_PER_BLOCK
    assert "2 trades already in block 10" in block.detail
    assert caps.check_trade(1.0, gwei, block_number=11, now=T0).ok
    caps.record_trade(block_number=11, now=T0)
    day = caps.check_trade(1.0, gwei, block_number=12, now=T0)
    assert day.cap is RiskCap.TRADES_PER_DAY
    assert "3 trades already on 2026-03-01 UTC" in day.detail
    midnight = datetime(2026, 3, 2, tzinfo=UTC)
    assert caps.check_trade(1.0, gwei, block_number=12, now=midnight).ok


# --------------------------------------------------------------------------------------
# Kill switch
# --------------------------------------------------------------------------------------


@pytest.fixture
def saved_handlers() -> Iterator[None]:
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


def test_kill_file_trips_the_switch_and_it_stays_tripped(tmp_path: Path) -> None:
    stop_file = tmp_path / "STOP"
    kill = KillSwitch(stop_file)
    assert not kill.tripped
    assert kill.reason is None
    stop_file.touch()
    assert kill.tripped
    assert kill.reason == f"kill file {stop_file} exists"
    stop_file.unlink()
    assert kill.tripped


@pytest.mark.usefixtures("saved_handlers")
def test_sigterm_trips_the_switch_and_uninstall_restores_the_previous_handler() -> None:
    def previous(signum: int, frame: object) -> None:
        raise AssertionError("previous handler must not run while installed")

    signal.signal(signal.SIGTERM, previous)
    with KillSwitch() as kill:
        assert kill.installed
        os.kill(os.getpid(), signal.SIGTERM)
        assert kill.wait(5.0)
        assert kill.reason == "signal SIGTERM"
    assert not kill.installed
    assert signal.getsignal(signal.SIGTERM) is previous
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@pytest.mark.usefixtures("saved_handlers")
def test_repeated_sigint_never_raises_keyboard_interrupt() -> None:
    kill = KillSwitch().install()
    try:
        os.kill(os.getpid(), signal.SIGINT)
        kill.wait(5.0)
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(1000):  # give the handler a few bytecodes to run
            if kill.signal_count == 2:
                break
        assert kill.signal_count == 2
        assert kill.tripped
        assert kill.reason == "signal SIGINT"
        kill.trip("later reason")
        assert kill.reason == "signal SIGINT"  # the first reason is kept
    finally:
        kill.uninstall()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@pytest.mark.usefixtures("saved_handlers")
def test_wait_wakes_early_when_a_signal_arrives_during_the_sleep() -> None:
    with KillSwitch() as kill:
        timer = threading.Timer(0.05, os.kill, args=(os.getpid(), signal.SIGTERM))
        started = datetime.now(UTC)
        timer.start()
        assert kill.wait(30.0)
        timer.join()
        assert datetime.now(UTC) - started < timedelta(seconds=10)
    assert kill.tripped  # still tripped after uninstall


@pytest.mark.usefixtures("saved_handlers")
def test_install_asyncio_uses_the_loop_and_restores_handlers() -> None:
    loop = asyncio.new_event_loop()
    kill = KillSwitch()
    try:
        kill.install_asyncio(loop)
        assert kill.installed

        async def main() -> None:
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(200):
                if kill.tripped:
                    return
                await asyncio.sleep(0.01)

        loop.run_until_complete(main())
        assert kill.reason == "signal SIGTERM"
    finally:
        kill.uninstall()
        loop.close()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL


@pytest.mark.usefixtures("saved_handlers")
def test_install_refuses_outside_main_thread_and_twice() -> None:
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            KillSwitch().install()
        except RuntimeError as exc:
            errors.append(exc)

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert len(errors) == 1
    assert "main thread" in str(errors[0])
    with KillSwitch() as kill, pytest.raises(RuntimeError, match="already installed"):
        kill.install()


# --------------------------------------------------------------------------------------
# Private key
# --------------------------------------------------------------------------------------

CANARY_BODY = "c4a4a7c4" * 8  # 64 hex digits, a valid key
CANARY = "0x" + CANARY_BODY
ENV = "ARBKIT_TEST_PRIVATE_KEY"


def _leaks(text: str, secret: str) -> bool:
    """Whether ``text`` holds any 8-character piece of ``secret`` (case-insensitive)."""
    body = secret.removeprefix("0x").lower()
    lowered = text.lower()
    return any(body[i : i + 8] in lowered for i in range(max(1, len(body) - 7)))


def test_load_private_key_reveals_only_on_request() -> None:
    key = load_private_key(ENV, environ={ENV: f"  {CANARY.upper().replace('0X', '0x')}\n"})
    assert isinstance(key, SecretKey)
    assert key.reveal() == CANARY
    assert key.source == ENV
    shown = [repr(key), str(key), f"{key}", f"{key:>100}", "%s %r" % (key, key), format(key)]  # noqa: UP031
    for text in shown:
        assert not _leaks(text, CANARY), text
    assert repr(key) == f"SecretKey(from ${ENV}, <redacted>)"
    assert copy.deepcopy(key) is key
    assert copy.copy(key) is key
    with pytest.raises(TypeError) as err:
        pickle.dumps(key)
    assert not _leaks(str(err.value), CANARY)
    with pytest.raises(TypeError):
        vars(key)


def test_load_private_key_reads_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, CANARY)
    assert load_private_key(ENV).reveal() == CANARY
    monkeypatch.delenv(ENV)
    with pytest.raises(PrivateKeyError, match=f"{ENV} is not set"):
        load_private_key(ENV)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (CANARY_BODY, "must start with 0x"),
        (CANARY[:-1], "got 63 characters"),
        (CANARY + "c4", "got 66 characters"),
        (CANARY[:-1] + "g", "non-hex character"),
        ("0x" + "0" * 64, "not a valid secp256k1 private key"),
        ("0x" + "f" * 64, "not a valid secp256k1 private key"),
        ("   ", "is empty"),
    ],
)
def test_invalid_private_key_error_never_contains_the_key(value: str, problem: str) -> None:
    with pytest.raises(PrivateKeyError) as err:
        load_private_key(ENV, environ={ENV: value})
    exc = err.value
    assert problem in str(exc)
    assert ENV in str(exc)
    assert isinstance(exc, ArbkitError)
    assert exc.__cause__ is None
    assert exc.__context__ is None
    rendered = "".join(traceback.format_exception(exc)) + repr(exc) + repr(exc.args)
    if value.strip():
        assert not _leaks(rendered, value.strip())


@pytest.fixture
def log_stream() -> Iterator[tuple[logging.Logger, io.StringIO, RedactSecrets]]:
    parent = logging.getLogger("arbkit")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    old_level = parent.level
    parent.addHandler(handler)
    parent.setLevel(logging.DEBUG)
    redact = RedactSecrets()
    redact.attach(parent)
    yield logging.getLogger("arbkit.live.test_safety"), stream, redact
    parent.removeHandler(handler)
    parent.removeFilter(redact)
    parent.setLevel(old_level)


def test_redact_secrets_scrubs_child_logger_messages_args_and_tracebacks(
    log_stream: tuple[logging.Logger, io.StringIO, RedactSecrets],
) -> None:
    log, stream, redact = log_stream
    key = load_private_key(ENV, environ={ENV: CANARY})
    redact.register(key)
    log.info("signing with %s", key.reveal())
    log.warning("raw body %s upper %s", CANARY_BODY, CANARY_BODY.upper())
    log.info(f"f-string {CANARY}")
    log.info("bad format %d", CANARY)  # a logging error report would print the args raw
    try:
        raise RuntimeError(f"signer failed for {CANARY}")
    except RuntimeError:
        log.exception("send failed")
    log.info("object %s", key)
    out = stream.getvalue()
    assert not _leaks(out, CANARY), out
    assert out.count("[REDACTED]") >= 6
    assert "signing with [REDACTED]" in out
    assert "RuntimeError: signer failed for [REDACTED]" in out
    assert "SecretKey(from $ARBKIT_TEST_PRIVATE_KEY, <redacted>)" in out


def test_redact_secrets_rejects_short_secrets_and_scrubs_plain_text() -> None:
    redact = RedactSecrets(["hunter2-password"])
    assert redact.scrub("pw=hunter2-password!") == "pw=[REDACTED]!"
    with pytest.raises(ValueError, match="at least 8"):
        redact.register("abc")


# --------------------------------------------------------------------------------------
# Nonces
# --------------------------------------------------------------------------------------


class FakeNode:
    def __init__(self, pending: int) -> None:
        self.pending = pending
        self.calls = 0

    def __call__(self) -> int:
        self.calls += 1
        return self.pending


def test_nonce_manager_fetches_once_then_counts_locally() -> None:
    node = FakeNode(7)
    nonces = NonceManager(node)
    assert node.calls == 0
    assert [nonces.next() for _ in range(3)] == [7, 8, 9]
    assert node.calls == 1
    assert nonces.in_flight == {7, 8, 9}
    nonces.confirm(8)  # mining 8 implies 7 was used too
    assert nonces.in_flight == {9}


def test_released_nonce_in_the_middle_is_refilled_first() -> None:
    nonces = NonceManager(FakeNode(0))
    assert [nonces.next() for _ in range(4)] == [0, 1, 2, 3]
    nonces.release(1)
    assert nonces.gaps == {1}
    assert nonces.next() == 1  # the gap would block 2 and 3 on chain
    assert nonces.next() == 4


def test_released_nonces_at_the_top_shrink_the_counter() -> None:
    nonces = NonceManager(FakeNode(10))
    assert [nonces.next() for _ in range(3)] == [10, 11, 12]
    nonces.release(11)
    nonces.release(12)
    assert nonces.gaps == frozenset()
    assert nonces.next() == 11
    with pytest.raises(ValueError, match="not in flight"):
        nonces.release(12)
    nonces.confirm(20)
    assert nonces.next() == 21


def test_resync_after_nonce_too_low_trusts_the_node() -> None:
    node = FakeNode(5)
    nonces = NonceManager(node)
    assert nonces.next() == 5
    # another sender used 5..8: our send of 5 fails with "nonce too low"
    node.pending = 9
    error = ValueError("{'code': -32000, 'message': 'nonce too low'}")
    assert is_nonce_error(error)
    assert nonces.resync() == 9
    assert nonces.in_flight == frozenset()
    assert nonces.next() == 9
    # the node dropped our pending transactions: resync goes back down
    nonces.next()
    node.pending = 9
    nonces.release(9)
    nonces.resync()
    assert nonces.next() == 9


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("nonce too low", True),
        ("Replacement transaction underpriced", True),
        ("already known", True),
        ("insufficient funds for gas * price + value", False),
        ("execution reverted", False),
    ],
)
def test_is_nonce_error_matches_node_messages(message: str, expected: bool) -> None:
    assert is_nonce_error(message) is expected


def test_nonce_manager_rejects_a_bad_pending_nonce() -> None:
    with pytest.raises(ValueError, match="expected an int >= 0"):
        NonceManager(lambda: -1).next()


def test_nonce_manager_is_thread_safe() -> None:
    nonces = NonceManager(FakeNode(100))
    got: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        mine = []
        for i in range(250):
            n = nonces.next()
            if i % 10 == 0:
                nonces.release(n)
            else:
                mine.append(n)
        with lock:
            got.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    leftovers = sorted(nonces.gaps)
    assert len(got) == len(set(got))  # no nonce handed out twice
    assert sorted(got + leftovers) == list(range(100, 100 + len(got) + len(leftovers)))
    assert nonces.in_flight == frozenset(got)
