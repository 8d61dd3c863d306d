"""Numbers as a task writes them (`agentsmall._numbers`)."""

from __future__ import annotations

import pytest

from agentsmall import tool
from agentsmall._actions import Call, StepAction
from agentsmall._grounding import check_action, numbers_as_meant
from agentsmall._numbers import is_written, numbers_in, scaled_in, signed_in, times_written

TEXT = "Coordinates (40.7128, -74.0060); a profit of $2,000,000 in three days; 10 m, not 100."


@pytest.mark.parametrize(
    ("value", "written"),
    [
        (40.7128, True),
        (-74.006, True),  # with a trailing zero
        (2000000, True),  # with thousands separators
        (3, True),  # as a word
        (10, True),
        (10.0, True),
        (2000, False),  # a part of "2,000,000" is not the number
        (40.71, False),
        (100.5, False),
        (1, False),
    ],
)
def test_a_number_is_found_however_the_task_writes_it(value: float, written: bool) -> None:
    assert is_written(value, TEXT) is written


def test_numbers_listed_without_spaces_are_each_written() -> None:
    listed = "the factorial of 5,10 and 15"
    assert all(is_written(v, listed) for v in (5, 10, 15))
    grouped = "a price of 1,500 dollars"
    assert is_written(1500, grouped)
    assert not is_written(1, grouped) and not is_written(500, grouped)


def test_commas_in_brackets_separate_a_lists_numbers() -> None:
    task = "NPV of cash_flows=[200,300,400,500] and an initial investment of $2,000."
    assert numbers_in(task, integers_only=True) == [200, 300, 400, 500, 2000]
    assert is_written(200, task) and is_written(500, task) and is_written(2000, task)
    assert not is_written(200_300_400_500, task)


def test_numbers_with_a_word_of_scale_are_read_as_meant() -> None:
    task = "100 million shares, a payout of 50 million USD, 8.5 million km2, and 50 more"
    assert scaled_in(task) == {100: 100_000_000, 8.5: 8_500_000}  # 50 is also written alone
    assert is_written(100_000_000, task) and is_written(100, task)
    assert times_written(50, task) == 2
    assert numbers_in("a payout of 50 million", integers_only=True) == [50, 50_000_000]
    assert scaled_in("1.001 million people") == {1.001: 1_001_000}  # not 1000999.9999999999


@tool
def dividend(
    total_payout: int,
    outstanding_shares: int,
    revenue_millions: float = 0,
    notes: list[int] | None = None,
) -> float:
    """Dividend per share."""
    return total_payout / outstanding_shares


def test_a_call_gets_the_number_meant_not_its_digits() -> None:
    task = "Dividend per share: 100 million shares, a payout of 50 million, revenue 7 million."
    copied = {"total_payout": 50, "outstanding_shares": 100, "revenue_millions": 7, "notes": [50]}
    action = StepAction(calls=(Call("dividend", copied),))
    meant = numbers_as_meant(action, {"dividend": dividend}, task)
    assert meant.calls[0].arguments == {
        "total_payout": 50_000_000,
        "outstanding_shares": 100_000_000,
        "revenue_millions": 7,  # the parameter counts in millions itself
        "notes": [50],  # a list or None (a union): left alone
    }
    assert meant.scaled == ("dividend.total_payout", "dividend.outstanding_shares")
    assert numbers_as_meant(action, {"dividend": dividend}, "50 and 100 and 7") is action
    # As every step's calls are checked before they run:
    checked = check_action(action, {"dividend": dividend}, task=task, context=task, first_step=True)
    assert checked.calls[0].arguments["total_payout"] == 50_000_000


@tool
def distance(coord1: list[float], coord2: list[float], unit: str = "miles") -> float:
    """Distance between two GPS coordinates (latitude, longitude)."""
    return 0.0


def test_coordinates_south_and_west_are_negative() -> None:
    task = "The distance between (33.4484 N, 112.0740 W) and (33.86° S, 151.21° E) in miles."
    assert signed_in(task) == {112.074: -112.074, 33.86: -33.86}
    assert signed_in(task.lower()) == signed_in(task)  # the context is lower-cased
    assert is_written(-112.074, task) and is_written(112.074, task)
    assert signed_in("a 100 W bulb and a force of 5 N") == {}  # no latitude-longitude pair
    copied = {"coord1": [33.4484, 112.074], "coord2": [33.86, 151.21]}
    meant = numbers_as_meant(
        StepAction(calls=(Call("distance", copied),)), {"distance": distance}, task
    )
    assert meant.calls[0].arguments == {"coord1": [33.4484, -112.074], "coord2": [-33.86, 151.21]}
    assert meant.scaled == ("distance.coord1", "distance.coord2")
