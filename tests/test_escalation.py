"""Escalation with scripted models: the policy, the detector, the calculator check, the record.

Scripted outputs were never constrained (some are wrong on purpose), so they are kept out of
the session's validation tally (see the autouse fixture); real-model escalation is tested in
test_escalation_model.py.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
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
    has_operation,
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
def agents(closing: list[Agent]) -> list[Agent]:
    """The conftest `closing` fixture, under this module's name for it."""
    return closing


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


def offers_escalate(model: ScriptedModel, call_index: int = 0) -> bool:
    constraint = model.constraints[call_index]
    assert constraint is not None
    return f'"const": "{ESCALATE}"' in json.dumps(constraint.schema)


def offers_final_answer(model: ScriptedModel, call_index: int) -> bool:
    constraint = model.constraints[call_index]
    assert constraint is not None
    return '"const": "final_answer"' in json.dumps(constraint.schema)


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


@pytest.mark.parametrize("expression", ["12", "(12)", " 12 = ", "12.0"])
def test_a_bare_number_is_nothing_to_check_not_verified(expression: str) -> None:
    """Answer 12 with expression 12 is the claim written twice: no calculation was checked."""
    check = check_answer("12", expression)
    assert (check.answer, check.verified, check.result) == ("12", False, "nothing to check")
    assert check.note.startswith("unverified:") and "bare number" in check.note
    assert "not the stated answer" not in check.note


def test_a_bare_number_that_contradicts_the_answer_says_so_and_corrects_nothing() -> None:
    check = check_answer("12", "-13")
    assert (check.answer, check.verified, check.result) == ("12", False, "nothing to check")
    assert "not the stated answer 12" in check.note


@pytest.mark.parametrize(
    ("expression", "computes"),
    [("12", False), ("-12", False), ("((7))", False), ("3*4", True), ("sqrt(144)", True),
     ("10 - 3", True), ("2**3", True), ("12 trays", False)],
)  # fmt: skip
def test_what_counts_as_an_operation(expression: str, computes: bool) -> None:
    assert has_operation(expression) is computes


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


def test_a_bare_number_escalation_is_reported_as_nothing_to_check(
    tmp_path: Path, agents: list[Agent]
) -> None:
    agent, planner, _ = make(
        agents,
        tmp_path,
        [call(ESCALATE, problem="12 eggs, how many eggs?"), final("12")],
        reasoner_replies("12", "12", "12"),
    )
    result = agent.run("Tell me about eggs.")
    [escalation] = result.escalations
    assert (escalation.answer, escalation.verified, escalation.check) == (
        "12",
        False,
        "nothing to check",
    )
    data = result.as_dict()["escalations"][0]
    assert {k: data[k] for k in ("problem", "answer", "model", "verified")} == {
        "problem": "12 eggs, how many eggs?",
        "answer": "12",
        "model": "reasoner",
        "verified": False,
    }
    assert data["check"] == "nothing to check" and data["seconds"] >= 0
    seen = planner.calls[1][-1]["content"]
    assert '"verified": false' in seen and "nothing for the calculator to check" in seen
    [row] = agent.memory.escalations(result.session_id)
    assert (row["verified"], row["check_result"]) == (0, "nothing to check")


# -- the planner acts on an answer instead of asking again -------------------------------------


def test_the_step_after_an_escalation_does_not_offer_escalate(
    tmp_path: Path, agents: list[Agent]
) -> None:
    agent, planner, reasoner = make(
        agents,
        tmp_path,
        [
            call(ESCALATE, problem="What is 6 times 7?"),  # step 1: offered
            call("lookup", city="Paris"),  # step 2: escalate is not offered
            call(ESCALATE, problem="What is 6 times 8?"),  # step 3: offered again
            final("48"),  # step 4: not offered
        ],
        reasoner_replies("6*7", "42", "6*7") + reasoner_replies("6*8", "48", "6*8"),
    )
    result = agent.run("Tell me something.")
    assert result.output == "48" and len(result.escalations) == 2
    assert [offers_escalate(planner, i) for i in range(4)] == [True, False, True, False]
    assert all(offers_final_answer(planner, i) for i in range(4))
    assert reasoner is not None and len(reasoner.calls) == 4


