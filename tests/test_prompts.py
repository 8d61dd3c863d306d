"""The planner prompts: what the model is shown before its first step and after a tool result."""

from __future__ import annotations

import json
import re

from agentsmall._prompts import prompts
from agentsmall._runner import CallOutcome
from agentsmall._tool import tool


@tool
def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


def _observation(*outcomes: CallOutcome, json_actions: bool = False) -> str:
    template = prompts().get_template("observation.jinja")
    return template.render(outcomes=list(outcomes), json_actions=json_actions).strip()


def test_the_worked_example_shows_placeholders_not_values_an_answer_could_copy() -> None:
    system = (
        prompts()
        .get_template("planner_system.jinja")
        .render(instructions="Be careful.", tools=[multiply], facts=[])
    )
    example = system.split("Example", 1)[1].split("Rules:", 1)[0]
    assert "<city>" in example and "<number>" in example
    # Every value in the example is a placeholder: no city, no figure to leak into answers.
    assert not re.search(r"\d", example.replace("get_population", ""))
    assert system.index("Rules:") < system.index("Tools:")  # the fixed text comes first
    assert "- multiply(a: integer, b: integer)" in system


def test_one_result_is_offered_as_the_final_answer() -> None:
    text = _observation(CallOutcome("multiply", {"a": 23, "b": 19}, 437, None, 0.1, "437"))
    assert text.startswith("multiply returned: 437\n")
    # In words for native tool-call formats (our JSON would be the wrong shape for them) ...
    assert text.endswith('call final_answer now with the answer "437".')
    # ... and as the exact JSON step for our own planner, which copies it more reliably.
    ours = _observation(
        CallOutcome("multiply", {"a": 23, "b": 19}, 437, None, 0.1, "437"), json_actions=True
    )
    suggested = json.loads(ours.split("reply: ", 1)[1])
    assert suggested == [{"tool": "final_answer", "arguments": {"answer": "437"}}]


def test_the_suggested_answer_stays_valid_json_and_short() -> None:
    tricky = 'say "hi" \\ then\nmore ' + "x" * 300
    text = _observation(CallOutcome("echo", {}, tricky, None, 0.1, tricky))
    answer = json.loads(text.split("with the answer ", 1)[1].removesuffix("."))
    assert answer.startswith('say "hi" \\ then more')
    assert len(answer) <= 150


def test_errors_or_several_results_get_no_suggested_answer() -> None:
    ok = CallOutcome("multiply", {}, 4, None, 0.1, "4")
    failed = CallOutcome("multiply", {}, None, "boom", 0.1, "")
    for outcomes in [(failed,), (ok, ok), (ok, failed)]:
        text = _observation(*outcomes)
        assert "reply with final_answer now" in text
        assert "with the answer" not in text
        assert "reply: [" not in _observation(*outcomes, json_actions=True)
