"""Closing a top-level JSON list while the step's token budget can still close it.

Value bounds (`agentsmall._actions.bound_values`) make every single call end, but not a whole
step: a step may list several calls, and they share one token budget. Four calls with 15-digit
integers, or three with 64-character strings, each within its bounds, together ran past 256
tokens on Gemma 3 270M, and a step cut off by the token limit is invalid JSON.

So before the comma that would start another item of the top-level list, the budget asks
whether one more item and the closing bracket still fit in the tokens left. The cost of the
next item is estimated from the items of this very step: the longest one so far, in tokens,
plus a quarter of it as a margin. The calls of one step are usually calls of the same tool
with arguments of the same kind (parallel_20: items of 58, 67 and 66 tokens), so the longest
one so far is a good guess, and the margin covers the growth seen from one item to the next
(16% there). When the estimate does not fit, commas are masked at the top level and the list
can only close: the step ends valid with the calls it has.

Why an estimate from the step and not a hard reserve or a worst case from the schema: a fixed
reserve either is too small for long calls or takes tokens from short ones, and the schema's
worst case (every string at 64 characters, every integer at 15 digits) is far above what
models write, so it would close lists that had room for more. The estimate only narrows the
choice when the end of the budget is near; with ample budget nothing is masked and the text is
byte for byte what it was without this mechanism.

A single token can close an item *and* start the next (`}},`, `}}, {"`). Masking such tokens
while the budget is tight (as the repeat watcher does) would make the model choose among the
rest, and a model that wanted to close the item may then write one more digit instead (seen
on SmolLM2 with commas favoured). So the choice is made on the full mask, and only when the
chosen token would start another item is it replaced by the longest allowed token that spells
its text up to that comma (`}},` becomes `}}`): the model's decision to close the item is kept,
the comma is dropped, and at the top level the list can then only close. Only when no such
token is allowed is the choice made again without tokens that close and go on.

Shortening an item once it has started is left to the last tokens of the budget (`wind_up`):
there, whenever the constraint allows a token that only closes (`"`, `]`, `}`, `"}}]`), the
choice is among those, so an overlong string or list argument ends instead of being cut off
(seen on SmolLM2 with a list of 64-character strings "C:C:C:..."). Before that nothing
changes. If a single item still does not fit (the constraint requires more keys), the step is
cut off as before. Bounding one item is left to the value bounds, which keep one call well under
the default budget of 256 tokens for the usual tools (a few arguments); a tool with many long
string arguments can still exceed it, and needs a larger `max_tokens_per_step`. Nothing is
rolled back: what was written stays. Nor can it refuse a comma the schema requires (`minItems`
not reached): the list goes on then, as the repeat watcher's does.

It works on the token mask and the chosen token, after the constraint, so it is the same for
both constraint backends (llguidance and outlines-core). Lists of scalars are followed the
same way (`1,` becomes `1`).
"""

from __future__ import annotations

import copy

from agentsmall.decoding._jsontext import JsonDepth

CLOSING_TOKENS = 1
"""Tokens kept for closing the list (`]`)."""


def next_item_estimate(longest: int) -> int:
    """Tokens to keep for one more item whose predecessors took at most `longest` tokens."""
    return longest + longest // 4


WIND_UP_TOKENS = 32
"""The last tokens of the budget, in which a JSON output closes wherever it may: enough for
the deepest closing run of a tool-call step (`"`, `]`, `}}`, `]`) and for the required
arguments a call must still write after a string closed (``", "start_year": 1000,
"end_year": 1500}}]`` is 16 tokens: with 16, Gemma 3 270M's `parallel_34` was cut off after
closing the string). A budget winds up in its last eighth only (at least 2 tokens), so that
it is not all wind-up: 32 tokens of the step's default 256."""


class ListBudget:
    """Follows a step's output token by token and says when another list item cannot fit.

    Items are measured in tokens from one top-level comma to the next (the first item from the
    start of the output, so its `[` counts too: an estimate a token high, never low).
    """

    def __init__(self, max_tokens: int) -> None:
        self.max_tokens = max_tokens
        self.wind_up = min(WIND_UP_TOKENS, max(2, max_tokens // 8))
        self._json = JsonDepth()
        self._is_list: bool | None = None  # unknown until the first character
        self._tokens = 0
        self._item_start = 0
        self._longest = 0

    def feed(self, text: str) -> None:
        """Take the text of one more token ("" for a token that ends no UTF-8 character)."""
        for ch in text:
            if self._is_list is None and not ch.isspace():
                self._is_list = ch == "["
            if ch == "," and self._json.depth == 1 and not self._json.in_string:
                self._longest = max(self._longest, self._tokens - self._item_start)
                self._item_start = self._tokens
            self._json.step(ch)
        self._tokens += 1

    @property
    def between_items(self) -> bool:
        """At the top level of the list, outside any item: where a comma starts a new item."""
        return bool(self._is_list) and self._json.depth == 1 and not self._json.in_string

    def tight(self) -> bool:
        """Whether the tokens left are too few for one more item and the closing bracket.

        The item being written counts as a predecessor (its tokens so far are a lower bound
        of its length), so the estimate is there before the first item has closed.
        """
        if not self._is_list or self._json.depth < 1:
            return False
        longest = max(self._longest, self._tokens - self._item_start)
        left = self.max_tokens - self._tokens
        return left < next_item_estimate(longest) + CLOSING_TOKENS

    def winding_up(self) -> bool:
        """Whether only the last `wind_up` tokens of the budget are left."""
        return self.max_tokens - self._tokens <= self.wind_up

    def item_comma(self, piece: bytes) -> int | None:
        """The offset in `piece`, if it were written next, of a comma that would start another
        item of the list; None when it holds no such comma.

        Bytes, not characters: JSON's punctuation is ASCII, and no byte of a multi-byte UTF-8
        character is, so a piece that splits a character is read correctly too.
        """
        if not self._is_list:
            return None
        json = copy.copy(self._json)
        for offset, byte in enumerate(piece):
            ch = chr(byte) if byte < 0x80 else "\x80"
            if ch == "," and json.depth == 1 and not json.in_string:
                return offset
            json.step(ch)
        return None
