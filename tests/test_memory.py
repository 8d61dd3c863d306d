"""Tests of the SQLite memory, on real database files.

The point of the memory is that nothing recorded is lost and nothing that is not ours is ever
damaged, so most tests look at the file itself: through a second connection, a new Memory, a
killed process, and its raw bytes after a refused open.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import platformdirs
import pytest

from agentsmall.errors import MemoryStoreError
from agentsmall.memory import DEFAULT_DB_ENV, Memory, StepRecord, default_db_path
from agentsmall.memory import _store as memory_module

REPO_ROOT = Path(memory_module.__file__).resolve().parents[2]


def make_step(
    session_id: str, run_id: int, step: int = 1, call_index: int = 0, **overrides: Any
) -> StepRecord:
    """A plausible step record; tests override only the fields they are about."""
    values: dict[str, Any] = {
        "session_id": session_id,
        "run_id": run_id,
        "step": step,
        "call_index": call_index,
        "tool": "add",
        "arguments": {"a": 1, "b": 2},
        "result": 3,
        "error": None,
        "raw_output": '{"tool": "add", "arguments": {"a": 1, "b": 2}}',
        "model": "tiny-model",
        "prompt_tokens": 120,
        "output_tokens": 17,
        "started_at": 1_700_000_000.5,
        "seconds": 0.25,
    }
    values.update(overrides)
    return StepRecord(**values)


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file in a folder with its bytes, to prove a refused open changed nothing."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "memory.db"


@pytest.fixture
def filled(db_path: Path) -> tuple[Path, str, int]:
    """A closed memory file holding one session with one run and one step."""
    with Memory(db_path) as mem:
        sid = mem.start_session(agent="helper", model="tiny-model")
        rid = mem.start_run(session_id=sid, task="add 1 and 2")
        mem.add_step(make_step(sid, rid))
    return db_path, sid, rid


# -- round trip ------------------------------------------------------------------------------


def test_round_trip(db_path: Path) -> None:
    with Memory(db_path) as mem:
        assert mem.path == db_path
        sid = mem.start_session(agent="helper", model="tiny-model")
        assert len(sid) == 32 and int(sid, 16) >= 0  # uuid4().hex
        rid = mem.start_run(session_id=sid, task="add 1 and 2, then say hé")
        m1 = mem.add_message(session_id=sid, run_id=rid, role="user", content="add 1 and 2")
        m2 = mem.add_message(session_id=sid, run_id=rid, role="assistant", content="3 ✓")
        first = make_step(sid, rid, 1, 0, result={"sum": 3, "parts": [1, 2], "note": "ünï"})
        second = make_step(sid, rid, 1, 1, tool="echo", arguments={}, result="3")
        cut = make_step(
            sid, rid, 2, 0, tool=None, arguments=None, result=None, error="output cut off"
        )
        ids = [mem.add_step(first), mem.add_step(second), mem.add_step(cut)]
        assert ids == sorted(ids)
        mem.finish_run(rid, status="completed", output="The sum is 3.")

        [session] = mem.sessions()
        assert session["id"] == sid
        assert session["agent"] == "helper"
        assert session["model"] == "tiny-model"
        assert session["run_count"] == 1
        assert session["step_count"] == 3
        assert session["message_count"] == 2
        assert session["created_at"] <= session["last_used_at"]

        [run] = mem.runs(sid)
        assert run["id"] == rid
        assert run["task"] == "add 1 and 2, then say hé"
        assert run["status"] == "completed"
        assert run["output"] == "The sum is 3."
        assert run["started_at"] <= run["finished_at"]
        assert run["step_count"] == 3

        assert [(m["id"], m["role"], m["content"]) for m in mem.messages(sid)] == [
            (m1, "user", "add 1 and 2"),
            (m2, "assistant", "3 ✓"),
        ]

        steps = mem.steps(sid)
        assert [s["id"] for s in steps] == ids
        for row, record in zip(steps, [first, second, cut], strict=True):
            assert {k: v for k, v in row.items() if k != "id"} == vars(record)
        assert mem.steps(sid, rid) == steps
        assert mem.steps(sid, rid + 1) == []
        assert mem.steps("no-such-session") == []


def test_json_values_keep_their_type(db_path: Path) -> None:
    """A string result stays a string (not parsed as JSON), and None stays SQL NULL."""
    with Memory(db_path) as mem:
        sid = mem.start_session(agent="a", model="m")
        rid = mem.start_run(session_id=sid, task="t")
        results: list[Any] = ["[1, 2]", "", 0, 1.5, False, None, [], {"k": [None, "x"]}]
        for i, value in enumerate(results):
            mem.add_step(make_step(sid, rid, 1, i, result=value))
        assert [s["result"] for s in mem.steps(sid)] == results
    with sqlite3.connect(db_path) as raw:
        stored = [row[0] for row in raw.execute("SELECT result FROM steps ORDER BY id")]
    assert stored[0] == '"[1, 2]"'
    assert stored[5] is None


def test_step_that_is_not_json_able_is_refused_and_not_written(db_path: Path) -> None:
    with Memory(db_path) as mem:
        sid = mem.start_session(agent="a", model="m")
        rid = mem.start_run(session_id=sid, task="t")
        with pytest.raises(MemoryStoreError, match=r"result \(object\) is not JSON-able"):
            mem.add_step(make_step(sid, rid, result=object()))
        assert mem.steps(sid) == []


def test_existing_session_is_reused_and_only_last_used_changes(db_path: Path) -> None:
    with Memory(db_path) as mem:
        sid = mem.start_session(session_id="my-session", agent="helper", model="model-a")
        assert sid == "my-session"
        [before] = mem.sessions()
        time.sleep(0.02)
        assert mem.start_session(session_id=sid, agent="other", model="model-b") == sid
        [after] = mem.sessions()
        assert after["last_used_at"] > before["last_used_at"]
        assert {k: v for k, v in after.items() if k != "last_used_at"} == {
            k: v for k, v in before.items() if k != "last_used_at"
        }


def test_sessions_most_recently_used_first(db_path: Path) -> None:
    with Memory(db_path) as mem:
        old = mem.start_session(agent="a", model="m")
        new = mem.start_session(agent="a", model="m")
        assert [s["id"] for s in mem.sessions()] == [new, old]
        time.sleep(0.02)  # coarse clocks (Windows) would otherwise tie
        mem.start_session(session_id=old, agent="a", model="m")
        assert [s["id"] for s in mem.sessions()] == [old, new]


def test_runs_and_steps_are_ordered(db_path: Path) -> None:
    with Memory(db_path) as mem:
        sid = mem.start_session(agent="a", model="m")
        r1 = mem.start_run(session_id=sid, task="first")
        r2 = mem.start_run(session_id=sid, task="second")
        mem.add_step(make_step(sid, r2, 1, 0))
        mem.add_step(make_step(sid, r1, 2, 0))
        mem.add_step(make_step(sid, r1, 1, 1))
        mem.add_step(make_step(sid, r1, 1, 0))
        assert [r["task"] for r in mem.runs(sid)] == ["first", "second"]
        assert [r["step_count"] for r in mem.runs(sid)] == [3, 1]
        assert [r["status"] for r in mem.runs(sid)] == ["running", "running"]
        order = [(s["run_id"], s["step"], s["call_index"]) for s in mem.steps(sid)]
        assert order == [(r1, 1, 0), (r1, 1, 1), (r1, 2, 0), (r2, 1, 0)]
        assert len(mem.steps(sid, r1)) == 3


def test_in_memory_database() -> None:
    with Memory(":memory:") as mem:
        assert mem.path is None
        sid = mem.start_session(agent="a", model="m")
        rid = mem.start_run(session_id=sid, task="t")
        mem.add_step(make_step(sid, rid))
        assert len(mem.steps(sid)) == 1


# -- misuse ----------------------------------------------------------------------------------


def test_unknown_ids_are_refused(db_path: Path) -> None:
    with Memory(db_path) as mem:
        sid = mem.start_session(agent="a", model="m")
        other = mem.start_session(agent="a", model="m")
        rid = mem.start_run(session_id=sid, task="t")
        with pytest.raises(MemoryStoreError, match="Session 'nope' does not exist"):
            mem.start_run(session_id="nope", task="t")
        with pytest.raises(MemoryStoreError, match=f"Run {rid + 1} does not exist"):
            mem.add_message(session_id=sid, run_id=rid + 1, role="user", content="x")
        with pytest.raises(MemoryStoreError, match=f"Run {rid} belongs to session"):
            mem.add_step(make_step(other, rid))
        with pytest.raises(MemoryStoreError, match=f"Run {rid + 1} does not exist"):
            mem.finish_run(rid + 1, status="completed", output=None)
        with pytest.raises(MemoryStoreError, match="must not be empty"):
            mem.start_session(session_id=" ", agent="a", model="m")
        with pytest.raises(ValueError, match="status must be one of"):
            mem.finish_run(rid, status="done", output=None)
        # Nothing half-written, and the connection is still usable after the errors.
        assert mem.steps(other) == [] and mem.messages(sid) == []
        assert [r["status"] for r in mem.runs(sid)] == ["running"]
        mem.finish_run(rid, status="interrupted", output=None)
        assert mem.runs(sid)[0]["status"] == "interrupted"


def test_closed_memory_says_so(db_path: Path) -> None:
    mem = Memory(db_path)
    with mem:
        pass
    mem.close()  # closing twice is fine
    with pytest.raises(MemoryStoreError, match="already closed"):
        mem.sessions()
    with pytest.raises(MemoryStoreError, match="already closed"):
        mem.start_session(agent="a", model="m")


# -- durability ------------------------------------------------------------------------------


def test_each_write_is_committed_at_once(db_path: Path) -> None:
    """A second connection sees every record while the writing Memory is still open."""
    mem = Memory(db_path)
    raw = sqlite3.connect(db_path)

    def count(table: str) -> int:
        return int(raw.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])

    sid = mem.start_session(agent="a", model="m")
    assert count("sessions") == 1
    rid = mem.start_run(session_id=sid, task="t")
    assert count("runs") == 1
    mem.add_message(session_id=sid, run_id=rid, role="user", content="hi")
    assert count("messages") == 1
    mem.add_step(make_step(sid, rid, 1, 0))
    assert count("steps") == 1
    mem.add_step(make_step(sid, rid, 2, 0))
    assert count("steps") == 2
    mem.finish_run(rid, status="max_steps", output=None)
    assert raw.execute("SELECT status FROM runs").fetchone()[0] == "max_steps"

    with Memory(db_path) as second:  # a new Memory, while the first one is still open
        assert [s["step"] for s in second.steps(sid)] == [1, 2]
    raw.close()
    mem.close()
    with Memory(db_path) as reopened:
        assert reopened.sessions()[0]["step_count"] == 2
        assert reopened.messages(sid)[0]["content"] == "hi"


def test_killed_process_loses_nothing(db_path: Path) -> None:
    script = """
