"""Ready agent definitions: a name, instructions, tools and defaults, loadable by name.

The definitions themselves live in the repository's `agents/` folder (installed as
`agentsmall.agents`); each module there defines `AGENT = AgentSpec(...)`.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentsmall._tool import Tool
from agentsmall.errors import ConfigError


@dataclass(frozen=True)
class AgentSpec:
    name: str
    description: str
    instructions: str
    tools: Sequence[Tool | Callable[..., Any]] = ()
    max_steps: int = 6
    example_task: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    """Further keyword arguments for `Agent` (max_calls_per_step, must_use_tool, ...)."""

    def agent_kwargs(self) -> dict[str, Any]:
        """Keyword arguments that make an `Agent` of this definition."""
        return {
            "tools": list(self.tools),
            "instructions": self.instructions,
            "max_steps": self.max_steps,
            "name": self.name,
            **self.options,
        }


def agent_names() -> list[str]:
    import agentsmall.agents as package

    return sorted(
        m.name for m in pkgutil.iter_modules(package.__path__) if not m.name.startswith("_")
    )


def load_agent_spec(name: str) -> AgentSpec:
    """The `AgentSpec` of a ready agent, by its module name in `agents/`."""
    if name not in agent_names():
        known = ", ".join(agent_names()) or "none"
        raise ConfigError(f"unknown agent {name!r}; ready agents: {known}")
    module = importlib.import_module(f"agentsmall.agents.{name}")
    spec = getattr(module, "AGENT", None)
    if not isinstance(spec, AgentSpec):
        raise ConfigError(f"agents/{name}.py defines no AGENT = AgentSpec(...)")
    return spec
