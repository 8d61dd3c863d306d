"""Model backends (the agent's transport) and the registry of model names."""

from __future__ import annotations

import os

from agentsmall.models._base import ChatMessage, Generation, JsonSchemaConstraint, Model
from agentsmall.models._registry import DEFAULT_MODEL, PRESETS, resolve_model_path
from agentsmall.models._scripted import ScriptedModel


def load_model(model: Model | str | os.PathLike[str] | None = None, **options: object) -> Model:
    """A ready `Model` from a Model (returned as is), a preset name, a GGUF path or None."""
    if isinstance(model, Model):
        return model
    from agentsmall.models._llamacpp import LlamaCppModel  # imports llama.cpp: only when needed

    name, path = resolve_model_path(model)
    return LlamaCppModel(path, name=name, **options)  # type: ignore[arg-type]


__all__ = [
    "DEFAULT_MODEL",
    "PRESETS",
    "ChatMessage",
    "Generation",
    "JsonSchemaConstraint",
    "Model",
    "ScriptedModel",
    "load_model",
    "resolve_model_path",
]
