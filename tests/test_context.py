"""Context management: with a tiny context window the prompt always fits, the record stays full."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from agentsmall import _audit
from agentsmall._tool import tool
from agentsmall.agent import Agent
from agentsmall.errors import ContextOverflowError
from agentsmall.memory._compaction import Turn, fit
from agentsmall.models import ChatMessage, Generation, ScriptedModel


@pytest.fixture(autouse=True)
def scripted_validation_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(_audit.VALIDATION_LOG_ENV, str(tmp_path / "scripted.jsonl"))


def call(tool_name: str, /, **arguments: Any) -> dict[str, Any]:
    return {"tool": tool_name, "arguments": arguments}


@tool
def fetch(page: int) -> str:
    """Fetch a long page of text."""
    return f"page {page}: " + ("lorem ipsum dolor sit amet " * 40)


class WindowModel(ScriptedModel):
    """A scripted model that fails, as llama.cpp does, when a prompt does not fit its window."""

    def __init__(self, replies: Sequence[Any], *, context_length: int, counter: Any = None):
        super().__init__(replies, context_length=context_length)
        self.counter = counter
        self.sizes: list[int] = []

    def count_prompt_tokens(self, messages: Sequence[ChatMessage]) -> int:
        if self.counter is not None:
            return int(self.counter(messages))
        return super().count_prompt_tokens(messages)

    def generate(self, messages: Sequence[ChatMessage], **kwargs: Any) -> Generation:
        size = self.count_prompt_tokens(messages)
        self.sizes.append(size)
        if size + kwargs.get("max_tokens", 256) > self.context_length:
            raise ContextOverflowError(f"{size} tokens do not fit {self.context_length}")
        return super().generate(messages, **kwargs)


def long_run(tmp_path: Path, model: WindowModel, steps: int) -> tuple[Agent, Any]:
    agent = Agent(
        model, tools=[fetch], memory=tmp_path / "m.db", max_steps=steps, max_tokens_per_step=64
    )
    return agent, agent.run("Fetch pages from 0 one by one and summarise them.")


def test_a_tiny_window_never_overflows_and_the_record_stays_full(tmp_path: Path) -> None:
    steps = 12
    model = WindowModel([[call("fetch", page=i)] for i in range(steps)], context_length=900)
    agent, result = long_run(tmp_path, model, steps)
    try:
        assert result.status == "max_steps", result.error
        assert len(model.sizes) == steps
        assert max(model.sizes) <= 900 - 64
        # Without fitting, the last prompt would have been several times the window.
        full = model.count_prompt_tokens(
            [{"role": m["role"], "content": m["content"]}
             for m in agent.memory.messages(result.session_id)]
        )  # fmt: skip
        assert full > 3 * 900
        last = model.calls[-1]
        assert last[1]["content"].startswith("Fetch pages from 0 one by one")  # the task is kept
        assert "page 10:" in last[-1]["content"]  # the latest result is intact
        observations = [
            m["content"] for m in agent.memory.messages(result.session_id) if m["step"] and
            m["role"] == "user"
        ]  # fmt: skip
        assert len(observations) == steps
        assert all("lorem ipsum" in o for o in observations)  # nothing elided in the DB
    finally:
        agent.memory.close()


def test_the_real_tokenizer_agrees(tmp_path: Path, embedded_model: Any) -> None:
    """Fitting by the real model's own token count keeps its real prompt within the window."""
    model = WindowModel(
        [[call("fetch", page=i)] for i in range(8)],
        context_length=1024,
        counter=embedded_model.count_prompt_tokens,
    )
    agent, result = long_run(tmp_path, model, 8)
    try:
        assert result.status == "max_steps", result.error
        assert max(model.sizes) <= 1024 - 64
        assert len(model.sizes) == 8
    finally:
        agent.memory.close()


def test_a_window_too_small_for_the_task_ends_the_run_with_an_error(tmp_path: Path) -> None:
    model = WindowModel([], context_length=120)
    agent, result = long_run(tmp_path, model, 3)
    try:
        assert result.status == "error"
        assert "context window" in (result.error or "")
        assert model.calls == []  # never sent a prompt that cannot fit
    finally:
        agent.memory.close()


# -- the policy itself -------------------------------------------------------------------------


def chars(messages: list[dict[str, str]]) -> int:
    return sum(len(m["content"]) for m in messages)


def history(steps: int, size: int = 200) -> list[Turn]:
    turns = [Turn("user", "the task", "task", 1)]
    for s in range(1, steps + 1):
        turns.append(Turn("assistant", f"call {s}", "action", 1, s))
        turns.append(Turn("user", f"result {s} " + "x" * size, "observation", 1, s))
    return turns


def test_a_prompt_that_fits_is_unchanged() -> None:
    turns = history(3)
    prompt, report = fit("sys", turns, count=chars, budget=10_000, current_run=1)
    assert prompt == [{"role": "system", "content": "sys"}, *(t.message() for t in turns)]
    assert not report.changed


def test_old_observations_are_elided_first_then_old_steps_dropped() -> None:
    turns = history(6)
    prompt, report = fit("sys", turns, count=chars, budget=900, current_run=1, keep_recent=2)
    assert chars(prompt) <= 900
    assert report.elided >= 1
    texts = [m["content"] for m in prompt]
    assert texts[-1].startswith("result 6 ") and texts[-3].startswith("result 5 ")
    assert any("results of step 1 left out" in t for t in texts) or report.dropped
    # roles still alternate after the system prompt
    roles = [m["role"] for m in prompt[1:]]
    assert all(a != b for a, b in itertools.pairwise(roles)), roles

    prompt, report = fit("sys", turns, count=chars, budget=600, current_run=1, keep_recent=2)
    assert chars(prompt) <= 600 and report.dropped > 0
    assert prompt[1]["content"].startswith("the task")
    assert "Earlier messages left out" in prompt[1]["content"]
    roles = [m["role"] for m in prompt[1:]]
    assert roles[0] == "user" and roles[1] == "assistant"
    assert all(a != b for a, b in itertools.pairwise(roles)), roles
