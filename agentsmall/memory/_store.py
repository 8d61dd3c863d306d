"""The :class:`Memory` store: opening a file safely, and every read and write of it."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Literal, get_args

import platformdirs
from sqlite_utils import Database
from sqlite_utils.db import NotFoundError

from agentsmall.errors import MemoryStoreError
from agentsmall.memory import _escalations, _facts, _retention
from agentsmall.memory._escalations import EscalationRecord
from agentsmall.memory._facts import Fact, FactScope
from agentsmall.memory._retention import PruneReport, Retention
from agentsmall.memory._schema import SCHEMA_VERSION as _SCHEMA_VERSION
from agentsmall.memory._schema import migrate

__all__ = [
    "DEFAULT_DB_ENV",
    "RUN_STATUSES",
    "Memory",
    "RunStatus",
    "StepRecord",
    "default_db_path",
]

DEFAULT_DB_ENV: Final = "AGENTSMALL_DB"
"""Environment variable that overrides where the memory database lives."""

RunStatus = Literal["completed", "max_steps", "error", "interrupted"]
"""How a run ended; a run that has not ended (or whose process died) stays ``"running"``."""

RUN_STATUSES: Final[tuple[str, ...]] = get_args(RunStatus)

_SQLITE_MAGIC: Final = b"SQLite format 3\x00"
# PRAGMA application_id marks the file as ours, so that another program's SQLite database is
# never mistaken for an empty memory and filled with our tables. The value spells "agsm".
_APPLICATION_ID: Final = 0x6167736D
_UNREADABLE: Final = ("file is not a database", "database disk image is malformed")
_HOST: Final = socket.gethostname()


def default_db_path() -> Path:
    """Where the memory lives when no path is given: ``$AGENTSMALL_DB``, else the user data dir.

    The environment variable comes first so that tests, CI and users with several projects can
    keep separate memories without passing a path through every layer.
    """
    override = os.environ.get(DEFAULT_DB_ENV, "").strip()
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_data_dir("agentsmall")) / "memory.db"


@dataclass(frozen=True)
class StepRecord:
    """One tool call (or one failed generation) of a planner step, as it is written to disk.

    A planner step may emit several calls; each becomes its own record, told apart by
    ``call_index``, so that a crash between two calls still leaves the first one recorded.
    """

    session_id: str
    run_id: int
    step: int
    """Planner step number within the run, 1-based."""
    call_index: int
    """0-based index of the call within that planner step."""
    tool: str | None
    """None when the step produced no valid call (e.g. the output was cut off)."""
    arguments: dict[str, Any] | None
    result: Any
    """JSON-able value the tool returned."""
    error: str | None
    raw_output: str
    """The model's constrained output text for this planner step."""
    model: str
    prompt_tokens: int
    """Tokens in the prompt of that planner step."""
    output_tokens: int
    started_at: float
    """``time.time()`` when the call started."""
    seconds: float
    """Wall time of the tool call (or of the failed generation)."""
    thinking: str | None = None
    """What a thinking model wrote freely before the constrained output (never re-prompted)."""


def _connect(target: str, timeout: float) -> sqlite3.Connection:
    """Open the connection; a seam of its own so tests can substitute a read-only connection.

    ``check_same_thread=False`` because the agent may write from an asyncio loop thread other
    than the one that created the :class:`Memory`; :class:`Memory` serialises access itself.
    """
    return sqlite3.connect(target, timeout=timeout, check_same_thread=False)


def _to_json(value: Any, field: str) -> str | None:
    """Encode a value for a JSON column; None stays SQL NULL so it can be queried as such.

    A value that is not JSON-able is refused before anything is written, rather than stored in
    a lossy form (``repr``) that could not be decoded back into what the tool returned.
    """
    if value is None:
        return None
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise MemoryStoreError(
            f"Cannot record the step: its {field} ({type(value).__name__}) is not JSON-able: {exc}"
        ) from exc


def _from_json(text: str | None) -> Any:
    """Decode a JSON column written by :func:`_to_json`."""
    return None if text is None else json.loads(text)


