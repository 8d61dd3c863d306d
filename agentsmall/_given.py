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
* **Repeated values.** An argument that repeats an earlier argument's value
  (`repeated_arguments`: a copied text, a number used more often than the task writes it) is
  decoded again the same way, without that value.
* **Shaping.** The first step's schema requires the optional arguments the task speaks of,
  fixes the flags it names, and narrows choices to the ones it writes (`shaped_by_task`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from agentsmall._actions import Call
from agentsmall._grounding import name_words, phrases, speaks_of
from agentsmall._numbers import is_number, is_written, numbers_in, times_written
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
    not_like: Mapping[str, Any] | None = None,
) -> dict[str, Any] | None:
    """`parameters` (the arguments schema of `tool`) with each argument of `invented` (as
    ``tool.argument``) allowed only the values `task` writes, or None when one of them has no
    such values. `not_like` (argument -> value) leaves out, for that argument, what other
    arguments already took: the numbers of a tuple, or the text that is part of a string or
    holds it; an optional argument of `not_like` left with no value is left out of the call
    (its default applies: ``round_to=6`` after ``hours=6`` for "at 6:30 PM")."""
    properties = dict(parameters.get("properties", {}))
    required = set(parameters.get("required", ()))
    for qualified in invented:
        name = qualified.removeprefix(f"{tool}.")
        schema = properties.get(name)
        if schema is None:
            return None
        values = _offered(schema) or given_values(schema, task)
        avoid = (not_like or {}).get(name)
        if isinstance(avoid, tuple):  # numbers
            values = [v for v in values if v not in avoid]
        elif avoid is not None:
            taken = str(avoid).lower()
            values = [v for v in values if not _overlap(str(v).lower(), taken)]
        if not values and name in (not_like or {}) and name not in required:
            del properties[name]
            continue
        if not values:
            return None
        properties[name] = _held(schema, values)
    return {**parameters, "properties": properties}


def _offered(schema: dict[str, Any]) -> list[Any]:
    """The values an argument held before offers (its `enum`, or its items'), so that a held
    call redone for a repeated value chooses among them again."""
    items = schema.get("items")
    if schema.get("type") == "array" and isinstance(items, dict):
        return _offered(items)
    return list(schema.get("enum", []))


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
    mentioned = []
    for name, schema in parameters.get("properties", {}).items():
        if name in required or not _written_in_a_task(schema):
            continue
        words = _name_words(name)
        named = bool(words) and all(speaks_of(w, task_words) for w in words)
        items = schema.get("items") if isinstance(schema.get("items"), dict) else {}
        allowed = schema.get("enum") or items.get("enum", ())  # a list's items' values too
        if named or written_choices(allowed, task):
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


def written_choices(allowed: Sequence[Any], task: str) -> list[str]:
    """The values of `allowed` (an enum) that `task` writes as words ("divorce" for
    "Divorce"; one word also in another form: "tolls" for "toll roads"); codes of one or two
    letters are left out, since they are parts of words."""
    lowered = task.lower()
    words = set(re.findall(r"[^\W_]+", lowered))
    return [
        v
        for v in allowed
        if isinstance(v, str)
        and len(v) > 2
        and (
            re.search(rf"(?<!\w){re.escape(v.lower())}(?!\w)", lowered)
            or (re.fullmatch(r"[^\W\d_]{4,}", v) and speaks_of(v.lower(), words))
        )
    ]


def _narrowed_to_task(schema: dict[str, Any], task: str) -> dict[str, Any] | None:
    """`schema` with its choices (an enum, or its items' enum) narrowed to those `task`
    writes (and those it speaks of in part), or None when it writes none, or the narrowing
    leaves all: a small model asked for "a lawyer specializing in divorce cases" picks
    "Civil" from the list as readily as "Divorce"."""
    items = schema.get("items")
    if schema.get("type") == "array" and isinstance(items, dict):
        narrowed = _narrowed_to_task(items, task)
        if narrowed is None:
            return None
        # No more items than choices: ["Patio", "Patio", ...] to the token limit otherwise.
        limit = min(schema.get("maxItems", len(narrowed["enum"])), len(narrowed["enum"]))
        return {**schema, "items": narrowed, "maxItems": max(limit, schema.get("minItems", 0))}
    allowed = schema.get("enum")
    if not isinstance(allowed, list):
        return None
    written = written_choices(allowed, task)
    if not written:
        return None
    # A value the task speaks of in part stays: "facilities for disabled people" for
    # "Disabled Access", "for adults and children" for "Adult tickets" and "Child tickets".
    words = {w.lower() for w in re.findall(r"[^\W_]+", task)}
    kept = [v for v in allowed if v in written or _spoken_of_in_part(v, words)]
    if len(kept) == len(allowed):
        return None
    return {**schema, "enum": kept}


def _spoken_of_in_part(value: Any, words: set[str]) -> bool:
    value_words = re.findall(r"[^\W\d_]{4,}", value) if isinstance(value, str) else []
    return any(speaks_of(w.lower(), words) for w in value_words)


