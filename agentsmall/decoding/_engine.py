"""The token loop: llama.cpp evaluates, outlines-core masks, we pick.

We drive llama.cpp ourselves instead of handing it a logits processor, for three reasons:

* llama-cpp-python swallows exceptions raised inside a logits processor and goes on generating
  *unconstrained*; here a failing mask raises, and nothing is ever sampled without it.
* The KV cache survives between calls: each prompt is compared with the tokens already
  evaluated and only the new suffix is evaluated (outlines' wrapper calls `reset()` each time).
* When the constraint allows exactly one token it is appended without asking the model, and a
  run of such forced tokens is evaluated in one batch, which is several times cheaper than one
  by one.
"""

from __future__ import annotations

import codecs
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import llama_cpp
import numpy as np
import outlines_core

from agentsmall.decoding._repeats import RepeatWatcher, close_then_comma_tokens, comma_tokens
from agentsmall.decoding._vocabulary import TokenVocabulary
from agentsmall.errors import ContextOverflowError, DecodingError


@dataclass(frozen=True)
class DecodeResult:
    tokens: list[int]
    text: str
    finish_reason: str
    """"stop" (constraint complete or end token) or "length" (hit max_tokens)."""
    prompt_tokens: int
    prompt_tokens_evaluated: int
    forced_tokens: int
    seconds: float
    prompt_seconds: float
    """Time spent evaluating the prompt (the rest of `seconds` is decoding)."""
    first_token_seconds: float


