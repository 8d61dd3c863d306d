"""Numbers as a task writes them (`agentsmall._numbers`)."""

from __future__ import annotations

import pytest

from agentsmall._numbers import is_written

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
