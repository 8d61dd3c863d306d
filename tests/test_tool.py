"""The @tool decorator: schemas, descriptions, validation, signatures and refusals."""

import asyncio
import dataclasses
import enum
import functools
import importlib.util
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal, Optional

import pydantic
import pytest
from pydantic import BaseModel, Field

from agentsmall._tool import Tool, as_tool, tool
from agentsmall.errors import ToolDefinitionError


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Point(BaseModel):
    """A point on the plane."""

    x: float
    y: float = 0.0
    title: str = "unnamed"  # a property called "title" must survive title-stripping


class Polygon(BaseModel):
    points: list[Point]
    center: Point | None = None


class Node(BaseModel):
    value: int
    children: list["Node"] = []


class Plain:
    """Not something pydantic can describe."""


def _walk(value: Any) -> list[Any]:
    """Every dict and list inside a JSON value, to look for leftovers like $ref."""
    found = [value]
    if isinstance(value, dict):
        for item in value.values():
            found += _walk(item)
    elif isinstance(value, list):
        for item in value:
            found += _walk(item)
    return found


# ---------------------------------------------------------------------------------------------
# Basics


def test_bare_decorator_builds_a_tool_and_keeps_the_function_callable() -> None:
    @tool
    def multiply(a: int, b: int) -> int:
        """Multiply two integers.

        Args:
            a: The first factor.
            b: The second factor.
        """
        return a * b

    assert isinstance(multiply, Tool)
    assert multiply.name == "multiply"
    assert multiply.description == "Multiply two integers."
    assert multiply(6, 7) == 42
    assert multiply(a=2, b=3) == 6
    assert multiply.timeout == 30.0
    assert multiply.dangerous is False
    assert multiply.is_async is False
    assert multiply.returns == "int"
    assert multiply.parameters == {
        "type": "object",
        "properties": {
            "a": {"type": "integer", "description": "The first factor."},
            "b": {"type": "integer", "description": "The second factor."},
        },
        "required": ["a", "b"],
        "additionalProperties": False,
    }
    assert multiply.signature() == "multiply(a: integer, b: integer) -> int"


def test_decorator_with_options() -> None:
    @tool(name="fs.delete-file", description="  Delete a file.  ", timeout=2, dangerous=True)
    def delete(path: str) -> None:
        """Ignored because description= is given.

        Args:
            path: Which file.
        """

    assert delete.name == "fs.delete-file"
    assert delete.description == "Delete a file."
    assert delete.timeout == 2.0
    assert isinstance(delete.timeout, float)
    assert delete.dangerous is True
    assert delete.returns == "None"
    assert delete.parameters["properties"]["path"]["description"] == "Which file."

    @tool(timeout=None)
    def forever() -> str:
        return "x"

    assert forever.timeout is None


def test_missing_docstring_gives_empty_description_and_no_returns() -> None:
    @tool
    def nothing(x: str):  # type: ignore[no-untyped-def]
        return x

    assert nothing.description == ""
    assert nothing.returns is None
    assert "description" not in nothing.parameters["properties"]["x"]
    assert nothing.signature() == "nothing(x: string)"


def test_no_arguments() -> None:
    @tool
    def now() -> str:
        """The time."""
        return "noon"

    assert now.parameters == {
        "type": "object",
        "properties": {},
        "required": [],
        "additionalProperties": False,
    }
    assert now.signature() == "now() -> str"
    assert now.validate_arguments({}) == {}


def test_docstring_sections_are_cut_from_the_description_but_examples_stay() -> None:
    @tool
    def lookup(word: str, limit: int = 3) -> list[str]:
        """Find synonyms of a word.

        Uses a small offline thesaurus.

        Example:
            lookup(word="big") -> ["large", "huge"]

        Args:
            word: The word to look up. It may span
                two lines.
            limit: How many synonyms to return.

        Returns:
            The synonyms.

        Raises:
            KeyError: unknown word.
        """
        return []

    assert lookup.description.startswith("Find synonyms of a word.\n\nUses a small offline")
    assert 'lookup(word="big")' in lookup.description
    for cut in ("Args:", "Returns:", "Raises:", "KeyError", "The synonyms."):
        assert cut not in lookup.description
    props = lookup.parameters["properties"]
    assert props["word"]["description"] == "The word to look up. It may span two lines."
    assert props["limit"] == {
        "type": "integer",
        "default": 3,
        "description": "How many synonyms to return.",
    }
    assert lookup.returns == "list[str]"
    assert lookup.signature() == "lookup(word: string, limit: integer=3) -> list[str]"


