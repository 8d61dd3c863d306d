"""`agentsmall bench decode`: constrained decoding against free decoding and other constrainers.

Everything runs in one process on one model, temperature 0, with the same prompts and the same
tool-call schema (the calculator agent's action schema). Each method starts from the prompt
already in the KV cache, so "tok/s" compares decoding, not prompt evaluation — except stock
outlines, which resets llama.cpp after every call and therefore re-evaluates the whole prompt
every time (reported as it is, since that is what its users get, and separately without it).
Free decoding and ours run in turns, prompt by prompt, so that the machine's drift hits both
alike (measured minutes apart, their ratio moved by up to 7% from run to run).

Both of our mask backends (llguidance, the default, and outlines-core) are measured on the same
regex; the top-level keys report the model's default backend, `backends` has both.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from agentsmall._agent_spec import load_agent_spec
from agentsmall.agent import Agent
from agentsmall.cli._report import print_report
from agentsmall.decoding import BACKENDS, Constraint, Decoder, _llguidance
from agentsmall.decoding._cache import CACHE_DIR_ENV
from agentsmall.decoding._constraint import clear_memory_cache, json_schema_regex
from agentsmall.models import ChatMessage, load_model
from agentsmall.models._llamacpp import LlamaCppModel

TASKS = (
    "Use the multiply tool to compute 12 times 7.",
    "What is 23 times 19?",
    "Add 345 and 678.",
    "What is 1000 divided by 8?",
    "Subtract 57 from 200.",
    "Compute (17 * 23 + 4) / 5 with the calculate tool.",
    "What is the square root of 1764?",
    "Multiply 3.5 by 4.",
    "How much is 2 to the power of 10?",
    "Divide 144 by 12.",
)
MAX_TOKENS = 96


def add_parser(kinds: argparse._SubParsersAction) -> None:
    p = kinds.add_parser("decode", help="constrained vs free decoding, outlines and GBNF")
    p.add_argument("--model", help="preset name or .gguf path (default: smollm2-135m)")
    p.add_argument("--repeat", type=int, default=2, help="timed repetitions per task (default 2)")
    p.add_argument(
        "--outlines-tasks",
        type=int,
        default=3,
        help="tasks for stock outlines, which re-evaluates the prompt on every call (default 3)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(handler=bench_decode)


def _best(times: list[float]) -> float:
    return min(times)


@contextmanager
def _temporary_cache() -> Any:
    """A fresh constraint cache directory, so "cold" really is cold."""
    saved = os.environ.get(CACHE_DIR_ENV)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ[CACHE_DIR_ENV] = tmp
        try:
            yield Path(tmp)
        finally:
            if saved is None:
                os.environ.pop(CACHE_DIR_ENV, None)
            else:
                os.environ[CACHE_DIR_ENV] = saved


class _Timed:
    """Wraps `Decoder._allowed` to measure the cost of masking per sampled token."""

    def __init__(self, decoder: Decoder) -> None:
        self.decoder, self.calls, self.seconds = decoder, 0, 0.0
        self._original = decoder._allowed

        def timed(matcher: Any) -> Any:
            started = time.perf_counter()
            try:
                return self._original(matcher)
            finally:
                self.seconds += time.perf_counter() - started
                self.calls += 1

        decoder._allowed = timed  # type: ignore[method-assign]

    def restore(self) -> None:
        self.decoder._allowed = self._original  # type: ignore[method-assign]


def bench_decode(args: argparse.Namespace) -> int:
    from agentsmall.cli import err

    with err.status("loading model …"):
        model = load_model(args.model)
    if not isinstance(model, LlamaCppModel):  # pragma: no cover - only llama.cpp models load
        raise TypeError("bench decode needs a llama.cpp model")
    spec = load_agent_spec("calculator")
    agent = Agent(model, memory=":memory:", **spec.agent_kwargs())
    schema = agent.first_actions.schema  # a tool call: the case the engine is built for
    llm, decoder, vocabulary = model._llm, model._decoder, model._vocabulary
    prompts = [
        model.tokenize_prompt(
            [
                {"role": "system", "content": agent.system_prompt()},
                {"role": "user", "content": task},
            ]
        )
        for task in TASKS
    ]
    report: dict[str, Any] = {
        "model": model.name,
        "vocabulary": vocabulary.size,
        "tasks": len(TASKS),
        "repeat": args.repeat,
        "exact_batches": model.exact_batches,
    }

    regex = json_schema_regex(schema)
    report["regex_chars"] = len(regex)
    started = time.perf_counter()
    decoder.llguidance_tokenizer()
    report["llguidance_tokenizer_ms"] = (time.perf_counter() - started) * 1000

    def compile_times(backend: str) -> tuple[Constraint, dict[str, float]]:
        """Cold (nothing cached), warm (from disk: what a new process sees), hot (memory)."""
        times: dict[str, float] = {}
        with _temporary_cache():
            clear_memory_cache()
            _llguidance.clear_memory_cache()
            started = time.perf_counter()
            decoder.compile(regex, backend=backend)
            times["compile_cold_ms"] = (time.perf_counter() - started) * 1000
            clear_memory_cache()
            _llguidance.clear_memory_cache()
            started = time.perf_counter()
            warm = decoder.compile(regex, backend=backend)
            times["compile_warm_ms"] = (time.perf_counter() - started) * 1000
            started = time.perf_counter()
            decoder.compile(regex, backend=backend)
            times["compile_hot_ms"] = (time.perf_counter() - started) * 1000
        return warm, times

    compiled: dict[str, Constraint] = {}
    per_backend: dict[str, dict[str, Any]] = {}
    for backend in BACKENDS:
        compiled[backend], per_backend[backend] = compile_times(backend)
    default = model.constraint_backend

    # -- time to first token, prompt not cached (what a user waits for on a first step)
    llm.reset()
    result = decoder.generate(prompts[0], constraint=compiled[default], max_tokens=MAX_TOKENS)
    report["first_token_ms"] = result.first_token_seconds * 1000
    report["first_token_prompt_tokens"] = len(prompts[0])
    result = decoder.generate(prompts[0], constraint=compiled[default], max_tokens=MAX_TOKENS)
    report["first_token_warm_ms"] = result.first_token_seconds * 1000

    def interleaved(*runs: Callable[[list[int]], tuple[str, int]]) -> list[dict[str, Any]]:
        """Run each prompt `repeat` times with every method in turn (prompt warmed first), so
        that the machine's drift hits them alike; the best time per prompt and method."""
        results = [{"texts": [], "tokens": 0, "seconds": 0.0} for _ in runs]
        for prompt in prompts:
            decoder._prefill(prompt)  # the prompt is in the KV cache for every method
            times: list[list[float]] = [[] for _ in runs]
            texts: list[str] = [""] * len(runs)
            counts_: list[int] = [0] * len(runs)
            for _ in range(args.repeat):
                for i, run in enumerate(runs):
                    started = time.perf_counter()
                    texts[i], counts_[i] = run(prompt)
                    times[i].append(time.perf_counter() - started)
                    decoder._prefill(prompt)
            for i, result in enumerate(results):
                result["texts"].append(texts[i])
                result["tokens"] += counts_[i]
                result["seconds"] += _best(times[i])
        for result in results:
            result["tok_s"] = result["tokens"] / result["seconds"]
        return results

    def timed_runs(run: Callable[[list[int]], tuple[str, int]]) -> dict[str, Any]:
        return interleaved(run)[0]

    counts = {"forced": 0, "output": 0, "drafted": 0, "accepted": 0}

    def ours(
        constraint: Constraint,
        fast_forward: bool,
        *,
        lazy_mask: bool = True,
        speculate: bool = True,
    ) -> Callable[[list[int]], tuple[str, int]]:
        def run(prompt: list[int]) -> tuple[str, int]:
            r = decoder.generate(
                prompt,
                constraint=constraint,
                max_tokens=MAX_TOKENS,
                close_list_on_repeat=True,
                close_list_within_budget=True,
                fast_forward=fast_forward,
                lazy_mask=lazy_mask,
                speculate=speculate,
            )
            counts["forced"] += r.forced_tokens
            counts["output"] += len(r.tokens)
            counts["drafted"] += r.drafted_tokens
            counts["accepted"] += r.draft_tokens_accepted
            return r.text, len(r.tokens)

        return run

    def llama_free(prompt: list[int]) -> tuple[str, int]:
        out = llm.create_completion(prompt, max_tokens=MAX_TOKENS, temperature=0.0)
        return out["choices"][0]["text"], out["usage"]["completion_tokens"]

    from llama_cpp import LlamaGrammar

    grammar = LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False)

    def gbnf(prompt: list[int]) -> tuple[str, int]:
        out = llm.create_completion(prompt, max_tokens=MAX_TOKENS, temperature=0.0, grammar=grammar)
        return out["choices"][0]["text"], out["usage"]["completion_tokens"]

    @contextmanager
    def phase(name: str) -> Any:
        """A spinner while it runs, and its duration logged after (benchmarks can be long)."""
        started = time.perf_counter()
        with err.status(f"{name} …"):
            yield
        err.print(f"[dim]{name}: {time.perf_counter() - started:.1f} s[/]")

    for backend in BACKENDS:
        measured = per_backend[backend]
        counts.update(forced=0, output=0, drafted=0, accepted=0)
        # Free decoding and ours in turns, prompt by prompt: their ratio is the headline, and
        # measured minutes apart it moved with the machine by up to 7% between runs.
        with phase(f"free decoding (llama-cpp-python) and constrained ({backend}), in turns"):
            timer = _Timed(decoder)
            free, fast = interleaved(llama_free, ours(compiled[backend], True))
            timer.restore()
        measured["free_tok_s"] = free["tok_s"]
        measured["forced_share"] = counts["forced"] / max(1, counts["output"])
        measured["drafted_per_output_token"] = counts["drafted"] / max(1, counts["output"])
        measured["draft_accepted_share"] = counts["accepted"] / max(1, counts["drafted"])
        measured["mask_ms_per_call"] = timer.seconds * 1000 / max(1, timer.calls)
        with phase(f"constrained ({backend}): drafts from the prompt against none"):
            drafting, no_drafts = interleaved(
                ours(compiled[backend], True), ours(compiled[backend], True, speculate=False)
            )
        with phase(f"constrained ({backend}): top-token check against a mask every token"):
            checked, every_mask = interleaved(
                ours(compiled[backend], True), ours(compiled[backend], True, lazy_mask=False)
            )
        with phase(f"constrained ({backend}), step by step"):
            step = timed_runs(ours(compiled[backend], False))
        measured.update(
            {
                "constrained_tok_s": fast["tok_s"],
                "constrained_seconds_per_call": fast["seconds"] / len(prompts),
                "stepwise_tok_s": step["tok_s"],
                # The top token is checked before a whole mask is computed (same tokens).
                # (measured in turns, prompt by prompt, for a fair ratio)
                "every_mask_tok_s": every_mask["tok_s"],
                "top_token_check_speedup": checked["tok_s"] / every_mask["tok_s"],
                "top_token_check_same_texts": checked["texts"] == every_mask["texts"],
                # Drafts looked up in the prompt and output, checked in one batch (same tokens
                # unless a near tie: the batch's logits round differently).
                "no_drafts_tok_s": no_drafts["tok_s"],
                "draft_speedup": drafting["tok_s"] / no_drafts["tok_s"],
                "draft_same_texts": sum(
                    a == b for a, b in zip(drafting["texts"], no_drafts["texts"], strict=True)
                )
                / len(prompts),
                "speedup_vs_free": fast["tok_s"] / free["tok_s"],
                "text_differs_share": sum(
                    a != b for a, b in zip(fast["texts"], step["texts"], strict=True)
                )
                / len(prompts),
                "constrained_valid": sum(_valid(agent, t) for t in fast["texts"]) / len(prompts),
                "differing_texts": [
                    {
                        "fast_forward": a,
                        "step_by_step": b,
                        **_divergence(decoder, compiled[backend], prompt),
                    }
                    for a, b, prompt in zip(fast["texts"], step["texts"], prompts, strict=True)
                    if a != b
                ],
            }
        )
        measured["differing_near_ties"] = sum(
            d["cause"] == "near tie" for d in measured["differing_texts"]
        )
    with phase("llama.cpp GBNF"):
        gb = timed_runs(gbnf)
    with phase("stock outlines Generator"):
        outlines_result = _outlines(llm, schema, prompts[: args.outlines_tasks], args.repeat)

    chosen = per_backend[default]
    report.update(
        {
            "backend": default,
            **{k: v for k, v in chosen.items() if k != "differing_texts"},
            "gbnf_tok_s": gb["tok_s"],
            "outlines_tok_s": outlines_result["tok_s"],
            "outlines_tok_s_warm_prefix": outlines_result["tok_s_warm"],
            "speedup_vs_outlines": chosen["constrained_tok_s"] / outlines_result["tok_s"],
            "gbnf_valid": sum(_valid(agent, t) for t in gb["texts"]) / len(prompts),
            "outlines_valid": sum(_valid(agent, t) for t in outlines_result["texts"])
            / len(prompts),
            "backends": per_backend,
        }
    )
    with phase("5-step prompt reuse"):
        report.update(_prompt_reuse(model, agent))
    with phase("cost of a batch by its size"):
        report["eval_ms_by_batch_size"] = _batch_costs(decoder, prompts[0])

    print_report(
        report,
        title=f"decode benchmark: {model.name} (vocabulary {vocabulary.size})",
        as_json=args.json,
        hidden={"backends"},
    )
    return 0


