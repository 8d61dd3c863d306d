"""Long-term facts: FTS5 recall with recency, scopes, limits, the memory tools, prompt injection."""

from __future__ import annotations

import random
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from agentsmall import _audit
from agentsmall.agent import Agent
from agentsmall.errors import MemoryStoreError
from agentsmall.memory import MAX_FACT_CHARS, FactTooLargeError, Memory, using_memory
from agentsmall.models import ScriptedModel
from agentsmall.tools import memory as memory_tools


@pytest.fixture(autouse=True)
def scripted_validation_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(_audit.VALIDATION_LOG_ENV, str(tmp_path / "scripted.jsonl"))


@pytest.fixture
def memory(tmp_path: Path) -> Any:
    with Memory(tmp_path / "m.db") as mem:
        yield mem


def test_recall_finds_the_right_fact_among_thousands(memory: Memory) -> None:
    rng = random.Random(7)
    names = ["Ana", "Ben", "Cleo", "Dev", "Eli", "Fay", "Gus", "Hal"]
    things = ["dentist", "flight", "invoice", "meeting", "recipe", "router", "garden", "budget"]
    noise = [
        f"{rng.choice(names)} mentioned the {rng.choice(things)} on day {i} at {rng.randint(1, 9)}"
        for i in range(5000)
    ]
    memory.remember_many(noise)
    target = memory.remember("My sister Beatrix is allergic to peanuts.")
    memory.remember("Beatrix likes the garden.")
    found = memory.recall("Which allergy does my sister have?")
    assert found and found[0].id == target
    found = memory.recall("peanuts")
    assert [f.id for f in found][:1] == [target]
    assert memory.recall("zeppelin") == []


def test_recency_breaks_ties_but_does_not_beat_relevance(memory: Memory, tmp_path: Path) -> None:
    old = memory.remember("The office wifi password is tulip42.")
    new = memory.remember("The office wifi password is orchid77.")
    weak = memory.remember("Somebody said something about the office once.")
    now = time.time()
    with sqlite3.connect(tmp_path / "m.db") as raw:
        raw.execute("UPDATE facts SET updated_at = ? WHERE id = ?", [now - 200 * 86400, old])
        raw.execute("UPDATE facts SET updated_at = ? WHERE id = ?", [now - 400 * 86400, weak])
    ids = [f.id for f in memory.recall("office wifi password", now=now)]
    assert ids[:2] == [new, old]
    # Remembering the old one again refreshes it: it is now the most recent.
    assert memory.remember("the office  WIFI password is tulip42.") == old
    assert next(f.id for f in memory.recall("office wifi password")) == old
    assert len(memory.facts()) == 3


def test_scopes(memory: Memory) -> None:
    g = memory.remember("Paris is the capital of France.")
    a = memory.remember("The capital report is due Friday.", scope="agent", owner="writer")
    s = memory.remember("In this chat the capital means money.", scope="session", owner="s1")
    assert {f.id for f in memory.recall("capital")} == {g}
    assert {f.id for f in memory.recall("capital", agent="writer")} == {g, a}
    assert {f.id for f in memory.recall("capital", agent="writer", session_id="s1")} == {g, a, s}
    assert {f.id for f in memory.recall("capital", agent="reader", session_id="s2")} == {g}
    assert memory.forget(a, agent="reader") is False  # not visible, not deleted
    assert memory.forget(a, agent="writer") is True
    assert {f.id for f in memory.recall("capital", agent="writer")} == {g}


def test_a_fact_too_large_is_refused_and_nothing_is_written(memory: Memory) -> None:
    with pytest.raises(FactTooLargeError, match=r"too large: 1001 characters.*at most 1000"):
        memory.remember("x" * (MAX_FACT_CHARS + 1))
    with pytest.raises(ValueError, match="must not be empty"):
        memory.remember("   ")
    assert memory.facts() == []
    assert memory.remember("y" * MAX_FACT_CHARS) > 0


@pytest.mark.parametrize("query", ['"', "NEAR(a b", "a AND OR", "*", "col:x", "'; DROP TABLE"])
def test_queries_are_never_fts_syntax(memory: Memory, query: str) -> None:
    memory.remember("a fact about col and x and drop table")
    memory.recall(query)  # no error, whatever it finds


def call(tool_name: str, /, **arguments: Any) -> dict[str, Any]:
    return {"tool": tool_name, "arguments": arguments}


def test_memory_tools_in_agent_runs_across_sessions(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    first = Agent(
        ScriptedModel([[call("remember", fact="The user's cat is called Miso.")],
                       [call("final_answer", answer="noted")]]),
        tools=memory_tools.TOOLS, memory=db, name="helper",
    )  # fmt: skip
    try:
        first.run("Remember that my cat is called Miso.", session_id="one")
    finally:
        first.memory.close()

    second = Agent(
        ScriptedModel([[call("recall", query="cat name")], [call("forget", fact_id=1)],
                       [call("forget", fact_id=1)], [call("final_answer", answer="Miso")]]),
        tools=memory_tools.TOOLS, memory=db, name="helper",
    )  # fmt: skip
    try:
        result = second.run("What is my cat called? Then forget it.", session_id="two")
    finally:
        second.memory.close()
    recalled, forgot, again = result.steps
    assert recalled.result == [
        {"id": 1, "fact": "The user's cat is called Miso.", "scope": "agent"}
    ]
    assert forgot.result == "forgot fact 1" and forgot.error is None
    assert "no fact 1" in (again.error or "")
    with Memory(db) as mem:
        assert mem.facts(agent="helper") == []


def test_memory_tools_outside_a_run_say_so(memory: Memory) -> None:
    with pytest.raises(MemoryStoreError, match="inside an agent run"):
        memory_tools.recall.function(query="x")
    with using_memory(memory, agent="a", session_id="s"):
        assert memory_tools.remember.function(fact="Tea, no sugar.", scope="session")["id"] > 0
        assert memory_tools.recall.function(query="sugar")[0]["scope"] == "session"


def test_relevant_facts_are_injected_into_the_prompt(tmp_path: Path) -> None:
    with Memory(tmp_path / "m.db") as mem:
        mem.remember("The user's name is Ada.", scope="agent", owner="helper")
        mem.remember("The deploy key lives in the vault.", scope="agent", owner="other")
        mem.remember("Ships float.")
    model = ScriptedModel([[call("final_answer", answer="Ada")]] * 2)
    agent = Agent(model, memory=tmp_path / "m.db", name="helper", recall_facts=3)
    plain = Agent(model, memory=agent.memory, name="helper")
    try:
        agent.run("What is the user's name?")
        plain.run("What is the user's name?")
    finally:
        agent.memory.close()
    injected, without = model.calls[0][0]["content"], model.calls[1][0]["content"]
    assert "Facts you remember" in injected and "- The user's name is Ada." in injected
    assert "deploy key" not in injected  # another agent's fact
    assert "Facts you remember" not in without
