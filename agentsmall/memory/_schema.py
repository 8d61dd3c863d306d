"""The schema of the memory file, as a list of migrations.

A memory file lives for months and outlives the agentsmall that created it, so the schema is
never "created" as such: a new file runs every migration from version 0, an older file runs the
ones it lacks. ``PRAGMA user_version`` holds the version reached. All migrations of one open run
inside the caller's single ``BEGIN IMMEDIATE`` transaction, so a process killed in the middle
leaves the file at its old version, never half upgraded.

Nothing here calls ``executescript`` (or sqlite-utils helpers built on it such as
``enable_fts``): Python's sqlite3 commits the open transaction before a script, which would
break that all-or-nothing guarantee. The FTS5 table and triggers are therefore written out as
plain statements (the same ones sqlite-utils' ``enable_fts(create_triggers=True)`` makes).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from sqlite_utils import Database

SCHEMA_VERSION: Final = 4
"""The version this code writes; files of a higher version are refused, never touched."""


def _v1_base(db: Database) -> None:
    """Sessions, runs, messages, steps: the record of every run."""
    sessions_fk = ("session_id", "sessions", "id")
    runs_fk = ("run_id", "runs", "id")
    specs: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
        (
            "sessions",
            {"id": str, "agent": str, "model": str, "created_at": float, "last_used_at": float},
            {"not_null": {"agent", "model", "created_at", "last_used_at"}},
        ),
        (
            "runs",
            {
                "id": int,
                "session_id": str,
                "task": str,
                "status": str,
                "output": str,
                "started_at": float,
                "finished_at": float,
            },
            {
                "not_null": {"session_id", "task", "status", "started_at"},
                "defaults": {"status": "running"},
                "foreign_keys": [sessions_fk],
            },
        ),
        (
            "messages",
            {
                "id": int,
                "session_id": str,
                "run_id": int,
                "role": str,
                "content": str,
                "created_at": float,
            },
            {
                "not_null": {"session_id", "run_id", "role", "content", "created_at"},
                "foreign_keys": [sessions_fk, runs_fk],
            },
        ),
        (
            "steps",
            {
                "id": int,
                "session_id": str,
                "run_id": int,
                "step": int,
                "call_index": int,
                "tool": str,
                "arguments": str,
                "result": str,
                "error": str,
                "raw_output": str,
                "model": str,
                "prompt_tokens": int,
                "output_tokens": int,
                "started_at": float,
                "seconds": float,
            },
            {
                "not_null": {
                    "session_id",
                    "run_id",
                    "step",
                    "call_index",
                    "raw_output",
                    "model",
                    "prompt_tokens",
                    "output_tokens",
                    "started_at",
                    "seconds",
                },
                "foreign_keys": [sessions_fk, runs_fk],
            },
        ),
    ]
    for name, columns, options in specs:
        db.table(name).create(columns, pk="id", if_not_exists=True, **options)
    for name, column in [
        ("runs", "session_id"),
        ("messages", "session_id"),
        ("messages", "run_id"),
        ("steps", "session_id"),
        ("steps", "run_id"),
    ]:
        db.table(name).create_index([column], if_not_exists=True)


_FACTS_FTS: Final = (
    """CREATE VIRTUAL TABLE "facts_fts" USING FTS5 (
        "text", tokenize='porter unicode61', content="facts"
    )""",
    """CREATE TRIGGER "facts_ai" AFTER INSERT ON "facts" BEGIN
        INSERT INTO "facts_fts" (rowid, "text") VALUES (new.rowid, new."text");
    END""",
    """CREATE TRIGGER "facts_ad" AFTER DELETE ON "facts" BEGIN
        INSERT INTO "facts_fts" ("facts_fts", rowid, "text")
            VALUES ('delete', old.rowid, old."text");
    END""",
    """CREATE TRIGGER "facts_au" AFTER UPDATE ON "facts" BEGIN
        INSERT INTO "facts_fts" ("facts_fts", rowid, "text")
            VALUES ('delete', old.rowid, old."text");
        INSERT INTO "facts_fts" (rowid, "text") VALUES (new.rowid, new."text");
    END""",
)


def _v2_resume_and_facts(db: Database) -> None:
    """What resuming, long-term facts and retention need.

    * ``messages.step``: which planner step a message belongs to, so a resumed run knows
      exactly which step was in flight when the process died.
    * ``runs.pid`` / ``runs.host``: the process that runs it, so a run that is still alive in
      another process is not "resumed" a second time.
    * ``facts`` (+ FTS5 index kept in sync by triggers): long-term facts, scoped.
      ``digest`` makes remembering the same fact twice refresh it instead of duplicating it.
    * ``settings``: key/value settings stored with the data (retention).
    """
    db.table("messages").add_column("step", int)
    db.table("runs").add_column("pid", int)
    db.table("runs").add_column("host", str)
    db.table("facts").create(
        {
            "id": int,
            "scope": str,
            "owner": str,
            "text": str,
            "digest": str,
            "created_at": float,
            "updated_at": float,
        },
        pk="id",
        not_null={"scope", "owner", "text", "digest", "created_at", "updated_at"},
    )
    db.table("facts").create_index(["scope", "owner", "digest"], unique=True)
    for statement in _FACTS_FTS:
        db.execute(statement)
    db.table("settings").create({"key": str, "value": str}, pk="key", not_null={"value"})


def _v3_escalations(db: Database) -> None:
    """``escalations``: every sub-step handed to the reasoning model, with what it cost.

    One row per escalation: which run and step it belongs to, what triggered it (the planner,
    the task, a sub-step), the problem, the reasoner's free thinking (kept here and never shown
    to the planner), its constrained answer, the calculator check (expression, value, verified)
    and the cost (both models, tokens in and out, seconds). A new table only: nothing that
    versions 1 and 2 wrote is touched.
    """
    db.table("escalations").create(
        {
            "id": int,
            "session_id": str,
            "run_id": int,
            "step": int,
            "trigger": str,
            "problem": str,
            "thinking": str,
            "raw_answer": str,
            "stated_answer": str,
            "answer": str,
            "expression": str,
            "calculated": str,
            "verified": int,
            "check_result": str,
            "note": str,
            "error": str,
            "planner_model": str,
            "model": str,
            "prompt_tokens": int,
            "output_tokens": int,
            "started_at": float,
            "seconds": float,
        },
        pk="id",
        not_null={
            "session_id",
            "run_id",
            "step",
            "trigger",
            "problem",
            "verified",
            "check_result",
            "model",
            "prompt_tokens",
            "output_tokens",
            "started_at",
            "seconds",
        },
        foreign_keys=[("session_id", "sessions", "id"), ("run_id", "runs", "id")],
    )
    db.table("escalations").create_index(["session_id"])
    db.table("escalations").create_index(["run_id"])


def _v4_thinking(db: Database) -> None:
    """``steps.thinking`` and ``messages.thinking``: what a thinking model wrote freely before
    its constrained step (native tool-call formats, `agentsmall._native`).

    On the step's call rows (beside ``raw_output``) and on its assistant message, which is the
    only row a final-answer step leaves. Kept for the record and never put back into a prompt:
    prompts are built from ``content`` alone. Two nullable columns: older rows read as None.
    """
    db.table("steps").add_column("thinking", str)
    db.table("messages").add_column("thinking", str)


MIGRATIONS: Final[tuple[Callable[[Database], None], ...]] = (
    _v1_base,
    _v2_resume_and_facts,
    _v3_escalations,
    _v4_thinking,
)
"""``MIGRATIONS[n]`` takes a file from version ``n`` to ``n + 1``."""

assert len(MIGRATIONS) == SCHEMA_VERSION


def migrate(db: Database, from_version: int, to_version: int = SCHEMA_VERSION) -> None:
    """Apply the migrations from ``from_version`` up to ``to_version``, in the caller's
    transaction, and record the version reached."""
    for migration in MIGRATIONS[from_version:to_version]:
        migration(db)
    db.execute(f"PRAGMA user_version = {int(to_version)}")
