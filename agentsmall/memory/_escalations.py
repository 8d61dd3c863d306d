"""Rows of the ``escalations`` table: sub-steps handed to the reasoning model, and their cost.

Kept apart from steps because an escalation is not always a tool call (the policy may escalate
the task before the planner's first step) and because it carries what a step has no room for:
the reasoner's thinking, the calculator check, and the cost of a second model.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from sqlite_utils import Database


@dataclass(frozen=True)
class EscalationRecord:
    """One escalation as it is written to disk (see ``_schema._v3_escalations``)."""

    session_id: str
    run_id: int
    step: int
    """The planner step it belongs to; 0 for the task, escalated before the first step."""
    trigger: str
    """"planner" (the planner called escalate), "task" or "substep" (the policy did)."""
    problem: str
    thinking: str
    """The reasoner's free text; stored here, never put in the planner's context."""
    raw_answer: str
    """The reasoner's constrained answer, as generated."""
    stated_answer: str | None
    answer: str | None
    """What the planner was given: the calculator's value when the check corrected it."""
    expression: str | None
    calculated: str | None
    verified: bool
    check_result: str
    """"agrees", "corrected", "unchecked" or "failed"."""
    note: str
    error: str | None
    planner_model: str
    model: str
    prompt_tokens: int
    output_tokens: int
    started_at: float
    seconds: float


def insert(db: Database, record: EscalationRecord) -> int:
    row = {f.name: getattr(record, f.name) for f in fields(record)}
    row["verified"] = int(record.verified)
    table = db.table("escalations")
    table.insert(row)
    assert table.last_pk is not None
    return int(table.last_pk)


def rows(db: Database, session_id: str, run_id: int | None) -> list[dict[str, Any]]:
    where, params = "session_id = ?", [session_id]
    if run_id is not None:
        where += " AND run_id = ?"
        params.append(run_id)
    found = list(db.table("escalations").rows_where(where, params, order_by="run_id, step, id"))
    for row in found:
        row["verified"] = bool(row["verified"])
    return found