NEAR_TIE = 1.0
"""Logit gap under which two tokens count as tied: llama.cpp's batched and single-token kernels
round differently, which moves logits of these models by up to ~0.6."""


def _divergence(decoder: Decoder, constraint: Constraint, prompt: list[int]) -> dict[str, Any]:
    """Where fast-forward and step-by-step decoding part, and why.

    Both are run again (deterministic) for their tokens. At the first differing token either
    the two pieces spell the same text split differently ("tokenization": possible only where
    the backend lets the model split forced text its own way), or the model chose between two
    different texts; then the gap between the two tokens' logits after the common prefix says
    whether that choice was a near tie, which batched evaluation's rounding can flip.
    """
    runs = []
    for fast_forward in (True, False):
        decoder._prefill(prompt)
        runs.append(
            decoder.generate(
                prompt,
                constraint=constraint,
                max_tokens=MAX_TOKENS,
                close_list_on_repeat=True,
                close_list_within_budget=True,
                fast_forward=fast_forward,
            ).tokens
        )
    fast, step = runs
    k = next((i for i, (a, b) in enumerate(zip(fast, step, strict=False)) if a != b), None)
    if k is None:
        return {"cause": "length"}
    pieces = decoder.vocabulary.pieces
    a, b = pieces[fast[k]] or b"", pieces[step[k]] or b""
    if a.startswith(b) or b.startswith(a):
        return {"cause": "tokenization", "at_token": k}
    decoder._prefill([*prompt, *fast[:k]])  # logits for token k, after the common prefix
    logits = decoder._logits()
    gap = abs(float(logits[fast[k]] - logits[step[k]]))
    cause = "near tie" if gap < NEAR_TIE else "other"
    return {"cause": cause, "at_token": k, "logit_gap": gap}


