"""Native tool-call formats for real, on the embedded SmolLM2-135M-Instruct.

SmolLM2 has no native tool format of its own (its preset says generic, so "auto" gives it the
JSON planner), but its template is ChatML, so the `<tool_call>` shape of the qwen3 family reads
naturally for it: this is the one model here on which the native path can run end to end.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from agentsmall._tool import tool
from agentsmall.agent import Agent
from agentsmall.models import RegexConstraint, get_format

pytestmark = pytest.mark.model


def test_qwen3_format_on_smollm2_decodes_a_valid_call_runs_it_and_finishes(
    embedded_model: Any, tmp_path: Path, validation_log: Path
) -> None:
    seen: list[tuple[int, int]] = []

    @tool
    def multiply(a: int, b: int) -> int:
        """Multiply two integers."""
        seen.append((a, b))
        return a * b

    logged_before = validation_log.read_text().splitlines() if validation_log.exists() else []
    agent = Agent(
        embedded_model, tools=[multiply], memory=tmp_path / "m.db", max_steps=3, tool_format="qwen3"
    )
    assert agent.tool_format == "qwen3"
    result = agent.run("Use the multiply tool to compute 12 times 7.")
    rows = agent.memory.steps(result.session_id)
    agent.memory.close()

    assert seen[0] == (12, 7)
    step = result.steps[0]
    assert (step.step, step.tool, step.arguments, step.result, step.error) == (
        1,
        "multiply",
        {"a": 12, "b": 7},
        84,
        None,
    )
    # what the model wrote was the native block, under the family's regex
    regex = get_format("qwen3").constraint(agent.offered_tools).regex
    assert rows[0]["raw_output"].startswith("<tool_call>\n{")
    assert re.fullmatch(regex, rows[0]["raw_output"])
    # it read the result and finished with it
    assert result.status == "completed", result
    assert "84" in (result.output or "")
    # every native output was constrained, validated by the ActionSpace and counted
    logged = validation_log.read_text().splitlines()[len(logged_before) :]
    entries = [json.loads(line) for line in logged]
    assert len(entries) == result.stats["planner_steps"] >= 2
    assert all(e["valid"] for e in entries)


def test_regex_constraint_prefill_and_stop_strings_on_llama_cpp(embedded_model: Any) -> None:
    story = [{"role": "user", "content": "Write one long sentence about cats."}]
    free = embedded_model.generate(story, max_tokens=24, stop=(" ",))
    assert (free.finish_reason, free.stop_string) == ("stop", " ")
    assert free.text and " " not in free.text and free.output_tokens >= 1

    question = [{"role": "user", "content": "Is the sky blue? Answer yes or no."}]
    answer = embedded_model.generate(
        question,
        constraint=RegexConstraint(r"(yes|no)\.</answer>"),
        max_tokens=8,
        prefill="<answer>",
    )
    assert answer.finish_reason == "stop"
    assert re.fullmatch(r"(yes|no)\.</answer>", answer.text)
