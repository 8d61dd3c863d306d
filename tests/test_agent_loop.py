"""The agent loop on a scripted model: prompts, tool calls, errors, memory, events.

Scripted replies are not constrained outputs (some are invalid on purpose), so the validation
log is pointed at a per-test file here and never counts towards the session's tally.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from agentsmall import _audit
from agentsmall._tool import tool
from agentsmall.agent import Agent, Event
from agentsmall.errors import ConfigError, ContextOverflowError, DecodingError
from agentsmall.memory import Memory
from agentsmall.models import Generation, JsonSchemaConstraint, ScriptedModel


@pytest.fixture(autouse=True)
def scripted_validation_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "scripted-validation.jsonl"
    monkeypatch.setenv(_audit.VALIDATION_LOG_ENV, str(path))
    return path


def audit_lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def call(tool_name: str, /, **arguments: Any) -> dict[str, Any]:
    return {"tool": tool_name, "arguments": arguments}


def final(answer: str) -> list[dict[str, Any]]:
    return [call("final_answer", answer=answer)]


@tool
def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


def make_agent(
    tmp_path: Path, replies: Sequence[Any], tools: Sequence[Any] = (multiply,), **options: Any
) -> tuple[Agent, ScriptedModel]:
    model = ScriptedModel(replies)
    agent = Agent(model, tools=list(tools), memory=tmp_path / "m.db", **options)
    return agent, model


def test_tool_call_then_final_answer(
    tmp_path: Path, closing: list[Agent], scripted_validation_log: Path
) -> None:
    step1 = json.dumps([call("multiply", a=12, b=7)])
    agent, model = make_agent(tmp_path, [step1, final("84")])
    closing.append(agent)
    result = agent.run("Use the multiply tool to compute 12 times 7.")

    assert result.status == "completed"
    assert result.output == "84"
    assert result.error is None
    assert [(s.step, s.tool, s.arguments, s.result, s.error) for s in result.steps] == [
        (1, "multiply", {"a": 12, "b": 7}, 84, None)
    ]
    assert len(model.calls) == 2
    # The second prompt holds the first reply and the tool's result.
    second = model.calls[1]
    assert second[0]["role"] == "system"
    assert "multiply(a: integer, b: integer)" in second[0]["content"]
    assert second[1] == {"role": "user", "content": "Use the multiply tool to compute 12 times 7."}
    assert second[2]["role"] == "assistant"
    assert json.loads(second[2]["content"]) == [call("multiply", a=12, b=7)]
    assert second[3]["role"] == "user"
    assert "multiply returned: 84" in second[3]["content"]
    assert result.stats["planner_steps"] == 2

    with Memory(tmp_path / "m.db") as memory:
        rows = memory.steps(result.session_id)
        assert [
            (r["step"], r["call_index"], r["tool"], r["arguments"], r["result"], r["error"])
            for r in rows
        ] == [(1, 0, "multiply", {"a": 12, "b": 7}, 84, None)]
        assert rows[0]["raw_output"] == step1
        assert rows[0]["run_id"] == result.run_id
        messages = memory.messages(result.session_id)
        assert [m["role"] for m in messages] == ["system", "user", "assistant", "user", "assistant"]
        assert json.loads(messages[-1]["content"]) == final("84")
        runs = memory.runs(result.session_id)
        assert [(r["id"], r["status"], r["output"], r["step_count"]) for r in runs] == [
            (result.run_id, "completed", "84", 1)
        ]
    # Both scripted outputs went through the agent's validation and were recorded as valid.
    assert [e["valid"] for e in audit_lines(scripted_validation_log)] == [True, True]


def test_calls_of_one_step_run_concurrently(tmp_path: Path, closing: list[Agent]) -> None:
    spans: dict[str, tuple[float, float]] = {}

    @tool
    async def slow_a(x: int) -> int:
        """Slow A."""
        start = time.perf_counter()
        await asyncio.sleep(0.3)
        spans["a"] = (start, time.perf_counter())
        return x + 1

    @tool
    async def slow_b(x: int) -> int:
        """Slow B."""
        start = time.perf_counter()
        await asyncio.sleep(0.3)
        spans["b"] = (start, time.perf_counter())
        return x + 2

    replies = [[call("slow_a", x=1), call("slow_b", x=10)], final("ok")]
    agent, model = make_agent(tmp_path, replies, tools=[slow_a, slow_b])
    closing.append(agent)
    result = agent.run("Call both, on 1 and on 10.")

    assert result.status == "completed"
    assert [(s.tool, s.result) for s in result.steps] == [("slow_a", 2), ("slow_b", 12)]
    (a0, a1), (b0, b1) = spans["a"], spans["b"]
    # Overlapping spans show it; a wall-clock bound would fail on a loaded machine.
    assert a0 < b1 and b0 < a1, "the two calls did not overlap"
    observation = model.calls[-1][-1]["content"]
    assert "slow_a returned: 2" in observation
    assert "slow_b returned: 12" in observation


def test_a_raising_tool_becomes_an_error_and_the_run_goes_on(
    tmp_path: Path, closing: list[Agent]
) -> None:
    @tool
    def explode(x: int) -> int:
        """Always fails."""
        raise ValueError(f"boom {x}")

    replies = [[call("explode", x=3)], final("it failed")]
    agent, model = make_agent(tmp_path, replies, tools=[explode])
    closing.append(agent)
    result = agent.run("Try it with 3.")

    assert result.status == "completed"
    assert result.output == "it failed"
    [step] = result.steps
    assert step.tool == "explode"
    assert step.result is None
    assert step.error == "ValueError: boom 3"
    assert "explode failed: ValueError: boom 3" in model.calls[-1][-1]["content"]
    [row] = agent.memory.steps(result.session_id)
    assert row["error"] == "ValueError: boom 3"


def test_a_hanging_tool_times_out_and_the_run_goes_on(tmp_path: Path, closing: list[Agent]) -> None:
    release = threading.Event()

    @tool(timeout=0.2)
    def hang() -> str:
        """Never returns in time."""
        release.wait(10)
        return "late"

    replies = [[call("hang")], final("gave up")]
    agent, model = make_agent(tmp_path, replies, tools=[hang])
    closing.append(agent)
    try:
        started = time.perf_counter()
        result = agent.run("Try it with 3.")
        elapsed = time.perf_counter() - started
    finally:
        release.set()

    assert elapsed < 2
    assert result.status == "completed"
    [step] = result.steps
    assert step.tool == "hang"
    assert "timed out" in (step.error or "")
    assert "hang failed: timed out" in model.calls[-1][-1]["content"]


def test_running_out_of_steps(tmp_path: Path, closing: list[Agent]) -> None:
    replies = [[call("multiply", a=i, b=2)] for i in range(1, 4)]
    agent, model = make_agent(tmp_path, replies, max_steps=3)
    closing.append(agent)
    result = agent.run("Keep multiplying by 2, starting from 1.")

    assert result.status == "max_steps"
    assert result.output is None
    assert [(s.step, s.arguments, s.result) for s in result.steps] == [
        (1, {"a": 1, "b": 2}, 2),
        (2, {"a": 2, "b": 2}, 4),
        (3, {"a": 3, "b": 2}, 6),
    ]
    assert len(model.calls) == 3
    rows = agent.memory.steps(result.session_id)
    assert [(r["step"], r["result"]) for r in rows] == [(1, 2), (2, 4), (3, 6)]
    [run] = agent.memory.runs(result.session_id)
    assert (run["status"], run["output"]) == ("max_steps", None)


def test_cut_off_output_is_a_failed_step_and_the_run_goes_on(
    tmp_path: Path, closing: list[Agent], scripted_validation_log: Path
) -> None:
    replies = [('[{"tool": "multiply", "arguments": {"a": 1', "length"), final("done")]
    agent, model = make_agent(tmp_path, replies)
    closing.append(agent)
    result = agent.run("Multiply.")

    assert result.status == "completed"
    assert result.output == "done"
    [step] = result.steps
    assert (step.step, step.tool, step.arguments, step.result) == (1, None, None, None)
    assert "cut off" in (step.error or "")
    assert "cut off" in model.calls[-1][-1]["content"]
    [row] = agent.memory.steps(result.session_id)
    assert row["tool"] is None
    assert "cut off" in row["error"]
    assert [(e["valid"], e["reason"]) for e in audit_lines(scripted_validation_log)] == [
        (False, "cut off"),
        (True, ""),
    ]


@pytest.mark.parametrize(
    "reply",
    [
        [call("divide", a=1, b=2)],
        [call("multiply", a=1, b=2, c=3)],
        '[{"tool": "multiply"',
        [],
    ],
    ids=["unknown-tool", "extra-argument", "not-json", "empty-list"],
)
def test_output_that_does_not_validate_raises_and_marks_the_run(
    tmp_path: Path, closing: list[Agent], scripted_validation_log: Path, reply: Any
) -> None:
    ran: list[Any] = []

    @tool
    def multiply(a: int, b: int) -> int:
        """Multiply."""
        ran.append((a, b))
        return a * b

    agent, _ = make_agent(tmp_path, [reply], tools=[multiply])
    closing.append(agent)
    with pytest.raises(DecodingError):
        agent.run("Multiply.")

    assert ran == []
    [session] = agent.memory.sessions()
    [run] = agent.memory.runs(session["id"])
    assert run["status"] == "error"
    assert run["output"] is None
    assert agent.memory.steps(session["id"]) == []
    [entry] = audit_lines(scripted_validation_log)
    assert entry["valid"] is False
    assert entry["reason"]


@pytest.mark.parametrize("task", ["", "   ", "\n\t"])
def test_empty_task_is_refused_before_anything_is_recorded(
    tmp_path: Path, closing: list[Agent], task: str
) -> None:
    agent, model = make_agent(tmp_path, [final("x")])
    closing.append(agent)
    with pytest.raises(ConfigError, match="empty"):
        agent.run(task)
    assert model.calls == []
    assert agent.memory.sessions() == []


@pytest.mark.parametrize("max_steps", [0, -1])
def test_max_steps_below_one_is_refused(tmp_path: Path, max_steps: int) -> None:
    with pytest.raises(ConfigError, match="max_steps"):
        Agent(ScriptedModel([]), tools=[multiply], memory=tmp_path / "m.db", max_steps=max_steps)


def test_arun_inside_asyncio_run(tmp_path: Path, closing: list[Agent]) -> None:
    agent, _ = make_agent(tmp_path, [[call("multiply", a=6, b=7)], final("42")])
    closing.append(agent)

    async def main() -> tuple[Any, int]:
        ticks = 0

        async def ticker() -> None:  # the loop stays free while the agent works
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        background = asyncio.create_task(ticker())
        try:
            result = await agent.arun("Multiply 6 by 7.")
        finally:
            background.cancel()
        return result, ticks

    result, ticks = asyncio.run(main())
    assert result.status == "completed"
    assert result.output == "42"
    assert result.steps[0].result == 42
    assert ticks > 0


def test_events_in_order(tmp_path: Path, closing: list[Agent]) -> None:
    step1 = json.dumps([call("multiply", a=12, b=7)])
    agent, _ = make_agent(tmp_path, [step1, final("84")])
    closing.append(agent)
    events: list[Event] = []
    result = agent.run("Multiply 12 by 7.", on_event=events.append)

    kinds = [(e.kind, e.step) for e in events if e.kind != "text"]
    assert kinds == [
        ("run_started", 0),
        ("step_started", 1),
        ("tool_call", 1),
        ("tool_result", 1),
        ("step_started", 2),
        ("final_answer", 2),
        ("run_finished", 0),
    ]
    by_kind = {e.kind: e for e in events}
    assert by_kind["run_started"].data["session_id"] == result.session_id
    assert by_kind["tool_call"].data == {"tool": "multiply", "arguments": {"a": 12, "b": 7}}
    assert by_kind["tool_result"].data == {"tool": "multiply", "result": 84, "error": None}
    assert by_kind["final_answer"].data == {"answer": "84"}
    assert by_kind["run_finished"].data == result.as_dict()
    streamed = "".join(e.data["text"] for e in events if e.kind == "text" and e.step == 1)
    assert streamed == step1


def test_same_constraint_object_every_step(tmp_path: Path, closing: list[Agent]) -> None:
    replies = [[call("multiply", a=1, b=2)], [call("multiply", a=2, b=3)], final("6")]
    agent, model = make_agent(tmp_path, replies)
    closing.append(agent)
    agent.run("Multiply 1 by 2, then 2 by 3.")

    assert len(model.constraints) == 3
    first = model.constraints[0]
    assert isinstance(first, JsonSchemaConstraint)
    assert all(c is first for c in model.constraints)
    assert first.schema is agent.actions.schema
    assert first.list_of_unique_items is True
    # A second run of the same agent keeps using it.
    model._replies.append(final("again"))
    agent.run("Again.")
    assert model.constraints[-1] is first


def test_repeated_calls_in_one_step_run_once(tmp_path: Path, closing: list[Agent]) -> None:
    ran: list[tuple[int, int]] = []

    @tool
    def multiply(a: int, b: int) -> int:
        """Multiply."""
        ran.append((a, b))
        return a * b

    replies = [[call("multiply", a=3, b=4)] * 3, final("12")]
    agent, model = make_agent(tmp_path, replies, tools=[multiply])
    closing.append(agent)
    result = agent.run("Multiply 3 by 4.")

    assert ran == [(3, 4)]
    assert [(s.tool, s.result) for s in result.steps] == [("multiply", 12)]
    # The history shows the model its step without the repeats.
    assert json.loads(model.calls[1][2]["content"]) == [call("multiply", a=3, b=4)]
    assert len(agent.memory.steps(result.session_id)) == 1


def test_context_overflow_ends_the_run_with_status_error(
    tmp_path: Path, closing: list[Agent]
) -> None:
    class FullModel(ScriptedModel):
        def generate(self, messages: Any, **kwargs: Any) -> Generation:
            if len(self.calls) >= 1:
                raise ContextOverflowError("the prompt has 9000 tokens")
            return super().generate(messages, **kwargs)

    model = FullModel([[call("multiply", a=1, b=2)]])
    agent = Agent(model, tools=[multiply], memory=tmp_path / "m.db")
    closing.append(agent)
    result = agent.run("Multiply 1 by 2.")

    assert result.status == "error"
    assert result.output is None
    assert "context window is full" in (result.error or "")
    assert [s.result for s in result.steps] == [2]
    [run] = agent.memory.runs(result.session_id)
    assert run["status"] == "error"
