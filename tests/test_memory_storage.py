"""Storage discipline: migrations from version 1, two processes on one file, retention, growth."""

from __future__ import annotations

import itertools
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agentsmall.errors import MemoryStoreError
from agentsmall.memory import SCHEMA_VERSION, Memory, Retention, StepRecord
from agentsmall.memory import _store as store_module

REPO = Path(__file__).resolve().parent.parent

# The schema agentsmall 0.1 (schema version 1) wrote, as SQLite printed it.
V1_SCHEMA = """
CREATE TABLE "sessions" ("id" TEXT PRIMARY KEY, "agent" TEXT NOT NULL, "model" TEXT NOT NULL,
   "created_at" REAL NOT NULL, "last_used_at" REAL NOT NULL);
CREATE TABLE "runs" ("id" INTEGER PRIMARY KEY,
   "session_id" TEXT NOT NULL REFERENCES "sessions"("id"), "task" TEXT NOT NULL,
   "status" TEXT NOT NULL DEFAULT 'running', "output" TEXT, "started_at" REAL NOT NULL,
   "finished_at" REAL);
CREATE TABLE "messages" ("id" INTEGER PRIMARY KEY,
   "session_id" TEXT NOT NULL REFERENCES "sessions"("id"),
   "run_id" INTEGER NOT NULL REFERENCES "runs"("id"), "role" TEXT NOT NULL,
   "content" TEXT NOT NULL, "created_at" REAL NOT NULL);
CREATE TABLE "steps" ("id" INTEGER PRIMARY KEY,
   "session_id" TEXT NOT NULL REFERENCES "sessions"("id"),
   "run_id" INTEGER NOT NULL REFERENCES "runs"("id"), "step" INTEGER NOT NULL,
   "call_index" INTEGER NOT NULL, "tool" TEXT, "arguments" TEXT, "result" TEXT, "error" TEXT,
   "raw_output" TEXT NOT NULL, "model" TEXT NOT NULL, "prompt_tokens" INTEGER NOT NULL,
   "output_tokens" INTEGER NOT NULL, "started_at" REAL NOT NULL, "seconds" REAL NOT NULL);
CREATE INDEX "idx_runs_session_id" ON "runs" ("session_id");
CREATE INDEX "idx_messages_session_id" ON "messages" ("session_id");
CREATE INDEX "idx_messages_run_id" ON "messages" ("run_id");
CREATE INDEX "idx_steps_session_id" ON "steps" ("session_id");
CREATE INDEX "idx_steps_run_id" ON "steps" ("run_id");
INSERT INTO sessions VALUES ('old', 'helper', 'tiny', 1700000000.0, 1700000000.0);
INSERT INTO runs VALUES (1, 'old', 'add 1 and 2', 'completed', '3', 1700000000.0, 1700000001.0);
INSERT INTO messages VALUES (1, 'old', 1, 'user', 'add 1 and 2', 1700000000.0);
INSERT INTO steps VALUES (1, 'old', 1, 1, 0, 'add', '{"a": 1, "b": 2}', '3', NULL, '[]', 'tiny',
   10, 5, 1700000000.0, 0.1);
PRAGMA application_id = 1634169709;
PRAGMA user_version = 1;
"""


def make_v1(path: Path) -> None:
    raw = sqlite3.connect(path)
    raw.executescript(V1_SCHEMA)
    raw.execute("PRAGMA journal_mode = WAL")  # as agentsmall left it
    raw.close()


def test_a_version_1_file_is_upgraded_and_keeps_its_data(tmp_path: Path) -> None:
    db = tmp_path / "v1.db"
    make_v1(db)
    with Memory(db) as mem:
        [step] = mem.steps("old")
        assert (step["tool"], step["arguments"], step["result"]) == ("add", {"a": 1, "b": 2}, 3)
        assert mem.runs("old")[0]["output"] == "3"
        fact = mem.remember("Upgraded files take facts.")
        assert [f.id for f in mem.recall("upgraded facts")] == [fact]
    with sqlite3.connect(db) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 4
        columns = {r[1] for r in raw.execute("PRAGMA table_info(messages)")}
        assert "step" in columns


def _read_only(target: str, timeout: float) -> sqlite3.Connection:
    uri = f"{Path(target).as_uri()}?mode=ro"
    return sqlite3.connect(uri, uri=True, timeout=timeout, check_same_thread=False)


def test_a_read_only_version_1_file_is_refused_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "v1.db"
    make_v1(db)
    before = db.read_bytes()
    monkeypatch.setattr(store_module, "_connect", _read_only)
    with pytest.raises(MemoryStoreError, match=r"read-only.*upgrade it from schema version 1 to 4"):
        Memory(db)
    assert db.read_bytes() == before


