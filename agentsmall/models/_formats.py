"""Native tool-call formats: each model family's own way of listing tools, calling them and
reading their results, so a model writes what it was trained to write.

A format object does three things for one family:

* `prompt(...)` turns our neutral conversation (a system text, the tools, and turns whose role
  is "user", "assistant" or "tool") into the messages and template variables the family's chat
  template expects: where the tool docs go (the template's `tools` variable, a `tools` field of
  the system turn, or plain text), which role carries a tool result (ipython, tool, user), and
  what to do when the template has no system role at all (Gemma);
* `constraint(tools)` gives the regular expression one constrained step must match, in the
  native shape (`<tool_call>{...}</tool_call>`, `{"name": ..., "parameters": ...}`,
  `[f(a=1)]`, ...), plus text to force before it (`prefill`) when the family opens its calls
  with a control token that a constraint can never emit;
* `parse(text)` reads native text back into tool calls, or a final answer.

The final answer is itself a call, to the pseudo-tool `final_answer(answer)`, written in the
native shape like any other: so every step stays constrained (the model cannot drift into
prose) and a family that opens every call with a fixed marker can have it forced.

Thinking (`<think>...</think>`) is never part of a constraint: `split_thinking` separates it;
the agent generates it freely and constrains only what follows.

These formats are verified against chat-template structure and hand-written examples, not
against the real seed models (none can be downloaded where this was written); see the README.
"""

from __future__ import annotations

import abc
import ast
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from outlines_core.json_schema import NUMBER, build_regex_from_schema

from agentsmall._actions import FINAL_ANSWER, FINAL_ANSWER_ARGUMENTS, bound_integers
from agentsmall.decoding import BOUNDED_NUMBER
from agentsmall.errors import DecodingError

WHITESPACE = r"[ ]?"
"""Whitespace the JSON parts of a constraint allow between tokens (as in `agentsmall.decoding`)."""

NativeMessage = dict[str, Any]
"""A chat message for a template: `role` and `content`, plus family fields (Phi-4's `tools`)."""


