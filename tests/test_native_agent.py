"""The agent loop with native tool-call formats, on the scripted model.

Each family's step is a scripted native text that must match the step's regex constraint (the
scripted model refuses a reply its constraint would not allow); it is parsed by the format,
validated by the same ActionSpace as a JSON step, run, and its result rendered back through a
chat template built like the family's real one (from test_formats), in the family's role.
Scripted outputs are not real constrained outputs: the validation log points elsewhere here.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from test_formats import (
    CHATML_HERMES,
    GEMMA3,
    GENERIC_CHATML,
    LLAMA32,
    PHI4_MINI,
    QWEN35,
    SMOLLM3,
)

from agentsmall import _audit
from agentsmall._native import TOOL_FORMATS, NativePlanner, detect_family
from agentsmall._tool import tool
from agentsmall.agent import Agent
from agentsmall.errors import ConfigError, DecodingError
from agentsmall.memory import Memory
from agentsmall.models import RegexConstraint, ScriptedModel, get_format
from agentsmall.models._llamacpp import _StopReached, _StopWatch

TASK = "Use the multiply tool to compute 12 times 7."


@pytest.fixture(autouse=True)
def scripted_validation_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "scripted-validation.jsonl"
    monkeypatch.setenv(_audit.VALIDATION_LOG_ENV, str(path))
    return path


def audit(path: Path) -> list[bool]:
    if not path.exists():
        return []
    return [json.loads(line)["valid"] for line in path.read_text().splitlines()]


@tool
def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


def make(
    tmp_path: Path,
    closing: list[Agent],
    replies: Sequence[Any],
    *,
    template: str | None,
    name: str = "scripted",
    **options: Any,
) -> tuple[Agent, ScriptedModel]:
    model = ScriptedModel(replies, chat_template=template, name=name)
    agent = Agent(model, tools=[multiply], memory=tmp_path / "m.db", **options)
    closing.append(agent)
    return agent, model


# family, its template, the scripted step-1 text (what the model generates after any prefill),
# and where the tool result must appear in the next rendered prompt
FAMILIES: dict[str, tuple[str, str, str]] = {
    "qwen3": (
        CHATML_HERMES,
        '<tool_call>\n{"name": "multiply", "arguments": {"a": 12, "b": 7}}\n</tool_call>',
        "<|im_start|>user\n<tool_response>\nmultiply returned: 84",
    ),
    "smollm3": (
        SMOLLM3,
        '<tool_call>\n{"name": "multiply", "arguments": {"a": 12, "b": 7}}\n</tool_call>',
        "<|im_start|>user\n<tool_response>\nmultiply returned: 84",
    ),
    "llama3.2": (
        LLAMA32,
        '{"name": "multiply", "parameters": {"a": 12, "b": 7}}',
        "<|start_header_id|>ipython<|end_header_id|>\n\nmultiply returned: 84",
    ),
    "phi4-mini": (
        PHI4_MINI,
        '[{"name": "multiply", "arguments": {"a": 12, "b": 7}}]',  # after the forced <|tool_call|>
        "<|tool|>multiply returned: 84",
    ),
    "qwen3.5": (
        QWEN35,
        "<tool_call>\n<function=multiply>\n<parameter=a>\n12\n</parameter>\n"
        "<parameter=b>\n7\n</parameter>\n</function>\n</tool_call>",
        "<|im_start|>user\n<tool_response>\nmultiply returned: 84",
    ),
    "gemma3": (
        GEMMA3,
        "[multiply(a=12, b=7)]",
        "<start_of_turn>user\n```tool_output\nmultiply returned: 84",
    ),
    "generic": (
        GENERIC_CHATML,
        '[{"tool": "multiply", "arguments": {"a": 12, "b": 7}}]',
        "<|im_start|>user\nmultiply returned: 84",
    ),
}
RESULT_ROLE = {
    "qwen3": "tool",
    "smollm3": "user",
    "llama3.2": "ipython",
    "phi4-mini": "tool",
    "qwen3.5": "tool",
    "gemma3": "user",
    "generic": "user",
}


def final_text(family: str, answer: str) -> str:
    fmt = get_format(family)
    text = fmt.render_calls([("final_answer", {"answer": answer})])
    step = fmt.constraint([multiply])
    return text.removeprefix(step.prefill).removesuffix(step.suffix)


def test_every_family_is_covered() -> None:
    assert set(FAMILIES) == set(TOOL_FORMATS) - {"auto", "json"} == set(RESULT_ROLE)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_native_step_is_decoded_parsed_validated_run_and_answered_in_the_family_role(
    family: str, tmp_path: Path, closing: list[Agent], scripted_validation_log: Path
) -> None:
    template, step1, rendered_result = FAMILIES[family]
    # Qwen3.5's template opens a <think> block unless told not to: these steps do not think.
    options = {"thinking": False} if get_format(family).thinking_switch else {}
    agent, model = make(
        tmp_path,
        closing,
        [step1, final_text(family, "84")],
        template=template,
        tool_format=family,
        **options,
    )
    assert agent.tool_format == family
    result = agent.run(TASK)

    assert (result.status, result.output) == ("completed", "84")
    assert [(s.step, s.tool, s.arguments, s.result, s.error) for s in result.steps] == [
        (1, "multiply", {"a": 12, "b": 7}, 84, None)
    ]
    # every step was decoded under the family's native regex, and each reply matched it
    step = get_format(family).constraint(agent.offered_tools, max_calls=4)
    assert model.constraints == [RegexConstraint(step.regex)] * 2
    assert model.prefills == [step.prefill] * 2
    assert re.fullmatch(step.regex, step1)
    # both native outputs were validated by the ActionSpace and counted in the tally
    assert audit(scripted_validation_log) == [True, True]
    # the result went back in the family's role, and the call as the family writes it
    second = model.calls[1]
    assert any(
        m["role"] == RESULT_ROLE[family] and "multiply returned: 84" in m["content"] for m in second
    )
    native_call = get_format(family).render_calls([("multiply", {"a": 12, "b": 7})])
    assert any(m["role"] == "assistant" and m["content"] == native_call for m in second)
    # ... and the family's template renders it where the family expects it
    assert rendered_result in model.prompts[1]
    # the memory holds the neutral record: the JSON action and the native raw output
    rows = agent.memory.steps(result.session_id)
    assert rows[0]["raw_output"] == step.prefill + step1 + step.suffix
    messages = agent.memory.messages(result.session_id)
    assert json.loads(messages[2]["content"]) == [
        {"tool": "multiply", "arguments": {"a": 12, "b": 7}}
    ]


def test_tools_go_where_the_template_reads_them(tmp_path: Path, closing: list[Agent]) -> None:
    family = "qwen3"
    agent, model = make(
        tmp_path, closing, [final_text(family, "hi")], template=CHATML_HERMES, tool_format=family
    )
    agent.run("Say hi.")
    names = [t["function"]["name"] for t in model.template_kwargs[0]["tools"]]
    assert names == ["multiply", "final_answer"]
    assert "<tools>\n" in model.prompts[0] and '"name": "multiply"' in model.prompts[0]
    # the native system text does not teach the JSON planner's shape
    assert '"tool": "<tool name>"' not in model.calls[0][0]["content"]


def test_a_template_without_tools_gets_them_as_text_and_results_as_user_turns(
    tmp_path: Path, closing: list[Agent]
) -> None:
    family = "qwen3"
    step1 = FAMILIES[family][1]
    agent, model = make(
        tmp_path,
        closing,
        [step1, final_text(family, "84")],
        template=GENERIC_CHATML,  # plain ChatML, as the embedded SmolLM2 has
        tool_format=family,
    )
    result = agent.run(TASK)
    assert result.output == "84"
    assert "tools" not in model.template_kwargs[0]
    system = model.calls[0][0]["content"]
    assert "<tools>" in system and '"name": "multiply"' in system and "<tool_call>" in system
    assert "<|im_start|>user\nmultiply returned: 84" in model.prompts[1]
    assert "<|im_start|>tool" not in model.prompts[1]


def test_thinking_is_free_then_the_answer_constrained_stored_and_never_reprompted(
    tmp_path: Path, closing: list[Agent], scripted_validation_log: Path
) -> None:
    family = "qwen3"
    step1 = FAMILIES[family][1]
    replies = [
        "I must multiply twelve by seven.\n</think>\n\nthis part is never read",
        step1,
        "The tool said 84.</think>",
        final_text(family, "84"),
    ]
    agent, model = make(
        tmp_path, closing, replies, template=CHATML_HERMES, tool_format=family, thinking=True
    )
    result = agent.run(TASK)
    assert (result.status, result.output) == ("completed", "84")
    # thinking: unconstrained, opened by us (this template does not), ended at </think>
    assert model.constraints[0] is None and model.constraints[2] is None
    assert model.prefills[0] == "<think>\n"
    assert isinstance(model.constraints[1], RegexConstraint)
    # the answer continues the same assistant turn, after the closed thinking
    assert model.prefills[1] == "<think>\nI must multiply twelve by seven.\n</think>\n\n"
    assert all(kw["enable_thinking"] is True for kw in model.template_kwargs)
    # never in a later prompt: not in step 2's messages nor its rendered text
    for messages, prompt in zip(model.calls[2:], model.prompts[2:], strict=True):
        assert "twelve by seven" not in json.dumps(messages)
        assert "twelve by seven" not in prompt
    # but in memory, with the step: its call rows and its assistant message
    rows = agent.memory.steps(result.session_id)
    assert [r["thinking"] for r in rows] == ["I must multiply twelve by seven."]
    assistant = [m for m in agent.memory.messages(result.session_id) if m["role"] == "assistant"]
    assert [m["thinking"] for m in assistant] == [
        "I must multiply twelve by seven.",
        "The tool said 84.",
    ]
    assert audit(scripted_validation_log) == [True, True]


def test_thinking_is_bounded_and_closed_when_the_budget_runs_out(
    tmp_path: Path, closing: list[Agent]
) -> None:
    family = "qwen3.5"  # its template opens <think> itself: we must not open a second one
    replies = [("hmm " * 10, "length"), final_text(family, "done")]
    agent, model = make(
        tmp_path,
        closing,
        replies,
        template=QWEN35,
        tool_format=family,
        thinking=True,
        max_thinking_tokens=8,
    )
    result = agent.run("Say done.")
    assert result.output == "done"
    assert model.prefills[0] == ""
    assert model.prompts[0].endswith("<|im_start|>assistant\n<think>\n")
    assert model.prefills[1] == "hmm hmm hmm hmm hmm hmm hmm hmm hmm hmm\n</think>\n\n"


def test_a_reply_outside_the_regex_is_refused_by_the_scripted_model(
    tmp_path: Path, closing: list[Agent]
) -> None:
    agent, _ = make(
        tmp_path, closing, ['{"name": "multiply"}'], template=CHATML_HERMES, tool_format="qwen3"
    )
    with pytest.raises(AssertionError, match="does not match its regex constraint"):
        agent.run(TASK)


def test_a_native_call_that_does_not_validate_fails_the_step_and_is_counted(
    tmp_path: Path, closing: list[Agent], scripted_validation_log: Path
) -> None:
    model = ScriptedModel(
        ['<tool_call>\n{"name": "multiply", "arguments": {"a": "twelve", "b": 7}}\n</tool_call>'],
        check_regex=False,
    )
    agent = Agent(model, tools=[multiply], memory=tmp_path / "m.db", tool_format="qwen3")
    closing.append(agent)
    with pytest.raises(DecodingError, match=r"do not validate|does not match the action schema"):
        agent.run(TASK)
    assert audit(scripted_validation_log) == [False]


def test_must_use_tool_drops_final_answer_from_the_first_native_step(
    tmp_path: Path, closing: list[Agent]
) -> None:
    family = "gemma3"
    agent, model = make(
        tmp_path,
        closing,
        ["[multiply(a=12, b=7)]", final_text(family, "84")],
        template=GEMMA3,
        tool_format=family,
        must_use_tool=True,
    )
    assert agent.run(TASK).output == "84"
    first, later = model.constraints
    assert isinstance(first, RegexConstraint) and isinstance(later, RegexConstraint)
    final = final_text(family, "84")
    assert re.fullmatch(first.pattern, final) is None
    assert re.fullmatch(later.pattern, final)


def test_a_session_continues_across_formats(tmp_path: Path, closing: list[Agent]) -> None:
    """Memory keeps the neutral action: a JSON run's history renders natively later."""
    json_step = json.dumps([{"tool": "multiply", "arguments": {"a": 2, "b": 3}}])
    json_final = json.dumps([{"tool": "final_answer", "arguments": {"answer": "6"}}])
    first, _ = make(tmp_path, closing, [json_step, json_final], template=None, tool_format="json")
    session = first.run("2 times 3?").session_id
    first.memory.close()
    second, model = make(
        tmp_path, closing, [final_text("llama3.2", "6")], template=LLAMA32, tool_format="llama3.2"
    )
    assert second.run("And again?", session_id=session).output == "6"
    roles = [m["role"] for m in model.calls[0]]
    assert "ipython" in roles
    assert {
        "role": "assistant",
        "content": '{"name": "multiply", "parameters": {"a": 2, "b": 3}}',
    } in [{"role": m["role"], "content": m["content"]} for m in model.calls[0]]


