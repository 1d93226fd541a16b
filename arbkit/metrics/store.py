"""SQLite storage of the metrics (WAL mode, one row per recorded event).

Every ``add_*`` method commits its row before it returns, so a record whose call
returned survives a kill of the process (and, with ``synchronous=FULL``, a power
loss). Writes take the database's write lock first (``BEGIN IMMEDIATE``), so several
processes can report into one file: each execution gets the next sequence number, its
running totals (equity, peak equity) follow the one before it, and alert state changes
in the same transaction. Reads see a consistent snapshot of committed rows.

The equity curve is ``starting_capital_usd + cumulative net P&L`` after each
execution; peak equity is its running maximum, starting from the starting capital.
"""

from __future__ import annotations

import contextlib
import math
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from arbkit.errors import ConfigError
from arbkit.metrics.alerts import (
    Alert,
    AlertKind,
    AlertStats,
    ModelAlertKind,
    check_thresholds,
    step_alert,
)
from arbkit.metrics.config import DEFAULT_STARTING_CAPITAL_USD, AlertThresholds
from arbkit.metrics.errors import MetricsStoreError
from arbkit.metrics.summary import (
    AlertsSummary,
    DecisionSummary,
    ExecutionSummary,
    ModelsSummary,
    ModelStatusSummary,
    OpportunitySummary,
    RecentPerformance,
    RiskSummary,
    TimeseriesPoint,
)

