"""Log-probabilities of texts under a llama.cpp model, in a context of its own.

Scoring (how likely is this text after that one?) serves decisions that are cheaper and more
reliable to make by comparing likelihoods than by letting a small model generate, such as
which tools a task is about (`agentsmall._relevance`). It runs in a second llama.cpp context
on the same weights, so the generating context's KV cache (the prompt prefix every agent step
reuses) is never disturbed, and every text to score goes into one batch as its own sequence:
one `llama_decode` for all of them instead of one per text.
"""

from __future__ import annotations

from collections.abc import Sequence

import llama_cpp
import numpy as np
from llama_cpp import _internals

from agentsmall.errors import ContextOverflowError, DecodingError

MAX_SEQUENCES = 16
"""Texts scored in one batch; more are scored in several batches."""


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

    def score(self, pairs: Sequence[tuple[Sequence[int], Sequence[int]]]) -> list[float]:
        """Sum of log-probabilities (nats) of each continuation's tokens after its context.

        Each pair is (context tokens, continuation tokens); the context must not be empty
        (start it with BOS when the model wants one).
        """
        scores: list[float] = []
        group: list[tuple[Sequence[int], Sequence[int]]] = []
        used = 0
        for context, continuation in pairs:
            if not context:
                raise ValueError("a scored context needs at least one token")
            length = len(context) + len(continuation)
            if length > self._n_ctx:
                raise ContextOverflowError(
                    f"a text to score has {length} tokens; the scoring context holds {self._n_ctx}"
                )
            if group and (len(group) == MAX_SEQUENCES or used + length > self._n_ctx):
                scores += self._score_batch(group)
                group, used = [], 0
            group.append((context, continuation))
            used += length
        if group:
            scores += self._score_batch(group)
        return scores

    def _score_batch(self, pairs: Sequence[tuple[Sequence[int], Sequence[int]]]) -> list[float]:
        batch = self._batch.batch
        batch.n_tokens = 0
        wanted: list[list[tuple[int, int]]] = []  # per pair: (batch row, token it predicts)
        for seq_id, (context, continuation) in enumerate(pairs):
            tokens = [*context, *continuation]
            rows: list[tuple[int, int]] = []
            for position, token in enumerate(tokens):
                row = batch.n_tokens
                batch.token[row] = token
                batch.pos[row] = position
                batch.n_seq_id[row] = 1
                batch.seq_id[row][0] = seq_id
                # Logits are needed only where the next token belongs to the continuation.
                predicts = position + 1 >= len(context) and position + 1 < len(tokens)
                batch.logits[row] = predicts
                if predicts:
                    rows.append((row, tokens[position + 1]))
                batch.n_tokens += 1
            wanted.append(rows)
        self._ctx.kv_cache_clear()
        try:
            self._ctx.decode(self._batch)
        except Exception as exc:
            raise DecodingError(f"llama.cpp failed to score {len(pairs)} texts: {exc}") from exc
        return [self._sum_logprobs(rows) for rows in wanted]

    def _sum_logprobs(self, rows: list[tuple[int, int]]) -> float:
        total = 0.0
        for row, token in rows:
            pointer = self._ctx.get_logits_ith(row)
            logits = np.ctypeslib.as_array(pointer, shape=(self._n_vocab,)).astype(np.float64)
            peak = logits.max()
            total += float(logits[token] - peak - np.log(np.exp(logits - peak).sum()))
        return total

    def close(self) -> None:
        self._batch.close()
        self._ctx.close()
