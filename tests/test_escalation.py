"""Escalation with scripted models: the policy, the detector, the calculator check, the record.

Scripted outputs were never constrained (some are wrong on purpose), so they are kept out of
the session's validation tally (see the autouse fixture); real-model escalation is tested in
test_escalation_model.py.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlite_utils import Database

from agentsmall import _audit, tool
from agentsmall._escalation import (
    ANSWER_SCHEMA,
    ESCALATE,
    Escalator,
    check_answer,
    looks_like_math,
)
from agentsmall._tool import _loop_tool
from agentsmall.agent import Agent, Event
from agentsmall.errors import ConfigError, ToolDefinitionError
from agentsmall.memory import SCHEMA_VERSION, Memory, Retention
from agentsmall.memory._schema import migrate
from agentsmall.models import ScriptedModel
from agentsmall.tools.calculator import TOOLS


@pytest.fixture(autouse=True)
def scripted_validation_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "scripted-validation.jsonl"
    monkeypatch.setenv(_audit.VALIDATION_LOG_ENV, str(path))
    return path


def call(tool_name: str, /, **arguments: Any) -> str:
    return json.dumps([{"tool": tool_name, "arguments": arguments}])


def final(answer: str) -> str:
    return call("final_answer", answer=answer)


def reasoner_replies(thinking: str, answer: str, expression: str) -> list[str]:
    """One escalation: free thinking, then the constrained JSON answer."""
    return [thinking, json.dumps({"answer": answer, "expression": expression, "explanation": "."})]


@tool
def lookup(city: str) -> str:
    """Look up a city."""
    return f"{city} is a city"


@pytest.fixture
def agents() -> Iterator[list[Agent]]:
    made: list[Agent] = []
    yield made
    for agent in made:
        agent.memory.close()


def make(
    agents: list[Agent],
    tmp_path: Path,
    planner: Sequence[Any],
    reasoner: Sequence[Any] | None,
    *,
    escalation: str = "auto",
    tools: Sequence[Any] = (lookup,),
    **options: Any,
) -> tuple[Agent, ScriptedModel, ScriptedModel | None]:
    planner_model = ScriptedModel(planner, name="planner")
    reasoner_model = None if reasoner is None else ScriptedModel(reasoner, name="reasoner")
    agent = Agent(
        planner_model,
        tools=list(tools),
        memory=tmp_path / "m.db",
        reasoner=reasoner_model,
        escalation=escalation,
        **options,
    )
    agents.append(agent)
    return agent, planner_model, reasoner_model


def offers_escalate(model: ScriptedModel) -> bool:
    constraint = model.constraints[0]
    assert constraint is not None
    return f'"const": "{ESCALATE}"' in json.dumps(constraint.schema)


# -- the detector --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "What is 12 times 7?",
        "Compute 345 * 12 + 7",
        "What is 10 - 3?",
        "A baker makes 12 trays of 24 cookies and sells 150. How many cookies are left?",
        "She has three apples and buys five more. How many apples does she have?",
        "Tickets cost 15 dollars each; how much do 4 tickets cost?",
        "What is 15% of 80?",
    ],
)
def test_the_math_detector_fires_on_arithmetic(text: str) -> None:
    assert looks_like_math(text)


@pytest.mark.parametrize(
    "text",
    [
        "What is the weather in Paris?",
        "Look up order 12345 and tell me its status.",
        "Meet on 2024-05-01 in room 12.",
        "Call 555-1234 or 555-9876.",
        "How many moons does Mars have?",  # an arithmetic word, but only one... no number at all
        "Book room 12 for 3 nights",  # two numbers, no operation
    ],
)
def test_the_math_detector_stays_quiet_otherwise(text: str) -> None:
    assert not looks_like_math(text)


# -- the calculator check ------------------------------------------------------------------------


def test_a_stated_answer_that_the_calculator_confirms_is_verified() -> None:
    check = check_answer("138", "12*24-150")
    assert (check.answer, check.verified, check.result) == ("138", True, "agrees")


def test_a_wrong_answer_with_a_right_expression_is_corrected_and_said() -> None:
    check = check_answer("148", "12*24-150")
    assert (check.answer, check.verified, check.result, check.calculated) == (
        "138",
        False,
        "corrected",
        "138",
    )
    assert "answered 148 but its expression 12*24-150 evaluates to 138" in check.note


def test_an_expression_the_calculator_refuses_leaves_the_answer_unverified() -> None:
    check = check_answer("138", "12 trays * 24")
    assert (check.answer, check.verified, check.result) == ("138", False, "unchecked")
    assert "could not be evaluated" in check.note
    assert check_answer("138", "").result == "unchecked"


# -- the internal tool ---------------------------------------------------------------------------


def test_the_escalate_tool_takes_a_reserved_name_that_user_tools_cannot() -> None:
    def escalate(problem: str) -> str:
        return problem

    with pytest.raises(ToolDefinitionError, match="reserved"):
        tool(escalate)
    internal = _loop_tool(escalate, name="escalate")
    assert internal.name == "escalate"
    assert internal.parameters["required"] == ["problem"]
    with pytest.raises(ToolDefinitionError):
        _loop_tool(escalate, name="not_reserved")


# -- policy decisions ------------------------------------------------------------------------------


def test_without_a_reasoner_nothing_changes(tmp_path: Path, agents: list[Agent]) -> None:
    agent, planner, _ = make(agents, tmp_path, [final("done")], None)
    result = agent.run("What is 12 times 7?")
    assert agent.escalator is None
    assert not offers_escalate(planner)
    assert result.escalations == [] and result.as_dict()["escalations"] == []


def test_never_neither_offers_nor_escalates(tmp_path: Path, agents: list[Agent]) -> None:
    agent, planner, reasoner = make(agents, tmp_path, [final("84")], [], escalation="never")
    result = agent.run("What is 12 times 7?")  # math, but the policy says never
    assert not offers_escalate(planner)
    assert "escalate" not in planner.calls[0][0]["content"]
    assert reasoner is not None and reasoner.calls == []
    assert result.escalations == []


def test_auto_offers_escalate_but_leaves_a_task_without_math_alone(
    tmp_path: Path, agents: list[Agent]
) -> None:
    agent, planner, reasoner = make(agents, tmp_path, [final("a city")], [])
    result = agent.run("Tell me about Paris.")
    assert offers_escalate(planner)
    assert "escalate(problem: string)" in planner.calls[0][0]["content"]
    assert reasoner is not None and reasoner.calls == []
    assert result.escalations == []


def test_auto_escalates_a_math_task_before_the_first_step(
    tmp_path: Path, agents: list[Agent]
) -> None:
    task = "A baker makes 12 trays of 24 cookies and sells 150. How many cookies are left?"
    thinking = "SECRET-THINKING: 12*24 = 288, 288 - 150 = 138. Answer: 138"
    agent, planner, reasoner = make(
        agents, tmp_path, [final("138")], reasoner_replies(thinking, "138", "12*24-150")
    )
    events: list[Event] = []
    result = agent.run(task, on_event=events.append)

    assert result.output == "138"
    [escalation] = result.escalations
    assert (escalation.trigger, escalation.step, escalation.problem) == ("task", 0, task)
    assert (escalation.answer, escalation.verified, escalation.model) == ("138", True, "reasoner")
    assert escalation.prompt_tokens > 0 and escalation.output_tokens > 0
    # The reasoner thought freely, then answered under the constraint, seeing its thinking.
    assert reasoner is not None
    assert reasoner.constraints[0] is None
    assert reasoner.constraints[1] is not None and reasoner.constraints[1].schema == ANSWER_SCHEMA
    assert "step by step" in reasoner.calls[0][0]["content"]
    assert any(m["content"] == thinking for m in reasoner.calls[1])
    # The planner saw the answer and the verification, never the thinking.
    prompt = "\n".join(m["content"] for m in planner.calls[0])
    assert '"answer": "138"' in prompt and '"verified": true' in prompt
    assert "SECRET-THINKING" not in prompt
    assert [e.kind for e in events].count("escalation") == 1


def test_always_escalates_even_a_task_without_math(tmp_path: Path, agents: list[Agent]) -> None:
    agent, _, reasoner = make(
        agents, tmp_path, [final("ok")], reasoner_replies("hm", "Paris", ""), escalation="always"
    )
    result = agent.run("Tell me about Paris.")
    [escalation] = result.escalations
    assert escalation.trigger == "task"
    assert (escalation.answer, escalation.verified, escalation.check) == (
        "Paris",
        False,
        "unchecked",
    )
    assert reasoner is not None and len(reasoner.calls) == 2


def test_the_planner_can_escalate_a_sub_step(tmp_path: Path, agents: list[Agent]) -> None:
    problem = "How many wheels do 17 cars have?"  # one number: the detector alone stays quiet
    assert not looks_like_math("Tell me about cars.")
    agent, planner, _ = make(
        agents,
        tmp_path,
        [call(ESCALATE, problem=problem), final("68")],
        reasoner_replies("4 wheels each", "68", "17*4"),
    )
    result = agent.run("Tell me about cars.")
    [escalation] = result.escalations
    assert (escalation.trigger, escalation.step, escalation.answer) == ("planner", 1, "68")
    [step] = result.steps  # the escalate call is a step like any other call
    assert (step.tool, step.result["answer"], step.result["verified"]) == (ESCALATE, "68", True)
    assert '"verified": true' in planner.calls[1][-1]["content"]


def test_auto_escalates_a_word_problem_written_into_a_tool_argument(
    tmp_path: Path, agents: list[Agent]
) -> None:
    sub = "3 boxes of 12 eggs, how many eggs in all?"
    agent, planner, _ = make(
        agents,
        tmp_path,
        [call("calculate", expression=sub), final("36")],
        reasoner_replies("3*12=36", "36", "3*12"),
        tools=TOOLS,
    )
    result = agent.run("Count the eggs for me.")
    [escalation] = result.escalations
    assert (escalation.trigger, escalation.problem, escalation.answer) == ("substep", sub, "36")
    observation = planner.calls[1][-1]["content"]
    assert "calculate failed" in observation and '"answer": "36"' in observation


def test_bad_policies_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="escalation must be one of"):
        Agent(ScriptedModel([]), memory=tmp_path / "m.db", reasoner=ScriptedModel([]),
              escalation="sometimes")  # fmt: skip
    with pytest.raises(ConfigError, match="needs a reasoner"):
        Agent(ScriptedModel([]), memory=tmp_path / "m.db", escalation="always")


# -- the calculator check in the loop --------------------------------------------------------------


def test_a_wrong_reasoner_answer_is_caught_and_reported_to_the_planner(
    tmp_path: Path, agents: list[Agent]
) -> None:
    """Wrong answer, right expression: the calculator's value goes to the planner, said so."""
    agent, planner, _ = make(
        agents,
        tmp_path,
        [call(ESCALATE, problem="12 trays of 24 cookies, 150 sold: how many left?"), final("138")],
        reasoner_replies("288 - 150 = 148", "148", "12*24-150"),
    )
    result = agent.run("Tell me about the bakery.")
    [escalation] = result.escalations
    assert (escalation.stated_answer, escalation.answer) == ("148", "138")
    assert (escalation.verified, escalation.check, escalation.calculated) == (
        False,
        "corrected",
        "138",
    )
    seen = planner.calls[1][-1]["content"]
    assert "the reasoner answered 148 but its expression 12*24-150 evaluates to 138" in seen
    assert '"answer": "138"' in seen and '"verified": false' in seen


