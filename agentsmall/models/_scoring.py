"""Log-probabilities of texts under a llama.cpp model, in a context of its own.

Scoring (how likely is this text after that one?) serves decisions that are cheaper and more
reliable to make by comparing likelihoods than by letting a small model generate, such as
which tools a task is about (`agentsmall._relevance`). It runs in a second llama.cpp context
on the same weights, so the generating context's KV cache (the prompt prefix every agent step
reuses) is never disturbed, and every text to score goes into one batch as its own sequence:
one `llama_decode` for all of them instead of one per text.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import llama_cpp
import numpy as np
from llama_cpp import _internals

from agentsmall.errors import ContextOverflowError, DecodingError

MAX_SEQUENCES = 16
"""Contexts kept in the KV cache at once (llama.cpp sequences of the scoring context)."""


@dataclass(frozen=True)
class _Slot:
    seq_id: int
    first: np.ndarray
    """Log-probabilities of the token after the context: the first continuation token's."""


class _CacheMiss(Exception):
    """The cached contexts cannot serve this call (no room, or llama.cpp refused a removal)."""


class TextScorer:
    """Scores continuations after contexts with the weights of `llm`, in its own small context."""

    def __init__(self, llm: llama_cpp.Llama, *, n_ctx: int = 2048, n_threads: int) -> None:
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = n_ctx
        params.n_batch = n_ctx
        params.n_ubatch = min(n_ctx, 512)
        params.n_seq_max = MAX_SEQUENCES
        # One KV pool shared by the sequences; split per sequence it measured twice as slow.
        params.kv_unified = True
        params.n_threads = n_threads
        params.n_threads_batch = n_threads
        try:
            self._ctx = _internals.LlamaContext(model=llm._model, params=params, verbose=False)
            self._batch = _internals.LlamaBatch(n_tokens=n_ctx, embd=0, n_seq_max=1, verbose=False)
        except Exception as exc:  # llama.cpp could not allocate the context
            raise DecodingError(f"llama.cpp could not create a scoring context: {exc}") from exc
        self._n_ctx = n_ctx
        self._n_vocab = llm.n_vocab()
        # Resident contexts, least recently used first.
        self._slots: OrderedDict[tuple[int, ...], _Slot] = OrderedDict()

    def score(self, contexts: Sequence[Sequence[int]], continuation: Sequence[int]) -> list[float]:
        """Sum of log-probabilities (nats) of `continuation`'s tokens after each context.

        Contexts stay in the KV cache, each in a sequence of its own, so that scoring a new
        continuation after the same contexts (the same tools, a new task) evaluates only the
        continuation; the next-token distribution at each context's end is kept with it. The
        least recently used contexts make room for new ones. When everything does not fit at
        once, each text is scored from scratch instead. A context must not be empty (start it
        with BOS when the model wants one).
        """
        if any(not c for c in contexts):
            raise ValueError("a scored context needs at least one token")
        if not contexts or not continuation:
            return [0.0] * len(contexts)
        keys = [tuple(c) for c in contexts]
        unique = list(dict.fromkeys(keys))
        needed = sum(len(k) for k in unique) + len(unique) * len(continuation)
        if len(unique) > MAX_SEQUENCES or needed > self._n_ctx:
            return self._score_in_groups([(k, continuation) for k in keys])
        try:
            self._keep_contexts(unique, continuation)
            totals = self._score_continuation(unique, continuation)
        except _CacheMiss:
            return self._score_in_groups([(k, continuation) for k in keys])
        return [totals[k] for k in keys]

    # -- cached contexts -------------------------------------------------------------------------

    def _keep_contexts(self, keys: list[tuple[int, ...]], continuation: Sequence[int]) -> None:
        """Make every context of `keys` resident (evaluating the missing ones in one batch)."""
        for key, slot in self._slots.items():  # no continuation of an earlier call stays
            if not self._ctx.kv_cache_seq_rm(slot.seq_id, len(key), -1):
                raise _CacheMiss
        for key in keys:
            if key in self._slots:
                self._slots.move_to_end(key)
        missing = [k for k in keys if k not in self._slots]
        wanted = set(keys)

        # Room for the missing contexts and for one continuation per context of this call.
        def used() -> int:
            return sum(len(k) for k in self._slots) + sum(len(k) for k in missing)

        while self._slots and (
            len(self._slots) + len(missing) > MAX_SEQUENCES
            or used() + len(keys) * len(continuation) > self._n_ctx
        ):
            victim = next((k for k in self._slots if k not in wanted), None)
            if victim is None:
                raise _CacheMiss
            self._drop(victim)
        if not missing:
            return
        free = [
            i for i in range(MAX_SEQUENCES) if i not in {s.seq_id for s in self._slots.values()}
        ]
        batch = self._batch.batch
        batch.n_tokens = 0
        last_rows: list[int] = []
        for key, seq_id in zip(missing, free, strict=False):
            if not self._ctx.kv_cache_seq_rm(seq_id, 0, -1):
                raise _CacheMiss
            for position, token in enumerate(key):
                self._put(position, token, seq_id, logits=position == len(key) - 1)
            last_rows.append(batch.n_tokens - 1)
        self._decode(len(missing))
        for key, seq_id, row in zip(missing, free, last_rows, strict=False):
            self._slots[key] = _Slot(seq_id, self._log_softmax(row).astype(np.float32))

    def _score_continuation(
        self, keys: list[tuple[int, ...]], continuation: Sequence[int]
    ) -> dict[tuple[int, ...], float]:
        batch = self._batch.batch
        batch.n_tokens = 0
        rows: dict[tuple[int, ...], list[int]] = {}
        for key in keys:
            slot = self._slots[key]
            rows[key] = []
            for offset, token in enumerate(continuation):
                predicts = offset + 1 < len(continuation)
                self._put(len(key) + offset, token, slot.seq_id, logits=predicts)
                if predicts:
                    rows[key].append(batch.n_tokens - 1)
        self._decode(len(keys))
        totals = {}
        for key in keys:
            total = float(self._slots[key].first[continuation[0]])
            for row, token in zip(rows[key], continuation[1:], strict=True):
                total += float(self._log_softmax(row)[token])
            totals[key] = total
        return totals

    def _drop(self, key: tuple[int, ...]) -> None:
        slot = self._slots.pop(key)
        self._ctx.kv_cache_seq_rm(slot.seq_id, 0, -1)

    def _forget_all(self) -> None:
        self._slots.clear()
        self._ctx.kv_cache_clear()

    # -- from scratch ----------------------------------------------------------------------------

    def _score_in_groups(self, pairs: Sequence[tuple[Sequence[int], Sequence[int]]]) -> list[float]:
        """Every pair from scratch, as many per batch as fit."""
        scores: list[float] = []
        group: list[tuple[Sequence[int], Sequence[int]]] = []
        used = 0
        for context, continuation in pairs:
            length = len(context) + len(continuation)
            if group and (len(group) == MAX_SEQUENCES or used + length > self._n_ctx):
                scores += self._score_uncached(group)
                group, used = [], 0
            group.append((context, continuation))
            used += length
        if group:
            scores += self._score_uncached(group)
        return scores

    def _score_uncached(self, pairs: Sequence[tuple[Sequence[int], Sequence[int]]]) -> list[float]:
        """Each pair in a sequence of its own, the cache cleared first (no context is kept)."""
        for context, continuation in pairs:
            if len(context) + len(continuation) > self._n_ctx:
                raise ContextOverflowError(
                    f"a text to score has {len(context) + len(continuation)} tokens; the"
                    f" scoring context holds {self._n_ctx}"
                )
        self._forget_all()
        batch = self._batch.batch
        batch.n_tokens = 0
        wanted: list[list[tuple[int, int]]] = []  # per pair: (batch row, token it predicts)
        for seq_id, (context, continuation) in enumerate(pairs):
            tokens = [*context, *continuation]
            rows: list[tuple[int, int]] = []
            for position, token in enumerate(tokens):
                # Logits only where the next token belongs to the continuation.
                predicts = len(context) <= position + 1 < len(tokens)
                self._put(position, token, seq_id, logits=predicts)
                if predicts:
                    rows.append((batch.n_tokens - 1, tokens[position + 1]))
            wanted.append(rows)
        self._decode(len(pairs))
        self._ctx.kv_cache_clear()
        return [sum(float(self._log_softmax(row)[t]) for row, t in rows) for rows in wanted]

    # -- llama.cpp -------------------------------------------------------------------------------

    def _put(self, position: int, token: int, seq_id: int, *, logits: bool) -> None:
        batch = self._batch.batch
        row = batch.n_tokens
        batch.token[row] = token
        batch.pos[row] = position
        batch.n_seq_id[row] = 1
        batch.seq_id[row][0] = seq_id
        batch.logits[row] = logits
        batch.n_tokens += 1

    def _decode(self, texts: int) -> None:
        try:
            self._ctx.decode(self._batch)
        except Exception as exc:
            self._forget_all()
            raise DecodingError(f"llama.cpp failed to score {texts} texts: {exc}") from exc

    def _log_softmax(self, row: int) -> np.ndarray:
        pointer = self._ctx.get_logits_ith(row)
        logits = np.ctypeslib.as_array(pointer, shape=(self._n_vocab,)).astype(np.float64)
        peak = logits.max()
        return logits - peak - np.log(np.exp(logits - peak).sum())

    def close(self) -> None:
        self._batch.close()
        self._ctx.close()
