"""The agent loop: prompt, constrained step, tool calls, observations, until a final answer.

One planner step:
  1. render the chat (system prompt with tool docs, the task, earlier steps and observations);
  2. generate under the action schema (see `_actions`): the output can only be a list of calls
     to registered tools with valid arguments, or a final answer;
  3. validate it (never trust output that was not checked) and record the verdict;
  4. run the calls concurrently, each validated, time-limited, errors turned into observations;
  5. write every call to memory *before* the next step starts.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any, Literal

import jinja2

from agentsmall import _audit
from agentsmall._actions import ActionSpace, StepAction
from agentsmall._runner import CallOutcome, run_calls
from agentsmall._tool import Tool, as_tool
from agentsmall.errors import ConfigError, ContextOverflowError, DecodingError
from agentsmall.memory import Memory, StepRecord
from agentsmall.models import ChatMessage, JsonSchemaConstraint, Model, load_model

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

    def as_dict(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "run_id": self.run_id,
            "status": self.status,
            "output": self.output,
            "error": self.error,
            "steps": [s.as_dict() for s in self.steps],
            "escalations": [],
            "stats": self.stats,
        }


@dataclass(frozen=True)
class Event:
    """Something that happened during a run, for CLIs, REPLs and embedding apps to show.

    kinds: "run_started", "step_started", "text" (streamed output), "tool_call", "tool_result",
    "step_error", "final_answer", "run_finished".
    """

    kind: str
    step: int = 0
    data: dict[str, Any] = field(default_factory=dict)


EventCallback = Callable[[Event], None]


@cache
def _prompts() -> jinja2.Environment:
    loader = jinja2.FunctionLoader(
        lambda name: resources.files("agentsmall").joinpath("prompts", name).read_text()
    )
    return jinja2.Environment(loader=loader, trim_blocks=True, keep_trailing_newline=False)


DEFAULT_INSTRUCTIONS = "You are a careful assistant that uses tools to get exact answers."


class Agent:
    """A small-model agent: a model, some tools, a memory, a step budget.

    `model` is a `Model`, a preset name, a GGUF path, or None for the embedded default.
    `memory` is a `Memory`, a path to its SQLite file, or None for the default file under the
    user's data directory. `must_use_tool`: the first step must call a tool.
    """

    def __init__(
        self,
        model: Model | str | os.PathLike[str] | None = None,
        *,
        tools: Sequence[Tool | Callable[..., Any]] = (),
        memory: Memory | str | os.PathLike[str] | None = None,
        max_steps: int = 6,
        instructions: str = DEFAULT_INSTRUCTIONS,
        name: str = "agent",
        max_calls_per_step: int = 4,
        max_tokens_per_step: int = 256,
        max_observation_chars: int = 1500,
        must_use_tool: bool = False,
    ) -> None:
        if max_steps < 1:
            raise ConfigError(f"max_steps must be at least 1 (got {max_steps})")
        self.tools = [as_tool(t) for t in tools]
        self.actions = ActionSpace.from_tools(self.tools, max_calls=max_calls_per_step)
        # With must_use_tool the first step is decoded without the final_answer branch: some
        # small models otherwise "answer" from memory instead of calling the tool they were given.
        self.first_actions = (
            ActionSpace.from_tools(
                self.tools, max_calls=max_calls_per_step, allow_final_answer=False
            )
            if must_use_tool
            else self.actions
        )
        self.constraint = JsonSchemaConstraint(self.actions.schema, list_of_unique_items=True)
        self.first_constraint = (
            JsonSchemaConstraint(self.first_actions.schema, list_of_unique_items=True)
            if must_use_tool
            else self.constraint
        )
        self.model = load_model(model)
        self.memory = memory if isinstance(memory, Memory) else Memory(memory)
        self.max_steps = max_steps
        self.instructions = instructions
        self.name = name
        self.max_tokens_per_step = max_tokens_per_step
        self.max_observation_chars = max_observation_chars

    # -- public API ----------------------------------------------------------------------------

    def run(
        self, task: str, *, session_id: str | None = None, on_event: EventCallback | None = None
    ) -> RunResult:
        """Run the task to a final answer or the step budget. Blocking; see `arun`."""
        return asyncio.run(self.arun(task, session_id=session_id, on_event=on_event))

    async def arun(
        self, task: str, *, session_id: str | None = None, on_event: EventCallback | None = None
    ) -> RunResult:
        """Run the task from asyncio code; tool calls of one step run concurrently."""
        if not task or not task.strip():
            raise ConfigError("the task is empty: say what the agent should do")
        emit = on_event or (lambda _event: None)
        session_id = self.memory.start_session(
            session_id=session_id, agent=self.name, model=self.model.name
        )
        run_id = self.memory.start_run(session_id=session_id, task=task)
        messages: list[ChatMessage] = [
            {"role": "system", "content": self.system_prompt()},
            {"role": "user", "content": task},
        ]
        for message in messages:
            self.memory.add_message(session_id=session_id, run_id=run_id, **message)
        emit(Event("run_started", data={"session_id": session_id, "task": task}))
        steps: list[Step] = []
        stats = {
            "prompt_tokens": 0,
            "prompt_tokens_evaluated": 0,
            "output_tokens": 0,
            "forced_tokens": 0,
            "generation_seconds": 0.0,
            "prompt_seconds": 0.0,
            "planner_steps": 0,
        }
        status: RunStatus = "max_steps"
        output: str | None = None
        error: str | None = None
        try:
            for step in range(1, self.max_steps + 1):
                emit(Event("step_started", step))
                started = time.time()
                first = step == 1
                space = self.first_actions if first else self.actions
                generation = await asyncio.to_thread(
                    self.model.generate,
                    messages,
                    constraint=self.first_constraint if first else self.constraint,
                    max_tokens=self.max_tokens_per_step,
                    on_text=lambda text, step=step: emit(Event("text", step, {"text": text})),
                )
                stats["planner_steps"] += 1
                for key in (
                    "prompt_tokens",
                    "prompt_tokens_evaluated",
                    "output_tokens",
                    "forced_tokens",
                ):
                    stats[key] += getattr(generation, key)
                stats["generation_seconds"] += generation.seconds
                stats["prompt_seconds"] += generation.prompt_seconds
                record = _StepContext(
                    session_id,
                    run_id,
                    step,
                    generation.text,
                    self.model.name,
                    generation.prompt_tokens,
                    generation.output_tokens,
                    started,
                )
                if generation.finish_reason == "length":
                    _audit.record(valid=False, model=self.model.name, reason="cut off")
                    problem = (
                        f"the reply was cut off after {generation.output_tokens} tokens"
                        " before the JSON was complete"
                    )
                    steps.append(self._record_failed_step(record, problem, time.time() - started))
                    emit(Event("step_error", step, {"error": problem}))
                    messages.append(
                        self._note(
                            session_id,
                            run_id,
                            f"Error: {problem}. Reply with a shorter list.",
                        )
                    )
                    continue
                try:
                    action = space.parse(generation.text)
                except DecodingError as exc:
                    _audit.record(valid=False, model=self.model.name, reason=str(exc))
                    raise
                _audit.record(valid=True, model=self.model.name)
                messages.append(self._note(session_id, run_id, action_text(action), "assistant"))
                if action.final_answer is not None:
                    output, status = action.final_answer, "completed"
                    emit(Event("final_answer", step, {"answer": output}))
                    break
                by_name = {t.name: t for t in self.tools}
                for call in action.calls:
                    emit(Event("tool_call", step, {"tool": call.tool, "arguments": call.arguments}))
                outcomes = await run_calls(
                    [(by_name[c.tool], c.arguments) for c in action.calls],
                    max_observation_chars=self.max_observation_chars,
                )
                for index, outcome in enumerate(outcomes):
                    steps.append(self._record_call(record, index, outcome))
                    emit(
                        Event(
                            "tool_result",
                            step,
                            {
                                "tool": outcome.tool,
                                "result": outcome.result,
                                "error": outcome.error,
                            },
                        )
                    )
                messages.append(self._note(session_id, run_id, self._observations(outcomes)))
        except ContextOverflowError as exc:
            status, error = "error", f"the context window is full: {exc}"
        except BaseException as exc:
            self.memory.finish_run(
                run_id, status="error" if isinstance(exc, Exception) else "interrupted", output=None
            )
            raise
        self.memory.finish_run(run_id, status=status, output=output)
        result = RunResult(output, steps, session_id, status, error, run_id, stats)
        emit(Event("run_finished", data=result.as_dict()))
        return result

    # -- prompts -------------------------------------------------------------------------------

    def system_prompt(self) -> str:
        template = _prompts().get_template("planner_system.jinja")
        return template.render(instructions=self.instructions, tools=self.tools).strip()

    def _observations(self, outcomes: list[CallOutcome]) -> str:
        return _prompts().get_template("observation.jinja").render(outcomes=outcomes).strip()

    # -- memory --------------------------------------------------------------------------------

    def _note(self, session_id: str, run_id: int, content: str, role: str = "user") -> ChatMessage:
        self.memory.add_message(session_id=session_id, run_id=run_id, role=role, content=content)
        return {"role": role, "content": content}

    def _record_call(self, ctx: _StepContext, index: int, outcome: CallOutcome) -> Step:
        self.memory.add_step(
            ctx.record(
                index,
                outcome.tool,
                outcome.arguments,
                outcome.result,
                outcome.error,
                outcome.seconds,
            )
        )
        return Step(
            ctx.step,
            outcome.tool,
            dict(outcome.arguments),
            outcome.result,
            outcome.error,
            outcome.seconds,
        )

    def _record_failed_step(self, ctx: _StepContext, problem: str, seconds: float) -> Step:
        self.memory.add_step(ctx.record(0, None, None, None, problem, seconds))
        return Step(ctx.step, None, None, None, problem, seconds)


def action_text(action: StepAction) -> str:
    """The canonical JSON of a validated action, as it goes back into the chat history.

    Repeats the model listed are dropped here, so the history never shows it a pattern of
    repetition to continue.
    """
    if action.final_answer is not None:
        items = [{"tool": "final_answer", "arguments": {"answer": action.final_answer}}]
    else:
        items = [{"tool": c.tool, "arguments": c.arguments} for c in action.calls]
    return json.dumps(items, ensure_ascii=False)


@dataclass(frozen=True)
class _StepContext:
    """What every memory row of one planner step shares."""

    session_id: str
    run_id: int
    step: int
    raw_output: str
    model: str
    prompt_tokens: int
    output_tokens: int
    started_at: float

    def record(
        self,
        index: int,
        tool: str | None,
        arguments: Any,
        result: Any,
        error: str | None,
        seconds: float,
    ) -> StepRecord:
        return StepRecord(
            session_id=self.session_id,
            run_id=self.run_id,
            step=self.step,
            call_index=index,
            tool=tool,
            arguments=None if arguments is None else dict(arguments),
            result=result,
            error=error,
            raw_output=self.raw_output,
            model=self.model,
            prompt_tokens=self.prompt_tokens,
            output_tokens=self.output_tokens,
            started_at=self.started_at,
            seconds=seconds,
        )
