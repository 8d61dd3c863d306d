"""One call per listed value: a task that names several values for one argument gets them all.

"What are the proteins of the nucleus, mitochondria and cytoplasm?" needs three calls of a
tool that takes one compartment. A 135M model writes the first call and closes the list (on
BFCL's `parallel` items, one call where two to four were asked in 41 of 46 wrong items),
while it does pick the right tool and the right argument for the first value. So the agent
completes the list itself: when a scalar argument's value is one item of an enumeration in the
task ("A, B and C", "A or B", "3, 5 and 7 meters"), the call is repeated for every other item.

The rules are deliberately narrow, so that a task asking for one call is left alone:

* the enumeration must be closed by "and" or "or" ("3, 5" alone is a pair of coordinates);
* siblings have the value's shape: numbers for a number (with the same unit word, if the value
  has one), as many words as the value for a string, and a member of the enum for an enum;
* an item that another argument of the call already uses, in whole or in part ("add 345 and
  678" as `a=345, b=678`; "York City" of "New York City and Los Angeles" when the origin is
  New York City), or that names another parameter of the tool ("a base of 10 units and
  height of 5 units"), means the list belongs to several arguments, so nothing is added;
* two arguments with lists combine pairwise when the task says "respectively", otherwise in
  every combination; the step never exceeds its call limit;
* only the task (the user's messages) is read, only for the first step: tool results are data,
  not requests, and later steps would repeat calls already made.

Tasks also describe each case in a sentence of its own ("the factorial of 5, the factorial of
3"; "Ann weighs 60 kg ..., Bob weighs 80 kg ..."). Values written after the same words as the
call's value (`framed`) are such cases: when the model wrote a single call, one call is added
per further case, the n-th value of each framed argument together, unless a frame holds a value
of another argument of the call ("20 kg at 30 degrees with 15 kg at 60 degrees").

Every added call is validated against the step's action space like the model's own.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from agentsmall._actions import ActionSpace, Call, StepAction
from agentsmall._numbers import number_pattern

_NUMBER = r"-?\d+(?:\.\d+)?"
_WORD = r"[A-Za-z0-9][\w'-]*"
# fmt: off
_NOT_ITEMS = frozenset({
    "a", "an", "the", "i", "you", "we", "it", "he", "she", "they", "this", "that", "these",
    "those", "is", "are", "was", "be", "can", "could", "would", "will", "should", "please",
    "also", "then", "what", "which", "how", "who", "when", "where", "why", "tell", "give", "find",
    "get", "show", "do", "does", "provide", "calculate", "compute", "its", "their", "my", "your",
    "our", "his", "her",
})
# fmt: on
"""Words that follow "and" in a sentence rather than in a list ("..., and can you ...")."""


def _item_pattern(value: Any) -> str | None:
    """The regex of an item shaped like `value`, or None for a value that cannot be listed."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return _NUMBER
    if isinstance(value, str):
        words = value.split()
        if not words or len(words) > 4 or not all(re.fullmatch(_WORD, w) for w in words):
            return None
        return r"\s+".join([_WORD] * len(words))
    return None


def _unit_after(value: Any, text: str) -> str | None:
    """The word after a number in the task ("meters" in "0 meters and 1000 meters")."""
    if not isinstance(value, int | float):
        return None
    match = re.search(rf"(?<![\w.])(?:{number_pattern(value)})\s+([A-Za-z]+)", text)
    if match is None or match.group(1).lower() in ("and", "or"):
        return None
    return match.group(1)


def enumeration(value: Any, text: str) -> list[str]:
    """The items of the first list in `text` that has `value` as one item ("A, B and C"), in
    text order and as written, or [] when `value` is not an item of such a list."""
    item = _item_pattern(value)
    if item is None:
        return []
    unit = _unit_after(value, text)
    if unit is not None:
        item = rf"{item}(?:\s+{re.escape(unit)})?"
    listing = re.compile(
        rf"(?<![\w.-])(?:{item})(?:\s*,\s*(?:{item}))*\s*,?\s+(?:and|or)\s+(?:{item})(?![\w-])",
        re.IGNORECASE,
    )
    separator = re.compile(r"\s*,\s*(?:(?:and|or)\s+)?|\s+(?:and|or)\s+", re.IGNORECASE)
    wanted = str(value).lower() if isinstance(value, str) else None
    for found in listing.finditer(text):
        items = [part for part in separator.split(found.group(0)) if part]
        if unit is not None:
            items = [re.sub(rf"\s+{re.escape(unit)}$", "", i, flags=re.IGNORECASE) for i in items]
        if any(i.split()[0].lower() in _NOT_ITEMS for i in items):
            continue
        if isinstance(value, str) and value.istitle() and not all(i.istitle() for i in items):
            continue  # "San Jose, and finally from": a name's siblings are names too
        if wanted is not None and wanted in (i.lower() for i in items):
            return items
        if wanted is None and any(_same_number(i, value) for i in items):
            return items
    return []


_FRAME_FILLERS = frozenset({"of", "and", "or", "to", "in", "at", "for", "with", "by", "from", "on"})


