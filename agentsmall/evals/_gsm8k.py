"""The GSM8K harness: the real agent with the calculator tools, judged on its final number.

Scoring is GSM8K's usual one: the number after ``####`` in the reference (commas removed)
against the last number in the agent's final answer (commas removed), compared as decimals so
that "18.0" equals "18". A run without a final answer is wrong.
"""

from __future__ import annotations

import re
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from agentsmall import _audit
from agentsmall._agent_spec import load_agent_spec
from agentsmall.agent import Agent, RunResult
from agentsmall.errors import ConfigError
from agentsmall.evals._data import Gsm8kItem
from agentsmall.models import Model

GSM8K_MODES = ("planner", "escalate")

_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")


def last_number(text: str | None) -> str | None:
    """The last number written in `text`, commas removed ("$1,234.50." → "1234.50")."""
    if not text:
        return None
    found = _NUMBER.findall(text)
    return found[-1].replace(",", "") if found else None


def same_number(a: str | None, b: str | None) -> bool:
    if a is None or b is None:
        return False
    try:
        return Decimal(a) == Decimal(b)
    except InvalidOperation:
        return False


def check_gsm8k_mode(mode: str) -> None:
    """Refuse modes that cannot run, with a message that says what to use instead."""
    if mode not in GSM8K_MODES:
        raise ConfigError(f"unknown gsm8k mode {mode!r}; modes: {', '.join(GSM8K_MODES)}")


@dataclass(frozen=True)
class Gsm8kResult:
    item: Gsm8kItem
    run: RunResult
    predicted: str | None
    correct: bool
    seconds: float
    mode: str = "planner"

    def as_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "index": self.item.index,
            "question": self.item.question,
            "expected": self.item.expected,
            "predicted": self.predicted,
            "correct": self.correct,
            "status": self.run.status,
            "output": self.run.output,
            "steps": [s.as_dict() for s in self.run.steps],
            "planner_steps": self.run.stats.get("planner_steps", 0),
            "escalations": [e.as_dict() for e in self.run.escalations],
            "seconds": round(self.seconds, 4),
        }


@dataclass(frozen=True)
class Gsm8kRun:
    report: dict[str, Any]
    results: list[Gsm8kResult]


def run_gsm8k(
    model: Model,
    items: Sequence[Gsm8kItem],
    *,
    mode: str = "planner",
    on_result: Callable[[Gsm8kResult], None] | None = None,
    reasoner: Model | None = None,
) -> Gsm8kRun:
    """Run the calculator agent (the ready `calculator` agent: its instructions, tools and
    first-step-must-call-a-tool rule) on each question and score its final answer."""
    return run_gsm8k_modes(model, items, modes=[mode], on_result=on_result, reasoner=reasoner)[mode]


@dataclass
class _ModeState:
    """One mode's agent and what it has produced so far."""

    mode: str
    agent: Agent
    results: list[Gsm8kResult] = field(default_factory=list)
    audits: list[tuple[int, int]] = field(default_factory=list)
    """Per item: constrained outputs that validated, and all of them (planner steps and
    reasoner answers)."""

    def run_item(self, item: Gsm8kItem) -> Gsm8kResult:
        before = _audit.tally()
        started = time.perf_counter()
        run = self.agent.run(item.question)
        seconds = time.perf_counter() - started
        after = _audit.tally()
        self.audits.append((after.valid - before.valid, after.total - before.total))
        predicted = last_number(run.output) if run.status == "completed" else None
        result = Gsm8kResult(
            item, run, predicted, same_number(predicted, item.expected), seconds, self.mode
        )
        self.results.append(result)
        return result

    def report(self, model: Model, reasoner: Model | None, n: int | None = None) -> Gsm8kRun:
        """The figures of the first `n` results (all by default)."""
        results = self.results[:n] if n is not None else self.results
        count = len(results)
        valid = sum(v for v, _ in self.audits[:count])
        outputs = sum(t for _, t in self.audits[:count])
        report: dict[str, Any] = {
            "category": "gsm8k",
            "mode": self.mode,
            "n": count,
            "accuracy": sum(r.correct for r in results) / count if count else 0.0,
            "valid_rate": valid / outputs if outputs else 0.0,
            "mean_seconds": sum(r.seconds for r in results) / count if count else 0.0,
            "correct": sum(r.correct for r in results),
            "completed": sum(r.run.status == "completed" for r in results),
            "planner_steps": sum(r.run.stats.get("planner_steps", 0) for r in results),
            "model": model.name,
        }
        if self.mode == "escalate":
            report["reasoner"] = (reasoner or model).name
            report.update(escalation_figures(results))
        return Gsm8kRun(report, list(results))


