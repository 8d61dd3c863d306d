"""Stopping a top-level JSON list as soon as the model repeats an item.

Small models under a list constraint tend to repeat their last item until the length bound: the
same tool call four times, or forty. Once an item repeats an earlier one, the list may only
close: commas are masked out, so the output is at most one repeat longer than it needs to be,
and the parser drops the repeat. Nothing is rolled back, so the text stays exactly what the
model wrote.

One subtlety: a single token can close an item *and* open the next (`}},` or `}}, {"`). While the
item being written could still turn out to be a repeat, such tokens are masked too, so the
model has to close the item on its own first; that changes how the text is split into tokens,
never which texts are possible.
"""

from __future__ import annotations

import numpy as np

from agentsmall.decoding._jsontext import JsonDepth


class RepeatWatcher:
    """Follows streamed JSON text and notices a repeated object/array item of the top-level list."""

    def __init__(self) -> None:
        self._json = JsonDepth()
        self._item: list[str] | None = None
        self._seen: set[str] = set()
        self.repeated = False

    def feed(self, text: str) -> None:
        for ch in text:
            if self._item is not None:
                self._item.append(ch)
            before = self._json.depth
            self._json.step(ch)
            after = self._json.depth
            if before == 1 and after == 2:
                self._item = [ch]
            elif before == 2 and after == 1 and self._item is not None:
                item = "".join(self._item)
                self._item = None
                if item in self._seen:
                    self.repeated = True
                self._seen.add(item)

    @property
    def may_repeat(self) -> bool:
        """The item being written is so far a prefix of an earlier item."""
        if self._item is None or not self._seen:
            return False
        partial = "".join(self._item)
        return any(seen.startswith(partial) for seen in self._seen)


def comma_tokens(pieces: tuple[bytes | None, ...]) -> np.ndarray:
    """Tokens that start (after spaces) with a comma: the ones that would extend a list."""
    return np.array([p is not None and p.lstrip(b" ").startswith(b",") for p in pieces], dtype=bool)


def closing_tokens(pieces: tuple[bytes | None, ...]) -> np.ndarray:
    """Tokens made only of quotes and closing brackets (and spaces): `"`, `]`, `"}}]`."""
    return np.array(
        [p is not None and bool(p.strip()) and not p.strip().strip(b'"]}') for p in pieces],
        dtype=bool,
    )


def close_then_comma_tokens(pieces: tuple[bytes | None, ...]) -> np.ndarray:
    """Tokens holding a closing bracket followed later by a comma (`}},`, `7}, {"`, ...)."""

    def closes_then_continues(piece: bytes | None) -> bool:
        if piece is None:
            return False
        closing = max(piece.find(b"}"), piece.find(b"]"))
        return closing >= 0 and piece.find(b",", closing) > closing

    return np.array([closes_then_continues(p) for p in pieces], dtype=bool)
