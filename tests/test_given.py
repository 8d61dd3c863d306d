"""A call with invented values, decoded again with them held to the values the task writes
(`agentsmall._given`, `agentsmall._review`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import pytest
from pydantic import BaseModel

from agentsmall import Agent, tool
from agentsmall._actions import Call
from agentsmall._given import (
    given_values,
    held_to_task,
    mentioned_optionals,
    numbers_in,
    phrases_in,
    repeated_arguments,
    shaped_by_task,
    spoken_flags,
)
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
        ({"type": "array", "items": {"type": "integer"}}, [3, 12]),  # what its items could be
        ({"type": "array", "items": {"type": "boolean"}}, []),
        ({"type": "array"}, []),
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
    held = held_to_task(weather.parameters, "weather", ["weather.city"], "Will it rain in Oslo?")
    assert held is not None
    city = held["properties"]["city"]
    assert city["type"] == "string" and "Oslo" in city["enum"] and "London" not in city["enum"]
    assert held["properties"]["days"] == weather.parameters["properties"]["days"]
    assert weather.parameters["properties"]["city"].get("enum") is None  # a copy: unchanged
    no_value = held_to_task(weather.parameters, "weather", ["weather.city"], "3 4")
    assert no_value is None  # the task writes no phrase a city could be


def test_an_invented_list_is_held_to_the_tasks_values_for_each_item() -> None:
    held = held_to_task(tag.parameters, "tag", ["tag.labels"], "Tag the photo: cat, beach.")
    assert held is not None
    labels = held["properties"]["labels"]
    assert labels["type"] == "array" and {"cat", "beach"} <= set(labels["items"]["enum"])
    assert "dog" not in labels["items"]["enum"]
    assert labels["maxItems"] == len(labels["items"]["enum"])  # no list longer than its values


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


def test_a_held_call_that_repeats_a_value_is_decoded_again_in_its_held_space(
    tmp_path: Path, closing: list[Agent]
) -> None:
    @tool
    def crime_rate(city: str, state: str) -> str:
        """Crime rate of a city."""
        return "low"

    replies = [
        json.dumps([{"tool": "crime_rate", "arguments": {"city": "Fresno", "state": "Utopia"}}]),
        # held: state from the task; the model copies the city into it
        json.dumps([{"tool": "crime_rate", "arguments": {"city": "Fresno", "state": "Fresno"}}]),
        # decoded again without "Fresno"
        json.dumps(
            [{"tool": "crime_rate", "arguments": {"city": "Fresno", "state": "California"}}]
        ),
        json.dumps([{"tool": "final_answer", "arguments": {"answer": "Low."}}]),
    ]
    model = ScriptedModel(replies, scorer=lambda context, _: -20.0 if "crime" in context else -45.0)
    agent = Agent(model, tools=[crime_rate], memory=tmp_path / "m.db")
    closing.append(agent)
    events: list[Event] = []
    result = agent.run("The crime rate of Fresno, California?", on_event=events.append)
    repeated = [e.data for e in events if e.kind == "arguments_repeated"]
    assert [(r["arguments"], r["redone"]) for r in repeated] == [(["crime_rate.state"], True)]
    calls = [e.data["arguments"] for e in events if e.kind == "tool_call"]
    assert calls == [{"city": "Fresno", "state": "California"}]
    third = model.constraints[2].schema
    state = third["items"]["properties"]["arguments"]["properties"]["state"]
    held = model.constraints[1].schema["items"]["properties"]["arguments"]["properties"]["state"]
    # Still held to the task's values, now without the ones that hold "Fresno":
    assert state["enum"] == [v for v in held["enum"] if "Fresno" not in v]
    assert "California" in state["enum"]
    assert result.output == "Low."


class Card(BaseModel):
    rank: str
    suit: str


@tool
def find_card(rank: str, deck: list[Card] = []) -> str:  # noqa: B006
    """Find a card in a deck."""
    return rank


def test_an_object_the_task_only_names_is_not_required() -> None:
    assert mentioned_optionals(find_card, "Find the Queen in the deck.") == []


@tool
def restaurant(city: str, amenities: list[Literal["Patio", "Wi-Fi"]] = []) -> str:  # noqa: B006
    """Find a restaurant."""
    return city


def test_a_value_of_a_lists_items_speaks_of_the_list() -> None:
    assert mentioned_optionals(restaurant, "Sushi with a patio in Boston.") == ["amenities"]
    assert mentioned_optionals(restaurant, "Sushi in Boston.") == []


@tool
def lawyer(city: str, specialty: list[Literal["Civil", "Divorce", "Business"]]) -> str:
    """Find a lawyer."""
    return city


@tool
def tickets(
    museum: str,
    details: list[Literal["Opening hours", "Adult tickets", "Child tickets", "Guided tours"]],
) -> str:
    """Museum information."""
    return museum


def test_choices_the_task_writes_narrow_the_first_step(
    tmp_path: Path, closing: list[Agent]
) -> None:
    shaped = shaped_by_task(lawyer, "A lawyer for divorce cases in Chicago.")
    assert shaped is not None
    assert shaped["properties"]["specialty"]["items"]["enum"] == ["Divorce"]
    assert lawyer.parameters["properties"]["specialty"]["items"]["enum"] == [
        "Civil",
        "Divorce",
        "Business",
    ]  # the tool itself is unchanged
    assert shaped_by_task(lawyer, "A lawyer in Chicago.") is None  # none written
    both = shaped_by_task(lawyer, "Civil, divorce or business law, in Chicago.")
    assert both is None  # all written: nothing to narrow
    agent = Agent(ScriptedModel([]), tools=[lawyer], memory=tmp_path / "m.db", tool_gate=None)
    closing.append(agent)
    space, _, _ = agent.first_step("A lawyer for divorce cases in Chicago.")
    assert space.accepts([Call("lawyer", {"city": "Chicago", "specialty": ["Divorce"]})])
    assert not space.accepts([Call("lawyer", {"city": "Chicago", "specialty": ["Civil"]})])
    twice = {"city": "Chicago", "specialty": ["Divorce", "Divorce"]}  # no more items than choices
    assert not space.accepts([Call("lawyer", twice)])
    in_part = shaped_by_task(tickets, "Opening hours and prices for adults and children.")
    assert in_part is not None  # spoken of in part, not dropped: "adults" for "Adult tickets"
    assert in_part["properties"]["details"]["items"]["enum"] == [
        "Opening hours",
        "Adult tickets",
        "Child tickets",
    ]
    forms = shaped_by_task(lawyer, "A business lawyer for divorces.")  # a word in another form
    assert forms is not None
    assert forms["properties"]["specialty"]["items"]["enum"] == ["Divorce", "Business"]


@tool
def ttest(
    sample1: list[float],
    sample2: list[float],
    significance_level: float = 0.05,
    alternative: Literal["two-sided", "less", "greater"] = "two-sided",
    max_iterations: int = 100,
) -> str:
    """Compare two independent samples."""
    return "p = 0.2"


@pytest.mark.parametrize(
    ("task", "expected"),
    [
        ("Test [1, 2] against [3, 4].", []),
        ("Test [1, 2] against [3, 4] at a significance level of 0.01.", ["significance_level"]),
        ("Test [1, 2] against [3, 4], one-sided: greater.", ["alternative"]),  # an allowed value
        ("Test [1, 2] against [3, 4] in at most 20 iterations.", ["max_iterations"]),  # a form
        ("Test [1, 2] against [3, 4]; significance does not matter.", []),  # "level" is not said
    ],
)
def test_optional_arguments_the_task_speaks_of(task: str, expected: list[str]) -> None:
    assert mentioned_optionals(ttest, task) == expected


@tool
def case(case_number: str, with_verdict: bool = False, full_text: bool = True) -> str:
    """Look up a court case."""
    return "found"


@pytest.mark.parametrize(
    ("task", "expected"),
    [
        ("Case 12-A.", {}),
        ("Case 12-A with its verdict.", {"with_verdict": True}),
        (
            "Case 12-A, verdict too, but don't return the full text.",
            {"with_verdict": True, "full_text": False},
        ),
        ("Case 12-A without the full text.", {"full_text": False}),
        ("Case 12-A in full text, then case 12-B not in full text.", {}),  # both ways: the model's
    ],
)
def test_flags_the_task_speaks_of_hold_the_value_its_words_give(task: str, expected: dict) -> None:
    assert spoken_flags(case, task) == expected


def test_the_first_step_decodes_arguments_shaped_by_the_task(
    tmp_path: Path, closing: list[Agent]
) -> None:
    agent = Agent(
        ScriptedModel([]), tools=[weather, case], memory=tmp_path / "m.db", tool_gate=None
    )
    closing.append(agent)
    space, _, _ = agent.first_step(
        "The weather in Oslo for the next 3 days, and case 7 with verdict?"
    )
    assert set(space.shaped) == {"weather", "case"}
    weather_branch, case_branch = space.schema["anyOf"][0]["items"]["anyOf"]
    assert weather_branch["properties"]["arguments"]["required"] == ["city", "days"]
    verdict = case_branch["properties"]["arguments"]["properties"]["with_verdict"]
    assert verdict["const"] is True
    assert case_branch["properties"]["arguments"]["required"] == ["case_number", "with_verdict"]
    assert weather.parameters["required"] == ["city"]  # the tool itself is unchanged
    assert space.accepts([Call("weather", {"city": "Oslo", "days": 3})])
    assert not space.accepts([Call("weather", {"city": "Oslo"})])
    plain, _, _ = agent.first_step("The weather in Oslo?")
    assert plain.shaped == {}
    step_two, _ = agent._step_space(2, None, [])
    assert step_two.shaped == {}  # only the first step reads the task


@tool
def record(case_number: str, county: str, kind: Literal["civil", "criminal"] = "civil") -> str:
    """Look up a court record."""
    return "found"


def test_a_value_repeated_in_a_later_argument() -> None:
    task = "Find case CA123456 in San Diego County."
    same = Call("record", {"case_number": "CA123456", "county": "CA123456"})
    assert repeated_arguments(same, record, task) == {"county": "ca123456"}
    part = Call("record", {"case_number": "2022/AL2562", "county": "AL2562"})
    assert repeated_arguments(part, record, task) == {"county": "2022/al2562"}  # a code
    words = Call("record", {"case_number": "Hilton Hotel in Chicago", "county": "Chicago"})
    assert repeated_arguments(words, record, task) == {}  # words in part: no copy
    digits = Call("record", {"case_number": "123456 in Texas", "county": "123456"})
    assert repeated_arguments(digits, record, task) == {"county": "123456 in texas"}
    fine = Call("record", {"case_number": "CA123456", "county": "San Diego"})
    assert repeated_arguments(fine, record, task) == {}


@tool
def binomial(trials: int, successes: int, sides: int = 2) -> float:
    """Probability of a number of successes."""
    return 0.0


@tool
def future(present: float, rate: float, periods: int, years: int) -> float:
    """Future value of an investment."""
    return present


@tool
def npv(cash_flows: list[int], rate: float, initial: int = 0) -> float:
    """Net present value."""
    return 0.0


def test_a_number_used_more_often_than_the_task_writes_it() -> None:
    task = "The probability of 60 heads if I flip a coin 100 times."
    copied = Call("binomial", {"trials": 100, "successes": 100})
    assert repeated_arguments(copied, binomial, task) == {"successes": (100,)}
    right = Call("binomial", {"trials": 100, "successes": 60})
    assert repeated_arguments(right, binomial, task) == {}
    die = "Rolling a six on a six-sided die, twice."  # six written twice: both may take it
    assert repeated_arguments(Call("binomial", {"trials": 6, "sides": 6}), binomial, die) == {}
    # The later argument is named next to the number, the earlier not: the earlier is the copy.
    grow = "Grow $5000 at 5% in 3 years, compounded monthly."
    periods = Call("future", {"present": 5000, "rate": 0.05, "periods": 3, "years": 3})
    # Kept from every number used up: the 3, and the $5000 and 5% the others took.
    assert repeated_arguments(periods, future, grow) == {"periods": (5000, 0.05, 3)}
    unwritten = Call("binomial", {"trials": 12, "successes": 3})  # each used once
    assert repeated_arguments(unwritten, binomial, "twelve months, 3 of them") == {}
    flows = "NPV of cash_flows=[200,300,400,500] at 10%, initial investment of $2000."
    listed = Call("npv", {"cash_flows": [2000, 2000, 2000], "rate": 0.1, "initial": 2000})
    assert repeated_arguments(listed, npv, flows) == {"cash_flows": None}
    twice = "Cash flows of 100, 100 and 200 at 5%."  # the task lists 100 twice itself
    assert (
        repeated_arguments(Call("npv", {"cash_flows": [100, 100, 200], "rate": 0.05}), npv, twice)
        == {}
    )


@tool
def fitness(trait_values: list[float], trait_contributions: list[float]) -> float:
    """Evolutionary fitness of a creature."""
    return 0.0


@tool
def clock_angle(hours: int, minutes: int, round_to: int = 2) -> float:
    """Angle between the hands of a clock."""
    return 0.0


@tool
def triangle(base: int, height: int, unit: str = "units") -> float:
    """Area of a triangle."""
    return base * height / 2


def test_a_list_or_a_text_repeating_numbers_an_earlier_argument_used_up() -> None:
    task = "Trait A contributes 40% and trait B 60%; trait A has a value of 0.8, B of 0.7."
    copied = Call("fitness", {"trait_values": [0.8, 0.7], "trait_contributions": [0.8, 0.7]})
    assert repeated_arguments(copied, fitness, task) == {"trait_contributions": (0.8, 0.7)}
    right = Call("fitness", {"trait_values": [0.8, 0.7], "trait_contributions": [40, 60]})
    assert repeated_arguments(right, fitness, task) == {}
    area = "A triangle with a base of 10 units and height of 5 units."
    unit = Call("triangle", {"base": 10, "height": 5, "unit": "10"})
    assert repeated_arguments(unit, triangle, area) == {"unit": "10"}
    assert repeated_arguments(Call("triangle", {"base": 10, "height": 5}), triangle, area) == {}


def test_an_optional_argument_left_with_no_value_is_left_out() -> None:
    task = "The angle between the hands of a clock at 6:30 PM?"
    call = Call("clock_angle", {"hours": 6, "minutes": 30, "round_to": 6})
    avoid = repeated_arguments(call, clock_angle, task)
    assert avoid == {"round_to": (6, 30)}
    held = held_to_task(
        clock_angle.parameters, "clock_angle", ["clock_angle.round_to"], task, not_like=avoid
    )
    assert held is not None and "round_to" not in held["properties"]
    # A required argument with no value left: nothing to hold it to.
    hours = held_to_task(
        clock_angle.parameters,
        "clock_angle",
        ["clock_angle.hours"],
        task,
        not_like={"hours": (6, 30)},
    )
    assert hours is None


def test_held_to_the_task_without_the_number_taken() -> None:
    task = "The probability of 60 heads if I flip a coin 100 times."
    held = held_to_task(
        binomial.parameters,
        "binomial",
        ["binomial.successes"],
        task,
        not_like={"successes": (100,)},
    )
    assert held is not None and held["properties"]["successes"]["enum"] == [60]
    deposit = "A deposit of $5000 at 3% for 5 years, compounded quarterly."
    call = Call("future", {"present": 5000, "rate": 0.03, "periods": 5, "years": 5})
    avoid = repeated_arguments(call, future, deposit)
    assert avoid == {"periods": (5000, 0.03, 5)}  # "for 5 years": the periods copied the 5
    held = held_to_task(future.parameters, "future", ["future.periods"], deposit, not_like=avoid)
    assert held is not None and held["properties"]["periods"]["enum"] == [3]  # not the $5000


def test_a_repeated_value_is_decoded_again_without_it(tmp_path: Path, closing: list[Agent]) -> None:
    replies = [
        json.dumps([{"tool": "record", "arguments": {"case_number": "CA123", "county": "CA123"}}]),
        json.dumps([{"tool": "record", "arguments": {"case_number": "CA123", "county": "Marin"}}]),
        json.dumps([{"tool": "final_answer", "arguments": {"answer": "Found."}}]),
    ]
    model = ScriptedModel(replies)
    agent = Agent(model, tools=[record], memory=tmp_path / "m.db", tool_gate=None)
    closing.append(agent)
    events: list[Event] = []
    result = agent.run("Find record CA123 in Marin county.", on_event=events.append)
    repeated = [e.data for e in events if e.kind == "arguments_repeated"]
    assert [(r["arguments"], r["redone"]) for r in repeated] == [(["record.county"], True)]
    calls = [e.data["arguments"] for e in events if e.kind == "tool_call"]
    assert calls == [{"case_number": "CA123", "county": "Marin"}]
    county = model.constraints[1].schema["items"]["properties"]["arguments"]["properties"]["county"]
    assert "Marin" in county["enum"] and not any("CA123" in v for v in county["enum"])
    assert result.output == "Found."