import os, signal, sys
from agentsmall.memory import Memory, StepRecord

mem = Memory(sys.argv[1])
sid = mem.start_session(agent="a", model="m")
rid = mem.start_run(session_id=sid, task="t")
for step in (1, 2):
    mem.add_step(StepRecord(sid, rid, step, 0, "add", {"a": step}, step + 1, None, "{}", "m",
                            10, 5, 1.0, 0.5))
print(sid, rid, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, "-c", script, str(db_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    sid, rid = proc.stdout.split()

    with sqlite3.connect(db_path) as raw:
        rows = raw.execute("SELECT step, arguments, result FROM steps ORDER BY id").fetchall()
    assert rows == [(1, '{"a": 1}', "2"), (2, '{"a": 2}', "3")]
    with Memory(db_path) as mem:
        assert [(s["step"], s["arguments"], s["result"]) for s in mem.steps(sid)] == [
            (1, {"a": 1}, 2),
            (2, {"a": 2}, 3),
        ]
        assert mem.runs(sid)[0]["id"] == int(rid)
        assert mem.runs(sid)[0]["status"] == "running"  # never finished


def test_writes_from_other_threads(db_path: Path) -> None:
    """The agent may write from an asyncio loop thread, several at a time."""
    with Memory(db_path) as mem:
        sid = mem.start_session(agent="a", model="m")
        rid = mem.start_run(session_id=sid, task="t")
        errors: list[BaseException] = []

        def write(step: int) -> None:
            try:
                for call in range(10):
                    mem.add_step(make_step(sid, rid, step, call))
                    mem.steps(sid, rid)
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=write, args=(n,)) for n in range(1, 9)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        steps = mem.steps(sid)
        assert len(steps) == 80
        assert [(s["step"], s["call_index"]) for s in steps] == [
            (step, call) for step in range(1, 9) for call in range(10)
        ]


def test_two_memories_on_one_file_interleave(db_path: Path) -> None:
    """Two agents sharing a file (two processes in real life) both get every write in."""
    with Memory(db_path) as one, Memory(db_path) as two:
        s1 = one.start_session(agent="a", model="m")
        s2 = two.start_session(agent="b", model="m")
        r1 = one.start_run(session_id=s1, task="t")
        r2 = two.start_run(session_id=s2, task="t")
        for step in range(1, 6):
            one.add_step(make_step(s1, r1, step))
            two.add_step(make_step(s2, r2, step))
        assert len(two.steps(s1)) == len(one.steps(s2)) == 5


# -- opening ---------------------------------------------------------------------------------


def test_connection_settings(db_path: Path) -> None:
    with Memory(db_path):
        pass
    with sqlite3.connect(db_path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert raw.execute("PRAGMA user_version").fetchone()[0] == Memory.SCHEMA_VERSION
        tables = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        indexes = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert {"sessions", "runs", "messages", "steps"} <= tables
    assert {"idx_steps_session_id", "idx_steps_run_id", "idx_runs_session_id"} <= indexes
    with Memory(db_path) as mem:
        conn = mem._live()
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    with Memory(db_path, busy_timeout=0.25) as mem:
        assert mem._live().execute("PRAGMA busy_timeout").fetchone()[0] == 250


def test_default_path_honours_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    target = tmp_path / "from-env" / "agent.db"
    monkeypatch.setenv(DEFAULT_DB_ENV, str(target))
    assert default_db_path() == target
    with Memory() as mem:
        assert mem.path == target
        mem.start_session(agent="a", model="m")
    assert target.is_file()  # parent folder created


def test_default_path_uses_platformdirs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(DEFAULT_DB_ENV, raising=False)
    assert default_db_path() == Path(platformdirs.user_data_dir("agentsmall")) / "memory.db"
    monkeypatch.setenv(DEFAULT_DB_ENV, "")  # empty counts as unset
    assert default_db_path() == Path(platformdirs.user_data_dir("agentsmall")) / "memory.db"

    calls: list[str] = []

    def fake_user_data_dir(appname: str) -> str:
        calls.append(appname)
        return str(tmp_path / "data" / appname)

    monkeypatch.setattr(platformdirs, "user_data_dir", fake_user_data_dir)
    with Memory() as mem:
        assert mem.path == tmp_path / "data" / "agentsmall" / "memory.db"
    assert calls == ["agentsmall"]
    assert (tmp_path / "data" / "agentsmall" / "memory.db").is_file()


def test_empty_file_becomes_a_memory(db_path: Path) -> None:
    db_path.touch()
    with Memory(db_path) as mem:
        mem.start_session(agent="a", model="m")
        assert len(mem.sessions()) == 1


# -- bad input: refused with a clear message, the file untouched -------------------------------


def assert_refused(
    path: Path, folder: Path, match: str, *, opener: Callable[[], object] | None = None
) -> MemoryStoreError:
    """Opening ``path`` raises MemoryStoreError matching ``match`` and changes no file."""
    before = snapshot(folder)
    with pytest.raises(MemoryStoreError, match=match) as info:
        (opener or (lambda: Memory(path)))()
    assert snapshot(folder) == before
    assert str(path) in str(info.value)
    return info.value


def test_directory_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "a-folder"
    folder.mkdir()
    (folder / "keep.txt").write_text("keep me")
    assert_refused(folder, folder, "is not an agentsmall memory database.*directory")


def test_uncreatable_parent_is_refused(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where a folder should be")
    path = blocker / "sub" / "memory.db"
    assert_refused(path, tmp_path, "Cannot create the folder")
    assert blocker.read_text() == "a file where a folder should be"


@pytest.mark.parametrize(
    "content",
    [
        b"just some notes\nnot a database\n" * 50,
        os.urandom(8192),
        b"SQLite format 3\x00" + os.urandom(8192),  # the right header, garbage after it
    ],
    ids=["text", "random", "sqlite-header-then-garbage"],
)
def test_non_sqlite_file_is_refused(db_path: Path, content: bytes) -> None:
    db_path.write_bytes(content)
    assert_refused(db_path, db_path.parent, "is not an agentsmall memory database")
    assert db_path.read_bytes() == content


def test_other_programs_sqlite_database_is_refused(db_path: Path) -> None:
    with sqlite3.connect(db_path) as raw:
        raw.execute("CREATE TABLE notes (body TEXT)")
        raw.execute("INSERT INTO notes VALUES ('mine')")
    raw.close()
    assert_refused(
        db_path, db_path.parent, "not an agentsmall memory database.*other tables: notes"
    )

    with sqlite3.connect(db_path) as raw:
        raw.execute("PRAGMA application_id = 1234")
        raw.execute("DROP TABLE notes")
    raw.close()
    assert_refused(db_path, db_path.parent, "not an agentsmall memory database.*another program")


def test_newer_schema_is_refused(filled: tuple[Path, str, int]) -> None:
    db_path, _, _ = filled
    raw = sqlite3.connect(db_path)
    raw.execute(f"PRAGMA user_version = {Memory.SCHEMA_VERSION + 1}")
    raw.close()
    assert_refused(db_path, db_path.parent, "written by a newer agentsmall")


def test_bare_database_with_newer_version_is_refused(db_path: Path) -> None:
    raw = sqlite3.connect(db_path)
    raw.execute("PRAGMA user_version = 7")
    raw.close()
    assert_refused(db_path, db_path.parent, r"newer agentsmall \(schema version 7")


def _read_only_connect(target: str, timeout: float) -> sqlite3.Connection:
    """A genuinely read-only connection, as SQLite makes for a file it may not write.

    Tests run as root, where chmod 444 does not stop writes; opening with ``mode=ro`` makes
    SQLite itself refuse every write with "attempt to write a readonly database", which is
    exactly what a user's read-only file produces.
    """
    uri = f"{Path(target).as_uri()}?mode=ro"
    return sqlite3.connect(uri, uri=True, timeout=timeout, check_same_thread=False)


def test_read_only_database_reads_but_refuses_writes(
    filled: tuple[Path, str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    db_path, sid, rid = filled
    monkeypatch.setattr(memory_module, "_connect", _read_only_connect)
    before = db_path.read_bytes()
    with Memory(db_path) as mem:
        assert len(mem.steps(sid)) == 1  # what is there can still be read
        with pytest.raises(MemoryStoreError, match="is read-only") as info:
            mem.start_session(agent="a", model="m")
        assert str(db_path) in str(info.value)
        with pytest.raises(MemoryStoreError, match="is read-only"):
            mem.add_step(make_step(sid, rid, 2))
    # Only the database itself: reading a WAL database leaves SQLite's -shm/-wal beside it.
    assert db_path.read_bytes() == before


def test_read_only_new_database_is_refused(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db_path.touch()
    monkeypatch.setattr(memory_module, "_connect", _read_only_connect)
    assert_refused(db_path, db_path.parent, "is read-only")


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root may write a chmod 444 file"
)
def test_read_only_file_permissions(filled: tuple[Path, str, int]) -> None:
    db_path, _, _ = filled
    db_path.chmod(0o444)
    before = db_path.read_bytes()
    with Memory(db_path) as mem, pytest.raises(MemoryStoreError, match="is read-only"):
        mem.start_session(agent="a", model="m")
    assert db_path.read_bytes() == before


def test_locked_database_write_times_out(filled: tuple[Path, str, int]) -> None:
    db_path, sid, _ = filled
    locker = sqlite3.connect(db_path, isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")
    try:
        before = db_path.read_bytes()
        with Memory(db_path, busy_timeout=0.2) as mem:
            started = time.monotonic()
            with pytest.raises(MemoryStoreError, match="is locked by another process") as info:
                mem.start_run(session_id=sid, task="t")
            assert time.monotonic() - started >= 0.15
            assert str(db_path) in str(info.value)
            assert db_path.read_bytes() == before
            locker.execute("ROLLBACK")
            mem.start_run(session_id=sid, task="t")  # usable once the lock is gone
            assert len(mem.runs(sid)) == 2
    finally:
        locker.close()


def test_locked_database_open_times_out(db_path: Path) -> None:
    """A new file that another process holds exclusively cannot even be read."""
    locker = sqlite3.connect(db_path, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        assert_refused(
            db_path,
            db_path.parent,
            "is locked by another process",
            opener=lambda: Memory(db_path, busy_timeout=0.1),
        )
    finally:
        locker.close()