def test_async_functions_are_marked_and_still_callable() -> None:
    @tool
    async def fetch(url: str) -> str:
        """Fetch a page."""
        return f"page {url}"

    assert fetch.is_async is True
    assert asyncio.run(fetch("x")) == "page x"

    class Caller:
        __name__ = "caller"

        async def __call__(self, q: str) -> str:
            return q

    assert tool(Caller()).is_async is True


def test_tool_is_frozen_and_compared_by_identity() -> None:
    @tool
    def f(x: int) -> int:
        return x

    with pytest.raises(dataclasses.FrozenInstanceError):
        f.name = "g"  # type: ignore[misc]
    g = tool(f.function)
    assert f != g
    assert len({f, g}) == 2
    assert "f(x: integer) -> int" in repr(f)


def test_as_tool() -> None:
    def plain(x: int) -> int:
        return x + 1

    made = as_tool(plain)
    assert isinstance(made, Tool)
    assert made.name == "plain"
    assert as_tool(made) is made


def test_redecorating_a_tool_uses_the_original_function() -> None:
    @tool
    def f(x: int) -> int:
        return x

    again = tool(name="g", timeout=1)(f)
    assert again.function is f.function
    assert again.name == "g"


# ---------------------------------------------------------------------------------------------
# Argument types


def test_scalar_types() -> None:
    @tool
    def f(s: str, i: int, x: float, flag: bool) -> None:
        pass

    props = f.parameters["properties"]
    assert [props[k]["type"] for k in ("s", "i", "x", "flag")] == [
        "string",
        "integer",
        "number",
        "boolean",
    ]
    assert f.validate_arguments({"s": "a", "i": "3", "x": 2, "flag": True}) == {
        "s": "a",
        "i": 3,
        "x": 2.0,
        "flag": True,
    }


def test_literal_and_enum() -> None:
    @tool
    def paint(color: Color, finish: Literal["matte", "gloss"] = "matte") -> str:
        """Paint.

        Args:
            color: Which color.
        """
        return color.value

    props = paint.parameters["properties"]
    assert props["color"] == {
        "type": "string",
        "enum": ["red", "green"],
        "description": "Which color.",
    }
    assert props["finish"]["enum"] == ["matte", "gloss"]
    assert props["finish"]["default"] == "matte"
    assert (
        paint.signature() == 'paint(color: "red"|"green", finish: "matte"|"gloss"="matte") -> str'
    )
    args = paint.validate_arguments({"color": "green"})
    assert args == {"color": Color.GREEN, "finish": "matte"}
    with pytest.raises(pydantic.ValidationError):
        paint.validate_arguments({"color": "blue"})
    with pytest.raises(pydantic.ValidationError):
        paint.validate_arguments({"color": "red", "finish": "shiny"})


def test_enum_default_is_shown_by_value() -> None:
    @tool
    def paint(color: Color = Color.RED) -> None:
        pass

    assert paint.parameters["properties"]["color"]["default"] == "red"
    assert paint.signature() == 'paint(color: "red"|"green"="red") -> None'


