# ruff: noqa: E501  (the chat templates below keep the long lines of the real ones)
"""Native tool-call formats: prompts rendered through templates built like each family's real
one, hand-written native outputs checked against the constraint (Python `re` and an
outlines-core index over the embedded SmolLM2 vocabulary) and parsed back.

No seed model runs here: these tests pin the structure each family was trained on.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from jinja2 import TemplateError

from agentsmall.models._formats import (
    FORMATS,
    FormatParseError,
    ToolSpec,
    get_format,
    ordered_subset,
    render_prompt,
    split_thinking,
)
from agentsmall.models._presets import ALL_PRESETS

ADD = ToolSpec(
    "add",
    "Add two integers.",
    {
        "type": "object",
        "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
        "required": ["a", "b"],
    },
)
WEATHER = ToolSpec(
    "weather",
    "Current weather in a city.",
    {
        "type": "object",
        "properties": {"city": {"type": "string"}, "metric": {"type": "boolean"}},
        "required": ["city"],
    },
)
TOOLS = [ADD, WEATHER]
TURNS: list[dict[str, Any]] = [
    {"role": "user", "content": "What is 2 + 3, and the weather in Lyon?"},
    {"role": "assistant", "content": "(native calls)"},
    {"role": "tool", "name": "add", "content": "5"},
    {"role": "tool", "name": "weather", "content": "sunny, 21 C"},
]

# -- templates modelled on each family's real chat template (structure, markers, roles) --------

CHATML_HERMES = r"""
{%- if tools %}
{{- '<|im_start|>system\n' }}
{%- if messages[0].role == 'system' %}{{- messages[0].content + '\n\n' }}{%- endif %}
{{- "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n" }}
{{- "You are provided with function signatures within <tools></tools> XML tags:\n<tools>" }}
{%- for tool in tools %}{{- "\n" }}{{- tool | tojson }}{%- endfor %}
{{- "\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n" }}
{%- elif messages[0].role == 'system' %}
{{- '<|im_start|>system\n' + messages[0].content + '<|im_end|>\n' }}
{%- endif %}
{%- for message in messages %}
{%- if message.role == "user" or message.role == "assistant" %}
{{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>\n' }}
{%- elif message.role == "tool" %}
{%- if loop.first or messages[loop.index0 - 1].role != "tool" %}{{- '<|im_start|>user' }}{%- endif %}
{{- '\n<tool_response>\n' + message.content + '\n</tool_response>' }}
{%- if loop.last or messages[loop.index0 + 1].role != "tool" %}{{- '<|im_end|>\n' }}{%- endif %}
{%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}{{- '<|im_start|>assistant\n' }}
{%- if enable_thinking is defined and enable_thinking is false %}{{- '<think>\n\n</think>\n\n' }}{%- endif %}
{%- endif %}
"""

SMOLLM3 = r"""
{%- set reasoning_mode = "/think" if enable_thinking is not defined or enable_thinking else "/no_think" %}
{%- set system_message = messages[0].content if messages[0].role == "system" else "" %}
{%- if "/no_think" in system_message %}{%- set reasoning_mode = "/no_think" %}
{%- elif "/think" in system_message %}{%- set reasoning_mode = "/think" %}{%- endif %}
{%- set custom = system_message.replace("/no_think", "").replace("/think", "").rstrip() %}
{{- "<|im_start|>system\n## Metadata\n\nReasoning Mode: " + reasoning_mode + "\n\n## Custom Instructions\n\n" + custom + "\n\n" }}
{%- if xml_tools %}
{{- "### Tools\n\nYou may call one or more functions to assist with the user query.\nYou are provided with function signatures within <tools></tools> XML tags:\n\n<tools>\n" }}
{%- for tool in xml_tools %}{{- tool | tojson }}{{- "\n" }}{%- endfor %}
{{- "</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call>\n\n" }}
{%- endif %}
{{- "<|im_end|>\n" }}
{%- for message in messages %}
{%- if message.role == "user" %}{{- "<|im_start|>user\n" + message.content + "<|im_end|>\n" }}
{%- elif message.role == "assistant" %}{{- "<|im_start|>assistant\n" + message.content + "<|im_end|>\n" }}
{%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}{{- "<|im_start|>assistant\n" }}
{%- if reasoning_mode == "/no_think" %}{{- "<think>\n\n</think>\n" }}{%- endif %}
{%- endif %}
"""

LLAMA32 = r"""
{{- bos_token }}
{%- if messages[0].role == 'system' %}
{%- set system_message = messages[0].content | trim %}{%- set messages = messages[1:] %}
{%- else %}{%- set system_message = "" %}{%- endif %}
{{- "<|start_header_id|>system<|end_header_id|>\n\n" }}
{{- "Cutting Knowledge Date: December 2023\n\n" }}
{{- system_message + "<|eot_id|>" }}
{%- if tools is not none %}
{%- if messages | length == 0 %}{{- raise_exception("Cannot put tools in the first user message when there's no first user message!") }}{%- endif %}
{%- set first_user_message = messages[0].content | trim %}{%- set messages = messages[1:] %}
{{- '<|start_header_id|>user<|end_header_id|>\n\n' }}
{{- "Given the following functions, please respond with a JSON for a function call with its proper arguments that best answers the given prompt.\n\n" }}
{{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }}
{{- "Do not use variables.\n\n" }}
{%- for t in tools %}{{- t | tojson(indent=4) }}{{- "\n\n" }}{%- endfor %}
{{- first_user_message + "<|eot_id|>" }}
{%- endif %}
{%- for message in messages %}
{%- if message.role == "ipython" or message.role == "tool" %}
{{- "<|start_header_id|>ipython<|end_header_id|>\n\n" + message.content + "<|eot_id|>" }}
{%- else %}
{{- '<|start_header_id|>' + message.role + '<|end_header_id|>\n\n' + message.content | trim + '<|eot_id|>' }}
{%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{%- endif %}
"""

PHI4_MINI = r"""
{%- for message in messages %}
{%- if message['role'] == 'system' and 'tools' in message and message['tools'] is not none %}
{{- '<|' + message['role'] + '|>' + message['content'] + '<|tool|>' + message['tools'] + '<|/tool|>' + '<|end|>' }}
{%- else %}
{{- '<|' + message['role'] + '|>' + message['content'] + '<|end|>' }}
{%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}{{- '<|assistant|>' }}{%- else %}{{- eos_token }}{%- endif %}
"""

QWEN35 = r"""
{%- if tools %}
{{- '<|im_start|>system\n# Tools\n\nYou have access to the following functions:\n\n<tools>' }}
{%- for tool in tools %}{{- '\n' + tool | tojson }}{%- endfor %}
{{- '\n</tools>\n\nIf you choose to call a function ONLY reply in the following format with NO suffix:\n\n<tool_call>\n<function=example_function_name>\n<parameter=example_parameter_1>\nvalue_1\n</parameter>\n</function>\n</tool_call>' }}
{%- if messages[0].role == 'system' %}{{- '\n\n' + messages[0].content }}{%- endif %}
{{- '<|im_end|>\n' }}
{%- endif %}
{%- for message in messages %}
{%- if message.role == "user" or message.role == "assistant" %}
{{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>\n' }}
{%- elif message.role == "tool" %}
{%- if messages[loop.index0 - 1].role != "tool" %}{{- '<|im_start|>user' }}{%- endif %}
{{- '\n<tool_response>\n' + message.content + '\n</tool_response>' }}
{%- if loop.last or messages[loop.index0 + 1].role != "tool" %}{{- '<|im_end|>\n' }}{%- endif %}
{%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}{{- '<|im_start|>assistant\n' }}
{%- if enable_thinking is defined and enable_thinking is false %}{{- '<think>\n\n</think>\n\n' }}{%- else %}{{- '<think>\n' }}{%- endif %}
{%- endif %}
"""

GEMMA3 = r"""
{{- bos_token }}
{%- if messages[0]['role'] == 'system' %}
{%- set first_user_prefix = messages[0]['content'] + '\n\n' %}{%- set loop_messages = messages[1:] %}
{%- else %}{%- set first_user_prefix = "" %}{%- set loop_messages = messages %}{%- endif %}
{%- for message in loop_messages %}
{%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}
{{- raise_exception("Conversation roles must alternate user/assistant/user/assistant/...") }}
{%- endif %}
{%- set role = "model" if message['role'] == 'assistant' else message['role'] %}
{{- '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else "") + message['content'] | trim + '<end_of_turn>\n' }}
{%- endfor %}
{%- if add_generation_prompt %}{{- '<start_of_turn>model\n' }}{%- endif %}
"""

GENERIC_CHATML = r"""
{%- for message in messages %}
{{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>\n' }}
{%- endfor %}
{%- if add_generation_prompt %}{{- '<|im_start|>assistant\n' }}{%- endif %}
"""


def _prompt(format_id: str, template: str, **options: Any) -> str:
    fmt = get_format(format_id)
    turns = [dict(t) for t in TURNS]
    turns[1]["content"] = fmt.render_calls(
        [("add", {"a": 2, "b": 3})]
        if fmt.max_calls_per_step == 1
        else [("add", {"a": 2, "b": 3}), ("weather", {"city": "Lyon"})]
    )
    if fmt.max_calls_per_step == 1:
        turns = turns[:3]
    native = fmt.prompt(system="You are a careful agent.", tools=TOOLS, turns=turns, **options)
    return render_prompt(template, native, bos_token="<s>", eos_token="</s>")


# -- (a) prompts ------------------------------------------------------------------------------


def test_qwen3_tools_in_system_results_in_tool_response_and_thinking_switch() -> None:
    text = _prompt("qwen3", CHATML_HERMES, thinking=False)
    system = text.split("<|im_end|>")[0]
    assert system.startswith("<|im_start|>system\nYou are a careful agent.\n\n# Tools")
    assert '"name": "add"' in system and '"name": "final_answer"' in system
    # both results of the step in one user turn, each in its own <tool_response> block
    assert "<|im_start|>user\n<tool_response>\n5\n</tool_response>\n<tool_response>\nsunny" in text
    assert text.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    assert _prompt("qwen3", CHATML_HERMES, thinking=True).endswith("<|im_start|>assistant\n")


def test_smollm3_xml_tools_and_think_flags() -> None:
    off = _prompt("smollm3", SMOLLM3, thinking=False)
    assert "Reasoning Mode: /no_think" in off
    assert "<tools>\n" in off and '"name": "weather"' in off
    assert off.endswith("<|im_start|>assistant\n<think>\n\n</think>\n")
    assert "<|im_start|>user\n<tool_response>\n5\n</tool_response>\n<tool_response>" in off
    on = _prompt("smollm3", SMOLLM3, thinking=True)
    assert "Reasoning Mode: /think" in on
    assert on.endswith("<|im_start|>assistant\n")


def test_llama32_tools_in_first_user_turn_results_in_ipython() -> None:
    text = _prompt("llama3.2", LLAMA32)
    first_user = text.split("<|start_header_id|>user<|end_header_id|>\n\n")[1]
    assert first_user.startswith("Given the following functions")
    assert '"name": "final_answer"' in first_user
    assert "What is 2 + 3" in first_user
    assert '<|start_header_id|>assistant<|end_header_id|>\n\n{"name": "add", "parameters"' in text
    assert "<|start_header_id|>ipython<|end_header_id|>\n\n5<|eot_id|>" in text


def test_llama32_writes_one_call_per_turn() -> None:
    fmt = get_format("llama3.2")
    with pytest.raises(ValueError, match="one call"):
        fmt.render_calls([("add", {"a": 1, "b": 2}), ("add", {"a": 3, "b": 4})])
    constraint = fmt.constraint(TOOLS, max_calls=4)
    two = '{"name": "add", "parameters": {"a": 1, "b": 2}}{"name": "add", "parameters": {"a": 1, "b": 2}}'
    assert re.fullmatch(constraint.regex, two) is None


def test_phi4_mini_tool_list_in_system_turn() -> None:
    text = _prompt("phi4-mini", PHI4_MINI)
    system = text.split("<|end|>")[0]
    assert system.startswith("<|system|>You are a careful agent.<|tool|>[")
    listing = system.split("<|tool|>")[1].removesuffix("<|/tool|>")
    assert [t["name"] for t in json.loads(listing)] == ["add", "weather", "final_answer"]
    assert "<|assistant|><|tool_call|>[" in text and "]<|/tool_call|><|end|>" in text
    assert "<|tool|>5<|end|><|tool|>sunny, 21 C<|end|>" in text


def test_qwen35_xml_calls_and_enable_thinking() -> None:
    text = _prompt("qwen3.5", QWEN35, thinking=False)
    assert "<tools>\n" in text and "\n\nYou are a careful agent.<|im_end|>" in text
    assert "<function=add>\n<parameter=a>\n2\n</parameter>" in text
    assert "<|im_start|>user\n<tool_response>\n5\n</tool_response>" in text
    assert text.endswith("<think>\n\n</think>\n\n")
    assert _prompt("qwen3.5", QWEN35, thinking=True).endswith("<|im_start|>assistant\n<think>\n")


def test_gemma3_has_no_system_role_and_turns_alternate() -> None:
    fmt = get_format("gemma3")
    native = fmt.prompt(system="You are a careful agent.", tools=TOOLS, turns=TURNS)
    assert all(m["role"] in ("user", "assistant") for m in native.messages)
    text = render_prompt(GEMMA3, native, bos_token="<bos>")
    assert text.startswith("<bos><start_of_turn>user\nYou are a careful agent.")
    assert "What is 2 + 3" in text.split("<end_of_turn>")[0]
    assert "<start_of_turn>user\n```tool_output\nadd: 5\nweather: sunny, 21 C\n```" in text
    # two user turns in a row are merged, since the real template refuses them
    doubled = fmt.prompt(system="s", tools=TOOLS, turns=[{"role": "user", "content": "a"}, *TURNS])
    render_prompt(GEMMA3, doubled)
    # and the template really does refuse what the format avoids
    with pytest.raises(TemplateError, match="alternate"):
        render_prompt(
            GEMMA3,
            type(native)([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]),
        )


def test_generic_prompt_lists_tools_and_results_as_user_turn() -> None:
    text = _prompt("generic", GENERIC_CHATML)
    assert '[{"tool": "<tool name>"' in text
    assert "- add: Add two integers." in text and "- final_answer:" in text
    assert "<|im_start|>user\nadd returned: 5\nweather returned: sunny, 21 C<|im_end|>" in text


def test_thinking_switch_only_where_the_family_has_one() -> None:
    with pytest.raises(ValueError, match="no thinking switch"):
        get_format("llama3.2").prompt(system="s", tools=TOOLS, turns=TURNS[:1], thinking=True)


def test_final_answer_is_reserved() -> None:
    clash = ToolSpec("final_answer", "", {"type": "object", "properties": {}})
    with pytest.raises(ValueError, match="reserved"):
        get_format("qwen3").prompt(system="s", tools=[clash], turns=TURNS[:1])


# -- (b) constraints on hand-written native outputs, and (c) parsing them back ----------------

EXAMPLES: dict[str, tuple[str, list[tuple[str, dict[str, Any]]]]] = {
    "qwen3": (
        '<tool_call>\n{"name": "add", "arguments": {"a": 2, "b": 3}}\n</tool_call>',
        [("add", {"a": 2, "b": 3})],
    ),
    "smollm3": (
        '<tool_call>\n{"name": "weather", "arguments": {"city": "Paris", "metric": false}}\n'
        "</tool_call>",
        [("weather", {"city": "Paris", "metric": False})],
    ),
    "llama3.2": (
        '{"name": "add", "parameters": {"a": -4, "b": 10}}',
        [("add", {"a": -4, "b": 10})],
    ),
    "phi4-mini": (
        '[{"name": "add", "arguments": {"a": 1, "b": 1}}, '
        '{"name": "weather", "arguments": {"city": "Oslo", "metric": true}}]',
        [("add", {"a": 1, "b": 1}), ("weather", {"city": "Oslo", "metric": True})],
    ),
    "qwen3.5": (
        "<tool_call>\n<function=weather>\n<parameter=city>\nSão Paulo\n</parameter>\n"
        "<parameter=metric>\ntrue\n</parameter>\n</function>\n</tool_call>",
        [("weather", {"city": "São Paulo", "metric": True})],
    ),
    "gemma3": (
        '[add(a=2, b=3), weather(city="Lyon", metric=False)]',
        [("add", {"a": 2, "b": 3}), ("weather", {"city": "Lyon", "metric": False})],
    ),
    "generic": (
        '[{"tool": "add", "arguments": {"a": 7, "b": 8}}]',
        [("add", {"a": 7, "b": 8})],
    ),
}

FINAL_EXAMPLES = {
    "qwen3": '<tool_call>\n{"name": "final_answer", "arguments": {"answer": "5"}}\n</tool_call>',
    "smollm3": '<tool_call>\n{"name": "final_answer", "arguments": {"answer": "5"}}\n</tool_call>',
    "llama3.2": '{"name": "final_answer", "parameters": {"answer": "5"}}',
    "phi4-mini": '[{"name": "final_answer", "arguments": {"answer": "5"}}]',
    "qwen3.5": (
        "<tool_call>\n<function=final_answer>\n<parameter=answer>\n5\n</parameter>\n"
        "</function>\n</tool_call>"
    ),
    "gemma3": '[final_answer(answer="5")]',
    "generic": '[{"tool": "final_answer", "arguments": {"answer": "5"}}]',
}

# Native-looking outputs each constraint must refuse: a tool that does not exist, an argument of
# the wrong type, a missing required argument, prose around the call, a final answer mixed in.
BAD_EXAMPLES = {
    "qwen3": [
        '<tool_call>\n{"name": "sub", "arguments": {"a": 2, "b": 3}}\n</tool_call>',
        '<tool_call>\n{"name": "add", "arguments": {"a": "2", "b": 3}}\n</tool_call>',
        'Sure! <tool_call>\n{"name": "add", "arguments": {"a": 2, "b": 3}}\n</tool_call>',
    ],
    "llama3.2": [
        '{"name": "add", "arguments": {"a": 2, "b": 3}}',
        '{"name": "add", "parameters": {"a": 2}}',
    ],
    "phi4-mini": [
        '{"name": "add", "arguments": {"a": 1, "b": 1}}',
        '[{"name": "add", "arguments": {"a": 1, "b": 1}}, '
        '{"name": "final_answer", "arguments": {"answer": "2"}}]',
    ],
    "qwen3.5": [
        "<tool_call>\n<function=weather>\n<parameter=metric>\ntrue\n</parameter>\n</function>\n"
        "</tool_call>",
        "<tool_call>\n<function=add>\n<parameter=a>\ntwo\n</parameter>\n<parameter=b>\n3\n"
        "</parameter>\n</function>\n</tool_call>",
    ],
    "gemma3": [
        "[add(2, 3)]",
        '[weather(metric=True, city="Lyon")]',
        '[weather(city="Lyon", metric=true)]',
    ],
    "generic": ['[{"tool": "add", "arguments": {"a": 7}}]', '{"tool": "add", "arguments": {}}'],
}


def test_every_format_has_examples() -> None:
    assert set(EXAMPLES) == set(FORMATS) == set(FINAL_EXAMPLES)
    assert {p.tool_format for p in ALL_PRESETS} <= set(FORMATS)


@pytest.mark.parametrize("format_id", sorted(EXAMPLES))
def test_native_example_matches_constraint_and_parses_back(format_id: str) -> None:
    fmt = get_format(format_id)
    text, calls = EXAMPLES[format_id]
    constraint = fmt.constraint(TOOLS, max_calls=3)
    assert re.fullmatch(constraint.regex, text), text
    step = fmt.parse(constraint.prefill + text + constraint.suffix, TOOLS)
    assert step.final_answer is None
    assert list(step.calls) == calls
    assert fmt.parse(text, TOOLS).calls == step.calls  # prefill and suffix are optional


@pytest.mark.parametrize("format_id", sorted(FINAL_EXAMPLES))
def test_final_answer_example_matches_and_parses(format_id: str) -> None:
    fmt = get_format(format_id)
    text = FINAL_EXAMPLES[format_id]
    assert re.fullmatch(fmt.constraint(TOOLS).regex, text)
    assert fmt.parse(text, TOOLS).final_answer == "5"
    # a step that must call a tool does not accept the final answer
    assert re.fullmatch(fmt.constraint(TOOLS, final_answer=False).regex, text) is None


@pytest.mark.parametrize("format_id", sorted(BAD_EXAMPLES))
def test_constraint_refuses_wrong_native_calls(format_id: str) -> None:
    regex = get_format(format_id).constraint(TOOLS, max_calls=3).regex
    for bad in BAD_EXAMPLES[format_id]:
        assert re.fullmatch(regex, bad) is None, bad


@pytest.mark.parametrize("format_id", sorted(FORMATS))
def test_render_calls_round_trips_through_constraint_and_parse(format_id: str) -> None:
    fmt = get_format(format_id)
    calls = [("weather", {"city": 'Quote " and <b>', "metric": True})]
    text = fmt.render_calls(calls)
    constraint = fmt.constraint(TOOLS)
    assert text.startswith(constraint.prefill) and text.endswith(constraint.suffix)
    inner = text[len(constraint.prefill) : len(text) - len(constraint.suffix)]
    assert re.fullmatch(constraint.regex, inner), inner
    assert list(fmt.parse(text, TOOLS).calls) == calls


def test_max_calls_bounds_the_list() -> None:
    fmt = get_format("generic")
    call = '{"tool": "add", "arguments": {"a": 1, "b": 2}}'
    regex = fmt.constraint(TOOLS, max_calls=2).regex
    assert re.fullmatch(regex, f"[{call}, {call}]")
    assert re.fullmatch(regex, f"[{call}, {call}, {call}]") is None


@pytest.mark.parametrize("format_id", ["qwen3", "smollm3", "qwen3.5"])
def test_block_formats_constrain_one_call_but_parse_several(format_id: str) -> None:
    # outlines-core ends a constrained output at its first complete match, so a second
    # <tool_call> block could never follow the first one under a constraint.
    fmt = get_format(format_id)
    two = fmt.render_calls([("add", {"a": 1, "b": 2}), ("weather", {"city": "Lyon"})])
    assert re.fullmatch(fmt.constraint(TOOLS, max_calls=4).regex, two) is None
    assert fmt.parse(two, TOOLS).calls == (
        ("add", {"a": 1, "b": 2}),
        ("weather", {"city": "Lyon"}),
    )


def test_outlines_core_allows_nothing_after_a_complete_match(smollm2_vocab: Any) -> None:
    """The fact `max_constrained_calls` rests on: if it ever changes, block formats can allow
    several calls per step again."""
    import outlines_core

    llm, vocabulary = smollm2_vocab
    index = outlines_core.Index("(ab|ab,ab)", vocabulary.outlines())
    state = index.get_initial_state()
    for token in llm.tokenize(b"ab", add_bos=False, special=False):
        state = index.get_next_state(state, token)
    assert index.is_final_state(state)
    comma = llm.tokenize(b",", add_bos=False, special=False)
    assert index.get_next_state(state, comma[0]) is None


def test_plain_text_is_a_final_answer_and_broken_calls_are_errors() -> None:
    assert get_format("qwen3").parse("It is 5.").final_answer == "It is 5."
    with pytest.raises(FormatParseError):
        get_format("qwen3").parse('<tool_call>\n{"name": "add", "arguments": {"a": 1}')
    with pytest.raises(FormatParseError, match="only call"):
        get_format("generic").parse(
            '[{"tool": "add", "arguments": {}}, {"tool": "final_answer", "arguments": {"answer": "x"}}]'
        )
    with pytest.raises(FormatParseError):
        get_format("gemma3").parse("[add(a=os.system('x'))]")


def test_ordered_subset_keeps_order_and_required_items() -> None:
    regex = ordered_subset([("a", False), ("b", True), ("c", False)], ",")
    accepted = {s for s in ["b", "a,b", "b,c", "a,b,c"] if re.fullmatch(regex, s)}
    assert accepted == {"b", "a,b", "b,c", "a,b,c"}
    for bad in ["", "a", "c", "b,a", "a,c", "ab", "a,,b"]:
        assert re.fullmatch(regex, bad) is None, bad
    only_optional = ordered_subset([("x", False), ("y", False)], ", ")
    assert [s for s in ["", "x", "y", "x, y", "y, x", ", y"] if re.fullmatch(only_optional, s)] == [
        "",
        "x",
        "y",
        "x, y",
    ]


# -- thinking ---------------------------------------------------------------------------------


def test_split_thinking() -> None:
    assert split_thinking("<think>\nadd first\n</think>\n\n[x]") == ("add first", "[x]")
    assert split_thinking("no thinking here") == (None, "no thinking here")
    # the template opened <think> in the prompt (DeepSeek-R1 distills)
    assert split_thinking("so 2+3=5\n</think>\nThe answer is 5.") == (
        "so 2+3=5",
        "The answer is 5.",
    )
    # cut off while thinking: all thinking, no answer
    assert split_thinking("<think>hmm, let me") == ("hmm, let me", "")
    step = get_format("qwen3").parse(
        '<think>\nI need add.\n</think>\n\n<tool_call>\n{"name": "add", "arguments": {"a": 1, "b": 2}}\n</tool_call>',
        TOOLS,
    )
    assert step.thinking == "I need add." and step.calls == (("add", {"a": 1, "b": 2}),)


# -- the same constraints over a real vocabulary (outlines-core, SmolLM2) --------------------


@pytest.fixture(scope="module")
def smollm2_vocab() -> Any:
    import llama_cpp

    from agentsmall.decoding import TokenVocabulary
    from agentsmall.models import resolve_model_path

    _, path = resolve_model_path("smollm2-135m")
    llm = llama_cpp.Llama(model_path=str(Path(path)), vocab_only=True, verbose=False)
    yield llm, TokenVocabulary.from_llama(llm)
    llm.close()


@pytest.mark.parametrize("format_id", sorted(EXAMPLES))
def test_outlines_index_accepts_native_example_token_by_token(
    format_id: str, smollm2_vocab: Any
) -> None:
    import outlines_core

    llm, vocabulary = smollm2_vocab
    fmt = get_format(format_id)
    # The index the decoder masks logits with, built straight from the regex and vocabulary.
    index = outlines_core.Index(fmt.constraint(TOOLS, max_calls=3).regex, vocabulary.outlines())

    def walk(text: str) -> bool:
        state = index.get_initial_state()
        for token in llm.tokenize(text.encode("utf-8"), add_bos=False, special=False):
            state = index.get_next_state(state, token)
            if state is None:
                return False
        return index.is_final_state(state)

    assert walk(EXAMPLES[format_id][0])
    assert walk(FINAL_EXAMPLES[format_id])
    assert not walk(EXAMPLES[format_id][0][:-1])  # a cut-off call is not a finished step
    for bad in BAD_EXAMPLES.get(format_id, []):
        assert not walk(bad), bad


def test_native_arguments_bound_numbers_like_the_json_planner() -> None:
    """A native call's numbers end by themselves too (no `12.5000...` until the token limit)."""
    from outlines_core.json_schema import NUMBER

    from agentsmall.decoding import BOUNDED_NUMBER, json_schema_regex
    from agentsmall.models._formats import json_regex

    schema = {"type": "object", "properties": {"x": {"type": "number"}}, "required": ["x"]}
    regex = json_regex(schema)
    assert BOUNDED_NUMBER in regex and NUMBER not in regex
    assert re.fullmatch(regex, '{"x": 12.5}')
    assert not re.fullmatch(regex, '{"x": 12.' + "5" * 9 + "}")
    assert BOUNDED_NUMBER in json_schema_regex(schema)
