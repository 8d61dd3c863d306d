"""Escalation: math and multi-step sub-steps go to a reasoning model, verified and accounted for.

Small planners pick tools well but cannot do multi-step arithmetic. With a reasoner configured
(`Agent(..., reasoner=..., escalation=...)`) a sub-step can be handed to a second model:

* **Policy.** ``"never"``: nothing is escalated and ``escalate`` is not offered. ``"auto"``
  (default): the planner's constrained action set gains ``escalate(problem)``, and the task (before
  the first step) and every string argument of a planner tool call (a sub-step) are escalated
  when :func:`looks_like_math` fires on them. ``"always"``: ``escalate`` is offered and the task
  is escalated before the first step whatever it says.
* **The planner acts on an answer instead of asking again.** A small planner offered
  ``escalate`` calls it step after step, often re-sending the answer it was just given as a new
  "problem". Two rules stop that by design (`Escalator.offers_escalate`,
  `Escalator.earlier_answer`):

  1. *No escalate right after an escalation.* The step after one that escalated (the task's
     escalation counts as step 0) is decoded without ``escalate`` in its action space: the
     planner must use a tool or give the final answer. When the task's escalation produced an
     answer, step 1 may also give the final answer even if the agent's first step must
     otherwise call a tool (``must_use_tool``): the answer came from the reasoner and was
     checked by the calculator, so it is not one "from memory".
  2. *An answered problem is not sent again.* An ``escalate`` call whose problem is one the run
     already escalated, or is an answer the reasoner already gave (compared without case,
     spaces and trailing punctuation; numbers by value), does not reach the reasoner: the
     planner reads the earlier answer, its verification, and "already answered".
* **Reasoner.** It thinks *without* a constraint first (constraints hurt reasoning: "Let Me
  Speak Freely?", arXiv 2408.02442), then, in a second generation that sees its own thinking,
  writes ``{"answer", "expression", "explanation"}`` under a JSON-schema constraint. The
  thinking is stored in memory (the ``escalations`` table) and never put in the planner's
  context: the planner sees the answer and the verification only.
* **Verification.** The ``expression`` is evaluated by the safe calculator. The answer is
  *verified* iff the expression contains at least one operation (``+ - * / ** %`` between
  numbers, or a function such as ``sqrt``) and the calculator agrees with the stated answer.
  A bare number (answer ``12``, expression ``12``) is not a check, only the claim written
  twice: it is ``verified=False`` with check ``"nothing to check"``. On a mismatch the
  planner is told
  ("the reasoner answered X but its expression evaluates to Y") and is given the calculator's
  value as the answer, saying so; an expression that cannot be evaluated leaves the answer
  unverified, also said. Nothing is hidden.
* **Accounting.** Every escalation is a row in SQLite (both models, tokens in and out, seconds,
  verified or not, the thinking) and an entry of `RunResult.escalations`.

The loop in `agentsmall.agent` only calls into this module (`Escalator`); everything about
*when* and *how* lives here.
"""

from __future__ import annotations

import ast
import asyncio
import json
import os
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import cache
from importlib import resources
from typing import Annotated, Any, Literal, get_args

import jsonschema
from pydantic import Field

from agentsmall import _audit
from agentsmall._runner import CallOutcome, _outcome
from agentsmall._tool import Tool, _loop_tool
from agentsmall.errors import ConfigError, ContextOverflowError, DecodingError
from agentsmall.memory import EscalationRecord, Memory
from agentsmall.models import ChatMessage, JsonSchemaConstraint, LazyModel, Model

__all__ = [
    "ANSWER_SCHEMA",
    "ESCALATE",
    "POLICIES",
    "Check",
    "Escalation",
    "EscalationPolicy",
    "Escalator",
    "Reasoner",
    "check_answer",
    "looks_like_math",
]

ESCALATE = "escalate"

EscalationPolicy = Literal["auto", "never", "always"]
POLICIES: tuple[str, ...] = get_args(EscalationPolicy)

Trigger = Literal["planner", "task", "substep"]

# -- the math detector -------------------------------------------------------------------------