def _valid(agent: Agent, text: str) -> bool:
    try:
        agent.first_actions.parse(text)
    except Exception:
        return False
    return True


def _outlines(llm: Any, schema: dict, prompts: list[list[int]], repeat: int) -> dict[str, Any]:
    """Stock outlines 1.x: `Generator` over `from_llamacpp`, as its documentation shows."""
    import outlines
    from outlines.types import JsonSchema

    model = outlines.from_llamacpp(llm, chat_mode=False)
    generator = outlines.Generator(model, JsonSchema(json.dumps(schema)))
    texts, tokens, seconds, warm_seconds = [], 0, 0.0, 0.0
    # Where the model adds BOS, llama-cpp-python's completion adds it itself, so a text that
    # starts with it would get two (SmolLM2's "BOS" is `<|im_start|>`, which it does not add).
    bos = [llm.token_bos()]
    adds_bos = llm.tokenize(b"a", add_bos=True)[:1] == bos
    for prompt in prompts:
        without_bos = prompt[1:] if adds_bos and prompt[:1] == bos else prompt
        text_prompt = llm.detokenize(without_bos, special=True).decode("utf-8")
        cold, warm = [], []
        for _ in range(repeat):
            llm.reset()  # what outlines itself does after every call
            started = time.perf_counter()
            text = generator(text_prompt, max_tokens=MAX_TOKENS, temperature=0.0)
            cold.append(time.perf_counter() - started)
            llm.eval(prompt)  # prompt already cached: llama-cpp-python reuses the prefix
            started = time.perf_counter()
            generator(text_prompt, max_tokens=MAX_TOKENS, temperature=0.0)
            warm.append(time.perf_counter() - started)
        texts.append(text)
        tokens += len(llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))
        seconds += min(cold)
        warm_seconds += min(warm)
    llm.reset()
    return {
        "texts": texts,
        "tok_s": tokens / seconds,
        "tok_s_warm": tokens / warm_seconds,
    }