def test_after_the_task_escalation_step_1_may_finish_but_not_escalate(
    tmp_path: Path, agents: list[Agent]
) -> None:
    """The calculator agent's first step must call a tool; a checked reasoner answer before
    step 1 lifts that (it is not an answer from memory), and step 1 cannot escalate again."""
    task = "A baker makes 12 trays of 24 cookies and sells 150. How many cookies are left?"
    agent, planner, _ = make(
        agents,
        tmp_path,
        [final("138")],
        reasoner_replies("288 - 150", "138", "12*24-150"),
        escalation="always",
        tools=TOOLS,
        must_use_tool=True,
    )
    result = agent.run(task)
    assert result.output == "138" and result.status == "completed"
    assert not offers_escalate(planner, 0) and offers_final_answer(planner, 0)
    prompt = "\n".join(m["content"] for m in planner.calls[0])
    assert '"answer": "138"' in prompt and '"verified": true' in prompt


def test_a_failed_task_escalation_keeps_the_must_use_tool_rule(
    tmp_path: Path, agents: list[Agent]
) -> None:
    agent, planner, _ = make(
        agents,
        tmp_path,
        [call("calculate", expression="12*24-150"), final("138")],
        ["thinking", "not json"],
        escalation="always",
        tools=TOOLS,
        must_use_tool=True,
    )
    result = agent.run("What is 12*24-150?")
    assert result.output == "138"
    assert not offers_final_answer(planner, 0) and not offers_escalate(planner, 0)
    assert offers_final_answer(planner, 1) and offers_escalate(planner, 1)


@pytest.mark.parametrize(
    "again",
    [
        "What is 6 times 7?",  # the same problem
        "  what is 6 TIMES 7 ",  # the same, up to case, spaces and punctuation
        "42",  # the answer it was given, sent back as a "problem"
        "42.0",
        "$42",
    ],
)
def test_an_answered_problem_is_not_sent_to_the_reasoner_again(
    tmp_path: Path, agents: list[Agent], again: str
) -> None:
    agent, planner, reasoner = make(
        agents,
        tmp_path,
        [
            call(ESCALATE, problem="What is 6 times 7?"),
            call("lookup", city="Paris"),
            call(ESCALATE, problem=again),
            final("42"),
        ],
        reasoner_replies("6*7", "42", "6*7"),  # one escalation's replies only
    )
    result = agent.run("Tell me something.")
    assert reasoner is not None and len(reasoner.calls) == 2  # asked once
    assert len(result.escalations) == 1  # the repeat is not an escalation: nothing was asked
    repeat = result.steps[-1]
    assert (repeat.tool, repeat.error) == (ESCALATE, None)
    assert repeat.result["answer"] == "42" and repeat.result["verified"] is True
    assert "already answered at step 1" in repeat.result["note"]
    assert "already answered" in planner.calls[3][-1]["content"]


def test_a_new_number_or_a_failed_problem_is_sent_again(
    tmp_path: Path, agents: list[Agent]
) -> None:
    agent, _, reasoner = make(
        agents,
        tmp_path,
        [
            call(ESCALATE, problem="What is 6 times 7?"),  # fails: not JSON
            call("lookup", city="Paris"),
            call(ESCALATE, problem="What is 6 times 7?"),  # asked again: it had no answer
            call("lookup", city="Rome"),
            call(ESCALATE, problem="43"),  # a number that is not an earlier answer
            final("42"),
        ],
        ["t", "not json", *reasoner_replies("6*7", "42", "6*7"), *reasoner_replies("", "43", "")],
        max_steps=6,
    )
    result = agent.run("Tell me something.")
    assert [e.check for e in result.escalations] == ["failed", "agrees", "unchecked"]
    assert reasoner is not None and len(reasoner.calls) == 6


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


# -- planner-only vs escalate, side by side in one run -------------------------------------------


