"""The default backend: a GGUF model run in-process by llama-cpp-python."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import llama_cpp
import numpy as np

from agentsmall.decoding import Constraint as CompiledConstraint
from agentsmall.decoding import Decoder, TokenVocabulary, default_backend, json_schema_regex
from agentsmall.errors import ModelLoadError
from agentsmall.models._base import (
    ChatMessage,
    Constraint,
    Generation,
    JsonSchemaConstraint,
    Model,
    RegexConstraint,
    TextCallback,
)
from agentsmall.models._chat import ChatTemplate, fallback_template
from agentsmall.models._scoring import TextScorer

GGUF_MAGIC = b"GGUF"


def check_gguf(path: Path) -> None:
    """Refuse, with a clear message, anything that is not a readable GGUF file.

    llama.cpp would otherwise print pages of log and raise a bare "Failed to load model".
    """
    if not path.exists():
        raise ModelLoadError(f"model file not found: {path}")
    if not path.is_file():
        raise ModelLoadError(f"model path is not a file: {path}")
    try:
        with path.open("rb") as f:
            magic = f.read(4)
    except OSError as exc:
        raise ModelLoadError(f"cannot read model file {path}: {exc}") from exc
    if magic != GGUF_MAGIC:
        raise ModelLoadError(
            f"{path} is not a GGUF model file (it starts with {magic!r}, not b'GGUF')"
        )


def llamafile_kernels() -> bool:
    """Whether this llama.cpp build has the "llamafile" matrix kernels (llama-cpp-python
    built from PyPI's source as it comes). They compute a batch of two or more tokens in
    another order than one token, so what fast-forward and drafts evaluate in a batch comes
    out a rounding apart from decoding one token at a time; `make setup` builds without them
    (docs/BENCHMARKS.md, "Constrained decoding")."""
    return "LLAMAFILE = 1" in llama_cpp.llama_print_system_info().decode(errors="replace")


TILED_MATMUL_ENV = "GGML_CPU_TILED_MM"
"""ggml reads it once per process: "0" turns off its tiled K-quant kernels, which a batch of
8 or more tokens takes and a single token does not."""

_PARAMS_LOCK = threading.Lock()


@contextlib.contextmanager
def _without_repacking() -> Iterator[None]:
    """llama-cpp-python gives no argument for llama.cpp's `use_extra_bufts` (weights repacked
    into interleaved blocks, which a batch of 4 or more tokens reads with other kernels than a
    single token): while loading, its default model parameters come with it off."""
    module = llama_cpp.llama_cpp
    default = module.llama_model_default_params

    def without() -> Any:
        params = default()
        params.use_extra_bufts = False
        return params

    with _PARAMS_LOCK:
        module.llama_model_default_params = without
        try:
            yield
        finally:
            module.llama_model_default_params = default


THREADS_ENV = "AGENTSMALL_THREADS"


def default_threads() -> int:
    """$AGENTSMALL_THREADS, else the cores this process may use (at most 8).

    llama.cpp's worker threads spin while they wait for each other, so more threads than free
    cores (several models or processes at once on a small machine) slows every token down a
    lot; set AGENTSMALL_THREADS=1 for each of several concurrent processes.
    """
    configured = os.environ.get(THREADS_ENV, "").strip()
    if configured.isdigit() and int(configured) > 0:
        return int(configured)
    return max(
        1,
        min(
            len(os.sched_getaffinity(0))
            if hasattr(os, "sched_getaffinity")
            else os.cpu_count() or 2,
            8,
        ),
    )


class LlamaCppModel(Model):
    """A GGUF model in this process, with KV-cache reuse and constrained decoding."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        name: str | None = None,
        context_length: int = 4096,
        threads: int | None = None,
        temperature: float = 0.0,
        seed: int = 0,
        chat_template: str | None = None,
        constraint_backend: str | None = None,
        drafts: bool = True,
        exact_batches: bool = True,
    ) -> None:
        self.path = Path(path).expanduser()
        check_gguf(self.path)
        self.name = name or self.path.stem
        n_threads = threads or default_threads()
        if exact_batches:
            os.environ.setdefault(TILED_MATMUL_ENV, "0")
        try:
            with _without_repacking() if exact_batches else contextlib.nullcontext():
                self._llm = llama_cpp.Llama(
                    model_path=str(self.path),
                    n_ctx=context_length,
                    # Batches (prompts, fast-forwarded runs) get the same threads as single
                    # tokens: llama-cpp-python's default for them is every core of the
                    # machine, which with several processes at once makes spinning threads
                    # wait on descheduled ones.
                    n_threads=n_threads,
                    n_threads_batch=n_threads,
                    n_batch=512,
                    seed=seed,
                    verbose=False,
                )
        except Exception as exc:  # llama-cpp-python raises ValueError/RuntimeError
            raise ModelLoadError(
                f"llama.cpp cannot load {self.path}: the file may be corrupt or truncated,"
                f" or of an architecture this llama.cpp build does not know ({exc})"
            ) from exc
        self.context_length = self._llm.n_ctx()
        self.temperature = temperature
        self._rng = np.random.default_rng(seed)
        self._lock = threading.Lock()  # one generation at a time: the KV cache is shared state
        metadata = self._llm.metadata
        self._vocabulary = TokenVocabulary.cached_from_llama(self._llm, self.path)
        self._decoder = Decoder(self._llm, self._vocabulary)
        self._scorer: TextScorer | None = None  # created by the first `score`
        self.constraint_backend = constraint_backend or default_backend()
        """"llguidance" or "outlines": who computes token masks (see agentsmall.decoding)."""
        # Drafts from the prompt speed greedy decoding up; without exact batches (below) their
        # batched logits may tip a near tie the other way, so they can be switched off for
        # outputs identical to decoding without them (docs/BENCHMARKS.md, "Constrained
        # decoding").
        self.drafts = drafts
        # Fast-forward and drafts evaluate tokens in batches; llama.cpp's fast batch kernels
        # (llamafile, repacked and tiled K-quant matmuls) round differently from a single
        # token's, so their text could differ from one-token-at-a-time greedy decoding on a
        # near tie. Without them a batch is exact (tested): whether this model has that.
        self.exact_batches = (
            exact_batches and not llamafile_kernels() and os.environ.get(TILED_MATMUL_ENV) == "0"
        )
        self._add_bos = metadata.get("tokenizer.ggml.add_bos_token", "true") != "false"
        self._bos_id = self._llm.token_bos()
        self.architecture: str = metadata.get("general.architecture", "")
        """The GGUF's architecture (`llama`, `gemma3`, ...): a hint for tool_format="auto"."""
        template_source = chat_template or metadata.get("tokenizer.chat_template")
        self.has_chat_template = template_source is not None
        self.chat_template = ChatTemplate(
            template_source or fallback_template(),
            bos_token=self._token_text(self._bos_id),
            eos_token=self._token_text(self._llm.token_eos()),
        )

    def _token_text(self, token: int) -> str:
        if token < 0:
            return ""
        return self._llm.detokenize([token], special=True).decode("utf-8", errors="replace")

    def tokenize_prompt(
        self,
        messages: Sequence[ChatMessage],
        *,
        template_kwargs: Mapping[str, Any] | None = None,
        prefill: str = "",
    ) -> list[int]:
        """Render and tokenize a prompt, with exactly one BOS when the model wants one.

        llama-cpp-python's completion path adds BOS itself, so a template that starts with
        `{{ bos_token }}` gets two there; we tokenize without adding and add it only if absent.
        `prefill` (text the assistant turn already holds) is tokenized with special tokens, so
        a control token such as Phi-4's `<|tool_call|>` becomes that one token.
        """
        text = self.chat_template.render(
            messages, add_generation_prompt=True, **dict(template_kwargs or {})
        )
        tokens = self._llm.tokenize((text + prefill).encode("utf-8"), add_bos=False, special=True)
        if self._add_bos and self._bos_id >= 0 and (not tokens or tokens[0] != self._bos_id):
            tokens.insert(0, self._bos_id)
        return tokens

    def count_prompt_tokens(
        self, messages: Sequence[ChatMessage], *, template_kwargs: Mapping[str, Any] | None = None
    ) -> int:
        return len(self.tokenize_prompt(messages, template_kwargs=template_kwargs))

    def _compile(self, constraint: Constraint | None) -> CompiledConstraint | None:
        """The constraint compiled by this model's backend: a regex as it is, a JSON schema
        through the regex outlines-core derives from it."""
        if constraint is None:
            return None
        regex = (
            constraint.pattern
            if isinstance(constraint, RegexConstraint)
            else json_schema_regex(constraint.schema)
        )
        return self._decoder.compile(regex, backend=self.constraint_backend)

    def generate(
        self,
        messages: Sequence[ChatMessage],
        *,
        constraint: Constraint | None = None,
        max_tokens: int = 256,
        on_text: TextCallback | None = None,
        template_kwargs: Mapping[str, Any] | None = None,
        prefill: str = "",
        stop: Sequence[str] = (),
    ) -> Generation:
        compiled = self._compile(constraint)
        watch = _StopWatch(stop, on_text) if stop else None
        with self._lock:
            prompt = self.tokenize_prompt(
                messages, template_kwargs=template_kwargs, prefill=prefill
            )
            cached = _common_prefix(self._llm.input_ids[: self._llm.n_tokens], prompt)
            started = time.perf_counter()
            try:
                result = self._decoder.generate(
                    prompt,
                    constraint=compiled,
                    max_tokens=max_tokens,
                    on_text=watch.feed if watch is not None else on_text,
                    temperature=self.temperature,
                    rng=self._rng,
                    close_list_on_repeat=isinstance(constraint, JsonSchemaConstraint)
                    and constraint.list_of_unique_items,
                    close_list_within_budget=isinstance(constraint, JsonSchemaConstraint),
                    speculate=self.drafts,
                )
            except _StopReached:
                assert watch is not None
                # The decoder keeps its KV cache consistent when a callback raises; what it
                # would have returned is rebuilt here (token counts from the streamed pieces).
                return Generation(
                    text=watch.text,
                    finish_reason="stop",
                    prompt_tokens=len(prompt),
                    prompt_tokens_evaluated=len(prompt) - cached,
                    output_tokens=watch.pieces,
                    seconds=time.perf_counter() - started,
                    stop_string=watch.hit,
                )
        return Generation(
            text=result.text,
            finish_reason="stop" if result.finish_reason == "stop" else "length",
            prompt_tokens=result.prompt_tokens,
            prompt_tokens_evaluated=result.prompt_tokens_evaluated,
            output_tokens=len(result.tokens),
            forced_tokens=result.forced_tokens,
            seconds=result.seconds,
            prompt_seconds=result.prompt_seconds,
        )

    can_score = True

    def score(self, contexts: Sequence[str], continuation: str) -> list[float]:
        """See `Model.score`: scored in a llama.cpp context of their own (`TextScorer`), so the
        KV cache of generation keeps its prompt prefix, and contexts scored before (the same
        tools' descriptions) are not evaluated again."""
        with self._lock:
            if self._scorer is None:
                self._scorer = TextScorer(self._llm, n_threads=self._llm.n_threads)
            tail = self._llm.tokenize(continuation.encode("utf-8"), add_bos=False, special=False)
            return self._scorer.score([self._plain_tokens(c) for c in contexts], tail)

    def _plain_tokens(self, text: str) -> list[int]:
        """`text` as tokens, special markers taken literally, with BOS when the model wants it."""
        tokens = self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)
        if self._add_bos and self._bos_id >= 0:
            tokens.insert(0, self._bos_id)
        return tokens

    def close(self) -> None:
        if self._scorer is not None:
            self._scorer.close()
            self._scorer = None
        self._llm.close()


