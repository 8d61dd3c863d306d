"""Tool calls grounded in the conversation: invented values are left to the tool's defaults.

Small models fill optional arguments with invented values: `method="linear"`,
`unit="m³"` for a task that said "cubic meters", `isothermal=false` where nobody spoke of it.
The planner prompt already says "leave out optional arguments the task does not mention"; a
135M model does not reliably follow it, so the agent enforces it after validation: an optional
argument is kept only when its value is *grounded*, that is, written in the conversation (the
task, earlier messages, tool results, the agent's instructions):

* a string: its text appears (ignoring case and punctuation at its ends; a single word also
  in another form: "tolls" in "toll roads"; a date in any layout);
* a number: it appears as a number (``10`` in "10 m", not in "100");
* a list or an object: every element or value is grounded (an empty one is not); of an
  optional list of strings or numbers only some items of which are, those items are kept;
* a boolean: its *name* is spoken of (a word of ``include_human_impact`` appears), since
  "true" and "false" are rarely written out.

Required arguments are never left out; instead, a further call of a step whose required
values are not grounded is dropped as invented, and so is one that asks nothing new
(`ground_action`). Measured on BFCL items not used for the report, leaving out ungrounded
optional arguments turned 7 wrong calls of 100 into right ones on `multiple` and broke one;
dropping invented further calls turned 1 (and 4 of the model's unconstrained choices) into
right ones and broke none (docs/BENCHMARKS.md, "Evaluation").

More checks work on values rather than on whether an argument is there (and dates take the
layout their parameter declares: `agentsmall._dates`):

* `invented_values`: the required values of a first call that nothing gave, a sign that the
  model called the nearest tool for a task no tool does; the agent withholds that call and the
  step answers instead (`Agent`).
* `percentages_as_fractions`: "5%" in the task goes to a rate as 0.05, and
  `numbers_as_meant`: "50 million" to a number as 50000000.

The step's recorded action is the one that ran, so the history shows exactly what happened.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

from agentsmall._actions import Call, StepAction, rewrite_arguments
from agentsmall._dates import dates_as_declared, dates_in, readings
from agentsmall._numbers import (
    is_number,
    is_written,
    number_pattern,
    scaled_in,
    signed_in,
    times_written,
)
from agentsmall._tool import Tool

_NAME_PARTS = re.compile(r"[_\W]+|(?<=[a-z])(?=[A-Z])")


def name_words(name: str) -> list[str]:
    """The words of a parameter's name longer than two letters, lower-cased:
    ``includeHumanImpact`` and ``include_human_impact`` give include, human, impact."""
    return [w.lower() for w in _NAME_PARTS.split(name) if len(w) > 2]


_EDGE_PUNCTUATION = ".,;:!?'\"`"
"""Stripped from both ends of a string before looking for it ("Dara Inc." in "'Dara Inc'")."""


def is_grounded(name: str, value: Any, context: str) -> bool:
    """Whether argument `name`'s `value` is written in `context` (lower-cased)."""
    if isinstance(value, bool):
        words = name_words(name)
        return any(w in context for w in words)
    if isinstance(value, int | float):
        return is_written(value, context)
    if isinstance(value, str):
        text = value.strip().strip(_EDGE_PUNCTUATION).strip().lower()
        if readings(text) & dates_in(context):  # "01-05-2021" for "January 5, 2021"
            return True
        if re.fullmatch(r"[^\W\d_]{4,}", text):  # one word: "tolls" for "toll roads"
            return speaks_of(text, _words(context))
        return bool(text) and text in context
    if isinstance(value, list):
        return bool(value) and all(is_grounded(name, v, context) for v in value)
    if isinstance(value, dict):
        return bool(value) and all(is_grounded(k, v, context) for k, v in value.items())
    return False


def speaks_of(word: str, words: set[str]) -> bool:
    """Whether `words` (lower-cased) hold `word` or a form of it: "owners" for "owner",
    "avoiding" for "avoid", "toll" for "tolls"."""
    return any(w.startswith(word) or (len(w) >= 4 and word.startswith(w)) for w in words)


_PLACEHOLDER = re.compile(r"<[^<>]*>")
_ISO_DATE = re.compile(r"(\d{4})-\d{2}-\d{2}")
_WORDS = re.compile(r"[^\W_]+(?:\.\d+)?")


def _words(text: str) -> set[str]:
    return {w.lower() for w in _WORDS.findall(text)}


