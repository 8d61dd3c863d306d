"""Drafts for greedy decoding, looked up in the text already there (prompt lookup decoding).

A small model's tool call copies a lot: values from the task ("17 * 23 + 4", a city name), and
a second call of a list often repeats most of the first. When the last tokens written so far
also occur earlier in the prompt or the output, the tokens that followed them there are a good
guess of what comes next. The engine evaluates such a draft in the same batch as the tokens it
must evaluate anyway and keeps the longest part the model itself would have chosen (see
`Decoder.generate`), so a draft never changes the text: a right guess saves a model call
(~5.7 ms of fixed cost here), a wrong one costs its batched tokens (~3.5 ms each).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

DRAFT_LENGTHS = {4: 12}
"""How many tokens to draft after a match of the last n tokens. Only long matches pay: a
batch of two tokens costs here nearly as much as two single ones, so a short or unlikely draft
loses more than it saves (`agentsmall bench decode` compares settings, docs/BENCHMARKS.md)."""


class PromptLookup:
    """Finds the latest earlier occurrence of the context's last tokens, and what followed."""

    def __init__(self, prompt: Sequence[int], *, lengths: dict[int, int] = DRAFT_LENGTHS) -> None:
        self._prompt = np.asarray(prompt, dtype=np.int64)
        self._lengths = sorted(lengths.items(), reverse=True)

    def draft(self, output: Sequence[int], *, limit: int) -> list[int]:
        """Up to `limit` tokens that may follow prompt + `output`, or [] when nothing matches."""
        if limit <= 0:
            return []
        context = np.concatenate([self._prompt, np.asarray(output, dtype=np.int64)])
        for n, length in self._lengths:
            if len(context) <= n:
                continue
            suffix = context[-n:]
            # Start positions p (p + n < len(context), so something follows) where the n tokens
            # equal the suffix; the latest one wins: it is the nearest in meaning too.
            starts = np.flatnonzero(context[: len(context) - n] == suffix[0])
            for offset in range(1, n):
                starts = starts[context[starts + offset] == suffix[offset]]
            if starts.size:
                follow = int(starts[-1]) + n
                return context[follow : follow + min(length, limit)].tolist()
        return []
