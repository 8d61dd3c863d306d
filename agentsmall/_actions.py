"""The action space of one planner step, as a JSON schema for decoding and a validator after it.

A planner step is a JSON list of calls, each naming its tool *before* its arguments so that the
model commits to a tool first and the constraint then knows exactly which arguments may follow:

    [{"tool": "multiply", "arguments": {"a": 12, "b": 7}}]
    [{"tool": "final_answer", "arguments": {"answer": "84"}}]

The list is bounded (`max_calls`); `final_answer` stands alone. One schema is built per tool
set and reused for every step, so the constraint compiles once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import jsonschema
from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from agentsmall._tool import Tool
from agentsmall.errors import DecodingError

FINAL_ANSWER = "final_answer"

MAX_ANSWER_LENGTH = 200
"""Characters in a final answer. A small model that loops inside a string (``"5555..."``)
would otherwise write until the token limit cuts the step off; 200 characters are at most
200 tokens, so a bounded answer always closes inside the step's default 256 tokens."""

FINAL_ANSWER_ARGUMENTS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "answer": {
            "type": "string",
            "maxLength": MAX_ANSWER_LENGTH,
            "description": "The answer for the user.",
        }
    },
    "required": ["answer"],
    "additionalProperties": False,
}


@dataclass(frozen=True)
class Call:
    """One validated call chosen by the planner."""

    tool: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class StepAction:
    """The validated decision of one planner step: either tool calls or a final answer."""

    calls: tuple[Call, ...] = ()
    final_answer: str | None = None
    duplicates_dropped: int = 0
    """Identical calls the model listed more than once in the step; each runs once."""
    ungrounded_dropped: tuple[str, ...] = ()
    """Optional arguments left out because the conversation never mentions their values, as
    ``tool.argument`` (see `agentsmall._grounding`); items left out of a list the
    conversation mentions only some items of, as ``tool.argument["Wi-Fi"]``."""
    ungrounded_calls_dropped: tuple[str, ...] = ()
    """Tools of further calls dropped because a required value is not in the conversation,
    or because they use no value the step's earlier calls did not."""
    as_fractions: tuple[str, ...] = ()
    """Arguments (``tool.argument``) the task wrote as percentages, passed as fractions
    (`agentsmall._grounding.percentages_as_fractions`)."""
    scaled: tuple[str, ...] = ()
    """Arguments (``tool.argument``) the task wrote with a word of scale ("50 million") or
    as a coordinate south or west ("112.07 W"), passed as the number meant (50000000,
    -112.07; `agentsmall._grounding.numbers_as_meant`)."""
    dates_formatted: tuple[str, ...] = ()
    """Date arguments (``tool.argument``) passed in the layout their parameter declares, or
    replaced by the one date the task writes (`agentsmall._dates.dates_as_declared`)."""
    repeats_dropped: tuple[str, ...] = ()
    """List arguments (``tool.argument``) that held an item more often than the conversation
    writes it; the extra copies were left out (`agentsmall._grounding.unrepeated_items`)."""
    copies_repaired: tuple[str, ...] = ()
    """String arguments (``tool.argument``) the model miscopied from the task, replaced by what
    the task writes (`agentsmall._grounding.repair_copies`)."""
    invented: tuple[str, ...] = ()
    """Required arguments (``tool.argument``) of the call the step first chose, whose values
    nothing gave: the call was withheld and the step decoded again (`agentsmall.agent`): to
    answer, or, when `held`, to call the same tool with those arguments held to the values the
    task writes (`agentsmall._given`)."""
    held: bool = False
    """Whether the step decoded again is the held call (see `invented`), not an answer."""
    repeated: tuple[str, ...] = ()
    """Free-text arguments (``tool.argument``) of the call the step first chose that repeated
    an earlier argument's value (``county`` = ``case_number``): the step was decoded again with
    them held to the task's other values (`agentsmall._given.repeated_arguments`)."""
    calls_added: int = 0
    """Calls the agent added for the other values of a list in the task (`agentsmall._fanout`)."""


ArgumentRewrite = Callable[[Tool, Call, str, Any], Any]
"""A check's new value for one argument (tool, call, name, value), or None to keep it."""


def action_items(calls: Sequence[Call]) -> list[dict[str, Any]]:
    """Calls as the planner writes them: `{"tool": ..., "arguments": {...}}`."""
    return [{"tool": c.tool, "arguments": c.arguments} for c in calls]


