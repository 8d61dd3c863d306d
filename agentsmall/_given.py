"""The values a task gives, so that a call whose values were invented can be decoded again
with each invented argument held to them.

The first step's call is withheld when a required value comes from nowhere
(`_grounding.invented_values`). Where the tool gate found a tool clearly relevant (its
"must call" zone), the task is usually about that tool and the model only miscopied or made up
a value; answering instead is then always wrong. So the step is decoded once more, calling that
tool, with each invented argument allowed only the values the task writes: its numbers for a
number, its phrases (up to `MAX_SPAN_WORDS` words) for a string. The model still chooses among
them, by its own likelihood. Arguments of other types have no such list, and the step then
answers as before.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from agentsmall._actions import Call
from agentsmall._grounding import phrases
from agentsmall._tool import Tool

MAX_SPAN_WORDS = 6
"""The longest phrase offered for a string ("the Museum of Modern Art in New York" is
longer, but names and places are mostly shorter; every added word multiplies the choices)."""

_NUMBER = re.compile(r"(?<![\w.])-?\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\d.])|(?<![\w.])-?\d+(?:\.\d+)?")


# fmt: off
_SMALL_NUMBERS = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen", "twenty",
)
# fmt: on
_NUMBER_WORDS = {word: value for value, word in enumerate(_SMALL_NUMBERS)}
_NUMBER_WORDS |= {"thirty": 30, "forty": 40, "fifty": 50, "hundred": 100, "thousand": 1000}
_NUMBER_WORDS |= {"twice": 2, "thrice": 3, "dozen": 12, "single": 1, "double": 2, "triple": 3}
_NUMBER_WORD = re.compile(rf"\b(?:{'|'.join(_NUMBER_WORDS)})\b", re.IGNORECASE)


def numbers_in(text: str, *, integers_only: bool) -> list[int | float]:
    """The numbers `text` writes, in order, each once: in digits ("1,000" as 1000) or as a
    word ("six", "twice", "a dozen")."""
    found: list[int | float] = []
    matches = sorted([*_NUMBER.finditer(text), *_NUMBER_WORD.finditer(text)], key=re.Match.start)
    for match in matches:
        word = _NUMBER_WORDS.get(match.group().lower())
        raw = str(word) if word is not None else match.group().replace(",", "")
        value: int | float = float(raw) if "." in raw else int(raw)
        if isinstance(value, float) and value.is_integer() and integers_only:
            value = int(value)
        if integers_only and not isinstance(value, int):
            continue
        if value not in found:
            found.append(value)
    return found


def phrases_in(text: str, *, max_words: int = MAX_SPAN_WORDS) -> list[str]:
    """The phrases of `text` up to `max_words` words that could be a value
    (`_grounding.phrases`), each once."""
    return list(dict.fromkeys(phrases(text, sizes=range(1, max_words + 1))))


def given_values(schema: dict[str, Any], task: str) -> list[Any]:
    """The values `task` writes that a parameter of `schema` could take; [] for a type with
    no such list (lists, objects, booleans, unions) or a task that writes none."""
    kind = schema.get("type")
    if kind == "integer":
        return list(numbers_in(task, integers_only=True))
    if kind == "number":
        return list(numbers_in(task, integers_only=False))
    if kind == "string" and "enum" not in schema and "const" not in schema:
        limit = schema.get("maxLength")
        phrases = phrases_in(task)
        return [p for p in phrases if limit is None or len(p) <= limit]
    return []


def held_to_task(call: Call, tool: Tool, invented: Sequence[str], task: str) -> Tool | None:
    """`tool` with each argument of `invented` (as ``tool.argument``) allowed only the values
    `task` writes, or None when one of them has no such values."""
    parameters = dict(tool.parameters)
    properties = dict(parameters.get("properties", {}))
    for qualified in invented:
        name = qualified.removeprefix(f"{call.tool}.")
        schema = properties.get(name)
        if schema is None:
            return None
        values = given_values(schema, task)
        if not values:
            return None
        held = {k: v for k, v in schema.items() if k in ("type", "description", "title")}
        properties[name] = {**held, "enum": values}
    parameters["properties"] = properties
    return replace(tool, parameters=parameters)
