from __future__ import annotations

import itertools
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from arbkit.metrics import MetricsCollector, MetricsConfig, MetricsStoreError

REPO_ROOT = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env


def _rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def test_records_survive_closing_and_reopening(tmp_path: Path) -> None:
    db = tmp_path / "nested" / "metrics.sqlite"
    with MetricsCollector(MetricsConfig(db_path=db)) as m:
        m.record_decision(0.75, 50.0, 100.0, True)
        m.record_execution(True, 95.0, 15.0, 450.0)
        m.record_opportunity(0.8, executed=True)
        m.record_model_update("route_success", 0.62, 0.7)
        before = m.get_summary()
    with MetricsCollector(MetricsConfig(db_path=db)) as again:
        after = again.get_summary()
    for section in ("decisions", "execution", "risk", "opportunities", "models", "alerts"):
        assert after[section] == before[section]  # type: ignore[literal-required]


def test_the_database_is_in_wal_mode_with_full_sync(tmp_path: Path) -> None:
    db = tmp_path / "m.sqlite"
    with MetricsCollector(MetricsConfig(db_path=db)) as m:
        m.record_decision(0.5, 1.0, 1.0, False)
        assert _rows(db, "PRAGMA journal_mode") == [("wal",)]
        conn = m._store._conn  # the collector's own connection
        assert conn.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL


def test_a_file_that_is_not_a_database_gives_a_typed_error(tmp_path: Path) -> None:
    bad = tmp_path / "notes.sqlite"
    bad.write_text("not a database, just some text that is long enough " * 40)
    with pytest.raises(MetricsStoreError, match=r"notes\.sqlite"):
        MetricsCollector(MetricsConfig(db_path=bad))


def test_a_database_of_another_schema_version_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "m.sqlite"
    MetricsCollector(MetricsConfig(db_path=db)).close()
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(MetricsStoreError, match="schema version 99"):
        MetricsCollector(MetricsConfig(db_path=db))


def test_a_write_lock_held_too_long_gives_a_typed_error(tmp_path: Path) -> None:
    db = tmp_path / "m.sqlite"
    m = MetricsCollector(MetricsConfig(db_path=db, busy_timeout_s=0.2))
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process stuck mid-transaction
    started = time.monotonic()
    with pytest.raises(MetricsStoreError, match="write lock"):
        m.record_execution(True, 1.0, 0.5, 1.0)
    assert time.monotonic() - started < 2.0
    other.execute("ROLLBACK")
    other.close()
    m.record_execution(True, 1.0, 0.5, 1.0)  # free again: the write goes through
    assert m.get_summary()["execution"]["total_executions"] == 1
    m.close()