def test_eval_gsm8k_runs_both_modes_in_one_process_and_prints_each_as_it_finishes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """One scripted model, loaded once, serves both modes (and stands in as the reasoner)."""
    from agentsmall.cli import _eval, main
    from agentsmall.evals import shipped_data

    model = ScriptedModel(
        [
            # planner mode: item 1 right, item 2 wrong
            call("calculate", expression="3*12-10"),
            final("She has 26 pencils left."),
            call("multiply", a=60, b=4),
            final("250 km"),
            # escalate mode: the reasoner first, then the planner may finish at once
            *reasoner_replies("3*12 = 36, 36-10 = 26", "26", "3*12-10"),
            final("26"),
            *reasoner_replies("60*4 = 250", "250", "60*4"),  # caught: 60*4 is 240
            final("240"),
        ]
    )
    loads: list[Any] = []
    monkeypatch.setattr(_eval, "_load", lambda args: loads.append(args) or model)
    out = tmp_path / "items.jsonl"
    data = str(shipped_data() / "gsm8k" / "test.jsonl")
    argv = ["eval", "gsm8k", "--data", data, "--limit", "2", "--out", str(out), "--json"]
    code = main([*argv, "--mode", "planner", "--mode", "escalate"])
    assert code == 0 and len(loads) == 1
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    planner, escalate = report["modes"]["planner"], report["modes"]["escalate"]
    assert (planner["correct"], planner["planner_steps"]) == (1, 4)
    assert (escalate["correct"], escalate["planner_steps"]) == (2, 2)
    assert (escalate["escalations"], escalate["verified"], escalate["corrected"]) == (2, 1, 1)
    assert (escalate["reasoner_right"], escalate["checked_answer_right"]) == (1, 2)
    assert escalate["nothing_to_check"] == 0 and escalate["reasoner"] == "scripted"
    # Each mode's figures are printed as soon as it finishes, planner first.
    err = captured.err
    assert err.index("gsm8k planner done") < err.index("gsm8k escalate done")
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["mode"], r["index"]) for r in rows] == [
        ("planner", 0), ("planner", 1), ("escalate", 0), ("escalate", 1)
    ]  # fmt: skip
    assert rows[3]["escalations"][0]["check"] == "corrected"


@pytest.mark.parametrize("extra", [[], ["--interleave"]])
def test_eval_gsm8k_prints_one_table_for_both_modes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], extra: list[str]
) -> None:
    from agentsmall.cli import _eval, main
    from agentsmall.evals import shipped_data

    model = ScriptedModel(
        [call("calculate", expression="3*12-10"), final("26"), *reasoner_replies("", "26", "26"),
         final("26")]
    )  # fmt: skip
    monkeypatch.setattr(_eval, "_load", lambda args: model)
    data = str(shipped_data() / "gsm8k" / "test.jsonl")
    code = main(["eval", "gsm8k", "--data", data, "--limit", "1", "--mode", "planner",
                 "--mode", "escalate", *extra])  # fmt: skip
    assert code == 0
    captured = capsys.readouterr()
    table = captured.out
    assert table.count("GSM8K") == 1
    assert "gsm8k planner done" in captured.err and "gsm8k escalate done" in captured.err
    header = next(line for line in table.splitlines() if "planner" in line and "escalate" in line)
    assert header.index("planner") < header.index("escalate")
    [row] = [line for line in table.splitlines() if "nothing_to_check" in line]
    assert "—" in row and "1" in row  # planner mode has no escalations; escalate had 1


class _StopAfter(ScriptedModel):
    """A scripted model whose generation number `stop_at` is interrupted (Ctrl-C)."""

    def __init__(self, replies: Sequence[Any], stop_at: int) -> None:
        super().__init__(replies)
        self.stop_at = stop_at

    def generate(self, messages: Any, **kwargs: Any) -> Any:
        if len(self.calls) + 1 == self.stop_at:
            raise KeyboardInterrupt
        return super().generate(messages, **kwargs)


def test_interleaved_modes_stopped_half_way_report_the_items_every_mode_finished(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from agentsmall.cli import _eval, main
    from agentsmall.evals import shipped_data

    model = _StopAfter(
        [
            call("calculate", expression="3*12-10"),  # item 1, planner
            final("26"),
            *reasoner_replies("", "26", "3*12-10"),  # item 1, escalate
            final("26"),
            call("multiply", a=60, b=4),  # item 2, planner: stopped at its second step
        ],
        stop_at=7,
    )
    monkeypatch.setattr(_eval, "_load", lambda args: model)
    data = str(shipped_data() / "gsm8k" / "test.jsonl")
    argv = ["eval", "gsm8k", "--data", data, "--limit", "2", "--interleave", "--json"]
    code = main([*argv, "--mode", "planner", "--mode", "escalate"])
    assert code == 130
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert {m: r["n"] for m, r in report["modes"].items()} == {"planner": 1, "escalate": 1}
    assert report["modes"]["escalate"]["verified"] == 1
    assert "the first 1 items, which every mode finished" in captured.err