__all__ = ["SCHEMA_VERSION", "AlertTransition", "MetricsStore"]

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS decisions (
    id INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    source TEXT NOT NULL,
    confidence REAL NOT NULL,
    edge_bps REAL NOT NULL,
    predicted_profit REAL NOT NULL,
    executed INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS decisions_ts ON decisions (ts);
CREATE TABLE IF NOT EXISTS executions (
    seq INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    source TEXT NOT NULL,
    success INTEGER NOT NULL,
    actual_profit REAL NOT NULL,
    gas_cost REAL NOT NULL,
    execution_time_ms REAL NOT NULL,
    net_pnl REAL NOT NULL,
    cum_successes INTEGER NOT NULL,
    cum_wins INTEGER NOT NULL,
    cum_profit REAL NOT NULL,
    cum_gas REAL NOT NULL,
    cum_net REAL NOT NULL,
    peak_net REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS executions_ts ON executions (ts);
CREATE TABLE IF NOT EXISTS opportunities (
    id INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    source TEXT NOT NULL,
    quality_score REAL NOT NULL,
    executed INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS opportunities_ts ON opportunities (ts);
CREATE TABLE IF NOT EXISTS model_updates (
    id INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    model_name TEXT NOT NULL,
    training_status TEXT NOT NULL,
    accuracy REAL NOT NULL,
    confidence REAL,
    n_samples INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS alerts (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    threshold REAL NOT NULL,
    value REAL,
    message TEXT NOT NULL,
    raised_at REAL NOT NULL,
    raised_seq INTEGER NOT NULL,
    cleared_at REAL,
    cleared_seq INTEGER,
    cleared_value REAL
);
CREATE UNIQUE INDEX IF NOT EXISTS alerts_one_active_per_kind
    ON alerts (kind) WHERE cleared_at IS NULL;
CREATE TABLE IF NOT EXISTS alert_pending (
    kind TEXT PRIMARY KEY,
    since REAL NOT NULL
);
"""

_ALERT_COLUMNS = (
    "id, kind, threshold, value, message, raised_at, raised_seq, cleared_at, cleared_seq, "
    "cleared_value"
)


@dataclass(frozen=True)
class AlertTransition:
    """An alert raised or cleared by a recorded execution.

    Attributes
    ----------
    event
        ``"raised"`` or ``"cleared"``.
    alert
        The alert after the change.
    """

    event: Literal["raised", "cleared"]
    alert: Alert


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else 0.0


def _gas_share(gas: float, gross: float) -> float | None:
    return gas / gross if gross > 0.0 else None


def _alert_from_row(row: tuple[Any, ...]) -> Alert | None:
    (id_, kind, threshold, value, message, raised_at, raised_seq, cleared_at, cleared_seq,
     cleared_value) = row  # fmt: skip
    alert_kind: AlertKind | ModelAlertKind
    try:
        alert_kind = AlertKind(str(kind))
    except ValueError:
        try:
            alert_kind = ModelAlertKind(str(kind))
        except ValueError:
            return None  # written by a newer arbkit: not ours to show
    return Alert(
        id=int(id_),
        kind=alert_kind,
        threshold=float(threshold),
        value=None if value is None else float(value),
        message=str(message),
        raised_at=float(raised_at),
        raised_execution=int(raised_seq),
        cleared_at=None if cleared_at is None else float(cleared_at),
        cleared_execution=None if cleared_seq is None else int(cleared_seq),
        cleared_value=None if cleared_value is None else float(cleared_value),
    )


class MetricsStore:
    """The metrics database.

    Parameters
    ----------
    path
        Database file, created with its parent folder when absent; ``None`` keeps the
        database in memory.
    starting_capital_usd
        Starting capital of the equity curve; see :class:`arbkit.metrics.MetricsConfig`.
    synchronous
        SQLite ``synchronous`` setting.
    busy_timeout_s
        How long a write waits for another process's write lock.

    Raises
    ------
    MetricsStoreError
        When the file is not an SQLite database or holds another schema version.
    ConfigError
        When ``starting_capital_usd`` differs from the value stored in the database.
    """

    def __init__(
        self,
        path: Path | None,
        *,
        starting_capital_usd: float | None = None,
        synchronous: Literal["FULL", "NORMAL"] = "FULL",
        busy_timeout_s: float = 30.0,
    ) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._busy_timeout_s = busy_timeout_s
        self._target = target = ":memory:" if path is None else str(path)
        try:
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(
                target, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
            )
        except (OSError, sqlite3.Error) as exc:
            msg = f"cannot open the metrics database {target}: {exc}"
            raise MetricsStoreError(msg) from exc
        try:
            self.starting_capital_usd = self._initialise(starting_capital_usd, synchronous)
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            msg = f"cannot use {target} as a metrics database: {exc}"
            raise MetricsStoreError(msg) from exc
        except BaseException:
            self._conn.close()
            raise

    def _initialise(
        self, starting_capital_usd: float | None, synchronous: Literal["FULL", "NORMAL"]
    ) -> float:
        conn = self._conn
        if self.path is not None:
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                msg = f"{self.path}: SQLite refused WAL mode (journal_mode={mode})"
                raise MetricsStoreError(msg)
        conn.execute(f"PRAGMA synchronous={synchronous}")
        with self._write() as cur:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    cur.execute(statement)
            meta = dict(cur.execute("SELECT key, value FROM meta").fetchall())
            version = meta.get("schema_version")
            if version is None:
                capital = (
                    DEFAULT_STARTING_CAPITAL_USD
                    if starting_capital_usd is None
                    else starting_capital_usd
                )
                cur.executemany(
                    "INSERT INTO meta (key, value) VALUES (?, ?)",
                    [
                        ("schema_version", str(SCHEMA_VERSION)),
                        ("starting_capital_usd", repr(capital)),
                    ],
                )
                return capital
            if version != str(SCHEMA_VERSION):
                msg = (
                    f"{self.path}: metrics schema version {version}, this arbkit reads "
                    f"version {SCHEMA_VERSION}"
                )
                raise MetricsStoreError(msg)
            stored = float(meta["starting_capital_usd"])
            if starting_capital_usd is not None and starting_capital_usd != stored:
                msg = (
                    f"starting_capital_usd={starting_capital_usd!r} differs from the "
                    f"{stored!r} stored in {self.path}; drop the option or use a new database"
                )
                raise ConfigError(msg)
            return stored

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._conn.close()

    def _begin_immediate(self, cur: sqlite3.Cursor) -> None:
        # SQLite's own busy handler backs off to 100 ms sleeps, which lets a busy writer
        # starve another process; polling the write lock every millisecond keeps two
        # writers (runner and detector) taking turns.
        deadline = time.monotonic() + self._busy_timeout_s
        cur.execute("PRAGMA busy_timeout = 0")
        try:
            while True:
                try:
                    cur.execute("BEGIN IMMEDIATE")
                    return
                except sqlite3.OperationalError as exc:
                    if "locked" not in str(exc) and "busy" not in str(exc):
                        raise
                    if time.monotonic() >= deadline:
                        msg = (
                            f"{self._target}: another process held the write lock for more "
                            f"than {self._busy_timeout_s:g} s"
                        )
                        raise MetricsStoreError(msg) from exc
                    time.sleep(0.001)
        finally:
            cur.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_s * 1000)}")

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Cursor]:
        with self._lock:
            try:
                cur = self._conn.cursor()
                self._begin_immediate(cur)
                try:
                    yield cur
                except BaseException:
                    cur.execute("ROLLBACK")
                    raise
                cur.execute("COMMIT")
            except sqlite3.Error as exc:
                msg = f"metrics database {self._target}: {exc}"
                raise MetricsStoreError(msg) from exc

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Cursor]:
        with self._lock:
            try:
                cur = self._conn.cursor()
                cur.execute("BEGIN")
                try:
                    yield cur
                finally:
                    cur.execute("COMMIT")
            except sqlite3.Error as exc:
                msg = f"metrics database {self._target}: {exc}"
                raise MetricsStoreError(msg) from exc

    # -- writes ---------------------------------------------------------------------------

    def add_decision(
        self,
        ts: float,
        source: str,
        confidence: float,
        edge_bps: float,
        predicted_profit: float,
        executed: bool,
    ) -> None:
        """Store one decision."""
        with self._write() as cur:
            cur.execute(
                "INSERT INTO decisions (ts, source, confidence, edge_bps, predicted_profit, "
                "executed) VALUES (?, ?, ?, ?, ?, ?)",
                (ts, source, confidence, edge_bps, predicted_profit, int(executed)),
            )

    def add_execution(
        self,
        ts: float,
        source: str,
        success: bool,
        actual_profit: float,
        gas_cost: float,
        execution_time_ms: float,
        thresholds: AlertThresholds,
    ) -> list[AlertTransition]:
        """Store one execution, update the alerts and return the alerts it changed."""
        net = actual_profit - gas_cost
        win = net > 0.0
        with self._write() as cur:
            last = cur.execute(
                "SELECT seq, cum_successes, cum_wins, cum_profit, cum_gas, cum_net, peak_net "
                "FROM executions ORDER BY seq DESC LIMIT 1"
            ).fetchone()
            seq, successes, wins, profit, gas, cum_net, peak_net = last or (
                0,
                0,
                0,
                0.0,
                0.0,
                0.0,
                0.0,
            )
            seq += 1
            successes += int(success)
            wins += int(win)
            profit += actual_profit
            gas += gas_cost
            cum_net += net
            peak_net = max(peak_net, cum_net)
            cur.execute(
                "INSERT INTO executions (seq, ts, source, success, actual_profit, gas_cost, "
                "execution_time_ms, net_pnl, cum_successes, cum_wins, cum_profit, cum_gas, "
                "cum_net, peak_net) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (seq, ts, source, int(success), actual_profit, gas_cost, execution_time_ms, net,
                 successes, wins, profit, gas, cum_net, peak_net),
            )  # fmt: skip
            drawdown = (peak_net - cum_net) / (self.starting_capital_usd + peak_net)
            if thresholds.window_executions is None:
                stats = AlertStats(seq, successes, wins, profit, gas, drawdown)
            else:
                n, w_successes, w_wins, w_profit, w_gas = cur.execute(
                    "SELECT COUNT(*), COALESCE(SUM(success), 0), COALESCE(SUM(net_pnl > 0), 0), "
                    "COALESCE(SUM(actual_profit), 0.0), COALESCE(SUM(gas_cost), 0.0) FROM "
                    "(SELECT success, net_pnl, actual_profit, gas_cost FROM executions "
                    "ORDER BY seq DESC LIMIT ?)",
                    (thresholds.window_executions,),
                ).fetchone()
                stats = AlertStats(n, w_successes, w_wins, w_profit, w_gas, drawdown)
            return self._update_alerts(cur, ts, seq, stats, thresholds)

    def _update_alerts(
        self,
        cur: sqlite3.Cursor,
        ts: float,
        seq: int,
        stats: AlertStats,
        thresholds: AlertThresholds,
    ) -> list[AlertTransition]:
        active: dict[AlertKind, Alert] = {}
        for row in cur.execute(f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE cleared_at IS NULL"):
            alert = _alert_from_row(row)
            if alert is not None and isinstance(alert.kind, AlertKind):
                active[alert.kind] = alert
        # The start of each wait for a hold time (alert_pending, added to schema 1 as a
        # table of its own so that older databases gain it and older readers ignore it).
        pending = {
            str(kind): float(since)
            for kind, since in cur.execute("SELECT kind, since FROM alert_pending")
        }
        transitions: list[AlertTransition] = []
        for kind, breach in check_thresholds(stats, thresholds).items():
            current = active.get(kind)
            step = step_alert(
                breach,
                active=current is not None,
                pending_since=pending.get(kind.value),
                now=ts,
                thresholds=thresholds,
            )
            if step.pending_since != pending.get(kind.value):
                if step.pending_since is None:
                    cur.execute("DELETE FROM alert_pending WHERE kind = ?", (kind.value,))
                else:
                    cur.execute(
                        "INSERT OR REPLACE INTO alert_pending (kind, since) VALUES (?, ?)",
                        (kind.value, step.pending_since),
                    )
            if step.event == "raised" and current is None and breach.threshold is not None:
                cur.execute(
                    "INSERT INTO alerts (kind, threshold, value, message, raised_at, raised_seq) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (kind.value, breach.threshold, breach.value, breach.message, ts, seq),
                )
                raised = Alert(
                    id=int(cur.lastrowid or 0),
                    kind=kind,
                    threshold=breach.threshold,
                    value=breach.value,
                    message=breach.message,
                    raised_at=ts,
                    raised_execution=seq,
                )
                transitions.append(AlertTransition("raised", raised))
            elif step.event == "cleared" and current is not None:
                cur.execute(
                    "UPDATE alerts SET cleared_at = ?, cleared_seq = ?, cleared_value = ? "
                    "WHERE id = ?",
                    (ts, seq, breach.value, current.id),
                )
                cleared = Alert(
                    id=current.id,
                    kind=kind,
                    threshold=current.threshold,
                    value=current.value,
                    message=current.message,
                    raised_at=current.raised_at,
                    raised_execution=current.raised_execution,
                    cleared_at=ts,
                    cleared_execution=seq,
                    cleared_value=breach.value,
                )
                transitions.append(AlertTransition("cleared", cleared))
        return transitions

    def raise_model_alert(
        self, ts: float, kind: ModelAlertKind, threshold: float, value: float | None, message: str
    ) -> Alert | None:
        """Store a raise of a model alert; ``None`` when one of its kind is already active."""
        with self._write() as cur:
            if cur.execute(
                "SELECT 1 FROM alerts WHERE kind = ? AND cleared_at IS NULL", (kind.value,)
            ).fetchone():
                return None
            (seq,) = cur.execute("SELECT COALESCE(MAX(seq), 0) FROM executions").fetchone()
            cur.execute(
                "INSERT INTO alerts (kind, threshold, value, message, raised_at, raised_seq) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (kind.value, threshold, value, message, ts, int(seq)),
            )
            return Alert(
                id=int(cur.lastrowid or 0),
                kind=kind,
                threshold=threshold,
                value=value,
                message=message,
                raised_at=ts,
                raised_execution=int(seq),
            )

    def clear_model_alert(
        self, ts: float, kind: ModelAlertKind, value: float | None
    ) -> Alert | None:
        """Store the clear of the active model alert of ``kind``; ``None`` when none is active."""
        with self._write() as cur:
            row = cur.execute(
                f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE kind = ? AND cleared_at IS NULL",
                (kind.value,),
            ).fetchone()
            current = None if row is None else _alert_from_row(row)
            if current is None:
                return None
            (seq,) = cur.execute("SELECT COALESCE(MAX(seq), 0) FROM executions").fetchone()
            cur.execute(
                "UPDATE alerts SET cleared_at = ?, cleared_seq = ?, cleared_value = ? WHERE id = ?",
                (ts, int(seq), value, current.id),
            )
            return Alert(
                id=current.id,
                kind=current.kind,
                threshold=current.threshold,
                value=current.value,
                message=current.message,
                raised_at=current.raised_at,
                raised_execution=current.raised_execution,
                cleared_at=ts,
                cleared_execution=int(seq),
                cleared_value=value,
            )

    def add_opportunity(self, ts: float, source: str, quality_score: float, executed: bool) -> None:
        """Store one detected opportunity."""
        with self._write() as cur:
            cur.execute(
                "INSERT INTO opportunities (ts, source, quality_score, executed) "
                "VALUES (?, ?, ?, ?)",
                (ts, source, quality_score, int(executed)),
            )

    def add_model_update(
        self,
        ts: float,
        model_name: str,
        training_status: str,
        accuracy: float,
        confidence: float | None,
        n_samples: int,
    ) -> None:
        """Store one model update."""
        with self._write() as cur:
            cur.execute(
                "INSERT INTO model_updates (ts, model_name, training_status, accuracy, "
                "confidence, n_samples) VALUES (?, ?, ?, ?, ?, ?)",
                (ts, model_name, training_status, accuracy, confidence, n_samples),
            )

    # -- reads ----------------------------------------------------------------------------

    def summary_parts(
        self, now: float
    ) -> tuple[
        DecisionSummary,
        ExecutionSummary,
        RiskSummary,
        OpportunitySummary,
        ModelsSummary,
        AlertsSummary,
    ]:
        """Return every section of the summary, read from one snapshot."""
        with self._read() as cur:
            decisions = self._decision_summary(cur)
            execution, risk = self._execution_summary(cur)
            decisions["win_rate"] = _ratio(
                *cur.execute(
                    "SELECT COALESCE(SUM(net_pnl > 0), 0), COUNT(*) FROM executions"
                ).fetchone()
            )
            decisions["sharpe_ratio"] = self._sharpe(cur)
            opportunities = self._opportunity_summary(cur, now)
            models = self._models_summary(cur)
            active = [
                str(kind)
                for (kind,) in cur.execute(
                    "SELECT kind FROM alerts WHERE cleared_at IS NULL ORDER BY id"
                )
            ]
            (raised,) = cur.execute("SELECT COUNT(*) FROM alerts").fetchone()
        return (
            decisions,
            execution,
            risk,
            opportunities,
            models,
            AlertsSummary(active=active, total_raised=int(raised)),
        )

    @staticmethod
    def _decision_summary(cur: sqlite3.Cursor) -> DecisionSummary:
        total, executed, confidence, edge, predicted = cur.execute(
            "SELECT COUNT(*), COALESCE(SUM(executed), 0), COALESCE(AVG(confidence), 0.0), "
            "COALESCE(AVG(edge_bps), 0.0), COALESCE(AVG(predicted_profit), 0.0) FROM decisions"
        ).fetchone()
        return DecisionSummary(
            total_decisions=int(total),
            executed_decisions=int(executed),
            execution_rate=_ratio(executed, total),
            avg_confidence=float(confidence),
            avg_edge_bps=float(edge),
            avg_predicted_profit_usd=float(predicted),
            win_rate=0.0,
            sharpe_ratio=0.0,
        )

    def _execution_summary(self, cur: sqlite3.Cursor) -> tuple[ExecutionSummary, RiskSummary]:
        last = cur.execute(
            "SELECT seq, cum_successes, cum_profit, cum_gas, cum_net, peak_net FROM executions "
            "ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        n, successes, profit, gas, cum_net, peak_net = last or (0, 0, 0.0, 0.0, 0.0, 0.0)
        avg_time, max_time, max_dd = cur.execute(
            "SELECT COALESCE(AVG(execution_time_ms), 0.0), COALESCE(MAX(execution_time_ms), 0.0), "
            "COALESCE(MAX((peak_net - cum_net) / (? + peak_net)), 0.0) FROM executions",
            (self.starting_capital_usd,),
        ).fetchone()
        capital = self.starting_capital_usd
        execution = ExecutionSummary(
            total_executions=int(n),
            successful_executions=int(successes),
            failed_executions=int(n - successes),
            success_rate=_ratio(successes, n),
            total_profit_usd=float(profit),
            total_gas_usd=float(gas),
            net_profit_usd=float(cum_net),
            avg_net_profit_usd=_ratio(cum_net, n),
            gas_share_of_profit=_gas_share(gas, profit),
            avg_execution_time_ms=float(avg_time),
            max_execution_time_ms=float(max_time),
        )
        risk = RiskSummary(
            starting_capital_usd=capital,
            equity_usd=capital + cum_net,
            peak_equity_usd=capital + peak_net,
            current_drawdown=(peak_net - cum_net) / (capital + peak_net),
            max_drawdown=float(max_dd),
        )
        return execution, risk

    @staticmethod
    def _sharpe(cur: sqlite3.Cursor) -> float:
        n, mean = cur.execute("SELECT COUNT(*), AVG(net_pnl) FROM executions").fetchone()
        if n < 2:
            return 0.0
        (squares,) = cur.execute(
            "SELECT SUM((net_pnl - ?) * (net_pnl - ?)) FROM executions", (mean, mean)
        ).fetchone()
        std = math.sqrt(squares / (n - 1))
        # Identical P&Ls leave only rounding noise in std: treat it as zero spread.
        if std <= 1e-9 * abs(mean) or std == 0.0:
            return 0.0
        return float(mean / std)

    @staticmethod
    def _opportunity_summary(cur: sqlite3.Cursor, now: float) -> OpportunitySummary:
        total, converted, avg_q, min_q, max_q = cur.execute(
            "SELECT COUNT(*), COALESCE(SUM(executed), 0), COALESCE(AVG(quality_score), 0.0), "
            "MIN(quality_score), MAX(quality_score) FROM opportunities"
        ).fetchone()
        (last_hour,) = cur.execute(
            "SELECT COUNT(*) FROM opportunities WHERE ts > ? AND ts <= ?", (now - 3600.0, now)
        ).fetchone()
        return OpportunitySummary(
            total_detected=int(total),
            converted=int(converted),
            conversion_rate=_ratio(converted, total),
            detection_rate_per_hour=int(last_hour),
            avg_quality_score=float(avg_q),
            min_quality_score=None if min_q is None else float(min_q),
            max_quality_score=None if max_q is None else float(max_q),
        )

    @staticmethod
    def _models_summary(cur: sqlite3.Cursor) -> ModelsSummary:
        rows = cur.execute(
            "SELECT m.model_name, m.training_status, m.accuracy, m.confidence, m.n_samples, "
            "m.ts, c.updates FROM model_updates AS m JOIN (SELECT model_name, MAX(id) AS last_id, "
            "COUNT(*) AS updates FROM model_updates GROUP BY model_name) AS c "
            "ON m.id = c.last_id ORDER BY m.model_name"
        ).fetchall()
        models = {
            str(name): ModelStatusSummary(
                training_status=str(status),
                accuracy=float(accuracy),
                confidence=None if confidence is None else float(confidence),
                n_samples=int(n_samples),
                updated_at=float(ts),
                updates=int(updates),
            )
            for name, status, accuracy, confidence, n_samples, ts, updates in rows
        }
        return ModelsSummary(
            total_updates=sum(m["updates"] for m in models.values()), models=models
        )

    def recent(self, since: float, now: float, window_minutes: float) -> RecentPerformance:
        """Return the performance of the records with ``since < ts <= now``."""
        with self._read() as cur:
            decisions, executed, confidence = cur.execute(
                "SELECT COUNT(*), COALESCE(SUM(executed), 0), COALESCE(AVG(confidence), 0.0) "
                "FROM decisions WHERE ts > ? AND ts <= ?",
                (since, now),
            ).fetchone()
            n, successes, wins, profit, gas, avg_time = cur.execute(
                "SELECT COUNT(*), COALESCE(SUM(success), 0), COALESCE(SUM(net_pnl > 0), 0), "
                "COALESCE(SUM(actual_profit), 0.0), COALESCE(SUM(gas_cost), 0.0), "
                "COALESCE(AVG(execution_time_ms), 0.0) FROM executions WHERE ts > ? AND ts <= ?",
                (since, now),
            ).fetchone()
            opportunities, converted = cur.execute(
                "SELECT COUNT(*), COALESCE(SUM(executed), 0) FROM opportunities "
                "WHERE ts > ? AND ts <= ?",
                (since, now),
            ).fetchone()
        return RecentPerformance(
            window_minutes=window_minutes,
            since=since,
            decisions=int(decisions),
            executed_decisions=int(executed),
            execution_rate=_ratio(executed, decisions),
            avg_confidence=float(confidence),
            executions=int(n),
            successful_executions=int(successes),
            success_rate=_ratio(successes, n),
            win_rate=_ratio(wins, n),
            total_profit=float(profit),
            total_gas_usd=float(gas),
            net_profit_usd=float(profit) - float(gas),
            avg_execution_time_ms=float(avg_time),
            opportunities=int(opportunities),
            conversion_rate=_ratio(converted, opportunities),
        )

    def timeseries(self, max_points: int) -> list[TimeseriesPoint]:
        """Return the executions grouped into at most ``max_points`` consecutive buckets."""
        with self._read() as cur:
            (n,) = cur.execute("SELECT COALESCE(MAX(seq), 0) FROM executions").fetchone()
            size = max(1, -(-int(n) // max_points))
            rows = cur.execute(
                "SELECT e.ts, g.first, g.last, g.cnt, g.wins, g.profit, g.gas, e.cum_net, "
                "e.peak_net FROM (SELECT (seq - 1) / ? AS bucket, MIN(seq) AS first, "
                "MAX(seq) AS last, COUNT(*) AS cnt, SUM(net_pnl > 0) AS wins, "
                "SUM(actual_profit) AS profit, SUM(gas_cost) AS gas FROM executions "
                "GROUP BY bucket) AS g JOIN executions AS e ON e.seq = g.last ORDER BY g.bucket",
                (size,),
            ).fetchall()
        capital = self.starting_capital_usd
        return [
            TimeseriesPoint(
                ts=float(ts),
                first_execution=int(first),
                last_execution=int(last),
                executions=int(cnt),
                net_profit_usd=float(cum_net),
                equity_usd=capital + cum_net,
                drawdown=(peak_net - cum_net) / (capital + peak_net),
                win_rate=_ratio(wins, cnt),
                gas_share=_gas_share(gas, profit),
            )
            for ts, first, last, cnt, wins, profit, gas, cum_net, peak_net in rows
        ]

    def alerts(self, *, active_only: bool, limit: int) -> list[Alert]:
        """Return the newest ``limit`` alerts, newest first."""
        where = "WHERE cleared_at IS NULL " if active_only else ""
        with self._read() as cur:
            rows = cur.execute(
                f"SELECT {_ALERT_COLUMNS} FROM alerts {where}ORDER BY id DESC LIMIT ?", (limit,)
            ).fetchall()
        return [alert for row in rows if (alert := _alert_from_row(row)) is not None]

    def counts(self) -> dict[str, int]:
        """Return the number of rows of each record table."""
        with self._read() as cur:
            return {
                table: int(cur.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
                for table in ("decisions", "executions", "opportunities", "model_updates", "alerts")
            }
