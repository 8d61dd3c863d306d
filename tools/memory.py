"""Long-term memory tools: `remember`, `recall`, `forget` (``--tools agentsmall.tools.memory``).

They work on the memory of the run that calls them (the agent's SQLite file, its name and the
session), which the agent loop provides; the model only says what to remember or look for.
Facts are scoped: ``agent`` (default: this agent, every session), ``session`` (this
conversation only) or ``global`` (every agent). Recall searches all three, best match first,
recent facts ahead of old ones that match equally.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from agentsmall._tool import tool
from agentsmall.memory import active_memory

__all__ = ["TOOLS", "forget", "recall", "remember"]


@tool(timeout=10)
def remember(
    fact: Annotated[str, Field(min_length=1)],
    scope: Literal["agent", "session", "global"] = "agent",
) -> dict[str, Any]:
    """Store a fact to recall in later conversations. One short fact per call.

    Args:
        fact: the fact, in one sentence (at most 1000 characters)
        scope: agent (default), session (this conversation only) or global (every agent)
    """
    active = active_memory()
    owner = {"agent": active.agent, "session": active.session_id, "global": ""}[scope]
    fact_id = active.memory.remember(fact, scope=scope, owner=owner)
    return {"id": fact_id, "remembered": fact.strip()}


@tool(timeout=10)
def recall(query: Annotated[str, Field(min_length=1)], limit: int = 5) -> list[dict[str, Any]]:
    """Search the remembered facts; the best matches come first.

    Args:
        query: words to look for
        limit: how many facts at most (1 to 20)
    """
    active = active_memory()
    facts = active.memory.recall(
        query, agent=active.agent, session_id=active.session_id, limit=max(1, min(limit, 20))
    )
    return [{"id": f.id, "fact": f.text, "scope": f.scope} for f in facts]


@tool(timeout=10)
def forget(fact_id: int) -> str:
    """Delete a remembered fact by its id (as given by recall).

    Args:
        fact_id: the id of the fact
    """
    active = active_memory()
    if active.memory.forget(fact_id, agent=active.agent, session_id=active.session_id):
        return f"forgot fact {fact_id}"
    raise LookupError(f"no fact {fact_id} (recall gives the ids of the facts you can forget)")


TOOLS = [remember, recall, forget]
