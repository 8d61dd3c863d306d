"""Resuming sessions: a run killed with SIGKILL in a real process, then resumed from its file.

The killed child runs a real Agent (on a scripted model, so the test is fast and exact) whose
tools write every start and finish to a ledger file: the ledger, not the agent's own account,
proves which tool calls ran and how often.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from agentsmall import _audit
from agentsmall._tool import tool
from agentsmall.agent import Agent, Event
from agentsmall.errors import MemoryStoreError
from agentsmall.memory import Memory
from agentsmall.models import ScriptedModel

REPO = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, os, sys, time
from pathlib import Path
from agentsmall._tool import tool
from agentsmall.agent import Agent
from agentsmall.models import ScriptedModel

db, ledger, hang_on = sys.argv[1], Path(sys.argv[2]), sys.argv[3]

def log(line):
    with ledger.open("a") as fh:
        fh.write(line + "\n")
        fh.flush()
        os.fsync(fh.fileno())

@tool(timeout=None)
def work(x: int) -> int:
    "Work on x."
    log(f"start {x}")
    if str(x) == hang_on:
        time.sleep(600)  # killed here
    log(f"done {x}")
    return x * 10

replies = [
    [{"tool": "work", "arguments": {"x": 1}}],
    [{"tool": "work", "arguments": {"x": 2}}, {"tool": "work", "arguments": {"x": 3}}],
    [{"tool": "work", "arguments": {"x": 4}}],
    [{"tool": "final_answer", "arguments": {"answer": "all done"}}],
]
agent = Agent(ScriptedModel(replies), tools=[work], memory=db, max_steps=6)
agent.run("Work on 1, 2, 3, then 4.", session_id="job-1")
"""


@pytest.fixture(autouse=True)
def scripted_validation_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "scripted-validation.jsonl"
    monkeypatch.setenv(_audit.VALIDATION_LOG_ENV, str(path))
    return path


def call(tool_name: str, /, **arguments: Any) -> dict[str, Any]:
    return {"tool": tool_name, "arguments": arguments}


def final(answer: str) -> list[dict[str, Any]]:
    return [call("final_answer", answer=answer)]


def ledger_lines(ledger: Path) -> list[str]:
    return ledger.read_text().splitlines() if ledger.exists() else []


def done_calls(db: Path) -> set[int]:
    if not db.exists():
        return set()
    try:
        with sqlite3.connect(db) as raw:
            rows = raw.execute("SELECT arguments FROM steps WHERE error IS NULL").fetchall()
    except sqlite3.OperationalError:
        return set()
    return {json.loads(r[0])["x"] for r in rows if r[0]}


def kill_child_while_running(db: Path, ledger: Path, hang_on: int, wait_done: set[int]) -> None:
    """Start the child; once `work(hang_on)` started and `wait_done` are committed, kill -9."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(db), str(ledger), str(hang_on)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if f"start {hang_on}" in ledger_lines(ledger) and wait_done <= done_calls(db):
                break
            if child.poll() is not None:
                pytest.fail(
                    f"the child ended on its own: {child.stderr.read() if child.stderr else ''}"
                )
            time.sleep(0.02)
        else:
            pytest.fail("the child never reached the kill point")
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(30)
    assert child.returncode == -signal.SIGKILL


def resume(db: Path, ledger: Path, replies: list[Any]) -> tuple[Any, ScriptedModel]:
    @tool(timeout=None)
    def work(x: int) -> int:
        """Work on x."""
        with ledger.open("a") as fh:
            fh.write(f"start {x}\ndone {x}\n")
        return x * 10

    model = ScriptedModel(replies)
    agent = Agent(model, tools=[work], memory=db, max_steps=6)
    try:
        events: list[Event] = []
        result = agent.run("Work on 1, 2, 3, then 4.", session_id="job-1", on_event=events.append)
    finally:
        agent.memory.close()
    return (result, events), model


def assert_each_step_once(db: Path) -> list[tuple[int, int, int]]:
    with sqlite3.connect(db) as raw:
        rows = raw.execute(
            "SELECT run_id, step, call_index, json_extract(arguments, '$.x') FROM steps ORDER BY id"
        ).fetchall()
        runs = raw.execute("SELECT id, status, output FROM runs").fetchall()
    keys = [(r[0], r[1], r[2]) for r in rows]
    assert len(keys) == len(set(keys)), f"a step was recorded twice: {rows}"
    assert len(runs) == 1, runs  # the resumed run is the same run, not a new one
    assert runs[0][1:] == ("completed", "all done")
    return [(r[1], r[2], r[3]) for r in rows]


def test_killed_between_parallel_calls_resumes_without_repeating_a_completed_call(
    tmp_path: Path,
) -> None:
    db, ledger = tmp_path / "memory.db", tmp_path / "ledger.txt"
    # Step 2 runs work(2) and work(3) concurrently; work(2) hangs, work(3) completes. Kill.
    kill_child_while_running(db, ledger, hang_on=2, wait_done={1, 3})
    assert ledger_lines(ledger).count("done 3") == 1

    (result, events), model = resume(db, ledger, [[call("work", x=4)], final("all done")])

    assert result.status == "completed" and result.output == "all done"
    lines = ledger_lines(ledger)
    for x in (1, 3, 4):
        assert lines.count(f"done {x}") == 1, lines  # completed calls never ran again
    assert lines.count("start 2") == 2 and lines.count("done 2") == 1  # the killed one re-ran
    assert [(s.step, s.arguments, s.result) for s in result.steps] == [
        (1, {"x": 1}, 10), (2, {"x": 2}, 20), (2, {"x": 3}, 30), (3, {"x": 4}, 40)
    ]  # fmt: skip
    assert sorted(assert_each_step_once(db)) == [(1, 0, 1), (2, 0, 2), (2, 1, 3), (3, 0, 4)]
    # The model was asked only for steps 3 and 4, and saw step 2's results, both of them.
    assert len(model.calls) == 2
    observation = model.calls[0][-1]["content"]
    assert "work returned: 20" in observation and "work returned: 30" in observation
    started = next(e for e in events if e.kind == "run_started")
    assert started.data["resumed"] is True and started.data["from_step"] == 3


def test_killed_in_the_first_call_resumes_at_that_step(tmp_path: Path) -> None:
    db, ledger = tmp_path / "memory.db", tmp_path / "ledger.txt"
    kill_child_while_running(db, ledger, hang_on=1, wait_done=set())

    replies = [[call("work", x=2), call("work", x=3)], [call("work", x=4)], final("all done")]
    (result, _), model = resume(db, ledger, replies)

    assert result.output == "all done"
    lines = ledger_lines(ledger)
    assert [lines.count(f"done {x}") for x in (1, 2, 3, 4)] == [1, 1, 1, 1]
    assert sorted(assert_each_step_once(db)) == [(1, 0, 1), (2, 0, 2), (2, 1, 3), (3, 0, 4)]
    assert len(model.calls) == 3  # step 1 was not generated again
    assert model.calls[0][1]["content"] == "Work on 1, 2, 3, then 4."


# -- continuing sessions, in process -----------------------------------------------------------


@tool
def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


@pytest.fixture
def agents(closing: list[Agent]) -> list[Agent]:
    """The conftest `closing` fixture, under this module's name for it."""
    return closing


