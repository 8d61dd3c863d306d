"""The action space: the JSON schema a planner step is decoded under, and the parser after it."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

import pytest
from pydantic import AfterValidator

from agentsmall._actions import (
    FINAL_ANSWER,
    MAX_INTEGER_DIGITS,
    ActionSpace,
    Call,
    StepAction,
    bound_integers,
)
from agentsmall._tool import tool
from agentsmall.decoding._constraint import json_schema_regex
from agentsmall.errors import DecodingError


@tool
def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


@tool
def greet(name: str, excited: bool = False) -> str:
    """Greet someone."""
    return f"Hello {name}{'!' if excited else '.'}"


def _must_be_even(value: int) -> int:
    if value % 2:
        raise ValueError("must be even")
    return value


@tool
def halve(n: Annotated[int, AfterValidator(_must_be_even)]) -> int:
    """Halve an even number."""
    return n // 2


def call(tool_name: str, /, **arguments: Any) -> dict[str, Any]:
    return {"tool": tool_name, "arguments": arguments}


@pytest.fixture
def space() -> ActionSpace:
    return ActionSpace.from_tools([multiply, greet])


# -- schema ------------------------------------------------------------------------------------


def test_schema_offers_tool_calls_or_a_lone_final_answer(space: ActionSpace) -> None:
    tools_step, final_step = space.schema["anyOf"]
    assert tools_step["type"] == "array"
    assert tools_step["minItems"] == 1
    assert tools_step["maxItems"] == 4
    names = [branch["properties"]["tool"]["const"] for branch in tools_step["items"]["anyOf"]]
    assert names == ["multiply", "greet"]
    assert final_step["type"] == "array"
    assert (final_step["minItems"], final_step["maxItems"]) == (1, 1)
    final = final_step["items"]
    assert final["properties"]["tool"] == {"const": FINAL_ANSWER}
    assert final["properties"]["arguments"]["required"] == ["answer"]
    assert final["properties"]["arguments"]["properties"]["answer"]["type"] == "string"


def test_each_call_names_its_tool_before_its_arguments(space: ActionSpace) -> None:
    branches = [*space.schema["anyOf"][0]["items"]["anyOf"], space.schema["anyOf"][1]["items"]]
    for branch in branches:
        assert list(branch["properties"]) == ["tool", "arguments"]
        assert branch["required"] == ["tool", "arguments"]
        assert branch["additionalProperties"] is False
    # ... and the constraint derived from it keeps that order: only tool-first text matches.
    regex = json_schema_regex(space.schema)
    assert re.fullmatch(regex, json.dumps([call("multiply", a=1, b=2)]))
    assert re.fullmatch(regex, '[{"arguments": {"a": 1, "b": 2}, "tool": "multiply"}]') is None


def test_arguments_schema_is_the_tools_own_with_bounded_integers(space: ActionSpace) -> None:
    branch = space.schema["anyOf"][0]["items"]["anyOf"][0]
    arguments = branch["properties"]["arguments"]
    assert arguments["required"] == ["a", "b"]
    assert arguments["additionalProperties"] is False
    for name in ("a", "b"):
        assert arguments["properties"][name]["type"] == "integer"
        assert arguments["properties"][name]["maxDigits"] == MAX_INTEGER_DIGITS
    # The tool's own schema is not modified.
    assert "maxDigits" not in multiply.parameters["properties"]["a"]


def test_max_calls_bounds_the_list() -> None:
    assert ActionSpace.from_tools([multiply], max_calls=2).schema["anyOf"][0]["maxItems"] == 2
    with pytest.raises(ValueError, match="max_calls"):
        ActionSpace.from_tools([multiply], max_calls=0)


def test_single_tool_needs_no_anyof_and_no_tools_leaves_only_final_answer() -> None:
    single = ActionSpace.from_tools([multiply]).schema["anyOf"][0]["items"]
    assert single["properties"]["tool"] == {"const": "multiply"}
    bare = ActionSpace.from_tools([]).schema
    assert bare["type"] == "array"
    assert bare["items"]["properties"]["tool"] == {"const": FINAL_ANSWER}
    assert ActionSpace.from_tools([]).parse(json.dumps([call(FINAL_ANSWER, answer="x")])) == (
        StepAction(final_answer="x")
    )


def testbound_integers_adds_max_digits_only_where_nothing_bounds_the_integer() -> None:
    schema = {
        "type": "object",
        "properties": {
            "plain": {"type": "integer"},
            "nullable": {"type": ["integer", "null"]},
            "capped": {"type": "integer", "maximum": 10},
            "choice": {"type": "integer", "enum": [1, 2]},
            "fixed": {"type": "integer", "const": 3},
            "own": {"type": "integer", "maxDigits": 2},
            "number": {"type": "number"},
            "listed": {"type": "array", "items": {"type": "integer"}},
            "either": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
            "nested": {"type": "object", "properties": {"deep": {"type": "integer"}}},
        },
    }
    original = json.dumps(schema, sort_keys=True)
    bounded = bound_integers(schema)
    props = bounded["properties"]
    assert props["plain"]["maxDigits"] == MAX_INTEGER_DIGITS
    assert props["nullable"]["maxDigits"] == MAX_INTEGER_DIGITS
    assert props["listed"]["items"]["maxDigits"] == MAX_INTEGER_DIGITS
    assert props["either"]["anyOf"][0]["maxDigits"] == MAX_INTEGER_DIGITS
    assert props["nested"]["properties"]["deep"]["maxDigits"] == MAX_INTEGER_DIGITS
    for name in ("capped", "choice", "fixed", "number", "either"):
        assert "maxDigits" not in props[name], name
    assert "maxDigits" not in props["either"]["anyOf"][1]
    assert props["own"]["maxDigits"] == 2
    assert json.dumps(schema, sort_keys=True) == original  # a copy, the input is untouched


def test_bounded_integers_reach_the_constraint(space: ActionSpace) -> None:
    regex = json_schema_regex(space.schema)
    digits = "1" * MAX_INTEGER_DIGITS
    assert re.fullmatch(regex, f'[{{"tool": "multiply", "arguments": {{"a": {digits}, "b": 2}}}}]')
    too_long = digits + "1"
    text = f'[{{"tool": "multiply", "arguments": {{"a": {too_long}, "b": 2}}}}]'
    assert re.fullmatch(regex, text) is None


# -- parsing -----------------------------------------------------------------------------------


def test_parse_tool_calls(space: ActionSpace) -> None:
    text = json.dumps([call("multiply", a=12, b=7), call("greet", name="Ada")])
    action = space.parse(text)
    assert action == StepAction(
        calls=(Call("multiply", {"a": 12, "b": 7}), Call("greet", {"name": "Ada"})),
        duplicates_dropped=0,
    )
    assert action.final_answer is None


def test_parse_final_answer(space: ActionSpace) -> None:
    action = space.parse('[{"tool": "final_answer", "arguments": {"answer": "84"}}]')
    assert action.final_answer == "84"
    assert action.calls == ()


def test_parse_drops_repeated_calls_and_counts_them(space: ActionSpace) -> None:
    text = json.dumps(
        [
            call("multiply", a=1, b=2),
            call("greet", name="Ada"),
            {"arguments": {"b": 2, "a": 1}, "tool": "multiply"},  # same call, other key order
            call("multiply", a=1, b=2),
            call("multiply", a=2, b=1),  # not a repeat: other arguments
        ]
    )
    action = ActionSpace.from_tools([multiply, greet], max_calls=5).parse(text)
    assert action.calls == (
        Call("multiply", {"a": 1, "b": 2}),
        Call("greet", {"name": "Ada"}),
        Call("multiply", {"a": 2, "b": 1}),
    )
    assert action.duplicates_dropped == 2


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (json.dumps([call("divide", a=1, b=2)]), "does not match the action schema"),
        (json.dumps([call("multiply", a=1, b=2, c=3)]), "does not match the action schema"),
        (json.dumps([call("multiply", a="12", b=7)]), "does not match the action schema"),
        (json.dumps([call("multiply", a=1.5, b=7)]), "does not match the action schema"),
        (json.dumps([call("multiply", a=True, b=7)]), "does not match the action schema"),
        (json.dumps([call("multiply", a=1)]), "does not match the action schema"),
        (json.dumps([call("greet", name=None)]), "does not match the action schema"),
        ("[]", "does not match the action schema"),
        (json.dumps(call("multiply", a=1, b=2)), "does not match the action schema"),
        (json.dumps([{"tool": "multiply"}]), "does not match the action schema"),
        (
            json.dumps([call("multiply", a=1, b=2), call(FINAL_ANSWER, answer="2")]),
            "does not match the action schema",
        ),
        (
            json.dumps([call(FINAL_ANSWER, answer="1"), call(FINAL_ANSWER, answer="2")]),
            "does not match the action schema",
        ),
        (json.dumps([call("multiply", a=i, b=i) for i in range(5)]), "does not match"),
        ('[{"tool": "multiply", "arguments": {"a": 1, "b": 2}}', "not JSON"),
        ("", "not JSON"),
        ("84", "does not match the action schema"),
    ],
    ids=[
        "unknown-tool",
        "extra-argument",
        "string-for-int",
        "float-for-int",
        "bool-for-int",
        "missing-argument",
        "null-for-string",
        "empty-list",
        "object-not-list",
        "no-arguments",
        "final-answer-mixed-with-call",
        "two-final-answers",
        "more-than-max-calls",
        "truncated-json",
        "empty-text",
        "bare-number",
    ],
)
def test_parse_rejects_invalid_output(space: ActionSpace, text: str, reason: str) -> None:
    with pytest.raises(DecodingError, match=reason):
        space.parse(text)


def test_parse_also_runs_the_tools_own_validation() -> None:
    # The JSON schema cannot say "even"; the tool's pydantic model can, and parse must use it.
    space = ActionSpace.from_tools([halve])
    assert space.parse(json.dumps([call("halve", n=4)])).calls == (Call("halve", {"n": 4}),)
    with pytest.raises(DecodingError, match="arguments for 'halve' do not validate"):
        space.parse(json.dumps([call("halve", n=3)]))


def test_duplicate_tool_names_are_refused() -> None:
    @tool(name="multiply")
    def other(x: int) -> int:
        return x

    with pytest.raises(ValueError, match="'multiply'"):
        ActionSpace.from_tools([multiply, other])


def test_fingerprint_is_stable_and_follows_the_tools() -> None:
    first = ActionSpace.from_tools([multiply, greet])
    again = ActionSpace.from_tools([multiply, greet])
    assert re.fullmatch(r"[0-9a-f]{16}", first.fingerprint)
    assert first.fingerprint == again.fingerprint
    assert first.fingerprint != ActionSpace.from_tools([multiply]).fingerprint
    assert first.fingerprint != ActionSpace.from_tools([greet, multiply]).fingerprint
    assert first.fingerprint != ActionSpace.from_tools([multiply, greet], max_calls=2).fingerprint

    @tool(name="multiply")
    def multiply_floats(a: float, b: float) -> float:
        return a * b

    assert first.fingerprint != ActionSpace.from_tools([multiply_floats, greet]).fingerprint