def test_a_right_answer_with_a_wrong_expression_is_not_verified_either(
    tmp_path: Path, agents: list[Agent]
) -> None:
    agent, planner, _ = make(
        agents,
        tmp_path,
        [call(ESCALATE, problem="12 trays of 24 cookies, 150 sold: how many left?"), final("?")],
        reasoner_replies("...", "138", "12*24-140"),
    )
    [escalation] = agent.run("Tell me about the bakery.").escalations
    assert (escalation.verified, escalation.check, escalation.answer) == (False, "corrected", "148")
    assert "answered 138 but its expression 12*24-140 evaluates to 148" in escalation.note
    assert escalation.note in planner.calls[1][-1]["content"]


def test_an_answer_that_is_not_valid_json_is_a_failed_escalation(
    tmp_path: Path, agents: list[Agent], scripted_validation_log: Path
) -> None:
    agent, planner, _ = make(
        agents,
        tmp_path,
        [call(ESCALATE, problem="2 + 2 * 3"), final("?")],
        ["thinking", '{"answer": 8'],
    )
    [escalation] = agent.run("Tell me about sums.").escalations
    assert (escalation.answer, escalation.verified, escalation.check) == (None, False, "failed")
    assert "escalate failed" in planner.calls[1][-1]["content"]
    verdicts = [json.loads(line) for line in scripted_validation_log.read_text().splitlines()]
    reasoner_verdicts = [(v["valid"], v["model"]) for v in verdicts if v["model"] == "reasoner"]
    assert reasoner_verdicts == [(False, "reasoner")]  # counted, as an invalid output


