"""Model backends (the agent's transport) and the registry of model names."""

from __future__ import annotations

import os

from agentsmall.models._base import (
    ChatMessage,
    Constraint,
    Generation,
    JsonSchemaConstraint,
    Model,
    RegexConstraint,
)
from agentsmall.models._formats import (
    FORMATS,
    NativePrompt,
    ParsedStep,
    StepConstraint,
    ToolCallFormat,
    ToolSpec,
    get_format,
    split_thinking,
)
from agentsmall.models._lazy import LazyModel
from agentsmall.models._presets import Preset
from agentsmall.models._pull import ModelDownloadError, models_dir, pull
from agentsmall.models._registry import (
    DEFAULT_MODEL,
    PRESETS,
    ModelNotPulledError,
    get_preset,
    resolve_model_path,
)
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
    "FORMATS",
    "PRESETS",
    "ChatMessage",
    "Constraint",
    "Generation",
    "JsonSchemaConstraint",
    "LazyModel",
    "Model",
    "ModelDownloadError",
    "ModelNotPulledError",
    "NativePrompt",
    "ParsedStep",
    "Preset",
    "RegexConstraint",
    "ScriptedModel",
    "StepConstraint",
    "ToolCallFormat",
    "ToolSpec",
    "get_format",
    "get_preset",
    "load_model",
    "models_dir",
    "pull",
    "resolve_model_path",
    "split_thinking",
]
