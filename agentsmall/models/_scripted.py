"""A scripted fake model: replies from a list, for deterministic tests of the agent loop.

It goes through the same `Model` interface as a real backend, so everything the agent does
with a reply (validation included) is exercised; only the tokens are canned.

A reply under a `RegexConstraint` is checked against it: a real model decoding under that
constraint could never write anything else, so a test whose script breaks the constraint is
a wrong test, not a model failure, and says so. Replies under a `JsonSchemaConstraint` are
not checked (tests feed invalid JSON on purpose, to exercise the validator behind it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from agentsmall.models._base import (
    ChatMessage,
    Constraint,
    Generation,
    Model,
    RegexConstraint,
    TextCallback,
)
from agentsmall.models._chat import ChatTemplate


class ScriptedModel(Model):
    """Returns the given replies in order. A reply may be a string or a JSON-able value.

    `finish_reason="length"` can be simulated with a `(text, "length")` tuple. Every call's
    messages are kept in `.calls` so tests can inspect the prompts the agent built; with a
    `chat_template` (Jinja source) each prompt is also rendered, template variables and
    prefill included, into `.prompts`, as a real model would see it.
    `check_regex=False` lets replies break a regex constraint (to test what happens then).
    `scorer(context, continuation) -> float` makes the model able to `score` texts (the tool
    gate needs that); every scoring request is kept in `.scored`.
    """

    def __init__(
        self,
        replies: Iterable[Any],
        *,
        name: str = "scripted",
        context_length: int = 8192,
        chat_template: str | None = None,
        check_regex: bool = True,
        scorer: Callable[[str, str], float] | None = None,
    ) -> None:
        self._replies = list(replies)
        self.name = name
        self.context_length = context_length
        self.chat_template = ChatTemplate(chat_template) if chat_template is not None else None
        self.has_chat_template = chat_template is not None
        self.check_regex = check_regex
        self.calls: list[list[ChatMessage]] = []
        self.constraints: list[Constraint | None] = []
        self.template_kwargs: list[dict[str, Any]] = []
        self.prefills: list[str] = []
        self.prompts: list[str] = []
        self._scorer = scorer
        self.can_score = scorer is not None
        self.scored: list[tuple[list[str], str]] = []

    def score(self, contexts: Sequence[str], continuation: str) -> list[float]:
        if self._scorer is None:
            return super().score(contexts, continuation)
        self.scored.append((list(contexts), continuation))
        return [self._scorer(context, continuation) for context in contexts]

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
        self.calls.append(list(messages))
        self.constraints.append(constraint)
        self.template_kwargs.append(dict(template_kwargs or {}))
        self.prefills.append(prefill)
        if self.chat_template is not None:
            rendered = self.chat_template.render(messages, **dict(template_kwargs or {}))
            self.prompts.append(rendered + prefill)
        if not self._replies:
            raise AssertionError("ScriptedModel ran out of replies")
        reply = self._replies.pop(0)
        finish = "stop"
        if isinstance(reply, tuple):
            reply, finish = reply
        text = reply if isinstance(reply, str) else json.dumps(reply)
        cuts = sorted((i, s) for s in stop if s and (i := text.find(s)) >= 0)
        stop_string = None
        if cuts:  # as a real model does: the text ends before the first stop string
            text, finish, stop_string = text[: cuts[0][0]], "stop", cuts[0][1]
        if (
            self.check_regex
            and isinstance(constraint, RegexConstraint)
            and finish == "stop"
            and re.fullmatch(constraint.pattern, text, re.DOTALL) is None
        ):
            raise AssertionError(
                f"scripted reply {text[:200]!r} does not match its regex constraint: a model"
                " decoding under it could not have written it"
            )
        if on_text is not None:
            on_text(text)
        # Subclasses in tests override count_prompt_tokens(messages) alone: pass only what is set.
        prompt_tokens = (
            self.count_prompt_tokens(messages, template_kwargs=template_kwargs)
            if template_kwargs
            else self.count_prompt_tokens(messages)
        )
        return Generation(
            text=text,
            finish_reason=finish,
            prompt_tokens=prompt_tokens,
            prompt_tokens_evaluated=prompt_tokens,
            output_tokens=max(1, len(text) // 4),
            stop_string=stop_string,
        )
