"""Keeping the prompt inside the model's context window, whatever the length of the history.

Small models have small windows (a few thousand tokens) and a session can go on for hundreds
of steps. The prompt of each step is therefore *fitted*; the database always keeps the full
record, only the prompt is shortened. The policy, applied in order until the prompt fits
(``count(prompt) <= budget``):

1. Nothing: a prompt that fits is sent unchanged (so the model's KV prefix stays reusable).
2. Elide old observations, oldest first: the tool results of all but the last ``keep_recent``
   planner steps are replaced by a one-line note. The calls themselves stay, so the model
   still sees what it already did and does not repeat it.
3. Drop old messages, oldest first: earlier runs of the session first, then the oldest steps
   of the current run. The current task is never dropped; a note appended to it says how many
   messages were left out. Drops keep the roles alternating (user / assistant).
4. Keep fewer recent steps (down to none), applying 2 and 3 again.
5. Shorten what is left, longest message first: the middle of the text is cut out (its
   beginning and end usually carry the question and the numbers).
6. If even the system prompt and a shortened task do not fit, raise
   :class:`~agentsmall.errors.ContextOverflowError`: the window is too small for this agent.

Summarising old steps with the model would keep more meaning but costs a generation per
compaction, which on a small machine is the slowest thing there is; truncation is free and
predictable, so it is the policy here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from agentsmall.errors import ContextOverflowError

TurnKind = Literal["task", "action", "observation", "note"]


@dataclass(frozen=True)
class Turn:
    """One message of the history, with what the fitting policy needs to know about it."""

    role: str
    content: str
    kind: TurnKind
    run_id: int
    step: int | None = None
    """The planner step (within its run) the message belongs to; None for a task."""
    elided: bool = False

    def message(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


@dataclass
class FitReport:
    """What fitting did to one prompt (all zero when it fitted as it was)."""

    elided: int = 0
    dropped: int = 0
    shortened: int = 0
    tokens: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.elided or self.dropped or self.shortened)


Counter = Callable[[list[dict[str, str]]], int]

_MIN_CHARS = 120
"""Shortening stops at this many characters per message: below it nothing useful is left."""


def elided_note(turn: Turn) -> str:
    return (
        f"[results of step {turn.step} left out to fit the context window "
        f"({len(turn.content)} characters; kept in memory)]"
    )


def _shorten(text: str, limit: int) -> str:
    """The beginning and end of ``text`` in about ``limit`` characters."""
    if len(text) <= limit:
        return text
    head = limit * 2 // 3
    tail = max(limit - head, 0)
    cut = len(text) - head - tail
    return f"{text[:head]}\n[... {cut} characters left out ...]\n{text[len(text) - tail :]}"


def fit(
    system: str,
    turns: Sequence[Turn],
    *,
    count: Counter,
    budget: int,
    current_run: int,
    keep_recent: int = 2,
) -> tuple[list[dict[str, str]], FitReport]:
    """The prompt (system message + history) fitted to ``budget`` tokens by the policy above."""
    report = FitReport()

    def render(history: Sequence[Turn]) -> list[dict[str, str]]:
        return [{"role": "system", "content": system}, *(t.message() for t in history)]

    prompt = render(turns)
    report.tokens = count(prompt)
    if report.tokens <= budget:
        return prompt, report

    history = list(turns)
    steps = sorted({t.step for t in history if t.run_id == current_run and t.step is not None})
    for keep in range(min(keep_recent, len(steps)), -1, -1):
        recent = set(steps[len(steps) - keep :]) if keep else set()

        def protected(turn: Turn, recent: set[int | None] = recent) -> bool:
            if turn.kind == "task" and turn.run_id == current_run:
                return True
            return turn.run_id == current_run and turn.step in recent

        # 2. elide old observations, oldest first
        for i, turn in enumerate(history):
            if turn.kind == "observation" and not turn.elided and not protected(turn):
                history[i] = replace(turn, content=elided_note(turn), elided=True)
                report.elided += 1
                prompt = render(history)
                report.tokens = count(prompt)
                if report.tokens <= budget:
                    return prompt, report
        # 3. drop old messages, oldest first, keeping roles alternating
        while True:
            task_index = next(
                (i for i, t in enumerate(history) if t.kind == "task" and t.run_id == current_run),
                0,
            )
            if task_index > 0:  # an earlier run's message: drop from the very front
                drop = 0
            else:
                drop = 1
                if drop >= len(history) or protected(history[drop]):
                    break
            del history[drop]
            report.dropped += 1
            # The message after the system prompt (or after the task) must suit its place:
            # nothing in front of the task but a user turn, nothing after it but an assistant.
            while history and drop < len(history) and not protected(history[drop]):
                expected = "user" if drop == 0 else "assistant"
                if history[drop].role == expected:
                    break
                del history[drop]
                report.dropped += 1
            history = _with_dropped_note(history, current_run, report.dropped)
            prompt = render(history)
            report.tokens = count(prompt)
            if report.tokens <= budget:
                return prompt, report
    # 5. shorten the longest messages
    while True:
        longest = max(range(len(history)), key=lambda i: len(history[i].content), default=None)
        if longest is None or len(history[longest].content) <= _MIN_CHARS:
            break
        turn = history[longest]
        history[longest] = replace(turn, content=_shorten(turn.content, len(turn.content) // 2))
        report.shortened += 1
        prompt = render(history)
        report.tokens = count(prompt)
        if report.tokens <= budget:
            return prompt, report
    raise ContextOverflowError(
        f"even shortened to its task, the prompt takes {report.tokens} tokens and only "
        f"{budget} fit (context window minus the tokens reserved for the reply); use a model "
        "with a larger context window, or shorter instructions and tool descriptions"
    )


_DROPPED_MARK = "\n\n[Earlier messages left out to fit the context window: "


def _with_dropped_note(history: list[Turn], current_run: int, dropped: int) -> list[Turn]:
    """The current task, with a note saying how many messages were left out."""
    out = []
    for turn in history:
        if turn.kind == "task" and turn.run_id == current_run:
            base = turn.content.split(_DROPPED_MARK, 1)[0]
            turn = replace(turn, content=f"{base}{_DROPPED_MARK}{dropped}.]")
        out.append(turn)
    return out
