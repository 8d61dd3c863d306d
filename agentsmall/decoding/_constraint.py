"""Compiling constraints (outlines-core indexes), once per constraint and vocabulary.

An index maps every automaton state to the tokens allowed there; it costs tens of milliseconds
to seconds to build (more with a 262k vocabulary), so it is built once per (constraint,
vocabulary) pair: kept in memory for the life of the process, and persisted in the user's cache
directory so that a new process starts warm. Agents reuse one action schema for every step, so
steps after the first pay nothing.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import outlines_core
from outlines_core.json_schema import NUMBER, build_regex_from_schema

from agentsmall.decoding import _cache
from agentsmall.decoding._fastforward import ForcedRun, forced_run
from agentsmall.decoding._vocabulary import TokenVocabulary
from agentsmall.errors import DecodingError

_SEPARATOR_MARK = "\x1f"
"""A character outlines-core never writes itself, passed as the whitespace pattern so that every
place where JSON allows whitespace can be found in the regex text and given one fixed layout."""


def _canonical_layout(regex: str) -> str:
    """Fix the JSON layout: `{"a": 1, "b": [2, 3]}`: one space after `:` and `,`, none elsewhere.

    Free whitespace lets a small model pad with spaces or newlines until the token limit, and
    every optional space is a choice the model has to be asked about. With one fixed layout (the
    one `json.dumps` writes, so the one models saw most), all of the JSON's punctuation is
    determined by the schema and can be fast-forwarded without consulting the model.
    """
    mark = _SEPARATOR_MARK
    for separator in (":", ","):
        regex = regex.replace(f"{mark}{separator}{mark}", f"{separator} ")
        regex = regex.replace(f"{separator}{mark}", f"{separator} ")
    return regex.replace(mark, "")


_MAX_CACHED = 32


@dataclass(eq=False)
class CompiledConstraint:
    """An outlines-core index plus what decoding learns about it (forced runs per state)."""

    regex: str
    index: outlines_core.Index
    vocabulary: TokenVocabulary
    compile_seconds: float = 0.0
    from_disk: bool = False
    _runs: dict[int, ForcedRun | None] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def forced_run(self, state: int, tokenize: Callable[[bytes], list[int]]) -> ForcedRun | None:
        """The text the constraint forces from `state` (cached: states repeat every step)."""
        with self._lock:
            if state in self._runs:
                return self._runs[state]
        run = forced_run(self.index, state, self.vocabulary, tokenize)
        with self._lock:
            self._runs[state] = run
        return run


_compiled: OrderedDict[tuple[str, str], CompiledConstraint] = OrderedDict()
_lock = threading.Lock()


BOUNDED_NUMBER = r"((-)?(0|[1-9][0-9]{0,14}))(\.[0-9]{1,8})?([eE][+-][0-9]{1,3})?"
"""outlines-core's JSON number with at most 15 integer digits, 8 decimals and a 3-digit
exponent. Its own pattern repeats digits without end, and a small model that starts writing
`12.5000...` (seen on Gemma 3 270M) never stops before the token limit cuts the call off;
JSON schema has no keyword for digit counts of a float that outlines-core maps to a bound."""


def json_schema_regex(schema: dict) -> str:
    """The regular expression outlines-core derives from a JSON schema, in canonical layout,
    with every unbounded number bounded (`BOUNDED_NUMBER`)."""
    try:
        regex = build_regex_from_schema(json.dumps(schema), _SEPARATOR_MARK)
    except Exception as exc:  # outlines-core raises plain ValueError/RuntimeError
        raise DecodingError(f"cannot turn this JSON schema into a constraint: {exc}") from exc
    return _canonical_layout(regex).replace(NUMBER, BOUNDED_NUMBER)


class OutlinesMatcher:
    """One generation's position in a `CompiledConstraint` (see `Matcher` in `_engine`)."""

    def __init__(
        self, constraint: CompiledConstraint, tokenize: Callable[[bytes], list[int]]
    ) -> None:
        self._constraint = constraint
        self._guide = outlines_core.Guide(constraint.index)
        self._tokenize = tokenize

    def write_mask(self, words: np.ndarray) -> None:
        try:
            self._guide.write_mask_into(words.ctypes.data, words.size, words.itemsize)
        except Exception as exc:
            raise DecodingError(f"the constraint failed to produce a token mask: {exc}") from exc

    def advance(self, token: int) -> None:
        try:
            self._guide.advance(token, False)
        except Exception as exc:
            raise DecodingError(f"the constraint rejected token {token}: {exc}") from exc

    def accepts(self, token: int) -> bool:
        try:
            state = self._guide.get_state()
            return self._constraint.index.get_next_state(state, token) is not None
        except Exception as exc:
            raise DecodingError(f"the constraint failed to check token {token}: {exc}") from exc

    def valid_prefix(self, tokens: list[int]) -> int:
        index = self._constraint.index
        try:
            state = self._guide.get_state()
            for count, token in enumerate(tokens):
                state = index.get_next_state(state, token)
                if state is None:
                    return count
        except Exception as exc:
            raise DecodingError(f"the constraint failed to check tokens {tokens}: {exc}") from exc
        return len(tokens)

    def forced_tokens(self) -> list[int]:
        run = self._forced_run()
        return list(run.tokens) if run is not None else []

    def forced_text(self) -> bytes:
        """All of it is in `forced_tokens()`: this backend forces the tokenizer's split."""
        run = self._forced_run()
        return run.text if run is not None else b""

    def _forced_run(self) -> ForcedRun | None:
        try:
            state = self._guide.get_state()
        except Exception as exc:
            raise DecodingError(f"the constraint failed to report its state: {exc}") from exc
        return self._constraint.forced_run(state, self._tokenize)

    def is_finished(self) -> bool:
        return self._guide.is_finished()


def _disk_path(regex: str, vocabulary: TokenVocabulary) -> Path:
    digest = hashlib.sha256(
        f"{outlines_core_version()}\0{vocabulary.fingerprint}\0{regex}".encode()
    )
    return _cache.cache_dir("constraints") / f"{digest.hexdigest()[:32]}.index"


def outlines_core_version() -> str:
    from importlib.metadata import version

    return version("outlines-core")


def compile_regex(regex: str, vocabulary: TokenVocabulary) -> CompiledConstraint:
    """The compiled constraint for `regex` over `vocabulary`: from memory, disk, or built."""
    key = (regex, vocabulary.fingerprint)
    with _lock:
        compiled = _compiled.get(key)
        if compiled is not None:
            _compiled.move_to_end(key)
            return compiled
    started = time.perf_counter()
    path = _disk_path(regex, vocabulary)
    index = _cache.load(path)
    if not isinstance(index, outlines_core.Index):
        index = None
    from_disk = index is not None
    if index is None:
        try:
            index = outlines_core.Index(regex, vocabulary.outlines())
        except Exception as exc:
            raise DecodingError(
                f"cannot compile the constraint for this vocabulary: {exc}"
            ) from exc
        _cache.store(path, index)
    compiled = CompiledConstraint(
        regex, index, vocabulary, time.perf_counter() - started, from_disk
    )
    with _lock:
        _compiled[key] = compiled
        while len(_compiled) > _MAX_CACHED:
            _compiled.popitem(last=False)
    return compiled


def compile_json_schema(schema: dict, vocabulary: TokenVocabulary) -> CompiledConstraint:
    return compile_regex(json_schema_regex(schema), vocabulary)


def clear_memory_cache() -> None:
    """Forget compiled constraints held in memory (the disk cache stays); for benchmarks."""
    with _lock:
        _compiled.clear()
