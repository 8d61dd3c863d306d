"""The agent end to end on the real embedded model (SmolLM2-135M-Instruct).

Few generations on purpose: each run below takes two or three planner steps.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from agentsmall._tool import tool
from agentsmall.agent import Agent


def test_multiply_task_end_to_end(
    embedded_model: Any, tmp_path: Path, validation_log: Path
) -> None:
    seen: list[tuple[Any, Any]] = []

    @tool
    def multiply(a: int, b: int) -> int:
        """Multiply two integers."""
        seen.append((a, b))
        return a * b

    logged_before = validation_log.read_text().splitlines() if validation_log.exists() else []
    db = tmp_path / "m.db"
    agent = Agent(embedded_model, tools=[multiply], memory=db, max_steps=4)
    result = agent.run("Use the multiply tool to compute 12 times 7.")
    agent.memory.close()

    assert result.status == "completed", result
    assert "84" in (result.output or "")
    assert seen == [(12, 7)]
    assert all(type(v) is int for v in seen[0])
    [step] = result.steps
    assert (step.step, step.tool, step.arguments, step.result, step.error) == (
        1,
        "multiply",
        {"a": 12, "b": 7},
        84,
        None,
    )
    assert all(type(v) is int for v in step.arguments.values())
    assert result.stats["planner_steps"] == 2
    assert result.stats["forced_tokens"] > 0
    # The second step reused the cached prompt of the first.
    assert result.stats["prompt_tokens_evaluated"] < result.stats["prompt_tokens"]

    # Both planner outputs were constrained, validated and counted in the session tally.
    logged = validation_log.read_text().splitlines()[len(logged_before) :]
    entries = [json.loads(line) for line in logged]
    assert [(e["valid"], e["model"]) for e in entries] == [(True, embedded_model.name)] * 2

    # Everything is on disk, as seen by a fresh connection.
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        [session] = conn.execute("SELECT * FROM sessions").fetchall()
        assert session["id"] == result.session_id
        assert session["model"] == embedded_model.name
        [run] = conn.execute("SELECT * FROM runs").fetchall()
        assert (run["id"], run["session_id"], run["status"]) == (
            result.run_id,
            result.session_id,
            "completed",
        )
        assert run["task"] == "Use the multiply tool to compute 12 times 7."
        assert "84" in run["output"]
        assert run["finished_at"] >= run["started_at"]
        [row] = conn.execute("SELECT * FROM steps").fetchall()
        assert (row["run_id"], row["step"], row["call_index"], row["tool"]) == (
            result.run_id,
            1,
            0,
            "multiply",
        )
        assert json.loads(row["arguments"]) == {"a": 12, "b": 7}
        assert json.loads(row["result"]) == 84
        assert row["error"] is None
        assert json.loads(row["raw_output"]) == [
            {"tool": "multiply", "arguments": {"a": 12, "b": 7}}
        ]
        assert row["model"] == embedded_model.name
        assert row["prompt_tokens"] > 0 and row["output_tokens"] > 0
        messages = conn.execute("SELECT role, content FROM messages ORDER BY id").fetchall()
        assert [m["role"] for m in messages] == ["system", "user", "assistant", "user", "assistant"]
        assert "multiply returned: 84" in messages[3]["content"]
        assert json.loads(messages[4]["content"])[0]["tool"] == "final_answer"
    conn.close()


def test_a_tool_that_raises_does_not_crash_the_run(embedded_model: Any, tmp_path: Path) -> None:
    @tool
    def divide(a: int, b: int) -> float:
        """Divide a by b."""
        return a / b

    agent = Agent(embedded_model, tools=[divide], memory=tmp_path / "m.db", max_steps=3)
    try:
        result = agent.run("Use the divide tool to divide 10 by 0.")
        rows = agent.memory.steps(result.session_id)
    finally:
        agent.memory.close()

    assert result.status in ("completed", "max_steps"), result
    failed = [s for s in result.steps if s.tool == "divide" and s.error]
    assert failed, result.steps
    assert all("ZeroDivisionError" in s.error for s in failed)
    assert any(r["tool"] == "divide" and "ZeroDivisionError" in (r["error"] or "") for r in rows)
