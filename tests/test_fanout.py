"""A call taking one value of a list in the task is repeated for the others (`_fanout`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import pytest

from agentsmall._actions import ActionSpace, Call, StepAction
from agentsmall._fanout import enumeration, fan_out, framed
from agentsmall._tool import tool
from agentsmall.agent import Agent, Event
from agentsmall.models import ScriptedModel


@pytest.mark.parametrize(
    ("value", "text", "items"),
    [
        (
            "nucleus",
            "proteins of the nucleus, mitochondria, and cytoplasm, and can you list them",
            ["nucleus", "mitochondria", "cytoplasm"],
        ),
        ("iron", "melting points of water and iron", ["water", "iron"]),  # not the first item
        (
            "Homo sapiens",
            "genes in Homo sapiens and Pan troglodytes (chimpanzee)",
            ["Homo sapiens", "Pan troglodytes"],
        ),
        ("Paris", "Is it raining in Paris or London?", ["Paris", "London"]),
        (3, "circles of radius 3, 5 and 7", ["3", "5", "7"]),
        (0, "at sea levels of 0 meters and 1000 meters", ["0", "1000"]),  # a unit after each
        (10.0, "over 10 and 20 years", ["10", "20"]),
        # Not lists of the value's kind:
        (10, "a triangle with base 10 and height 5", []),
        (3, "the distance between (3, 5) and (7, 9)", []),  # no "and" closes "3, 5"
        ("United States", "the GDP of the United States and its growth", []),
        ("nucleus", "the nucleus and can you describe it", []),
        ("Paris", "the weather in Paris", []),
        (True, "yes and no", []),
        (["a", "b"], "a and b", []),
    ],
)
def test_enumerations(value: object, text: str, items: list[str]) -> None:
    assert enumeration(value, text) == items


@tool
def proteins(compartment: str, detailed: bool = False) -> str:
    """Proteins found in a cell compartment."""
    return f"proteins of {compartment}"


@tool
def sequence(gene: str, species: str) -> str:
    """A gene's protein sequence in a species."""
    return f"{gene}/{species}"


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@tool
def forecast(location: str, years: int) -> str:
    """Forest growth over some years."""
    return f"{location} {years}"


@tool
def pick(size: Literal["small", "large"]) -> str:
    """Pick a size."""
    return size


@tool
def route(origin: str, destination: str) -> str:
    """Distance between two places."""
    return f"{origin}-{destination}"


@tool
def triangle(base: int, height: int, unit: str = "units") -> float:
    """Area of a triangle."""
    return base * height / 2


def _fanned(calls: list[Call], task: str, *tools: object, max_calls: int = 4) -> StepAction:
    space = ActionSpace.from_tools(list(tools), max_calls=max_calls)  # type: ignore[arg-type]
    return fan_out(StepAction(calls=tuple(calls)), space, task)


def test_one_call_per_listed_value() -> None:
    action = _fanned(
        [Call("proteins", {"compartment": "nucleus", "detailed": True})],
        "Which proteins are in the nucleus, mitochondria and cytoplasm?",
        proteins,
    )
    assert [c.arguments for c in action.calls] == [
        {"compartment": c, "detailed": True} for c in ("nucleus", "mitochondria", "cytoplasm")
    ]
    assert action.calls_added == 2


def test_two_lists_combine_in_every_way_or_pairwise_when_respectively() -> None:
    every = _fanned(
        [Call("sequence", {"gene": "BRCA1", "species": "Homo sapiens"})],
        "Sequences of BRCA1 and BRCA2 in Homo sapiens and Pan troglodytes.",
        sequence,
    )
    assert len(every.calls) == 4
    assert {(c.arguments["gene"], c.arguments["species"]) for c in every.calls} == {
        (g, s) for g in ("BRCA1", "BRCA2") for s in ("Homo sapiens", "Pan troglodytes")
    }
    pairwise = _fanned(
        [Call("forecast", {"location": "Amazon", "years": 10})],
        "Growth in the Amazon and Borneo over 10 and 20 years, respectively.",
        forecast,
    )
    assert [c.arguments for c in pairwise.calls] == [
        {"location": "Amazon", "years": 10},
        {"location": "Borneo", "years": 20},
    ]


