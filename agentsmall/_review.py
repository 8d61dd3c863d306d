"""The first step's call reviewed before it runs, and decoded again where it guesses.

Asked to call a tool, a small model fills every required argument whether or not the task
gives a value, and it copies one value into two arguments (``num_success=100`` after
``num_trials=100``). The checks that find this are in `agentsmall._grounding` and
`agentsmall._given`; this module decides what happens then, on the first step only:

1. A call with *invented* required values (`invented_in`) is withheld. Where the tool gate
   found the tool clearly relevant ("must call"), the step is decoded again with each invented
   argument held to the values the task writes (`held_step`); otherwise, or when that call
   still invents a value, the step is decoded again to answer.
2. A call (the first one, or the held one) whose arguments *repeat* another argument's value
   (`agentsmall._given.repeated_arguments`) is decoded again with those arguments held to the
   task's other values (`unrepeated_step`).

A redo that is cut off, or that guesses again, is dropped and the step keeps what it had. The
agent loop (`Agent.arun`) and `agentsmall eval bfcl` both run `reviewed`, so an evaluation
measures exactly what the agent does; each passes its own way of decoding a step again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from agentsmall._actions import ActionSpace, StepAction, action_items
from agentsmall._escalation import ESCALATE
from agentsmall._given import held_to_task, repeated_arguments
from agentsmall._grounding import changes, check_action, invented_values
from agentsmall._relevance import GateDecision
from agentsmall._tool import Tool
from agentsmall.models import JsonSchemaConstraint

if TYPE_CHECKING:
    from agentsmall.agent import Agent

Decoded = TypeVar("Decoded")
"""What decoding a step gives beside its action: a `Generation` in the agent, an `Attempt`
in an evaluation."""

Step = tuple[ActionSpace, JsonSchemaConstraint]
"""A step to decode: its action space and the constraint of its schema."""
Emit = Callable[[str, dict[str, Any]], None]
"""Report an event of the step (its kind and data)."""


def reviewed(
    agent: Agent,
    action: StepAction,
    space: ActionSpace,
    *,
    task: str,
    context: str,
    gate: GateDecision | None,
    answer: Callable[[], Step],
    decode: Callable[[ActionSpace, JsonSchemaConstraint], tuple[StepAction, Decoded] | None],
    emit: Emit,
) -> tuple[StepAction, Decoded] | None:
    """The first step's `action` (already checked by `check_action`) decoded again where it
    invents or repeats values, or None when it stands as it is. `answer()` gives the step
    to decode when the call is withheld and nothing is held (asked only then); `gate` is
    the tool gate's decision; `decode(space, constraint)` decodes the step again there,
    None when that is cut off."""
    review = _Review(agent, task, context, gate, answer, decode, emit)
    invented = invented_in(agent, action, space, context)
    redone = None
    if invented:
        redone = review.instead_of_invented(action, space, invented)
    if not invented or (redone is not None and redone[0].held):
        redone = review.unrepeated(action, space, redone)
    return redone


def invented_in(agent: Agent, action: StepAction, space: ActionSpace, context: str) -> list[str]:
    """The first call's required values that nothing gave (`invented_values`), when the
    step could answer instead: the JSON planner, and no rule of the agent's own
    (`must_use_tool`) says it must call. The gate's own "must call" is only a likelihood,
    and an invented value is stronger evidence, so it does not protect the call."""
    if agent.native is not None or agent.must_use_tool or not action.calls:
        return []
    call = action.calls[0]
    if call.tool == ESCALATE:  # its problem is the planner's own wording, by design
        return []
    return invented_values(call, space.tools[call.tool], context)


def held_step(
    agent: Agent,
    action: StepAction,
    invented: Sequence[str],
    space: ActionSpace,
    task: str,
    gate: GateDecision | None,
) -> Step | None:
    """The step to decode instead of a call with `invented` values, when the tool gate
    found the tool clearly relevant ("must call"): the same tool, each invented argument
    held to the values the task writes (`agentsmall._given`). None when the gate did not,
    or an argument has no such values: the step then answers instead."""
    if gate is None or not gate.must_call or not action.calls:
        return None
    call = action.calls[0]
    tool = space.tools[call.tool]
    arguments = held_to_task(
        space.shaped.get(tool.name, tool.parameters), tool.name, invented, task
    )
    if arguments is None:
        return None
    return _calling(agent, tool, arguments)


def unrepeated_step(
    agent: Agent, action: StepAction, space: ActionSpace, task: str
) -> tuple[list[str], ActionSpace, JsonSchemaConstraint] | None:
    """The step to decode instead of a first call whose arguments repeat an earlier
    argument's value (`_given.repeated_arguments`: a copied text, a number used more often
    than the task writes it): the same tool, those arguments held to the task's values
    other than that one. None when there is no such argument, or no other value to hold
    it to. Returns the arguments as ``tool.argument`` too."""
    if agent.native is not None or not action.calls:
        return None
    call = action.calls[0]
    tool = space.tools.get(call.tool)
    if tool is None or call.tool == ESCALATE:
        return None
    repeated = repeated_arguments(call, tool, task)
    if not repeated:
        return None
    names = [f"{call.tool}.{name}" for name in repeated]
    decoded = space.shaped.get(tool.name, tool.parameters)
    arguments = held_to_task(decoded, tool.name, names, task, not_like=repeated)
    if arguments is None:
        return None
    return names, *_calling(agent, tool, arguments)


def _calling(agent: Agent, tool: Tool, arguments: dict[str, Any]) -> Step:
    """A step that must call `tool`, decoding `arguments` as its arguments schema."""
    space = ActionSpace.from_tools(
        [tool],
        max_calls=agent.actions.max_calls,
        allow_final_answer=False,
        shaped={tool.name: arguments},
    )
    return space, JsonSchemaConstraint(space.schema, list_of_unique_items=True)


@dataclass(frozen=True)
class _Review(Generic[Decoded]):
    """What every redo of one first step shares: the agent, the task and conversation, the
    tool gate's decision, the answer-only step, and how to decode and report."""

    agent: Agent
    task: str
    context: str
    gate: GateDecision | None
    answer: Callable[[], Step]
    decode: Callable[[ActionSpace, JsonSchemaConstraint], tuple[StepAction, Decoded] | None]
    emit: Emit

    def accepted(self, action: StepAction, space: ActionSpace) -> StepAction | None:
        """A step decoded again in `space`, checked as any first step is; None when it makes
        no call or invents a value (another argument this time)."""
        checked = check_action(
            action, space.tools, task=self.task, context=self.context, first_step=True
        )
        if not checked.calls or invented_in(self.agent, checked, space, self.context):
            return None
        return checked

    def instead_of_invented(
        self, action: StepAction, space: ActionSpace, invented: list[str]
    ) -> tuple[StepAction, Decoded] | None:
        """The first step chose a call with `invented` values: it is withheld, and the step is
        decoded again, held to the task's values (`held_step`) where the gate says the tool
        is relevant, else (or if that call still invents one) allowed only to answer. None
        when that is cut off too: the step keeps its call."""
        held = held_step(self.agent, action, invented, space, self.task, self.gate)
        data = {"calls": action_items(action.calls), "invented": invented}
        self.emit("call_withheld", {**data, "held": held is not None})
        if held is not None:
            redone = self.decode(*held)
            if redone is not None:
                accepted = self.accepted(redone[0], held[0])
                if accepted is not None:
                    accepted = replace(accepted, invented=tuple(invented), held=True)
                    for kind, change in changes(accepted):
                        self.emit(kind, change)
                    return accepted, redone[1]
            self.emit("call_withheld", {**data, "held": False})
        answered = self.decode(*self.answer())
        if answered is None:
            return None
        return replace(answered[0], invented=tuple(invented)), answered[1]

    def unrepeated(
        self, action: StepAction, space: ActionSpace, held: tuple[StepAction, Decoded] | None
    ) -> tuple[StepAction, Decoded] | None:
        """The first step's call (`action`, or the `held` call decoded instead of it) decoded
        again where it repeats a value (`instead_of_repeated`); `held` as it is, or None,
        when there is nothing to redo. A held call is redone in its held space, so the
        arguments held before stay held."""
        if held is None:
            return self.instead_of_repeated(action, space)
        held_space = held_step(self.agent, action, held[0].invented, space, self.task, self.gate)
        if held_space is None:
            return held
        redone = self.instead_of_repeated(held[0], held_space[0])
        if redone is None:
            return held
        kept = replace(redone[0], invented=held[0].invented, held=True)
        return kept, redone[1]

    def instead_of_repeated(
        self, action: StepAction, space: ActionSpace
    ) -> tuple[StepAction, Decoded] | None:
        """The call repeats a value in another argument: the step is decoded again with those
        arguments held to the task's other values (`unrepeated_step`). None when there is
        nothing to redo, or the redone call is cut off or invents a value: the step keeps
        its call."""
        redo = unrepeated_step(self.agent, action, space, self.task)
        if redo is None:
            return None
        repeated, held, constraint = redo
        redone = self.decode(held, constraint)
        accepted = None
        if redone is not None:
            accepted = self.accepted(redone[0], held)
        data = {"calls": action_items(action.calls), "arguments": repeated}
        self.emit("arguments_repeated", {**data, "redone": accepted is not None})
        if accepted is None or redone is None:
            return None
        accepted = replace(accepted, repeated=tuple(repeated))
        for kind, change in changes(accepted):
            self.emit(kind, change)
        return accepted, redone[1]
