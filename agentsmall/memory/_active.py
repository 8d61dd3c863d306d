"""Which memory, agent and session the tools of the current run belong to.

The memory tools (``agentsmall.tools.memory``) are ordinary ``@tool`` functions: the model only
fills in their arguments, so the memory file, the agent name and the session id reach them
through a context variable the agent loop sets for the duration of a run. A context variable
(not a global) because two agents may run at once in one process, and the tool runner copies
the context into the thread a sync tool runs in.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agentsmall.errors import MemoryStoreError

if TYPE_CHECKING:
    from agentsmall.memory._store import Memory


@dataclass(frozen=True)
class ActiveMemory:
    """The memory of the run in progress, and whose it is."""

    memory: Memory
    agent: str
    session_id: str


_ACTIVE: ContextVar[ActiveMemory | None] = ContextVar("agentsmall_active_memory", default=None)


def active_memory() -> ActiveMemory:
    """The memory of the run in progress; a clear error outside of an agent run."""
    active = _ACTIVE.get()
    if active is None:
        raise MemoryStoreError(
            "The memory tools work inside an agent run (Agent.run or `agentsmall run`), where "
            "they know which memory file, agent and session to use; wrap a direct call in "
            "`using_memory(memory, agent=..., session_id=...)`."
        )
    return active


@contextmanager
def using_memory(memory: Memory, *, agent: str, session_id: str) -> Iterator[ActiveMemory]:
    """Make ``memory`` the one the memory tools use, for the duration of the block."""
    active = ActiveMemory(memory, agent, session_id)
    token = _ACTIVE.set(active)
    try:
        yield active
    finally:
        _ACTIVE.reset(token)
