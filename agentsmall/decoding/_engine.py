"""The token loop: llama.cpp evaluates, the constraint (llguidance or outlines-core) masks.

We drive llama.cpp ourselves instead of handing it a logits processor, for these reasons:

* llama-cpp-python swallows exceptions raised inside a logits processor and goes on generating
  *unconstrained*; here a failing mask raises, and nothing is ever sampled without it.
* The KV cache survives between calls: each prompt is compared with the tokens already
  evaluated and only the new suffix is evaluated (outlines' wrapper calls `reset()` each time).
* Fast-forward: when the constraint leaves only one way to go on, the text is appended without
  asking the model (see `_fastforward`), and the whole forced run is evaluated in one batch
  together with the next sampled token, which is much cheaper than one token at a time.
* Drafts: tokens that followed the same few tokens earlier in the prompt or output, and the
  tokens of forced text whose split depends on what follows (` "` before a string value), are
  evaluated in that batch too, and kept as far as the model's own choices agree (`_lookup`,
  `Decoder._speculate`), which needs logits at chosen positions of a batch.
"""

from __future__ import annotations

import codecs
import functools
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

import llama_cpp
import llguidance
import numpy as np

from agentsmall.decoding._budget import ListBudget
from agentsmall.decoding._constraint import CompiledConstraint, OutlinesMatcher, compile_regex
from agentsmall.decoding._llguidance import (
    GrammarConstraint,
    MatcherFactory,
    compile_grammar,
    llguidance_tokenizer,
)
from agentsmall.decoding._lookup import PromptLookup
from agentsmall.decoding._repeats import (
    RepeatWatcher,
    close_then_comma_tokens,
    closing_tokens,
    comma_tokens,
)
from agentsmall.decoding._vocabulary import TokenVocabulary
from agentsmall.errors import ContextOverflowError, DecodingError

T = TypeVar("T")

Constraint = CompiledConstraint | GrammarConstraint
"""A compiled constraint of either backend: an outlines-core index or an llguidance grammar."""

BACKENDS = ("llguidance", "outlines")
BACKEND_ENV = "AGENTSMALL_CONSTRAINT_BACKEND"


def default_backend() -> str:
    """$AGENTSMALL_CONSTRAINT_BACKEND, else llguidance (measured faster: docs/BENCHMARKS.md).

    Both backends take the same regex (outlines-core derives it from the JSON schema), so they
    accept the same texts; llguidance needs no index, so a new tool set costs ~2 ms instead of
    0.5-40 s, and a disk cache is not needed.
    """
    configured = os.environ.get(BACKEND_ENV, "").strip().lower()
    if configured and configured not in BACKENDS:
        raise ValueError(f"{BACKEND_ENV}={configured!r}: choose one of {', '.join(BACKENDS)}")
    return configured or "llguidance"