def test_nothing_is_added_where_one_call_was_asked() -> None:
    cases = [
        ([Call("add", {"a": 345, "b": 678})], "Add 345 and 678."),  # the list is a and b
        ([Call("proteins", {"compartment": "nucleus"})], "Proteins of the nucleus?"),
        ([Call("pick", {"size": "small"})], "Pick small or medium."),  # medium: not in the enum
        # "York City and Los Angeles" is a list of two-word names, but "York City" is part of
        # the other argument's value:
        (
            [Call("route", {"origin": "New York City", "destination": "Los Angeles"})],
            "Distance between New York City and Los Angeles.",
        ),
        # "height" names another parameter of the tool: no value of `unit`.
        (
            [Call("triangle", {"base": 10, "height": 5, "unit": "units"})],
            "A triangle with a base of 10 units and height of 5 units.",
        ),
    ]
    for calls, task in cases:
        action = _fanned(calls, task, add, proteins, pick, route, triangle)
        assert action.calls == tuple(calls)
        assert action.calls_added == 0


@pytest.mark.parametrize(
    ("value", "text", "items"),
    [
        (5, "the factorial of 5, the factorial of 3, then the factorial of 4", ["5", "3", "4"]),
        (
            "Venus",
            "between Mars and Venus, and then between Mars and Jupiter",
            ["Venus", "Jupiter"],
        ),
        (85, "one person weighs 85 kg, the other person weighs 60 kg", ["85", "60"]),
        # Not frames of other values:
        (5, "the factorial of 5", []),
        (10, "a triangle with base 10 and height 5", []),
        (2, "the sum of 2 and of 3", []),  # "of" and "and" alone frame nothing
        ("Mars", "the two bodies Mars and Venus, and the two bodies and the unit", []),
    ],
)
def test_frames(value: object, text: str, items: list[str]) -> None:
    assert framed(value, text) == items


@tool
def bmi(weight: int, height: int) -> float:
    """Body mass index."""
    return weight / height**2


def test_one_call_per_described_case_when_the_model_wrote_one() -> None:
    task = "Ann weighs 60 kg and stands 160 cm tall; Bob weighs 80 kg and stands 180 cm tall."
    action = _fanned([Call("bmi", {"weight": 60, "height": 160})], task, bmi)
    assert [c.arguments for c in action.calls] == [
        {"weight": 60, "height": 160},
        {"weight": 80, "height": 180},  # the nth value of each frame together
    ]
    # Frames that hold the values of several arguments of one call add nothing:
    mixed = "Mix 20 kg at 30 degrees with 15 kg at 60 degrees."
    same = [Call("add", {"a": 30, "b": 60})]
    assert _fanned(same, mixed, add).calls == tuple(same)
    # Two calls written: frames are not read (the model chose its cases).
    two = [Call("bmi", {"weight": 60, "height": 160}), Call("bmi", {"weight": 60, "height": 180})]
    assert _fanned(two, task, bmi).calls_added == 0


def test_the_step_keeps_its_call_limit_and_no_duplicates() -> None:
    action = _fanned(
        [Call("proteins", {"compartment": "golgi"}), Call("proteins", {"compartment": "nucleus"})],
        "Proteins of the nucleus, golgi, lysosome, ribosome and vacuole.",
        proteins,
        max_calls=3,
    )
    assert [c.arguments["compartment"] for c in action.calls] == ["golgi", "nucleus", "lysosome"]


def test_the_agent_runs_the_added_calls_on_its_first_step(
    tmp_path: Path, closing: list[Agent]
) -> None:
    replies = [
        json.dumps([{"tool": "proteins", "arguments": {"compartment": "nucleus"}}]),
        json.dumps([{"tool": "final_answer", "arguments": {"answer": "done"}}]),
    ]
    task = "Which proteins are in the nucleus and the cytoplasm, and in the nucleus or ribosome?"
    agent = Agent(ScriptedModel(replies), tools=[proteins], memory=tmp_path / "m.db")
    closing.append(agent)
    events: list[Event] = []
    agent.run(task, on_event=events.append)
    added = [e.data for e in events if e.kind == "calls_added"]
    assert added == [{"calls": [{"tool": "proteins", "arguments": {"compartment": "ribosome"}}]}]
    ran = [e.data["arguments"] for e in events if e.kind == "tool_call"]
    assert ran == [{"compartment": "nucleus"}, {"compartment": "ribosome"}]

    plain = Agent(ScriptedModel(replies), tools=[proteins], memory=tmp_path / "n.db", fan_out=False)
    closing.append(plain)
    events = []
    plain.run(task, on_event=events.append)
    assert [e.data["arguments"] for e in events if e.kind == "tool_call"] == [
        {"compartment": "nucleus"}
    ]
