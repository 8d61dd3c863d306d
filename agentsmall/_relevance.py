"""Which tools is a task about? The model's likelihoods decide before its first step.

Left to its greedy choice, a small model decides badly *whether* to call a tool: on BFCL's
`multiple` set SmolLM2-135M answered with `final_answer` in 63 of 100 items that needed a call,
while on `irrelevance` it called a tool in half the items that needed none. Yet the same model
ranks tools well when asked the right way. For each tool we compare how likely the task's text
is after that tool's card with how likely it is after a card saying no tool answers it:

    relevance(tool) = log P(task | "Tool: <signature>: <description> ... this tool answers:")
                    - log P(task | "Tool: none ... no tool answers:")

(a likelihood ratio in nats: how much better the tool "explains" the task than no tool). On
held-out BFCL items the best-scoring tool was the right one in 90 of 90 `multiple` items, and
the best score separates tasks that need a tool from tasks that need none far better than the
model's own choice (docs/BENCHMARKS.md, "Evaluation", third session; the cards are in
`prompts/relevance_*.jinja`).

The gate then shapes the first planner step's action space (the constraint, not the prompt, so
the prompt's KV cache is untouched): below one threshold the step may only answer; from a
higher one it must call one of the tools scoring within `margin` of the best; in between the
model chooses, among those tools or an answer. Later steps are not gated: after seeing
results, the model decides whether to call more or answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from agentsmall._prompts import prompts
from agentsmall._tool import Tool
from agentsmall.models import Model

ANSWER_BELOW = 0.0
"""Nats: a task whose best tool scores below this is answered without a call: the "no tool"
card explains it better than every tool's card. Not higher: on short tasks the scores say
little (SmolLM2 gave "Use the multiply tool to compute 12 times 7." 4.8 nats for `multiply`,
and "Tell me a joke." 7.4), and a forced answer to a task that needed a tool is the worst
outcome for a user. BFCL's irrelevance items, tuned alone, favoured 10 (docs/BENCHMARKS.md)."""

CALL_FROM = 16.0
"""Nats: a task whose best tool scores at least this must call a tool."""

DEFAULT_MARGIN = 3.0
"""Nats: tools within this of the best tool are offered to the first step."""


@dataclass(frozen=True)
class GateDecision:
    """What the gate decided for one task."""

    scores: dict[str, float]
    """Relevance of each tool (nats; see the module docstring)."""
    offered: tuple[str, ...]
    """The tools the first step may call; empty when the step must answer."""
    must_call: bool = False
    """The step must call one of `offered` (otherwise it may also answer)."""

    @property
    def must_answer(self) -> bool:
        return not self.offered

    def as_dict(self) -> dict[str, object]:
        return {
            "scores": {k: round(v, 2) for k, v in self.scores.items()},
            "offered": self.offered,
            "must_call": self.must_call,
        }


@dataclass(frozen=True, kw_only=True)
class ToolGate:
    """Decides, from tool relevance, whether the first step calls a tool and which ones.

    Three zones of the best tool's score (nats): below `answer_below` the step answers
    without a call; from `call_from` on it must call; in between the model chooses, as it
    would without a gate, but only among the offered tools. `margin`: tools within this many
    nats of the best are offered, so that a task needing two tools, or a near tie, keeps both.
    The defaults were tuned on the embedded SmolLM2-135M, on BFCL items the report does not use
    (docs/BENCHMARKS.md), then `answer_below` lowered for safety (see `ANSWER_BELOW`); Gemma 3
    270M's scores fall in the same range.
    """

    answer_below: float = ANSWER_BELOW
    call_from: float = CALL_FROM
    margin: float = DEFAULT_MARGIN

    def __post_init__(self) -> None:
        if self.call_from < self.answer_below:
            raise ValueError("call_from must not be below answer_below")
        if self.margin < 0:
            raise ValueError("margin must not be negative")

    def decide(self, model: Model, task: str, tools: Sequence[Tool]) -> GateDecision:
        scores = relevance(model, task, tools)
        if not scores:
            return GateDecision(scores, ())
        best = max(scores.values())
        if best < self.answer_below:
            return GateDecision(scores, ())
        offered = tuple(name for name, s in scores.items() if s >= best - self.margin)
        return GateDecision(scores, offered, must_call=best >= self.call_from)


def relevance(model: Model, task: str, tools: Sequence[Tool]) -> dict[str, float]:
    """Each tool's relevance to `task` (nats), scored in one batch by `model`."""
    if not tools:
        return {}
    env = prompts()
    contexts = [env.get_template("relevance_none.jinja").render()]
    card = env.get_template("relevance_tool.jinja")
    contexts += [card.render(tool=t) for t in tools]
    continuation = " " + " ".join(task.split())
    baseline, *scores = model.score(contexts, continuation)
    return {t.name: s - baseline for t, s in zip(tools, scores, strict=True)}
