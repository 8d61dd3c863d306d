"""Fast-forward: text the constraint forces is appended without asking the model.

In a JSON tool call much of the text is fixed by the schema once the layout is canonical:
`[{"tool": "`, `", "arguments": {"`, key names, `": `, closing brackets, the rest of a tool name
once its prefix is unique. From an automaton state we follow the constraint byte by byte while
exactly one byte can come next; that forced string is then tokenized the way the model's own
tokenizer would write it, checked against the constraint token by token, and appended as one
batch. Runs are computed once per (constraint, state) and cached.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import outlines_core

from agentsmall.decoding._vocabulary import TokenVocabulary

# A state that allows more tokens than this is a real choice (inside a string, a number, ...);
# forced states allow only the few tokens that spell a prefix of the forced text.
_MAX_TOKENS_AT_FORCED_STATE = 512


@dataclass(frozen=True)
class ForcedRun:
    tokens: tuple[int, ...]
    text: bytes
    end_state: int


def _forced_bytes(
    index: outlines_core.Index, state: int, vocabulary: TokenVocabulary
) -> tuple[bytes, int]:
    """Follow the constraint from `state` while exactly one byte may come next."""
    forced = bytearray()
    eos = vocabulary.eos_token_id
    while True:
        allowed = index.get_allowed_tokens(state)
        if not allowed or len(allowed) > _MAX_TOKENS_AT_FORCED_STATE or eos in allowed:
            break
        first_bytes = {vocabulary.pieces[t][0] for t in allowed}  # type: ignore[index]
        if len(first_bytes) != 1:
            break
        byte = first_bytes.pop()
        byte_token = vocabulary.byte_tokens.get(byte)
        if byte_token is None or byte_token not in allowed:
            break
        next_state = index.get_next_state(state, byte_token)
        if next_state is None:
            break
        forced.append(byte)
        state = next_state
    return bytes(forced), state


def _walk(index: outlines_core.Index, state: int, tokens: list[int]) -> int | None:
    """The state after `tokens`, or None if the constraint rejects one of them."""
    for token in tokens:
        next_state = index.get_next_state(state, token)
        if next_state is None:
            return None
        state = next_state
    return state


def _longest_match(
    index: outlines_core.Index, state: int, text: bytes, vocabulary: TokenVocabulary
) -> list[int] | None:
    """Tokens for `text` by longest allowed match: the fallback when the tokenizer's own
    tokenization of the forced text is not accepted token by token (rare)."""
    tokens: list[int] = []
    while text:
        best = None
        for token in index.get_allowed_tokens(state) or ():
            piece = vocabulary.pieces[token]
            if piece and text.startswith(piece) and (best is None or len(piece) > best[1]):
                best = (token, len(piece))
        if best is None:
            return None
        tokens.append(best[0])
        state = index.get_next_state(state, best[0])
        text = text[best[1] :]
    return tokens


def forced_run(
    index: outlines_core.Index,
    state: int,
    vocabulary: TokenVocabulary,
    tokenize: Callable[[bytes], list[int]],
) -> ForcedRun | None:
    """The forced continuation from `state`, as tokens, or None when the model must choose."""
    text, end_state = _forced_bytes(index, state, vocabulary)
    if not text:
        return None
    tokens = tokenize(text)
    if (
        b"".join(vocabulary.pieces[t] or b"" for t in tokens) != text
        or _walk(index, state, tokens) != end_state
    ):
        tokens = _longest_match(index, state, text, vocabulary) or []
    if not tokens:
        return None
    return ForcedRun(tuple(tokens), text, end_state)
