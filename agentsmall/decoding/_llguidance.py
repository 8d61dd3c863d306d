"""The llguidance backend: the same regex as the outlines-core backend, no index to build.

outlines-core compiles a regex into an index (every automaton state by every token) before the
first token; for the calculator agent's tool set that takes 2 s at a 49k vocabulary and 38 s at
Gemma 3's 262k, and every new tool set (every BFCL item, every agent) pays it again. llguidance
computes each token mask lazily from the regex over a token trie (0.1-1.3 ms a token), so a new
constraint is ready in about 1 ms whatever the vocabulary. The regex itself still comes from
outlines-core (`json_schema_regex`), so both backends accept exactly the same texts; llguidance
also keeps text the regex forces to the tokenizer's own split into tokens (`{"`, never `{` then
`"`), which the index allows.

One `LLTokenizer` is built per loaded model (0.1 s at 49k tokens, 0.8-1.3 s at 262k), from the
vocabulary we already extracted, with control tokens marked so that no grammar can match them."""

from __future__ import annotations

import ctypes
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

import llama_cpp
import llguidance
import numpy as np

from agentsmall.decoding._vocabulary import TokenVocabulary
from agentsmall.errors import DecodingError

_CONTROL_MARK = b"\xff"
"""llguidance's marker for special tokens: a byte no UTF-8 text contains, so never matched."""


def llguidance_tokenizer(
    llm: llama_cpp.Llama, vocabulary: TokenVocabulary
) -> llguidance.LLTokenizer:
    """An llguidance tokenizer for `llm`: our token bytes, llama.cpp's tokenize function.

    Tokens we keep out of constrained text (control, unknown, unused) become marked special
    tokens; EOS is allowed once the constraint is satisfied, as in the outlines-core index
    (the decoder stops on any end-of-generation token).
    """
    tokens = [
        piece if piece is not None else _CONTROL_MARK + b"<%d>" % token
        for token, piece in enumerate(vocabulary.pieces)
    ]
    tokenize = ctypes.cast(llama_cpp.llama_cpp._lib.llama_tokenize, ctypes.c_void_p).value
    try:
        return llguidance.LLTokenizer.from_llamacpp(
            tokens=tokens,
            vocab_ptr=llm._model.vocab,
            tokenize_fptr=tokenize,
            eos_token=vocabulary.eos_token_id,
            slices=None,
        )
    except Exception as exc:  # pragma: no cover - llguidance refuses odd vocabularies
        raise DecodingError(f"llguidance cannot use this model's vocabulary: {exc}") from exc


@dataclass(frozen=True, eq=False)
class GrammarConstraint:
    """A regex ready for llguidance: nothing is precomputed, so it is cheap to make."""

    regex: str
    grammar: str
    compile_seconds: float = 0.0
    from_disk: bool = False  # never: there is nothing worth storing


_compiled: OrderedDict[str, GrammarConstraint] = OrderedDict()
_lock = threading.Lock()
_MAX_CACHED = 64


def compile_grammar(regex: str, tokenizer: llguidance.LLTokenizer) -> GrammarConstraint:
    """Check `regex` with llguidance and wrap it; a regex it cannot handle is a DecodingError."""
    with _lock:
        compiled = _compiled.get(regex)
        if compiled is not None:
            _compiled.move_to_end(regex)
            return compiled
    started = time.perf_counter()
    grammar = llguidance.LLMatcher.grammar_from_regex(regex)
    probe = llguidance.LLMatcher(tokenizer, grammar, log_level=0)
    if probe.is_error():
        raise DecodingError(f"llguidance cannot compile this constraint: {probe.get_error()}")
    compiled = GrammarConstraint(regex, grammar, time.perf_counter() - started)
    with _lock:
        _compiled[regex] = compiled
        while len(_compiled) > _MAX_CACHED:
            _compiled.popitem(last=False)
    return compiled


def clear_memory_cache() -> None:
    """Forget checked grammars (for benchmarks: the next compile is a cold one)."""
    with _lock:
        _compiled.clear()


class MatcherFactory:
    """Fresh matchers for one model's tokenizer, each a copy of one kept per grammar.

    Making an `LLMatcher` parses its grammar (1.8 ms for the calculator agent's tool calls),
    about 2% of a whole tool call on the embedded model; copying a fresh one takes a
    microsecond."""

    def __init__(self, tokenizer: llguidance.LLTokenizer) -> None:
        self.tokenizer = tokenizer
        self._fresh: OrderedDict[str, llguidance.LLMatcher] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, constraint: GrammarConstraint) -> LLGuidanceMatcher:
        with self._lock:
            fresh = self._fresh.get(constraint.grammar)
            if fresh is None:
                fresh = llguidance.LLMatcher(self.tokenizer, constraint.grammar, log_level=0)
                self._fresh[constraint.grammar] = fresh
                while len(self._fresh) > _MAX_CACHED:
                    self._fresh.popitem(last=False)
            else:
                self._fresh.move_to_end(constraint.grammar)
            return LLGuidanceMatcher(fresh.deep_copy())


class LLGuidanceMatcher:
    """One generation's position in a `GrammarConstraint` (see `Matcher` in `_engine`)."""

    def __init__(self, matcher: llguidance.LLMatcher) -> None:
        self._matcher = matcher
        self._check("start")

    def _check(self, doing: str) -> None:
        if self._matcher.is_error():
            raise DecodingError(f"the constraint failed to {doing}: {self._matcher.get_error()}")

    def write_mask(self, words: np.ndarray) -> None:
        try:
            self._matcher.unsafe_compute_mask_ptr(words.ctypes.data, words.nbytes)
        except Exception as exc:  # llguidance raises only on misuse (a wrong buffer size)
            raise DecodingError(f"the constraint failed to produce a token mask: {exc}") from exc
        self._check("produce a token mask")

    def advance(self, token: int) -> None:
        try:
            accepted = self._matcher.consume_token(token)
        except Exception as exc:
            raise DecodingError(f"the constraint rejected token {token}: {exc}") from exc
        if not accepted:
            raise DecodingError(
                f"the constraint rejected token {token}: {self._matcher.get_error()}"
            )

    def accepts(self, token: int) -> bool:
        try:
            return self._matcher.validate_tokens([token]) == 1
        except Exception as exc:
            raise DecodingError(f"the constraint failed to check token {token}: {exc}") from exc

    def valid_prefix(self, tokens: list[int]) -> int:
        try:
            return self._matcher.validate_tokens(tokens)
        except Exception as exc:
            raise DecodingError(f"the constraint failed to check tokens {tokens}: {exc}") from exc

    def forced_tokens(self) -> list[int]:
        """The tokens llguidance says are forced here, tokenized by the model's tokenizer."""
        tokens = self._matcher.compute_ff_tokens()
        self._check("compute forced tokens")
        return tokens

    def forced_text(self) -> bytes:
        """The bytes llguidance says are forced here, also those it does not force as tokens."""
        text = self._matcher.compute_ff_bytes()
        self._check("compute forced text")
        return text

    def is_finished(self) -> bool:
        return self._matcher.is_accepting()
