"""What a task gives a call: its values, the optional arguments and flags it speaks of.

Three uses, all on the first step:

* **Held retry.** The first step's call is withheld when a required value comes from nowhere
  (`_grounding.invented_values`). Where the tool gate found a tool clearly relevant (its
  "must call" zone), the task is usually about that tool and the model only miscopied or made
  up a value; answering instead is then always wrong. So the step is decoded once more,
  calling that tool, with each invented argument allowed only the values the task writes
  (`held_to_task`): its numbers for a number, its phrases (up to `MAX_SPAN_WORDS` words) for a
  string, either for each item of a list. The model still chooses among them, by its own
  likelihood. Arguments of other types have no such list, and the step then answers.
* **Repeated values.** A free-text argument that repeats an earlier argument's value
  (`repeated_arguments`) is decoded again the same way, without that value.
* **Shaping.** The first step's schema requires the optional arguments the task speaks of and
  fixes the flags it names (`shaped_by_task`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from agentsmall._actions import Call
from agentsmall._grounding import name_words, phrases, speaks_of
from agentsmall._numbers import numbers_in
from agentsmall._tool import Tool

MAX_SPAN_WORDS = 6
"""The longest phrase offered for a string ("the Museum of Modern Art in New York" is
longer, but names and places are mostly shorter; every added word multiplies the choices)."""


def phrases_in(text: str, *, max_words: int = MAX_SPAN_WORDS) -> list[str]:
    """The phrases of `text` up to `max_words` words that could be a value
    (`_grounding.phrases`), each once."""
    return list(dict.fromkeys(phrases(text, sizes=range(1, max_words + 1))))


def given_values(schema: dict[str, Any], task: str) -> list[Any]:
    """The values `task` writes that a parameter of `schema` could take; [] for a type with
    no such list (objects, booleans, unions) or a task that writes none. For a list, the
    values its items could take."""
    kind = schema.get("type")
    if kind == "array":
        items = schema.get("items")
        return given_values(items, task) if isinstance(items, dict) else []
    if kind == "integer":
        return list(numbers_in(task, integers_only=True))
    if kind == "number":
        return list(numbers_in(task, integers_only=False))
    if kind == "string" and "enum" not in schema and "const" not in schema:
        limit = schema.get("maxLength")
        phrases = phrases_in(task)
        return [p for p in phrases if limit is None or len(p) <= limit]
    return []


def held_to_task(
    parameters: dict[str, Any],
    tool: str,
    invented: Sequence[str],
    task: str,
    *,
    not_like: Mapping[str, str] | None = None,
) -> dict[str, Any] | None:
    """`parameters` (the arguments schema of `tool`) with each argument of `invented` (as
    ``tool.argument``) allowed only the values `task` writes, or None when one of them has no
    such values. `not_like` (argument -> text) leaves out, for that argument, every value that
    is part of that text or holds it (the value another argument already took)."""
    properties = dict(parameters.get("properties", {}))
    for qualified in invented:
        name = qualified.removeprefix(f"{tool}.")
        schema = properties.get(name)
        if schema is None:
            return None
        values = given_values(schema, task)
        avoid = (not_like or {}).get(name)
        if avoid is not None:
            taken = avoid.lower()
            values = [v for v in values if not _overlap(str(v).lower(), taken)]
        if not values:
            return None
        properties[name] = _held(schema, values)
    return {**parameters, "properties": properties}


def _overlap(a: str, b: str) -> bool:
    return a in b or b in a


def _held(schema: dict[str, Any], values: list[Any]) -> dict[str, Any]:
    """`schema` allowed only `values` (for a list: each item, and no more items than there
    are values, so a list cannot repeat its way to the token limit)."""
    kept = {k: v for k, v in schema.items() if k in ("type", "description", "title", "minItems")}
    if schema.get("type") == "array":
        limit = min(schema.get("maxItems", len(values)), len(values))
        if kept.get("minItems", 0) > limit:
            limit = kept["minItems"]
        return {**kept, "items": _held(schema["items"], values), "maxItems": limit}
    return {**kept, "enum": values}


_NAME_FILLERS = frozenset(
    {"the", "and", "for", "with", "from", "max", "min", "num", "number", "type"}
)
"""Words of a parameter's name that say nothing of what it is about (``max_distance``,
``case_type``): the task need not write them."""


def _name_words(name: str) -> list[str]:
    words = name_words(name)
    return [w for w in words if w not in _NAME_FILLERS]


def _written_in_a_task(schema: dict[str, Any]) -> bool:
    """Whether a value of `schema` is one a task writes out: a scalar or a list of scalars,
    not an object (a "deck" of cards the user only named)."""
    if schema.get("type") == "array":
        items = schema.get("items")
        return isinstance(items, dict) and _written_in_a_task(items)
    return schema.get("type") in ("string", "integer", "number", "boolean") or "enum" in schema


def mentioned_optionals(tool: Tool, task: str) -> list[str]:
    """The optional parameters of `tool` that `task` speaks of: it writes every word of the
    parameter's name ("at a significance level of 0.05" for ``significance_level``), or one
    of its allowed values. Only parameters whose values a task writes out (scalars, lists of
    them) count."""
    parameters = tool.parameters
    required = set(parameters.get("required", ()))
    task_words = {w.lower() for w in re.findall(r"[^\W_]+", task)}
    lowered = task.lower()
    mentioned = []
    for name, schema in parameters.get("properties", {}).items():
        if name in required or not _written_in_a_task(schema):
            continue
        words = _name_words(name)
        named = bool(words) and all(speaks_of(w, task_words) for w in words)
        items = schema.get("items") if isinstance(schema.get("items"), dict) else {}
        allowed = schema.get("enum") or items.get("enum", ())  # a list's items' values too
        choices = [v for v in allowed if isinstance(v, str) and len(v) > 2]
        if named or any(re.search(rf"\b{re.escape(v.lower())}\b", lowered) for v in choices):
            mentioned.append(name)
    return mentioned


_NEGATIONS = frozenset({"not", "no", "without", "never", "nor", "few", "less", "little"})
"""Words that turn a flag off when they come just before it ("do not include the impact",
"without tolls", "few artistic interests", "a less detailed description")."""


def spoken_flags(tool: Tool, task: str) -> dict[str, bool]:
    """The boolean parameters of `tool` that `task` speaks of by name, with the value its words
    give: on ("with details", "assuming equal variance", "include owners information"), or
    off where a negation comes just before every mention ("don't return full text"). A flag
    the task writes both ways ("isothermal ... not isothermal") is left to the model."""
    words = [w.lower() for w in re.findall(r"[\w']+", task)]
    flags: dict[str, bool] = {}
    for name, schema in tool.parameters.get("properties", {}).items():
        named = _name_words(name)
        if schema.get("type") != "boolean" or not named:
            continue
        if not all(speaks_of(w, set(words)) for w in named):
            continue
        at = [i for i, w in enumerate(words) if speaks_of(named[0], {w})]
        values = {not any(_negates(b) for b in words[max(0, i - 4) : i]) for i in at}
        if len(values) == 1:
            flags[name] = values.pop()
    return flags


def _negates(word: str) -> bool:
    return word in _NEGATIONS or word.endswith("n't")


def shaped_by_task(tool: Tool, task: str) -> dict[str, Any] | None:
    """The arguments schema of `tool` as the first step of `task` decodes it, or None when
    the task changes nothing: the optional parameters it speaks of are required
    (`mentioned_optionals`), since a small model closes a call after its required arguments,
    leaving out the significance level or the view the user asked for; and each flag it
    speaks of by name holds the value its words give (`spoken_flags`), since the model reads
    "assuming equal variance" as often as not as ``false``. What the call's values may be
    otherwise is unchanged, and grounding still treats the optional ones as optional."""
    mentioned = mentioned_optionals(tool, task)
    flags = spoken_flags(tool, task)
    if not mentioned and not flags:
        return None
    properties = dict(tool.parameters.get("properties", {}))
    for name, value in flags.items():
        properties[name] = {**properties[name], "const": value}
    required = list(dict.fromkeys([*tool.parameters.get("required", ()), *mentioned, *flags]))
    return {**tool.parameters, "properties": properties, "required": required}


def repeated_arguments(call: Call, tool: Tool) -> dict[str, str]:
    """The free-text arguments of `call` (no enum, no const) that repeat the value of an
    argument written before them, with that value: ``county="CA123456"`` after
    ``case_number="CA123456"``, ``court="AL2562"`` after ``docket="2022/AL2562"``. A small
    model copies the value it just wrote into the next slot where the task names another
    ("... in San Diego County"). A value that is only part of an earlier one counts when it
    has a digit (a code), not for words: "Chicago" after "Hilton Hotel in Chicago" is no
    copy."""
    properties = tool.parameters.get("properties", {})
    earlier: list[str] = []
    repeated: dict[str, str] = {}
    for name, value in call.arguments.items():
        if not isinstance(value, str) or len(value.strip()) < 3:
            continue
        text = value.strip().lower()
        schema = properties.get(name, {})
        free = schema.get("type") == "string" and not {"enum", "const"} & schema.keys()
        for before in earlier:
            if free and (text == before or (text in before and re.search(r"\d", text))):
                repeated[name] = before
                break
        earlier.append(text)
    return repeated