# -- choosing the format ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "template", "expected", "thinks"),
    [
        ("scripted", None, "json", False),  # unknown model, no template
        ("smollm2-135m", None, "json", False),  # embedded: the measured JSON path
        ("gemma3-270m", None, "json", False),
        ("qwen3-0.6b", None, "qwen3", True),  # presets: their family and thinking default
        ("llama3.2-3b", None, "llama3.2", False),
        ("deepseek-r1-1.5b", None, "generic", True),  # generic, but it always thinks
        ("my-model", CHATML_HERMES, "qwen3", False),  # from the GGUF's template
        ("my-model", QWEN35, "qwen3.5", False),
        ("my-model", SMOLLM3, "smollm3", False),
        ("my-model", LLAMA32, "llama3.2", False),
        ("my-model", PHI4_MINI, "phi4-mini", False),
        ("my-model", GEMMA3, "gemma3", False),
        ("my-model", GENERIC_CHATML, "json", False),
    ],
)
def test_auto_picks_the_family_from_the_preset_or_the_template(
    name: str, template: str | None, expected: str, thinks: bool
) -> None:
    model = ScriptedModel([], name=name, chat_template=template)
    planner = NativePlanner.choose(
        model,
        "auto",
        [multiply],
        thinking=None,
        max_thinking_tokens=64,
        max_calls=4,
        must_use_tool=False,
    )
    assert (planner.format.id if planner else "json") == expected
    assert (planner.thinking if planner else False) == thinks