def test_a_locked_version_1_file_is_refused_untouched(tmp_path: Path) -> None:
    db = tmp_path / "v1.db"
    make_v1(db)
    locker = sqlite3.connect(db, isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")
    try:
        before = db.read_bytes()
        with pytest.raises(MemoryStoreError, match="locked by another process"):
            Memory(db, busy_timeout=0.1)
        assert db.read_bytes() == before
    finally:
        locker.close()
    with sqlite3.connect(db) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == 1


WRITER = r"""
import sys, time
from pathlib import Path
from agentsmall.memory import Memory, StepRecord
db, name, n, barrier = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
mem = Memory(db, busy_timeout=30)
sid = mem.start_session(session_id=name, agent=name, model="m")
rid = mem.start_run(session_id=sid, task="write")
(barrier / name).touch()
while len(list(barrier.iterdir())) < 2:  # both start writing at the same moment
    time.sleep(0.001)
for i in range(n):
    mem.add_step(StepRecord(sid, rid, i + 1, 0, "t", {"i": i}, i, None, "[]", "m", 1, 1, 0.0, 0.0))
    if i % 10 == 0:
        mem.remember(f"{name} fact {i}", scope="agent", owner=name)
    if i == 0:  # a loaded machine may run one writer to the end first: make them overlap
        (barrier / f"{name}.first").touch()
        while len(list(barrier.glob("*.first"))) < 2:
            time.sleep(0.001)
mem.close()
"""


def test_two_processes_writing_one_file_lose_nothing(tmp_path: Path) -> None:
    db = tmp_path / "shared.db"
    Memory(db).close()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    n = 150
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(db), name, str(n), str(barrier)],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("alpha", "beta")
    ]
    for proc in procs:
        _, stderr = proc.communicate(timeout=180)
        assert proc.returncode == 0, stderr
    with Memory(db) as mem:
        for name in ("alpha", "beta"):
            assert [s["arguments"]["i"] for s in mem.steps(name)] == list(range(n))
            assert len(mem.facts(agent=name)) == n // 10
        ids = [s["id"] for name in ("alpha", "beta") for s in mem.steps(name)]
        assert len(set(ids)) == 2 * n
        # They really interleaved: neither wrote all its steps before the other began.
        alpha = [s["id"] for s in mem.steps("alpha")]
        beta = [s["id"] for s in mem.steps("beta")]
        assert min(beta) < max(alpha) and min(alpha) < max(beta)


def fill(mem: Memory, sessions: int) -> list[str]:
    ids = []
    for n in range(sessions):
        sid = mem.start_session(session_id=f"s{n}", agent="a", model="m")
        rid = mem.start_run(session_id=sid, task="t")
        mem.add_message(session_id=sid, run_id=rid, role="user", content="t")
        mem.add_step(StepRecord(sid, rid, 1, 0, "t", {}, n, None, "[]", "m", 1, 1, 0.0, 0.0))
        mem.remember(f"session {n} fact", scope="session", owner=sid)
        ids.append(sid)
        time.sleep(0.002)
    return ids


def test_prune_keeps_the_last_sessions_and_whole_records(tmp_path: Path) -> None:
    with Memory(tmp_path / "m.db") as mem:
        global_fact = mem.remember("kept forever")
        ids = fill(mem, 5)
        dry = mem.prune(Retention(keep_sessions=2), dry_run=True)
        assert dry.sessions == ids[:3] and len(mem.sessions()) == 5
        report = mem.prune(Retention(keep_sessions=2))
        assert report.sessions == ids[:3]
        assert (report.runs, report.messages, report.steps, report.facts) == (3, 3, 3, 3)
        assert [s["id"] for s in mem.sessions()] == ids[:2:-1]
        assert [f.id for f in mem.facts()] == [global_fact]
        for gone in ids[:3]:
            assert mem.steps(gone) == [] and mem.messages(gone) == []


def test_prune_by_age_and_stored_policy_spares_the_running_session(tmp_path: Path) -> None:
    with Memory(tmp_path / "m.db") as mem:
        ids = fill(mem, 3)
        later = time.time() + 10 * 86400
        assert mem.prune(Retention(keep_days=30), now=later).sessions == []
        assert mem.prune(Retention(keep_days=5), now=later, spare=ids[0]).sessions == ids[1:]
        assert mem.retention() == Retention()
        mem.set_retention(Retention(keep_sessions=1))
        fill(mem, 0)
    with Memory(tmp_path / "m.db") as mem:
        assert mem.retention() == Retention(keep_sessions=1)
        mem.start_session(session_id="new", agent="a", model="m")
        assert mem.prune(spare="s0").sessions == []  # "new" is the last used, s0 spared
        assert {s["id"] for s in mem.sessions()} == {"new", "s0"}


def test_bad_retention_values_are_refused() -> None:
    with pytest.raises(ValueError, match="keep_sessions"):
        Retention(keep_sessions=0)
    with pytest.raises(ValueError, match="keep_days"):
        Retention(keep_days=-1)


def test_the_file_grows_linearly_with_steps(tmp_path: Path) -> None:
    """Appending steps adds about the same bytes each time: no snapshots, no rewrites."""
    db = tmp_path / "m.db"
    sizes = []
    with Memory(db) as mem:
        sid = mem.start_session(agent="a", model="m")
        rid = mem.start_run(session_id=sid, task="t")
        step = 0
        for _ in range(3):
            for _ in range(400):
                step += 1
                mem.add_step(
                    StepRecord(sid, rid, step, 0, "multiply", {"a": step, "b": 7}, step * 7,
                               None, '[{"tool": "multiply"}]', "m", 100, 10, 0.0, 0.01)
                )  # fmt: skip
            mem._live().execute("PRAGMA wal_checkpoint(TRUNCATE)")
            sizes.append(db.stat().st_size)
    growth = [b - a for a, b in itertools.pairwise(sizes)]
    assert all(g < 400 * 300 for g in growth), growth  # under 300 bytes a step
    assert max(growth) <= 1.5 * min(growth), growth
