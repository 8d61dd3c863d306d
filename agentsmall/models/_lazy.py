"""A model that is loaded on first use and can be unloaded: for the second model of an agent.

An agent with a reasoner holds two models; the reasoner is needed only when a sub-step is
escalated, which may be never. Loading it up front would cost its load time and its memory on
every run, so `LazyModel` resolves the name at once (a typo fails at configuration time, not in
the middle of a run) but reads the weights only when it is first asked to generate, and
`close()` gives the memory back while keeping the wrapper usable: the next generation loads
the model again.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from agentsmall.models._base import (
    ChatMessage,
    Constraint,
    Generation,
    Model,
    TextCallback,
)
from agentsmall.models._registry import resolve_model_path

DEFAULT_CONTEXT_LENGTH = 4096
"""The llama.cpp backend's default context; reported before loading unless one is given."""


class LazyModel(Model):
    """A preset name or GGUF path, loaded by the first `generate`, released by `close`.

    `options` go to the llama.cpp backend (`threads=`, `context_length=`, ...). `loads` counts
    how many times the weights were read, so tests and callers can see the laziness.
    """

    def __init__(self, name_or_path: str | os.PathLike[str] | None, **options: Any) -> None:
        from agentsmall.models._llamacpp import check_gguf

        self.name, self.path = resolve_model_path(name_or_path)
        check_gguf(Path(self.path))  # a missing or foreign file is refused now, not mid-run
        self._options = options
        self._model: Model | None = None
        self._lock = threading.Lock()
        self.loads = 0

    @property
    def loaded(self) -> bool:
        return self._model is not None

    @property
    def context_length(self) -> int:  # type: ignore[override]
        if self._model is not None:
            return self._model.context_length
        return int(self._options.get("context_length", DEFAULT_CONTEXT_LENGTH))

    def _loaded(self) -> Model:
        with self._lock:
            if self._model is None:
                from agentsmall.models._llamacpp import LlamaCppModel

                self._model = LlamaCppModel(self.path, name=self.name, **self._options)
                self.loads += 1
            return self._model

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
        return self._loaded().generate(
            messages,
            constraint=constraint,
            max_tokens=max_tokens,
            on_text=on_text,
            template_kwargs=template_kwargs,
            prefill=prefill,
            stop=stop,
        )

    def count_prompt_tokens(
        self, messages: Sequence[ChatMessage], *, template_kwargs: Mapping[str, Any] | None = None
    ) -> int:
        return self._loaded().count_prompt_tokens(messages, template_kwargs=template_kwargs)

    def close(self) -> None:
        """Unload the weights (if loaded); the next generation loads them again."""
        with self._lock:
            model, self._model = self._model, None
        if model is not None:
            model.close()

    def __repr__(self) -> str:
        state = "loaded" if self.loaded else "not loaded"
        return f"<LazyModel {self.name} ({state})>"
