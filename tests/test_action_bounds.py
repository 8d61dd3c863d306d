"""Bounded values in the action schema: strings, lists and answers cannot run away.

A small model that loops inside a string or a list writes until the token limit cuts the step
off, and a cut-off step is an invalid output. The action schema bounds every string, list and
integer a tool leaves unbounded, so the constraint can always close the JSON in time.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from pydantic import Field

from agentsmall._actions import (
    FINAL_ANSWER,
    MAX_ANSWER_LENGTH,
    MAX_LIST_ITEMS,
    MAX_STRING_LENGTH,
    ActionSpace,
    bound_values,
)
from agentsmall._tool import tool
from agentsmall.decoding._constraint import json_schema_regex
from agentsmall.models import JsonSchemaConstraint


@tool
def echo(text: str) -> str:
    """Repeat a text back."""
    return text


@tool
def total(numbers: list[float]) -> float:
    """Add numbers up."""
    return sum(numbers)


@tool
def note(
    body: Annotated[str, Field(max_length=500)], tags: Annotated[list[str], Field(max_length=3)]
) -> str:
    """Keep a note (a tool with bounds of its own)."""
    return body


def _arguments(space: ActionSpace) -> dict[str, Any]:
    items = space.schema["anyOf"][0]["items"]
    return items["properties"]["arguments"]["properties"]


def test_unbounded_strings_and_lists_get_bounds() -> None:
    assert _arguments(ActionSpace.from_tools([echo]))["text"]["maxLength"] == MAX_STRING_LENGTH
    numbers = _arguments(ActionSpace.from_tools([total]))["numbers"]
    assert numbers["maxItems"] == MAX_LIST_ITEMS
    final = ActionSpace.from_tools([echo]).schema["anyOf"][1]["items"]
    assert final["properties"]["tool"] == {"const": FINAL_ANSWER}
    answer = final["properties"]["arguments"]["properties"]["answer"]
    assert answer["maxLength"] == MAX_ANSWER_LENGTH


def test_a_tools_own_bounds_win_and_the_tool_is_untouched() -> None:
    arguments = _arguments(ActionSpace.from_tools([note]))
    assert arguments["body"]["maxLength"] == 500
    assert arguments["tags"]["maxItems"] == 3
    assert arguments["tags"]["items"]["maxLength"] == MAX_STRING_LENGTH
    assert "maxLength" not in echo.parameters["properties"]["text"]


def test_bound_values_leaves_enums_consts_and_patterns_alone() -> None:
    schema = {
        "type": "object",
        "properties": {
            "choice": {"type": "string", "enum": ["a", "b"]},
            "fixed": {"type": "string", "const": "x"},
            "code": {"type": "string", "pattern": "[A-Z]{3}"},
            "nullable": {"type": ["string", "null"]},
            "pair": {"type": "array", "prefixItems": [{"type": "integer"}]},
            "count": {"type": "integer"},
        },
    }
    original = json.dumps(schema, sort_keys=True)
    props = bound_values(schema)["properties"]
    for name in ("choice", "fixed", "code"):
        assert "maxLength" not in props[name], name
    assert props["nullable"]["maxLength"] == MAX_STRING_LENGTH
    assert "maxItems" not in props["pair"]
    assert props["count"]["maxDigits"] > 0
    assert json.dumps(schema, sort_keys=True) == original  # a copy, the input is untouched


def test_the_constraint_stops_strings_and_lists_at_their_bounds() -> None:
    space = ActionSpace.from_tools([echo, total])
    regex = json_schema_regex(space.schema)

    def echo_step(text: str) -> str:
        return json.dumps([{"tool": "echo", "arguments": {"text": text}}])

    assert re.fullmatch(regex, echo_step("5" * MAX_STRING_LENGTH))
    assert re.fullmatch(regex, echo_step("5" * (MAX_STRING_LENGTH + 1))) is None
    numbers = [1.5] * MAX_LIST_ITEMS
    step = [{"tool": "total", "arguments": {"numbers": numbers}}]
    assert re.fullmatch(regex, json.dumps(step))
    step[0]["arguments"]["numbers"] = [*numbers, 1.5]
    assert re.fullmatch(regex, json.dumps(step)) is None
    answer = [{"tool": FINAL_ANSWER, "arguments": {"answer": "5" * (MAX_ANSWER_LENGTH + 1)}}]
    assert re.fullmatch(regex, json.dumps(answer)) is None
    # ... and the validator after decoding holds the same bound.
    assert space.parse(echo_step("5" * MAX_STRING_LENGTH)).calls


def test_real_decoding_closes_a_runaway_string_at_its_bound(embedded_model: Any) -> None:
    space = ActionSpace.from_tools([echo])
    long_text = "5" * 400
    messages = [
        {"role": "system", "content": "Reply with a JSON list of tool calls. Tool: echo(text)."},
        {"role": "user", "content": f"Call echo with this exact text: {long_text}"},
    ]
    generation = embedded_model.generate(
        messages,
        constraint=JsonSchemaConstraint(space.schema, list_of_unique_items=True),
        max_tokens=256,
    )
    assert generation.finish_reason == "stop", generation.text
    action = space.parse(generation.text)
    written = action.calls[0].arguments["text"] if action.calls else action.final_answer
    assert written is not None
    limit = MAX_STRING_LENGTH if action.calls else MAX_ANSWER_LENGTH
    # The model copies the 400 fives (greedy: it does, 64 of them): the bound is what ended
    # the string, and the step still closed well inside its 256 tokens.
    assert len(written) == limit, written
