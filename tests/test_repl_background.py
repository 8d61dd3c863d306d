"""Runs on a background thread: stopping mid-generation, confirmations, `Agent.events`.

The model here streams one token at a time forever until told to stop, so a run that was not
cut by the stop hook would never end: each test fails (on a join timeout) instead of hanging.
Scripted replies are not constrained outputs: the validation log is redirected per test.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from agentsmall import _audit
from agentsmall._background import BackgroundRun
from agentsmall._tool import tool
from agentsmall.agent import Agent, Event
from agentsmall.memory import Memory
from agentsmall.models import ChatMessage, Generation, JsonSchemaConstraint, ScriptedModel
from agentsmall.models._base import TextCallback


@pytest.fixture(autouse=True)
def scripted_validation_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(_audit.VALIDATION_LOG_ENV, str(tmp_path / "scripted-validation.jsonl"))


class EndlessModel(ScriptedModel):
    """Streams tokens until its `on_text` callback raises; counts what it streamed."""

    def __init__(self) -> None:
        super().__init__([])
        self.streamed = 0
        self.started = threading.Event()

    def generate(
        self,
        messages: Sequence[ChatMessage],
        *,
        constraint: JsonSchemaConstraint | None = None,
        max_tokens: int = 256,
        on_text: TextCallback | None = None,
    ) -> Generation:
        assert on_text is not None
        while True:
            on_text("tok ")
            self.streamed += 1
            self.started.set()
            time.sleep(0.005)


@tool(dangerous=True)
def launch(target: str) -> str:
    """Launch something irreversible."""
    return f"launched {target}"


def test_stop_cuts_the_generation_and_records_the_run_as_interrupted(tmp_path: Path) -> None:
    model = EndlessModel()
    agent = Agent(model, memory=tmp_path / "m.db")
    background = BackgroundRun(agent, "Say something long.", session_id="s").start()
    assert model.started.wait(60)
    background.stop()
    background.thread.join(60)
    assert not background.thread.is_alive(), "the generation was not cut by the stop hook"
    items = list(background.items())
    assert items[-1].kind == "error"
    assert type(items[-1].error).__name__ == "CancelledError"
    assert [i.event.kind for i in items if i.event][:2] == ["run_started", "step_started"]
    runs = Memory(tmp_path / "m.db").runs("s")
    assert [r["status"] for r in runs] == ["interrupted"]


def test_after_an_interruption_the_session_goes_on(tmp_path: Path) -> None:
    agent = Agent(EndlessModel(), memory=tmp_path / "m.db")
    first = BackgroundRun(agent, "Say something long.", session_id="s").start()
    assert agent.model.started.wait(60)  # type: ignore[attr-defined]
    first.stop()
    first.thread.join(60)
    agent.model = ScriptedModel([[{"tool": "final_answer", "arguments": {"answer": "ok"}}]])
    result = agent.run("Now just say ok.", session_id="s")
    assert result.output == "ok"
    prompt = agent.model.calls[0]  # type: ignore[attr-defined]
    assert any(m["content"] == "Say something long." for m in prompt)  # history kept
    statuses = [r["status"] for r in agent.memory.runs("s")]
    assert statuses == ["interrupted", "completed"]


def test_confirmation_requests_go_through_the_queue(tmp_path: Path) -> None:
    replies = [
        [{"tool": "launch", "arguments": {"target": "rocket"}}],
        [{"tool": "final_answer", "arguments": {"answer": "done"}}],
    ]
    agent = Agent(ScriptedModel(replies), tools=[launch], memory=tmp_path / "m.db")
    background = BackgroundRun(agent, "Launch the rocket.")
    agent.confirm = background.ask
    background.start()
    asked = []
    for item in background.items():
        if item.kind == "confirm":
            assert item.request is not None
            asked.append((item.request.tool, item.request.arguments))
            item.request.reply(True)
        last = item
    assert asked == [("launch", {"target": "rocket"})]
    assert last.result is not None and last.result.steps[0].result == "launched rocket"


def test_stop_answers_a_pending_confirmation_with_no(tmp_path: Path) -> None:
    replies = [[{"tool": "launch", "arguments": {"target": "rocket"}}]]
    agent = Agent(ScriptedModel(replies), tools=[launch], memory=tmp_path / "m.db")
    background = BackgroundRun(agent, "Launch the rocket.", session_id="s")
    agent.confirm = background.ask
    background.start()
    for item in background.items():
        if item.kind == "confirm":
            background.stop()  # Ctrl-C while the question is on screen
    background.thread.join(60)
    assert not background.thread.is_alive()
    steps = agent.memory.steps("s")
    assert all(s["result"] != "launched rocket" for s in steps)
    assert [r["status"] for r in agent.memory.runs("s")] == ["interrupted"]


def test_agent_events_yields_every_event_in_order(tmp_path: Path) -> None:
    replies = [
        [{"tool": "launch", "arguments": {"target": "x"}}],
        [{"tool": "final_answer", "arguments": {"answer": "done"}}],
    ]
    agent = Agent(ScriptedModel(replies), tools=[launch], memory=tmp_path / "m.db")
    events: list[Event] = list(agent.events("Launch x."))
    kinds = [e.kind for e in events]
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished"
    assert kinds.index("tool_call") < kinds.index("tool_result") < kinds.index("final_answer")
    finished: dict[str, Any] = events[-1].data
    assert finished["output"] == "done"
    assert "refused" in finished["steps"][0]["error"]  # no confirm callback: refused


def test_agent_events_raises_the_error_of_the_run(tmp_path: Path) -> None:
    agent = Agent(ScriptedModel([]), memory=tmp_path / "m.db")  # runs out of replies
    with pytest.raises(AssertionError, match="ran out of replies"):
        list(agent.events("Anything."))


def test_leaving_agent_events_early_stops_the_run(tmp_path: Path) -> None:
    agent = Agent(EndlessModel(), memory=tmp_path / "m.db")
    for event in agent.events("Say something long.", session_id="s"):
        if event.kind == "text":
            break
    assert [r["status"] for r in agent.memory.runs("s")] == ["interrupted"]


def test_events_example_runs_as_documented() -> None:
    """examples/events.py on the real embedded model (one thread: the machine is shared)."""
    import os
    import subprocess
    import sys

    example = Path(__file__).resolve().parent.parent / "examples" / "events.py"
    done = subprocess.run(
        [sys.executable, str(example)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "AGENTSMALL_THREADS": "1"},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "tool_call: {'tool': 'multiply', 'arguments': {'a': 12, 'b': 7}}" in done.stdout
    assert "status: completed | output: 84" in done.stdout
