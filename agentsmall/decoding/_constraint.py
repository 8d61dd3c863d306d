"""Compiling constraints (outlines-core indexes), once per constraint and vocabulary.

An index maps every automaton state to the tokens allowed there; it costs tens of milliseconds
to seconds to build, so it is built once per (constraint, vocabulary) pair and kept for the life
of the process. Agents reuse one action schema for every step, so steps after the first pay
nothing.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict

import outlines_core
from outlines_core.json_schema import build_regex_from_schema

from agentsmall.decoding._vocabulary import TokenVocabulary
from agentsmall.errors import DecodingError

WHITESPACE = r"[ ]?"
"""JSON whitespace the constraint allows between tokens: at most one space. Small models given
free whitespace can emit newlines forever; one optional space still lets them write the JSON
they were trained on (`{"a": 1}`)."""

_MAX_CACHED = 32
_cache: OrderedDict[tuple[str, str], outlines_core.Index] = OrderedDict()
_lock = threading.Lock()


def json_schema_regex(schema: dict) -> str:
    """The regular expression outlines-core derives from a JSON schema."""
    try:
        return build_regex_from_schema(json.dumps(schema), WHITESPACE)
    except Exception as exc:  # outlines-core raises plain ValueError/RuntimeError
        raise DecodingError(f"cannot turn this JSON schema into a constraint: {exc}") from exc


def compile_regex(regex: str, vocabulary: TokenVocabulary) -> outlines_core.Index:
    """The outlines-core index of `regex` over `vocabulary`, from the cache when possible."""
    key = (regex, vocabulary.fingerprint)
    with _lock:
        index = _cache.get(key)
        if index is not None:
            _cache.move_to_end(key)
            return index
    try:
        index = outlines_core.Index(regex, vocabulary.outlines())
    except Exception as exc:
        raise DecodingError(f"cannot compile the constraint for this vocabulary: {exc}") from exc
    with _lock:
        _cache[key] = index
        while len(_cache) > _MAX_CACHED:
            _cache.popitem(last=False)
    return index


def compile_json_schema(schema: dict, vocabulary: TokenVocabulary) -> outlines_core.Index:
    return compile_regex(json_schema_regex(schema), vocabulary)
