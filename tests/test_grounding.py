"""Optional arguments the conversation does not mention are left out (`agentsmall._grounding`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import pytest

from agentsmall._actions import Call, StepAction
from agentsmall._grounding import (
    conversation_text,
    ground_action,
    invented_values,
    is_given,
    is_grounded,
    percentages_as_fractions,
    repair_copies,
    unrepeated_items,
)
from agentsmall._tool import Tool, tool
from agentsmall.agent import Agent, Event
from agentsmall.models import ScriptedModel


@tool
def convert(amount: float, unit: str = "m", precise: bool = False, tags: list[str] = []) -> str:  # noqa: B006
    """Convert an amount."""
    return f"{amount} {unit} precise={precise} tags={tags}"


@pytest.mark.parametrize(
    ("name", "value", "grounded"),
    [
        ("unit", "km", True),
        ("unit", "KM", True),  # case does not matter
        ("unit", "miles", False),
        ("unit", "", False),
        ("amount", 10, True),
        ("amount", 10.0, True),  # written "10" in the task
        ("amount", 100, False),  # "10" is in the text, "100" is not
        ("amount", 1, False),  # nor is 1 (only inside "10")
        ("amount", 2.5, True),
        ("precise", True, True),  # booleans: the name is spoken of ("precisely")
        ("include_human_impact", False, False),
        ("tags", ["km"], True),
        ("tags", ["km", "miles"], False),
        ("tags", [], False),
        ("budget", {"min": 10, "max": 2.5}, True),
        ("budget", {"min": 10, "max": 7}, False),
    ],
)
def test_what_is_grounded(name: str, value: object, grounded: bool) -> None:
    context = "convert 10 km to miles, precisely, then 2.5 km".replace("miles", "mi").lower()
    assert is_grounded(name, value, context) is grounded


def test_only_optional_ungrounded_arguments_are_left_out() -> None:
    action = StepAction(
        calls=(
            Call("convert", {"amount": 99, "unit": "km", "precise": True, "tags": ["x"]}),
            Call("convert", {"amount": 5, "unit": "yards"}),
        )
    )
    grounded = ground_action(action, {"convert": convert}, "Convert 5 km, precisely")
    assert grounded.calls == (
        Call("convert", {"amount": 99, "unit": "km", "precise": True}),  # amount is required
        Call("convert", {"amount": 5}),
    )
    assert grounded.ungrounded_dropped == ("convert.tags", "convert.unit")


def test_a_list_keeps_the_items_the_conversation_mentions() -> None:
    tags = ["Patio", "wifi", "Patio", "km"]
    action = StepAction(calls=(Call("convert", {"amount": 5, "tags": tags}),))
    grounded = ground_action(action, {"convert": convert}, "Convert 5 km on the patio")
    assert grounded.calls == (Call("convert", {"amount": 5, "tags": ["Patio", "km"]}),)
    assert grounded.ungrounded_dropped == ('convert.tags["wifi"]',)


def test_calls_that_become_identical_run_once() -> None:
    action = StepAction(
        calls=(Call("convert", {"amount": 5, "unit": "yards"}), Call("convert", {"amount": 5}))
    )
    grounded = ground_action(action, {"convert": convert}, "convert 5")
    assert grounded.calls == (Call("convert", {"amount": 5}),)
    assert grounded.duplicates_dropped == 1


def test_a_further_call_with_an_invented_required_value_is_dropped() -> None:
    action = StepAction(
        calls=(
            Call("convert", {"amount": 3}),  # derived or not, the first call stays
            Call("convert", {"amount": 5}),  # asked for: kept
            Call("convert", {"amount": 7, "unit": "km"}),  # 7 is not in the task: dropped
        )
    )
    grounded = ground_action(action, {"convert": convert}, "convert 5 km and 6 km")
    assert grounded.calls == (Call("convert", {"amount": 3}), Call("convert", {"amount": 5}))
    assert grounded.ungrounded_calls_dropped == ("convert",)
    assert grounded.duplicates_dropped == 0


def test_a_further_call_may_repeat_a_value_of_an_earlier_call() -> None:
    @tool
    def forecast(city: str, hours: int) -> str:
        """Weather for the next hours."""
        return city

    action = StepAction(
        calls=(
            Call("forecast", {"city": "Seattle.", "hours": 3}),
            Call("forecast", {"city": "Los Angeles", "hours": 3}),  # 3 is "three" in the task
        )
    )
    task = "Temperature for the next three hours in Seattle and Los Angeles?"
    grounded = ground_action(action, {"forecast": forecast}, task)
    assert grounded is action  # nothing dropped: "Seattle." is Seattle, 3 repeats call 1


def test_a_final_answer_is_left_alone() -> None:
    action = StepAction(final_answer="42")
    assert ground_action(action, {"convert": convert}, "") is action


def test_the_context_leaves_out_the_system_prompt_and_the_models_replies() -> None:
    messages = [
        {"role": "system", "content": "convert(amount, unit='parsecs')"},
        {"role": "user", "content": "convert 5"},
        {"role": "assistant", "content": "parsecs"},
        {"role": "user", "content": "convert returned: 5 m"},
    ]
    text = conversation_text(messages, "Be brief.")
    assert "parsecs" not in text and "convert 5" in text and "5 m" in text and "Be brief." in text


def test_the_agent_runs_the_grounded_call_and_records_it(
    tmp_path: Path, closing: list[Agent]
) -> None:
    replies = [
        json.dumps([{"tool": "convert", "arguments": {"amount": 5, "unit": "furlongs"}}]),
        json.dumps([{"tool": "final_answer", "arguments": {"answer": "done"}}]),
    ]
    model = ScriptedModel(replies)
    agent = Agent(model, tools=[convert], memory=tmp_path / "m.db")
    closing.append(agent)
    events: list[Event] = []
    result = agent.run("Convert 5 please", on_event=events.append)
    left_out = [e.data for e in events if e.kind == "arguments_left_out"]
    assert left_out == [{"arguments": ["convert.unit"], "calls": []}]
    assert result.steps[0].result == "5.0 m precise=False tags=[]"  # the tool's default unit
    # The history the next step sees holds the call as it ran.
    assert '"unit"' not in model.calls[1][-2]["content"]
    plain = Agent(
        ScriptedModel(replies), tools=[convert], memory=tmp_path / "n.db", ground_arguments=False
    )
    closing.append(plain)
    result = plain.run("Convert 5 please")
    assert result.steps[0].result == "5.0 furlongs precise=False tags=[]"


def test_the_cli_lines_name_what_the_agent_changed() -> None:
    from agentsmall.cli._run import describe_change

    left_out = {"arguments": ["convert.unit"], "calls": ["convert"]}
    line = describe_change("arguments_left_out", left_out)
    assert line == "left out (not in the conversation): convert.unit, a call of convert"
    withheld = {"calls": [], "invented": ["convert.amount"]}
    line = describe_change("call_withheld", withheld)
    assert line == "call withheld, nothing gave convert.amount: answering instead"
    line = describe_change("call_withheld", {**withheld, "held": True})
    assert line == (
        "call withheld, nothing gave convert.amount: decoding it again held to the task's values"
    )
    line = describe_change("copies_repaired", {"arguments": ["sculpture.artist"]})
    assert line == "miscopied from the task, repaired: sculpture.artist"
    line = describe_change("percentages_as_fractions", {"arguments": ["grow.rate"]})
    assert line == "percentages passed as fractions: grow.rate"
    line = describe_change("numbers_scaled", {"arguments": ["dividend.payout"]})
    assert line == "numbers passed as meant (millions, south/west): dividend.payout"
    line = describe_change("dates_formatted", {"arguments": ["record.birth_date"]})
    assert line == "dates as the task and the tool write them: record.birth_date"
    added = {"calls": [{"tool": "convert", "arguments": {"amount": 7}}]}
    line = describe_change("calls_added", added)
    assert line == "added for the other values listed in the task: convert(amount=7)"


@pytest.mark.parametrize(
    ("value", "schema", "given"),
    [
        ("London", {}, False),  # "Is it going to rain?": a city nobody named
        ("Paris", {}, True),
        ("cat name", {}, True),  # a phrase needs one word of the conversation
        ("dog food", {}, False),
        ("<city>", {}, False),  # a placeholder is never given
        ("2022-03-11", {}, True),  # a date, reformatted: its year is written
        ("1999-03-11", {}, False),
        ("celsius", {"enum": ["celsius", "kelvin"]}, True),  # the schema gives it
        (True, {}, True),
        (5, {}, True),
        (0.05, {}, True),  # "5%"
        (7, {}, False),
        (["Paris", "rain"], {"items": {}}, True),
        (["Paris", "London"], {"items": {}}, False),
        ([], {"items": {}}, False),
    ],
)
def test_what_a_required_value_is_given_by(value: object, schema: dict, given: bool) -> None:
    context = "Will it rain in Paris at 5% chance? What is my cat called? Since March 2022."
    words = {w.lower() for w in context.replace("?", " ").replace(".", " ").split()}
    assert is_given(value, schema, words, context.lower()) is given


@tool
def weather(city: str, day: str = "today") -> str:
    """The weather forecast for a city; day names like monday or tomorrow."""
    return f"sunny in {city}"


def test_invented_values_name_the_required_arguments_nothing_gave() -> None:
    call = Call("weather", {"city": "London", "day": "someday"})
    assert invented_values(call, weather, "Is it going to rain?") == ["weather.city"]
    assert invented_values(call, weather, "Is it going to rain in London?") == []
    # The tool's own descriptions give words too (the calculator's "sqrt").
    assert invented_values(Call("weather", {"city": "forecast"}), weather, "Hello") == []


def test_the_first_call_with_invented_values_is_withheld_and_the_step_answers(
    tmp_path: Path, closing: list[Agent]
) -> None:
    replies = [
        json.dumps([{"tool": "weather", "arguments": {"city": "London"}}]),
        json.dumps([{"tool": "final_answer", "arguments": {"answer": "Which city?"}}]),
    ]
    model = ScriptedModel(replies)
    agent = Agent(model, tools=[weather], memory=tmp_path / "m.db")
    closing.append(agent)
    events: list[Event] = []
    result = agent.run("Is it going to rain?", on_event=events.append)
    withheld = [e.data for e in events if e.kind == "call_withheld"]
    london = {"tool": "weather", "arguments": {"city": "London"}}
    assert withheld == [{"calls": [london], "invented": ["weather.city"], "held": False}]
    assert not [e for e in events if e.kind == "tool_call"]
    assert (result.status, result.output) == ("completed", "Which city?")
    # The answer step is constrained to answer: no tool in its schema.
    assert "weather" not in json.dumps(model.constraints[1].schema)


@tool
def grow(principal: float, rate: float, years: int, fee_percent: float = 0.0) -> float:
    """Compound growth of an investment."""
    return principal * (1 + rate) ** years


def test_percentages_go_to_tools_as_fractions() -> None:
    task = "Grow 1000 at 5% for 5 years, with a 2 percent fee."
    action = StepAction(
        calls=(Call("grow", {"principal": 1000, "rate": 5, "years": 5, "fee_percent": 2}),)
    )
    converted = percentages_as_fractions(action, {"grow": grow}, task)
    # rate: written "5%" -> 0.05; years (also 5, an integer) and fee_percent (a percentage by
    # name) stay as they are; principal was not written as a percentage.
    assert converted.calls[0].arguments == {
        "principal": 1000,
        "rate": 0.05,
        "years": 5,
        "fee_percent": 2,
    }
    assert converted.as_fractions == ("grow.rate",)
    unchanged = percentages_as_fractions(action, {"grow": grow}, "Grow 1000 at 5 for 5 years")
    assert unchanged is action


def test_a_rate_described_as_a_decimal_gets_the_fraction() -> None:
    """ "Enter as a decimal, e.g. 5% is 0.05" speaks of percent only to ask for the fraction."""
    rate = {"type": "number", "description": "The annual rate as a decimal. E.g. 5% is 0.05."}
    lend = Tool.from_schema(
        "lend",
        "Lend money.",
        {"type": "object", "properties": {"rate": rate}, "required": ["rate"]},
    )
    action = StepAction(calls=(Call("lend", {"rate": 5}),))
    converted = percentages_as_fractions(action, {"lend": lend}, "Lend at 5% a year.")
    assert converted.calls[0].arguments == {"rate": 0.05}
    in_percent = {"type": "number", "description": "The annual rate in percent."}
    percent_schema = {"type": "object", "properties": {"rate": in_percent}, "required": ["rate"]}
    lend_percent = Tool.from_schema("lend", "Lend money.", percent_schema)
    kept = percentages_as_fractions(action, {"lend": lend_percent}, "Lend at 5% a year.")
    assert kept is action


@tool
def histogram(data: list[int], bins: int = 10) -> str:
    """Plot a histogram."""
    return "plotted"


@tool
def dna(length: int, preferences: list[Literal["A", "T", "C", "G"]]) -> str:
    """Generate a DNA sequence."""
    return "ACGT"


def test_list_items_repeated_more_often_than_written_are_left_out() -> None:
    tools = {"histogram": histogram, "dna": dna}
    scores = "A histogram of 85, 90, 88, 91 with 5 bins."
    action = StepAction(calls=(Call("histogram", {"data": [85, 90, 88, 91, 91], "bins": 5}),))
    kept = unrepeated_items(action, tools, scores.lower())
    assert kept.calls[0].arguments == {"data": [85, 90, 88, 91], "bins": 5}
    assert kept.repeats_dropped == ("histogram.data",)
    bases = "100 bases with more G and C."
    cycled = StepAction(calls=(Call("dna", {"length": 100, "preferences": ["G", "C", "G", "C"]}),))
    assert unrepeated_items(cycled, tools, bases).calls[0].arguments["preferences"] == ["G", "C"]
    # Written twice, kept twice; one value repeated is left for the first step to decode again.
    twice = StepAction(calls=(Call("histogram", {"data": [90, 90, 88]}),))
    assert unrepeated_items(twice, tools, "scores 90, 90 and 88") is twice
    same = StepAction(calls=(Call("histogram", {"data": [2000, 2000, 2000]}),))
    assert unrepeated_items(same, tools, "an investment of $2000") is same


def test_a_list_of_rates_goes_as_fractions_when_its_parameter_sums_to_one() -> None:
    shares = {
        "type": "array",
        "items": {"type": "number"},
        "description": "The percentage contribution of each trait, which must sum to 1.",
    }
    schema = {"type": "object", "properties": {"shares": shares}, "required": ["shares"]}
    mix = Tool.from_schema("mix", "Mix traits.", schema)
    action = StepAction(calls=(Call("mix", {"shares": [40, 60]}),))
    converted = percentages_as_fractions(action, {"mix": mix}, "trait a 40% and trait b 60%")
    assert converted.calls[0].arguments == {"shares": [0.4, 0.6]}
    partly = percentages_as_fractions(action, {"mix": mix}, "trait a 40% and trait b 60")
    assert partly is action  # not every item a percentage: left as it is


def test_a_further_call_that_asks_nothing_new_is_dropped() -> None:
    action = StepAction(
        calls=(
            Call("convert", {"amount": 5, "unit": "km"}),
            Call("convert", {"amount": 5, "unit": "km", "precise": True}),  # True is new
            Call("convert", {"amount": 5}),  # only values already used: dropped
        )
    )
    grounded = ground_action(action, {"convert": convert}, "convert 5 km, precisely")
    assert [c.arguments for c in grounded.calls] == [
        {"amount": 5, "unit": "km"},
        {"amount": 5, "unit": "km", "precise": True},
    ]
    assert grounded.ungrounded_calls_dropped == ("convert",)


@tool
def sculpture(artist: str, city: str = "") -> str:
    """Sculptures by an artist."""
    return artist


def test_only_required_names_are_repaired() -> None:
    action = StepAction(calls=(Call("sculpture", {"artist": "Plensa", "city": "Jamez Plensa"}),))
    assert repair_copies(action, {"sculpture": sculpture}, "works of James Plensa") is action


def test_a_place_cut_short_of_its_state_gets_it() -> None:
    task = "The distance between Boston, MA, and Washington, D.C., then to Denver."
    for value, repaired in [("Boston", "Boston, MA"), ("Washington", "Washington, D.C.")]:
        action = StepAction(calls=(Call("sculpture", {"artist": value}),))
        result = repair_copies(action, {"sculpture": sculpture}, task)
        assert result.calls[0].arguments == {"artist": repaired}
    for value in ["Denver", "Boston, MA", "boston"]:  # no state written after it; written so
        action = StepAction(calls=(Call("sculpture", {"artist": value}),))
        assert repair_copies(action, {"sculpture": sculpture}, task) is action


@pytest.mark.parametrize(
    ("value", "repaired"),
    [
        ("James Planksa", "James Plensa"),  # a slip in a name
        ("Liverly F.C.", "Liverpool F.C."),  # the abbreviation's dots are kept
        ("plasma_membrane_type", "plasma membrane"),
        ("plasma_membrane", None),  # written so, but for the underscore
        ("Plensa", None),  # written in the task as it is
        ("Madrid", None),  # nothing like it in the task
        ("12/03/2021", None),  # numbers and dates are written in many ways
        ("<artist>", None),
        ("usd", None),  # a code, not a slip of "US"
        ("James Plensa Jr", None),  # adds to the task's words
        ("plasma-membrane", None),  # written so, but for the hyphen
        ("'James Plensa.'", None),  # written so, but for quotes and a full stop
    ],
)
def test_a_miscopied_name_is_replaced_by_what_the_task_writes(
    value: str, repaired: str | None
) -> None:
    task = "Who made the sculpture of James Plensa in the plasma membrane show? Liverpool F.C."
    action = StepAction(calls=(Call("sculpture", {"artist": value}),))
    result = repair_copies(action, {"sculpture": sculpture}, task)
    if repaired is None:
        assert result is action
    else:
        assert result.calls[0].arguments == {"artist": repaired}
        assert result.copies_repaired == ("sculpture.artist",)
