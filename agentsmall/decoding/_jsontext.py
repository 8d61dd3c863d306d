"""Following streamed JSON text character by character: bracket depth and strings."""

from __future__ import annotations


class JsonDepth:
    """The bracket depth of JSON text fed so far, brackets inside strings not counted.

    Shared by the watchers that act on the top-level list of a step (`RepeatWatcher`,
    `ListBudget`), so that they agree on where an item starts and ends.
    """

    def __init__(self) -> None:
        self.depth = 0
        self.in_string = False
        self._escaped = False

    def step(self, ch: str) -> None:
        """Take one more character of the text."""
        if self.in_string:
            if self._escaped:
                self._escaped = False
            elif ch == "\\":
                self._escaped = True
            elif ch == '"':
                self.in_string = False
        elif ch == '"':
            self.in_string = True
        elif ch in "[{":
            self.depth += 1
        elif ch in "]}":
            self.depth -= 1
