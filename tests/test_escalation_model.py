"""The whole escalation path on real embedded models: two models in memory, a real reasoner."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agentsmall._escalation import ANSWER_SCHEMA, Reasoner
from agentsmall.agent import Agent
from agentsmall.models import LazyModel
from agentsmall.tools.calculator import TOOLS

pytestmark = pytest.mark.model


def test_a_real_reasoner_answers_under_its_constraint_and_is_recorded(
    tmp_path: Path, embedded_model: Any, validation_log: Path
) -> None:
    """SmolLM2 plans, a second SmolLM2 (loaded lazily, then unloaded) reasons.

    Accuracy is not the point with 135M models; the machinery is: free thinking, a constrained
    answer that validates (the session's tally counts it), the calculator's verdict, the record.
    """
    reasoner = LazyModel("smollm2-135m", threads=1)
    agent = Agent(
        embedded_model,
        tools=TOOLS,
        memory=tmp_path / "m.db",
        max_steps=1,
        reasoner=Reasoner(reasoner, think_tokens=48),
        escalation="always",
    )
    assert not reasoner.loaded  # nothing is loaded before the first escalation
    before = len(validation_log.read_text().splitlines()) if validation_log.exists() else 0
    try:
        result = agent.run("What is 12 times 7 plus 3?")
        [escalation] = result.escalations
        assert reasoner.loads == 1
        assert (escalation.trigger, escalation.model) == ("task", "smollm2-135m")
        assert escalation.error is None, escalation.error
        assert escalation.check in ("agrees", "corrected", "nothing to check", "unchecked")
        # Only a calculation the calculator agreed with is verified (a bare number is not).
        assert escalation.verified == (escalation.check == "agrees")
        assert escalation.answer  # whatever it is, the planner was given one
        assert escalation.output_tokens > 0 and escalation.seconds > 0
        [row] = agent.memory.escalations(result.session_id)
        assert row["thinking"] == escalation.thinking and row["raw_answer"]
        assert set(ANSWER_SCHEMA["required"]) <= set(json.loads(row["raw_answer"]))
        lines = validation_log.read_text().splitlines()[before:]
        assert any('"smollm2-135m"' in line and '"valid": true' in line for line in lines)
        agent.unload_reasoner()
        assert not reasoner.loaded
    finally:
        reasoner.close()
        agent.memory.close()
