"""The tool relevance gate: scores, decisions, and how they shape the first planner step.

Scripted models score texts with a given function, so every decision here is deterministic;
the real-model tests at the end check the llama.cpp scorer itself and the gate end to end.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agentsmall._relevance import GateDecision, ToolGate, relevance
from agentsmall._tool import tool
from agentsmall.agent import Agent, Event
from agentsmall.errors import ContextOverflowError
from agentsmall.models import ScriptedModel


@tool
def multiply(a: int, b: int) -> int:
    """Multiply two numbers."""
    return a * b


@tool
def get_weather(city: str) -> str:
    """Get the weather forecast of a city."""
    return f"sunny in {city}"


def keyword_scorer(context: str, continuation: str) -> float:
    """Log-likelihood 20 nats above the "no tool" card's when the context names a tool with a
    word of its name in the task (`weather` for get_weather), 5 below it otherwise: a stand-in
    for the model's judgement."""
    name = context.removeprefix("Tool: ").split("(")[0]
    if not context.startswith("Tool:") or name.startswith("none"):
        return -45.0  # the "no tool" card
    words = [w for w in name.split("_") if len(w) > 3]
    return -25.0 if any(w in continuation.lower() for w in words) else -50.0


def make_agent(tmp_path: Path, replies: list[Any], **options: Any) -> Agent:
    model = ScriptedModel([json.dumps(r) for r in replies], scorer=keyword_scorer)
    options.setdefault("tools", [multiply, get_weather])
    return Agent(model, memory=tmp_path / "m.db", **options)


def test_relevance_is_the_gain_over_no_description() -> None:
    model = ScriptedModel([], scorer=keyword_scorer)
    scores = relevance(model, "Please  multiply 3\nand 4", [multiply, get_weather])
    assert scores == {"multiply": 20.0, "get_weather": -5.0}
    contexts, continuation = model.scored[0]
    assert continuation == " Please multiply 3 and 4"  # whitespace normalised
    assert contexts[0].startswith("Tool: none")  # the baseline first
    assert contexts[1].startswith("Tool: multiply(a: integer, b: integer)")
    assert "Multiply two numbers." in contexts[1]


def test_gate_offers_tools_within_the_margin_of_the_best() -> None:
    scores = {"a": 9.0, "b": 7.5, "c": 2.0}
    model = ScriptedModel([], scorer=lambda ctx, _: scores.get(ctx[6:].split("(")[0], 0.0))

    @tool
    def a() -> None:
        """x"""

    @tool
    def b() -> None:
        """x"""

    @tool
    def c() -> None:
        """x"""

    decision = ToolGate(answer_below=5.0, call_from=9.0, margin=2.0).decide(model, "t", [a, b, c])
    assert decision.offered == ("a", "b") and decision.must_call
    assert not decision.must_answer
    # Between the two thresholds the model may still answer, among the offered tools.
    middle = ToolGate(answer_below=5.0, call_from=9.5, margin=2.0).decide(model, "t", [a, b, c])
    assert middle.offered == ("a", "b") and not middle.must_call
    low = ToolGate(answer_below=10.0, call_from=12.0, margin=2.0).decide(model, "t", [a, b, c])
    assert low.offered == () and low.must_answer and not low.must_call
    with pytest.raises(ValueError):
        ToolGate(answer_below=10.0, call_from=5.0)


def test_an_irrelevant_task_is_answered_without_a_call(
    tmp_path: Path, closing: list[Agent]
) -> None:
    agent = make_agent(tmp_path, [[{"tool": "final_answer", "arguments": {"answer": "hi"}}]])
    closing.append(agent)
    events: list[Event] = []
    result = agent.run("Tell me a joke", on_event=events.append)
    assert result.output == "hi"
    ranked = [e for e in events if e.kind == "tools_ranked"]
    assert ranked and ranked[0].data["offered"] == ()
    # The step's constraint offered final_answer alone.
    schema = agent.model.constraints[0].schema  # type: ignore[attr-defined]
    assert "multiply" not in json.dumps(schema) and "final_answer" in json.dumps(schema)


