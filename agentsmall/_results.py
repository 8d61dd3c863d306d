"""What a run gives back: its steps, its result, and the events it reports as it goes.

Kept apart from the loop (`agentsmall.agent`, which re-exports them) so that the modules the
loop uses, such as run resumption (`_resume`), can build them without importing the loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from agentsmall._escalation import Escalation

RunStatus = Literal["completed", "max_steps", "error"]


@dataclass(frozen=True)
class Step:
    """One tool call the agent made (or one planner step that failed to produce a call)."""

    step: int
    tool: str | None
    arguments: dict[str, Any] | None
    result: Any
    error: str | None
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "tool": self.tool,
            "arguments": self.arguments,
            "result": self.result,
            "error": self.error,
            "seconds": round(self.seconds, 4),
        }


@dataclass(frozen=True)
class RunResult:
    """What a run produced. `output` is None when the run ended without a final answer."""

    output: str | None
    steps: list[Step]
    session_id: str
    status: RunStatus = "completed"
    error: str | None = None
    run_id: int | None = None
    stats: dict[str, Any] = field(default_factory=dict)
    escalations: list[Escalation] = field(default_factory=list)
    """Sub-steps handed to the reasoner, in order (see `agentsmall._escalation`)."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "run_id": self.run_id,
            "status": self.status,
            "output": self.output,
            "error": self.error,
            "steps": [s.as_dict() for s in self.steps],
            "escalations": [e.as_dict() for e in self.escalations],
            "stats": self.stats,
        }


@dataclass(frozen=True)
class Event:
    """Something that happened during a run, for CLIs, REPLs and embedding apps to show.

    kinds: "run_started", "tools_ranked" (the tool gate's decision: `GateDecision.as_dict()`),
    "step_started", "text" (streamed output), "arguments_left_out" (optional arguments, and
    further calls, the conversation does not ground), "copies_repaired" (names the model
    miscopied from the task, replaced by what the task writes), "call_withheld" (a first call
    with required values nothing gave: the step answers instead), "arguments_repeated" (a first
    call whose argument repeats an earlier one's value: decoded again, `redone`, with the
    task's other values), "percentages_as_fractions" (numbers the task wrote as percentages,
    passed as fractions), "numbers_scaled" ("50 million" passed as 50000000),
    "dates_formatted" (dates in the layout their parameter declares, or the task's),
    "repeats_dropped" (list items repeated more often than the conversation writes them),
    "calls_added" (calls for the other values of a list in the task), "tool_call",
    "tool_result", "step_error", "escalation" (data: `Escalation.as_dict()`), "final_answer",
    "run_finished".
    """

    kind: str
    step: int = 0
    data: dict[str, Any] = field(default_factory=dict)


EventCallback = Callable[[Event], None]