def rewrite_arguments(
    action: StepAction, tools: Mapping[str, Tool], rewrite: ArgumentRewrite, *, record: str
) -> StepAction:
    """`action` with each argument of a known tool's call that `rewrite` gives a new value
    replaced by it, the arguments changed recorded as ``tool.argument`` in the field `record`
    (`as_fractions`, `copies_repaired`, ...). The checks that rewrite values share this."""
    calls: list[Call] = []
    changed: list[str] = []
    for call in action.calls:
        tool = tools.get(call.tool)
        arguments = dict(call.arguments)
        for name, value in call.arguments.items():
            new = rewrite(tool, call, name, value) if tool is not None else None
            if new is not None:
                arguments[name] = new
                changed.append(f"{call.tool}.{name}")
        calls.append(Call(call.tool, arguments))
    if not changed:
        return action
    return replace(action, calls=tuple(calls), **{record: tuple(changed)})


MAX_INTEGER_DIGITS = 15
"""Integers in tool calls have at most this many digits. Without a bound a small model can
write digits until the token limit ("1212121212..."); 15 digits still hold any int64-safe
count, id or amount a tool is likely to need."""


_INTEGER_BOUNDS = {"maximum", "exclusiveMaximum", "maxDigits", "enum", "const"}


def _has_type(schema: dict[str, Any], name: str) -> bool:
    types = schema.get("type")
    return types == name or (isinstance(types, list) and name in types)


def bound_integers(schema: Any) -> Any:
    """A copy of `schema` where every integer carries outlines-core's `maxDigits` bound.

    (`maxDigits` is an outlines-core keyword; JSON-schema validators ignore it.)
    """
    return _bounded(schema, strings_and_lists=False)


MAX_STRING_LENGTH = 64
"""Characters in a string argument whose tool sets no bound of its own. Names, dates, cities,
short queries and expressions fit; a looping identifier (``"beta_1_beta_1_..."``) is cut here
and the string closes, instead of the whole step being cut off by the token limit. The bound
is small because a step may hold several calls (`ActionSpace.max_calls`) and they share one
token budget: at 80 characters, four calls with looping strings still ran past 256 tokens. A
tool that needs longer text says so with its own ``maxLength`` (pydantic:
``Field(max_length=...)``)."""

MAX_LIST_ITEMS = 8
"""Items in a list argument whose tool sets no bound of its own, for the same reason: a small
model can otherwise go on listing (``[1, 2, 3, ...]``, the same show title again and again)
until the token limit; at 16 items, three calls with such lists did."""

_STRING_BOUNDS = {"maxLength", "enum", "const", "pattern", "format"}
_LIST_BOUNDS = {"maxItems", "enum", "const", "prefixItems"}


def bound_values(schema: Any) -> Any:
    """A copy of `schema` where every integer, string and list has an upper bound.

    Integers get `bound_integers`' digit bound, strings `MAX_STRING_LENGTH` characters and
    lists `MAX_LIST_ITEMS` items, wherever the schema does not already bound them (a tool's
    own bound, an enum or a const always wins). Bounded values are what make every constrained
    step end by itself: the constraint can always close the JSON before the token limit.
    """
    return _bounded(schema, strings_and_lists=True)


def _bounded(schema: Any, *, strings_and_lists: bool) -> Any:
    if isinstance(schema, list):
        return [_bounded(s, strings_and_lists=strings_and_lists) for s in schema]
    if not isinstance(schema, dict):
        return schema
    bounded = {k: _bounded(v, strings_and_lists=strings_and_lists) for k, v in schema.items()}
    if _has_type(schema, "integer") and not (_INTEGER_BOUNDS & schema.keys()):
        bounded["maxDigits"] = MAX_INTEGER_DIGITS
    if strings_and_lists:
        if _has_type(schema, "string") and not (_STRING_BOUNDS & schema.keys()):
            bounded["maxLength"] = MAX_STRING_LENGTH
        if _has_type(schema, "array") and not (_LIST_BOUNDS & schema.keys()):
            bounded["maxItems"] = MAX_LIST_ITEMS
    return bounded


def _call_branch(name: str, arguments_schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"tool": {"const": name}, "arguments": bound_values(arguments_schema)},
        "required": ["tool", "arguments"],
        "additionalProperties": False,
    }