def test_a_relevant_task_must_call_one_of_the_offered_tools(
    tmp_path: Path, closing: list[Agent]
) -> None:
    replies = [
        [{"tool": "multiply", "arguments": {"a": 3, "b": 4}}],
        [{"tool": "final_answer", "arguments": {"answer": "12"}}],
    ]
    agent = make_agent(tmp_path, replies)
    closing.append(agent)
    result = agent.run("Multiply 3 by 4")
    assert result.output == "12"
    first, second = (json.dumps(c.schema) for c in agent.model.constraints)  # type: ignore[attr-defined]
    assert "multiply" in first and "get_weather" not in first and "final_answer" not in first
    # Later steps are not gated: every tool, and the final answer, are back.
    assert "get_weather" in second and "final_answer" in second


def test_in_the_middle_zone_the_step_may_answer_or_call_an_offered_tool(
    tmp_path: Path, closing: list[Agent]
) -> None:
    replies = [[{"tool": "final_answer", "arguments": {"answer": "12"}}]]
    gate = ToolGate(answer_below=5.0, call_from=30.0)  # the keyword scorer gives 20
    agent = make_agent(tmp_path, replies, tool_gate=gate)
    closing.append(agent)
    assert agent.run("Multiply 3 by 4").output == "12"
    first = json.dumps(agent.model.constraints[0].schema)  # type: ignore[attr-defined]
    assert "multiply" in first and "final_answer" in first and "get_weather" not in first


def test_the_gate_leaves_the_prompt_alone(tmp_path: Path, closing: list[Agent]) -> None:
    replies = [[{"tool": "final_answer", "arguments": {"answer": "hi"}}]]
    gated = make_agent(tmp_path / "a", replies)
    plain = make_agent(tmp_path / "b", replies, tool_gate=None)
    closing += [gated, plain]
    gated.run("Tell me a joke")
    plain.run("Tell me a joke")
    assert gated.model.calls == plain.model.calls  # type: ignore[attr-defined]
    assert not plain.model.scored  # type: ignore[attr-defined]


def test_must_use_tool_overrides_a_decision_to_answer(tmp_path: Path, closing: list[Agent]) -> None:
    replies = [
        [{"tool": "get_weather", "arguments": {"city": "Oslo"}}],
        [{"tool": "final_answer", "arguments": {"answer": "sunny"}}],
    ]
    agent = make_agent(tmp_path, replies, must_use_tool=True)
    closing.append(agent)
    assert agent.run("Tell me a joke").output == "sunny"
    first = json.dumps(agent.model.constraints[0].schema)  # type: ignore[attr-defined]
    assert "multiply" in first and "get_weather" in first and "final_answer" not in first


def test_a_model_that_cannot_score_is_not_gated(tmp_path: Path, closing: list[Agent]) -> None:
    model = ScriptedModel([json.dumps([{"tool": "final_answer", "arguments": {"answer": "x"}}])])
    agent = Agent(model, tools=[multiply], memory=tmp_path / "m.db")
    closing.append(agent)
    events: list[Event] = []
    agent.run("Multiply 3 by 4", on_event=events.append)
    assert not [e for e in events if e.kind == "tools_ranked"]
    assert "multiply" in json.dumps(model.constraints[0].schema)  # type: ignore[union-attr]


def test_a_task_too_long_to_score_runs_ungated(tmp_path: Path, closing: list[Agent]) -> None:
    def overflowing(context: str, continuation: str) -> float:
        raise ContextOverflowError("a text to score has 5000 tokens")

    reply = json.dumps([{"tool": "final_answer", "arguments": {"answer": "ok"}}])
    model = ScriptedModel([reply], scorer=overflowing)
    agent = Agent(model, tools=[multiply], memory=tmp_path / "m.db")
    closing.append(agent)
    events: list[Event] = []
    assert agent.run("Multiply " + "3 " * 3000, on_event=events.append).output == "ok"
    assert not [e for e in events if e.kind == "tools_ranked"]
    assert "multiply" in json.dumps(model.constraints[0].schema)  # type: ignore[union-attr]


def test_first_step_reports_the_space_and_the_decision(
    tmp_path: Path, closing: list[Agent]
) -> None:
    agent = make_agent(tmp_path, [])
    closing.append(agent)
    space, constraint, gate = agent.first_step("What is the weather in Oslo?")
    assert isinstance(gate, GateDecision) and gate.offered == ("get_weather",)
    assert list(space.tools) == ["get_weather"] and not space.allow_final_answer
    assert constraint.schema == space.schema