def make(tmp_path: Path, replies: list[Any], agents: list[Agent], **options: Any) -> Agent:
    agent = Agent(ScriptedModel(replies), tools=[multiply], memory=tmp_path / "m.db", **options)
    agents.append(agent)
    return agent


def test_a_new_session_id_starts_a_session_under_that_id(
    tmp_path: Path, agents: list[Agent]
) -> None:
    agent = make(tmp_path, [final("hi")], agents)
    result = agent.run("Say hi.", session_id="chosen-id")
    assert result.session_id == "chosen-id"
    assert [s["id"] for s in agent.memory.sessions()] == ["chosen-id"]


def test_a_finished_session_continues_with_its_history(tmp_path: Path, agents: list[Agent]) -> None:
    first = make(tmp_path, [[call("multiply", a=6, b=7)], final("42")], agents)
    one = first.run("Multiply 6 by 7.", session_id="chat")
    second = make(tmp_path, [final("It was 42.")], agents)
    two = second.run("What was the result?", session_id="chat")

    assert two.session_id == one.session_id == "chat"
    assert two.run_id != one.run_id
    assert two.steps == []  # the result holds this run's steps only
    [prompt] = second.model.calls  # type: ignore[attr-defined]
    contents = [m["content"] for m in prompt]
    assert contents[1] == "Multiply 6 by 7."
    assert any("multiply returned: 42" in c for c in contents)
    assert contents[-1] == "What was the result?"
    assert [r["status"] for r in second.memory.runs("chat")] == ["completed", "completed"]


def test_an_unfinished_run_of_another_task_becomes_history(
    tmp_path: Path, agents: list[Agent]
) -> None:
    with Memory(tmp_path / "m.db") as memory:
        memory.start_session(session_id="s", agent="agent", model="scripted")
        rid = memory.start_run(session_id="s", task="Old task.")
        memory.add_message(session_id="s", run_id=rid, role="user", content="Old task.")
    with sqlite3.connect(tmp_path / "m.db") as raw:  # as if its process died long ago
        raw.execute("UPDATE runs SET pid = NULL")
    agent = make(tmp_path, [final("new")], agents)
    result = agent.run("New task.", session_id="s")
    assert result.output == "new"
    runs = agent.memory.runs("s")
    assert [(r["task"], r["status"]) for r in runs] == [
        ("Old task.", "interrupted"),
        ("New task.", "completed"),
    ]


def test_a_run_still_alive_in_another_process_is_not_resumed(
    tmp_path: Path, agents: list[Agent]
) -> None:
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with Memory(tmp_path / "m.db") as memory:
            memory.start_session(session_id="s", agent="agent", model="scripted")
            memory.start_run(session_id="s", task="Busy.")
        with sqlite3.connect(tmp_path / "m.db") as raw:
            raw.execute("UPDATE runs SET pid = ?", [sleeper.pid])
        agent = make(tmp_path, [final("x")], agents)
        with pytest.raises(MemoryStoreError, match=f"being run right now by process {sleeper.pid}"):
            agent.run("Busy.", session_id="s")
        assert agent.model.calls == []  # type: ignore[attr-defined]
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_final_answer_recorded_before_the_kill_is_not_asked_again(
    tmp_path: Path, agents: list[Agent]
) -> None:
    with Memory(tmp_path / "m.db") as memory:
        memory.start_session(session_id="s", agent="agent", model="scripted")
        rid = memory.start_run(session_id="s", task="Answer.")
        memory.add_message(session_id="s", run_id=rid, role="system", content="sys")
        memory.add_message(session_id="s", run_id=rid, role="user", content="Answer.")
        memory.add_message(
            session_id="s", run_id=rid, role="assistant", content=json.dumps(final("yes")), step=1
        )
    with sqlite3.connect(tmp_path / "m.db") as raw:
        raw.execute("UPDATE runs SET pid = NULL")
    agent = make(tmp_path, [], agents)
    result = agent.run("Answer.", session_id="s")
    assert (result.status, result.output, result.run_id) == ("completed", "yes", rid)
    assert agent.model.calls == []  # type: ignore[attr-defined]