def shaped_by_task(tool: Tool, task: str) -> dict[str, Any] | None:
    """The arguments schema of `tool` as the first step of `task` decodes it, or None when
    the task changes nothing: the optional parameters it speaks of are required
    (`mentioned_optionals`), since a small model closes a call after its required arguments,
    leaving out the significance level or the view the user asked for; and each flag it
    speaks of by name holds the value its words give (`spoken_flags`), since the model reads
    "assuming equal variance" as often as not as ``false``; and a choice (an enum, or a list's
    items' enum) of which the task writes some values allows only those (`_narrowed_to_task`).
    What the call's values may be otherwise is unchanged, and grounding still treats the
    optional ones as optional."""
    mentioned = mentioned_optionals(tool, task)
    flags = spoken_flags(tool, task)
    properties = dict(tool.parameters.get("properties", {}))
    narrowed = {}
    for name, schema in properties.items():
        chosen = _narrowed_to_task(schema, task)
        if chosen is not None:
            narrowed[name] = chosen
    if not mentioned and not flags and not narrowed:
        return None
    properties |= narrowed
    for name, value in flags.items():
        properties[name] = {**properties[name], "const": value}
    required = list(dict.fromkeys([*tool.parameters.get("required", ()), *mentioned, *flags]))
    return {**tool.parameters, "properties": properties, "required": required}


def repeated_arguments(call: Call, tool: Tool, task: str) -> dict[str, Any]:
    """The arguments of `call` that repeat a value written before them, each with what to
    keep it from (None: nothing, only the repetition):

    * free text (no enum, no const) repeating an earlier string: ``county="CA123456"`` after
      ``case_number="CA123456"``, ``court="AL2562"`` after ``docket="2022/AL2562"``. A value
      that is only part of an earlier one counts when it has a digit (a code), not for words:
      "Chicago" after "Hilton Hotel in Chicago" is no copy;
    * a number repeating an earlier argument's number (or an item of it) more often than
      `task` writes it: ``num_success=100`` after ``num_trials=100`` for "60 heads if I flip
      a coin 100 times", but not ``sides=6`` after ``number=6`` for "a six on a six-sided
      die". Where the task names the later argument next to the number more than the earlier
      one (`nearness`), the earlier is the copy (``periods=3`` before ``years=3`` for "in 3
      years"). It is kept from every number the call used as often as the task writes it,
      as a tuple;
    * a list of numbers holding one more often than `task` writes it (``[2000, 2000, 2000]``
      for "cash_flows=[200,300,400,500] ... an initial investment of $2000"); None, since the
      value may still be one of its items;
    * a list of numbers all used up by earlier arguments (``trait_contributions=[0.8, 0.7]``
      after ``trait_values=[0.8, 0.7]`` for "... 40% ... 60% ... 0.8 ... 0.7"), kept from the
      numbers used up as a scalar is;
    * free text that is only a number an earlier argument took (``unit="10"`` after
      ``base=10``).

    A small model copies the value it just wrote into the next slot where the task gives
    another ("... in San Diego County", "500 lbs of trash")."""
    properties = tool.parameters.get("properties", {})
    earlier: list[str] = []
    numbers: list[float] = []
    holders: dict[float, str] = {}  # the scalar argument that wrote a number first
    repeated: dict[str, Any] = {}
    held_off_numbers: list[str] = []  # decoded again without the numbers used up
    for name, value in call.arguments.items():
        schema = properties.get(name, {})
        free = not {"enum", "const"} & schema.keys()
        if is_number(value):
            if free and numbers.count(value) >= max(times_written(value, task), 1):
                first = holders.get(value)
                if first is not None and nearness(name, value, task) > nearness(first, value, task):
                    name, holders[value] = first, name  # "in 3 years": years takes the 3
                held_off_numbers.append(name)
            holders.setdefault(value, name)
            numbers.append(value)
        elif isinstance(value, list) and value and all(is_number(v) for v in value):
            items = schema.get("items") if isinstance(schema.get("items"), dict) else {}
            if {"enum", "const"} & items.keys():
                numbers.extend(value)
            elif any(value.count(v) > max(times_written(v, task), 1) for v in value):
                repeated[name] = None  # decoded again: its items say nothing of later ones
            elif all(numbers.count(v) >= max(times_written(v, task), 1) for v in value):
                held_off_numbers.append(name)  # the list of an earlier argument again
            else:
                numbers.extend(value)
        elif isinstance(value, str) and free and _is_text(schema) and _as_number(value) in numbers:
            repeated[name] = value.strip()  # unit="10" after base=10
        elif isinstance(value, str) and len(value.strip()) >= 3:
            text = value.strip().lower()
            free = free and schema.get("type") == "string"
            for before in earlier:
                if free and (text == before or (text in before and re.search(r"\d", text))):
                    repeated[name] = before
                    break
            earlier.append(text)
    # A number decoded again keeps off every number the call has used up, not only its own:
    # n=5000 (the principal) is no better than n=5 (the years).
    used_up = tuple(v for v in dict.fromkeys(numbers) if numbers.count(v) >= times_written(v, task))
    for name in held_off_numbers:
        repeated[name] = used_up
    return repeated


_NEAR = 3
"""Words either side of a number within which a parameter's name counts as naming it."""


def nearness(name: str, value: float, task: str) -> float:
    """How much `task` names parameter `name` next to where it writes the number `value`:
    the largest share of the name's words written within `_NEAR` words of one mention of it
    (``time_years`` 0.5 in "in 3 years", ``net_income`` 1.0 in "net income of $2,000,000")."""
    words = [w.strip(".,") for w in re.findall(r"[$\w.,%-]+", task.lower())]
    named = _name_words(name)
    best = 0.0
    for at, word in enumerate(words):
        if named and is_written(value, word):
            around = set(words[max(0, at - _NEAR) : at + _NEAR + 1])
            best = max(best, sum(speaks_of(w, around) for w in named) / len(named))
    return best


def _is_text(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "string"


def _as_number(text: str) -> float | None:
    """The number a string is, if it is only one ("10", " 2.5 ")."""
    try:
        number = float(text.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) else None