@dataclass
class ActionSpace:
    """The tools a planner may call in one step, with the schema and validator derived from them."""

    tools: dict[str, Tool]
    max_calls: int = 4
    allow_final_answer: bool = True
    """False for a step that must call a tool (an agent told to use a tool before answering)."""
    shaped: Mapping[str, dict[str, Any]] = field(default_factory=dict)
    """Arguments schemas, by tool, to decode instead of the tools' own: shaped by the task
    (`agentsmall._given.shaped_by_task`) or held to its values (`agentsmall._given.held_to_task`).
    Each allows only calls the tool's own schema allows; grounding and the tools themselves
    still go by the tool's own."""
    schema: dict[str, Any] = field(init=False)
    _validator: jsonschema.Draft202012Validator = field(init=False, repr=False)
    _call_models: dict[str, type[BaseModel]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_calls < 1:
            raise ValueError("max_calls must be at least 1")
        if not self.allow_final_answer and not self.tools:
            raise ValueError("a step that must call a tool needs at least one tool")
        branches = [
            _call_branch(t.name, self.shaped.get(t.name, t.parameters)) for t in self.tools.values()
        ]
        final_step = {
            "type": "array",
            "items": _call_branch(FINAL_ANSWER, FINAL_ANSWER_ARGUMENTS),
            "minItems": 1,
            "maxItems": 1,
        }
        alternatives: list[dict[str, Any]] = []
        if branches:
            tool_items = branches[0] if len(branches) == 1 else {"anyOf": branches}
            alternatives.append(
                {"type": "array", "items": tool_items, "minItems": 1, "maxItems": self.max_calls}
            )
        if self.allow_final_answer:
            alternatives.append(final_step)
        self.schema = alternatives[0] if len(alternatives) == 1 else {"anyOf": alternatives}
        self._validator = jsonschema.Draft202012Validator(self.schema)
        self._call_models = {
            name: create_model(
                f"Call_{name}",
                __config__=ConfigDict(extra="forbid"),
                arguments=(t.arguments_model, ...),
            )
            for name, t in self.tools.items()
        }

    @classmethod
    def from_tools(
        cls,
        tools: list[Tool],
        *,
        max_calls: int = 4,
        allow_final_answer: bool = True,
        shaped: Mapping[str, dict[str, Any]] | None = None,
    ) -> ActionSpace:
        by_name: dict[str, Tool] = {}
        for t in tools:
            if t.name in by_name:
                raise ValueError(f"two tools are named {t.name!r}; tool names must be unique")
            by_name[t.name] = t
        return cls(
            tools=by_name,
            max_calls=max_calls,
            allow_final_answer=allow_final_answer,
            shaped=dict(shaped or {}),
        )

    @property
    def fingerprint(self) -> str:
        """A stable hash of the schema: the key under which its compiled constraint is cached."""
        text = json.dumps(self.schema, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def accepts(self, calls: list[Call]) -> bool:
        """Whether `calls` would be a valid step of this space (as `parse` would judge them)."""
        data = [{"tool": c.tool, "arguments": c.arguments} for c in calls]
        try:
            self.parse(json.dumps(data))
        except DecodingError:
            return False
        return True

    def parse(self, text: str) -> StepAction:
        """Validate a planner output against the schema *and* the tools' pydantic models.

        Constrained decoding should make this impossible to fail; when it does fail, the output
        is never used: a `DecodingError` says exactly why.
        """
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DecodingError(f"planner output is not JSON ({exc}): {text[:200]!r}") from exc
        errors = sorted(self._validator.iter_errors(data), key=lambda e: list(e.path))
        if errors:
            raise DecodingError(
                f"planner output does not match the action schema: {errors[0].message}"
                f" (output: {text[:200]!r})"
            )
        if data[0]["tool"] == FINAL_ANSWER:
            return StepAction(final_answer=data[0]["arguments"]["answer"])
        calls: list[Call] = []
        seen: set[str] = set()
        for item in data:
            try:
                self._call_models[item["tool"]].model_validate({"arguments": item["arguments"]})
            except ValidationError as exc:
                raise DecodingError(
                    f"arguments for {item['tool']!r} do not validate: {exc.errors()[0]['msg']}"
                ) from exc
            key = json.dumps(item, sort_keys=True)
            if key not in seen:
                seen.add(key)
                calls.append(Call(tool=item["tool"], arguments=item["arguments"]))
        return StepAction(calls=tuple(calls), duplicates_dropped=len(data) - len(calls))
