"""Retention: how much history a memory file keeps, so it stays small for months.

Pruning deletes whole sessions (their runs, messages, steps, escalations and session-scoped
facts), never parts of one, so what remains is always a complete record. The policy is "keep
the N sessions used last" and/or "keep sessions used within the last D days"; a session goes
when either rule says so. Global and agent facts are not session history and are never pruned.

The settings can be stored in the file itself (``settings`` table) so every process that uses
the file applies the same policy; without stored settings nothing is ever pruned automatically.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Final

from sqlite_utils import Database

RETENTION_KEY: Final = "retention"


@dataclass(frozen=True)
class Retention:
    """Keep at most ``keep_sessions`` sessions and none unused for more than ``keep_days``.

    None means no limit of that kind; both None keeps everything.
    """

    keep_sessions: int | None = None
    keep_days: float | None = None

    def __post_init__(self) -> None:
        if self.keep_sessions is not None and self.keep_sessions < 1:
            raise ValueError(f"keep_sessions must be at least 1 (got {self.keep_sessions})")
        if self.keep_days is not None and not self.keep_days > 0:
            raise ValueError(f"keep_days must be more than 0 (got {self.keep_days})")

    @property
    def limited(self) -> bool:
        return self.keep_sessions is not None or self.keep_days is not None

    def as_dict(self) -> dict[str, Any]:
        return {"keep_sessions": self.keep_sessions, "keep_days": self.keep_days}


@dataclass(frozen=True)
class PruneReport:
    """What a prune deleted (or, with ``dry_run``, would delete)."""

    sessions: list[str]
    runs: int
    messages: int
    steps: int
    facts: int
    dry_run: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "deleted_sessions": self.sessions,
            "runs": self.runs,
            "messages": self.messages,
            "steps": self.steps,
            "facts": self.facts,
            "dry_run": self.dry_run,
        }


def load(db: Database) -> Retention:
    row = db.execute("SELECT value FROM settings WHERE key = ?", [RETENTION_KEY]).fetchone()
    if row is None:
        return Retention()
    data = json.loads(row[0])
    return Retention(keep_sessions=data.get("keep_sessions"), keep_days=data.get("keep_days"))


def save(db: Database, retention: Retention) -> None:
    db.execute(
        "INSERT INTO settings (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [RETENTION_KEY, json.dumps(retention.as_dict())],
    )


def doomed_sessions(
    db: Database, retention: Retention, *, now: float | None = None, spare: str | None = None
) -> list[str]:
    """Ids of the sessions the policy deletes, oldest use first; ``spare`` is always kept."""
    if not retention.limited:
        return []
    now = time.time() if now is None else now
    ids = [
        row[0]
        for row in db.execute(
            "SELECT id, last_used_at FROM sessions "
            "ORDER BY last_used_at DESC, created_at DESC, rowid DESC"
        ).fetchall()
        if retention.keep_days is None or row[1] >= now - retention.keep_days * 86400
    ]
    kept = set(ids if retention.keep_sessions is None else ids[: retention.keep_sessions])
    if spare is not None:
        kept.add(spare)
    doomed = [
        row[0]
        for row in db.execute(
            "SELECT id FROM sessions ORDER BY last_used_at, created_at, rowid"
        ).fetchall()
        if row[0] not in kept
    ]
    return doomed


def delete_sessions(db: Database, session_ids: list[str], *, dry_run: bool) -> PruneReport:
    """Delete the sessions and everything that belongs to them, children first (foreign keys)."""
    counts = {"runs": 0, "messages": 0, "steps": 0, "facts": 0}
    for start in range(0, len(session_ids), 500):  # stay under SQLite's variable limit
        chunk = session_ids[start : start + 500]
        marks = ", ".join("?" for _ in chunk)
        if not dry_run:  # not counted in the report: an escalation is part of its run
            db.execute(f"DELETE FROM escalations WHERE session_id IN ({marks})", chunk)
        for table, where in [
            ("steps", f"session_id IN ({marks})"),
            ("messages", f"session_id IN ({marks})"),
            ("runs", f"session_id IN ({marks})"),
            ("facts", f"scope = 'session' AND owner IN ({marks})"),
        ]:
            if dry_run:
                counts[table] += int(
                    db.execute(f"SELECT COUNT(*) FROM {table} WHERE {where}", chunk).fetchone()[0]
                )
            else:
                counts[table] += db.execute(f"DELETE FROM {table} WHERE {where}", chunk).rowcount
        if not dry_run:
            db.execute(f"DELETE FROM sessions WHERE id IN ({marks})", chunk)
    return PruneReport(sessions=session_ids, dry_run=dry_run, **counts)
