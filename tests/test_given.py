"""A call with invented values, decoded again with them held to the values the task writes
(`agentsmall._given`, `Agent.held_step`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentsmall import Agent, tool
from agentsmall._actions import Call
from agentsmall._given import given_values, held_to_task, numbers_in, phrases_in
from agentsmall.agent import Event
from agentsmall.models import ScriptedModel


def test_numbers_are_read_as_written_once_each() -> None:
    text = "Ship 1,000 boxes at 2.5 dollars, then 3 more; 3 again, and -4."
    assert numbers_in(text, integers_only=False) == [1000, 2.5, 3, -4]
    assert numbers_in(text, integers_only=True) == [1000, 3, -4]
    assert numbers_in("no numbers here", integers_only=False) == []
    words = "Roll a six-sided die twice, or a dozen times; Phone is not one."
    assert numbers_in(words, integers_only=True) == [6, 2, 12, 1]


def test_phrases_do_not_start_or_end_with_a_function_word() -> None:
    phrases = phrases_in("Find vegan restaurants in New York City.", max_words=3)
    assert "New York City" in phrases and "vegan restaurants" in phrases
    assert "in New York" not in phrases and "City." not in phrases and "City" in phrases
    assert len(phrases) == len(set(phrases))
    assert "42" not in phrases_in("Room 42 please")  # a phrase has a letter


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"type": "integer"}, [3, 12]),
        ({"type": "number"}, [3, 12, 2.5]),
        ({"type": "string", "maxLength": 6}, ["Boil", "eggs", "Boil 3", "3 eggs"]),
        ({"type": "string", "enum": ["a", "b"]}, []),  # the schema gives its values already
        ({"type": "array", "items": {"type": "integer"}}, []),
        ({"type": "boolean"}, []),
    ],
)
def test_given_values_by_type(schema: dict, expected: list) -> None:
    values = given_values(schema, "Boil 3 eggs for 12 minutes at 2.5 bar")
    if schema.get("type") == "string" and "maxLength" in schema:
        assert all(len(v) <= 6 for v in values)
        assert set(expected) <= set(values)
    else:
        assert values == expected


@tool
def weather(city: str, days: int = 1) -> str:
    """The weather forecast of a city."""
    return f"sunny in {city}"


@tool
def tag(labels: list[str]) -> str:
    """Tag a photo."""
    return ",".join(labels)


def test_an_invented_argument_is_held_to_the_tasks_values() -> None:
    call = Call("weather", {"city": "London"})
    held = held_to_task(call, weather, ["weather.city"], "Will it rain in Oslo?")
    assert held is not None and held.name == "weather"
    city = held.parameters["properties"]["city"]
    assert city["type"] == "string" and "Oslo" in city["enum"] and "London" not in city["enum"]
    assert held.parameters["properties"]["days"] == weather.parameters["properties"]["days"]
    assert weather.parameters["properties"]["city"].get("enum") is None  # a copy: unchanged
    no_list = held_to_task(Call("tag", {"labels": ["x"]}), tag, ["tag.labels"], "Tag it: cat")
    assert no_list is None


def relevant_to_weather(context: str, continuation: str) -> float:
    """The "no tool" card scores -45, the weather tool's card -20: a gain of 25 nats, in the
    gate's "must call" zone."""
    return -20.0 if context.startswith("Tool: weather") else -45.0


def test_a_relevant_tools_invented_call_is_decoded_again_held_to_the_task(
    tmp_path: Path, closing: list[Agent]
) -> None:
    replies = [
        json.dumps([{"tool": "weather", "arguments": {"city": "London"}}]),
        json.dumps([{"tool": "weather", "arguments": {"city": "Oslo"}}]),
        json.dumps([{"tool": "final_answer", "arguments": {"answer": "Sunny."}}]),
    ]
    model = ScriptedModel(replies, scorer=relevant_to_weather)
    agent = Agent(model, tools=[weather], memory=tmp_path / "m.db")
    closing.append(agent)
    events: list[Event] = []
    result = agent.run("Will it rain in Oslo?", on_event=events.append)
    withheld = [e.data for e in events if e.kind == "call_withheld"]
    assert [(w["invented"], w["held"]) for w in withheld] == [(["weather.city"], True)]
    calls = [e.data for e in events if e.kind == "tool_call"]
    assert [c["arguments"] for c in calls] == [{"city": "Oslo"}]
    assert (result.status, result.output) == ("completed", "Sunny.")
    schema = json.dumps(model.constraints[1].schema)  # the second decoding of step 1
    assert '"Oslo"' in schema and "final_answer" not in schema


def test_a_tool_the_gate_only_may_call_answers_instead(
    tmp_path: Path, closing: list[Agent]
) -> None:
    replies = [
        json.dumps([{"tool": "weather", "arguments": {"city": "London"}}]),
        json.dumps([{"tool": "final_answer", "arguments": {"answer": "Which city?"}}]),
    ]
    scores = {True: -40.0, False: -45.0}  # a gain of 5 nats: the gate's middle zone
    model = ScriptedModel(replies, scorer=lambda context, _: scores["weather" in context])
    agent = Agent(model, tools=[weather], memory=tmp_path / "m.db")
    closing.append(agent)
    events: list[Event] = []
    result = agent.run("Is it going to rain?", on_event=events.append)
    assert [e.data["held"] for e in events if e.kind == "call_withheld"] == [False]
    assert (result.status, result.output) == ("completed", "Which city?")


def test_a_held_call_that_still_invents_answers_instead(
    tmp_path: Path, closing: list[Agent]
) -> None:
    @tool
    def book(city: str, hotel: str) -> str:
        """Book a hotel room in a city."""
        return "booked"

    replies = [
        json.dumps([{"tool": "book", "arguments": {"city": "Rome", "hotel": "Grand"}}]),
        # held: city must come from the task; the model then invents the hotel instead
        json.dumps([{"tool": "book", "arguments": {"city": "Oslo", "hotel": "Ritz"}}]),
        json.dumps([{"tool": "final_answer", "arguments": {"answer": "Which hotel?"}}]),
    ]
    model = ScriptedModel(replies, scorer=lambda context, _: -20.0 if "book" in context else -45.0)
    agent = Agent(model, tools=[book], memory=tmp_path / "m.db")
    closing.append(agent)
    events: list[Event] = []
    result = agent.run("Book me a room in Oslo at the Grand.", on_event=events.append)
    withheld = [e.data for e in events if e.kind == "call_withheld"]
    assert [w["held"] for w in withheld] == [True, False]
    assert not [e for e in events if e.kind == "tool_call"]
    assert (result.status, result.output) == ("completed", "Which hotel?")