def test_list_dict_and_optional() -> None:
    @tool
    def f(
        tags: list[str],
        weights: dict[str, float],
        limit: Optional[int] = None,  # noqa: UP045 - the old spelling must work too
        note: str | None = None,
        matrix: list[list[int]] | None = None,
    ) -> None:
        pass

    props = f.parameters["properties"]
    assert props["tags"] == {"type": "array", "items": {"type": "string"}}
    assert props["weights"] == {"type": "object", "additionalProperties": {"type": "number"}}
    assert props["limit"] == {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": None}
    assert props["note"] == {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None}
    assert f.parameters["required"] == ["tags", "weights"]
    assert f.signature() == (
        "f(tags: array[string], weights: object[string, number], limit: integer|null=null, "
        "note: string|null=null, matrix: array[array[integer]]|null=null) -> None"
    )
    args = f.validate_arguments({"tags": ["a"], "weights": {"w": 1}, "limit": None})
    assert args == {
        "tags": ["a"],
        "weights": {"w": 1.0},
        "limit": None,
        "note": None,
        "matrix": None,
    }


def test_optional_without_default_is_required_but_nullable() -> None:
    @tool
    def f(x: int | None) -> None:
        pass

    assert f.parameters["required"] == ["x"]
    assert f.validate_arguments({"x": None}) == {"x": None}
    with pytest.raises(pydantic.ValidationError):
        f.validate_arguments({})


def test_pydantic_models_are_inlined_without_refs_or_titles() -> None:
    @tool
    def area(shape: Polygon, scale: float = 1.0) -> float:
        """Area of a polygon.

        Args:
            shape: The polygon.
        """
        return 0.0

    schema = area.parameters
    text = json.dumps(schema)
    assert "$ref" not in text
    assert "$defs" not in text
    for node in _walk(schema):
        if isinstance(node, dict) and "type" in node:  # a schema node, not a properties map
            assert "title" not in node
    shape = schema["properties"]["shape"]
    assert shape["type"] == "object"
    assert shape["description"] == "The polygon."
    assert shape["required"] == ["points"]
    point = shape["properties"]["points"]["items"]
    assert point["description"] == "A point on the plane."
    assert set(point["properties"]) == {"x", "y", "title"}  # the property named "title" stays
    assert point["properties"]["title"] == {"type": "string", "default": "unnamed"}
    center = shape["properties"]["center"]
    assert center["anyOf"][0]["properties"]["x"] == {"type": "number"}
    assert center["anyOf"][1] == {"type": "null"}

    args = area.validate_arguments({"shape": {"points": [{"x": 1}, {"x": 2, "y": 3}]}})
    assert isinstance(args["shape"], Polygon)
    assert args["shape"].points[1] == Point(x=2, y=3)
    assert args["scale"] == 1.0
    assert "shape: {points: array[{x: number, y?: number, title?: string}]" in area.signature()


def test_shared_definitions_are_copied_not_aliased() -> None:
    @tool
    def f(a: Point, b: Point) -> None:
        pass

    props = f.parameters["properties"]
    assert props["a"] == props["b"]
    assert props["a"] is not props["b"]
    assert props["a"]["properties"] is not props["b"]["properties"]


def test_annotated_field_description_is_the_fallback() -> None:
    @tool
    def f(
        a: Annotated[int, Field(description="from Field")],
        b: Annotated[int, Field(description="from Field too")] = 2,
    ) -> None:
        """F.

        Args:
            b: from the docstring
        """

    props = f.parameters["properties"]
    assert props["a"]["description"] == "from Field"
    assert props["b"]["description"] == "from the docstring"
    assert props["b"]["default"] == 2


def test_annotated_constraints_are_kept_and_enforced() -> None:
    @tool
    def f(n: Annotated[int, Field(ge=1, le=10)]) -> None:
        pass

    assert f.parameters["properties"]["n"] == {"type": "integer", "minimum": 1, "maximum": 10}
    with pytest.raises(pydantic.ValidationError):
        f.validate_arguments({"n": 11})


def test_validation_rejects_unknown_missing_and_ill_typed_arguments() -> None:
    @tool
    def f(a: int, b: str = "x") -> None:
        pass

    with pytest.raises(pydantic.ValidationError):
        f.validate_arguments({"a": 1, "c": 2})
    with pytest.raises(pydantic.ValidationError):
        f.validate_arguments({"b": "y"})
    with pytest.raises(pydantic.ValidationError):
        f.validate_arguments({"a": "not a number"})


def test_parameter_names_pydantic_reserves_still_work() -> None:
    @tool
    def f(json: str, schema: int, model_config: bool = False, _private: int = 0) -> None:
        pass

    assert list(f.parameters["properties"]) == ["json", "schema", "model_config", "_private"]
    assert f.parameters["required"] == ["json", "schema"]
    args = f.validate_arguments({"json": "{}", "schema": "2", "_private": 5})
    assert args == {"json": "{}", "schema": 2, "model_config": False, "_private": 5}
    assert f.signature().startswith("f(json: string, schema: integer")


def test_postponed_annotations_resolve(tmp_path: Path) -> None:
    source = '''
from __future__ import annotations
from pydantic import BaseModel
from agentsmall._tool import tool

class Item(BaseModel):
    name: str

@tool
def order(item: Item, count: int = 1) -> list[Item]:
    """Order something."""
    return [item] * count
'''
    path = tmp_path / "postponed_tools.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("postponed_tools_for_test", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    order = module.order
    assert order.parameters["properties"]["item"]["properties"]["name"] == {"type": "string"}
    assert order.returns == "list[Item]"
    assert order.validate_arguments({"item": {"name": "tea"}})["count"] == 1


# ---------------------------------------------------------------------------------------------
# Refusals


def _definition_error(fn: Callable[..., Any], **options: Any) -> str:
    with pytest.raises(ToolDefinitionError) as info:
        tool(fn, **options)
    return str(info.value)


def test_refuses_missing_annotation() -> None:
    def scale(factor, offset: int = 0) -> int:  # type: ignore[no-untyped-def]
        return 0

    message = _definition_error(scale)
    assert "scale" in message
    assert "'factor'" in message
    assert "annotation" in message


@pytest.mark.parametrize(
    "annotation",
    [Plain, Callable[[int], int], list[Plain]],
    ids=["plain-class", "callable", "list-of-plain"],
)
def test_refuses_annotations_without_json_schema(annotation: Any) -> None:
    def handler(callback: int) -> None:
        pass

    handler.__annotations__["callback"] = annotation
    message = _definition_error(handler)
    assert "handler" in message
    assert "'callback'" in message
    assert "JSON schema" in message


def test_refuses_star_args_and_kwargs() -> None:
    def many(*values: int) -> int:
        return 0

    def options(**settings: str) -> None:
        pass

    message = _definition_error(many)
    assert "many" in message and "'values'" in message
    message = _definition_error(options)
    assert "options" in message and "'settings'" in message


def test_refuses_recursive_models() -> None:
    def walk(tree: Node) -> int:
        return 0

    message = _definition_error(walk)
    assert "walk" in message
    assert "'tree'" in message
    assert "recursive" in message


def test_refuses_unresolvable_postponed_annotation() -> None:
    def f(x: "DoesNotExist") -> None:  # type: ignore[name-defined]  # noqa: F821
        pass

    message = _definition_error(f)
    assert "'x'" in message and "DoesNotExist" in message


def test_methods_need_binding_and_partials_keep_their_docs() -> None:
    class Counter:
        def __init__(self) -> None:
            self.total = 0

        def bump(self, by: int) -> int:
            """Increase the counter.

            Args:
                by: How much to add.
            """
            self.total += by
            return self.total

    with pytest.raises(ToolDefinitionError, match=r"tool\(instance\.method\)"):
        tool(Counter.bump)
    counter = Counter()
    bump = tool(counter.bump)
    assert bump.signature() == "bump(by: integer) -> int"
    assert bump(by=2) == 2

    def power(base: int, exponent: int) -> int:
        """Raise base to a power.

        Args:
            base: The base.
            exponent: The exponent.
        """
        return base**exponent

    square = tool(functools.partial(power, exponent=2), name="square")
    assert square.description == "Raise base to a power."
    assert square.parameters["properties"]["base"]["description"] == "The base."
    assert square(base=3) == 9


def test_refuses_non_callables() -> None:
    with pytest.raises(ToolDefinitionError, match="expects a function"):
        tool(42)  # type: ignore[call-overload]
    with pytest.raises(ToolDefinitionError, match=r"@tool\(name=\.\.\.\)"):
        tool("my_name")  # type: ignore[call-overload]


@pytest.mark.parametrize("name", ["final_answer", "escalate"])
def test_refuses_reserved_names(name: str) -> None:
    def f(x: int) -> None:
        pass

    with pytest.raises(ToolDefinitionError, match="reserved"):
        tool(f, name=name)

    def final_answer(text: str) -> None:
        pass

    with pytest.raises(ToolDefinitionError, match="reserved"):
        tool(final_answer)


@pytest.mark.parametrize("name", ["", "has space", "1starts_with_digit", "x" * 65, "a/b", "é"])
def test_refuses_malformed_names(name: str) -> None:
    def f(x: int) -> None:
        pass

    with pytest.raises(ToolDefinitionError, match="not a valid tool name"):
        tool(f, name=name)


def test_accepts_names_at_the_edges() -> None:
    def f(x: int) -> None:
        pass

    assert tool(f, name="_" + "x" * 63).name == "_" + "x" * 63
    assert tool(f, name="web.search-v2").name == "web.search-v2"


def test_lambda_needs_a_name() -> None:
    with pytest.raises(ToolDefinitionError, match="not a valid tool name"):
        tool(lambda x: x)
    # A lambda has no annotations, so even with a name it is refused, for the argument.
    with pytest.raises(ToolDefinitionError, match="'x'"):
        tool(lambda x: x, name="ident")


@pytest.mark.parametrize("timeout", [0, -1, "5", True])
def test_refuses_bad_timeouts(timeout: Any) -> None:
    def f(x: int) -> None:
        pass

    with pytest.raises(ToolDefinitionError, match="timeout"):
        tool(f, timeout=timeout)


def test_refuses_generators() -> None:
    def gen(n: int):  # type: ignore[no-untyped-def]
        yield n

    with pytest.raises(ToolDefinitionError, match="generator"):
        tool(gen)
