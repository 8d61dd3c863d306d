"""Dates in the form a tool asks for.

A tool often says how it wants a date ("Must be in MM-DD-YYYY format", "(month-day-year)"),
and a small model writes dates the way it saw them most, as ``1980-01-01``, whatever the
description or the task says. A date is a value, not a string: when the model's value reads
as exactly one date and the parameter declares a layout, the agent passes that date in the
declared layout (`dates_as_declared`). A value that reads two ways ("01-02-2020": January 2
or February 1) is left as written, and so is one in a parameter that declares nothing. On the
first step, a date the task does not write is replaced by the one date it does (`from_task`):
"12/28/2021" for "Jan 28, 2021".

Grounding asks here too (`dates_in`): "01-01-2021" is written in a task that says "January 1,
2021".
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Mapping, Set
from typing import Any

from agentsmall._actions import Call, StepAction, rewrite_arguments
from agentsmall._tool import Tool

_MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}
_MONTHS |= {name.lower(): i for i, name in enumerate(calendar.month_abbr) if name}
_MONTH = "|".join(sorted(_MONTHS, key=len, reverse=True))

_YEAR_FIRST = re.compile(r"(\d{4})([-/.])(\d{1,2})\2(\d{1,2})")
_YEAR_LAST = re.compile(r"(\d{1,2})([-/.])(\d{1,2})\2(\d{4})")
_MONTH_DAY_YEAR = re.compile(rf"({_MONTH})\.? (\d{{1,2}})(?:st|nd|rd|th)?,? (\d{{4}})", re.I)
_DAY_MONTH_YEAR = re.compile(
    rf"(\d{{1,2}})(?:st|nd|rd|th)? (?:of )?({_MONTH})\.?,? (\d{{4}})", re.I
)

_PART = r"(y{3,4}|m{2}|d{2})"
_DECLARED = re.compile(rf"(?<![a-z]){_PART}([-/.]){_PART}\2{_PART}(?![a-z])", re.I)
_DECLARED_IN_WORDS = re.compile(r"\b(year|month|day)([-/])(year|month|day)\2(year|month|day)\b")
_DIRECTIVES = {"y": "%Y", "m": "%m", "d": "%d", "year": "%Y", "month": "%m", "day": "%d"}


def _date(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def readings(text: str) -> set[dt.date]:
    """The dates `text` (a whole value) can mean: one for "1980-01-01", "January 1, 1980" or
    "13-01-1980"; two for "01-02-2020" (month first or day first); none for anything else."""
    text = text.strip()
    if match := _YEAR_FIRST.fullmatch(text):
        found = _date(int(match[1]), int(match[3]), int(match[4]))
        return {found} if found else set()
    if match := _YEAR_LAST.fullmatch(text):
        first, second, year = int(match[1]), int(match[3]), int(match[4])
        both = {_date(year, first, second), _date(year, second, first)}
        return {d for d in both if d is not None}
    if match := _MONTH_DAY_YEAR.fullmatch(text):
        found = _date(int(match[3]), _MONTHS[match[1].lower()], int(match[2]))
        return {found} if found else set()
    if match := _DAY_MONTH_YEAR.fullmatch(text):
        found = _date(int(match[3]), _MONTHS[match[2].lower()], int(match[1]))
        return {found} if found else set()
    return set()


def dates_in(text: str) -> set[dt.date]:
    """Every date `text` writes, in any of the forms `readings` knows (both readings of an
    ambiguous one)."""
    found: set[dt.date] = set()
    for pattern in (_YEAR_FIRST, _YEAR_LAST, _MONTH_DAY_YEAR, _DAY_MONTH_YEAR):
        for match in pattern.finditer(text):
            found |= readings(match[0])
    return found


def declared_format(schema: Mapping[str, Any]) -> str | None:
    """The date layout the parameter's description declares, as a `strftime` format
    ("MM-DD-YYYY" gives "%m-%d-%Y", "(month-day-year)" too), or None."""
    description = str(schema.get("description", ""))
    if match := _DECLARED.search(description):
        parts, separator = (match[1], match[3], match[4]), match[2]
        letters = [p[0].lower() for p in parts]
    elif match := _DECLARED_IN_WORDS.search(description.lower()):
        parts, separator = (match[1], match[3], match[4]), match[2]
        letters = list(parts)
    else:
        return None
    if len(set(letters)) != 3:
        return None
    return separator.join(_DIRECTIVES[p] for p in letters)


def as_declared(value: str, schema: Mapping[str, Any]) -> str | None:
    """`value` written in the layout `schema` declares, or None when it declares none, the
    value is not a date, reads as more than one, or is written so already."""
    layout = declared_format(schema)
    if layout is None:
        return None
    meant = readings(value)
    if len(meant) != 1:
        return None
    written = meant.pop().strftime(layout)
    return None if written == value.strip() else written


def _layout(value: str) -> str | None:
    """The `strftime` layout `value` is written in, for the numeric forms ("12/28/2021" is
    "%m/%d/%Y"; a day-month order only where the first number is no month)."""
    value = value.strip()
    if match := _YEAR_FIRST.fullmatch(value):
        return match[2].join(("%Y", "%m", "%d"))
    if match := _YEAR_LAST.fullmatch(value):
        order = ("%d", "%m", "%Y") if int(match[1]) > 12 else ("%m", "%d", "%Y")
        return match[2].join(order)
    return None


def from_task(
    value: str, schema: Mapping[str, Any], task: str, *, taken: Set[dt.date] = frozenset()
) -> str | None:
    """The one date `task` writes, in the layout of `schema` or else of `value`, when
    `value` is a date the task does not write: a small model miscopies "Jan 28, 2021" as
    "12/28/2021". None when the value is no date, is one the task writes, or the task writes
    no date or more than one (which one was meant is then unknown), or its date is `taken`
    by another argument (an end date the task left open is not its start date)."""
    meant = readings(value)
    written = dates_in(task)
    if not meant or meant & written or len(written) != 1 or written & taken:
        return None
    layout = declared_format(schema) or _layout(value)
    date = next(iter(written))
    if layout is None:
        return f"{calendar.month_name[date.month]} {date.day}, {date.year}"
    return date.strftime(layout)


def dates_as_declared(
    action: StepAction, tools: Mapping[str, Tool], *, task: str | None = None
) -> StepAction:
    """`action` with every date argument in the layout its parameter declares
    (`as_declared`) and, given the `task` (on the first step), a date it does not write
    replaced by the one it does (`from_task`). The arguments changed are recorded as
    ``tool.argument``."""

    def in_layout(tool: Tool, call: Call, name: str, value: Any) -> str | None:
        schema = tool.parameters.get("properties", {}).get(name)
        if not isinstance(value, str) or schema is None:
            return None
        if task:
            taken = {d for v in call.arguments.values() if isinstance(v, str) for d in readings(v)}
            repaired = from_task(value, schema, task, taken=taken)
            if repaired is not None:
                return repaired
        return as_declared(value, schema)

    return rewrite_arguments(action, tools, in_layout, record="dates_formatted")
