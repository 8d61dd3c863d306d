"""Drafts looked up in the text so far (`agentsmall.decoding._lookup`)."""

from __future__ import annotations

from agentsmall.decoding._lookup import PromptLookup


def test_the_latest_match_of_the_longest_suffix_is_drafted() -> None:
    prompt = [1, 2, 3, 9, 9, 1, 2, 3, 4, 5, 6]
    lookup = PromptLookup(prompt, lengths={3: 4, 1: 2})
    # Output ends with 1 2 3: its latest earlier occurrence is followed by 4 5 6.
    assert lookup.draft([7, 1, 2, 3], limit=10) == [4, 5, 6, 7]
    assert lookup.draft([7, 1, 2, 3], limit=2) == [4, 5]
    # Only the last token matches (3 tokens don't): the short draft length applies.
    assert lookup.draft([8, 8, 9], limit=10) == [1, 2]


def test_nothing_matches_nothing_is_drafted() -> None:
    lookup = PromptLookup([1, 2, 3], lengths={2: 4, 1: 2})
    assert lookup.draft([42], limit=5) == []
    assert lookup.draft([], limit=5) == []  # the prompt's own last token has no follower
    assert lookup.draft([1], limit=0) == []


def test_the_output_itself_is_searched() -> None:
    lookup = PromptLookup([0], lengths={2: 3})
    output = [5, 6, 7, 8, 5, 6]
    assert lookup.draft(output, limit=5) == [7, 8, 5]
