"""Numbers as a task writes them: in digits ("2,000,000", "0.05") or in words ("three").

Grounding (`agentsmall._grounding`), the held retry (`agentsmall._given`) and the fan-out
(`agentsmall._fanout`) all ask where a number is written; they ask here, so a value the task
writes as "$2,000,000" or "three days" is found by every one of them.
"""

from __future__ import annotations

import re

_NUMBER = re.compile(r"(?<![\w.])-?\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\d.])|(?<![\w.])-?\d+(?:\.\d+)?")


# fmt: off
_SMALL_NUMBERS = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen", "twenty",
)
# fmt: on
_NUMBER_WORDS = {word: value for value, word in enumerate(_SMALL_NUMBERS)}
_NUMBER_WORDS |= {"thirty": 30, "forty": 40, "fifty": 50, "hundred": 100, "thousand": 1000}
_NUMBER_WORDS |= {"twice": 2, "thrice": 3, "dozen": 12, "single": 1, "double": 2, "triple": 3}
_NUMBER_WORD = re.compile(rf"\b(?:{'|'.join(_NUMBER_WORDS)})\b", re.IGNORECASE)


def numbers_in(text: str, *, integers_only: bool) -> list[int | float]:
    """The numbers `text` writes, in order, each once: in digits ("1,000" as 1000) or as a
    word ("six", "twice", "a dozen")."""
    found: list[int | float] = []
    matches = sorted([*_NUMBER.finditer(text), *_NUMBER_WORD.finditer(text)], key=re.Match.start)
    for match in matches:
        word = _NUMBER_WORDS.get(match.group().lower())
        raw = str(word) if word is not None else match.group().replace(",", "")
        value: int | float = float(raw) if "." in raw else int(raw)
        if isinstance(value, float) and value.is_integer() and integers_only:
            value = int(value)
        if integers_only and not isinstance(value, int):
            continue
        if value not in found:
            found.append(value)
    return found


def number_pattern(value: float) -> str:
    """A regex alternation of the ways `value` is written in digits: `10.0` also as "10" or
    "10.00", `2000000` also as "2,000,000"."""
    forms = {repr(value)}
    if isinstance(value, float) and value.is_integer():
        forms.add(str(int(value)))
    if float(value).is_integer() and abs(value) >= 1000:
        forms.add(f"{int(value):,}")
    # A decimal may be written with trailing zeros: -74.006 as "-74.0060".
    patterns = [re.escape(f) + ("0*" if "." in f else "") for f in forms]
    return "|".join(sorted(patterns, key=len, reverse=True))


def is_written(value: float, text: str) -> bool:
    """Whether `text` writes the number `value`: in digits (10 in "10 m", not in "100", 2000
    not in "2,000,000"), or as a word ("three" for 3)."""
    return times_written(value, text) > 0


def times_written(value: float, text: str) -> int:
    """How often `text` writes the number `value`, in digits or as a word (`is_written`):
    "a six on a six-sided die" writes 6 twice."""
    # Not a part of a number grouped in thousands ("500" or "1" of "1,500"), but "5,10" is
    # two numbers.
    group = r"\d{3}(?!\d)"
    before = rf"(?<![\d.])(?:(?<!\d,)|(?!{group}))"
    digits = rf"{before}(?:{number_pattern(value)})(?!\d|,{group})"
    in_digits = len(re.findall(digits, text))
    in_words = sum(_NUMBER_WORDS.get(w.lower()) == value for w in _NUMBER_WORD.findall(text))
    return in_digits + in_words
