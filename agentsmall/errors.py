"""Every error agentsmall raises on purpose.

Each one carries a message written for the person at the keyboard: what went wrong and what to
do about it. The CLI prints these messages without a traceback; anything else that escapes is a
bug in agentsmall.
"""

from __future__ import annotations


class AgentsmallError(Exception):
    """Base class: an error with a message meant for the user, not a bug."""


class ToolDefinitionError(AgentsmallError):
    """A function cannot become a tool (its annotations do not map to a JSON schema, ...)."""


class ToolsImportError(AgentsmallError):
    """A `--tools` module or file does not import, or holds no tools."""


class ModelError(AgentsmallError):
    """A model cannot be found, resolved or loaded."""


class UnknownModelError(ModelError):
    """A model name that is neither a known preset nor a path to a GGUF file."""


class ModelLoadError(ModelError):
    """The file exists but llama.cpp cannot load it (not a GGUF, corrupt, truncated, ...)."""


class DecodingError(AgentsmallError):
    """Constrained generation failed: the constraint could not be applied or the output is bad.

    Raised instead of ever returning output that was not validated.
    """


class OutputTruncatedError(DecodingError):
    """The model hit the token limit before the constrained output was complete."""


class MemoryStoreError(AgentsmallError):
    """The SQLite memory file cannot be opened or written (locked, read-only, corrupt, newer)."""


class ConfigError(AgentsmallError):
    """Bad arguments to the Agent or the CLI (empty task, max_steps < 1, ...)."""


class ContextOverflowError(AgentsmallError):
    """The prompt plus the tokens to generate do not fit the model's context window."""
