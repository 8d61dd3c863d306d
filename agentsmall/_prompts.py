"""The Jinja templates in `agentsmall/prompts/`: prompts live there, not in code."""

from __future__ import annotations

from functools import cache
from importlib import resources

import jinja2


@cache
def prompts() -> jinja2.Environment:
    loader = jinja2.FunctionLoader(
        lambda name: resources.files("agentsmall").joinpath("prompts", name).read_text()
    )
    return jinja2.Environment(loader=loader, trim_blocks=True, keep_trailing_newline=False)
