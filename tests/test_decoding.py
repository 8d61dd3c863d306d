"""Constrained decoding on the real embedded model (SmolLM2-135M), plus pure repeat-watcher tests.

Every constrained output produced here is checked with `jsonschema` and recorded in the
validation tally (`agentsmall._audit`), so the session summary counts it.
"""

from __future__ import annotations

import ctypes
import json
from collections.abc import Iterator
from typing import Any

import jsonschema
import llama_cpp
import numpy as np
import outlines_core
import pytest

from agentsmall import _audit
from agentsmall._actions import MAX_INTEGER_DIGITS, ActionSpace
from agentsmall._tool import tool
from agentsmall.agent import Agent
from agentsmall.decoding import (
    BACKENDS,
    Decoder,
    TokenVocabulary,
    compile_json_schema,
    json_schema_regex,
)
from agentsmall.decoding._budget import ListBudget
from agentsmall.decoding._engine import _Run
from agentsmall.decoding._repeats import RepeatWatcher, close_then_comma_tokens, comma_tokens
from agentsmall.errors import ContextOverflowError, DecodingError
from agentsmall.models import JsonSchemaConstraint, ScriptedModel, load_model
from agentsmall.models._llamacpp import llamafile_kernels

STRING_SCHEMA = {"type": "object", "properties": {"s": {"type": "string"}}, "required": ["s"]}


@tool
def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


def record_and_validate(text: str, schema: dict[str, Any], model: Any) -> Any:
    """Validate a constrained output against its schema, counting it in the session tally."""
    try:
        data = json.loads(text)
        jsonschema.validate(data, schema)
    except (json.JSONDecodeError, jsonschema.ValidationError) as exc:
        _audit.record(valid=False, model=model.name, reason=f"{exc}: {text[:200]!r}")
        raise
    _audit.record(valid=True, model=model.name)
    return data


def control_token_ids(llm: llama_cpp.Llama) -> list[int]:
    vocab = llm._model.vocab
    return [
        t
        for t in range(llm.n_vocab())
        if llama_cpp.llama_vocab_get_attr(vocab, t) & llama_cpp.LLAMA_TOKEN_ATTR_CONTROL
    ]


def detokenize(llm: llama_cpp.Llama, tokens: list[int]) -> bytes:
    """The bytes of `tokens`, from llama.cpp's own detokenizer with a buffer large enough."""
    if not tokens:
        return b""
    buffer = ctypes.create_string_buffer(64 * len(tokens) + 1024)
    array = (llama_cpp.llama_token * len(tokens))(*tokens)
    n = llama_cpp.llama_detokenize(
        llm._model.vocab, array, len(tokens), buffer, len(buffer), False, False
    )
    assert n >= 0
    return buffer.raw[:n]


def advance(guide: outlines_core.Guide, model: Any, text: str) -> None:
    for token in model._llm.tokenize(text.encode(), add_bos=False, special=False):
        guide.advance(token, False)