@dataclass(frozen=True)
class ToolSpec:
    """What a format needs to know about a tool: its name, what it does, its argument schema."""

    name: str
    description: str
    parameters: dict[str, Any]

    @classmethod
    def of(cls, tool: Any) -> ToolSpec:
        """From anything with `name`, `description` and `parameters` (an agentsmall Tool)."""
        if isinstance(tool, ToolSpec):
            return tool
        return cls(tool.name, tool.description or "", dict(tool.parameters))

    def as_function(self) -> dict[str, Any]:
        """The OpenAI-style function definition most chat templates expect in `tools`."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }


FINAL_ANSWER_TOOL = ToolSpec(
    FINAL_ANSWER, "Give the answer to the user and stop.", FINAL_ANSWER_ARGUMENTS
)


@dataclass(frozen=True)
class ToolResult:
    """The outcome of one call, as text for the model (a result or an error message)."""

    name: str
    content: str


@dataclass(frozen=True)
class NativePrompt:
    """Messages and template variables for `template.render(messages=..., **template_kwargs)`."""

    messages: list[NativeMessage]
    template_kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StepConstraint:
    """The constraint of one step in the native shape.

    `prefill` is appended to the rendered prompt (tokenized with special tokens) before
    generation; the generated text must then match `regex`; the assistant turn to keep in the
    history is `prefill + generated + suffix` (the suffix closes a call with a control token
    the constraint itself cannot produce).
    """

    regex: str
    prefill: str = ""
    suffix: str = ""


@dataclass(frozen=True)
class ParsedStep:
    """Native text read back: tool calls, or a final answer, and the thinking before them."""

    calls: tuple[tuple[str, dict[str, Any]], ...] = ()
    final_answer: str | None = None
    thinking: str | None = None


class FormatParseError(DecodingError):
    """Text that claims to hold a native tool call but cannot be read as one."""


_THINK_OPEN = "<think>"
_THINK_CLOSE = "</think>"


def split_thinking(text: str) -> tuple[str | None, str]:
    """Split `<think>...</think>` off the front of `text`: (thinking or None, the rest).

    Also handles text whose `<think>` was in the prompt (templates that open the block for the
    model, as DeepSeek-R1 distills do): a `</think>` with no opening tag ends the thinking. A
    block that never closes (cut off by the token limit) is all thinking, with no answer.
    """
    stripped = text.lstrip()
    close = stripped.find(_THINK_CLOSE)
    if stripped.startswith(_THINK_OPEN):
        if close < 0:
            return stripped[len(_THINK_OPEN) :].strip(), ""
        thinking = stripped[len(_THINK_OPEN) : close]
    elif close >= 0 and _THINK_OPEN not in stripped[:close]:
        thinking = stripped[:close]
    else:
        return None, text
    return thinking.strip(), stripped[close + len(_THINK_CLOSE) :].lstrip()


# -- regex helpers -----------------------------------------------------------------------------


def json_regex(schema: dict[str, Any]) -> str:
    """The outlines-core regular expression of a JSON schema (integers and numbers bounded,
    as in the JSON planner's constraint: `agentsmall.decoding.json_schema_regex`)."""
    try:
        regex = build_regex_from_schema(json.dumps(bound_integers(schema)), WHITESPACE)
    except Exception as exc:  # outlines-core raises plain ValueError/RuntimeError
        raise DecodingError(f"cannot turn this JSON schema into a constraint: {exc}") from exc
    return regex.replace(NUMBER, BOUNDED_NUMBER)


def _alternatives(parts: Sequence[str]) -> str:
    return parts[0] if len(parts) == 1 else "(" + "|".join(f"({p})" for p in parts) + ")"


def _repeat(item: str, separator: str, max_items: int) -> str:
    """`item` one to `max_items` times, separated by `separator`."""
    if max_items <= 1:
        return f"({item})"
    return f"({item})({separator}({item})){{0,{max_items - 1}}}"


def ordered_subset(items: Sequence[tuple[str, bool]], separator: str) -> str:
    """Items in order, each (regex, required): required ones always, optional ones maybe,
    separated by `separator`. Quadratic in the number of items, not exponential."""

    def rest(i: int, started: bool) -> str:
        if i == len(items):
            return ""
        regex, required = items[i]
        lead = separator if started else ""
        if required:
            return f"{lead}({regex}){rest(i + 1, True)}"
        if started:
            return f"({separator}({regex}))?{rest(i + 1, True)}"
        return f"(({regex}){rest(i + 1, True)}|{rest(i + 1, False)})"

    return rest(0, False)


def _schema_properties(parameters: Mapping[str, Any]) -> list[tuple[str, dict[str, Any], bool]]:
    required = set(parameters.get("required", ()))
    return [
        (name, dict(schema), name in required)
        for name, schema in dict(parameters.get("properties", {})).items()
    ]


def _tools_with_final(tools: Sequence[Any], final_answer: bool) -> list[ToolSpec]:
    specs = [ToolSpec.of(t) for t in tools]
    if any(t.name == FINAL_ANSWER for t in specs):
        raise ValueError(f"{FINAL_ANSWER!r} is reserved for the final answer")
    return [*specs, FINAL_ANSWER_TOOL] if final_answer else specs


def _split_calls(calls: Sequence[tuple[str, dict[str, Any]]], thinking: str | None) -> ParsedStep:
    finals = [args for name, args in calls if name == FINAL_ANSWER]
    if finals:
        if len(calls) > 1:
            raise FormatParseError("final_answer must be the only call of its step")
        answer = finals[0].get("answer")
        if not isinstance(answer, str):
            raise FormatParseError("final_answer needs a string argument 'answer'")
        return ParsedStep(final_answer=answer, thinking=thinking)
    return ParsedStep(calls=tuple(calls), thinking=thinking)


def _loads_object(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise FormatParseError(f"{what} is not valid JSON ({exc.msg}): {text[:200]!r}") from exc


def _call_from_object(obj: Any, name_key: str, args_key: str) -> tuple[str, dict[str, Any]]:
    if not isinstance(obj, dict) or not isinstance(obj.get(name_key), str):
        raise FormatParseError(f"a tool call needs a string {name_key!r}: {obj!r}")
    arguments = obj.get(args_key, {})
    if isinstance(arguments, str):  # some templates serialize arguments as a JSON string
        arguments = _loads_object(arguments, "the arguments")
    if not isinstance(arguments, dict):
        raise FormatParseError(f"the arguments of {obj[name_key]} are not an object")
    return obj[name_key], arguments


# -- the format interface --------------------------------------------------------------------


class ToolCallFormat(abc.ABC):
    """One family's native tool-call format. Stateless: one instance serves every agent."""

    id: ClassVar[str]
    system_role: ClassVar[bool] = True
    """False when the chat template has no system role (its text joins the first user turn)."""
    tool_result_role: ClassVar[str] = "tool"
    """The role of a message carrying tool results, as the template knows it."""
    thinking_switch: ClassVar[bool] = False
    """True when `prompt(thinking=...)` can turn thinking on and off."""
    max_calls_per_step: ClassVar[int | None] = None
    """The most calls the family writes in one turn (None: as many as the agent allows)."""
    max_constrained_calls: ClassVar[int | None] = None
    """The most calls one constrained step can hold. Families whose calls are self-contained
    blocks (`<tool_call>...</tool_call>` repeated) get 1: an outlines-core index allows only
    the end of generation once the text so far is a complete match, so "one block" can never
    go on to "two blocks". `parse` still reads several blocks from unconstrained text."""

    # (a) prompt and messages

    def prompt(
        self,
        *,
        system: str,
        tools: Sequence[Any],
        turns: Sequence[Mapping[str, Any]],
        thinking: bool | None = None,
        final_answer: bool = True,
    ) -> NativePrompt:
        """Messages and template variables for a conversation.

        `turns` are neutral: role "user" or "assistant" with `content` (an assistant turn holds
        the native text the model wrote, or `render_calls` of its calls), or role "tool" with
        `name` and `content` (consecutive tool turns are the results of one step).
        `thinking=None` leaves the template's default.
        """
        if thinking is not None and not self.thinking_switch:
            raise ValueError(f"the {self.id} format has no thinking switch")
        specs = _tools_with_final(tools, final_answer)
        messages: list[NativeMessage] = []
        pending: list[ToolResult] = []
        for turn in turns:
            if turn["role"] == "tool":
                pending.append(ToolResult(turn.get("name", ""), str(turn["content"])))
                continue
            if pending:
                messages.extend(self.tool_results(pending))
                pending = []
            if turn["role"] not in ("user", "assistant"):
                raise ValueError(f"a turn's role must be user, assistant or tool: {turn['role']!r}")
            messages.append({"role": turn["role"], "content": str(turn["content"])})
        if pending:
            messages.extend(self.tool_results(pending))
        return self._prompt(system, specs, messages, thinking)

    @abc.abstractmethod
    def _prompt(
        self,
        system: str,
        tools: list[ToolSpec],
        messages: list[NativeMessage],
        thinking: bool | None,
    ) -> NativePrompt: ...

    def tool_results(self, results: Sequence[ToolResult]) -> list[NativeMessage]:
        """The messages that carry one step's tool results."""
        return [{"role": self.tool_result_role, "content": r.content} for r in results]

    @abc.abstractmethod
    def render_calls(self, calls: Sequence[tuple[str, Mapping[str, Any]]]) -> str:
        """The native assistant text of these calls (for a history the model did not write)."""

    # (b) the constraint

    @abc.abstractmethod
    def constraint(
        self, tools: Sequence[Any], *, max_calls: int = 4, final_answer: bool = True
    ) -> StepConstraint:
        """The constraint of one step: up to `max_calls` calls, or a lone final_answer call."""

    def _calls_or_final(
        self, call_regex: list[str], final_regex: str | None, separator: str, max_calls: int
    ) -> str:
        if max_calls < 1:
            raise ValueError("max_calls must be at least 1")
        for limit in (self.max_calls_per_step, self.max_constrained_calls):
            if limit is not None:
                max_calls = min(max_calls, limit)
        options = []
        if call_regex:
            options.append(_repeat(_alternatives(call_regex), separator, max_calls))
        if final_regex is not None:
            options.append(final_regex)
        if not options:
            raise ValueError("a step needs at least one tool or the final answer")
        return _alternatives(options)

    # (c) parsing

    def parse(self, text: str, tools: Sequence[Any] = ()) -> ParsedStep:
        """Read a step's text (thinking included or not, prefill included or not).

        Text with no native call at all is a plain-text final answer: what a model writes when
        it was not constrained and chose to answer.
        """
        thinking, rest = split_thinking(text)
        calls = self._parse_calls(rest.strip(), [ToolSpec.of(t) for t in tools])
        if calls is None:
            return ParsedStep(final_answer=rest.strip(), thinking=thinking)
        return _split_calls(calls, thinking)

    @abc.abstractmethod
    def _parse_calls(
        self, text: str, tools: list[ToolSpec]
    ) -> list[tuple[str, dict[str, Any]]] | None:
        """The calls in `text`, or None when it holds no call at all."""


# -- JSON-object families ---------------------------------------------------------------------


def _call_schema(tool: ToolSpec, name_key: str, args_key: str) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {name_key: {"const": tool.name}, args_key: tool.parameters},
        "required": [name_key, args_key],
        "additionalProperties": False,
    }


class _JsonCallsMixin:
    name_key: ClassVar[str] = "name"
    args_key: ClassVar[str] = "arguments"

    def _call_regexes(
        self, tools: Sequence[Any], final_answer: bool
    ) -> tuple[list[str], str | None]:
        specs = [ToolSpec.of(t) for t in tools]
        calls = [json_regex(_call_schema(t, self.name_key, self.args_key)) for t in specs]
        final = (
            json_regex(_call_schema(FINAL_ANSWER_TOOL, self.name_key, self.args_key))
            if final_answer
            else None
        )
        return calls, final

    def _dump_call(self, name: str, arguments: Mapping[str, Any]) -> str:
        return json.dumps({self.name_key: name, self.args_key: dict(arguments)}, ensure_ascii=False)


class HermesFormat(_JsonCallsMixin, ToolCallFormat):
    """`<tool_call>\\n{"name": ..., "arguments": {...}}\\n</tool_call>`, one block per call
    (Qwen3, and SmolLM3, which took the same shape). Results come back wrapped in
    `<tool_response>` tags in a user turn (Qwen3's template does the wrapping itself)."""

    id = "qwen3"
    thinking_switch = True
    max_constrained_calls = 1
    _call_block = re.compile(r"<tool_call>\s*(.*?)\s*</tool_call>", re.DOTALL)

    def _prompt(self, system, tools, messages, thinking):  # type: ignore[no-untyped-def]
        kwargs: dict[str, Any] = {"tools": [t.as_function() for t in tools]}
        if thinking is not None:
            kwargs["enable_thinking"] = thinking
        return NativePrompt([{"role": "system", "content": system}, *messages], kwargs)

    def render_calls(self, calls: Sequence[tuple[str, Mapping[str, Any]]]) -> str:
        return "\n".join(f"<tool_call>\n{self._dump_call(n, a)}\n</tool_call>" for n, a in calls)

    def constraint(
        self, tools: Sequence[Any], *, max_calls: int = 4, final_answer: bool = True
    ) -> StepConstraint:
        calls, final = self._call_regexes(tools, final_answer)

        def block(r: str) -> str:
            return f"<tool_call>\\n{r}\\n</tool_call>"

        return StepConstraint(
            self._calls_or_final(
                [block(r) for r in calls], block(final) if final else None, "\\n", max_calls
            )
        )

    def _parse_calls(self, text, tools):  # type: ignore[no-untyped-def]
        blocks = self._call_block.findall(text)
        if not blocks:
            if "<tool_call>" in text:
                raise FormatParseError(f"an unclosed <tool_call> block: {text[:200]!r}")
            return None
        return [
            _call_from_object(_loads_object(b, "a <tool_call> block"), "name", "arguments")
            for b in blocks
        ]


class SmolLM3Format(HermesFormat):
    """SmolLM3: tools go in the template's `xml_tools` variable, calls are Hermes-style
    `<tool_call>` blocks, and thinking is switched by `/think` or `/no_think` in the system
    turn (and the `enable_thinking` flag of newer templates). Tool results go back as a user
    turn of `<tool_response>` blocks."""

    id = "smollm3"
    tool_result_role = "user"

    def _prompt(self, system, tools, messages, thinking):  # type: ignore[no-untyped-def]
        kwargs: dict[str, Any] = {"xml_tools": [t.as_function() for t in tools]}
        if thinking is not None:
            kwargs["enable_thinking"] = thinking
            system = f"{system}\n{'/think' if thinking else '/no_think'}".strip()
        return NativePrompt([{"role": "system", "content": system}, *messages], kwargs)

    def tool_results(self, results: Sequence[ToolResult]) -> list[NativeMessage]:
        body = "\n".join(f"<tool_response>\n{r.content}\n</tool_response>" for r in results)
        return [{"role": "user", "content": body}]


class Llama32Format(_JsonCallsMixin, ToolCallFormat):
    """Llama 3.2: the template puts the tools (its `tools` variable) into the first user turn
    and asks for `{"name": ..., "parameters": {...}}`; one call per turn; results come back in
    the `ipython` role."""

    id = "llama3.2"
    tool_result_role = "ipython"
    max_calls_per_step = 1
    args_key = "parameters"

    def _prompt(self, system, tools, messages, thinking):  # type: ignore[no-untyped-def]
        kwargs = {"tools": [t.as_function() for t in tools]}
        return NativePrompt([{"role": "system", "content": system}, *messages], kwargs)

    def render_calls(self, calls: Sequence[tuple[str, Mapping[str, Any]]]) -> str:
        if len(calls) != 1:
            raise ValueError("Llama 3.2 writes exactly one call per turn")
        return self._dump_call(*calls[0])

    def constraint(
        self, tools: Sequence[Any], *, max_calls: int = 4, final_answer: bool = True
    ) -> StepConstraint:
        calls, final = self._call_regexes(tools, final_answer)
        return StepConstraint(self._calls_or_final(calls, final, "", 1))

    def _parse_calls(self, text, tools):  # type: ignore[no-untyped-def]
        text = text.removeprefix("<|python_tag|>").strip()
        if not text.startswith("{"):
            return None
        obj = _loads_object(text, "the tool call")
        return [
            _call_from_object(obj, "name", "parameters" if "parameters" in obj else "arguments")
        ]


class Phi4MiniFormat(_JsonCallsMixin, ToolCallFormat):
    """Phi-4-mini: the tool list is a JSON string in the system turn's `tools` field (the
    template writes it between `<|tool|>` and `<|/tool|>`); calls are a JSON list between
    `<|tool_call|>` and `<|/tool_call|>`, which are control tokens: the opening one is forced
    as prefill and the closing one appended as suffix. Results go back in the `tool` role."""

    id = "phi4-mini"
    open_marker = "<|tool_call|>"
    close_marker = "<|/tool_call|>"

    def _prompt(self, system, tools, messages, thinking):  # type: ignore[no-untyped-def]
        listing = json.dumps(
            [
                {"name": t.name, "description": t.description, "parameters": t.parameters}
                for t in tools
            ],
            ensure_ascii=False,
        )
        return NativePrompt([{"role": "system", "content": system, "tools": listing}, *messages])

    def render_calls(self, calls: Sequence[tuple[str, Mapping[str, Any]]]) -> str:
        body = ", ".join(self._dump_call(n, a) for n, a in calls)
        return f"{self.open_marker}[{body}]{self.close_marker}"

    def constraint(
        self, tools: Sequence[Any], *, max_calls: int = 4, final_answer: bool = True
    ) -> StepConstraint:
        calls, final = self._call_regexes(tools, final_answer)
        sep = f",{WHITESPACE}"
        options = []
        if calls:
            options.append(f"\\[{_repeat(_alternatives(calls), sep, max_calls)}\\]")
        if final:
            options.append(f"\\[{final}\\]")
        if not options:
            raise ValueError("a step needs at least one tool or the final answer")
        return StepConstraint(_alternatives(options), self.open_marker, self.close_marker)

    def _parse_calls(self, text, tools):  # type: ignore[no-untyped-def]
        had_marker = text.startswith(self.open_marker)
        text = text.removeprefix(self.open_marker).removesuffix(self.close_marker).strip()
        if not had_marker and not text.startswith("["):
            return None
        items = _loads_object(text, "the <|tool_call|> list")
        if not isinstance(items, list):
            items = [items]
        return [_call_from_object(item, "name", "arguments") for item in items]


class GenericFormat(_JsonCallsMixin, ToolCallFormat):
    """agentsmall's own shape, for models with no native tool format (SmolLM2, base models,
    DeepSeek-R1 distills): `[{"tool": ..., "arguments": {...}}]`, tools described in the
    system text, results as user turns."""

    id = "generic"
    tool_result_role = "user"
    name_key = "tool"

    def _prompt(self, system, tools, messages, thinking):  # type: ignore[no-untyped-def]
        lines = [
            system,
            "",
            "Reply with a JSON list of tool calls, tool name first:",
            '[{"tool": "<tool name>", "arguments": {"<argument>": <value>}}]',
            "Tools (JSON schema of the arguments):",
        ]
        for t in tools:
            lines.append(f"- {t.name}: {t.description} {json.dumps(t.parameters)}")
        return NativePrompt([{"role": "system", "content": "\n".join(lines).strip()}, *messages])

    def tool_results(self, results: Sequence[ToolResult]) -> list[NativeMessage]:
        # A result with no name already says which tool it came from (the agent's observations)
        body = "\n".join(
            f"{r.name} returned: {r.content}" if r.name else r.content for r in results
        )
        return [{"role": "user", "content": body}]

    def render_calls(self, calls: Sequence[tuple[str, Mapping[str, Any]]]) -> str:
        return "[" + ", ".join(self._dump_call(n, a) for n, a in calls) + "]"

    def constraint(
        self, tools: Sequence[Any], *, max_calls: int = 4, final_answer: bool = True
    ) -> StepConstraint:
        calls, final = self._call_regexes(tools, final_answer)
        sep = f"{WHITESPACE},{WHITESPACE}"
        options = []
        if calls:
            options.append(
                f"\\[{WHITESPACE}{_repeat(_alternatives(calls), sep, max_calls)}{WHITESPACE}\\]"
            )
        if final:
            options.append(f"\\[{WHITESPACE}{final}{WHITESPACE}\\]")
        if not options:
            raise ValueError("a step needs at least one tool or the final answer")
        return StepConstraint(_alternatives(options))

    def _parse_calls(self, text, tools):  # type: ignore[no-untyped-def]
        if not text.startswith("["):
            return None
        items = _loads_object(text, "the list of calls")
        if not isinstance(items, list):
            raise FormatParseError("the calls must be a JSON list")
        return [_call_from_object(item, "tool", "arguments") for item in items]


# -- non-JSON families -----------------------------------------------------------------------


class Qwen35Format(ToolCallFormat):
    """Qwen3.5: the Qwen3-Coder XML shape, one block per call,

        <tool_call>
        <function=NAME>
        <parameter=ARG>
        VALUE
        </parameter>
        </function>
        </tool_call>

    where a string VALUE is written raw and any other value as JSON. Tools go in the template's
    `tools` variable, results in the `tool` role (wrapped by the template), thinking is the
    template's `enable_thinking` flag (no /think tags)."""

    id = "qwen3.5"
    thinking_switch = True
    max_constrained_calls = 1
    _block = re.compile(
        r"<tool_call>\s*<function=([^>\n]+)>\n?(.*?)</function>\s*</tool_call>", re.S
    )
    _param = re.compile(r"<parameter=([^>\n]+)>\n?(.*?)\n?</parameter>", re.S)
    RAW_TEXT = r"([^<]|<[^/])*"
    """A raw string value: anything without `</` (which would end the parameter early)."""

    def _prompt(self, system, tools, messages, thinking):  # type: ignore[no-untyped-def]
        kwargs: dict[str, Any] = {"tools": [t.as_function() for t in tools]}
        if thinking is not None:
            kwargs["enable_thinking"] = thinking
        return NativePrompt([{"role": "system", "content": system}, *messages], kwargs)

    @staticmethod
    def _value_text(value: Any) -> str:
        return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)

    def render_calls(self, calls: Sequence[tuple[str, Mapping[str, Any]]]) -> str:
        blocks = []
        for name, arguments in calls:
            params = "".join(
                f"<parameter={k}>\n{self._value_text(v)}\n</parameter>\n"
                for k, v in arguments.items()
            )
            blocks.append(f"<tool_call>\n<function={name}>\n{params}</function>\n</tool_call>")
        return "\n".join(blocks)

    def _value_regex(self, schema: dict[str, Any]) -> str:
        if schema.get("type") == "string" and "enum" not in schema and "const" not in schema:
            return self.RAW_TEXT
        values = schema.get("enum", [schema["const"]] if "const" in schema else None)
        if values is not None and all(isinstance(v, str) for v in values):
            return _alternatives([re.escape(v) for v in values])
        return json_regex(schema)

    def _call_regex(self, tool: ToolSpec) -> str:
        params = [
            (f"<parameter={re.escape(name)}>\\n{self._value_regex(schema)}\\n</parameter>\\n", req)
            for name, schema, req in _schema_properties(tool.parameters)
        ]
        return (
            f"<tool_call>\\n<function={re.escape(tool.name)}>\\n"
            f"{ordered_subset(params, '')}</function>\\n</tool_call>"
        )

    def constraint(
        self, tools: Sequence[Any], *, max_calls: int = 4, final_answer: bool = True
    ) -> StepConstraint:
        calls = [self._call_regex(ToolSpec.of(t)) for t in tools]
        final = self._call_regex(FINAL_ANSWER_TOOL) if final_answer else None
        return StepConstraint(self._calls_or_final(calls, final, "\\n", max_calls))

    def _parse_calls(self, text, tools):  # type: ignore[no-untyped-def]
        blocks = self._block.findall(text)
        if not blocks:
            if "<tool_call>" in text:
                raise FormatParseError(f"an unreadable <tool_call> block: {text[:200]!r}")
            return None
        schemas = {t.name: t.parameters for t in [*tools, FINAL_ANSWER_TOOL]}
        calls = []
        for name, body in blocks:
            name = name.strip()
            properties = schemas.get(name, {}).get("properties", {})
            arguments: dict[str, Any] = {}
            for key, raw in self._param.findall(body):
                key = key.strip()
                if properties.get(key, {}).get("type") == "string":
                    arguments[key] = raw
                else:
                    try:
                        arguments[key] = json.loads(raw)
                    except json.JSONDecodeError:
                        arguments[key] = raw  # the validator of the tool says what is wrong
            calls.append((name, arguments))
        return calls