def is_given(value: Any, schema: Mapping[str, Any], words: set[str], context: str) -> bool:
    """Whether a required value comes from somewhere: its schema (an enum member, a boolean),
    or the conversation (`context`, lower-cased, and its `words`): a number written there (or
    its percentage), a string with a word written there, a list or object of such values.
    Placeholders (`<city>`) never are."""
    if isinstance(value, bool) or "enum" in schema or "const" in schema:
        return True
    if isinstance(value, int | float):
        # 0.05 for "5%": a rate written as a fraction.
        percent = round(value * 100, 8)
        return is_grounded("", value, context) or is_grounded("", percent, context)
    if isinstance(value, str):
        if _PLACEHOLDER.fullmatch(value.strip()):
            return False  # "<city>": the shape of a value, copied from an example
        date = _ISO_DATE.fullmatch(value.strip())
        if date is not None:  # "2022-03-11" for "March 11, 2022": the year is enough
            return date.group(1) in words
        # A name or a number must be written there; of a phrase the model composed (a search
        # query, a question, an expression), one word is enough: "cat name" for "what is my
        # cat called?", "23 * 19" for "23 times 19".
        value_words = _words(value)
        return bool(value_words & words)
    if isinstance(value, list):
        items = schema.get("items", {})
        return bool(value) and all(is_given(v, items, words, context) for v in value)
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        return bool(value) and all(
            is_given(v, properties.get(k, {}), words, context) for k, v in value.items()
        )
    return False


def invented_values(call: Call, tool: Tool, context: str) -> list[str]:
    """The required arguments of `call` whose values are given neither by the conversation
    (`context`) nor by the tool's own descriptions (`sqrt` in an expression: the calculator's
    description names it), as ``tool.argument``.

    A small model asked about something no tool does still calls the closest tool, filling its
    required arguments with values the task never gave (`get_weather(city="London")` for "Is
    it going to rain?"). Measured on BFCL items not used for the report, such values marked 31
    of the 48 calls made on `irrelevance` items, and 1 of 33 right calls on `simple_python` and
    1 of 36 on `multiple` (values that come through units or knowledge: docs/BENCHMARKS.md,
    "Evaluation").
    """
    lowered = context.lower()
    properties = tool.parameters.get("properties", {})
    docs = [tool.description] + [str(p.get("description", "")) for p in properties.values()]
    words = _words(context) | _words(" ".join(docs))
    return [
        f"{call.tool}.{name}"
        for name in tool.parameters.get("required", ())
        if name in call.arguments
        and not is_given(call.arguments[name], properties.get(name, {}), words, lowered)
    ]


def conversation_text(messages: Sequence[Mapping[str, str]], instructions: str) -> str:
    """What grounds arguments: the agent's instructions and every message that is not the
    system prompt (tool descriptions would ground anything) or the model's own reply."""
    parts = [instructions]
    parts += [m["content"] for m in messages if m["role"] not in ("system", "assistant")]
    return "\n".join(parts)