def test_phi4_template_markers_are_detected() -> None:
    model = ScriptedModel([], name="x", chat_template="{{ '<|tool|>' }}{{ messages }}")
    assert detect_family(model) == "phi4-mini"


def test_bad_tool_format_and_thinking_without_a_native_format_are_config_errors(
    tmp_path: Path,
) -> None:
    with pytest.raises(ConfigError, match="unknown tool_format"):
        Agent(ScriptedModel([]), tools=[multiply], memory=tmp_path / "a.db", tool_format="xml")
    with pytest.raises(ConfigError, match="needs a native tool format"):
        Agent(
            ScriptedModel([]),
            tools=[multiply],
            memory=tmp_path / "b.db",
            tool_format="json",
            thinking=True,
        )
    # with "auto", a model with no family of its own thinks in the generic native format
    thinker = Agent(ScriptedModel([]), tools=[multiply], memory=tmp_path / "d.db", thinking=True)
    assert thinker.tool_format == "generic" and thinker.native and thinker.native.thinking
    thinker.memory.close()
    with pytest.raises(ConfigError, match="max_thinking_tokens"):
        Agent(
            ScriptedModel([]),
            tools=[multiply],
            memory=tmp_path / "c.db",
            tool_format="qwen3",
            max_thinking_tokens=0,
        )