# -- the record ------------------------------------------------------------------------------------


def test_escalations_are_recorded_with_their_thinking_and_cost(
    tmp_path: Path, agents: list[Agent]
) -> None:
    agent, _, _ = make(
        agents,
        tmp_path,
        [call(ESCALATE, problem="What is 6 times 7?"), final("42")],
        reasoner_replies("six sevens: THOUGHT", "42", "6*7"),
    )
    result = agent.run("Tell me something.")
    [row] = agent.memory.escalations(result.session_id, result.run_id)
    assert row["thinking"] == "six sevens: THOUGHT"
    assert (row["model"], row["planner_model"], row["verified"]) == ("reasoner", "planner", True)
    assert row["prompt_tokens"] > 0 and row["output_tokens"] > 0 and row["seconds"] >= 0
    data = result.as_dict()["escalations"][0]
    assert set(data) >= {"problem", "answer", "model", "seconds", "verified", "output_tokens"}
    assert "thinking" not in data  # kept in memory, not in the run's report
    json.dumps(result.as_dict())


def test_a_version_2_file_is_upgraded_to_3_and_keeps_its_data(tmp_path: Path) -> None:
    path = tmp_path / "v2.db"
    db = Database(path)
    migrate(db, 0, 2)  # exactly what agentsmall wrote at schema version 2
    db.execute("PRAGMA application_id = 1634169709")
    db.table("sessions").insert(
        {"id": "old", "agent": "a", "model": "m", "created_at": 1.0, "last_used_at": 1.0}
    )
    db.conn.commit()
    db.close()
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == 2
        assert "escalations" not in {r[0] for r in raw.execute("SELECT name FROM sqlite_master")}

    with Memory(path) as memory:
        assert memory.session("old") is not None
        assert memory.escalations("old") == []
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 4
        assert "escalations" in {r[0] for r in raw.execute("SELECT name FROM sqlite_master")}


def test_pruning_a_session_deletes_its_escalations(tmp_path: Path, agents: list[Agent]) -> None:
    agent, _, _ = make(
        agents,
        tmp_path,
        [call(ESCALATE, problem="6 * 7"), final("42")],
        reasoner_replies("", "42", "6*7"),
    )
    result = agent.run("Tell me something.")
    agent.memory.start_session(session_id="newer", agent="a", model="m")
    agent.memory.prune(Retention(keep_sessions=1), spare="newer")
    assert agent.memory.escalations(result.session_id) == []


def test_an_escalator_built_from_a_name_does_not_load_the_model(tmp_path: Path) -> None:
    escalator = Escalator.create("smollm2-135m", "auto")
    assert escalator is not None
    model = escalator.reasoner.model
    assert (model.loaded, model.loads) == (False, 0)  # type: ignore[attr-defined]
