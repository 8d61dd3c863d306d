"""The agent loop: prompt, constrained step, tool calls, observations, until a final answer.

One planner step:
  1. render the chat (system prompt with tool docs, the task, earlier steps and observations);
  2. generate under the action schema (see `_actions`): the output can only be a list of calls
     to registered tools with valid arguments, or a final answer;
  3. validate it (never trust output that was not checked) and record the verdict;
  4. run the calls concurrently, each validated, time-limited, errors turned into observations;
  5. write every call to memory the moment it completes, *before* the next step starts.

Memory makes runs durable: `run(task, session_id=...)` continues a session with its history,
and a run whose process was killed resumes from its last committed step (a call recorded as
done is never made again; how a run starts or is rebuilt is in `_resume`). The prompt of every
step is fitted to the model's context window by the policy in `agentsmall.memory._compaction`;
the database keeps the full record. What a run returns and reports (`Step`, `RunResult`,
`Event`) is defined in `_results` and exported here.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from agentsmall import _audit
from agentsmall._actions import ActionSpace, StepAction, action_items
from agentsmall._escalation import (
    ESCALATE,
    Escalation,
    Escalator,
    Reasoner,
    already_answered,
    problem_of,
)
from agentsmall._fanout import fan_out
from agentsmall._given import shaped_by_task
from agentsmall._grounding import changes, check_action, conversation_text
from agentsmall._native import NativePlanner
from agentsmall._prompts import prompts
from agentsmall._relevance import GateDecision, ToolGate
from agentsmall._results import Event, EventCallback, RunResult, RunStatus, Step
from agentsmall._resume import RunState, open_run, step_of
from agentsmall._review import reviewed
from agentsmall._runner import (
    CallOutcome,
    ConfirmCallback,
    _outcome,
    run_call,
    unknown_tool_outcome,
)
from agentsmall._tool import Tool, as_tool
from agentsmall.errors import ConfigError, ContextOverflowError, DecodingError
from agentsmall.memory import Fact, Memory, StepRecord, using_memory
from agentsmall.memory._compaction import Turn, TurnKind, fit
from agentsmall.models import (
    ChatMessage,
    Generation,
    JsonSchemaConstraint,
    Model,
    NativePrompt,
    load_model,
)

DEFAULT_GATE = ToolGate()
ANSWER_ONLY = GateDecision(scores={}, offered=())
"""Step 1's decision when its call was withheld for invented values: it answers instead."""

DEFAULT_INSTRUCTIONS = "You are a careful assistant that uses tools to get exact answers."