def test_json_stays_the_path_of_models_without_a_native_family(tmp_path: Path) -> None:
    agent = Agent(ScriptedModel([]), tools=[multiply], memory=tmp_path / "m.db")
    assert agent.native is None and agent.tool_format == "json"
    agent.memory.close()


# -- the pieces under the loop ------------------------------------------------------------------


def test_stop_watch_ends_at_a_stop_string_split_across_pieces() -> None:
    seen: list[str] = []
    watch = _StopWatch(["</think>"], seen.append)
    watch.feed("I think")
    watch.feed(" so</th")
    with pytest.raises(_StopReached):
        watch.feed("ink>\n\n<tool_call>")
    assert watch.text == "I think so" and watch.hit == "</think>" and watch.pieces == 3
    assert "".join(seen).startswith("I think so")


def test_schema_4_has_the_thinking_columns(tmp_path: Path) -> None:
    Memory(tmp_path / "m.db").close()
    with sqlite3.connect(tmp_path / "m.db") as raw:
        for table in ("steps", "messages"):
            columns = [row[1] for row in raw.execute(f"PRAGMA table_info({table})")]
            assert "thinking" in columns


def test_cli_run_takes_tool_format_and_thinking(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from agentsmall.cli import _run, main

    fmt = get_format("qwen3")
    replies = [
        fmt.render_calls([("multiply", {"a": 12, "b": 7})]),
        fmt.render_calls([("final_answer", {"answer": "84"})]),
    ]
    model = ScriptedModel(replies, name="qwen3-0.6b", chat_template=CHATML_HERMES)
    monkeypatch.setattr(_run, "load_model", lambda name: model)
    tools = str(Path(__file__).parents[1] / "examples" / "multiply_tool.py")
    options = ["--tool-format", "qwen3", "--thinking", "off", "--json"]
    code = main(["run", TASK, "--tools", tools, "--db", str(tmp_path / "m.db"), *options])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["status"], out["output"]) == ("completed", "84")
    assert isinstance(model.constraints[0], RegexConstraint)
    assert model.template_kwargs[0]["enable_thinking"] is False  # the preset would think
