"""The BFCL harness: each item's first planner step, in each mode, judged by BFCL's rules.

The model sees what the agent would show it: our planner system prompt (rendered by
`Agent.system_prompt`) with the item's functions as tools, then the item's messages. (An item's
own system message is added to the agent's instructions, so there is one system prompt.) The
step is decoded in each mode and validated by the agent's own `ActionSpace`; a `final_answer`
step means "no call". The validated calls (repeats dropped, as the agent would run them) go to
the checker under their BFCL names. In the ``agentsmall`` mode the step is the agent's own
first step: its action space shaped by the tool gate (`agentsmall._relevance`, whose scoring
time counts as the item's) and its calls grounded (`agentsmall._grounding`); ``raw`` and
``gbnf`` get the plain action space and the calls as written.

Accuracy counts only valid outputs: a cut-off or unparsable output is wrong in every category,
including irrelevance, where it never counts as an abstention. For comparison with BFCL's own
(more lenient) relevance rule, irrelevance reports also carry ``bfcl_rule_accuracy``.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from agentsmall import _fanout
from agentsmall._actions import ActionSpace, StepAction
from agentsmall._grounding import check_action, conversation_text
from agentsmall._relevance import GateDecision
from agentsmall._review import reviewed
from agentsmall.agent import DEFAULT_GATE, DEFAULT_INSTRUCTIONS, Agent
from agentsmall.errors import ConfigError
from agentsmall.evals._checker import check_calls, check_irrelevance
from agentsmall.evals._data import BfclItem, is_irrelevance
from agentsmall.evals._modes import MODES, Attempt, lists_a_call, run_step
from agentsmall.evals._schema import tools_for
from agentsmall.memory import Memory
from agentsmall.models import ChatMessage, JsonSchemaConstraint, Model

DEFAULT_MAX_TOKENS = 256
"""Tokens per step, the agent's own default (`Agent.max_tokens_per_step`)."""


@dataclass(frozen=True)
class ItemResult:
    """One item in one mode; `as_dict` is its line in the per-item JSONL file."""

    item: BfclItem
    mode: str
    attempt: Attempt
    calls: list[dict[str, Any]] | None
    """The answer in BFCL's format ``[{name: params}]``; ``[]`` for a final answer."""
    correct: bool
    error_type: str
    errors: tuple[str, ...]
    bfcl_rule_correct: bool | None = None
    """Irrelevance only: the verdict under BFCL's rule (anything that is not a call counts)."""
    gate: GateDecision | None = None
    """The tool gate's decision that shaped the step (agentsmall mode)."""

    def as_dict(self) -> dict[str, Any]:
        a = self.attempt
        return {
            "id": self.item.id,
            "category": self.item.category,
            "mode": self.mode,
            "correct": self.correct,
            "valid": a.valid,
            "finish_reason": a.finish_reason,
            "error_type": self.error_type or None,
            "errors": list(self.errors),
            "problem": a.problem,
            "calls": self.calls,
            "final_answer": a.action.final_answer if a.action else None,
            "duplicates_dropped": a.action.duplicates_dropped if a.action else 0,
            "ungrounded_dropped": list(a.action.ungrounded_dropped) if a.action else [],
            "ungrounded_calls_dropped": (
                list(a.action.ungrounded_calls_dropped) if a.action else []
            ),
            "copies_repaired": list(a.action.copies_repaired) if a.action else [],
            "as_fractions": list(a.action.as_fractions) if a.action else [],
            "dates_formatted": list(a.action.dates_formatted) if a.action else [],
            "scaled": list(a.action.scaled) if a.action else [],
            "repeats_dropped": list(a.action.repeats_dropped) if a.action else [],
            "invented": list(a.action.invented) if a.action else [],
            "held": a.action.held if a.action else False,
            "repeated": list(a.action.repeated) if a.action else [],
            "calls_added": a.action.calls_added if a.action else 0,
            "output": a.text,
            "seconds": round(a.seconds, 4),
            "cpu_seconds": round(a.cpu_seconds, 4),
            "output_tokens": a.output_tokens,
            "prompt_tokens": a.prompt_tokens,
            "ground_truth": self.item.ground_truth,
            "gate": self.gate.as_dict() if self.gate else None,
            **(
                {}
                if self.bfcl_rule_correct is None
                else {"bfcl_rule_correct": self.bfcl_rule_correct}
            ),
        }


@dataclass(frozen=True)
class BfclRun:
    report: dict[str, Any]
    """JSON-able: the first mode's figures at the top level (the DESIGN contract keys
    category, n, accuracy, valid_rate, mean_seconds), and every mode's under "modes"."""
    results: list[ItemResult]


