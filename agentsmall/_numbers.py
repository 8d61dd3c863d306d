"""Numbers as a task writes them: in digits ("2,000,000", "0.05", a list "[200,300]"), in
words ("three"), or with a word of scale ("50 million").

Grounding (`agentsmall._grounding`), the held retry (`agentsmall._given`) and the fan-out
(`agentsmall._fanout`) all ask where a number is written; they ask here, so a value the task
writes as "$2,000,000" or "three days" is found by every one of them.
"""

from __future__ import annotations

import re

_NUMBER = re.compile(
    r"(?<![\w.])-?\d{1,3}(?:,\d{3})+(?:\.\d+)?(?!\d|\.\d)"  # grouped: "2,000,000", "$2,000."
    r"|(?<![\w.])-?\d+(?:\.\d+)?"
)


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


_SCALES = {"thousand": 10**3, "million": 10**6, "billion": 10**9, "trillion": 10**12}
_SCALED = re.compile(
    r"(?<![\w.])(\d+(?:\.\d+)?)\s*(thousand|million|billion|trillion)\b", re.IGNORECASE
)


def _meant(scaled: re.Match[str]) -> int | float:
    """The number "50 million" means: 50000000."""
    value = round(float(scaled[1]) * _SCALES[scaled[2].lower()], 6)  # 1.001 million: 1001000
    return int(value) if value.is_integer() else value


_BRACKETED = re.compile(r"\[[^\[\]]*\]")


def _spaced_lists(text: str) -> str:
    """`text` with a space after each comma inside brackets: "[200,300,400,500]" is a list of
    four numbers, not 200300400500 grouped in thousands."""
    return _BRACKETED.sub(lambda m: re.sub(r",(?=\S)", ", ", m[0]), text)


def numbers_in(text: str, *, integers_only: bool) -> list[int | float]:
    """The numbers `text` writes, in order, each once: in digits ("1,000" as 1000) or as a
    word ("six", "twice", "a dozen"); with a word of scale, both as written and as meant
    ("50 million": 50 and 50000000)."""
    text = _spaced_lists(text)
    found: list[int | float] = []
    written = [
        (m.start(), m.group()) for m in (*_NUMBER.finditer(text), *_NUMBER_WORD.finditer(text))
    ]
    scaled = [(m.start(), str(_meant(m))) for m in _SCALED.finditer(text)]
    for _, raw in sorted([*written, *scaled], key=lambda at: at[0]):  # stable: digits first
        word = _NUMBER_WORDS.get(raw.lower())
        raw = str(word) if word is not None else raw.replace(",", "")
        value: int | float = float(raw) if "." in raw else int(raw)
        if isinstance(value, float) and value.is_integer() and integers_only:
            value = int(value)
        if integers_only and not isinstance(value, int):
            continue
        if value not in found:
            found.append(value)
    return found


_COORDINATES = re.compile(
    r"(?<![\w.])(\d{1,2}(?:\.\d+)?)\s*°?\s*([NS])\b\s*,?\s*"
    r"(\d{1,3}(?:\.\d+)?)\s*°?\s*([EW])\b",
    re.IGNORECASE,
)


def signed_in(text: str) -> dict[float, float]:
    """The coordinates `text` writes south or west of zero, in a latitude-longitude pair
    ("33.4484 N, 112.0740 W"), each with its signed decimal degrees: {112.074: -112.074}.
    Tools take decimal degrees, where south and west are negative."""
    signed: dict[float, float] = {}
    for match in _COORDINATES.finditer(text):
        for raw, hemisphere in ((match[1], match[2]), (match[3], match[4])):
            if hemisphere.upper() in "SW" and float(raw) > 0:
                signed[float(raw)] = -float(raw)
    return signed


def scaled_in(text: str) -> dict[int | float, int | float]:
    """The numbers `text` writes only with a word of scale, each with the number it means:
    {50: 50000000} for "a payout of 50 million", {8.5: 8500000} for "8.5 million km²"."""
    scaled: dict[int | float, int | float] = {}
    for match in _SCALED.finditer(text):
        raw = float(match[1])
        scaled[int(raw) if raw.is_integer() else raw] = _meant(match)
    return {
        digits: meant
        for digits, meant in scaled.items()
        if _times_in_digits(digits, text) == _times_scaled(digits, text)
    }


def _times_scaled(value: float, text: str) -> int:
    return sum(float(m[1]) == value for m in _SCALED.finditer(text))


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


def is_number(value: object) -> bool:
    """Whether an argument's value is a number (a bool is not, though Python says so)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def is_written(value: float, text: str) -> bool:
    """Whether `text` writes the number `value`: in digits (10 in "10 m", not in "100", 2000
    not in "2,000,000"), as a word ("three" for 3), or with a word of scale (50000000 in "50
    million")."""
    return times_written(value, text) > 0


def times_written(value: float, text: str) -> int:
    """How often `text` writes the number `value`, in digits, as a word, with a word of scale
    or as a coordinate (`is_written`): "a six on a six-sided die" writes 6 twice, "50
    million" writes 50 and 50000000 once each, "112.07 W" 112.07 and -112.07."""
    in_words = sum(_NUMBER_WORDS.get(w.lower()) == value for w in _NUMBER_WORD.findall(text))
    scaled = sum(_meant(m) == value for m in _SCALED.finditer(text))
    signed = value < 0 and value in signed_in(text).values()  # -112.074 for "112.074 W"
    return _times_in_digits(value, text) + in_words + scaled + signed


def _times_in_digits(value: float, text: str) -> int:
    text = _spaced_lists(text)
    # Not a part of a number grouped in thousands ("500" or "1" of "1,500"), but "5,10" is
    # two numbers.
    group = r"\d{3}(?!\d)"
    before = rf"(?<![\d.])(?:(?<!\d,)|(?!{group}))"
    digits = rf"{before}(?:{number_pattern(value)})(?!\d|,{group})"
    return len(re.findall(digits, text))