BATCH_SIZES = (1, 2, 4, 8, 16)


def _batch_costs(decoder: Decoder, prompt: list[int], repeat: int = 7) -> dict[int, float]:
    """Milliseconds to evaluate n tokens in one call after `prompt` (the median of `repeat`).

    What every speed-up here trades on: tokens known in advance (forced text, drafts) are
    evaluated in one call, which costs less than one call each but not nothing."""
    decoder._prefill(prompt)
    base = decoder.llm.n_tokens
    tokens = list(prompt[-max(BATCH_SIZES) :])
    costs: dict[int, float] = {}
    for size in BATCH_SIZES:
        times = []
        for _ in range(repeat):
            decoder._drop_kv_from(base)
            started = time.perf_counter()
            decoder._eval(tokens[:size])
            times.append(time.perf_counter() - started)
        costs[size] = sorted(times)[len(times) // 2] * 1000
    decoder._drop_kv_from(base)
    return costs


def _prompt_reuse(model: LlamaCppModel, agent: Agent) -> dict[str, Any]:
    """Prompt tokens evaluated per step over a 5-step run, with KV reuse and without."""
    messages: list[ChatMessage] = [
        {"role": "system", "content": agent.system_prompt()},
        {
            "role": "user",
            "content": "Multiply 2 by 3, then the result by 4, and so on, five times.",
        },
    ]
    evaluated, new_tokens, full = [], [], []
    previous: list[int] = []
    model._llm.reset()
    for step in range(5):
        prompt = model.tokenize_prompt(messages)
        common = 0
        for a, b in zip(previous, prompt, strict=False):
            if a != b:
                break
            common += 1
        generation = model.generate(
            messages, constraint=agent.first_constraint, max_tokens=MAX_TOKENS
        )
        evaluated.append(generation.prompt_tokens_evaluated)
        new_tokens.append(len(prompt) - common)
        full.append(len(prompt))
        previous = prompt + model._llm.tokenize(generation.text.encode(), add_bos=False)
        messages += [
            {"role": "assistant", "content": generation.text},
            {"role": "user", "content": f"multiply returned: {6 * 4**step}"},
        ]
    steps = range(1, 5)  # the first step has no history to reuse
    return {
        "prompt_eval_ratio": sum(evaluated[i] for i in steps) / sum(new_tokens[i] for i in steps),
        "prompt_eval_ratio_without_reuse": sum(full[i] for i in steps)
        / sum(new_tokens[i] for i in steps),
        "prompt_tokens_per_step": full,
        "prompt_tokens_evaluated_per_step": evaluated,
        "prompt_tokens_new_per_step": new_tokens,
    }