# -- the real model ---------------------------------------------------------------------------


def _reference_logprob(llm: Any, context: list[int], continuation: list[int]) -> float:
    """The same sum, one token at a time through llama-cpp-python's own context."""
    llm.reset()
    llm.eval(context)
    total = 0.0
    for token in continuation:
        pointer = llm._ctx.get_logits_ith(-1)
        logits = np.ctypeslib.as_array(pointer, shape=(llm.n_vocab(),)).astype(np.float64)
        peak = logits.max()
        total += logits[token] - peak - math.log(np.exp(logits - peak).sum())
        llm.eval([token])
    llm.reset()
    return total


@pytest.mark.model
def test_scores_match_token_by_token_evaluation(embedded_model: Any) -> None:
    contexts = ["A user request:", "Tool: multiply: Multiply two numbers.\nA request:"]
    continuation = " What is 23 times 19?"
    scores = embedded_model.score(contexts, continuation)
    llm = embedded_model._llm
    tail = llm.tokenize(continuation.encode(), add_bos=False, special=False)
    for context, score in zip(contexts, scores, strict=True):
        reference = _reference_logprob(llm, embedded_model._plain_tokens(context), tail)
        # Batched and one-by-one evaluation round differently (a few hundredths per token).
        assert score == pytest.approx(reference, rel=0.02)
    # Sequences of one batch do not see each other: scored alone, each gives the same.
    alone = embedded_model.score(contexts[1:], continuation)[0]
    assert alone == pytest.approx(scores[1], rel=0.02)


@pytest.mark.model
def test_the_real_model_ranks_the_tool_a_task_is_about(embedded_model: Any) -> None:
    scores = relevance(embedded_model, "What is 23 times 19?", [multiply, get_weather])
    assert scores["multiply"] > scores["get_weather"]
    weather = relevance(embedded_model, "Will it rain in Paris tomorrow?", [multiply, get_weather])
    assert weather["get_weather"] > weather["multiply"]


@pytest.mark.model
def test_contexts_scored_before_are_reused_and_score_the_same(embedded_model: Any) -> None:
    contexts = [
        "Tool: none\nA request:",
        "Tool: multiply(a, b): Multiply two numbers.\nA request:",
        "Tool: weather(city): The weather in a city.\nA request:",
    ]
    first = embedded_model.score(contexts, " What is 23 times 19?")
    scorer = embedded_model._scorer
    assert len(scorer._slots) >= 3  # kept for the next call
    # The same contexts, another continuation: only the continuation is evaluated, and the
    # scores are those of scoring everything from scratch.
    cached = embedded_model.score(contexts, " Is it raining in Oslo?")
    tail = embedded_model._llm.tokenize(b" Is it raining in Oslo?", add_bos=False, special=False)
    pairs = [(embedded_model._plain_tokens(c), tail) for c in contexts]
    scratch = scorer._score_in_groups(pairs)
    assert cached == pytest.approx(scratch, rel=0.02)
    assert embedded_model.score(contexts, " What is 23 times 19?") == pytest.approx(first, rel=0.02)
    # More contexts than sequences: scored from scratch, with the same results up to the
    # rounding of larger batches (measured up to 0.5 nats over 5 tokens; text from another
    # sequence in view would change a score by tens of nats).
    many = [f"Tool: tool_{i}(x): Does thing number {i}.\nA request:" for i in range(20)]
    together = embedded_model.score(many, " Do thing 3.")
    alone = [embedded_model.score([c], " Do thing 3.")[0] for c in many[:4]]
    assert together[:4] == pytest.approx(alone, abs=1.0)


def test_the_cli_line_says_what_step_1_may_do() -> None:
    from agentsmall.cli._run import describe_gate

    scores = {"a": 20.0, "b": 18.5, "c": 1.0}
    must = describe_gate({"scores": scores, "offered": ("a", "b"), "must_call": True})
    assert must == "tool relevance a 20.0 · b 18.5 · c 1.0 → must call a, b"
    free = describe_gate({"scores": scores, "offered": ("a",), "must_call": False})
    assert free.endswith("→ may call a or answer")
    assert describe_gate({"scores": scores, "offered": (), "must_call": False}).endswith(
        "→ answer without a tool"
    )
