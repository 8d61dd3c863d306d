"""One planner step on one prompt, three ways, for side-by-side comparison on the same model.

* ``agentsmall``: the agent's own step — its action schema compiled by our decoder (outlines-
  core masks, repeat guard), exactly as `Agent` decodes it; every output is audited.
* ``raw``: the same prompt, no constraint; the first JSON value in the text is taken.
* ``gbnf``: the same prompt and action schema, but llama-cpp-python's own JSON-schema grammar
  (`LlamaGrammar.from_json_schema`) and sampler (greedy, like ours).

All three are validated by the same `ActionSpace.parse`, so "valid" means the same thing for
each. Only the ``agentsmall`` outputs go to the validation tally (`agentsmall._audit`): the
other two are deliberately not our constrained decoding, and their failures are data here.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from agentsmall import _audit
from agentsmall._actions import FINAL_ANSWER, ActionSpace, StepAction
from agentsmall.errors import ConfigError, ContextOverflowError, DecodingError
from agentsmall.models import ChatMessage, JsonSchemaConstraint, Model

MODES = ("agentsmall", "raw", "gbnf")


@dataclass(frozen=True)
class Attempt:
    """What one mode produced for one prompt, validated."""

    text: str
    finish_reason: str
    """"stop", "length" (cut off by the token limit) or "error" (nothing was generated)."""
    action: StepAction | None
    """The validated action; None when the output is not a valid action."""
    problem: str | None
    """Why the output is not valid (None when it is)."""
    seconds: float
    output_tokens: int
    prompt_tokens: int
    first_json: Any = None
    """The first JSON value found in the text (raw mode's reading of the output), if any."""
    cpu_seconds: float = 0.0
    """Processor time of this process during the step: unlike `seconds` (wall clock), it does
    not grow when other processes compete for the cores."""

    @property
    def valid(self) -> bool:
        return self.action is not None


def first_json_value(text: str) -> Any:
    """The first complete JSON array or object in `text`, or None when there is none."""
    decoder = json.JSONDecoder()
    for start, char in enumerate(text):
        if char in "[{":
            try:
                value, _ = decoder.raw_decode(text, start)
            except json.JSONDecodeError:
                continue
            return value
    return None


def lists_a_call(value: Any) -> bool:
    """Whether a decoded output names at least one tool call (valid or not), for BFCL's
    lenient relevance rule."""
    calls = value if isinstance(value, list) else [value]
    return any(
        isinstance(c, dict) and isinstance(c.get("tool"), str) and c["tool"] != FINAL_ANSWER
        for c in calls
    )


def run_step(
    model: Model,
    mode: str,
    messages: Sequence[ChatMessage],
    actions: ActionSpace,
    *,
    constraint: JsonSchemaConstraint,
    max_tokens: int,
) -> Attempt:
    """Generate one planner step in `mode` and validate it."""
    if mode not in MODES:
        raise ConfigError(f"unknown mode {mode!r}; modes: {', '.join(MODES)}")
    started, cpu_started = time.perf_counter(), time.process_time()
    try:
        if mode == "gbnf":
            text, finish, prompt_tokens, output_tokens = _generate_gbnf(
                model, messages, actions, max_tokens=max_tokens
            )
        else:
            generation = model.generate(
                messages,
                constraint=constraint if mode == "agentsmall" else None,
                max_tokens=max_tokens,
            )
            text, finish = generation.text, generation.finish_reason
            prompt_tokens, output_tokens = generation.prompt_tokens, generation.output_tokens
    except (ContextOverflowError, DecodingError) as exc:
        # Nothing was generated (the prompt does not fit, the schema does not compile): a
        # failed item, not an output, so it is not audited.
        return Attempt("", "error", None, str(exc), time.perf_counter() - started, 0, 0)
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    if mode == "raw":
        value = first_json_value(text)
        if isinstance(value, dict):  # a single call object instead of a list of one
            value = [value]
        action, problem = _parse(actions, None if value is None else json.dumps(value))
        if value is None:
            problem = "no JSON value in the output"
        return Attempt(
            text, finish, action, problem, seconds, output_tokens, prompt_tokens, value, cpu
        )
    if finish == "length":
        action, problem = None, f"cut off by the token limit ({output_tokens} tokens)"
    else:
        action, problem = _parse(actions, text)
    if mode == "agentsmall":
        _audit.record(valid=action is not None, model=model.name, reason=problem or "")
    return Attempt(
        text,
        finish,
        action,
        problem,
        seconds,
        output_tokens,
        prompt_tokens,
        first_json_value(text),
        cpu,
    )


def _parse(actions: ActionSpace, text: str | None) -> tuple[StepAction | None, str | None]:
    if text is None:
        return None, "no output"
    try:
        return actions.parse(text), None
    except DecodingError as exc:
        return None, str(exc)


def _generate_gbnf(
    model: Model, messages: Sequence[ChatMessage], actions: ActionSpace, *, max_tokens: int
) -> tuple[str, str, int, int]:
    """llama-cpp-python's grammar-constrained completion on the model's own rendered prompt.

    The prompt goes in as token ids from the model's own tokenization (exactly one BOS):
    given text, llama-cpp-python would add a BOS of its own in front of the template's.
    """
    llm = getattr(model, "_llm", None)
    tokenize = getattr(model, "tokenize_prompt", None)
    if llm is None or tokenize is None:
        raise ConfigError(f"mode gbnf needs a llama.cpp model; {model.name} is not one")
    from llama_cpp import LlamaGrammar

    grammar = LlamaGrammar.from_json_schema(json.dumps(actions.schema), verbose=False)
    # The model's lock: llama.cpp's KV cache is shared with our decoder.
    with getattr(model, "_lock", None) or contextlib.nullcontext():
        prompt = tokenize(messages)
        bos = llm.token_bos()
        if len(prompt) > 1 and prompt[0] == bos and prompt[1] == bos:
            raise DecodingError("the prompt starts with two BOS tokens")
        if len(prompt) + max_tokens > llm.n_ctx():
            raise ContextOverflowError(
                f"the prompt has {len(prompt)} tokens and up to {max_tokens} more may be"
                f" generated, but the context window holds {llm.n_ctx()}"
            )
        completion = llm.create_completion(
            prompt, grammar=grammar, temperature=0, max_tokens=max_tokens
        )
    choice = completion["choices"][0]
    usage = completion["usage"]
    finish = "length" if choice["finish_reason"] == "length" else "stop"
    return choice["text"], finish, usage["prompt_tokens"], usage["completion_tokens"]