class Agent:
    """A small-model agent: a model, some tools, a memory, a step budget.

    `model` is a `Model`, a preset name, a GGUF path, or None for the embedded default.
    `memory` is a `Memory`, a path to its SQLite file, or None for the default file under the
    user's data directory. `must_use_tool`: the first step must call a tool.
    `recall_facts`: put the N long-term facts most relevant to the task in the system prompt
    (0: none). `keep_recent_steps`: steps whose results are never elided when the prompt has
    to be fitted to the context window. `max_history_messages`: at most this many messages of
    the session's earlier runs are offered to the prompt (older ones stay in the database).
    `reasoner` (a `Model`, or a preset name or GGUF path loaded at its first use) and
    `escalation` ("auto", "never", "always") hand math sub-steps to a reasoning model whose
    answers the calculator checks; the policy and the checks are in `agentsmall._escalation`.
    `confirm(tool_name, arguments) -> bool` is asked before a tool marked ``dangerous=True``
    runs; without it such calls are refused (the model reads "refused: ..."), since a
    script has nobody to ask. `agentsmall._runner.allow_all` allows them all.
    `tool_format`: "auto" (the model's native tool-call format when it has one, else the JSON
    planner), "json", or a family id such as "qwen3" (see `agentsmall._native`); `thinking`
    (None: the model's default) and `max_thinking_tokens` govern a thinking model's free
    thinking before each constrained step (native formats only).
    `tool_gate` decides before the first step, from the model's likelihoods, whether the task
    needs a tool and which ones (`agentsmall._relevance`); None leaves that choice to the
    model's first step. It needs a model that can score texts (llama.cpp models can) and
    applies to the JSON planner. `ground_arguments` checks each call against the conversation
    (`agentsmall._grounding`): optional arguments whose values it never mentions are left out,
    so the tool's defaults apply; a further call of a step with invented required values, or
    with nothing new, is dropped; "5%" goes to a rate as 0.05; on the first step, names the
    model miscopied from the task are repaired, and a call whose required values nothing gave
    is withheld and the step decoded again to answer (JSON planner, not with `must_use_tool`),
    and a call whose free-text argument repeats an earlier one's value is decoded again with
    the task's other values (`agentsmall._review`). It also shapes what the first step
    decodes by the task (`agentsmall._given.shaped_by_task`): optional arguments the task
    speaks of are required, flags it names hold the value its words give. `fan_out`: when the
    first step's call takes one value of a list in the task ("the nucleus, mitochondria and
    cytoplasm"), or of values framed by the same words ("the factorial of 5, the factorial of
    3"), the call is repeated for the other values
    (`agentsmall._fanout`).
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
        recall_facts: int = 0,
        keep_recent_steps: int = 2,
        max_history_messages: int = 200,
        reasoner: Model | Reasoner | str | os.PathLike[str] | None = None,
        escalation: str = "auto",
        confirm: ConfirmCallback | None = None,
        tool_format: str = "auto",
        thinking: bool | None = None,
        max_thinking_tokens: int = 512,
        tool_gate: ToolGate | None = DEFAULT_GATE,
        ground_arguments: bool = True,
        fan_out: bool = True,
    ) -> None:
        if max_steps < 1:
            raise ConfigError(f"max_steps must be at least 1 (got {max_steps})")
        if recall_facts < 0 or keep_recent_steps < 0 or max_history_messages < 0:
            raise ConfigError(
                "recall_facts, keep_recent_steps and max_history_messages must not be negative"
            )
        self.tools = [as_tool(t) for t in tools]
        self.escalator = Escalator.create(reasoner, escalation)  # None without a reasoner
        # What the planner may call: the tools, plus `escalate` when the policy offers it.
        self.offered_tools = self.tools + (self.escalator.tools if self.escalator else [])
        self.actions = ActionSpace.from_tools(self.offered_tools, max_calls=max_calls_per_step)
        # With must_use_tool the first step is decoded without the final_answer branch: some
        # small models otherwise "answer" from memory instead of calling the tool they were given.
        self.first_actions = (
            ActionSpace.from_tools(
                self.offered_tools, max_calls=max_calls_per_step, allow_final_answer=False
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
        # Step action spaces by (must call, tools offered), built once each (`_step_space`).
        self._spaces: dict[tuple[bool, tuple[str, ...]], tuple[ActionSpace, JsonSchemaConstraint]]
        self._spaces = {}
        self.must_use_tool = must_use_tool
        self.tool_gate = tool_gate
        self.ground_arguments = ground_arguments
        self.fan_out = fan_out
        self.model = load_model(model)
        # None: the JSON planner above; otherwise the model family's native format.
        self.native = NativePlanner.choose(
            self.model,
            tool_format,
            self.offered_tools,
            thinking=thinking,
            max_thinking_tokens=max_thinking_tokens,
            max_calls=max_calls_per_step,
            must_use_tool=must_use_tool,
        )
        self.tool_format = self.native.format.id if self.native else "json"
        self.memory = memory if isinstance(memory, Memory) else Memory(memory)
        self.max_steps = max_steps
        self.instructions = instructions
        self.name = name
        self.max_tokens_per_step = max_tokens_per_step
        self.max_observation_chars = max_observation_chars
        self.recall_facts = recall_facts
        self.keep_recent_steps = keep_recent_steps
        self.max_history_messages = max_history_messages
        self.confirm = confirm

    # -- public API ----------------------------------------------------------------------------

    def run(
        self, task: str, *, session_id: str | None = None, on_event: EventCallback | None = None
    ) -> RunResult:
        """Run the task to a final answer or the step budget. Blocking; see `arun`.

        With the id of an existing session the run continues it: earlier runs are history, and
        if the session's last run was killed or interrupted on this same task, it is resumed.
        """
        return asyncio.run(self.arun(task, session_id=session_id, on_event=on_event))

    async def arun(
        self, task: str, *, session_id: str | None = None, on_event: EventCallback | None = None
    ) -> RunResult:
        """Run the task from asyncio code; tool calls of one step run concurrently."""
        if not task or not task.strip():
            raise ConfigError("the task is empty: say what the agent should do")
        emit = on_event or (lambda _event: None)
        run = open_run(self, task, session_id)
        started_data: dict[str, Any] = {"session_id": run.session_id, "task": task}
        if run.resumed:
            started_data.update(resumed=True, run_id=run.run_id, from_step=run.next_step)
        emit(Event("run_started", data=started_data))
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
        with using_memory(self.memory, agent=self.name, session_id=run.session_id):
            try:
                if run.pending is not None:
                    await self._finish_pending_step(run, emit)
                if run.final is not None:
                    output, status = run.final, "completed"
                if self.escalator and not run.resumed and self.escalator.escalates_task(task):
                    await self._escalate_before_planning(run, task, emit)
                if run.next_step == 1 and run.final is None:
                    run.gate = await asyncio.to_thread(self._decide_tools, task)
                    if run.gate is not None:
                        emit(Event("tools_ranked", 1, run.gate.as_dict()))
                for step in range(run.next_step, self.max_steps + 1):
                    if run.final is not None:
                        break
                    emit(Event("step_started", step))
                    started = time.time()
                    first = step == 1
                    rows = (
                        self.memory.escalations(run.session_id, run.run_id)
                        if self.escalator
                        else []
                    )
                    space, constraint = self._step_space(
                        step, run.gate if first else None, rows, task if first else None
                    )

                    def on_text(text: str, step: int = step) -> None:
                        emit(Event("text", step, {"text": text}))

                    if self.native is None:
                        prompt = self._prompt(run)
                        generation = await asyncio.to_thread(
                            self.model.generate,
                            prompt,
                            constraint=constraint,
                            max_tokens=self.max_tokens_per_step,
                            on_text=on_text,
                        )
                    else:
                        generation = await asyncio.to_thread(
                            self.native.generate,
                            self.model,
                            self._native_prompt(run),
                            first=first,
                            max_tokens=self.max_tokens_per_step,
                            on_text=on_text,
                        )
                    thinking = getattr(generation, "thinking", None)
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
                        run.session_id,
                        run.run_id,
                        step,
                        generation.text,
                        self.model.name,
                        generation.prompt_tokens,
                        generation.output_tokens,
                        started,
                        thinking,
                    )
                    if generation.finish_reason == "length":
                        _audit.record(valid=False, model=self.model.name, reason="cut off")
                        problem = (
                            f"the reply was cut off after {generation.output_tokens} tokens"
                            " before the JSON was complete"
                        )
                        seconds = time.time() - started
                        run.steps.append(self._record_failed_step(record, problem, seconds))
                        emit(Event("step_error", step, {"error": problem}))
                        note = f"Error: {problem}. Reply with a shorter list."
                        self._add_turn(run, "user", note, "note", step)
                        continue
                    action = self._validated(space, generation.text)
                    if self.ground_arguments:
                        history = [t.message() for t in run.history]
                        context = conversation_text(history, self.instructions)
                        action = check_action(
                            action, space.tools, task=task, context=context, first_step=first
                        )
                        for kind, data in changes(action):
                            emit(Event(kind, step, data))
                        redone = None
                        if first:
                            redone = await asyncio.to_thread(
                                self._reviewed,
                                run,
                                step,
                                rows,
                                space,
                                action,
                                task,
                                context,
                                on_text,
                                emit,
                            )
                        if redone is not None:
                            action, generation = redone
                            record = replace(
                                record,
                                raw_output=generation.text,
                                output_tokens=generation.output_tokens,
                            )
                            for key in ("output_tokens", "forced_tokens"):
                                stats[key] += getattr(generation, key)
                            stats["generation_seconds"] += generation.seconds
                    if self.fan_out and first:
                        action = fan_out(action, space, task)
                        if action.calls_added:
                            added = action.calls[-action.calls_added :]
                            emit(Event("calls_added", step, {"calls": action_items(added)}))
                    self._add_turn(
                        run, "assistant", action_text(action), "action", step, thinking=thinking
                    )
                    if action.final_answer is not None:
                        output, status = action.final_answer, "completed"
                        emit(Event("final_answer", step, {"answer": output}))
                        break
                    calls = [(i, c.tool, dict(c.arguments)) for i, c in enumerate(action.calls)]
                    outcomes = await self._call_tools(record, calls, emit)
                    run.steps.extend(step for step, _ in outcomes)
                    extra = await self._escalate_substeps(run, step, action.calls, emit)
                    observations = self._observations([o for _, o in outcomes] + extra)
                    self._add_turn(run, "user", observations, "observation", step)
            except ContextOverflowError as exc:
                status, error = "error", f"the context window is full: {exc}"
            except BaseException as exc:
                self.memory.finish_run(
                    run.run_id,
                    status="error" if isinstance(exc, Exception) else "interrupted",
                    output=None,
                )
                raise
        self.memory.finish_run(run.run_id, status=status, output=output)
        rows = self.memory.escalations(run.session_id, run.run_id) if self.escalator else []
        escalations = [Escalation.from_row(row) for row in rows]
        result = RunResult(
            output, run.steps, run.session_id, status, error, run.run_id, stats, escalations
        )
        emit(Event("run_finished", data=result.as_dict()))
        return result

    def events(self, task: str, *, session_id: str | None = None) -> Iterator[Event]:
        """Run the task on a background thread and yield its events as they happen.

        The iterator form of ``run(task, on_event=...)``: the last event is "run_finished"
        (its data is ``RunResult.as_dict()``). An error of the run is raised here. Leaving
        the loop early (``break``) stops the run, which is then recorded as interrupted.
        """
        from agentsmall._background import BackgroundRun  # the loop needs no threads

        background = BackgroundRun(self, task, session_id=session_id).start()
        finished = False
        try:
            for item in background.items():
                if item.kind == "event" and item.event is not None:
                    yield item.event
                elif item.kind == "error" and item.error is not None:
                    finished = True
                    raise item.error
            finished = True
        finally:
            if not finished:
                background.stop()
                background.thread.join()

    # -- prompts -------------------------------------------------------------------------------

    def system_prompt(self, facts: Sequence[Fact] = ()) -> str:
        """The planner's system prompt: instructions, tool docs, and remembered facts if any.

        A native format lists the tools itself, the family's way: its system text says only
        how to work (`native_system.jinja`), never what a call looks like.
        """
        name = "planner_system.jinja" if self.native is None else "native_system.jinja"
        template = prompts().get_template(name)
        return template.render(
            instructions=self.instructions, tools=self.offered_tools, facts=list(facts)
        ).strip()

    def _observations(self, outcomes: list[CallOutcome]) -> str:
        # Our JSON planner is shown the final answer as JSON to copy; native formats, in words.
        template = prompts().get_template("observation.jinja")
        return template.render(outcomes=outcomes, json_actions=self.native is None).strip()

    def _prompt(self, run: RunState) -> list[ChatMessage]:
        """The chat for the next step, fitted to the context window (see `_compaction`).

        The budget leaves room for the longest reply a step may produce; a prompt that does
        not fit even when shortened raises ContextOverflowError, which ends the run.
        """
        messages, _ = fit(
            run.system,
            run.history,
            count=lambda prompt: self.model.count_prompt_tokens(prompt),  # type: ignore[arg-type]
            budget=self.model.context_length - self.max_tokens_per_step,
            current_run=run.run_id,
            keep_recent=self.keep_recent_steps,
        )
        return messages  # type: ignore[return-value]

    def _native_prompt(self, run: RunState) -> NativePrompt:
        """The native prompt of the next step, fitted the same way (see `agentsmall._native`)."""
        assert self.native is not None
        budget = self.model.context_length - self.max_tokens_per_step
        if self.native.thinking:
            budget -= self.native.max_thinking_tokens
        return self.native.prompt(
            self.model,
            run.system,
            run.history,
            budget=budget,
            current_run=run.run_id,
            keep_recent=self.keep_recent_steps,
        )

    # -- runs: new, continued, resumed -----------------------------------------------------------

    async def _finish_pending_step(self, run: RunState, emit: EventCallback) -> None:
        """Complete the step that was in flight: run only the calls not recorded as done."""
        assert run.pending is not None
        step, items = run.pending
        run.pending = None
        rows = {
            r["call_index"]: r
            for r in self.memory.steps(run.session_id, run.run_id)
            if r["step"] == step
        }
        missing = [
            (i, str(item["tool"]), dict(item.get("arguments") or {}))
            for i, item in enumerate(items)
            if i not in rows
        ]
        done: dict[int, tuple[Step, CallOutcome]] = {}
        for index, row in rows.items():
            outcome = _outcome(
                row["tool"] or "",
                row["arguments"] or {},
                row["result"],
                row["error"],
                row["seconds"],
                self.max_observation_chars,
            )
            done[index] = (step_of(row), outcome)
        if missing:
            first = next(iter(rows.values()), None)
            record = _StepContext(
                run.session_id,
                run.run_id,
                step,
                first["raw_output"] if first else json.dumps(items, ensure_ascii=False),
                self.model.name,
                first["prompt_tokens"] if first else 0,
                first["output_tokens"] if first else 0,
                time.time(),
            )
            ran = await self._call_tools(record, missing, emit)
            for (index, _, _), pair in zip(missing, ran, strict=True):
                done[index] = pair
        ordered = [done[i] for i in sorted(done)]
        run.steps = [s for s in run.steps if s.step != step] + [s for s, _ in ordered]
        observations = self._observations([outcome for _, outcome in ordered])
        self._add_turn(run, "user", observations, "observation", step)

    # -- tools -------------------------------------------------------------------------------------

    async def _call_tools(
        self,
        ctx: _StepContext,
        calls: list[tuple[int, str, dict[str, Any]]],
        emit: EventCallback,
    ) -> list[tuple[Step, CallOutcome]]:
        """Run the calls of one step concurrently, recording each one the moment it completes.

        Recording per call (not per step) is what lets a killed run resume without making a
        call again that had already completed, while its sibling calls were still running.
        """
        by_name = {t.name: t for t in self.tools}
        for _, tool_name, arguments in calls:
            emit(Event("tool_call", ctx.step, {"tool": tool_name, "arguments": arguments}))

        async def call(index: int, tool_name: str, arguments: dict[str, Any]) -> Any:
            tool_ = by_name.get(tool_name)
            if tool_name == ESCALATE and self.escalator is not None:
                outcome = await self._escalate_call(ctx, arguments, emit)
            elif tool_ is None:
                outcome = unknown_tool_outcome(
                    tool_name,
                    arguments,
                    available=list(by_name),
                    max_observation_chars=self.max_observation_chars,
                )
            else:
                outcome = await run_call(
                    tool_,
                    arguments,
                    max_observation_chars=self.max_observation_chars,
                    confirm=self.confirm,
                )
            return self._record_call(ctx, index, outcome), outcome

        results = await asyncio.gather(
            *(call(index, tool_name, arguments) for index, tool_name, arguments in calls)
        )
        for _, outcome in results:
            emit(
                Event(
                    "tool_result",
                    ctx.step,
                    {"tool": outcome.tool, "result": outcome.result, "error": outcome.error},
                )
            )
        return list(results)

    # -- escalation (policy, reasoner and checks live in agentsmall._escalation) -----------------

    def unload_reasoner(self) -> None:
        """Free the reasoner's memory if the agent loaded it (by name or path, or a `LazyModel`);
        it is loaded again at the next escalation. A `Model` passed in is left to its owner."""
        if self.escalator is not None:
            self.escalator.close()

    def _decide_tools(self, task: str) -> GateDecision | None:
        """The tool gate's decision for `task`, or None when no gate shapes step 1 (no gate, a
        native tool format, no tools, a model that cannot score texts, or a task too long for
        the scoring context)."""
        if self.tool_gate is None or self.native is not None or not self.tools:
            return None
        if not self.model.can_score:
            return None
        try:
            decision = self.tool_gate.decide(self.model, task, self.tools)
        except ContextOverflowError:
            return None  # a task too long to score: step 1 is the model's choice, as ungated
        if self.must_use_tool:  # the agent's own rule wins over a decision to answer
            offered = decision.offered or tuple(t.name for t in self.tools)
            decision = replace(decision, offered=offered, must_call=True)
        return decision

    def _validated(self, space: ActionSpace, text: str) -> StepAction:
        """A step's output parsed into its action, the result recorded in the validation audit
        (a DecodingError, which constrained decoding should make impossible, is raised)."""
        try:
            action = self.native.parse(space, text) if self.native else space.parse(text)
        except DecodingError as exc:
            _audit.record(valid=False, model=self.model.name, reason=str(exc))
            raise
        _audit.record(valid=True, model=self.model.name)
        return action

    def answer_step(
        self, escalations: Sequence[dict[str, Any]] = ()
    ) -> tuple[ActionSpace, JsonSchemaConstraint]:
        """The action space and constraint of a first step that may only answer (a withheld
        call's step; `escalations`: the run's escalation rows, none in `first_step`)."""
        return self._step_space(1, ANSWER_ONLY, escalations)

    def _reviewed(
        self,
        run: RunState,
        step: int,
        escalations: Sequence[dict[str, Any]],
        space: ActionSpace,
        action: StepAction,
        task: str,
        context: str,
        on_text: Callable[[str], None],
        emit: EventCallback,
    ) -> tuple[StepAction, Generation] | None:
        """The first step's action decoded again where it invents or repeats values
        (`agentsmall._review`), or None when it stands. Blocking: run on a worker thread."""

        def decode(
            space: ActionSpace, constraint: JsonSchemaConstraint
        ) -> tuple[StepAction, Generation] | None:
            # The prompt is the step's own, still in the KV cache: only the output is new.
            generation = self.model.generate(
                self._prompt(run),
                constraint=constraint,
                max_tokens=self.max_tokens_per_step,
                on_text=on_text,
            )
            if generation.finish_reason == "length":
                return None
            return self._validated(space, generation.text), generation

        return reviewed(
            self,
            action,
            space,
            task=task,
            context=context,
            gate=run.gate,
            answer=lambda: self.answer_step(escalations),
            decode=decode,
            emit=lambda kind, data: emit(Event(kind, step, data)),
        )

    def first_step(
        self, task: str
    ) -> tuple[ActionSpace, JsonSchemaConstraint, GateDecision | None]:
        """The action space and constraint the first planner step of `task` gets, with the tool
        gate's decision (None when there is no gate): what an evaluation of single steps needs.
        (Escalation rules are left out: they depend on the run.)"""
        gate = self._decide_tools(task)
        space, constraint = self._step_space(1, gate, [], task)
        return space, constraint, gate

    def _step_space(
        self,
        step: int,
        gate: GateDecision | None,
        escalations: Sequence[dict[str, Any]],
        task: str | None = None,
    ) -> tuple[ActionSpace, JsonSchemaConstraint]:
        """The action space of planner step `step` and its constraint.

        Step 1 follows the tool gate's decision `gate` when there is one (`agentsmall._relevance`):
        only the tools it found relevant, a call required or not; or no tool, and the step
        answers (`_decide_tools` has already let `must_use_tool` override that). With
        escalation the rules of `agentsmall._escalation` apply too: no ``escalate`` on the
        step after an escalation, and a task the reasoner answered before step 1 frees step 1
        from any duty to call (`escalations`: the run's escalation rows). Step 1 of `task`
        decodes arguments shaped by the task (`ActionSpace.shaped`).
        """
        tools = self.tools
        must_call = step == 1 and self.must_use_tool
        if gate is not None:
            tools = [t for t in tools if t.name in gate.offered]
            must_call = must_call or gate.must_call
        offer = False
        if self.escalator is not None:
            if any(r["step"] == 0 and r["answer"] is not None for r in escalations):
                must_call = False
            offer = self.escalator.offers_escalate(step, (r["step"] for r in escalations))
            if offer:
                tools = tools + self.escalator.tools
        must_call = must_call and bool(tools)  # with no tool to call, the step may answer
        shaped: dict[str, dict[str, Any]] = {}
        if step == 1 and task is not None and self.ground_arguments:
            shaped = {t.name: schema for t in tools if (schema := shaped_by_task(t, task))}
        key = (must_call, tuple(t.name for t in tools), json.dumps(shaped, sort_keys=True))
        if key not in self._spaces:
            space = ActionSpace.from_tools(
                tools,
                max_calls=self.actions.max_calls,
                allow_final_answer=not must_call,
                shaped=shaped,
            )
            if space.schema == self.actions.schema:
                self._spaces[key] = (self.actions, self.constraint)
            elif space.schema == self.first_actions.schema:
                self._spaces[key] = (self.first_actions, self.first_constraint)
            else:
                constraint = JsonSchemaConstraint(space.schema, list_of_unique_items=True)
                self._spaces[key] = (space, constraint)
        return self._spaces[key]

    async def _escalate(
        self,
        session_id: str,
        run_id: int,
        step: int,
        problem: str,
        trigger: Literal["planner", "task", "substep"],
        emit: EventCallback,
    ) -> CallOutcome:
        """Hand `problem` to the reasoner (recorded); the outcome is what the planner reads."""
        assert self.escalator is not None
        escalation = await self.escalator.escalate(
            problem,
            trigger=trigger,
            memory=self.memory,
            session_id=session_id,
            run_id=run_id,
            step=step,
            planner_model=self.model.name,
        )
        emit(Event("escalation", step, escalation.as_dict()))
        return self.escalator.outcome(escalation, max_observation_chars=self.max_observation_chars)

    async def _escalate_call(
        self, ctx: _StepContext, arguments: dict[str, Any], emit: EventCallback
    ) -> CallOutcome:
        """The planner called `escalate` (arguments read back on resume are checked again)."""
        problem = problem_of(arguments)
        if problem is None:
            error = "escalate needs a non-empty problem"
            return _outcome(ESCALATE, arguments, None, error, 0.0, self.max_observation_chars)
        assert self.escalator is not None
        rows = self.memory.escalations(ctx.session_id, ctx.run_id)
        earlier = self.escalator.earlier_answer(problem, rows)
        if earlier is not None:  # not sent to the reasoner again (rule 2 of _escalation)
            answer = already_answered(earlier)
            return _outcome(ESCALATE, arguments, answer, None, 0.0, self.max_observation_chars)
        return await self._escalate(ctx.session_id, ctx.run_id, ctx.step, problem, "planner", emit)

    async def _escalate_before_planning(
        self, run: RunState, task: str, emit: EventCallback
    ) -> None:
        """The policy escalates the task: the answer is an observation before step 1 (step 0)."""
        outcome = await self._escalate(run.session_id, run.run_id, 0, task, "task", emit)
        note = "The task was handed to the reasoning model first.\n"
        self._add_turn(run, "user", note + self._observations([outcome]), "observation", 0)

    async def _escalate_substeps(
        self, run: RunState, step: int, calls: Sequence[Any], emit: EventCallback
    ) -> list[CallOutcome]:
        """Escalate the step's tool-call arguments that read as math (the `auto` policy)."""
        if self.escalator is None:
            return []
        done = [row["problem"] for row in self.memory.escalations(run.session_id, run.run_id)]
        return [
            await self._escalate(run.session_id, run.run_id, step, problem, "substep", emit)
            for problem in self.escalator.substep_problems(calls, done)
        ]

    # -- memory --------------------------------------------------------------------------------

    def _add_turn(
        self,
        run: RunState,
        role: str,
        content: str,
        kind: TurnKind,
        step: int | None,
        thinking: str | None = None,
    ) -> None:
        """Record a message (committed at once) and add it to the run's history.

        `thinking` is recorded with the message but never enters the history (the prompts).
        """
        self.memory.add_message(
            session_id=run.session_id,
            run_id=run.run_id,
            role=role,
            content=content,
            step=step,
            thinking=thinking,
        )
        run.history.append(Turn(role, content, kind, run.run_id, step))

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
        items = action_items(action.calls)
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
    thinking: str | None = None

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
            thinking=self.thinking,
        )
