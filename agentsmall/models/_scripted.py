"""A scripted fake model: replies from a list, for deterministic tests of the agent loop.

It goes through the same `Model` interface as a real backend, so everything the agent does
with a reply (validation included) is exercised; only the tokens are canned.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from agentsmall.models._base import (
    ChatMessage,
    Generation,
    JsonSchemaConstraint,
    Model,
    TextCallback,
)


class ScriptedModel(Model):
    """Returns the given replies in order. A reply may be a string or a JSON-able value.

    `finish_reason="length"` can be simulated with a `(text, "length")` tuple. Every call's
    messages are kept in `.calls` so tests can inspect the prompts the agent built.
    """

    def __init__(
        self, replies: Iterable[Any], *, name: str = "scripted", context_length: int = 8192
    ) -> None:
        self._replies = list(replies)
        self.name = name
        self.context_length = context_length
        self.calls: list[list[ChatMessage]] = []
        self.constraints: list[JsonSchemaConstraint | None] = []

    def generate(
        self,
        messages: Sequence[ChatMessage],
        *,
        constraint: JsonSchemaConstraint | None = None,
        max_tokens: int = 256,
        on_text: TextCallback | None = None,
    ) -> Generation:
        self.calls.append(list(messages))
        self.constraints.append(constraint)
        if not self._replies:
            raise AssertionError("ScriptedModel ran out of replies")
        reply = self._replies.pop(0)
        finish = "stop"
        if isinstance(reply, tuple):
            reply, finish = reply
        text = reply if isinstance(reply, str) else json.dumps(reply)
        if on_text is not None:
            on_text(text)
        prompt_tokens = self.count_prompt_tokens(messages)
        return Generation(
            text=text,
            finish_reason=finish,
            prompt_tokens=prompt_tokens,
            prompt_tokens_evaluated=prompt_tokens,
            output_tokens=max(1, len(text) // 4),
        )
