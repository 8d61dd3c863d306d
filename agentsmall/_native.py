"""Native tool-call formats in the agent loop: the planner speaks its model family's own format.

`Agent(tool_format=...)` picks how a planner step is written:

* ``"json"``: agentsmall's JSON action list (`_actions`), one JSON-schema constraint, the
  planner prompt of `prompts/planner_system.jinja`. The path every figure in
  docs/BENCHMARKS.md was measured on.
* a family id (``"qwen3"``, ``"llama3.2"``, ``"gemma3"``, ... see `models._formats.FORMATS`):
  the tools are listed the family's way (the chat template's ``tools`` variable, a system-turn
  field, or text), a step is decoded under the family's native regex, and tool results go
  back in the family's role (``ipython``, ``tool``, a user turn).
* ``"auto"`` (the default): the family of the model's preset, or else the one its GGUF chat
  template reveals; a model whose family is ``generic`` and that does not think (the two
  embedded models, any unrecognised model, the scripted test model) gets ``"json"``, which
  is the same shape on the measured path.

Whatever the format, what the model wrote is parsed by the format and then validated by the
*same* `ActionSpace` as a JSON step (jsonschema and the tools' pydantic models): a native call
becomes our validated call or the step fails, exactly as on the JSON path.

The history stays format-neutral: memory keeps the validated JSON action of every step and the
observation text, so sessions resume and continue whatever format wrote them; each prompt is
rebuilt from it, calls re-rendered natively. That is also why thinking never reaches a later
prompt: only the validated action is kept in the history, the thinking goes to its own column.

Thinking (a thinking model, thinking on): the step is two generations. The thinking is free
text (never constrained: constraints hurt reasoning), bounded by `max_thinking_tokens` and
ended at ``</think>``; then, with the thinking as the start of the same assistant turn, the
answer is decoded under the native constraint.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, cast

from agentsmall._actions import FINAL_ANSWER, ActionSpace, StepAction
from agentsmall._tool import Tool
from agentsmall.errors import ConfigError
from agentsmall.memory._compaction import Turn, fit
from agentsmall.models import (
    FORMATS,
    PRESETS,
    ChatMessage,
    Generation,
    Model,
    NativePrompt,
    RegexConstraint,
    ToolCallFormat,
    get_format,
)
from agentsmall.models._base import TextCallback
from agentsmall.models._formats import FINAL_ANSWER_TOOL, ToolSpec
from agentsmall.models._presets import Preset

JSON = "json"
AUTO = "auto"
TOOL_FORMATS: tuple[str, ...] = (AUTO, JSON, *FORMATS)
"""What `Agent(tool_format=...)` and `--tool-format` accept."""

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"

_TEMPLATE_MARKERS: tuple[tuple[str, str], ...] = (
    ("<function=", "qwen3.5"),  # Qwen3-Coder XML calls (its template also has <tool_call>)
    ("xml_tools", "smollm3"),  # SmolLM3's template variable (it also has <tool_call>)
    ("<tool_call>", "qwen3"),  # Hermes-style blocks: Qwen3, Qwen2.5, many fine-tunes
    ("<|tool_call|>", "phi4-mini"),
    ("<|tool|>", "phi4-mini"),
    ("<|python_tag|>", "llama3.2"),
    ("ipython", "llama3.2"),
    ("<start_of_turn>", "gemma3"),
)
"""Strings of a GGUF chat template that give its tool-call family away, most specific first."""


def model_preset(model: Model) -> Preset | None:
    """The preset the model was loaded from (its name is the preset's), if any."""
    entry = PRESETS.get(str(getattr(model, "name", "")).lower())
    return entry.preset if entry is not None else None


def template_source(model: Model) -> str | None:
    """The model's own chat template (None when it has none: a base model, a fake)."""
    template = getattr(model, "chat_template", None)
    if template is None or not getattr(model, "has_chat_template", False):
        return None
    return str(getattr(template, "source", "")) or None


def detect_family(model: Model) -> str:
    """The native family of a model: its preset's, else its chat template's, else generic."""
    preset = model_preset(model)
    if preset is not None:
        return preset.tool_format
    source = template_source(model) or ""
    for marker, family in _TEMPLATE_MARKERS:
        if marker in source:
            return family
    return "generic"


def default_thinking(model: Model) -> bool:
    """Whether the model thinks when the caller does not say: its preset's default."""
    preset = model_preset(model)
    if preset is None or preset.thinking == "none":
        return False
    return preset.thinking == "always" or preset.thinking_default


@dataclass(frozen=True)
class NativeGeneration(Generation):
    """A native step's generation: the step's text (prefill and suffix included, ready for
    the format's parser), counts summed over the thinking and the answer, and the thinking."""

    thinking: str | None = None


class NativePlanner:
    """One agent's native format: prompts, the constrained step (after thinking), parsing."""

    def __init__(
        self,
        fmt: ToolCallFormat,
        tools: Sequence[Tool],
        *,
        thinking: bool,
        max_thinking_tokens: int,
        max_calls: int,
        must_use_tool: bool,
    ) -> None:
        self.format = fmt
        self.tools = list(tools)
        self.thinking = thinking
        self.max_thinking_tokens = max_thinking_tokens
        self.step = fmt.constraint(self.tools, max_calls=max_calls)
        self.first_step = (
            fmt.constraint(self.tools, max_calls=max_calls, final_answer=False)
            if must_use_tool
            else self.step
        )
        self.constraint = RegexConstraint(self.step.regex)
        self.first_constraint = RegexConstraint(self.first_step.regex)

    @classmethod
    def choose(
        cls,
        model: Model,
        tool_format: str,
        tools: Sequence[Tool],
        *,
        thinking: bool | None,
        max_thinking_tokens: int,
        max_calls: int,
        must_use_tool: bool,
    ) -> NativePlanner | None:
        """The planner for `tool_format` on this model, or None for the JSON path."""
        if tool_format not in TOOL_FORMATS:
            raise ConfigError(f"unknown tool_format {tool_format!r}: use {', '.join(TOOL_FORMATS)}")
        if max_thinking_tokens < 1:
            raise ConfigError(f"max_thinking_tokens must be at least 1 (got {max_thinking_tokens})")
        family = detect_family(model) if tool_format == AUTO else tool_format
        think = default_thinking(model) if thinking is None else thinking
        if family == JSON or (tool_format == AUTO and family == "generic" and not think):
            if thinking:
                raise ConfigError(
                    "thinking=True needs a native tool format (the JSON planner does not think):"
                    " pass tool_format='auto' or a family name"
                )
            return None
        return cls(
            get_format(family),
            tools,
            thinking=think,
            max_thinking_tokens=max_thinking_tokens,
            max_calls=max_calls,
            must_use_tool=must_use_tool,
        )

    # -- prompts -------------------------------------------------------------------------------

    def prompt(
        self,
        model: Model,
        system: str,
        history: Sequence[Turn],
        *,
        budget: int,
        current_run: int,
        keep_recent: int,
    ) -> NativePrompt:
        """The native prompt of the next step, fitted to `budget` tokens like the JSON one.

        The fitting policy (`memory._compaction.fit`) runs on the converted history, counting
        the tokens of the prompt as the template renders it, tool listing included.
        """
        turns = self.native_turns(history)

        def build(messages: list[dict[str, str]]) -> NativePrompt:
            return self._render(model, messages[0]["content"], messages[1:])

        def count(messages: list[dict[str, str]]) -> int:
            native = build(messages)
            return model.count_prompt_tokens(
                cast(list[ChatMessage], native.messages), template_kwargs=native.template_kwargs
            )

        fitted, _ = fit(
            system,
            turns,
            count=count,
            budget=budget,
            current_run=current_run,
            keep_recent=keep_recent,
        )
        return build(fitted)

    def native_turns(self, history: Sequence[Turn]) -> list[Turn]:
        """The history with each recorded JSON action re-rendered as the family writes calls,
        and the observation that answers it turned into a tool result (role "tool", which the
        format maps to its own role). Other observations (an escalation before step 1) and
        notes stay user turns."""
        turns: list[Turn] = []
        previous: Turn | None = None
        for turn in history:
            if turn.kind == "action" and turn.role == "assistant":
                turns.append(replace(turn, content=self.render_action(turn.content)))
            elif (
                turn.kind == "observation"
                and previous is not None
                and previous.kind == "action"
                and (previous.run_id, previous.step) == (turn.run_id, turn.step)
            ):
                turns.append(replace(turn, role="tool"))
            else:
                turns.append(turn)
            previous = turn
        return turns

    def render_action(self, content: str) -> str:
        """A recorded action (`agent.action_text` JSON) as the family's native text."""
        try:
            items = json.loads(content)
            calls = [(str(i["tool"]), dict(i.get("arguments") or {})) for i in items]
            return self.format.render_calls(calls)
        except (ValueError, TypeError, KeyError, AttributeError):
            return content  # what another format wrote (Llama 3.2 renders one call a turn)

    def _render(self, model: Model, system: str, turns: Sequence[dict[str, str]]) -> NativePrompt:
        fmt = self.format
        native = fmt.prompt(
            system=system,
            tools=self.tools,
            turns=turns,
            thinking=self.thinking if fmt.thinking_switch else None,
        )
        source = template_source(model)
        if source is None:
            return native
        if "tools" not in source:
            native = self._tools_as_text(native)
        if "tool" not in source and "ipython" not in source:
            # A template with no tool role (plain ChatML) would print an unknown role header;
            # a user turn is what such a model understands, and the text names the tool.
            native = NativePrompt(
                [
                    {**m, "role": "user"} if m["role"] in ("tool", "ipython") else m
                    for m in native.messages
                ],
                native.template_kwargs,
            )
        return native

    def _tools_as_text(self, native: NativePrompt) -> NativePrompt:
        """The tools written into the system turn, for a chat template that ignores them.

        A family that passes its tools to the template (`tools`, `xml_tools`, Phi-4's system
        field) loses them with a template that never reads them (a ChatML model given the
        qwen3 format, say): the model would be asked to call tools it never saw.
        """
        kwargs = {
            k: v for k, v in native.template_kwargs.items() if k not in ("tools", "xml_tools")
        }
        messages = [dict(m) for m in native.messages]
        moved = len(kwargs) != len(native.template_kwargs)
        if messages and messages[0]["role"] == "system" and "tools" in messages[0]:
            del messages[0]["tools"]
            moved = True
        if not moved:
            return native
        specs = [ToolSpec.of(t) for t in self.tools] + [FINAL_ANSWER_TOOL]
        listing = "\n".join(json.dumps(s.as_function(), ensure_ascii=False) for s in specs)
        render = self.format.render_calls
        shape = render([("<function-name>", {"<argument>": "<value>"})])
        text = (
            "# Tools\n\nYou may call these functions (JSON schema of their arguments):\n"
            f"<tools>\n{listing}\n</tools>\n\nTo call one, reply with the call only, in this"
            f" format:\n{shape}\nWhen the results answer the task, call {FINAL_ANSWER} with"
            " the answer.\n\nExamples (with functions add(a, b) and get_population(city)):\n"
            "User: What is 3 plus 4?\n"
            f"You: {render([('add', {'a': 3, 'b': 4})])}\n"
            "User: add returned: 7\n"
            f"You: {render([(FINAL_ANSWER, {'answer': '7'})])}\n"
            "User: How many people live in Lyon?\n"
            f"You: {render([('get_population', {'city': 'Lyon'})])}\n"
            "User: get_population returned: 522250\n"
            f"You: {render([(FINAL_ANSWER, {'answer': '522250'})])}"
        )
        if messages and messages[0]["role"] == "system":
            messages[0]["content"] = f"{messages[0]['content']}\n\n{text}".strip()
        else:
            messages.insert(0, {"role": "system", "content": text})
        return NativePrompt(messages, kwargs)

    # -- one step --------------------------------------------------------------------------------

    def generate(
        self,
        model: Model,
        prompt: NativePrompt,
        *,
        first: bool,
        max_tokens: int,
        on_text: TextCallback | None = None,
    ) -> NativeGeneration:
        """Think (if on) freely, then decode the step under the native constraint."""
        step = self.first_step if first else self.step
        messages = cast(list[ChatMessage], prompt.messages)
        kwargs = prompt.template_kwargs
        parts: list[Generation] = []
        thinking, head = None, ""
        if self.thinking:
            # Open the block ourselves unless the template already did (Qwen3.5, R1 distills).
            lead = "" if _opens_thinking(model, messages, kwargs) else f"{THINK_OPEN}\n"
            thought = model.generate(
                messages,
                max_tokens=self.max_thinking_tokens,
                on_text=on_text,
                template_kwargs=kwargs,
                prefill=lead,
                stop=(THINK_CLOSE,),
            )
            parts.append(thought)
            text = thought.text.removeprefix(THINK_OPEN)
            thinking = text.strip()
            # Ended at </think>, by the end token, or by the budget: closed here in every case.
            head = f"{lead}{thought.text.rstrip()}\n{THINK_CLOSE}\n\n"
        answer = model.generate(
            messages,
            constraint=RegexConstraint(step.regex),
            max_tokens=max_tokens,
            on_text=on_text,
            template_kwargs=kwargs,
            prefill=head + step.prefill,
        )
        parts.append(answer)
        suffix = step.suffix if answer.finish_reason == "stop" else ""
        return NativeGeneration(
            text=step.prefill + answer.text + suffix,
            finish_reason=answer.finish_reason,
            prompt_tokens=answer.prompt_tokens,
            prompt_tokens_evaluated=sum(p.prompt_tokens_evaluated for p in parts),
            output_tokens=sum(p.output_tokens for p in parts),
            forced_tokens=sum(p.forced_tokens for p in parts),
            seconds=sum(p.seconds for p in parts),
            prompt_seconds=sum(p.prompt_seconds for p in parts),
            thinking=thinking,
        )

    def parse(self, space: ActionSpace, text: str) -> StepAction:
        """Native text → the validated action, through the same `ActionSpace.parse` as JSON.

        A text the format cannot read raises `FormatParseError` (a `DecodingError`), which
        the agent counts as an invalid constrained output, like a JSON step that fails.
        """
        parsed = self.format.parse(text, self.tools)
        if parsed.final_answer is not None:
            items: list[dict[str, Any]] = [
                {"tool": FINAL_ANSWER, "arguments": {"answer": parsed.final_answer}}
            ]
        else:
            items = [{"tool": name, "arguments": args} for name, args in parsed.calls]
        return space.parse(json.dumps(items, ensure_ascii=False))


def _opens_thinking(model: Model, messages: list[ChatMessage], kwargs: dict[str, Any]) -> bool:
    """Whether the rendered prompt already ends inside an open `<think>` block."""
    template = getattr(model, "chat_template", None)
    render: Callable[..., str] | None = getattr(template, "render", None)
    if template_source(model) is None or render is None:
        return False
    return render(messages, add_generation_prompt=True, **kwargs).rstrip().endswith(THINK_OPEN)