class Matcher(Protocol):
    """Where one generation stands in its constraint; both backends provide one.

    Every method raises DecodingError when the constraint fails, so that nothing is ever
    generated without a working mask.
    """

    def write_mask(self, words: np.ndarray) -> None:
        """Write the allowed next tokens as bits (little-endian 32-bit words)."""

    def advance(self, token: int) -> None: ...

    def accepts(self, token: int) -> bool:
        """Whether `token` may come next; cheaper than a whole mask. May say False for an
        allowed token (the caller then computes the mask), never True for a forbidden one."""

    def forced_tokens(self) -> list[int]:
        """Tokens the constraint forces from here (as the tokenizer writes them), or []."""

    def forced_text(self) -> bytes:
        """The text the constraint forces from here, or b"". It may go on past
        `forced_tokens()`: where forced text meets free text (` "` before a string value),
        the split into tokens depends on what follows (` "` or ` "$`), so that end is a guess
        worth drafting (see `Decoder.generate`), not a forced token."""

    def valid_prefix(self, tokens: list[int]) -> int:
        """How many of `tokens`, in order, the constraint allows from here."""

    def is_finished(self) -> bool:
        """Whether the text so far is complete (it may still be allowed to go on)."""


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
    drafted_tokens: int = 0
    """Tokens guessed from the text so far and evaluated alongside (see `_lookup`)."""
    draft_tokens_accepted: int = 0
    """Of those, the ones the model agreed with: each saved a model call."""


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
        self._closing = closing_tokens(vocabulary.pieces)
        self._llguidance: MatcherFactory | None = None
        self._llguidance_lock = threading.Lock()
        self._token_of_piece: dict[bytes, int] | None = None
        # Drafts need the KV cache to drop the tokens the model did not take; recurrent and
        # hybrid models cannot drop a suffix of their state.
        self._can_drop_kv = not (
            getattr(llm, "_is_recurrent", False) or getattr(llm, "_is_hybrid", False)
        )

    # -- constraints ---------------------------------------------------------------------------

    def compile(self, regex: str, *, backend: str) -> Constraint:
        """`regex` compiled for this model by `backend` ("llguidance" or "outlines")."""
        if backend == "llguidance":
            return compile_grammar(regex, self.llguidance_tokenizer())
        if backend == "outlines":
            return compile_regex(regex, self.vocabulary)
        raise ValueError(f"unknown constraint backend {backend!r}; choose one of {BACKENDS}")

    def llguidance_tokenizer(self) -> llguidance.LLTokenizer:
        """Built on first use (0.1-1.3 s), then kept for the life of the model."""
        return self._llguidance_matchers().tokenizer

    def _llguidance_matchers(self) -> MatcherFactory:
        with self._llguidance_lock:
            if self._llguidance is None:
                tokenizer = llguidance_tokenizer(self.llm, self.vocabulary)
                self._llguidance = MatcherFactory(tokenizer)
            return self._llguidance

    def _matcher(self, constraint: Constraint) -> Matcher:
        if isinstance(constraint, GrammarConstraint):
            return self._llguidance_matchers()(constraint)
        return OutlinesMatcher(constraint, self._tokenize)

    def token_of_piece(self) -> dict[bytes, int]:
        """Each token's bytes mapped to the token (the lowest id when several share them);
        built on first use, as only a list closing at the end of its budget needs it."""
        if self._token_of_piece is None:
            mapping: dict[bytes, int] = {}
            for token, piece in enumerate(self.vocabulary.pieces):
                if piece is not None:
                    mapping.setdefault(piece, token)
            self._token_of_piece = mapping
        return self._token_of_piece

    # -- KV cache ------------------------------------------------------------------------------

    def _evaluated(self) -> np.ndarray:
        return self.llm.input_ids[: self.llm.n_tokens]

    def _prefill(self, prompt: Sequence[int]) -> int:
        """Make the KV cache hold `prompt`, evaluating only what it does not already hold.

        Returns how many prompt tokens were evaluated. When the cache holds exactly `prompt`
        and the logits after it are still live (nothing evaluated, dropped or restored since,
        as llama-cpp-python's own `generate` tracks it in `_requires_eval`), none is, as in
        that `generate`. Otherwise at least the last prompt token is evaluated, so that its
        logits are fresh.
        """
        cached = self._evaluated()
        if (
            len(cached) == len(prompt)
            and not self.llm._requires_eval
            and np.array_equal(cached, np.asarray(prompt))
        ):
            return 0
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

    def _allowed(self, matcher: Matcher) -> np.ndarray:
        matcher.write_mask(self._mask_words)
        bits = np.unpackbits(self._mask_words.view(np.uint8), bitorder="little")
        return bits[: self._n_vocab].view(bool)  # 0/1 bytes: a view, not a copy

    def _tokenize(self, text: bytes) -> list[int]:
        return self.llm.tokenize(text, add_bos=False, special=False)

    def generate(
        self,
        prompt: Sequence[int],
        *,
        constraint: Constraint | None,
        max_tokens: int,
        on_text: Callable[[str], None] | None = None,
        temperature: float = 0.0,
        rng: np.random.Generator | None = None,
        close_list_on_repeat: bool = False,
        close_list_within_budget: bool = False,
        fast_forward: bool = True,
        forced_strings: bool = True,
        lazy_mask: bool = True,
        speculate: bool = True,
    ) -> DecodeResult:
        """Generate up to `max_tokens` after `prompt`, under `constraint` when one is given.

        `close_list_on_repeat`: the output is a JSON list; once an item repeats an earlier
        one, only closing the list is allowed (see `RepeatWatcher`).
        `close_list_within_budget`: when the output is a JSON list and the tokens left cannot
        hold another item (estimated from the items so far) and the closing bracket, the list
        closes instead of going on, so that it is not cut off by `max_tokens` (see
        `ListBudget`); and in the last tokens of any JSON output (`ListBudget.wind_up`),
        tokens that only close (`"`, `]`, `}`) are chosen wherever the constraint allows them.
        Never changes the text while the budget is ample.
        `fast_forward`: a token the constraint allows alone is appended without sampling, and a
        run of such tokens is evaluated in one batch; this never changes the text.
        `forced_strings` (with `fast_forward`): a whole string the constraint forces is appended
        as the model's tokenizer would write it, even where the constraint would also allow
        other splits into tokens (`{"` or `{` + `"`). Both off, every token is chosen from the
        model's logits and evaluated on its own: the reference, for tests and benchmarks.
        `lazy_mask` (greedy, with `fast_forward` and `forced_strings`): the model's top token
        is checked against the constraint first, and the whole mask is computed only when it
        is not allowed; this never changes which token is chosen. Only with forced strings
        taken first: where text is forced, llguidance's mask allows just the tokenizer's own
        split of it, while its token check also accepts other splits (`invest` + `ed_amount`
        where the mask has `inv` + `ested_amount`).
        `speculate` (greedy, with `forced_strings`): tokens that followed the last few tokens
        where they occur earlier in the prompt or output, and the tokenizer's split of forced
        text the constraint cannot yet force as tokens (`_Run.forced_head`), are evaluated
        alongside as a draft, and the part the model agrees with is kept (see `_speculate`).
        Tokens are chosen as without drafts, from logits of a batched evaluation: the same
        logits as one token at a time with exact batches (`LlamaCppModel.exact_batches`),
        else a near tie may go the other way (docs/BENCHMARKS.md counts how often).
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
        run = _Run(
            self,
            constraint,
            on_text,
            close_list_on_repeat=close_list_on_repeat,
            budget=ListBudget(max_tokens) if close_list_within_budget else None,
        )
        greedy_ff = temperature <= 0 and fast_forward and forced_strings
        lookup = PromptLookup(prompt) if speculate and greedy_ff and self._can_drop_kv else None
        choose = functools.partial(
            run.choose,
            temperature=temperature,
            rng=rng,
            lazy=lazy_mask and fast_forward and forced_strings,
            fast_forward=fast_forward,
        )
        pending: list[int] = []  # chosen but not yet evaluated
        forced = drafted = accepted = 0
        first_token_at = 0.0
        finish = "length"
        while len(run.tokens) < max_tokens:
            if run.matcher is not None and fast_forward and forced_strings:
                ahead = run.matcher.forced_tokens()
                if ahead:
                    take = ahead[: max_tokens - len(run.tokens)]
                    for token in take:
                        run.append(token)
                    pending.extend(take)
                    forced += len(take)
                    first_token_at = first_token_at or time.perf_counter() - started
                    continue
            draft = run.draft(lookup, limit=max_tokens - len(run.tokens) - 1) if lookup else []
            if draft:
                step = self._speculate(run, pending, draft, choose=choose, max_tokens=max_tokens)
                pending = step.pending
                forced += step.forced
                drafted += len(draft)
                accepted += step.accepted
                first_token_at = first_token_at or time.perf_counter() - started
                if step.finished:
                    finish = "stop"
                    break
                continue
            token, was_forced = choose(functools.partial(self._flushed_logits, pending))
            forced += was_forced
            if token is None or run.ends_with(token):
                finish = "stop"
                break
            run.append(token)
            pending.append(token)
            first_token_at = first_token_at or time.perf_counter() - started
        if finish == "length" and run.matcher is not None and run.matcher.is_finished():
            finish = "stop"
        # Keep the KV cache in step with what was generated, so a next prompt that starts with
        # this output (the next agent step) reuses it.
        if pending and self.llm.n_tokens + len(pending) < n_ctx:
            self._eval(pending)
        return DecodeResult(
            tokens=run.tokens,
            text=run.text(),
            finish_reason=finish,
            prompt_tokens=len(prompt),
            prompt_tokens_evaluated=evaluated,
            forced_tokens=forced,
            seconds=time.perf_counter() - started,
            prompt_seconds=prompt_seconds,
            first_token_seconds=first_token_at,
            drafted_tokens=drafted,
            draft_tokens_accepted=accepted,
        )

    def _flushed_logits(self, pending: list[int]) -> np.ndarray:
        """The logits after everything chosen so far: `pending` is evaluated (and emptied)."""
        if pending:
            self._eval(pending)
            pending.clear()
        return self._logits()

    def _speculate(
        self,
        run: _Run,
        pending: list[int],
        draft: list[int],
        *,
        choose: Callable[[Callable[[], np.ndarray]], tuple[int | None, bool]],
        max_tokens: int,
    ) -> _Speculation:
        """Evaluate `pending` and `draft` in one batch and keep what the model agrees with.

        The logits after the last pending token and after each draft token come out of the
        one batch; the next token is chosen from them exactly as it would be one at a time
        (`choose`), and as long as it is the draft's next token the following logits are
        already there. The first disagreement is chosen and becomes pending; the KV cache
        drops the draft tokens after it.
        """
        base = self.llm.n_tokens + len(pending)
        if pending:
            rows = self._eval_rows([*pending, *draft], first=len(pending) - 1)
        else:  # the logits after the last evaluated token are still current: keep them
            rows = [self._logits().copy(), *self._eval_rows(draft, first=0)]
        kept = forced = 0
        finished = False
        next_pending: list[int] = []
        while True:
            token, was_forced = choose(lambda row=rows[kept]: row)
            forced += was_forced
            if token is None or run.ends_with(token):
                finished = True
                break
            run.append(token)
            if kept == len(draft) or token != draft[kept]:
                next_pending = [token]
                break
            kept += 1
            room = max_tokens - len(run.tokens)
            if room <= 0:
                break
            # What the constraint forces next is taken from the draft as far as they agree;
            # anything forced beyond is left to the caller (it is not evaluated yet).
            ahead = run.matcher.forced_tokens()[:room] if run.matcher is not None else []
            same = 0
            while same < len(ahead) and kept + same < len(draft):
                if ahead[same] != draft[kept + same]:
                    break
                same += 1
            for token in ahead[:same]:
                run.append(token)
            kept += same
            forced += same
            if same < len(ahead) or len(run.tokens) >= max_tokens:
                break
        self._drop_kv_from(base + kept)
        return _Speculation(next_pending, forced, kept, finished)

    def _eval_rows(self, tokens: list[int], *, first: int) -> list[np.ndarray]:
        """Evaluate `tokens` in one batch, returning the logits after each of tokens[first:].

        Like `Llama.eval`, but it asks llama.cpp for logits at just those positions (each
        costs an output-layer product: as much as the rest of the model for a 262k
        vocabulary). The rows are views, valid until the next evaluation.
        """
        llm = self.llm
        if len(tokens) > llm.n_batch:  # a long forced run: its head needs no logits
            head = len(tokens) - llm.n_batch
            self._eval(tokens[:head])
            tokens, first = tokens[head:], max(0, first - head)
        n_past = llm.n_tokens
        llm._ctx.kv_cache_seq_rm(-1, n_past, -1)
        batch = llm._batch
        batch.set_batch(batch=tokens, n_past=n_past, logits_all=False)
        for j in range(first, len(tokens)):
            batch.batch.logits[j] = True
        try:
            llm._ctx.decode(batch)
        except Exception as exc:
            raise DecodingError(
                f"llama.cpp failed to evaluate {len(tokens)} tokens: {exc}"
            ) from exc
        llm.input_ids[n_past : n_past + len(tokens)] = tokens
        llm.n_tokens = n_past + len(tokens)
        llm._requires_eval = False  # the last token's logits are live (until a drop)
        return [
            np.ctypeslib.as_array(llm._ctx.get_logits_ith(j), shape=(self._n_vocab,))
            for j in range(first, len(tokens))
        ]

    def _drop_kv_from(self, position: int) -> None:
        """Forget evaluated tokens from `position` on (draft tokens the model did not take)."""
        llm = self.llm
        if position < llm.n_tokens:
            llm._ctx.kv_cache_seq_rm(-1, position, -1)
            llm.n_tokens = position
            # llama-cpp-python's own generate() must not sample from these stale logits.
            llm._requires_eval = True


@dataclass(frozen=True)
class _Speculation:
    pending: list[int]
    """The chosen token that is not evaluated yet (the one where model and draft parted)."""
    forced: int
    accepted: int
    """Draft tokens kept (evaluated already, in the KV cache)."""
    finished: bool


class _Run:
    """The state of one generation: matcher, output so far, streamed text, and what narrows
    the constraint's mask further (repeat watcher, list budget)."""

    def __init__(
        self,
        decoder: Decoder,
        constraint: Constraint | None,
        on_text: Callable[[str], None] | None,
        *,
        close_list_on_repeat: bool,
        budget: ListBudget | None,
    ) -> None:
        self.decoder = decoder
        self.matcher = decoder._matcher(constraint) if constraint is not None else None
        self.on_text = on_text
        self.watcher = RepeatWatcher() if close_list_on_repeat and self.matcher else None
        self.budget = budget if self.matcher else None
        self.tokens: list[int] = []
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._parts: list[str] = []

    def allowed(self) -> tuple[np.ndarray, int]:
        """The tokens allowed next, and how many there are."""
        decoder = self.decoder
        if self.matcher is None:
            return decoder._free_allowed, 2
        allowed = decoder._allowed(self.matcher)
        if self._watcher_narrows():
            assert self.watcher is not None
            allowed = self._narrowed(allowed, close_list=self.watcher.repeated)
        if self._budget_narrows():
            allowed = self._narrowed(allowed, close_list=True)
        if self._winding_up():
            closing = allowed & decoder._closing
            if closing.any():
                allowed = closing
        return allowed, int(np.count_nonzero(allowed))

    def _watcher_narrows(self) -> bool:
        """The item being written may repeat an earlier one (or did): see `RepeatWatcher`."""
        watcher = self.watcher
        return watcher is not None and (watcher.repeated or watcher.may_repeat)

    def _budget_narrows(self) -> bool:
        """Between items, with no room left for another: see `ListBudget`."""
        budget = self.budget
        return budget is not None and self._budget_call(
            lambda: budget.between_items and budget.tight()
        )

    def _winding_up(self) -> bool:
        """In the last tokens of the budget, where the output closes wherever it may."""
        budget = self.budget
        return budget is not None and budget.winding_up()

    def may_skip_mask(self) -> bool:
        """Whether `accepts` alone can decide a token: nothing narrows the mask right now."""
        return not (self._watcher_narrows() or self._budget_narrows() or self._winding_up())

    def choose(
        self,
        logits: Callable[[], np.ndarray],
        *,
        temperature: float,
        rng: np.random.Generator | None,
        lazy: bool,
        fast_forward: bool,
    ) -> tuple[int | None, bool]:
        """The next token and whether the constraint left it alone (no logits needed);
        None when the constraint is complete and allows nothing more.

        `logits` is called only when the model's choice is needed. `lazy` (greedy only): the
        model's top token is checked first, and the whole mask is computed only when it is not
        allowed; the model's first choice, when allowed, is also its first choice among the
        allowed tokens, so this never changes the token (and saves 0.5-1.3 ms).
        """
        if lazy and temperature <= 0 and self.may_skip_mask():
            top = int(np.argmax(logits()))
            if self.accepts(top) and not self.starts_item_over_budget(top):
                return top, False
        allowed, n_allowed = self.allowed()
        if n_allowed == 0:
            if self.matcher is not None and self.matcher.is_finished():
                return None, False
            raise DecodingError(
                "the constraint allows no token here: the index and vocabulary disagree"
            )
        if n_allowed == 1 and fast_forward:
            return int(np.flatnonzero(allowed)[0]), True
        return self.pick(logits(), allowed, temperature, rng), False

    def ends_with(self, token: int) -> bool:
        """Whether `token` ends the generation (an end token; EOS too under a constraint)."""
        vocabulary = self.decoder.vocabulary
        return token in vocabulary.end_token_ids or (
            self.matcher is not None and token == vocabulary.eos_token_id
        )

    def draft(self, lookup: PromptLookup, *, limit: int) -> list[int]:
        """Tokens worth evaluating ahead, cut where the constraint (or free text) would not
        allow them: the tokenizer's split of forced text that the constraint could not force
        token by token, then what the lookup finds after it."""
        if limit <= 0:
            return []
        head = self.forced_head()[:limit]
        draft = head + lookup.draft([*self.tokens, *head], limit=limit - len(head))
        if self.matcher is not None:
            return draft[: self.matcher.valid_prefix(draft)] if draft else []
        allowed = self.decoder._free_allowed
        for count, token in enumerate(draft):
            if not allowed[token] or self.ends_with(token):
                return draft[:count]
        return draft

    def forced_head(self) -> list[int]:
        """The tokenizer's own tokens for the text the constraint forces next (` "` after
        `"expression":`), where they are not forced tokens: the model nearly always writes
        them, but a longer token could also start there (` "$`), so they are only a draft."""
        if self.matcher is None:
            return []
        text = self.matcher.forced_text()
        return self.decoder._tokenize(text) if text else []

    def accepts(self, token: int) -> bool:
        """Whether `token` may come next (False may also mean "ask the whole mask")."""
        if self.matcher is None:
            return bool(self.decoder._free_allowed[token])
        return self.matcher.accepts(token)

    def pick(
        self,
        logits: np.ndarray,
        allowed: np.ndarray,
        temperature: float,
        rng: np.random.Generator | None,
    ) -> int:
        """The next token among `allowed`; one that would start a list item the budget has no
        room for is replaced by the token closing the list instead."""
        token = _pick(logits, allowed, temperature, rng)
        if self.starts_item_over_budget(token):
            closing = self.item_closing(token, allowed)
            if closing is None:
                allowed = self._narrowed(allowed, close_list=False)
                closing = _pick(logits, allowed, temperature, rng)
            token = closing
        return token

    def _narrowed(self, allowed: np.ndarray, *, close_list: bool) -> np.ndarray:
        """`allowed` without tokens that close an item and go on with a comma, and, when
        `close_list`, without commas.

        The list closes as soon as the schema lets it; until then (minItems not reached) it
        has to go on, so a narrowing that would leave no token is not applied.
        """
        narrowed = allowed & self.decoder._no_close_then_comma
        if close_list:
            narrowed &= self.decoder._no_comma
        return narrowed if narrowed.any() else allowed

    def starts_item_over_budget(self, token: int) -> bool:
        """Whether `token` would start another list item that the budget has no room for."""
        budget = self.budget
        piece = self.decoder.vocabulary.pieces[token]
        if budget is None or piece is None:
            return False
        return self._budget_call(lambda: budget.tight() and budget.item_comma(piece) is not None)

    def item_closing(self, token: int, allowed: np.ndarray) -> int | None:
        """The longest allowed token spelling `token`'s text up to the comma that would start
        another item (`}}` for `}},`), or None (see `ListBudget`)."""
        budget = self.budget
        piece = self.decoder.vocabulary.pieces[token]
        assert budget is not None and piece is not None
        comma = self._budget_call(lambda: budget.item_comma(piece))
        tokens = self.decoder.token_of_piece()
        for end in range(comma or 0, 0, -1):
            prefix = tokens.get(piece[:end])
            if prefix is not None and allowed[prefix]:
                return prefix
        return None

    def append(self, token: int) -> None:
        if self.matcher is not None:
            self.matcher.advance(token)
        self.tokens.append(token)
        piece = self.decoder.vocabulary.pieces[token]
        chunk = self._utf8.decode(piece) if piece is not None else ""
        budget = self.budget
        if budget is not None:
            self._budget_call(lambda: budget.feed(chunk))
        if chunk:
            self._parts.append(chunk)
            if self.watcher is not None:
                self.watcher.feed(chunk)
            if self.on_text is not None:
                self.on_text(chunk)

    @staticmethod
    def _budget_call(call: Callable[[], T]) -> T:
        """`call`, with any failure of the budget's bookkeeping raised as a DecodingError: the
        generation stops rather than go on with a budget that no longer follows the text."""
        try:
            return call()
        except Exception as exc:
            raise DecodingError(f"the list budget failed: {exc!r}") from exc

    def text(self) -> str:
        tail = self._utf8.decode(b"", final=True)
        if tail:
            self._parts.append(tail)
        return "".join(self._parts)


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