_NUMBER_WORDS = (
    "zero|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|"
    "fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|hundred|thousand|dozen"
)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*|\b(?:" + _NUMBER_WORDS + r")\b", re.IGNORECASE)
# An operator between two numbers. A bare minus ("555-1234", "2024-05-01") is a phone number or
# a date far more often than a subtraction, so minus counts only with spaces around it.
_OPERATOR = re.compile(r"\d\s*[+*/\u00d7\u00f7x]\s*\d|\d\s+[-\u2212]\s+\d")
_ARITHMETIC_WORDS = re.compile(
    r"\b(?:plus|minus|times|multipl\w*|divid\w*|sum|total|difference|product|quotient|"
    r"percent|twice|half|double|triple|average|altogether|remain\w*|left|each|per|"
    r"how many|how much|more than|less than|fewer)\b|%",
    re.IGNORECASE,
)


def looks_like_math(text: str) -> bool:
    """Whether `text` reads as an arithmetic problem: the `auto` policy's detector.

    The rule: **at least two numbers** (digits, or number words such as "three" or "dozen")
    **and** either an **arithmetic operator** between two numbers (``+ * / x``, the times and
    division signs, or a minus with spaces around it) or an **arithmetic word** ("plus",
    "times", "total", "each", "per", "how many", "how much", "percent", "left", ... or a ``%``
    sign). One number is a lookup,
    not a calculation; numbers without an operation (dates, phone numbers, order ids) are data.
    """
    if len(_NUMBER.findall(text)) < 2:
        return False
    return bool(_OPERATOR.search(text) or _ARITHMETIC_WORDS.search(text))


# -- the reasoner ------------------------------------------------------------------------------

ANSWER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "answer": {"type": "string", "minLength": 1, "maxLength": 32},
        "expression": {"type": "string", "maxLength": 120},
        "explanation": {"type": "string", "maxLength": 120},
    },
    "required": ["answer", "expression", "explanation"],
    "additionalProperties": False,
}
"""The reasoner's constrained answer. Every string is bounded, so the JSON can always be
finished within `Reasoner.answer_tokens` (each token is at least one character): a small model
cannot run on until it is cut off."""

_ANSWER_VALIDATOR = jsonschema.Draft202012Validator(ANSWER_SCHEMA)


@cache
def _prompt(name: str) -> str:
    return resources.files("agentsmall").joinpath("prompts", name).read_text().strip()


@dataclass
class Reasoner:
    """A model used as the reasoner, with its token budgets.

    `think_tokens` bounds the free thinking, `answer_tokens` the constrained answer (enough to
    always finish it; see `ANSWER_SCHEMA`).
    """

    model: Model
    think_tokens: int = 384
    answer_tokens: int = 400

    def think_messages(self, problem: str) -> list[ChatMessage]:
        return [
            {"role": "system", "content": _prompt("reasoner_think.jinja")},
            {"role": "user", "content": problem},
        ]

    def answer_messages(self, problem: str, thinking: str) -> list[ChatMessage]:
        return [
            *self.think_messages(problem),
            {"role": "assistant", "content": thinking},
            {"role": "user", "content": _prompt("reasoner_answer.jinja")},
        ]


@dataclass(frozen=True)
class Check:
    """The calculator's verdict on a reasoner answer."""

    answer: str | None
    """What the planner is given: the stated answer, or the calculator's value if they differ."""
    verified: bool
    result: Literal["agrees", "corrected", "nothing to check", "unchecked", "failed"]
    """"agrees": verified. "corrected": the expression's value differs and replaces the stated
    answer. "nothing to check": the expression is a bare number, no operation. "unchecked":
    no expression, or one the calculator refuses. "failed": the reasoner gave no answer."""
    calculated: str | None
    note: str


