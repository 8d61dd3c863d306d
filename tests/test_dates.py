"""Dates passed in the layout a tool declares (`agentsmall._dates`)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from agentsmall import Agent, tool
from agentsmall._actions import Call, StepAction
from agentsmall._dates import (
    as_declared,
    dates_as_declared,
    dates_in,
    declared_format,
    from_task,
    readings,
)
from agentsmall._grounding import check_action, is_grounded
from agentsmall.agent import Event
from agentsmall.models import ScriptedModel


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1980-01-01", {dt.date(1980, 1, 1)}),
        ("2022/08/16", {dt.date(2022, 8, 16)}),
        ("January 1, 2021", {dt.date(2021, 1, 1)}),
        ("1st of Jan 2021", {dt.date(2021, 1, 1)}),
        ("13-01-1980", {dt.date(1980, 1, 13)}),  # 13 is no month: day first
        ("01-02-2020", {dt.date(2020, 1, 2), dt.date(2020, 2, 1)}),  # two readings
        ("2021-02-30", set()),  # no such day
        ("London 2022/08/16", set()),  # not a date as a whole
        ("12345", set()),
    ],
)
def test_the_dates_a_value_can_mean(text: str, expected: set[dt.date]) -> None:
    assert readings(text) == expected


@pytest.mark.parametrize(
    ("description", "expected"),
    [
        ("The birth date. Must be in MM-DD-YYYY format.", "%m-%d-%Y"),
        ("Start of the range, in the format of MM-DD-YYY.", "%m-%d-%Y"),  # a typo'd year
        ("Date in yyyy-mm-dd.", "%Y-%m-%d"),
        ("Date as DD/MM/YYYY", "%d/%m/%Y"),
        ("The date (month-day-year) of the reading.", "%m-%d-%Y"),
        ("The date of the reading.", None),
        ("Time as HH:MM", None),
    ],
)
def test_the_layout_a_description_declares(description: str, expected: str | None) -> None:
    assert declared_format({"type": "string", "description": description}) == expected


def test_a_date_is_rewritten_only_when_it_reads_one_way() -> None:
    us = {"type": "string", "description": "Must be in MM-DD-YYYY format."}
    assert as_declared("1980-01-01", us) == "01-01-1980"
    assert as_declared("January 1, 2021", us) == "01-01-2021"
    assert as_declared("01-01-1980", us) is None  # written so already
    assert as_declared("03-04-2020", {**us, "description": "Date as YYYY-MM-DD."}) is None
    assert as_declared("1980-01-01", {"type": "string"}) is None  # nothing declared
    assert as_declared("soon", us) is None


@tool
def felonies(full_name: str, birth_date: str, since: str = "") -> str:
    """Check a person's record.

    Args:
        full_name: The person's name.
        birth_date: The birth date. Must be in MM-DD-YYYY format.
        since: Only records after this date, as MM-DD-YYYY.
    """
    return "none"


def test_a_call_passes_its_dates_as_declared_and_they_stay_grounded() -> None:
    task = "Has John Doe, born 01-01-1980, any felonies since January 5, 2021?"
    call = Call(
        "felonies", {"full_name": "John Doe", "birth_date": "1980-01-01", "since": "2021-01-05"}
    )
    tools = {"felonies": felonies}
    formatted = dates_as_declared(StepAction(calls=(call,)), tools)
    assert formatted.calls[0].arguments["birth_date"] == "01-01-1980"
    assert formatted.dates_formatted == ("felonies.birth_date", "felonies.since")
    checked = check_action(
        StepAction(calls=(call,)), tools, task=task, context=task, first_step=True
    )
    # "01-05-2021" is the date the task wrote as "January 5, 2021": grounded, kept.
    assert checked.calls[0].arguments["since"] == "01-05-2021"
    assert checked.ungrounded_dropped == ()
    assert dt.date(2021, 1, 5) in dates_in(task)
    assert not is_grounded("since", "03-07-2021", task.lower())


def test_the_agent_says_it_formatted_a_date(tmp_path: Path, closing: list[Agent]) -> None:
    replies = [
        json.dumps(
            [
                {
                    "tool": "felonies",
                    "arguments": {"full_name": "John Doe", "birth_date": "1980-01-01"},
                }
            ]
        ),
        json.dumps([{"tool": "final_answer", "arguments": {"answer": "None found."}}]),
    ]
    agent = Agent(
        ScriptedModel(replies), tools=[felonies], memory=tmp_path / "m.db", tool_gate=None
    )
    closing.append(agent)
    events: list[Event] = []
    agent.run("Has John Doe, born 01-01-1980, any felonies?", on_event=events.append)
    formatted = [e for e in events if e.kind == "dates_formatted"]
    assert formatted and formatted[0].data == {"arguments": ["felonies.birth_date"]}
    call = next(e for e in events if e.kind == "tool_call")
    assert call.data["arguments"]["birth_date"] == "01-01-1980"


def test_a_date_the_task_does_not_write_becomes_the_one_it_does() -> None:
    plain = {"type": "string", "description": "The game's date."}
    task = "Who won between the Lakers and the Clippers on Jan 28, 2021?"
    assert from_task("12/28/2021", plain, task) == "01/28/2021"  # in the value's own layout
    assert from_task("2021-12-28", plain, task) == "2021-01-28"
    assert from_task("28 Dec 2021", plain, task) == "January 28, 2021"
    declared = {"type": "string", "description": "Date as YYYY-MM-DD."}
    assert from_task("12/28/2021", declared, task) == "2021-01-28"
    assert from_task("01/28/2021", plain, task) is None  # the task's date already
    assert from_task("Lakers", plain, task) is None  # no date
    assert from_task("2021-12-28", plain, "Games from March 1, 2021 to May 2, 2021?") is None
    assert from_task("2021-12-28", plain, "Who won yesterday?") is None
    taken = {dt.date(2021, 1, 28)}  # the start date holds it: an open end stays the model's
    assert from_task("2021-12-28", plain, task, taken=taken) is None


def test_the_first_steps_dates_are_repaired_from_the_task() -> None:
    task = "Any felonies of John Doe since Jan 28, 2021?"
    call = Call("felonies", {"full_name": "John Doe", "birth_date": "", "since": "2021-12-28"})
    tools = {"felonies": felonies}
    repaired = dates_as_declared(StepAction(calls=(call,)), tools, task=task)
    assert repaired.calls[0].arguments["since"] == "01-28-2021"  # the task's, as declared
    later = dates_as_declared(StepAction(calls=(call,)), tools)  # no task: layout only
    assert later.calls[0].arguments["since"] == "12-28-2021"