class Decoder:
    """Generates from one `llama_cpp.Llama`, keeping its KV cache across calls."""

    def __init__(self, llm: llama_cpp.Llama, vocabulary: TokenVocabulary) -> None:
        self.llm = llm
        self.vocabulary = vocabulary
        self._n_vocab = llm.n_vocab()
        self._mask_words = np.zeros((self._n_vocab + 31) // 32, dtype=np.int32)
        # Tokens that may appear in free text: everything with bytes, plus the end tokens.
        self._free_allowed = np.array([p is not None for p in vocabulary.pieces], dtype=bool)
        self._free_allowed[list(vocabulary.end_token_ids)] = True
        self._no_comma = ~comma_tokens(vocabulary.pieces)
        self._no_close_then_comma = ~close_then_comma_tokens(vocabulary.pieces)

    # -- KV cache ------------------------------------------------------------------------------

    def _evaluated(self) -> np.ndarray:
        return self.llm.input_ids[: self.llm.n_tokens]

    def _prefill(self, prompt: Sequence[int]) -> int:
        """Make the KV cache hold `prompt`, evaluating only what it does not already hold.

        Returns how many prompt tokens were evaluated. The last prompt token is always
        evaluated so that its logits are fresh.
        """
        cached = self._evaluated()
        limit = min(len(cached), len(prompt) - 1)
        common = 0
        if limit > 0:
            diff = np.flatnonzero(cached[:limit] != np.asarray(prompt[:limit]))
            common = int(diff[0]) if diff.size else limit
        if not self.llm._ctx.kv_cache_seq_rm(-1, common, -1):
            # Recurrent and hybrid models cannot drop a suffix of their state: start over.
            self.llm.reset()
            self.llm._ctx.kv_cache_clear()
            common = 0
        self.llm.n_tokens = common
        self._eval(prompt[common:])
        return len(prompt) - common

    def _eval(self, tokens: Sequence[int]) -> None:
        try:
            self.llm.eval(tokens)
        except Exception as exc:  # llama.cpp reports decode failures as RuntimeError
            raise DecodingError(
                f"llama.cpp failed to evaluate {len(tokens)} tokens: {exc}"
            ) from exc

    def _logits(self) -> np.ndarray:
        pointer = self.llm._ctx.get_logits_ith(-1)
        return np.ctypeslib.as_array(pointer, shape=(self._n_vocab,))

    # -- generation ----------------------------------------------------------------------------

    def _allowed(self, guide: outlines_core.Guide) -> np.ndarray:
        try:
            guide.write_mask_into(self._mask_words.ctypes.data, self._mask_words.size, 4)
        except Exception as exc:
            raise DecodingError(f"the constraint failed to produce a token mask: {exc}") from exc
        bits = np.unpackbits(self._mask_words.view(np.uint8), bitorder="little")
        return bits[: self._n_vocab].astype(bool)

    def generate(
        self,
        prompt: Sequence[int],
        *,
        index: outlines_core.Index | None,
        max_tokens: int,
        on_text: Callable[[str], None] | None = None,
        temperature: float = 0.0,
        rng: np.random.Generator | None = None,
        close_list_on_repeat: bool = False,
    ) -> DecodeResult:
        """Generate up to `max_tokens` after `prompt`, under `index` when one is given.

        `close_list_on_repeat`: the output is a JSON list; once an item repeats an earlier
        one, only closing the list is allowed (see `RepeatWatcher`).
        """
        n_ctx = self.llm.n_ctx()
        if len(prompt) + max_tokens > n_ctx:
            raise ContextOverflowError(
                f"the prompt has {len(prompt)} tokens and up to {max_tokens} more may be"
                f" generated, but the context window holds {n_ctx}"
            )
        started = time.perf_counter()
        evaluated = self._prefill(prompt)
        prompt_seconds = time.perf_counter() - started
        guide = outlines_core.Guide(index) if index is not None else None
        utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        out: list[int] = []
        pending: list[int] = []  # chosen but not yet evaluated
        text_parts: list[str] = []
        forced = 0
        first_token_at = 0.0
        finish = "length"
        end_ids = self.vocabulary.end_token_ids
        watcher = RepeatWatcher() if close_list_on_repeat else None
        while len(out) < max_tokens:
            if guide is not None:
                allowed = self._allowed(guide)
                if watcher is not None and (watcher.repeated or watcher.may_repeat):
                    narrowed = allowed & self._no_close_then_comma
                    if watcher.repeated:
                        narrowed &= self._no_comma
                    # After a repeat the list closes as soon as the schema lets it; until then
                    # (minItems not reached) it has to go on.
                    if narrowed.any():
                        allowed = narrowed
                n_allowed = int(np.count_nonzero(allowed))
                if n_allowed == 0:
                    if guide.is_finished():
                        finish = "stop"
                        break
                    raise DecodingError(
                        "the constraint allows no token here: the index and vocabulary disagree"
                    )
            else:
                allowed, n_allowed = self._free_allowed, 2
            if n_allowed == 1:
                token = int(np.flatnonzero(allowed)[0])
                forced += 1
            else:
                if pending:
                    self._eval(pending)
                    pending = []
                token = _pick(self._logits(), allowed, temperature, rng)
            if token in end_ids or (guide is not None and token == self.vocabulary.eos_token_id):
                finish = "stop"
                break
            if guide is not None:
                try:
                    guide.advance(token, False)
                except Exception as exc:
                    raise DecodingError(f"the constraint rejected token {token}: {exc}") from exc
            if not out:
                first_token_at = time.perf_counter() - started
            out.append(token)
            pending.append(token)
            piece = self.vocabulary.pieces[token]
            chunk = utf8.decode(piece) if piece is not None else ""
            if chunk:
                text_parts.append(chunk)
                if watcher is not None:
                    watcher.feed(chunk)
                if on_text is not None:
                    on_text(chunk)
        if finish == "length" and guide is not None and guide.is_finished():
            finish = "stop"
        tail = utf8.decode(b"", final=True)
        if tail:
            text_parts.append(tail)
        # Keep the KV cache in step with what was generated, so a next prompt that starts with
        # this output (the next agent step) reuses it.
        if pending and self.llm.n_tokens + len(pending) < n_ctx:
            self._eval(pending)
        return DecodeResult(
            tokens=out,
            text="".join(text_parts),
            finish_reason=finish,
            prompt_tokens=len(prompt),
            prompt_tokens_evaluated=evaluated,
            forced_tokens=forced,
            seconds=time.perf_counter() - started,
            prompt_seconds=prompt_seconds,
            first_token_seconds=first_token_at,
        )


def _pick(
    logits: np.ndarray, allowed: np.ndarray, temperature: float, rng: np.random.Generator | None
) -> int:
    masked = np.where(allowed, logits, -np.inf)
    if temperature <= 0:
        return int(np.argmax(masked))
    scaled = (masked - masked.max()) / temperature
    probs = np.exp(scaled)
    probs /= probs.sum()
    return int((rng or np.random.default_rng()).choice(len(probs), p=probs))
