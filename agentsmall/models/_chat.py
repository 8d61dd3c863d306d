"""Rendering chat messages into a prompt with the model's own template.

Instruction-tuned GGUF files carry their Jinja chat template; we render it the way Hugging Face
does (sandboxed, `trim_blocks`, `lstrip_blocks`, `raise_exception`, `strftime_now`). A model
without a template (a base model such as Gemma 3 270M) gets a plain transcript format.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Sequence
from importlib import resources
from typing import Any

from jinja2 import TemplateError, meta
from jinja2.sandbox import ImmutableSandboxedEnvironment

from agentsmall.errors import ModelLoadError
from agentsmall.models._base import ChatMessage


def _raise_exception(message: str) -> None:
    raise TemplateError(message)


def _tojson(value: Any, indent: int | None = None, **_: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=indent)


def _environment() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.datetime.now().strftime(fmt)
    env.filters["tojson"] = _tojson
    return env


def fallback_template() -> str:
    """The transcript format used for models that ship no chat template (base models)."""
    return resources.files("agentsmall").joinpath("prompts/fallback_chat.jinja").read_text()


class ChatTemplate:
    """A compiled chat template plus the special-token strings it refers to."""

    def __init__(self, source: str, *, bos_token: str = "", eos_token: str = "") -> None:
        try:
            self._template = _environment().from_string(source)
        except TemplateError as exc:
            raise ModelLoadError(f"the model's chat template does not compile: {exc}") from exc
        self.source = source
        self.bos_token = bos_token
        self.eos_token = eos_token
        self.variables = frozenset(meta.find_undeclared_variables(_environment().parse(source)))
        """The variables the template reads (`messages`, `tools`, `enable_thinking`, ...): a
        native format checks here whether the template lists tools itself."""

    def render(
        self,
        messages: Sequence[ChatMessage],
        *,
        add_generation_prompt: bool = True,
        **template_kwargs: Any,
    ) -> str:
        """The prompt text. `template_kwargs` are the template variables a native tool-call
        format passes (`tools`, `xml_tools`, `enable_thinking`); a template ignores the ones
        it does not know."""
        return self._template.render(
            messages=list(messages),
            add_generation_prompt=add_generation_prompt,
            bos_token=self.bos_token,
            eos_token=self.eos_token,
            **template_kwargs,
        )