def test_threads_sharing_one_collector_lose_no_record(tmp_path: Path) -> None:
    m = MetricsCollector(MetricsConfig(db_path=tmp_path / "m.sqlite", sqlite_synchronous="NORMAL"))

    def write(k: int) -> None:
        for i in range(50):
            m.record_execution(True, float(k), 1.0, float(i))
            m.record_decision(0.5, 1.0, 1.0, True, source=f"t{k}")

    threads = [threading.Thread(target=write, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    s = m.get_summary()
    assert s["execution"]["total_executions"] == 200
    assert s["decisions"]["total_decisions"] == 200
    assert s["execution"]["net_profit_usd"] == sum(50 * (k - 1.0) for k in range(4))
    m.close()


WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from arbkit.metrics import MetricsCollector, MetricsConfig

    db, source, n, go = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
    m = MetricsCollector(MetricsConfig(db_path=db))
    print("ready", flush=True)
    while not go.exists():
        time.sleep(0.005)
    for i in range(n):
        m.record_execution(i % 3 != 0, float(i % 7), 2.0, float(i), source=source)
        m.record_decision(0.5, float(i), 1.0, True, source=source)
        m.record_opportunity(0.5, executed=i % 2 == 0, source=source)
        print(i, flush=True)
    """
)


def test_two_writer_processes_lose_no_record(tmp_path: Path) -> None:
    db, go, n = tmp_path / "shared.sqlite", tmp_path / "go", 150
    MetricsCollector(MetricsConfig(db_path=db)).close()  # create it, as a runner would
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(db), source, str(n), str(go)],
            stdout=subprocess.PIPE,
            text=True,
            env=_env(),
        )
        for source in ("runner", "aqua")
    ]
    for p in procs:
        assert p.stdout is not None
        assert p.stdout.readline().strip() == "ready"
    go.touch()  # both start writing at once
    for p in procs:
        out, _ = p.communicate(timeout=60)
        assert p.returncode == 0
        assert out.split()[-1] == str(n - 1)
    for table in ("executions", "decisions", "opportunities"):
        counts = dict(_rows(db, f"SELECT source, COUNT(*) FROM {table} GROUP BY source"))
        assert counts == {"runner": n, "aqua": n}, table
    # Each execution's running totals follow the one before it, whichever process wrote it.
    seqs = [s for (s,) in _rows(db, "SELECT seq FROM executions ORDER BY seq")]
    assert seqs == list(range(1, 2 * n + 1))
    [(cum_net, total_net)] = _rows(
        db, "SELECT (SELECT cum_net FROM executions ORDER BY seq DESC LIMIT 1), SUM(net_pnl) "
        "FROM executions",
    )  # fmt: skip
    assert cum_net == total_net
    sources = [s for (s,) in _rows(db, "SELECT source FROM executions ORDER BY seq")]
    switches = sum(a != b for a, b in itertools.pairwise(sources))
    assert switches > 1  # the writers really interleaved
    with MetricsCollector(MetricsConfig(db_path=db)) as m:
        s = m.get_summary()
        assert s["execution"]["total_executions"] == 2 * n
        assert s["opportunities"]["converted"] == n  # 75 per writer
        # exactly-once across processes: at most one active alert per kind
        kinds = [a.kind for a in m.get_active_alerts()]
        assert len(kinds) == len(set(kinds))


KILLED = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from arbkit.metrics import MetricsCollector, MetricsConfig

    m = MetricsCollector(MetricsConfig(db_path=Path(sys.argv[1])))
    i = 0
    while True:
        m.record_execution(True, float(i), 1.0, 1.0, source="killed")
        m.record_decision(0.5, float(i), 1.0, True, source="killed")
        print(i, flush=True)  # only once both calls have returned
        i += 1
    """
)


@pytest.mark.parametrize("kill_after", [25, 160])
def test_a_process_killed_mid_write_keeps_every_committed_record(
    tmp_path: Path, kill_after: int
) -> None:
    db = tmp_path / "killed.sqlite"
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED, str(db)], stdout=subprocess.PIPE, text=True, env=_env()
    )
    assert proc.stdout is not None
    returned: list[int] = []
    deadline = time.monotonic() + 60
    while len(returned) < kill_after and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        returned.append(int(line))
    proc.send_signal(signal.SIGKILL)  # while it is writing the next records
    rest, _ = proc.communicate(timeout=30)
    returned += [int(x) for x in rest.split()]
    assert proc.returncode == -signal.SIGKILL
    assert len(returned) >= kill_after

    assert _rows(db, "PRAGMA integrity_check") == [("ok",)]
    profits = [int(p) for (p,) in _rows(db, "SELECT actual_profit FROM executions ORDER BY seq")]
    edges = [int(e) for (e,) in _rows(db, "SELECT edge_bps FROM decisions ORDER BY id")]
    # every record whose call returned is there, in order and with no gap; the record
    # being written at the kill is either whole or absent
    assert profits == list(range(len(profits)))
    assert edges == list(range(len(edges)))
    assert len(profits) >= returned[-1] + 1
    assert len(edges) >= returned[-1] + 1
    with MetricsCollector(MetricsConfig(db_path=db)) as again:
        s = again.get_summary()
        assert s["execution"]["total_executions"] == len(profits)
        again.record_execution(True, 1.0, 0.5, 1.0)  # and the database takes writes again
        assert again.get_summary()["execution"]["total_executions"] == len(profits) + 1