class _StopReached(Exception):
    """Raised from the text callback to end a generation at a stop string."""


class _StopWatch:
    """Streams text on to the caller until a stop string appears, then ends the generation.

    The decoder has no stop strings (constrained steps end with their constraint); thinking,
    generated freely, must end at `</think>`, so the watch raises from the text callback.
    """

    def __init__(self, stop: Sequence[str], on_text: TextCallback | None) -> None:
        self.stop = [s for s in stop if s]
        self.on_text = on_text
        self.text = ""
        self.pieces = 0
        self.hit: str | None = None

    def feed(self, chunk: str) -> None:
        self.pieces += 1
        before = len(self.text)
        combined = self.text + chunk
        hits = sorted((i, s) for s in self.stop if (i := combined.find(s)) >= 0)
        if hits:
            self.text, self.hit = combined[: hits[0][0]], hits[0][1]
            if self.on_text is not None and len(self.text) > before:
                self.on_text(self.text[before:])
            raise _StopReached
        self.text = combined
        if self.on_text is not None:
            self.on_text(chunk)


def _common_prefix(cached: Sequence[int], prompt: Sequence[int]) -> int:
    """How many prompt tokens the KV cache already holds (as `Decoder._prefill` counts them)."""
    limit = min(len(cached), len(prompt) - 1)
    if limit <= 0:
        return 0
    diff = np.flatnonzero(np.asarray(cached[:limit]) != np.asarray(prompt[:limit]))
    return int(diff[0]) if diff.size else limit