class Memory:
    """The SQLite store of sessions, runs, messages and steps.

    Every write is committed before the method returns, so whatever a method has recorded
    survives the process being killed right after. One connection is shared by all threads and
    guarded by a lock, so the agent may write from whichever thread runs its loop.
    """

    SCHEMA_VERSION: Final = _SCHEMA_VERSION

    path: Path | None
    """The database file, or None for an in-memory database (``":memory:"``, for tests)."""

    def __init__(
        self, path: str | os.PathLike[str] | None = None, *, busy_timeout: float = 5.0
    ) -> None:
        """Open (creating if needed) the memory database at ``path``.

        ``path`` None means :func:`default_db_path`. ``busy_timeout`` is how many seconds a
        write waits for another process (another agent on the same file) to release its lock
        before giving up with a :class:`MemoryStoreError`.
        """
        self._lock = threading.RLock()
        self._busy_timeout = busy_timeout
        if path is None:
            path = default_db_path()
        if os.fspath(path) == ":memory:":
            self.path = None
            target = ":memory:"
        else:
            self.path = Path(path).expanduser()
            self._check_file(self.path)
            target = str(self.path)
        try:
            conn = _connect(target, busy_timeout)
        except sqlite3.Error as exc:
            raise self._store_error(exc, "open it") from exc
        self._conn: sqlite3.Connection | None = conn
        try:
            self._db = Database(conn)
            self._prepare()
        except BaseException as exc:
            conn.close()
            self._conn = None
            if isinstance(exc, sqlite3.Error):
                raise self._store_error(exc, "open it") from exc
            raise

    # -- opening ----------------------------------------------------------------------------

    @property
    def _where(self) -> str:
        """The database as named in messages."""
        return str(self.path) if self.path is not None else "the in-memory database"

    def _not_ours(self, why: str) -> MemoryStoreError:
        """The error for a path that holds something other than an agentsmall memory."""
        return MemoryStoreError(
            f"{self._where} is not an agentsmall memory database ({why}). It was left "
            f"untouched; point {DEFAULT_DB_ENV} (or the memory path) at a new or existing "
            "agentsmall memory file instead."
        )

    def _check_file(self, path: Path) -> None:
        """Refuse a path that cannot be a memory file, without opening it with SQLite.

        SQLite happily "opens" any file and only fails on first read, and it would create
        ``-wal``/``-shm`` files beside it; checking the header ourselves keeps a text file or
        other data from being touched at all.
        """
        if path.is_dir():
            raise self._not_ours("it is a directory")
        if path.exists():
            if not path.is_file():
                raise self._not_ours("it is not a regular file")
            try:
                with path.open("rb") as fh:
                    header = fh.read(len(_SQLITE_MAGIC))
            except OSError as exc:
                raise MemoryStoreError(
                    f"Cannot read the memory database {path}: {exc.strerror or exc}"
                ) from exc
            # An empty file is an empty SQLite database (SQLite itself treats it so).
            if header and header != _SQLITE_MAGIC:
                raise self._not_ours("it is not a SQLite file")
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise MemoryStoreError(
                f"Cannot create the folder {path.parent} for the memory database {path}: "
                f"{exc.strerror or exc}. Choose a path in a writable folder (set "
                f"{DEFAULT_DB_ENV})."
            ) from exc

    def _read_header(self) -> tuple[int, int, list[str]]:
        """application_id, user_version and table names, as seen by the current transaction."""
        conn = self._live()
        app_id = int(conn.execute("PRAGMA application_id").fetchone()[0])
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        return app_id, version, self._db.table_names()

    def _check_ours(self, app_id: int, version: int, tables: list[str]) -> bool:
        """Raise unless the database is ours (or empty) and of a schema this code can read.

        Returns whether the schema is complete and current, i.e. nothing needs to be written.
        """
        if app_id != _APPLICATION_ID and (app_id != 0 or tables):
            raise self._not_ours(
                "it is a SQLite database of another program"
                if app_id
                else f"it is a SQLite database with other tables: {', '.join(sorted(tables))}"
            )
        if version > self.SCHEMA_VERSION:
            raise MemoryStoreError(
                f"The memory database {self._where} was written by a newer agentsmall (schema "
                f"version {version}; this agentsmall reads up to {self.SCHEMA_VERSION}). It was "
                "left untouched; upgrade agentsmall or use another memory file."
            )
        return app_id == _APPLICATION_ID and version == self.SCHEMA_VERSION

    def _prepare(self) -> None:
        """Check what the file holds, then switch on WAL and create or upgrade the schema.

        Every check runs before the first write, so a refused file is never modified. An
        up-to-date file needs no write at all, so a read-only one still opens for reading (and
        fails, clearly, on the first write). An older file is upgraded in one transaction.
        """
        conn = self._live()
        conn.execute("BEGIN")  # one consistent snapshot for the checks
        try:
            current = self._check_ours(*self._read_header())
        finally:
            conn.rollback()
        conn.execute("PRAGMA foreign_keys = ON")
        # FULL: a committed step survives a power cut too, not only a killed process; the cost
        # (one fsync per step) is nothing next to a model generation.
        conn.execute("PRAGMA synchronous = FULL")
        if self.path is not None:
            self._db.enable_wal()
        if current:
            return
        version = self._read_header()[1]
        action = (
            "create its tables"
            if version == 0
            else f"upgrade it from schema version {version} to {self.SCHEMA_VERSION}"
        )
        with self._writing(action):
            # Check again under the write lock: another process may have upgraded it since.
            app_id, version, tables = self._read_header()
            if not self._check_ours(app_id, version, tables):
                migrate(self._db, version)
                conn.execute(f"PRAGMA application_id = {_APPLICATION_ID}")

    # -- plumbing -----------------------------------------------------------------------------

    def _live(self) -> sqlite3.Connection:
        """The open connection; using a closed Memory is a clear error, not an AttributeError."""
        if self._conn is None:
            raise MemoryStoreError(f"The memory database {self._where} is already closed.")
        return self._conn

    def _store_error(self, exc: sqlite3.Error, action: str) -> MemoryStoreError:
        """Turn a sqlite3 error into a message that says what happened and what to do."""
        # sqlite_errorname exists from Python 3.11 on; the texts are the fallback for 3.10.
        name = getattr(exc, "sqlite_errorname", "") or ""
        text = str(exc)
        if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "is locked" in text:
            return MemoryStoreError(
                f"The memory database {self._where} is locked by another process (waited "
                f"{self._busy_timeout:g}s to {action}). Wait for the other agentsmall run to "
                f"finish, or use another memory file ({DEFAULT_DB_ENV})."
            )
        if name.startswith("SQLITE_READONLY") or "readonly database" in text:
            return MemoryStoreError(
                f"The memory database {self._where} is read-only, so agentsmall cannot "
                f"{action}. Make the file and its folder writable, or use another memory file "
                f"({DEFAULT_DB_ENV})."
            )
        if name.startswith(("SQLITE_NOTADB", "SQLITE_CORRUPT")) or text in _UNREADABLE:
            return self._not_ours(f"SQLite cannot read it: {text}")
        if name.startswith("SQLITE_CANTOPEN") or "unable to open" in text:
            return MemoryStoreError(
                f"The memory database {self._where} cannot be opened or created ({text}). Check "
                f"that its folder is writable, or use another memory file ({DEFAULT_DB_ENV})."
            )
        return MemoryStoreError(
            f"The memory database {self._where} failed when agentsmall tried to {action}: {text}"
        )

    @contextmanager
    def _reading(self, action: str) -> Iterator[Database]:
        """Serialise a read with the writes and translate sqlite3 errors."""
        with self._lock:
            self._live()
            try:
                yield self._db
            except sqlite3.Error as exc:
                raise self._store_error(exc, action) from exc

    @contextmanager
    def _writing(self, action: str) -> Iterator[Database]:
        """Run a write as one transaction, committed before the caller goes on.

        ``BEGIN IMMEDIATE`` takes the write lock up front, so waiting for another process obeys
        the busy timeout (a deferred transaction that reads first can fail at once when it
        tries to write). sqlite-utils nests its own transactions inside as savepoints. On
        failure everything is rolled back, leaving the connection usable.
        """
        with self._lock:
            conn = self._live()
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                    conn.execute("COMMIT")
                except BaseException:
                    self._db.rollback()
                    raise
            except sqlite3.Error as exc:
                raise self._store_error(exc, action) from exc

    def _check_run(self, db: Database, session_id: str, run_id: int) -> None:
        """Refuse a run id that does not exist or belongs to another session.

        The foreign keys check each column alone; this catches a run of the wrong session,
        which would silently attach the record to someone else's history.
        """
        row = db.execute("SELECT session_id FROM runs WHERE id = ?", [run_id]).fetchone()
        if row is None:
            raise MemoryStoreError(f"Run {run_id} does not exist in {self._where}.")
        if row[0] != session_id:
            raise MemoryStoreError(
                f"Run {run_id} belongs to session {row[0]!r}, not to session {session_id!r}."
            )

    # -- writing ------------------------------------------------------------------------------

    def start_session(self, *, session_id: str | None = None, agent: str, model: str) -> str:
        """Create a session, or reuse ``session_id`` if it exists, and return its id.

        Reusing an id only touches ``last_used_at``: the agent and model it was created with
        stay as recorded, since the history was produced by those.
        """
        if session_id is None:
            session_id = uuid.uuid4().hex
        elif not session_id.strip():
            raise MemoryStoreError("A session id must not be empty.")
        now = time.time()
        with self._writing("start a session") as db:
            table = db.table("sessions")
            table.insert(
                {
                    "id": session_id,
                    "agent": agent,
                    "model": model,
                    "created_at": now,
                    "last_used_at": now,
                },
                ignore=True,
            )
            table.update(session_id, {"last_used_at": now})
        return session_id

    def start_run(self, *, session_id: str, task: str) -> int:
        """Record the start of a run (one task given to the agent) and return its id."""
        with self._writing("start a run") as db:
            if db.table("sessions").count_where("id = ?", [session_id]) == 0:
                raise MemoryStoreError(
                    f"Session {session_id!r} does not exist in {self._where}; start it first."
                )
            table = db.table("runs")
            table.insert(
                {
                    "session_id": session_id,
                    "task": task,
                    "status": "running",
                    "started_at": time.time(),
                    "pid": os.getpid(),
                    "host": _HOST,
                }
            )
            assert table.last_pk is not None
            return int(table.last_pk)

    def add_message(
        self,
        *,
        session_id: str,
        run_id: int,
        role: str,
        content: str,
        step: int | None = None,
        thinking: str | None = None,
    ) -> int:
        """Record one chat message of a run and return its id.

        ``step`` is the planner step the message belongs to (None for the task itself): it is
        what tells a resumed run which step was in flight when its process died. ``thinking``
        is a thinking model's free text before an assistant message: recorded, never replayed.
        """
        with self._writing("record a message") as db:
            self._check_run(db, session_id, run_id)
            table = db.table("messages")
            table.insert(
                {
                    "session_id": session_id,
                    "run_id": run_id,
                    "role": role,
                    "content": content,
                    "created_at": time.time(),
                    "step": step,
                    "thinking": thinking,
                }
            )
            assert table.last_pk is not None
            return int(table.last_pk)

    def add_step(self, record: StepRecord) -> int:
        """Record one tool call (or failed generation) and return its id."""
        # Not dataclasses.asdict: it deep-copies the arguments and result for nothing.
        row = {f.name: getattr(record, f.name) for f in fields(record)}
        row["arguments"] = _to_json(record.arguments, "arguments")
        row["result"] = _to_json(record.result, "result")
        with self._writing("record a step") as db:
            self._check_run(db, record.session_id, record.run_id)
            table = db.table("steps")
            table.insert(row)
            assert table.last_pk is not None
            return int(table.last_pk)

    def add_escalation(self, record: EscalationRecord) -> int:
        """Record one escalation to the reasoning model and return its id."""
        with self._writing("record an escalation") as db:
            self._check_run(db, record.session_id, record.run_id)
            return _escalations.insert(db, record)

    def finish_run(self, run_id: int, *, status: str, output: str | None) -> None:
        """Record how a run ended; a run never finished (killed process) stays "running"."""
        if status not in RUN_STATUSES:
            raise ValueError(f"status must be one of {', '.join(RUN_STATUSES)}, not {status!r}")
        with self._writing("finish a run") as db:
            try:
                db.table("runs").update(
                    run_id, {"status": status, "output": output, "finished_at": time.time()}
                )
            except NotFoundError:
                raise MemoryStoreError(f"Run {run_id} does not exist in {self._where}.") from None

    def reopen_run(self, run_id: int) -> None:
        """Mark a run that was killed or interrupted as running again, in this process.

        The steps it recorded stay as they are; a resumed run only appends after them.
        """
        with self._writing("resume a run") as db:
            try:
                db.table("runs").update(
                    run_id,
                    {
                        "status": "running",
                        "output": None,
                        "finished_at": None,
                        "pid": os.getpid(),
                        "host": _HOST,
                    },
                )
            except NotFoundError:
                raise MemoryStoreError(f"Run {run_id} does not exist in {self._where}.") from None

    # -- reading ------------------------------------------------------------------------------

    def sessions(self) -> list[dict[str, Any]]:
        """All sessions, most recently used first, with ``run_count``/``step_count``/...

        Ordered by last use rather than creation because the one to resume is the one used
        last, even if it was created long ago.
        """
        with self._reading("list sessions") as db:
            return list(
                db.query(
                    """
                    SELECT s.*,
                        (SELECT COUNT(*) FROM runs r WHERE r.session_id = s.id) AS run_count,
                        (SELECT COUNT(*) FROM steps t WHERE t.session_id = s.id) AS step_count,
                        (SELECT COUNT(*) FROM messages m WHERE m.session_id = s.id)
                            AS message_count
                    FROM sessions s
                    ORDER BY s.last_used_at DESC, s.created_at DESC, s.rowid DESC
                    """
                )
            )

    def runs(self, session_id: str) -> list[dict[str, Any]]:
        """The runs of a session in the order they started, each with its ``step_count``."""
        with self._reading("list runs") as db:
            return list(
                db.query(
                    """
                    SELECT r.*,
                        (SELECT COUNT(*) FROM steps t WHERE t.run_id = r.id) AS step_count
                    FROM runs r WHERE r.session_id = ? ORDER BY r.id
                    """,
                    [session_id],
                )
            )

    def steps(self, session_id: str, run_id: int | None = None) -> list[dict[str, Any]]:
        """The steps of a session (or of one of its runs) in order, JSON columns decoded."""
        where, params = "session_id = ?", [session_id]
        if run_id is not None:
            where += " AND run_id = ?"
            params.append(run_id)
        with self._reading("read steps") as db:
            rows = list(
                db.table("steps").rows_where(where, params, order_by="run_id, step, call_index, id")
            )
        for row in rows:
            row["arguments"] = _from_json(row["arguments"])
            row["result"] = _from_json(row["result"])
        return rows

    def escalations(self, session_id: str, run_id: int | None = None) -> list[dict[str, Any]]:
        """The escalations of a session (or of one of its runs) in order, thinking included."""
        with self._reading("read escalations") as db:
            return _escalations.rows(db, session_id, run_id)

    def messages(self, session_id: str) -> list[dict[str, Any]]:
        """The messages of a session in the order they were recorded."""
        with self._reading("read messages") as db:
            rows = db.table("messages").rows_where("session_id = ?", [session_id], order_by="id")
            return list(rows)

    def session(self, session_id: str) -> dict[str, Any] | None:
        """One session with its counts (as in :meth:`sessions`), or None if it does not exist."""
        with self._reading("read a session") as db:
            rows = list(
                db.query(
                    """
                    SELECT s.*,
                        (SELECT COUNT(*) FROM runs r WHERE r.session_id = s.id) AS run_count,
                        (SELECT COUNT(*) FROM steps t WHERE t.session_id = s.id) AS step_count,
                        (SELECT COUNT(*) FROM messages m WHERE m.session_id = s.id)
                            AS message_count
                    FROM sessions s WHERE s.id = ?
                    """,
                    [session_id],
                )
            )
        return rows[0] if rows else None

    def run_messages(self, run_id: int) -> list[dict[str, Any]]:
        """The messages of one run in the order they were recorded (what resuming replays)."""
        with self._reading("read messages") as db:
            return list(db.table("messages").rows_where("run_id = ?", [run_id], order_by="id"))

    # -- long-term facts ------------------------------------------------------------------------

    def remember(self, text: str, *, scope: FactScope = "global", owner: str = "") -> int:
        """Store a fact (or refresh the same one) and return its id.

        ``owner`` is the agent name for scope ``agent`` and the session id for ``session``.
        A fact over :data:`MAX_FACT_CHARS` is refused with :class:`FactTooLargeError`.
        """
        owner = "" if scope == "global" else owner
        cleaned = _facts.check_fact(text, scope, owner)
        with self._writing("remember a fact") as db:
            return _facts.insert(db, cleaned, scope, owner, time.time())

    def remember_many(
        self, texts: Iterable[str], *, scope: FactScope = "global", owner: str = ""
    ) -> int:
        """Store many facts in one transaction (imports, benchmarks); returns how many."""
        owner = "" if scope == "global" else owner
        rows = _facts.bulk_rows(texts, scope, owner, time.time())
        with self._writing("remember facts") as db:
            db.conn.executemany(
                "INSERT INTO facts (scope, owner, text, digest, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (scope, owner, digest) DO UPDATE SET "
                "updated_at = excluded.updated_at",
                rows,
            )
        return len(rows)

    def recall(
        self,
        query: str,
        *,
        agent: str | None = None,
        session_id: str | None = None,
        limit: int = 5,
        now: float | None = None,
    ) -> list[Fact]:
        """The facts most relevant to ``query`` among the global ones and those of ``agent``
        and ``session_id``, best first (bm25 weighted by recency; see ``_facts``)."""
        with self._reading("recall facts") as db:
            return _facts.recall(
                db, query, agent=agent, session_id=session_id, limit=limit, now=now
            )

    def facts(
        self, *, agent: str | None = None, session_id: str | None = None, limit: int | None = None
    ) -> list[Fact]:
        """The visible facts, most recently remembered first."""
        with self._reading("list facts") as db:
            return _facts.listing(db, agent=agent, session_id=session_id, limit=limit)

    def forget(
        self, fact_id: int, *, agent: str | None = None, session_id: str | None = None
    ) -> bool:
        """Delete a fact visible to ``agent``/``session_id``; False if there is none such."""
        with self._writing("forget a fact") as db:
            return _facts.delete(db, fact_id, agent=agent, session_id=session_id)

    # -- retention ------------------------------------------------------------------------------

    def retention(self) -> Retention:
        """The retention policy stored in the file (no limits if none was stored)."""
        with self._reading("read the retention settings") as db:
            return _retention.load(db)

    def set_retention(self, retention: Retention) -> None:
        """Store the retention policy in the file, for every process that uses it."""
        with self._writing("store the retention settings") as db:
            _retention.save(db, retention)

    def prune(
        self,
        retention: Retention | None = None,
        *,
        dry_run: bool = False,
        spare: str | None = None,
        now: float | None = None,
    ) -> PruneReport:
        """Delete the sessions ``retention`` (default: the stored policy) does not keep.

        ``spare`` names a session that is never deleted (the one a run is using). One
        transaction: a killed prune deletes everything it meant to or nothing.
        """
        with self._writing("prune old sessions") as db:
            policy = _retention.load(db) if retention is None else retention
            doomed = _retention.doomed_sessions(db, policy, now=now, spare=spare)
            return _retention.delete_sessions(db, doomed, dry_run=dry_run)

    def vacuum(self) -> None:
        """Give the space of deleted rows back to the file system (rewrites the file)."""
        with self._lock:
            conn = self._live()
            try:
                conn.execute("VACUUM")
            except sqlite3.Error as exc:
                raise self._store_error(exc, "vacuum it") from exc

    # -- closing ------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection; safe to call twice. Everything is already committed."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> Memory:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
