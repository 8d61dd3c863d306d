"""BFCL function docs as tools: type mapping, dotted names, `Tool.from_schema`, the action space."""

from __future__ import annotations

import json

import pydantic
import pytest

from agentsmall._actions import ActionSpace
from agentsmall._tool import Tool
from agentsmall.errors import DecodingError, ToolDefinitionError
from agentsmall.evals import to_json_schema, tools_for


def test_bfcl_types_map_to_json_schema() -> None:
    assert to_json_schema({"type": "float"}) == {"type": "number"}
    assert to_json_schema({"type": "any"}) == {"type": "string"}
    assert to_json_schema({"type": "tuple", "items": {"type": "integer"}}) == {
        "type": "array",
        "items": {"type": "integer"},
    }
    assert to_json_schema({"type": "dict"}) == {"type": "object"}


def test_nested_properties_items_and_enums() -> None:
    bfcl = {
        "type": "dict",
        "description": " Who stays. ",
        "properties": {
            "adults": {"type": "integer", "description": "Adults."},
            "rooms": {
                "type": "array",
                "items": {
                    "type": "dict",
                    "properties": {"kind": {"type": "string", "enum": ["single", "double"]}},
                    "required": ["kind", "not_a_property"],
                },
            },
            "tags": {"type": "array", "items": {"type": "string"}, "enum": ["a", "b"]},
        },
        "required": ["adults"],
    }
    schema = to_json_schema(bfcl)
    assert schema["type"] == "object" and schema["description"] == "Who stays."
    assert schema["additionalProperties"] is False and schema["required"] == ["adults"]
    room = schema["properties"]["rooms"]["items"]
    assert room["properties"]["kind"] == {"type": "string", "enum": ["single", "double"]}
    assert room["required"] == ["kind"]  # a required name without a property is dropped
    # BFCL puts item values on the array: they move to the items.
    assert schema["properties"]["tags"] == {
        "type": "array",
        "items": {"type": "string", "enum": ["a", "b"]},
    }


def test_enum_members_and_defaults_of_the_wrong_type_are_dropped() -> None:
    assert to_json_schema({"type": "integer", "enum": [1, "2", 3]}) == {
        "type": "integer",
        "enum": [1, 3],
    }
    assert to_json_schema({"type": "integer", "enum": ["x"]}) == {"type": "integer"}
    assert to_json_schema({"type": "integer", "default": "None"}) == {"type": "integer"}
    assert to_json_schema({"type": "float", "default": 0.5})["default"] == 0.5
    assert "format" not in to_json_schema({"type": "string", "format": "date"})


FUNCTIONS = [
    {
        "name": "math.gcd",
        "description": "Greatest common divisor.",
        "parameters": {
            "type": "dict",
            "properties": {
                "a": {"type": "integer", "description": "first"},
                "b": {"type": "integer", "description": "second"},
                "scale": {"type": "float", "default": 1.0},
            },
            "required": ["a", "b"],
        },
    },
    {
        "name": "final_answer",
        "description": "A function whose name the agent reserves.",
        "parameters": {"type": "dict", "properties": {}, "required": []},
    },
]


def test_tools_keep_dotted_names_and_alias_reserved_ones() -> None:
    bfcl = tools_for(FUNCTIONS)
    names = [t.name for t in bfcl.tools]
    assert names[0] == "math.gcd"
    assert names[1] != "final_answer"
    assert bfcl.bfcl_names == {"math.gcd": "math.gcd", names[1]: "final_answer"}
    gcd = bfcl.tools[0]
    assert gcd.signature() == "math.gcd(a: integer, b: integer, scale: number=1.0)"
    assert gcd.description == "Greatest common divisor."


def test_action_space_over_schema_tools_validates_arguments() -> None:
    space = ActionSpace.from_tools(tools_for(FUNCTIONS).tools)
    action = space.parse('[{"tool": "math.gcd", "arguments": {"a": 12, "b": 18}}]')
    assert action.calls[0].tool == "math.gcd"
    assert action.calls[0].arguments == {"a": 12, "b": 18}
    for bad in (
        {"a": 12},  # missing required
        {"a": 12, "b": "18"},  # wrong type
        {"a": 12, "b": 18, "c": 1},  # unknown argument
    ):
        with pytest.raises(DecodingError):
            space.parse(json.dumps([{"tool": "math.gcd", "arguments": bad}]))
    with pytest.raises(DecodingError):
        space.parse('[{"tool": "math.lcm", "arguments": {"a": 1, "b": 2}}]')


def test_from_schema_tool_validates_and_keeps_values_as_given() -> None:
    t = Tool.from_schema(
        "notes.add",
        "Save a note.",
        {
            "type": "object",
            "properties": {"text": {"type": "string"}, "json": {"type": "object"}},
            "required": ["text"],
        },
    )
    assert t.parameters["additionalProperties"] is False
    assert t.validate_arguments({"text": "hi", "json": {"k": [1]}}) == {
        "text": "hi",
        "json": {"k": [1]},
    }
    assert t.validate_arguments({"text": "hi"}) == {"text": "hi"}  # nothing filled in
    with pytest.raises(pydantic.ValidationError, match="text"):
        t.validate_arguments({})
    with pytest.raises(NotImplementedError, match="schema only"):
        t(text="hi")


def test_from_schema_runs_a_given_function() -> None:
    t = Tool.from_schema(
        "add",
        "Add.",
        {"properties": {"a": {"type": "number"}, "b": {"type": "number"}}, "required": ["a", "b"]},
        function=lambda a, b: a + b,
    )
    assert t(**t.validate_arguments({"a": 1, "b": 2.5})) == 3.5
    assert not t.is_async


def test_from_schema_inlines_refs() -> None:
    t = Tool.from_schema(
        "f",
        "",
        {
            "type": "object",
            "properties": {"p": {"$ref": "#/$defs/Point"}},
            "$defs": {"Point": {"type": "object", "properties": {"x": {"type": "number"}}}},
        },
    )
    assert t.parameters["properties"]["p"] == {
        "type": "object",
        "properties": {"x": {"type": "number"}},
    }


@pytest.mark.parametrize(
    ("name", "parameters", "message"),
    [
        ("bad name!", {"type": "object"}, "not a valid tool name"),
        ("final_answer", {"type": "object"}, "reserved"),
        ("f", {"type": "array"}, "type 'object'"),
        ("f", {"type": "object", "properties": {"x": {"type": "integr"}}}, "invalid JSON schema"),
    ],
)
def test_from_schema_refuses_bad_definitions(
    name: str, parameters: dict[str, object], message: str
) -> None:
    with pytest.raises(ToolDefinitionError, match=message):
        Tool.from_schema(name, "", parameters)
