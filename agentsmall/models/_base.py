"""The model interface: the one line between the agent and whatever produces tokens.

Like an HTTP client's transport, a `Model` is all the agent loop knows about generation. The
in-process llama.cpp backend is the default; a scripted fake plugs in for deterministic tests.
The agent never trusts what a model returns: it validates every output itself.
"""

from __future__ import annotations

import abc
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypedDict


class ChatMessage(TypedDict):
    """One chat turn, in the shape every chat template expects."""

    role: str
    content: str


@dataclass(frozen=True)
class JsonSchemaConstraint:
    """Constrain the output to JSON that matches `schema`.

    It is a description, not a compiled object: each model compiles it against its own
    vocabulary (and caches the result), so the same constraint serves every backend.
    """

    schema: dict[str, Any]
    list_of_unique_items: bool = False
    """The output is a JSON list whose items must not repeat: once one does, the list closes."""


@dataclass(frozen=True)
class RegexConstraint:
    """Constrain the output to text that matches the regular expression `pattern`.

    What a native tool-call format asks for (`<tool_call>{...}</tool_call>`, `[f(a=1)]`, ...):
    shapes a JSON schema cannot describe. Like `JsonSchemaConstraint` it is only a description;
    the model compiles it (outlines-core regex syntax, which Python's `re` also reads).
    """

    pattern: str


Constraint = JsonSchemaConstraint | RegexConstraint


@dataclass(frozen=True)
class Generation:
    """What one call to `Model.generate` produced, with the counts benchmarks need."""

    text: str
    finish_reason: Literal["stop", "length"]
    prompt_tokens: int
    """Tokens in the whole prompt."""
    prompt_tokens_evaluated: int
    """Prompt tokens evaluated: fewer than `prompt_tokens` when a cached prefix is reused."""
    output_tokens: int
    forced_tokens: int = 0
    """Output tokens appended without sampling because the constraint allowed only one."""
    seconds: float = 0.0
    prompt_seconds: float = 0.0
    """The part of `seconds` spent evaluating the prompt; the rest is decoding."""
    stop_string: str | None = None
    """The stop string (see `Model.generate`) that ended the text, if one did."""


TextCallback = Callable[[str], None]


class Model(abc.ABC):
    """A text generator with a chat template and, optionally, constrained decoding."""

    name: str
    context_length: int

    @abc.abstractmethod
    def generate(
        self,
        messages: Sequence[ChatMessage],
        *,
        constraint: Constraint | None = None,
        max_tokens: int = 256,
        on_text: TextCallback | None = None,
        template_kwargs: Mapping[str, Any] | None = None,
        prefill: str = "",
        stop: Sequence[str] = (),
    ) -> Generation:
        """Continue the chat with one assistant turn.

        With a constraint the text is guaranteed (by construction, not by hope) to be a prefix of
        a string the constraint accepts; `finish_reason == "length"` means it was cut off.

        The last three serve native tool-call formats (`agentsmall.models._formats`):
        `template_kwargs` are extra variables for the chat template (`tools`,
        `enable_thinking`, ...); `prefill` is text the assistant turn already holds (a forced
        `<|tool_call|>`, or the thinking before a constrained answer), rendered with special
        tokens and not part of the returned text; `stop` ends an unconstrained generation at
        the first of these strings (excluded from the text; the finish reason is "stop").
        """

    def count_prompt_tokens(
        self, messages: Sequence[ChatMessage], *, template_kwargs: Mapping[str, Any] | None = None
    ) -> int:
        """Tokens the rendered prompt for `messages` takes; used to keep within the context."""
        extra = len(json.dumps(dict(template_kwargs), default=str)) if template_kwargs else 0
        return (sum(len(m["content"]) for m in messages) + extra) // 4

    can_score: bool = False
    """Whether `score` works: the tool relevance gate (`agentsmall._relevance`) needs it."""

    def score(self, contexts: Sequence[str], continuation: str) -> list[float]:
        """The log-probability (nats) of `continuation` after each of `contexts`.

        Plain text, no chat template: scoring compares how likely one text is after several
        others (a task after each tool's description), which needs no conversation.
        """
        raise NotImplementedError(f"model {self.name} cannot score texts")

    def close(self) -> None:  # noqa: B027 - optional hook, most models hold nothing to release
        """Release what the model holds (weights, KV cache)."""