@dataclass(frozen=True)
class _Prepared:
    item: BfclItem
    agent: Agent
    messages: list[ChatMessage]
    bfcl_names: dict[str, str]
    space: ActionSpace
    """The agent's first-step action space for this item (shaped by the tool gate)."""
    constraint: JsonSchemaConstraint
    gate: GateDecision | None
    gate_seconds: float
    gate_cpu_seconds: float


def _prepare(
    model: Model,
    item: BfclItem,
    memory: Memory,
    max_tokens: int,
    *,
    tool_gate: bool = True,
    ground_arguments: bool = True,
) -> _Prepared:
    bfcl = tools_for(item.functions)
    system_parts = [m["content"] for m in item.messages if m["role"] == "system"]
    instructions = "\n\n".join([DEFAULT_INSTRUCTIONS, *system_parts])
    agent = Agent(
        model,
        tools=bfcl.tools,
        memory=memory,
        instructions=instructions,
        max_tokens_per_step=max_tokens,
        tool_gate=DEFAULT_GATE if tool_gate else None,
        ground_arguments=ground_arguments,
    )
    messages: list[ChatMessage] = [{"role": "system", "content": agent.system_prompt()}]
    messages += [
        {"role": m["role"], "content": m["content"]} for m in item.messages if m["role"] != "system"
    ]
    task = next(m["content"] for m in reversed(messages) if m["role"] == "user")
    started, cpu_started = time.perf_counter(), time.process_time()
    space, constraint, gate = agent.first_step(task)
    return _Prepared(
        item,
        agent,
        messages,
        bfcl.bfcl_names,
        space,
        constraint,
        gate,
        time.perf_counter() - started,
        time.process_time() - cpu_started,
    )


def _as_agent_runs(
    model: Model,
    p: _Prepared,
    attempt: Attempt,
    *,
    max_tokens: int,
    ground_arguments: bool,
    fan_out: bool,
) -> Attempt:
    """The attempt as the agent's first step runs it: names miscopied from the task repaired,
    grounded, percentages passed as fractions (`agentsmall._grounding`), its call withheld for
    invented values and the step decoded again, held to the task's values or to answer, or
    decoded again for a value repeated in another argument (`agentsmall._review`, as the
    agent does), then completed for listed values (`agentsmall._fanout`). The time of every
    decoding counts."""
    action = attempt.action
    if action is None:
        return attempt
    task = _fanout.task_text(p.messages)
    if ground_arguments:
        context = conversation_text(p.messages, p.agent.instructions)
        action = check_action(action, p.space.tools, task=task, context=context, first_step=True)

        def decode(
            space: ActionSpace, constraint: JsonSchemaConstraint
        ) -> tuple[StepAction, Attempt] | None:
            retry = run_step(
                model, "agentsmall", p.messages, space, constraint=constraint, max_tokens=max_tokens
            )
            nonlocal attempt
            attempt = _plus_time(attempt, retry)  # every decoding's time counts
            return None if retry.action is None else (retry.action, retry)

        redone = reviewed(
            p.agent,
            action,
            p.space,
            task=task,
            context=context,
            gate=p.gate,
            answer=p.agent.answer_step,
            decode=decode,
            emit=lambda kind, data: None,
        )
        if redone is not None:
            action = redone[0]
            attempt = _taking_text(attempt, redone[1])
    if fan_out:
        action = _fanout.fan_out(action, p.space, task)
    return replace(attempt, action=action)


def _taking_text(attempt: Attempt, redone: Attempt) -> Attempt:
    """`attempt` with the text of the step decoded again (`redone`), whose action it takes."""
    return replace(attempt, text=redone.text, output_tokens=redone.output_tokens)


def _plus_time(attempt: Attempt, more: Attempt) -> Attempt:
    """`attempt` with the time of a step decoded again (`more`) added."""
    return replace(
        attempt,
        seconds=attempt.seconds + more.seconds,
        cpu_seconds=attempt.cpu_seconds + more.cpu_seconds,
    )


def judge(
    item: BfclItem,
    mode: str,
    attempt: Attempt,
    bfcl_names: dict[str, str],
    gate: GateDecision | None = None,
) -> ItemResult:
    """Check one attempt against the item by BFCL's rules (see the module docstring)."""
    action = attempt.action
    calls = (
        None
        if action is None
        else [{bfcl_names.get(c.tool, c.tool): dict(c.arguments)} for c in action.calls]
    )
    if is_irrelevance(item.category):
        verdict = check_irrelevance(valid=action is not None, calls=calls)
        lenient = not (calls if action is not None else lists_a_call(attempt.first_json))
        return ItemResult(
            item,
            mode,
            attempt,
            calls,
            verdict.valid,
            verdict.error_type,
            verdict.errors,
            lenient,
            gate,
        )
    if action is None:
        kind = "cut_off" if attempt.finish_reason == "length" else "invalid_output"
        problem = (attempt.problem or "",)
        return ItemResult(item, mode, attempt, None, False, kind, problem, gate=gate)
    assert item.ground_truth is not None
    verdict = check_calls(item.category, item.functions, calls, item.ground_truth)
    return ItemResult(
        item, mode, attempt, calls, verdict.valid, verdict.error_type, verdict.errors, gate=gate
    )