def user(content: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": content}]


def matcher(model: Any, schema: dict[str, Any], backend: str, text: str = "") -> Any:
    """A fresh `Matcher` of `backend` for `schema`, advanced over `text`."""
    decoder = model._decoder
    started = decoder._matcher(decoder.compile(json_schema_regex(schema), backend=backend))
    for token in model._llm.tokenize(text.encode(), add_bos=False, special=False):
        started.advance(token)
    return started


@pytest.fixture
def backend_model(embedded_model: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """The embedded model with its constraint backend set to the test's parameter."""
    before = embedded_model.constraint_backend
    embedded_model.constraint_backend = request.param
    yield embedded_model
    embedded_model.constraint_backend = before


each_backend = pytest.mark.parametrize("backend_model", BACKENDS, indirect=True)


# -- vocabulary --------------------------------------------------------------------------------


def test_control_tokens_have_no_piece(embedded_model: Any) -> None:
    llm, vocabulary = embedded_model._llm, embedded_model._vocabulary
    control = control_token_ids(llm)
    assert set(range(17)) <= set(control)  # <|endoftext|>, <|im_start|>, <|im_end|>, <repo_name>...
    [im_start] = llm.tokenize(b"<|im_start|>", add_bos=False, special=True)
    [im_end] = llm.tokenize(b"<|im_end|>", add_bos=False, special=True)
    assert {im_start, im_end} <= set(control)
    assert all(vocabulary.pieces[t] is None for t in control)
    # Ordinary tokens do have their bytes.
    assert vocabulary.pieces[17] == b"!"
    assert sum(p is not None for p in vocabulary.pieces) == vocabulary.size - len(control)
    # The end tokens are known separately.
    assert vocabulary.eos_token_id == llm.token_eos() == im_end
    assert {0, im_end} <= vocabulary.end_token_ids


def test_long_and_byte_pieces_are_kept_intact(embedded_model: Any) -> None:
    # Compared with llama.cpp's whole-sequence detokenizer and a round trip through the
    # tokenizer. (Not with `Llama.detokenize`: llama-cpp-python reads pieces through a 32-byte
    # buffer and silently returns b"" for longer ones, the very bug the vocabulary avoids.)
    llm, pieces = embedded_model._llm, embedded_model._vocabulary.pieces
    long = [t for t, p in enumerate(pieces) if p is not None and len(p) > 32]
    assert len(long) >= 10
    for t in long:
        assert pieces[t] == detokenize(llm, [t])
        assert llm.tokenize(pieces[t], add_bos=False, special=False) == [t]

    def utf8(piece: bytes) -> bool:
        try:
            piece.decode("utf-8")
        except UnicodeDecodeError:
            return False
        return True

    partial = [t for t, p in enumerate(pieces) if p is not None and not utf8(p)]
    assert len(partial) > 100  # byte tokens are kept as bytes, not collapsed to U+FFFD
    present = [p for p in pieces if p is not None]
    assert len(set(present)) == len(present)
    assert all(p is None or p == detokenize(llm, [t]) for t, p in enumerate(pieces))


def test_fingerprint_is_stable_across_extractions(embedded_model: Any) -> None:
    again = TokenVocabulary.from_llama(embedded_model._llm)
    assert again.fingerprint == embedded_model._vocabulary.fingerprint
    assert again.pieces == embedded_model._vocabulary.pieces
    assert again.end_token_ids == embedded_model._vocabulary.end_token_ids
    assert len(again.fingerprint) == 16


# -- the mask ----------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_special_tokens_cannot_be_emitted_inside_a_json_string(
    embedded_model: Any, backend: str
) -> None:
    vocabulary = embedded_model._vocabulary
    control = control_token_ids(embedded_model._llm)
    inside = matcher(embedded_model, STRING_SCHEMA, backend, '{"s": "')
    allowed = embedded_model._decoder._allowed(inside)

    assert allowed.shape == (vocabulary.size,)
    assert allowed.sum() > 10_000  # almost anything may go in a string...
    assert not allowed[control].any()  # ... but never a control token
    assert not allowed[sorted(vocabulary.end_token_ids)].any()
    assert all(vocabulary.pieces[t] is not None for t in np.flatnonzero(allowed))
    if backend == "outlines":
        guide = outlines_core.Guide(compile_json_schema(STRING_SCHEMA, vocabulary).index)
        advance(guide, embedded_model, '{"s": "')
        assert set(np.flatnonzero(allowed)) == set(guide.get_tokens())


def test_both_backends_agree_token_by_token(embedded_model: Any) -> None:
    """The backends compute masks differently (a prebuilt index, lazy derivatives) from the
    same regex. Along whole tool calls, token by token: llguidance never allows a token the
    index refuses; where the model has a real choice they allow exactly the same tokens; where
    the text ahead is forced, llguidance may allow fewer ways to split it into tokens (it keeps
    to the tokenizer's own splits, as our forced strings do)."""
    schema = ActionSpace.from_tools([multiply]).schema
    decoder = embedded_model._decoder
    texts = [
        '[{"tool": "multiply", "arguments": {"a": 12, "b": -7}}]',
        '[{"tool": "final_answer", "arguments": {"answer": "It is \\"84\\" ü 🙂."}}]',
    ]
    for text in texts:
        index, lazy = (
            matcher(embedded_model, schema, backend) for backend in ("outlines", "llguidance")
        )
        tokens = embedded_model._llm.tokenize(text.encode(), add_bos=False, special=False)
        for position, token in enumerate([*tokens, None]):
            by_index, by_lazy = decoder._allowed(index), decoder._allowed(lazy)
            assert not (by_lazy & ~by_index).any(), (text, position)
            if not lazy._matcher.compute_ff_bytes():
                difference = np.flatnonzero(by_index != by_lazy)
                assert difference.size == 0, (text, position, difference[:10])
            if token is None:
                assert index.is_finished() and lazy.is_finished()
                assert by_lazy[embedded_model._vocabulary.eos_token_id]
            else:
                assert by_lazy[token], (text, position)
                index.advance(token)
                lazy.advance(token)


def test_a_vocabulary_with_control_pieces_would_leak_them(embedded_model: Any) -> None:
    """The counter-check of the test above: were control tokens given their text, the
    constraint would accept them inside a string. Leaving them out is what prevents it."""
    llm, vocabulary = embedded_model._llm, embedded_model._vocabulary
    [im_start] = llm.tokenize(b"<|im_start|>", add_bos=False, special=True)
    pieces = list(vocabulary.pieces)
    pieces[im_start] = llm.detokenize([im_start], special=True)
    leaky = TokenVocabulary(
        tuple(pieces), vocabulary.eos_token_id, vocabulary.end_token_ids, "leaky-test-only"
    )
    guide = outlines_core.Guide(compile_json_schema(STRING_SCHEMA, leaky).index)
    advance(guide, embedded_model, '{"s": "')
    assert im_start in guide.get_tokens()


def test_integers_are_bounded(embedded_model: Any) -> None:
    vocabulary = embedded_model._vocabulary
    eos = vocabulary.eos_token_id
    digits = {t for t, p in enumerate(vocabulary.pieces) if p and p[:1].isdigit()}

    bounded = outlines_core.Guide(
        compile_json_schema({"type": "integer", "maxDigits": 3}, vocabulary).index
    )
    advance(bounded, embedded_model, "123")
    assert bounded.get_tokens() == [eos]
    free = outlines_core.Guide(compile_json_schema({"type": "integer"}, vocabulary).index)
    advance(free, embedded_model, "123")
    assert digits & set(free.get_tokens())

    # The action space bounds every integer argument the same way.
    schema = ActionSpace.from_tools([multiply]).schema
    guide = outlines_core.Guide(compile_json_schema(schema, vocabulary).index)
    advance(guide, embedded_model, '[{"tool": "multiply", "arguments": {"a": ')
    advance(guide, embedded_model, "9" * (MAX_INTEGER_DIGITS - 1))
    assert digits & set(guide.get_tokens())
    advance(guide, embedded_model, "9")
    allowed = set(guide.get_tokens())
    assert allowed
    assert not digits & allowed


@pytest.mark.parametrize("backend", BACKENDS)
def test_floats_are_bounded(embedded_model: Any, backend: str) -> None:
    """A number may not run on forever (`12.5000...` until the token limit)."""
    schema = {"type": "object", "properties": {"x": {"type": "number"}}, "required": ["x"]}
    digits = {t for t, p in enumerate(embedded_model._vocabulary.pieces) if p and p.isdigit()}
    fraction = matcher(embedded_model, schema, backend, '{"x": 12.' + "5" * 7)
    assert digits & set(np.flatnonzero(embedded_model._decoder._allowed(fraction)))
    fraction = matcher(embedded_model, schema, backend, '{"x": 12.' + "5" * 8)
    assert not digits & set(np.flatnonzero(embedded_model._decoder._allowed(fraction)))
    whole = matcher(embedded_model, schema, backend, '{"x": ' + "9" * 15)
    assert not digits & set(np.flatnonzero(embedded_model._decoder._allowed(whole)))


# -- generation --------------------------------------------------------------------------------


@pytest.fixture
def spy_decoder(embedded_model: Any, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every DecodeResult the model's decoder returns (LlamaCppModel.generate hides tokens)."""
    results: list[Any] = []
    original = embedded_model._decoder.generate

    def spy(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        results.append(result)
        return result

    monkeypatch.setattr(embedded_model._decoder, "generate", spy)
    return results


COLOR_SCHEMA = {
    "type": "object",
    "properties": {"color": {"enum": ["red", "green", "blue"]}},
    "required": ["color"],
    "additionalProperties": False,
}


def test_prefix_reuse_evaluates_only_new_tokens(
    embedded_model: Any, spy_decoder: list[Any]
) -> None:
    m = embedded_model
    constraint = JsonSchemaConstraint(COLOR_SCHEMA)
    system = {"role": "system", "content": "You answer in JSON. " + "Be brief and exact. " * 30}
    first = [system, *user("Name a color.")]
    g1 = m.generate(first, constraint=constraint, max_tokens=16)
    record_and_validate(g1.text, COLOR_SCHEMA, m)
    g2 = m.generate(first, constraint=constraint, max_tokens=16)
    record_and_validate(g2.text, COLOR_SCHEMA, m)
    assert g2.prompt_tokens_evaluated == 1
    assert g2.prompt_tokens == g1.prompt_tokens

    second = [*first, {"role": "assistant", "content": g1.text}, *user("Another one.")]
    p1, p2 = m.tokenize_prompt(first), m.tokenize_prompt(second)
    cached = p1 + spy_decoder[-1].tokens
    limit = min(len(cached), len(p2) - 1)
    common = next((i for i in range(limit) if cached[i] != p2[i]), limit)
    assert common > len(p1), "the tokens generated last time were not kept in the cache"

    g3 = m.generate(second, constraint=constraint, max_tokens=16)
    record_and_validate(g3.text, COLOR_SCHEMA, m)
    assert g3.prompt_tokens == len(p2)
    assert g3.prompt_tokens_evaluated == len(p2) - common
    assert g3.prompt_tokens_evaluated < len(p2) // 4


def reference_greedy(
    model: Any, messages: list[dict[str, str]], schema: dict[str, Any], max_tokens: int
) -> tuple[str, float]:
    """Constrained greedy decoding the plain way: from an empty cache, one token at a time.

    Returns the text and the smallest gap between the best and the second-best allowed logit
    over all the choices made.
    """
    llm, vocabulary = model._llm, model._vocabulary
    guide = outlines_core.Guide(compile_json_schema(schema, vocabulary).index)
    stop = set(vocabulary.end_token_ids) | {vocabulary.eos_token_id}
    llm.reset()
    llm.eval(model.tokenize_prompt(messages))
    out: list[int] = []
    closest = float("inf")
    for _ in range(max_tokens):
        allowed = sorted(guide.get_tokens())
        if not allowed:
            break
        logits = np.ctypeslib.as_array(llm._ctx.get_logits_ith(-1), shape=(llm.n_vocab(),))
        scores = logits[allowed]
        token = allowed[int(np.argmax(scores))]
        if len(allowed) > 1:
            top2 = np.sort(scores)[-2:]
            closest = min(closest, float(top2[1] - top2[0]))
        if token in stop:
            break
        out.append(token)
        guide.advance(token, False)
        llm.eval([token])
    return detokenize(llm, out).decode("utf-8"), closest


CITY_SCHEMA = {
    "type": "object",
    "properties": {
        "largest_city_of_the_country": {"enum": ["Paris", "Lyon", "Marseille"]},
        "population_in_millions": {"type": "integer", "maxDigits": 3},
        "is_it_the_national_capital": {"type": "boolean"},
    },
    "required": [
        "largest_city_of_the_country",
        "population_in_millions",
        "is_it_the_national_capital",
    ],
    "additionalProperties": False,
}


def _city_case() -> tuple[list[dict[str, str]], dict[str, Any]]:
    return user("Lyon has 1 million people and is not the capital. Describe it as JSON."), (
        CITY_SCHEMA
    )


def _action_case() -> tuple[list[dict[str, str]], dict[str, Any]]:
    agent = Agent(ScriptedModel([]), tools=[multiply], memory=":memory:")
    messages = [
        {"role": "system", "content": agent.system_prompt()},
        *user("Use the multiply tool to compute 12 times 7."),
    ]
    return messages, agent.actions.schema


@pytest.mark.parametrize("backend", BACKENDS)
def test_forced_strings_are_tokenized_canonically_and_batched(
    embedded_model: Any, backend: str
) -> None:
    """Text the constraint forces goes in as the tokenizer writes it, without model calls."""
    messages, schema = _action_case()
    decoder = embedded_model._decoder
    compiled = decoder.compile(json_schema_regex(schema), backend=backend)
    prompt = embedded_model.tokenize_prompt(messages)
    with_strings = decoder.generate(prompt, constraint=compiled, max_tokens=64)
    without = decoder.generate(prompt, constraint=compiled, max_tokens=64, forced_strings=False)
    record_and_validate(with_strings.text, schema, embedded_model)
    if backend == "outlines":
        # The index also allows other splits of forced text (`{` + `"`), so only the string
        # lookahead finds the whole run.
        assert with_strings.forced_tokens > without.forced_tokens
    else:
        # llguidance allows only the tokenizer's own split of forced text: one token at a time.
        assert with_strings.tokens == without.tokens
        assert with_strings.forced_tokens == without.forced_tokens > 0
    # The opening of every action is forced; it must be the tokenizer's own tokenization.
    opening = embedded_model._llm.tokenize(b'[{"tool": "', add_bos=False)
    assert decoder._matcher(compiled).forced_tokens() == opening
    assert with_strings.tokens[: len(opening)] == opening


def _counting_masks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """From now on, count in the returned list's one item the whole masks decoders compute."""
    masks = [0]
    original = Decoder._allowed

    def counting(self: Decoder, matcher: Any) -> np.ndarray:
        masks[0] += 1
        return original(self, matcher)

    monkeypatch.setattr(Decoder, "_allowed", counting)
    return masks


@pytest.mark.parametrize("case", [_city_case, _action_case], ids=["city-object", "action"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_checking_the_top_token_first_changes_nothing(
    embedded_model: Any, case: Any, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Greedy decoding computes a mask only when the model's top token is not allowed; the
    tokens are exactly those of masking every choice, with fewer masks."""
    messages, schema = case()
    decoder = embedded_model._decoder
    compiled = decoder.compile(json_schema_regex(schema), backend=backend)
    prompt = embedded_model.tokenize_prompt(messages)
    masks = _counting_masks(monkeypatch)
    results = {}
    for lazy in (False, True):
        masks[0] = 0
        generation = decoder.generate(prompt, constraint=compiled, max_tokens=64, lazy_mask=lazy)
        record_and_validate(generation.text, schema, embedded_model)
        results[lazy] = (generation.tokens, masks[0])
    (every_tokens, every_masks), (lazy_tokens, lazy_masks) = results[False], results[True]
    assert lazy_tokens == every_tokens
    assert lazy_masks < every_masks


def test_the_step_by_step_reference_masks_every_token(
    embedded_model: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where text is forced, llguidance's mask allows only the tokenizer's own split of it,
    while its check of a single token accepts other splits too. So checking the model's top
    token first is sound only once forced text has been taken whole (fast-forward with forced
    strings); without fast-forward every token comes from the whole mask, or the step-by-step
    reference would write keys the way fast-forward never does."""
    decoder = embedded_model._decoder
    schema = {
        "type": "object",
        "properties": {"invested_amount": {"type": "integer"}},
        "required": ["invested_amount"],
    }
    compiled = decoder.compile(json_schema_regex(schema), backend="llguidance")
    matcher = decoder._matcher(compiled)

    def tokenize(text: bytes) -> list[int]:
        return embedded_model._llm.tokenize(text, add_bos=False, special=False)

    for token in tokenize(b'{"'):
        matcher.advance(token)
    (invest,) = tokenize(b"invest")  # one token; the tokenizer splits the key `inv` + `ested`
    assert matcher.accepts(invest)
    assert not decoder._allowed(matcher)[invest]

    masks = _counting_masks(monkeypatch)
    prompt = embedded_model.tokenize_prompt(user("I invested 5000 dollars. Record it as JSON."))
    generation = decoder.generate(prompt, constraint=compiled, max_tokens=32, fast_forward=False)
    record_and_validate(generation.text, schema, embedded_model)
    assert masks[0] >= len(generation.tokens)
    assert invest not in generation.tokens


def _copy_case() -> tuple[list[dict[str, str]], dict[str, Any]]:
    address = "221B Baker Street, London NW1 6XE, United Kingdom"
    return user(f'Store the address "{address}" in "s".'), STRING_SCHEMA


@pytest.mark.parametrize("case", [_copy_case, _action_case], ids=["copy", "action"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_drafts_from_the_prompt_change_nothing(
    embedded_model: Any, case: Any, backend: str
) -> None:
    """Tokens guessed from the prompt and checked in one batch give the tokens of decoding
    without them; the KV cache ends holding exactly the prompt and the output."""
    messages, schema = case()
    decoder = embedded_model._decoder
    compiled = decoder.compile(json_schema_regex(schema), backend=backend)
    prompt = embedded_model.tokenize_prompt(messages)
    results = {}
    for speculate in (False, True):
        generation = decoder.generate(
            prompt, constraint=compiled, max_tokens=64, speculate=speculate
        )
        record_and_validate(generation.text, schema, embedded_model)
        results[speculate] = generation
        assert decoder._evaluated().tolist() == [*prompt, *generation.tokens]
    plain, drafted = results[False], results[True]
    assert drafted.tokens == plain.tokens
    assert plain.drafted_tokens == 0
    if case is _copy_case:  # the address is copied: drafts of it are taken
        assert drafted.draft_tokens_accepted >= 5


def test_a_model_can_turn_drafts_off(embedded_model: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """`drafts=False` on the model: its generations evaluate no draft."""
    messages, schema = _copy_case()
    constraint = JsonSchemaConstraint(schema)
    seen: list[int] = []
    original = Decoder.generate

    def counting(self: Decoder, *args: Any, **kwargs: Any) -> Any:
        result = original(self, *args, **kwargs)
        seen.append(result.drafted_tokens)
        return result

    monkeypatch.setattr(Decoder, "generate", counting)
    embedded_model.generate(messages, constraint=constraint, max_tokens=48)
    monkeypatch.setattr(embedded_model, "drafts", False)
    embedded_model.generate(messages, constraint=constraint, max_tokens=48)
    assert seen[0] > 0 and seen[1] == 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_wrong_drafts_are_dropped_from_the_kv_cache(
    embedded_model: Any, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Drafts the model never agrees with cost time, not text: the tokens are those of
    decoding without drafts, and the KV cache forgets every rejected draft token."""
    from agentsmall.decoding._lookup import PromptLookup

    messages, schema = _copy_case()
    decoder = embedded_model._decoder
    compiled = decoder.compile(json_schema_regex(schema), backend=backend)
    prompt = embedded_model.tokenize_prompt(messages)
    plain = decoder.generate(prompt, constraint=compiled, max_tokens=64, speculate=False)
    wrong = embedded_model._llm.tokenize(b" zebra zebra zebra", add_bos=False)
    monkeypatch.setattr(PromptLookup, "draft", lambda self, output, limit: wrong[:limit])
    drafted = decoder.generate(prompt, constraint=compiled, max_tokens=64)
    record_and_validate(drafted.text, schema, embedded_model)
    assert drafted.tokens == plain.tokens
    assert drafted.drafted_tokens > drafted.draft_tokens_accepted
    assert decoder._evaluated().tolist() == [*prompt, *drafted.tokens]


def test_each_generation_gets_a_matcher_of_its_own(embedded_model: Any) -> None:
    """llguidance matchers are copies of one fresh matcher kept per grammar (parsing the
    grammar again costs ~2 ms a generation): one advanced leaves the next one fresh."""
    _, schema = _action_case()
    decoder = embedded_model._decoder
    compiled = decoder.compile(json_schema_regex(schema), backend="llguidance")
    first = decoder._matcher(compiled)
    opening = first.forced_tokens()
    for token in opening:
        first.advance(token)
    assert opening and first.forced_tokens() != opening
    assert decoder._matcher(compiled).forced_tokens() == opening


def test_forced_text_the_constraint_cannot_split_yet_is_drafted(
    embedded_model: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where forced text meets free text (` "` before a string value, ` ` before a number),
    llguidance forces the text but not its tokens: the tokenizer's split is then evaluated as
    a draft with the tokens before it, which saves a model call when the model writes it, and
    the tokens are those of decoding without drafts."""
    from agentsmall.decoding._lookup import PromptLookup

    messages, schema = _action_case()
    decoder = embedded_model._decoder
    compiled = decoder.compile(json_schema_regex(schema), backend="llguidance")
    prompt = embedded_model.tokenize_prompt(messages)
    plain = decoder.generate(prompt, constraint=compiled, max_tokens=64, speculate=False)
    monkeypatch.setattr(PromptLookup, "draft", lambda self, output, limit: [])
    drafted = decoder.generate(prompt, constraint=compiled, max_tokens=64)
    record_and_validate(drafted.text, schema, embedded_model)
    assert drafted.tokens == plain.tokens
    # `{"a": 12, "b": 7}`: the space before each number is drafted and taken.
    assert drafted.draft_tokens_accepted >= 2
    assert decoder._evaluated().tolist() == [*prompt, *drafted.tokens]


def test_a_prompt_whose_logits_are_live_is_not_evaluated_again(embedded_model: Any) -> None:
    """A prompt the KV cache holds exactly, with the logits after it still live, is decoded at
    once (llama-cpp-python's own generate does the same); once tokens were dropped from the
    cache those logits are gone, and the last prompt token is evaluated again."""
    messages, schema = _action_case()
    decoder = embedded_model._decoder
    compiled = decoder.compile(json_schema_regex(schema), backend="llguidance")
    prompt = embedded_model.tokenize_prompt(messages)
    first = decoder.generate(prompt, constraint=compiled, max_tokens=64)
    decoder._prefill(prompt)
    again = decoder.generate(prompt, constraint=compiled, max_tokens=64)
    assert again.prompt_tokens_evaluated == 0
    assert again.tokens == first.tokens
    decoder._drop_kv_from(len(prompt))
    after_drop = decoder.generate(prompt, constraint=compiled, max_tokens=64)
    assert after_drop.prompt_tokens_evaluated == 1
    assert after_drop.tokens == first.tokens


def test_a_batch_gives_the_logits_of_one_token_at_a_time(embedded_model: Any) -> None:
    """Built as `make setup` builds llama.cpp (no llamafile kernels), tokens evaluated in one
    batch leave the KV cache and the logits exactly as evaluating them one by one does, so
    batching forced runs and drafts cannot tip a near tie."""
    if llamafile_kernels():
        pytest.skip("llama.cpp built with llamafile kernels: batches round differently")
    assert embedded_model.exact_batches
    llm = embedded_model._llm
    messages, _ = _action_case()
    prompt = embedded_model.tokenize_prompt(messages)
    run = llm.tokenize(b'[{"tool": "multiply", "arguments": {"a": 12, "b": 7}}]', add_bos=False)

    def last_logits(batch: int) -> np.ndarray:
        llm.reset()
        llm.eval(prompt)
        for start in range(0, len(run), batch):
            llm.eval(run[start : start + batch])
        logits = llm._ctx.get_logits_ith(-1)
        return np.ctypeslib.as_array(logits, shape=(llm.n_vocab(),)).copy()

    one_by_one = last_logits(1)
    for batch in (2, 5, len(run)):
        assert np.array_equal(last_logits(batch), one_by_one), f"batches of {batch}"


@pytest.mark.parametrize("case", [_city_case, _action_case], ids=["city-object", "action"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_fast_forward_gives_the_text_of_stepwise_greedy_decoding(
    embedded_model: Any, case: Any, backend: str
) -> None:
    """Single forced tokens, appended unsampled and evaluated in batches, change nothing.

    (Forced *strings*, tokenized canonically, may split text into other tokens than greedy
    step-by-step decoding would; `agentsmall bench decode` measures how often that changes
    the text. They have their own test below.)
    """
    messages, schema = case()
    # Start from an empty cache so that the prompt is evaluated exactly as the reference does
    # (prefix reuse has its own test).
    embedded_model._llm.reset()
    generation = embedded_model._decoder.generate(
        embedded_model.tokenize_prompt(messages),
        constraint=embedded_model._decoder.compile(json_schema_regex(schema), backend=backend),
        max_tokens=64,
        forced_strings=False,
    )
    record_and_validate(generation.text, schema, embedded_model)
    assert generation.finish_reason == "stop"
    assert generation.forced_tokens > 0

    expected, closest = reference_greedy(embedded_model, messages, schema, max_tokens=64)
    if llamafile_kernels():
        # Built with llamafile kernels, llama.cpp computes a batch of tokens in another order
        # than a single token, so logits differ in the last digits (up to ~0.6 on this
        # model), and on a near tie greedy decoding may go either way whatever the engine
        # does. Built as `make setup` builds it, a batch is exact and ties do not matter.
        assert closest > 0.3, f"near tie ({closest:.3f}) in the reference: choose another prompt"
    assert generation.text == expected


@each_backend
def test_a_failing_mask_raises_instead_of_returning_text(
    backend_model: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    embedded_model = backend_model
    messages = user("Name a color.")
    constraint = JsonSchemaConstraint(COLOR_SCHEMA)
    # Twice, so that the baseline, like every later call, reuses the cached prompt.
    for _ in range(2):
        baseline = embedded_model.generate(messages, constraint=constraint, max_tokens=16)
        record_and_validate(baseline.text, COLOR_SCHEMA, embedded_model)

    # 1. The mask comes back empty in the middle of the output.
    original = Decoder._allowed
    calls = 0

    def empty_on_first(self: Decoder, matcher: Any) -> np.ndarray:
        # The first mask is asked for after the forced opening `{"color": "` has streamed.
        nonlocal calls
        calls += 1
        allowed = original(self, matcher)
        return np.zeros_like(allowed) if calls == 1 else allowed

    streamed: list[str] = []
    with monkeypatch.context() as patch:
        patch.setattr(Decoder, "_allowed", empty_on_first)
        ask_for_every_mask(patch)
        with pytest.raises(DecodingError, match="allows no token"):
            embedded_model.generate(
                messages, constraint=constraint, max_tokens=16, on_text=streamed.append
            )
    assert calls == 1
    assert streamed  # text had begun to stream, yet no Generation was returned

    # 2. The constraint itself fails to write the mask, or refuses a token.
    # 3. The constraint fails to check the model's top token (greedy decoding asks for the
    # whole mask only when that token is not allowed).
    for broken, message in [
        ("mask", "failed to produce a token mask: mask exploded"),
        ("advance", "rejected token"),
        ("check", "constraint failed"),
    ]:
        with monkeypatch.context() as patch:
            break_the_constraint(patch, embedded_model.constraint_backend, broken)
            if broken == "mask":
                ask_for_every_mask(patch)
            with pytest.raises(DecodingError, match=message):
                embedded_model.generate(messages, constraint=constraint, max_tokens=16)

    # The model is still usable, and its cache still right, after the failures.
    after = embedded_model.generate(messages, constraint=constraint, max_tokens=16)
    assert after.text == baseline.text


def ask_for_every_mask(patch: pytest.MonkeyPatch) -> None:
    """Greedy decoding checks the model's top token first and computes the mask only when that
    token is not allowed; here no token passes the check, so every choice needs a mask."""
    patch.setattr(_Run, "accepts", lambda self, token: False)


def break_the_constraint(patch: pytest.MonkeyPatch, backend: str, broken: str) -> None:
    """Make `backend`'s mask writing raise, or its token advance fail, the way each library
    fails: outlines-core raises; llguidance returns False and enters an error state."""
    if backend == "outlines":
        real_guide = outlines_core.Guide

        class BrokenGuide:
            def __init__(self, index: outlines_core.Index) -> None:
                self._guide = real_guide(index)

            def write_mask_into(self, *args: Any) -> None:
                if broken == "mask":
                    raise RuntimeError("mask exploded")
                self._guide.write_mask_into(*args)

            def advance(self, *args: Any) -> Any:
                if broken == "advance":
                    raise ValueError("no such transition")
                return self._guide.advance(*args)

            def is_finished(self) -> bool:
                return self._guide.is_finished()

            def get_state(self) -> int:
                if broken == "check":
                    raise RuntimeError("state lost")
                return self._guide.get_state()

        patch.setattr(outlines_core, "Guide", BrokenGuide)
        return
    from agentsmall.decoding._llguidance import LLGuidanceMatcher, MatcherFactory

    class BrokenMatcher:
        def __init__(self, matcher: Any) -> None:
            self._matcher = matcher

        def __getattr__(self, name: str) -> Any:
            return getattr(self._matcher, name)

        def unsafe_compute_mask_ptr(self, *args: Any) -> None:
            if broken == "mask":
                raise RuntimeError("mask exploded")
            self._matcher.unsafe_compute_mask_ptr(*args)

        def consume_token(self, token: int) -> bool:
            return False if broken == "advance" else self._matcher.consume_token(token)

        def validate_tokens(self, tokens: list[int]) -> int:
            if broken == "check":
                raise RuntimeError("check exploded")
            return self._matcher.validate_tokens(tokens)

    fresh_matcher = MatcherFactory.__call__

    def broken_matcher(self: MatcherFactory, constraint: Any) -> LLGuidanceMatcher:
        matcher = fresh_matcher(self, constraint)
        matcher._matcher = BrokenMatcher(matcher._matcher)
        return matcher

    patch.setattr(MatcherFactory, "__call__", broken_matcher)


VALIDATION_CASES = {
    "integer": (
        {"type": "integer", "maxDigits": 4},
        "How many legs does a spider have? Reply with a number.",
    ),
    "enum": ({"enum": ["yes", "no"]}, "Is the sky blue? Answer yes or no."),
    "list": (
        {
            "type": "array",
            "items": {"type": "string", "maxLength": 12},
            "minItems": 2,
            "maxItems": 3,
        },
        "List three fruits as a JSON list.",
    ),
    "nested": (
        {
            "type": "object",
            "properties": {
                "name": {"type": "string", "maxLength": 16},
                "address": {
                    "type": "object",
                    "properties": {
                        "city": {"type": "string", "maxLength": 16},
                        "zip": {"type": "integer", "maxDigits": 5},
                    },
                    "required": ["city", "zip"],
                    "additionalProperties": False,
                },
            },
            "required": ["name", "address"],
            "additionalProperties": False,
        },
        "Invent a person with a name and an address (city and zip code), as JSON.",
    ),
    "anyOf": (
        {
            "anyOf": [
                {"type": "integer", "maxDigits": 3},
                {
                    "type": "object",
                    "properties": {"error": {"enum": ["unknown"]}},
                    "required": ["error"],
                    "additionalProperties": False,
                },
            ]
        },
        "How many moons does Mars have? Reply in JSON.",
    ),
}


@pytest.mark.parametrize("name", list(VALIDATION_CASES))
def test_every_constrained_output_validates(embedded_model: Any, name: str) -> None:
    schema, question = VALIDATION_CASES[name]
    # Every schema here is bounded, so 120 tokens always suffice to complete it.
    generation = embedded_model.generate(
        user(question), constraint=JsonSchemaConstraint(schema), max_tokens=120
    )
    assert generation.finish_reason == "stop", generation.text
    record_and_validate(generation.text, schema, embedded_model)


@pytest.mark.parametrize(("min_items", "watched_items"), [(1, 2), (3, 3)])
def test_a_repeated_list_item_closes_the_list(
    embedded_model: Any, monkeypatch: pytest.MonkeyPatch, min_items: int, watched_items: int
) -> None:
    """Push the model towards commas (to repeat forever); only the repeat watcher stops it,
    as soon as the schema lets the list close (after the repeat, or at minItems)."""
    schema = {
        "type": "array",
        "items": {
            "type": "object",
            "properties": {"x": {"enum": [1]}},
            "required": ["x"],
            "additionalProperties": False,
        },
        "minItems": min_items,
        "maxItems": 4,
    }
    pieces = embedded_model._vocabulary.pieces
    with_comma = np.array([p is not None and b"," in p for p in pieces])
    # Tokens such as "}]" would let the model close the list without ever facing the choice
    # between "," and "]" after a repeat; make it close the item on its own first.
    closing_combos = np.array([p is not None and b"]" in p and p.strip() != b"]" for p in pieces])
    original = Decoder._logits

    def comma_loving(self: Decoder) -> np.ndarray:
        logits = np.array(original(self), copy=True)
        logits[with_comma] += 1000.0
        logits[closing_combos] -= 1000.0
        return logits

    monkeypatch.setattr(Decoder, "_logits", comma_loving)
    messages = user("Write a JSON list.")
    free = embedded_model.generate(messages, constraint=JsonSchemaConstraint(schema), max_tokens=48)
    watched = embedded_model.generate(
        messages,
        constraint=JsonSchemaConstraint(schema, list_of_unique_items=True),
        max_tokens=48,
    )
    assert record_and_validate(free.text, schema, embedded_model) == [{"x": 1}] * 4
    assert record_and_validate(watched.text, schema, embedded_model) == [{"x": 1}] * watched_items
    assert watched.finish_reason == "stop"


NUMBERS_SCHEMA = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {"x": {"type": "integer", "maxDigits": 3}},
        "required": ["x"],
        "additionalProperties": False,
    },
    "minItems": 1,
    "maxItems": 8,
}


@pytest.fixture
def comma_loving(embedded_model: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Push the model towards every token with a comma, so that lists go on to maxItems."""
    pieces = embedded_model._vocabulary.pieces
    with_comma = np.array([p is not None and b"," in p for p in pieces])
    original = Decoder._logits

    def logits(self: Decoder) -> np.ndarray:
        boosted = np.array(original(self), copy=True)
        boosted[with_comma] += 1000.0
        return boosted

    monkeypatch.setattr(Decoder, "_logits", logits)


def numbers_list(
    model: Any, backend: str, max_tokens: int, *, budget: bool, forced_strings: bool = True
) -> Any:
    decoder = model._decoder
    return decoder.generate(
        model.tokenize_prompt(user("List some numbers as JSON objects.")),
        constraint=decoder.compile(json_schema_regex(NUMBERS_SCHEMA), backend=backend),
        max_tokens=max_tokens,
        close_list_within_budget=budget,
        forced_strings=forced_strings,
    )


@pytest.mark.usefixtures("comma_loving")
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_list_closes_before_the_token_limit_would_cut_it_off(
    embedded_model: Any, backend: str
) -> None:
    """Several items, each within its bounds, that together pass max_tokens: without the
    budget the list is cut off; with it, it closes after the last item that fits."""
    for max_tokens in range(12, 44, 3):
        cut = numbers_list(embedded_model, backend, max_tokens, budget=False)
        assert cut.finish_reason == "length"
        with pytest.raises(json.JSONDecodeError):
            json.loads(cut.text)

        closed = numbers_list(embedded_model, backend, max_tokens, budget=True)
        assert closed.finish_reason == "stop", (max_tokens, closed.text)
        record_and_validate(closed.text, NUMBERS_SCHEMA, embedded_model)
        # The same items as without the budget (the model's own values), only closed earlier:
        # a `},` chosen at the end becomes `}` and then `]`, never one more digit.
        assert cut.text.startswith(closed.text[:-1]), (cut.text, closed.text)
        # And not needlessly early: an item here takes 6 tokens, the estimate keeps 6 + 1 + 1.
        assert max_tokens - len(closed.tokens) < 8


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_overlong_string_closes_in_the_last_tokens(embedded_model: Any, backend: str) -> None:
    """Within its bounds a string can still outrun the budget; in the budget's last tokens the
    output closes wherever it may, so it ends valid instead of being cut off."""
    schema = {
        "type": "object",
        "properties": {"story": {"type": "string", "maxLength": 1000}},
        "required": ["story"],
    }
    decoder = embedded_model._decoder
    compiled = decoder.compile(json_schema_regex(schema), backend=backend)
    prompt = embedded_model.tokenize_prompt(user("Tell a long story about Rome as JSON."))
    max_tokens = 64
    wind_up = ListBudget(max_tokens).wind_up
    assert wind_up == 8  # the last eighth of a small budget
    results = {}
    for budgeted in (False, True):
        results[budgeted] = decoder.generate(
            prompt, constraint=compiled, max_tokens=max_tokens, close_list_within_budget=budgeted
        )
    assert results[False].finish_reason == "length"  # the story goes on past the budget
    ended = results[True]
    assert ended.finish_reason == "stop" and len(ended.tokens) <= max_tokens
    record_and_validate(ended.text, schema, embedded_model)
    # Until the last tokens, nothing changed.
    keep = max_tokens - wind_up
    assert ended.tokens[:keep] == results[False].tokens[:keep]


@pytest.mark.usefixtures("comma_loving")
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("forced_strings", [True, False])
def test_an_ample_budget_changes_nothing(
    embedded_model: Any, backend: str, forced_strings: bool
) -> None:
    """A list of eight items that fits: the budget follows it and never narrows a mask."""
    runs = [
        numbers_list(embedded_model, backend, 120, budget=budget, forced_strings=forced_strings)
        for budget in (False, True)
    ]
    assert runs[0].tokens == runs[1].tokens
    assert runs[0].text == runs[1].text
    assert len(record_and_validate(runs[1].text, NUMBERS_SCHEMA, embedded_model)) == 8


@each_backend
def test_the_agents_step_is_unchanged_by_an_ample_budget(
    backend_model: Any, spy_decoder: list[Any]
) -> None:
    """The planner step of the calculator agent, through the model as the agent calls it
    (budget on), is token for token the step decoded without a budget."""
    messages, schema = _action_case()
    constraint = JsonSchemaConstraint(schema, list_of_unique_items=True)
    generation = backend_model.generate(messages, constraint=constraint, max_tokens=256)
    record_and_validate(generation.text, schema, backend_model)
    decoder, backend = backend_model._decoder, backend_model.constraint_backend
    reference = decoder.generate(
        backend_model.tokenize_prompt(messages),
        constraint=decoder.compile(json_schema_regex(schema), backend=backend),
        max_tokens=256,
        close_list_on_repeat=True,
    )
    assert spy_decoder[0].tokens == reference.tokens
    assert generation.text == reference.text


@pytest.mark.usefixtures("comma_loving")
def test_a_failing_budget_raises(embedded_model: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: ListBudget) -> bool:
        raise RuntimeError("budget exploded")

    monkeypatch.setattr(ListBudget, "tight", broken)
    with pytest.raises(DecodingError, match="budget exploded"):
        numbers_list(embedded_model, "llguidance", 40, budget=True)


@pytest.fixture
def small_model() -> Iterator[Any]:
    model = load_model(None, context_length=256, threads=1)
    yield model
    model.close()


def test_context_overflow(small_model: Any) -> None:
    n_ctx = small_model.context_length
    assert n_ctx == 256
    with pytest.raises(ContextOverflowError, match="context window holds 256"):
        small_model.generate(user("word " * 300), max_tokens=1)

    messages = user("Name a color.")
    n_prompt = small_model.count_prompt_tokens(messages)
    constraint = JsonSchemaConstraint(COLOR_SCHEMA)
    with pytest.raises(ContextOverflowError):
        small_model.generate(messages, constraint=constraint, max_tokens=n_ctx - n_prompt + 1)
    assert small_model._llm.n_tokens == 0  # refused before anything was evaluated
    fits = small_model.generate(messages, constraint=constraint, max_tokens=n_ctx - n_prompt)
    assert fits.finish_reason == "stop"
    record_and_validate(fits.text, COLOR_SCHEMA, small_model)


def test_compiled_constraints_are_cached(embedded_model: Any) -> None:
    vocabulary = embedded_model._vocabulary
    schema = {
        "type": "object",
        "properties": {"n": {"type": "integer", "maxDigits": 2}},
        "required": ["n"],
    }
    first = compile_json_schema(schema, vocabulary)
    assert compile_json_schema(json.loads(json.dumps(schema)), vocabulary) is first
    assert compile_json_schema(STRING_SCHEMA, vocabulary) is not first
    other = TokenVocabulary(
        vocabulary.pieces, vocabulary.eos_token_id, vocabulary.end_token_ids, "another-vocabulary"
    )
    assert compile_json_schema(schema, other) is not first


def test_unsupported_schema_is_a_decoding_error(embedded_model: Any) -> None:
    with pytest.raises(DecodingError, match="cannot turn this JSON schema"):
        compile_json_schema({"type": "no-such-type"}, embedded_model._vocabulary)


# -- the repeat watcher (pure) -----------------------------------------------------------------


def feed(watcher: RepeatWatcher, text: str, chunk: int = 1) -> RepeatWatcher:
    for i in range(0, len(text), chunk):
        watcher.feed(text[i : i + chunk])
    return watcher


@pytest.mark.parametrize("chunk", [1, 3, 7, 1000])
def test_watcher_notices_a_repeated_object_item(chunk: int) -> None:
    item = '{"tool": "multiply", "arguments": {"a": 12, "b": 7}}'
    watcher = feed(RepeatWatcher(), f"[{item}, ", chunk)
    assert not watcher.repeated
    feed(watcher, item[:-1], chunk)
    assert not watcher.repeated  # not closed yet
    watcher.feed("}")
    assert watcher.repeated


def test_watcher_tells_different_items_apart() -> None:
    watcher = feed(RepeatWatcher(), '[{"a": 1}, {"a": 2}, {"a": 1 }, {"b": [1]}, {"b": [2]}]')
    assert not watcher.repeated
    assert feed(RepeatWatcher(), "[[1, 2], [1, 2]]").repeated  # array items count too


@pytest.mark.parametrize(
    "item",
    [
        '{"s": "}]{["}',
        '{"s": "a\\"}, {\\"b"}',
        '{"s": "ends with a backslash\\\\"}',
        '{"s": "\\\\\\"]"}',
        '{"s": "[", "t": "]"}',
    ],
    ids=["brackets", "escaped-quote", "escaped-backslash", "backslashes-then-quote", "split"],
)
def test_strings_do_not_confuse_the_watcher(item: str) -> None:
    json.loads(item)  # the samples are real JSON
    watcher = feed(RepeatWatcher(), f"[{item}, ")
    assert not watcher.repeated
    assert not watcher.may_repeat  # between items
    other = item.replace('"s"', '"z"')
    feed(watcher, f"{other}, ")
    assert not watcher.repeated
    feed(watcher, item)
    assert watcher.repeated


def test_may_repeat_while_the_item_is_a_prefix_of_an_earlier_one() -> None:
    watcher = RepeatWatcher()
    feed(watcher, '[{"a": 1')
    assert not watcher.may_repeat  # nothing seen yet
    feed(watcher, "}")
    assert not watcher.may_repeat  # between items
    feed(watcher, ", ")
    assert not watcher.may_repeat
    feed(watcher, '{"a"')
    assert watcher.may_repeat
    feed(watcher, ": 1")
    assert watcher.may_repeat
    feed(watcher, "0")
    assert not watcher.may_repeat  # diverged: {"a": 10 can no longer repeat {"a": 1}
    feed(watcher, "}, {")
    assert watcher.may_repeat  # every item starts with "{"
    feed(watcher, '"b"')
    assert not watcher.may_repeat
    assert not watcher.repeated


def test_comma_and_close_then_comma_tokens() -> None:
    pieces = (
        b"}},",
        b"}",
        b",",
        b" ,",
        b'7}, {"',
        b"],",
        b", }",
        None,
        b"}}",
        b"a,b}",
        b"}],[",
        b'"},',
        b"1,",
    )
    # fmt: off
    assert close_then_comma_tokens(pieces).tolist() == [
        True, False, False, False, True, True, False, False, False, False, True, True, False,
    ]
    assert comma_tokens(pieces).tolist() == [
        False, False, True, True, False, False, True, False, False, False, False, False, False,
    ]
    # fmt: on


# -- the list budget (pure) --------------------------------------------------------------------


def feed_tokens(budget: ListBudget, tokens: list[str]) -> ListBudget:
    for token in tokens:
        budget.feed(token)
    return budget


# One item of six tokens: `[{"` / `x` / `":` / ` 1` / `}` ... and each later one
# from its comma: `,` / ` {"` / `x` / `":` / ` 2` / `}`.
FIRST_ITEM = ['[{"', "x", '":', " 1", "}", ""]
NEXT_ITEM = [",", ' {"', "x", '":', " 2", "}"]


def test_the_budget_keeps_room_for_the_longest_item_and_the_bracket() -> None:
    # 6 tokens an item: one more needs 6 + 6 // 4 = 7 tokens, and 1 for "]".
    budget = feed_tokens(ListBudget(20), FIRST_ITEM + NEXT_ITEM)
    assert budget.between_items
    assert not budget.tight()  # 12 written, 8 left
    budget = feed_tokens(ListBudget(19), FIRST_ITEM + NEXT_ITEM)
    assert budget.tight()  # 7 left
    budget = feed_tokens(ListBudget(19), FIRST_ITEM + NEXT_ITEM[:3])
    assert not budget.between_items  # inside the second item


def test_the_longest_item_sets_the_estimate() -> None:
    long_item = [",", ' {"', "x", '":', " 1", "2", "3", "4", "}"]  # 9 tokens
    tokens = FIRST_ITEM + long_item + NEXT_ITEM  # 21 tokens
    # One more needs 9 + 2 + 1 = 12 tokens.
    assert not feed_tokens(ListBudget(33), tokens).tight()
    assert feed_tokens(ListBudget(32), tokens).tight()


def test_the_item_being_written_counts_before_it_closes() -> None:
    budget = feed_tokens(ListBudget(14), ['[{"', "x", '":', " 1", "2", "3", "4", "5"])
    assert budget.tight()  # 8 tokens so far: 10 + 1 more would not fit in 6
    assert not budget.between_items


@pytest.mark.parametrize("text", ['{"a": 1, "b": 2', '"a, b', "12"])
def test_the_budget_ignores_anything_but_a_list(text: str) -> None:
    budget = feed_tokens(ListBudget(3), list(text))
    assert not budget.tight()
    assert not budget.between_items


def test_commas_and_brackets_in_strings_are_not_items() -> None:
    budget = feed_tokens(ListBudget(100), ['[{"', 's": "', ", ]}, {", '"}'])
    assert budget.between_items
    budget.feed(", ")
    assert budget._longest == 4  # one item so far, strings and all


@pytest.mark.parametrize(
    ("before", "piece", "offset"),
    [
        ('[{"x": 1', b"},", 1),
        ('[{"x": {"y": 1', b"}},", 2),
        ('[{"x": {"y": 1', b"},", None),  # the comma goes on with the arguments
        ('[{"x": "a', b'",', None),  # still inside the item
        ('[{"x": "a', b'"}, {"', 2),
        ('[{"x": 1}', b", ", 0),
        ('[{"s": "', b", ", None),  # a comma in a string
        ('{"x": 1', b"},", None),  # not a list
    ],
)
def test_item_comma_finds_the_comma_that_starts_an_item(
    before: str, piece: bytes, offset: int | None
) -> None:
    budget = feed_tokens(ListBudget(100), [before])
    assert budget.item_comma(piece) == offset
    feed_tokens(budget, [piece.decode()])  # looking ahead left the budget as it was
    assert ListBudget(100).item_comma(piece) is None  # nothing written yet