def framed(value: Any, text: str) -> list[str]:
    """The values written, in text order, after the same words as `value` is in `text`
    ("the factorial of 5, the factorial of 3, then the factorial of 4"; "Ann weighs 60 kg,
    Bob weighs 80 kg"), or [] when those words frame no other value of its shape. The two
    words before the value are tried, then the one; a frame needs a word that is more than a
    function word, and a frame of one word needs four letters."""
    item = _item_pattern(value)
    if item is None:
        return []
    written = number_pattern(value) if isinstance(value, int | float) else re.escape(value)
    for size in (2, 1):
        words_before = r"\W+".join([r"([A-Za-z]+)"] * size)
        first = re.search(rf"\b{words_before}\s+(?:{written})(?![\w.])", text, re.IGNORECASE)
        if first is None:
            continue
        words = list(first.groups())
        if all(w.lower() in _NOT_ITEMS | _FRAME_FILLERS for w in words):
            continue
        if size == 1 and len(words[0]) < 4:
            continue
        frame = r"\W+".join(re.escape(w) for w in words)
        items = [
            m.group(1) for m in re.finditer(rf"\b{frame}\s+({item})(?![\w.])", text, re.IGNORECASE)
        ]
        if any(i.split()[0].lower() in _NOT_ITEMS | _FRAME_FILLERS for i in items):
            continue  # "the two celestial bodies and the unit": words, not values
        if isinstance(value, str) and value.istitle() and not all(i.istitle() for i in items):
            continue
        if len(set(items)) > 1:
            return items
    return []


def _same_number(raw: str, value: Any) -> bool:
    try:
        return float(raw) == float(value)
    except ValueError:
        return False


def _typed(raw: str, schema: dict[str, Any]) -> Any | None:
    """`raw` as a value of the parameter `schema` describes, or None if it cannot be one."""
    if "enum" in schema:
        for member in schema["enum"]:
            if isinstance(member, str) and member.lower() == raw.lower():
                return member
        return None
    kind = schema.get("type")
    if kind == "integer":
        return int(raw) if re.fullmatch(r"-?\d+", raw) else None
    if kind == "number":
        return float(raw) if "." in raw else int(raw)
    if kind == "string":
        return raw
    return None


def task_text(messages: Sequence[dict[str, str]]) -> str:
    """What a user asked for: their messages only (not tool results, not the model's)."""
    return "\n".join(m["content"] for m in messages if m["role"] == "user")


def fan_out(action: StepAction, space: ActionSpace, task: str) -> StepAction:
    """`action` with one call for every value the task lists where a call has one (see the
    module docstring); `calls_added` counts the new calls."""
    if not action.calls:
        return action
    calls = list(action.calls)
    seen = {_key(c) for c in calls}
    added = 0
    for call in action.calls:
        # Frames describe one case per call: read only when the model wrote a single call.
        for variant in _variants(call, space, task, frames=len(action.calls) == 1):
            if len(calls) >= space.max_calls:
                break
            key = _key(variant)
            if key not in seen and space.accepts([*calls, variant]):
                seen.add(key)
                calls.append(variant)
                added += 1
    if not added:
        return action
    return replace(action, calls=tuple(calls), calls_added=added)


def _key(call: Call) -> str:
    return json.dumps([call.tool, call.arguments], sort_keys=True)


def _variants(call: Call, space: ActionSpace, task: str, *, frames: bool) -> list[Call]:
    tool = space.tools.get(call.tool)
    if tool is None:
        return []
    properties = tool.parameters.get("properties", {})
    listed: dict[str, list[Any]] = {}
    cases: dict[str, list[Any]] = {}
    for name, value in call.arguments.items():
        schema = properties.get(name, {})
        items = enumeration(value, task)
        typed = [_typed(raw, schema) for raw in items]
        if items and all(v is not None for v in typed):
            others = [str(v).lower() for n, v in call.arguments.items() if n != name]
            # A parameter's name is no value of another ("10 units and height of 5 units").
            others += [n.lower().replace("_", " ") for n in properties if n != name]
            siblings = [str(v).lower() for v in typed if v != value]
            if not any(s in o or o in s for s in siblings for o in others if o):
                listed[name] = typed
                continue
            # else the list belongs to several arguments of this call
        described = [_typed(raw, schema) for raw in framed(value, task)] if frames else []
        if described and all(v is not None for v in described):
            others = [v for n, v in call.arguments.items() if n != name]
            if not any(v != value and v in others for v in described):
                cases[name] = described  # else the frame holds several arguments' values
    if not listed and not cases:
        return []
    names = list(listed)
    lengths = {len(listed[n]) for n in names}
    if len(names) > 1 and len(lengths) == 1 and re.search(r"\brespectively\b", task, re.I):
        combinations = list(zip(*(listed[n] for n in names), strict=True))
    else:
        combinations = list(itertools.product(*(listed[n] for n in names)))
    if cases:  # framed values go together, the nth of each: one described case per call
        if len({len(v) for v in cases.values()}) > 1:
            return []
        names += list(cases)
        described_cases = list(zip(*cases.values(), strict=True))
        combinations = [(*c, *d) for c in combinations for d in described_cases]
    return [
        Call(call.tool, {**call.arguments, **dict(zip(names, combo, strict=True))})
        for combo in combinations
    ]