def summarize(category: str, mode: str, results: Sequence[ItemResult]) -> dict[str, Any]:
    """The report of one mode: the DESIGN contract keys first, then the detail."""
    n = len(results)
    report: dict[str, Any] = {
        "category": category,
        "mode": mode,
        "n": n,
        "accuracy": sum(r.correct for r in results) / n if n else 0.0,
        "valid_rate": sum(r.attempt.valid for r in results) / n if n else 0.0,
        "mean_seconds": sum(r.attempt.seconds for r in results) / n if n else 0.0,
        "mean_cpu_seconds": sum(r.attempt.cpu_seconds for r in results) / n if n else 0.0,
        "correct": sum(r.correct for r in results),
        "valid": sum(r.attempt.valid for r in results),
        "cut_off": sum(
            r.attempt.finish_reason == "length" and not r.attempt.valid for r in results
        ),
        "no_call": sum(r.calls == [] for r in results),
        "mean_output_tokens": sum(r.attempt.output_tokens for r in results) / n if n else 0.0,
    }
    if is_irrelevance(category):
        report["bfcl_rule_accuracy"] = (
            sum(bool(r.bfcl_rule_correct) for r in results) / n if n else 0.0
        )
    return report


def run_bfcl(
    model: Model,
    items: Sequence[BfclItem],
    *,
    modes: Sequence[str] = ("agentsmall",),
    max_tokens: int = DEFAULT_MAX_TOKENS,
    on_result: Callable[[ItemResult], None] | None = None,
    tool_gate: bool = True,
    ground_arguments: bool = True,
    fan_out: bool = True,
) -> BfclRun:
    """Evaluate `items` (one category) in each mode on one model.

    Modes run one after the other over all items (not interleaved per item), so that no mode
    finds the item's prompt already in the KV cache from the mode before it.
    """
    if not items:
        raise ConfigError("no items to evaluate")
    categories = {i.category for i in items}
    if len(categories) != 1:
        raise ConfigError(f"items from several categories: {sorted(categories)}")
    unknown = [m for m in modes if m not in MODES]
    if unknown or not modes:
        raise ConfigError(f"unknown mode(s) {unknown}; modes: {', '.join(MODES)}")
    modes = list(dict.fromkeys(modes))
    if "gbnf" in modes and getattr(model, "_llm", None) is None:
        raise ConfigError(f"mode gbnf needs a llama.cpp model; {model.name} is not one")
    category = items[0].category
    by_mode: dict[str, list[ItemResult]] = {}
    with tempfile.TemporaryDirectory(prefix="agentsmall-eval-") as tmp:
        memory = Memory(Path(tmp) / "eval.db")
        try:
            # Prepared as the first mode reaches each item, so progress shows from the start.
            prepared: dict[int, _Prepared] = {}
            for mode in modes:
                results = by_mode.setdefault(mode, [])
                for index, item in enumerate(items):
                    if index not in prepared:
                        prepared[index] = _prepare(
                            model,
                            item,
                            memory,
                            max_tokens,
                            tool_gate=tool_gate,
                            ground_arguments=ground_arguments,
                        )
                    p = prepared[index]
                    # Our mode decodes the agent's own first step, tool gate included (its
                    # time is the item's time too); raw and gbnf get the plain action space.
                    ours = mode == "agentsmall"
                    attempt = run_step(
                        model,
                        mode,
                        p.messages,
                        p.space if ours else p.agent.actions,
                        constraint=p.constraint if ours else p.agent.constraint,
                        max_tokens=max_tokens,
                    )
                    if ours:
                        attempt = _as_agent_runs(
                            model,
                            p,
                            attempt,
                            max_tokens=max_tokens,
                            ground_arguments=ground_arguments,
                            fan_out=fan_out,
                        )
                        attempt = replace(
                            attempt,
                            seconds=attempt.seconds + p.gate_seconds,
                            cpu_seconds=attempt.cpu_seconds + p.gate_cpu_seconds,
                        )
                    result = judge(p.item, mode, attempt, p.bfcl_names, p.gate if ours else None)
                    results.append(result)
                    if on_result is not None:
                        on_result(result)
        finally:
            memory.close()
    reports = {mode: summarize(category, mode, results) for mode, results in by_mode.items()}
    report = {**reports[modes[0]], "model": model.name, "max_tokens": max_tokens}
    report["modes"] = reports
    return BfclRun(report, [r for mode in modes for r in by_mode[mode]])