class _PythonLiterals(ast.NodeTransformer):
    """Read JSON's true/false/null as Python's True/False/None inside a call."""

    NAMES: ClassVar[dict[str, Any]] = {"true": True, "false": False, "null": None}

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id in self.NAMES:
            return ast.copy_location(ast.Constant(self.NAMES[node.id]), node)
        return node


class Gemma3Format(ToolCallFormat):
    """Gemma 3 (and 3n): no system role (the system text opens the first user turn), no tool
    role (results are a user turn in a ```tool_output block), roles strictly alternate. No
    native tool tokens: Google's function-calling guide has the model write a Python-style
    list of calls, `[name(a=1, b="x")]`, which is what the constraint asks for."""

    id = "gemma3"
    system_role = False
    tool_result_role = "user"

    def _prompt(self, system, tools, messages, thinking):  # type: ignore[no-untyped-def]
        docs = "\n".join(json.dumps(t.as_function(), ensure_ascii=False) for t in tools)
        preamble = (
            f"{system}\n\nYou have access to functions. To call functions, reply only with a"
            " list in the format [func_name1(param_name1=value1, param_name2=value2),"
            " func_name2(param=value)] and nothing else. To give the final answer, call"
            f' final_answer(answer="...").\n\n{docs}'
        ).strip()
        merged = self._alternate(messages)
        if merged and merged[0]["role"] == "user":
            merged[0] = {"role": "user", "content": f"{preamble}\n\n{merged[0]['content']}"}
        else:
            merged.insert(0, {"role": "user", "content": preamble})
        return NativePrompt(merged)

    @staticmethod
    def _alternate(messages: list[NativeMessage]) -> list[NativeMessage]:
        """Merge consecutive turns of the same role: the template raises on two in a row."""
        merged: list[NativeMessage] = []
        for m in messages:
            if merged and merged[-1]["role"] == m["role"]:
                merged[-1] = {
                    "role": m["role"],
                    "content": f"{merged[-1]['content']}\n\n{m['content']}",
                }
            else:
                merged.append(dict(m))
        return merged

    def tool_results(self, results: Sequence[ToolResult]) -> list[NativeMessage]:
        body = "\n".join(f"{r.name}: {r.content}" if r.name else r.content for r in results)
        return [{"role": "user", "content": f"```tool_output\n{body}\n```"}]

    @staticmethod
    def _literal(value: Any) -> str:
        if isinstance(value, bool) or value is None:
            return repr(value)
        return json.dumps(value, ensure_ascii=False)

    def render_calls(self, calls: Sequence[tuple[str, Mapping[str, Any]]]) -> str:
        rendered = [
            f"{name}(" + ", ".join(f"{k}={self._literal(v)}" for k, v in args.items()) + ")"
            for name, args in calls
        ]
        return "[" + ", ".join(rendered) + "]"

    def _value_regex(self, schema: dict[str, Any]) -> str:
        if schema.get("type") == "boolean":
            return "(True|False)"
        return json_regex(schema)

    def _call_regex(self, tool: ToolSpec) -> str:
        params = [
            (f"{re.escape(name)}={self._value_regex(schema)}", req)
            for name, schema, req in _schema_properties(tool.parameters)
        ]
        return f"{re.escape(tool.name)}\\({ordered_subset(params, ', ')}\\)"

    def constraint(
        self, tools: Sequence[Any], *, max_calls: int = 4, final_answer: bool = True
    ) -> StepConstraint:
        calls = [self._call_regex(ToolSpec.of(t)) for t in tools]
        options = []
        if calls:
            options.append(f"\\[{_repeat(_alternatives(calls), ', ', max_calls)}\\]")
        if final_answer:
            options.append(f"\\[{self._call_regex(FINAL_ANSWER_TOOL)}\\]")
        if not options:
            raise ValueError("a step needs at least one tool or the final answer")
        return StepConstraint(_alternatives(options))

    def _parse_calls(self, text, tools):  # type: ignore[no-untyped-def]
        text = text.strip()
        if text.startswith("```"):  # ```tool_code fences, which Gemma also writes
            text = text.split("\n", 1)[-1].rsplit("```", 1)[0].strip()
        if not (text.startswith("[") and text.endswith("]")):
            return None
        try:
            tree = ast.parse(text, mode="eval")
        except SyntaxError as exc:
            raise FormatParseError(f"not a list of Python-style calls: {text[:200]!r}") from exc
        if not isinstance(tree.body, ast.List):
            raise FormatParseError("the calls must be a list")
        calls = []
        for node in tree.body.elts:
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)) or node.args:
                raise FormatParseError(f"not a call with keyword arguments: {ast.unparse(node)}")
            arguments = {}
            for kw in node.keywords:
                if kw.arg is None:
                    raise FormatParseError("**kwargs is not allowed in a call")
                try:
                    arguments[kw.arg] = ast.literal_eval(_PythonLiterals().visit(kw.value))
                except ValueError as exc:
                    raise FormatParseError(
                        f"argument {kw.arg} of {node.func.id} is not a literal"
                    ) from exc
            calls.append((node.func.id, arguments))
        return calls


FORMATS: dict[str, ToolCallFormat] = {
    f.id: f
    for f in (
        Llama32Format(),
        SmolLM3Format(),
        Phi4MiniFormat(),
        HermesFormat(),
        Qwen35Format(),
        Gemma3Format(),
        GenericFormat(),
    )
}


def get_format(format_id: str) -> ToolCallFormat:
    """The format object with this id (a preset's `tool_format`)."""
    try:
        return FORMATS[format_id]
    except KeyError:
        raise ValueError(
            f"unknown tool-call format {format_id!r}: known are {', '.join(FORMATS)}"
        ) from None


def render_prompt(
    template_source: str,
    prompt: NativePrompt,
    *,
    bos_token: str = "",
    eos_token: str = "",
    add_generation_prompt: bool = True,
) -> str:
    """Render a native prompt with a chat template the way `ChatTemplate` does (same sandboxed
    environment), passing the format's template variables (`tools`, `enable_thinking`, ...)."""
    from agentsmall.models._chat import _environment

    template = _environment().from_string(template_source)
    return template.render(
        messages=prompt.messages,
        add_generation_prompt=add_generation_prompt,
        bos_token=bos_token,
        eos_token=eos_token,
        **prompt.template_kwargs,
    )