def _values(value: Any) -> set[str]:
    """The scalar values inside an argument mapping (or list), as JSON."""
    if isinstance(value, dict):
        return set().union(set(), *(_values(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(set(), *(_values(v) for v in value))
    return {json.dumps(value).lower()}


def ground_action(action: StepAction, tools: Mapping[str, Tool], context: str) -> StepAction:
    """`action` as the agent runs it, grounded in `context` (see the module docstring).

    Optional arguments that `context` does not ground are left out. A further call of the step
    (after one that is kept) is dropped when one of its required values is neither grounded nor
    a value of an earlier call of the step: an invented call (`capital(country="São João")`
    after `capital(country="Brazil")`), not another value the task asked for; so is a further
    call that uses no value the earlier calls of the step did not (the same table again, cut
    short; the two companies swapped): it asks nothing new. The first call
    is always kept: the step was asked to call a tool, and its required values may be derived
    (an expression, a unit conversion).
    Calls that become identical once grounded run once (they count as duplicates dropped).
    """
    if not action.calls:
        return action
    lowered = context.lower()
    calls: list[Call] = []
    seen: set[str] = set()
    dropped: list[str] = []
    calls_dropped: list[str] = []
    for call in action.calls:
        tool = tools.get(call.tool)
        required = set(tool.parameters.get("required", ())) if tool is not None else set()
        # A further call may repeat a value of an earlier call ("3 hours" for each city).
        earlier = " ".join(json.dumps(c.arguments, ensure_ascii=False) for c in calls).lower()
        invented = tool is not None and not all(
            is_grounded(name, value, lowered) or is_grounded(name, value, earlier)
            for name, value in call.arguments.items()
            if name in required and not isinstance(value, bool)
        )
        if calls and invented:
            calls_dropped.append(call.tool)
            continue
        arguments = {}
        for name, value in call.arguments.items():
            if tool is None or name in required or is_grounded(name, value, lowered):
                arguments[name] = value
                continue
            kept = _grounded_items(name, value, lowered)
            if kept:  # a list of which only some items are written: those are kept
                arguments[name] = kept
                left_out = [v for v in value if v not in kept]
                dropped.append(f"{call.tool}.{name}{json.dumps(left_out, ensure_ascii=False)}")
            else:
                dropped.append(f"{call.tool}.{name}")
        key = json.dumps([call.tool, arguments], sort_keys=True)
        if key in seen:
            continue  # a duplicate once grounded
        if calls and _values(arguments) <= _values([c.arguments for c in calls]):
            calls_dropped.append(call.tool)  # nothing new
            continue
        seen.add(key)
        calls.append(Call(call.tool, arguments))
    if not dropped and not calls_dropped:
        return action
    duplicates = action.duplicates_dropped + len(action.calls) - len(calls) - len(calls_dropped)
    return replace(
        action,
        calls=tuple(calls),
        duplicates_dropped=duplicates,
        ungrounded_dropped=tuple(dropped),
        ungrounded_calls_dropped=tuple(calls_dropped),
    )


def _grounded_items(name: str, value: Any, context: str) -> list[Any]:
    """The items of a list of scalars that `context` grounds, each once, in order ([] for
    anything else): "Patio" of ``["Patio", "Wi-Fi", "Happy Hour"]`` for "a sushi place with a
    patio"."""
    if not isinstance(value, list) or not all(isinstance(v, str | int | float) for v in value):
        return []
    kept: list[Any] = []
    for item in value:
        if item not in kept and is_grounded(name, item, context):
            kept.append(item)
    return kept


def _written_as_percentage(value: float, context: str) -> bool:
    pattern = number_pattern(value)
    return bool(re.search(rf"(?<![\d.])(?:{pattern})\s*(?:%|percent\b|per cent\b)", context))


def _wants_percent(name: str, schema: Mapping[str, Any]) -> bool:
    """Whether a parameter takes percentages: its name or schema speaks of percent, and not
    of a decimal or a fraction ("as a decimal, e.g. 5% is 0.05" asks for the fraction, so do
    "percentage contributions ... which must sum to 1")."""
    about = f"{name} {json.dumps(schema)}".lower()
    if "decimal" in about or "fraction" in about or re.search(r"(sum|add up) to 1\b", about):
        return False
    return "percent" in about or "%" in about


def percentages_as_fractions(
    action: StepAction, tools: Mapping[str, Tool], context: str
) -> StepAction:
    """`action` with every number the conversation wrote as a percentage ("5%", "5 percent")
    passed as a fraction (0.05), unless the parameter takes percentages (`_wants_percent`).

    Rates go into functions as fractions almost everywhere (`principal * (1 + rate)`), and a
    small model copies the "5" it read. Measured on BFCL items not used for the report, this
    turned 5 wrong `simple_python` calls of 100 and 1 `multiple` call into right ones, and
    broke none (docs/BENCHMARKS.md, "Evaluation")."""
    lowered = context.lower()

    def as_fraction(tool: Tool, call: Call, name: str, value: Any) -> Any:
        schema = tool.parameters.get("properties", {}).get(name, {})
        if isinstance(value, list) and value and all(is_number(v) for v in value):
            items = schema.get("items") if isinstance(schema.get("items"), dict) else {}
            if items.get("type") == "integer" or _wants_percent(name, schema):
                return None
            if not all(_written_as_percentage(v, lowered) for v in value):
                return None  # a list of rates only when every item is one: [0.4, 0.6]
            return [round(v / 100, 10) for v in value]
        if not is_number(value) or schema.get("type") == "integer":
            return None
        if _wants_percent(name, schema) or not _written_as_percentage(value, lowered):
            return None
        return round(value / 100, 10)

    return rewrite_arguments(action, tools, as_fraction, record="as_fractions")


def unrepeated_items(action: StepAction, tools: Mapping[str, Tool], context: str) -> StepAction:
    """`action` with each list of numbers or texts keeping an item no more often than the
    conversation writes it (at least once): ``[85, 90, 88, 92, 86, 89, 91, 91]`` for "85,
    90, 88, 92, 86, 89, 91", ``["G", "C", "G", "C"]`` for "more G and C". A small model that
    has begun a list goes on repeating its items until something stops it. A list of one
    item repeated (``[2000, 2000, 2000]``) is left as it is: which value was meant is not
    known, and the first step decodes it again (`agentsmall._given.repeated_arguments`)."""
    lowered = context.lower()

    def unrepeated(tool: Tool, call: Call, name: str, value: Any) -> list[Any] | None:
        if not isinstance(value, list) or not all(_is_scalar(v) for v in value):
            return None
        if len(set(map(_key, value))) < 2:
            return None
        kept: list[Any] = []
        for item in value:
            if sum(_key(k) == _key(item) for k in kept) < max(_times_in(item, lowered), 1):
                kept.append(item)
        return kept if len(kept) < len(value) else None

    return rewrite_arguments(action, tools, unrepeated, record="repeats_dropped")


def _times_in(item: str | int | float, context: str) -> int:
    """How often `context` (lower-cased) writes a list item: a number in any of its forms,
    a text as a phrase of its own."""
    if is_number(item):
        return times_written(item, context)
    text = re.escape(str(item).strip().lower())
    return len(re.findall(rf"(?<!\w){text}(?!\w)", context)) if text else 0


def _key(item: str | int | float) -> str:
    return str(item).strip().lower() if isinstance(item, str) else repr(float(item))


def _is_scalar(value: Any) -> bool:
    return isinstance(value, str) or is_number(value)


def numbers_as_meant(action: StepAction, tools: Mapping[str, Tool], context: str) -> StepAction:
    """`action` with every number the conversation wrote only with a word of scale ("a
    payout of 50 million") passed as the number it means (50000000), unless the parameter
    speaks of that scale itself ("revenue in millions"), and every coordinate it wrote south
    or west ("112.0740 W") as signed decimal degrees (-112.074), alone or in a list. A small
    model copies the digits."""
    scaled = scaled_in(context)
    signed = signed_in(context)

    def number_meant(value: Any, about: str) -> int | float | None:
        if not is_number(value):
            return None
        if value in signed:
            return signed[value]
        if value in scaled and not any(w in about for w in _SCALE_WORDS):
            return scaled[value]
        return None

    def as_meant(tool: Tool, call: Call, name: str, value: Any) -> Any:
        schema = tool.parameters.get("properties", {}).get(name)
        if schema is None:
            return None
        about = f"{name} {json.dumps(schema)}".lower()
        if schema.get("type") in ("integer", "number"):
            return number_meant(value, about)
        if schema.get("type") == "array" and isinstance(value, list):
            items = [number_meant(v, about) for v in value]
            if any(v is not None for v in items):
                return [v if m is None else m for v, m in zip(value, items, strict=True)]
        return None

    return rewrite_arguments(action, tools, as_meant, record="scaled")


_SCALE_WORDS = ("thousand", "million", "billion", "trillion")


_SPAN_WORD = re.compile(r"[\w.'&-]+")
_SPAN_EDGES = frozenset(
    {"a", "an", "the", "in", "of", "at", "on", "to", "for", "from", "by", "with", "and", "or"}
)
MIN_REPAIRED_CHARS = 6
"""Shorter values are codes and abbreviations ("USD" for "US dollars", "EUR" for "euros"),
which resemble the task's words without being slips."""
COPY_SIMILARITY = 0.7
"""How close (difflib's ratio) a miscopied value must be to a span of the task to be replaced
by it: "James Planksa" → "James Plensa" (0.88), "Liverly F.C." → "Liverpool F.C." (0.77)."""


def _clean_span(words: Sequence[str]) -> str:
    text = " ".join(words).rstrip(",;:!?").strip("'")
    last = text[:-1].split()
    if text.endswith(".") and last and "." not in last[-1]:
        text = text[:-1]  # a sentence's full stop, not "F.C."
    return text.strip("'")


def _as_written(text: str) -> str:
    """`text` lower-cased, without quotes or punctuation at its ends, `_` and `-` as spaces:
    `living_room` is written in "living rooms", `'Dara Inc.'` in "'Dara Inc'"."""
    text = text.strip().strip(_EDGE_PUNCTUATION).strip().lower()
    return re.sub(r"[_-]+", " ", text)


def closest_span(value: str, task: str) -> str | None:
    """The span of `task` (about as many words as `value`) that `value` most resembles, when
    they are at least `COPY_SIMILARITY` alike; None when there is none or `value` is written
    in the task as it is."""
    wanted = value.strip().lower()
    if (
        len(wanted) < MIN_REPAIRED_CHARS
        or _as_written(value) in _as_written(task)
        or _PLACEHOLDER.fullmatch(wanted)
    ):
        return None
    n = len(value.split())
    best, best_ratio = None, COPY_SIMILARITY
    for text in phrases(task, sizes=sorted({max(1, n - 1), n, n + 1})):
        if text.lower() in wanted:
            continue  # the value adds to the task's words ("New York City"): not a slip
        ratio = difflib.SequenceMatcher(None, wanted, text.lower()).ratio()
        if ratio > best_ratio:
            best, best_ratio = text, ratio
    return best


def phrases(text: str, *, sizes: Iterable[int]) -> Iterator[str]:
    """The phrases of `text` of each of `sizes` words (in that order) that could be a value:
    not starting or ending with a function word ("of", "the"), with at least one letter, as
    the text writes them (`_clean_span`). A phrase may come more than once."""
    words = _SPAN_WORD.findall(text)
    for size in sizes:
        for start in range(len(words) - size + 1):
            span = words[start : start + size]
            if span[0].lower() in _SPAN_EDGES or span[-1].lower().strip(".,") in _SPAN_EDGES:
                continue
            phrase = _clean_span(span)
            if re.search(r"[^\W\d_]", phrase):
                yield phrase


def repair_copies(action: StepAction, tools: Mapping[str, Tool], task: str) -> StepAction:
    """`action` with each required string argument of one to four words that the task does not
    contain, but nearly does, replaced by what the task writes: a small model copies names
    through subword tokens and slips ("James Planksa" for "James Plensa"), and cuts a place
    short of the state the task names with it ("Boston" for "Boston, MA"). Dates, numbers,
    codes and placeholders are left alone (docs/BENCHMARKS.md, "Evaluation", has what this
    fixed and broke)."""

    def repaired(tool: Tool, call: Call, name: str, value: Any) -> str | None:
        if name not in tool.parameters.get("required", ()):
            return None  # an optional value the task does not write is left out anyway
        if not isinstance(value, str) or not 1 <= len(value.split()) <= 4:
            return None
        if _ISO_DATE.fullmatch(value.strip()) or not re.search(r"[^\W\d_]", value):
            return None  # dates and numbers are written in many ways; names are not
        return with_state(value, task) or closest_span(value, task)

    return rewrite_arguments(action, tools, repaired, record="copies_repaired")


_STATE = r",\s*(?:[A-Z]{2}\b|[A-Z]\.[A-Z]\.)"
"""A state or district written after a place: ", MA", ", D.C."."""


def with_state(value: str, task: str) -> str | None:
    """The place `value` with the state the task writes right after it ("Boston, MA" for
    "Boston"), or None when the task writes no state after it."""
    place = value.strip()
    if not place or not place[0].isupper():
        return None
    match = re.search(rf"(?<!\w){re.escape(place)}{_STATE}", task)
    return match[0] if match else None


def check_action(
    action: StepAction, tools: Mapping[str, Tool], *, task: str, context: str, first_step: bool
) -> StepAction:
    """The checks a step's calls go through before they run, in order: on the first step,
    names miscopied from the `task` are repaired (`repair_copies`); then dates take the layout
    their parameters declare (`agentsmall._dates`), the calls are grounded in the
    conversation (`ground_action`), "50 million" becomes 50000000 (`numbers_as_meant`),
    percentages become fractions (`percentages_as_fractions`) and list items repeated more
    often than written are left out (`unrepeated_items`). `changes` lists what they did."""
    if first_step:
        action = repair_copies(action, tools, task)
    action = dates_as_declared(action, tools, task=task if first_step else None)
    action = ground_action(action, tools, context)
    action = numbers_as_meant(action, tools, context)
    action = percentages_as_fractions(action, tools, context)
    return unrepeated_items(action, tools, context)


def changes(action: StepAction) -> list[tuple[str, dict[str, list[str]]]]:
    """What `check_action` changed, as (event kind, data) pairs for the agent's events."""
    found: list[tuple[str, dict[str, list[str]]]] = []
    if action.copies_repaired:
        found.append(("copies_repaired", {"arguments": list(action.copies_repaired)}))
    if action.ungrounded_dropped or action.ungrounded_calls_dropped:
        left_out = {
            "arguments": list(action.ungrounded_dropped),
            "calls": list(action.ungrounded_calls_dropped),
        }
        found.append(("arguments_left_out", left_out))
    if action.as_fractions:
        found.append(("percentages_as_fractions", {"arguments": list(action.as_fractions)}))
    if action.scaled:
        found.append(("numbers_scaled", {"arguments": list(action.scaled)}))
    if action.dates_formatted:
        found.append(("dates_formatted", {"arguments": list(action.dates_formatted)}))
    if action.repeats_dropped:
        found.append(("repeats_dropped", {"arguments": list(action.repeats_dropped)}))
    return found
