"""Where a run starts, and how a run whose process died picks up again.

Every run is recorded as it goes (`agentsmall.memory`): its messages, each call the moment it
completes. `open_run` starts a run in a new or existing session with the session's earlier
messages as history, or, when the session's last run never finished and was given the same
task, rebuilds that run from its record: the steps done, and a step whose calls were chosen
but not all recorded (the loop then runs only the missing calls, so a call recorded as done is
never made again). A run another live process is running is refused.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agentsmall._relevance import GateDecision
from agentsmall._results import Step
from agentsmall.errors import MemoryStoreError
from agentsmall.memory import Fact
from agentsmall.memory._compaction import Turn, TurnKind

if TYPE_CHECKING:
    from agentsmall.agent import Agent


@dataclass
class RunState:
    """The state of one run in progress: where it is recorded and what the model has seen."""

    session_id: str
    run_id: int
    system: str
    history: list[Turn]
    steps: list[Step] = field(default_factory=list)
    next_step: int = 1
    resumed: bool = False
    pending: tuple[int, list[dict[str, Any]]] | None = None
    """A step whose calls were chosen (and recorded) but whose results were not all recorded."""
    final: str | None = None
    """The final answer, when it was recorded before the process died."""
    gate: GateDecision | None = None
    """The tool gate's decision for step 1, when the gate ran."""


def open_run(agent: Agent, task: str, session_id: str | None) -> RunState:
    """Start a run in a new or existing session, or resume the session's unfinished run.

    The last run of the session is resumed when it never finished (killed: "running") or
    was interrupted (Ctrl-C), and was given the same task. An unfinished run of another
    task is closed as interrupted and becomes history, like every finished run.
    """
    existing = agent.memory.session(session_id) if session_id is not None else None
    session_id = agent.memory.start_session(
        session_id=session_id, agent=agent.name, model=agent.model.name
    )
    runs = agent.memory.runs(session_id) if existing is not None else []
    last = runs[-1] if runs else None
    if last is not None and last["status"] in ("running", "interrupted"):
        _refuse_if_alive(session_id, last)
        if last["task"] == task:
            resumed = _resumed(agent, session_id, last, [r["id"] for r in runs[:-1]])
            if resumed is not None:
                return resumed
        if last["status"] == "running":
            agent.memory.finish_run(last["id"], status="interrupted", output=None)
    # Stored retention settings are applied as sessions start; this one is always kept.
    agent.memory.prune(spare=session_id)
    history = _earlier_history(agent, session_id, [r["id"] for r in runs])
    run_id = agent.memory.start_run(session_id=session_id, task=task)
    system = agent.system_prompt(_facts_for(agent, task, session_id))
    run = RunState(session_id, run_id, system, history)
    agent.memory.add_message(session_id=session_id, run_id=run_id, role="system", content=system)
    agent._add_turn(run, "user", task, "task", None)
    return run


def _facts_for(agent: Agent, task: str, session_id: str) -> list[Fact]:
    """The long-term facts most relevant to `task`, as many as the agent recalls."""
    if not agent.recall_facts:
        return []
    return agent.memory.recall(
        task, agent=agent.name, session_id=session_id, limit=agent.recall_facts
    )


def _earlier_history(agent: Agent, session_id: str, run_ids: Sequence[int]) -> list[Turn]:
    """The last messages of the session's earlier runs, starting at a task."""
    if not run_ids or not agent.max_history_messages:
        return []
    wanted = set(run_ids)
    turns = [
        _turn_of(row)
        for row in agent.memory.messages(session_id)
        if row["run_id"] in wanted and row["role"] != "system"
    ][-agent.max_history_messages :]
    while turns and turns[0].kind != "task":
        turns.pop(0)
    return turns


def _resumed(
    agent: Agent, session_id: str, last: dict[str, Any], earlier: list[int]
) -> RunState | None:
    """The unfinished run `last`, rebuilt from what it recorded; None if it cannot be."""
    rows = [r for r in agent.memory.run_messages(last["id"]) if r["role"] != "system"]
    if not rows or rows[0]["role"] != "user" or rows[0]["step"] is not None:
        return None
    if any(r["step"] is None for r in rows[1:]):  # recorded before messages had steps
        return None
    recorded = agent.memory.steps(session_id, last["id"])
    run = RunState(
        session_id,
        last["id"],
        agent.system_prompt(_facts_for(agent, last["task"], session_id)),
        _earlier_history(agent, session_id, earlier) + [_turn_of(r) for r in rows],
        steps=[step_of(r) for r in recorded],
        resumed=True,
    )
    done = max([r["step"] for r in rows[1:]] + [r["step"] for r in recorded], default=0)
    run.next_step = done + 1
    tail = rows[-1]
    if tail["role"] == "assistant":
        items = json.loads(tail["content"])
        if items and items[0].get("tool") == "final_answer":
            run.final = str(items[0]["arguments"]["answer"])
        else:
            run.pending = (tail["step"], items)
    agent.memory.reopen_run(run.run_id)
    return run


def _turn_of(row: dict[str, Any]) -> Turn:
    """A recorded message as a history turn."""
    kind: TurnKind
    if row["role"] == "assistant":
        kind = "action"
    elif row["step"] is None:
        kind = "task"
    else:
        kind = "observation"
    return Turn(row["role"], row["content"], kind, row["run_id"], row["step"])


def step_of(row: dict[str, Any]) -> Step:
    """A recorded call as a `Step`."""
    return Step(
        row["step"], row["tool"], row["arguments"], row["result"], row["error"], row["seconds"]
    )


def _alive(pid: int) -> bool:
    """Whether a process of this host is alive (POSIX only: elsewhere, assume it is not)."""
    if os.name != "posix":
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _refuse_if_alive(session_id: str, run: dict[str, Any]) -> None:
    """Refuse to resume a run that another live process on this machine is still running."""
    pid, host = run.get("pid"), run.get("host")
    if (
        run["status"] == "running"
        and pid
        and pid != os.getpid()
        and host == socket.gethostname()
        and _alive(int(pid))
    ):
        raise MemoryStoreError(
            f"Session {session_id!r} is being run right now by process {pid} (run {run['id']}). "
            "Wait for it to finish, stop it, or use another session id."
        )