class Gsm8kStopped(KeyboardInterrupt):
    """A multi-mode run stopped half way (Ctrl-C, or SIGTERM in the CLI).

    `runs` holds each mode's figures over the items *every* mode finished (the first
    `paired` items), so what is reported is still a like-for-like comparison; if no item was
    finished by every mode, each mode's own finished items (`paired` is 0).
    """

    def __init__(self, runs: dict[str, Gsm8kRun], paired: int) -> None:
        super().__init__(f"stopped after {paired} items in every mode")
        self.runs = runs
        self.paired = paired


def run_gsm8k_modes(
    model: Model,
    items: Sequence[Gsm8kItem],
    *,
    modes: Sequence[str],
    reasoner: Model | None = None,
    on_result: Callable[[Gsm8kResult], None] | None = None,
    on_mode: Callable[[str, Gsm8kRun], None] | None = None,
    interleave: bool = False,
) -> dict[str, Gsm8kRun]:
    """Several modes side by side in this one process: the same items, the same planner
    model (loaded once), each mode with its own agent and memory file.

    By default one mode after the other; `on_mode(mode, run)` is called as each mode
    finishes, so its figures can be shown at once. With `interleave`, every mode runs an item
    before the next item starts: on a machine whose load changes the modes see the same load,
    and a run stopped half way still compares the same items (see `Gsm8kStopped`).

    escalate mode: every question goes to the reasoner first (policy "always"; the planner
    model stands in as its own reasoner unless one is given), then the planner goes on.
    """
    for mode in modes:
        check_gsm8k_mode(mode)
    if not items:
        raise ConfigError("no items to evaluate")
    spec = load_agent_spec("calculator")
    states: dict[str, _ModeState] = {}
    with tempfile.TemporaryDirectory(prefix="agentsmall-gsm8k-") as tmp:
        try:
            for mode in dict.fromkeys(modes):
                escalation = {"reasoner": reasoner or model, "escalation": "always"}
                options = {**spec.agent_kwargs(), **(escalation if mode == "escalate" else {})}
                agent = Agent(model, memory=Path(tmp) / f"gsm8k-{mode}.db", **options)
                states[mode] = _ModeState(mode, agent)
            order = (
                [(item, state) for item in items for state in states.values()]
                if interleave
                else [(item, state) for state in states.values() for item in items]
            )
            for item, state in order:
                result = state.run_item(item)
                if on_result is not None:
                    on_result(result)
                if not interleave and on_mode is not None and len(state.results) == len(items):
                    on_mode(state.mode, state.report(model, reasoner))
        except KeyboardInterrupt as exc:
            paired = min(len(state.results) for state in states.values()) if states else 0
            runs = {
                mode: state.report(model, reasoner, paired or None)
                for mode, state in states.items()
                if state.results
            }
            raise Gsm8kStopped(runs, paired) from exc
        finally:
            for state in states.values():
                state.agent.memory.close()
    return {mode: state.report(model, reasoner) for mode, state in states.items()}


def escalation_figures(results: Sequence[Gsm8kResult]) -> dict[str, Any]:
    """What escalation did over a run: how many, how they were checked, whether they were
    right (the reasoner's stated answer, and the answer after the calculator's check, each
    against the item's reference), and what they cost."""
    pairs = [(r, e) for r in results for e in r.run.escalations]
    checks = [e.check for _, e in pairs]
    return {
        "escalations": len(pairs),
        "task_escalations": sum(e.trigger == "task" for _, e in pairs),
        "verified": sum(e.verified for _, e in pairs),
        "corrected": checks.count("corrected"),
        "nothing_to_check": checks.count("nothing to check"),
        "unchecked": checks.count("unchecked"),
        "failed": checks.count("failed"),
        "reasoner_right": sum(
            same_number(last_number(e.stated_answer), r.item.expected) for r, e in pairs
        ),
        "checked_answer_right": sum(
            same_number(last_number(e.answer), r.item.expected) for r, e in pairs
        ),
        "reasoner_output_tokens": sum(e.output_tokens for _, e in pairs),
        "reasoner_seconds": round(sum(e.seconds for _, e in pairs), 1),
    }