def _number(text: str | None) -> Decimal | None:
    """The last number in `text` ("$1,234.50" → 1234.50), or None."""
    if not text:
        return None
    found = re.findall(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+", text)
    if not found:
        return None
    try:
        return Decimal(found[-1].replace(",", ""))
    except InvalidOperation:
        return None


def _show(value: int | float) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return str(value)


def has_operation(expression: str) -> bool:
    """Whether a calculator expression computes something: a binary operation or a function
    call. ``12``, ``(12)`` and ``-12`` do not; ``12*24-150`` and ``sqrt(16)`` do."""
    from agentsmall.tools.calculator import _normalize

    try:
        tree = ast.parse(_normalize(expression), mode="eval")
    except (SyntaxError, RecursionError, MemoryError):
        return False
    return any(isinstance(node, ast.BinOp | ast.Call) for node in ast.walk(tree))


def check_answer(stated: str, expression: str) -> Check:
    """Check a stated answer against the calculator's value of the reasoner's expression.

    Verified iff the expression has an operation and its value equals the stated number (to
    1e-9 relative). A bare-number expression is reported as "nothing to check", never as
    verified: agreeing with itself proves nothing. A mismatch is never hidden: the note says
    what the reasoner answered and what the expression evaluates to, and the calculator's
    value becomes the answer (an expression is checked arithmetic; a stated number is only a
    claim).
    """
    from agentsmall.tools.calculator import evaluate

    stated = stated.strip()
    expression = expression.strip()
    if not expression:
        return Check(
            stated, False, "unchecked", None, "unverified: the reasoner gave no expression to check"
        )
    try:
        value = evaluate(expression)
    except (ValueError, ZeroDivisionError) as exc:
        return Check(
            stated,
            False,
            "unchecked",
            None,
            f"unverified: the reasoner's expression {expression} could not be evaluated ({exc})",
        )
    shown = _show(value)
    claimed = _number(stated)
    exact = Decimal(str(value))
    if not has_operation(expression):
        same = claimed is not None and claimed == exact
        return Check(
            stated,
            False,
            "nothing to check",
            shown,
            f"unverified: the reasoner's expression {expression} is a bare number, "
            "nothing for the calculator to check"
            + ("" if same else f" (and it is not the stated answer {stated})"),
        )
    if claimed is not None and abs(claimed - exact) <= Decimal("1e-9") * max(1, abs(exact)):
        return Check(
            stated,
            True,
            "agrees",
            shown,
            f"verified: the calculator agrees that {expression} = {shown}",
        )
    return Check(
        shown,
        False,
        "corrected",
        shown,
        f"the reasoner answered {stated} but its expression {expression} evaluates to {shown}; "
        f"the calculator's value {shown} is given as the answer instead",
    )


# -- escalations -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Escalation:
    """One sub-step handed to the reasoner: what it answered, whether it checked out, its cost."""

    problem: str
    answer: str | None
    model: str
    seconds: float
    verified: bool
    prompt_tokens: int
    output_tokens: int
    trigger: str
    step: int
    stated_answer: str | None = None
    expression: str | None = None
    calculated: str | None = None
    check: str = "failed"
    note: str = ""
    error: str | None = None
    planner_model: str = ""
    thinking: str = field(default="", repr=False)
    """Kept in memory, left out of `as_dict` and of everything the planner sees."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "problem": self.problem,
            "answer": self.answer,
            "model": self.model,
            "seconds": round(self.seconds, 4),
            "verified": self.verified,
            "prompt_tokens": self.prompt_tokens,
            "output_tokens": self.output_tokens,
            "trigger": self.trigger,
            "step": self.step,
            "stated_answer": self.stated_answer,
            "expression": self.expression,
            "calculated": self.calculated,
            "check": self.check,
            "note": self.note,
            "error": self.error,
            "planner_model": self.planner_model,
        }

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Escalation:
        return cls(
            problem=row["problem"],
            answer=row["answer"],
            model=row["model"],
            seconds=row["seconds"],
            verified=bool(row["verified"]),
            prompt_tokens=row["prompt_tokens"],
            output_tokens=row["output_tokens"],
            trigger=row["trigger"],
            step=row["step"],
            stated_answer=row["stated_answer"],
            expression=row["expression"],
            calculated=row["calculated"],
            check=row["check_result"],
            note=row["note"] or "",
            error=row["error"],
            planner_model=row["planner_model"] or "",
            thinking=row["thinking"] or "",
        )

    def observation(self) -> dict[str, Any]:
        """What the planner reads: the answer and the verification, never the thinking."""
        return {"answer": self.answer, "verified": self.verified, "note": self.note}


def _escalate_tool(
    problem: Annotated[str, Field(min_length=1)],
) -> dict:  # type: ignore[type-arg]  # pragma: no cover - run by the loop
    """Hand a math or multi-step reasoning problem to a stronger reasoning model. It returns the
    answer, checked with the calculator when the problem is arithmetic.

    Args:
        problem: the whole problem in words, with every number it needs
    """
    raise RuntimeError("escalate is run by the agent loop, not called directly")


class Escalator:
    """The escalation policy and the reasoner, as the agent loop uses them."""

    def __init__(self, reasoner: Reasoner, policy: EscalationPolicy = "auto") -> None:
        if policy not in POLICIES:
            raise ConfigError(f"escalation must be one of {', '.join(POLICIES)} (got {policy!r})")
        self.reasoner = reasoner
        self.policy = policy
        self.tool: Tool = _loop_tool(_escalate_tool, name=ESCALATE)

    @classmethod
    def create(
        cls,
        reasoner: Model | Reasoner | str | os.PathLike[str] | None,
        policy: str,
    ) -> Escalator | None:
        """The escalator of an agent, or None when it has no reasoner.

        A name or path becomes a `LazyModel`: it is loaded at the first escalation, not before.
        """
        if policy not in POLICIES:
            raise ConfigError(f"escalation must be one of {', '.join(POLICIES)} (got {policy!r})")
        if reasoner is None:
            if policy == "always":
                raise ConfigError("escalation='always' needs a reasoner (reasoner=NAME|PATH)")
            return None
        if not isinstance(reasoner, Reasoner):
            model = reasoner if isinstance(reasoner, Model) else LazyModel(reasoner)
            reasoner = Reasoner(model)
        return cls(reasoner, policy)  # type: ignore[arg-type]

    # -- policy --------------------------------------------------------------------------------

    @property
    def tools(self) -> list[Tool]:
        """What the planner's action set gains: `escalate`, unless the policy is "never"."""
        return [] if self.policy == "never" else [self.tool]

    def escalates_task(self, task: str) -> bool:
        """Whether the task itself is escalated before the first planner step."""
        if self.policy == "always":
            return True
        return self.policy == "auto" and looks_like_math(task)

    def offers_escalate(self, step: int, escalated_steps: Iterable[int]) -> bool:
        """Whether planner step `step` may call ``escalate`` (rule 1 in the module docstring).

        Not under "never", and not on the step right after one that escalated (the task's
        escalation is step 0): the planner has an answer to act on, so it must use a tool or
        finish instead of asking again.
        """
        return self.policy != "never" and (step - 1) not in set(escalated_steps)

    @staticmethod
    def earlier_answer(problem: str, rows: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
        """The recorded escalation that already answers `problem` (rule 2), or None.

        `problem` is already answered when it is the same as an escalated problem, or is an
        answer the reasoner gave (its stated answer or the checked one): re-sending an answer
        as a "problem" asks the reasoner nothing new. Only escalations that produced an answer
        count; a failed one may be asked again.
        """
        wanted = _normal(problem)
        for row in rows:
            if row.get("answer") is None:
                continue
            if wanted == _normal(row["problem"]):
                return row
            if any(_same_answer(problem, row.get(k)) for k in ("answer", "stated_answer")):
                return row
        return None

    def substep_problems(self, calls: Iterable[Any], already: Sequence[str] = ()) -> list[str]:
        """String arguments of the step's tool calls that read as math (auto policy only).

        A planner that writes a word problem into a tool's argument (``calculate(expression=
        "3 boxes of 12 eggs, how many eggs?")``) is attempting a sub-step it cannot do; the
        reasoner gets it. Problems already escalated in the run are not sent again.
        """
        if self.policy != "auto":
            return []
        found: list[str] = []
        for call in calls:
            if call.tool == ESCALATE:
                continue
            for value in call.arguments.values():
                if (
                    isinstance(value, str)
                    and looks_like_math(value)
                    and value not in already
                    and value not in found
                ):
                    found.append(value)
        return found

    # -- running -------------------------------------------------------------------------------

    def solve(self, problem: str) -> dict[str, Any]:
        """Think freely, then answer under the constraint; blocking (run it in a thread)."""
        reasoner = self.reasoner
        model = reasoner.model
        think = model.generate(
            reasoner.think_messages(problem), constraint=None, max_tokens=reasoner.think_tokens
        )
        thinking = think.text.strip()
        answer = model.generate(
            reasoner.answer_messages(problem, thinking),
            constraint=JsonSchemaConstraint(ANSWER_SCHEMA),
            max_tokens=reasoner.answer_tokens,
        )
        solved: dict[str, Any] = {
            "thinking": thinking,
            "raw_answer": answer.text,
            "prompt_tokens": think.prompt_tokens + answer.prompt_tokens,
            "output_tokens": think.output_tokens + answer.output_tokens,
            "parsed": None,
            "error": None,
        }
        problem_text = None
        if answer.finish_reason == "length":
            problem_text = f"the answer was cut off after {answer.output_tokens} tokens"
        else:
            try:
                parsed = json.loads(answer.text)
                errors = list(_ANSWER_VALIDATOR.iter_errors(parsed))
                if errors:
                    problem_text = f"the answer does not match its schema: {errors[0].message}"
                else:
                    solved["parsed"] = parsed
            except json.JSONDecodeError as exc:
                problem_text = f"the answer is not JSON ({exc})"
        _audit.record(valid=problem_text is None, model=model.name, reason=problem_text or "")
        solved["error"] = problem_text
        return solved

    async def escalate(
        self,
        problem: str,
        *,
        trigger: Trigger,
        memory: Memory,
        session_id: str,
        run_id: int,
        step: int,
        planner_model: str,
    ) -> Escalation:
        """Run one escalation, check it, record it (committed before returning)."""
        started = time.time()
        model_name = self.reasoner.model.name
        try:
            solved = await asyncio.to_thread(self.solve, problem)
        except (ContextOverflowError, DecodingError) as exc:
            solved = {
                "thinking": "",
                "raw_answer": "",
                "prompt_tokens": 0,
                "output_tokens": 0,
                "parsed": None,
                "error": f"the reasoner failed: {exc}",
            }
        parsed = solved["parsed"]
        if parsed is None:
            check = Check(None, False, "failed", None, f"no answer: {solved['error']}")
            stated = expression = None
        else:
            stated, expression = parsed["answer"], parsed["expression"]
            check = check_answer(stated, expression)
        seconds = time.time() - started
        escalation = Escalation(
            problem=problem,
            answer=check.answer,
            model=model_name,
            seconds=seconds,
            verified=check.verified,
            prompt_tokens=solved["prompt_tokens"],
            output_tokens=solved["output_tokens"],
            trigger=trigger,
            step=step,
            stated_answer=stated,
            expression=expression or None,
            calculated=check.calculated,
            check=check.result,
            note=check.note,
            error=solved["error"],
            planner_model=planner_model,
            thinking=solved["thinking"],
        )
        memory.add_escalation(
            EscalationRecord(
                session_id=session_id,
                run_id=run_id,
                step=step,
                trigger=trigger,
                problem=problem,
                thinking=escalation.thinking,
                raw_answer=solved["raw_answer"],
                stated_answer=stated,
                answer=escalation.answer,
                expression=escalation.expression,
                calculated=escalation.calculated,
                verified=escalation.verified,
                check_result=escalation.check,
                note=escalation.note,
                error=escalation.error,
                planner_model=planner_model,
                model=model_name,
                prompt_tokens=escalation.prompt_tokens,
                output_tokens=escalation.output_tokens,
                started_at=started,
                seconds=seconds,
            )
        )
        return escalation

    def outcome(self, escalation: Escalation, *, max_observation_chars: int) -> CallOutcome:
        """The escalation as the result of an ``escalate`` call, for the planner to read."""
        error = None if escalation.answer is not None else escalation.note
        return _outcome(
            ESCALATE,
            {"problem": escalation.problem},
            escalation.observation() if error is None else None,
            error,
            escalation.seconds,
            max_observation_chars,
        )

    def close(self) -> None:
        """Unload the reasoner if the agent loaded it (a `LazyModel`; it reloads when needed)."""
        if isinstance(self.reasoner.model, LazyModel):
            self.reasoner.model.close()


def _normal(text: str) -> str:
    """Text compared for sameness: case, runs of spaces and trailing punctuation ignored."""
    return " ".join(text.casefold().split()).rstrip(" .?!")


_BARE_NUMBER = re.compile(r"[$\u20ac\u00a3]?\s*-?[\d,]*\.?\d+\s*%?")


def _same_answer(problem: str, answer: str | None) -> bool:
    """Whether `problem` is just `answer` again (the same text, or the same bare number)."""
    if not answer:
        return False
    if _normal(problem) == _normal(answer):
        return True
    text = _normal(problem)
    if not _BARE_NUMBER.fullmatch(text):
        return False
    mine, theirs = _number(text), _number(answer)
    return mine is not None and mine == theirs


def already_answered(row: dict[str, Any]) -> dict[str, Any]:
    """What the planner reads for an escalate call that rule 2 does not send again."""
    note = (
        f"already answered at step {row['step']}: the reasoner's answer to "
        f'"{row["problem"]}" is {row["answer"]}. {row["note"] or ""}'.strip()
    )
    return {"answer": row["answer"], "verified": bool(row["verified"]), "note": note}


def problem_of(arguments: dict[str, Any]) -> str | None:
    """The `problem` of an escalate call as recorded (a resumed call's arguments are read back
    from disk, so they are checked again here); None when there is none."""
    problem = arguments.get("problem")
    return problem.strip() if isinstance(problem, str) and problem.strip() else None
