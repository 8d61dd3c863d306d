"""The evaluation harness: shipped data, BFCL runs per mode, GSM8K scoring, the CLI.

Most tests drive the harness with scripted replies (deterministic, instant); those replies are
not constrained outputs, so the validation log points elsewhere for them (as in
test_agent_loop.py). The tests marked `model` run the real embedded model on a few shipped
items and do count towards the session's validation tally.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agentsmall import _audit
from agentsmall._actions import ActionSpace
from agentsmall.cli import main
from agentsmall.errors import ConfigError
from agentsmall.evals import (
    CATEGORIES,
    check_calls,
    first_json_value,
    last_number,
    load_bfcl,
    load_gsm8k,
    run_bfcl,
    run_gsm8k,
    same_number,
    shipped_data,
    tools_for,
)
from agentsmall.models import ScriptedModel

DATA = shipped_data()


@pytest.fixture
def scripted_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "scripted-validation.jsonl"
    monkeypatch.setenv(_audit.VALIDATION_LOG_ENV, str(path))
    return path


def audited(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def call(tool: str, **arguments: Any) -> dict[str, Any]:
    return {"tool": tool, "arguments": arguments}


def final(answer: str) -> list[dict[str, Any]]:
    return [call("final_answer", answer=answer)]


# -- the shipped data ------------------------------------------------------------------------


def _first_allowed(allowed: Any) -> Any:
    """A value the ground truth allows (the first that is not the "may be omitted" marker)."""
    value = next((a for a in allowed if a != ""), None)
    if isinstance(value, dict):
        return {k: _first_allowed(v) for k, v in value.items() if _first_allowed(v) is not None}
    return value


@pytest.mark.parametrize("category", CATEGORIES)
def test_shipped_data_is_consistent(category: str) -> None:
    items = load_bfcl(DATA, category)
    assert len(items) >= 2
    assert len({i.id for i in items}) == len(items)
    for item in items:
        assert item.messages[-1]["role"] == "user"
        bfcl = tools_for(item.functions)
        space = ActionSpace.from_tools(bfcl.tools)
        if "irrelevance" in category:
            assert item.ground_truth is None
            continue
        # The right answer passes the checker *and* is reachable under the action schema.
        answer = [
            {
                name: {
                    p: _first_allowed(a) for p, a in params.items() if _first_allowed(a) is not None
                }
            }
            for expected in item.ground_truth
            for name, params in expected.items()
        ]
        assert check_calls(category, item.functions, answer, item.ground_truth), item.id
        text = json.dumps([call(n, **a) for c in answer for n, a in c.items()])
        assert len(space.parse(text).calls) == len(answer)


def test_shipped_gsm8k() -> None:
    items = load_gsm8k(DATA / "gsm8k" / "test.jsonl")
    assert len(items) >= 5
    assert items[0].expected == "26"
    assert items[-1].expected == "4000"  # "#### 4,000": commas removed


def test_load_limit_and_errors(tmp_path: Path) -> None:
    assert [i.id for i in load_bfcl(DATA, "multiple", limit=2)] == ["multiple_0", "multiple_1"]
    with pytest.raises(ConfigError, match="unknown BFCL category"):
        load_bfcl(DATA, "simple_java")
    with pytest.raises(ConfigError, match="--data"):
        load_bfcl(tmp_path, "multiple")
    with pytest.raises(ConfigError, match="at least 1"):
        load_bfcl(DATA, "multiple", limit=0)
    (tmp_path / "BFCL_v4_multiple.json").write_text("{}\n")
    with pytest.raises(ConfigError, match="ground truth"):
        load_bfcl(tmp_path, "multiple")
    with pytest.raises(ConfigError, match="GSM8K"):
        load_gsm8k(tmp_path / "missing.jsonl")


# -- BFCL runs on scripted replies -----------------------------------------------------------


def test_agentsmall_mode_judges_each_item(scripted_log: Path) -> None:
    items = load_bfcl(DATA, "simple_python")
    model = ScriptedModel(
        [
            [call("geometry.rectangle_area", length=7, width=3)],  # right
            [call("currency.convert", amount=100, from_currency="usd", to_currency="EUR")],
            final("Paris"),  # no call where one is expected
            ('[{"tool": "array.sort", "arguments": {"numbers": [5, 2, 9, 9, 9', "length"),
        ]
    )
    run = run_bfcl(model, items, modes=["agentsmall"])
    rows = [r.as_dict() for r in run.results]
    assert [r["correct"] for r in rows] == [True, True, False, False]
    assert rows[1]["calls"] == [
        {"currency.convert": {"amount": 100, "from_currency": "usd", "to_currency": "EUR"}}
    ]
    assert rows[2]["error_type"] == "simple_function_checker:wrong_count"
    assert rows[2]["calls"] == [] and rows[2]["valid"]
    assert rows[3]["error_type"] == "cut_off" and not rows[3]["valid"]
    report = run.report
    assert report["category"] == "simple_python" and report["n"] == 4
    assert report["accuracy"] == 0.5 and report["valid_rate"] == 0.75
    assert report["cut_off"] == 1 and report["no_call"] == 1
    assert set(report["modes"]) == {"agentsmall"}
    # Every constrained output is audited, the cut-off one as invalid.
    assert [e["valid"] for e in audited(scripted_log)] == [True, True, True, False]
    # The prompt: the planner's system prompt with the item's functions, then the question.
    system, user = model.calls[0]
    assert (
        system["role"] == "system"
        and "geometry.rectangle_area(length: integer" in system["content"]
    )
    assert "final_answer(answer: string)" in system["content"]
    assert user == {"role": "user", "content": items[0].messages[0]["content"]}
    assert model.constraints[0] is not None and model.constraints[0].list_of_unique_items


def test_agentsmall_mode_decodes_the_agents_gated_and_grounded_first_step(
    scripted_log: Path,
) -> None:
    """Our mode gets the tool gate's action space and grounded arguments; switched off, the
    plain action space and the arguments as written."""
    item = load_bfcl(DATA, "multiple", limit=1)[0]  # weather in Oslo; music.play is offered too

    def scorer(context: str, continuation: str) -> float:
        return 20.0 if context.startswith("Tool: weather.current") else 0.0

    reply = [call("weather.current", city="Oslo", unit="celsius")]
    model = ScriptedModel([reply], scorer=scorer)
    ours = run_bfcl(model, [item], modes=["agentsmall"]).results[0]
    gate = ours.as_dict()["gate"]
    assert gate["offered"] == ("weather.current",)
    schema = json.dumps(model.constraints[0].schema)  # type: ignore[union-attr]
    assert "music.play" not in schema and "final_answer" not in schema
    assert "fahrenheit" not in schema  # "in celsius": the unit's choices narrowed to it
    assert ours.calls == [{"weather.current": {"city": "Oslo", "unit": "celsius"}}]
    reply = [call("weather.current", city="Oslo", unit="fahrenheit")]  # "celsius" was asked
    plain_model = ScriptedModel([reply], scorer=scorer)
    plain = run_bfcl(
        plain_model,
        [item],
        modes=["agentsmall"],
        tool_gate=False,
        ground_arguments=False,
    ).results[0]
    assert plain.as_dict()["gate"] is None
    assert "music.play" in json.dumps(plain_model.constraints[0].schema)  # type: ignore[union-attr]
    assert plain.calls == [{"weather.current": {"city": "Oslo", "unit": "fahrenheit"}}]


def test_a_relevant_tools_invented_value_is_decoded_again_held_to_the_task(
    scripted_log: Path,
) -> None:
    """As the agent does: the gate found the tool clearly relevant, the call named a city the
    question never did, so the step is decoded again with the city held to the question's."""
    item = load_bfcl(DATA, "multiple", limit=1)[0]  # weather in Oslo

    def scorer(context: str, continuation: str) -> float:
        return 20.0 if context.startswith("Tool: weather.current") else 0.0

    # "in celsius" names a value of the optional unit, so the first step requires it.
    replies = [
        [call("weather.current", city="Bergen", unit="celsius")],
        [call("weather.current", city="Oslo", unit="celsius")],
    ]
    model = ScriptedModel(replies, scorer=scorer)
    result = run_bfcl(model, [item], modes=["agentsmall"]).results[0]
    assert result.calls == [{"weather.current": {"city": "Oslo", "unit": "celsius"}}]
    assert result.correct
    assert (result.as_dict()["invented"], result.as_dict()["held"]) == (
        ["weather.current.city"],
        True,
    )
    held_schema = json.dumps(model.constraints[1].schema)  # type: ignore[union-attr]
    assert '"Oslo"' in held_schema and '"Bergen"' not in held_schema


def test_raw_mode_takes_the_first_json_value_and_is_not_audited(scripted_log: Path) -> None:
    items = load_bfcl(DATA, "simple_python", limit=3)
    model = ScriptedModel(
        [
            'Sure! [{"tool": "geometry.rectangle_area", "arguments": {"length": 7, "width": 3}}]'
            " and then [1]",
            "The area is 21 square meters.",
            (
                '{"tool": "weather.forecast", "arguments": {"city": "Paris", "days": 3}} I hope',
                "length",
            ),
        ]
    )
    run = run_bfcl(model, items, modes=["raw"])
    assert [r.correct for r in run.results] == [True, False, True]
    assert run.results[1].attempt.problem == "no JSON value in the output"
    assert model.constraints == [None, None, None]
    assert audited(scripted_log) == []


def test_irrelevance_counts_only_valid_abstentions(scripted_log: Path) -> None:
    items = load_bfcl(DATA, "irrelevance")
    model = ScriptedModel(
        [
            final("Miguel de Cervantes"),
            [call("currency.convert", amount=1, from_currency="USD", to_currency="EUR")],
            ('[{"tool": "final_answer", "arguments": {"answer": "Lima Lima Lima', "length"),
        ]
    )
    # Without grounding, the call's invented values are not withheld (see the next test).
    run = run_bfcl(model, items, modes=["agentsmall"], ground_arguments=False)
    assert [r.correct for r in run.results] == [True, False, False]
    assert run.results[2].error_type == "irrelevance:invalid_output"
    # BFCL's own rule would count the cut-off output as "no call"; reported alongside.
    assert [r.bfcl_rule_correct for r in run.results] == [True, False, True]
    assert run.report["accuracy"] == pytest.approx(1 / 3)
    assert run.report["bfcl_rule_accuracy"] == pytest.approx(2 / 3)


def test_a_call_with_invented_values_is_withheld_and_the_step_answers(
    scripted_log: Path,
) -> None:
    items = load_bfcl(DATA, "irrelevance")[1:2]  # "Tell me a short joke about cats."
    invented = call("currency.convert", amount=1, from_currency="USD", to_currency="EUR")
    model = ScriptedModel([[invented], final("Cats land on their feet.")])
    run = run_bfcl(model, items, modes=["agentsmall"])
    [result] = run.results
    assert result.correct
    record = result.as_dict()
    # (The currency codes are in the tool's description, so only the amount is invented.)
    assert record["invented"] == ["currency.convert.amount"]
    assert record["final_answer"] == "Cats land on their feet."
    assert len(model.calls) == 2  # the step was decoded again


def test_item_system_message_joins_the_planner_instructions(scripted_log: Path) -> None:
    items = load_bfcl(DATA, "live_simple", limit=1)
    model = ScriptedModel([[call("home.set_light", room="Living Room", brightness=40)]])
    run = run_bfcl(model, items)
    assert run.results[0].correct
    messages = model.calls[0]
    assert [m["role"] for m in messages] == ["system", "user"]
    assert "You are a helpful home assistant." in messages[0]["content"]
    assert "home.set_light(" in messages[0]["content"]


def test_several_modes_in_one_run(scripted_log: Path) -> None:
    items = load_bfcl(DATA, "parallel", limit=1)
    both = [call("city.population", city="Lima"), call("city.population", city="Tokyo")]
    model = ScriptedModel([both, "no idea"])
    run = run_bfcl(model, items, modes=["agentsmall", "raw"])
    report = run.report
    assert list(report["modes"]) == ["agentsmall", "raw"]
    assert report["mode"] == "agentsmall" and report["accuracy"] == 1.0  # first mode on top
    assert report["modes"]["raw"]["accuracy"] == 0.0
    assert report["modes"]["raw"]["valid_rate"] == 0.0
    assert [r.mode for r in run.results] == ["agentsmall", "raw"]


def test_mode_errors() -> None:
    items = load_bfcl(DATA, "multiple", limit=1)
    with pytest.raises(ConfigError, match="gbnf needs a llama"):
        run_bfcl(ScriptedModel([]), items, modes=["gbnf"])
    with pytest.raises(ConfigError, match="unknown mode"):
        run_bfcl(ScriptedModel([]), items, modes=["outlines"])


def test_first_json_value() -> None:
    assert first_json_value('x [1, {"a": 2}] y') == [1, {"a": 2}]
    assert first_json_value('[broken {"ok": true} [2]') == {"ok": True}
    assert first_json_value("no json here") is None
    assert first_json_value('[{"unterminated": ') is None


# -- GSM8K -----------------------------------------------------------------------------------


def test_gsm8k_numbers() -> None:
    assert last_number("The answer is $1,234.50.") == "1234.50"
    assert last_number("from 3 to -7") == "-7"
    assert last_number("none") is None and last_number(None) is None
    assert same_number("18.0", "18") and same_number("-7", "-7")
    assert not same_number("18.5", "18") and not same_number(None, "1")


def test_gsm8k_planner_mode_scripted(scripted_log: Path) -> None:
    items = load_gsm8k(DATA / "gsm8k" / "test.jsonl", limit=2)
    model = ScriptedModel(
        [
            [call("calculate", expression="3*12-10")],
            final("She has 26 pencils left."),
            [call("multiply", a=60, b=4)],
            final("It travels 250 km."),  # wrong on purpose
        ]
    )
    run = run_gsm8k(model, items)
    assert [r.correct for r in run.results] == [True, False]
    assert [r.predicted for r in run.results] == ["26", "250"]
    assert run.results[0].run.steps[0].result == 26
    report = run.report
    assert report["category"] == "gsm8k" and report["n"] == 2 and report["accuracy"] == 0.5
    assert report["valid_rate"] == 1.0 and report["planner_steps"] == 4


def test_gsm8k_escalate_mode_checks_its_input_before_loading_a_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The escalate path itself runs in tests/test_escalation*.py; here: bad input is caught
    # before any model is loaded, in escalate mode as in planner mode.
    missing = tmp_path / "nope.jsonl"
    code = main(["eval", "gsm8k", "--data", str(missing), "--mode", "escalate"])
    assert code == 2
    assert "no GSM8K file" in capsys.readouterr().err
    code = main(["eval", "gsm8k", "--data", str(DATA / "gsm8k"), "--mode", "escalate",
                 "--limit", "0"])  # fmt: skip
    assert code == 2
    assert "--limit must be at least 1" in capsys.readouterr().err


def test_cli_bad_data_is_a_clean_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["eval", "bfcl", "--data", str(tmp_path), "--category", "multiple"])
    assert code == 2
    err = capsys.readouterr().err
    assert "error:" in err and "Traceback" not in err


# -- the real embedded model -----------------------------------------------------------------


@pytest.mark.model
def test_all_modes_end_to_end_on_the_embedded_model(embedded_model: Any) -> None:
    items = load_bfcl(DATA, "simple_python", limit=1)
    before = _audit.tally()
    # The agent's own step budget: a bounded final answer (up to 200 characters) always closes
    # within it, not always within a smaller one.
    run = run_bfcl(embedded_model, items, modes=["agentsmall", "raw", "gbnf"], max_tokens=256)
    by_mode = {r.mode: r for r in run.results}
    assert list(by_mode) == ["agentsmall", "raw", "gbnf"]
    ours = by_mode["agentsmall"]
    assert ours.attempt.valid, ours.attempt.problem
    assert ours.calls is not None  # a final answer ([]) or calls, judged by the checker:
    assert ours.correct == bool(
        check_calls("simple_python", items[0].functions, ours.calls, items[0].ground_truth)
    )
    # Only our constrained output was audited: raw and gbnf are not ours.
    after = _audit.tally()
    assert (after.total - before.total, after.valid - before.valid) == (1, 1)
    gbnf = by_mode["gbnf"]
    assert gbnf.attempt.output_tokens > 0 and gbnf.attempt.text.startswith("[")
    for mode, report in run.report["modes"].items():
        assert report["n"] == 1 and report["mean_seconds"] > 0, mode


@pytest.mark.model
def test_cli_end_to_end_on_the_embedded_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "items.jsonl"
    code = main(
        [
            "eval", "bfcl", "--data", str(DATA), "--category", "simple_python", "--limit", "1",
            "--threads", "1", "--max-tokens", "256", "--json", "--out", str(out),
        ]
    )  # fmt: skip
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    for key in ("category", "n", "accuracy", "valid_rate", "mean_seconds"):
        assert key in report
    assert report["category"] == "simple_python" and report["n"] == 1
    assert report["valid_rate"] == 1.0 and report["modes"]["agentsmall"]["n"] == 1
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 1 and rows[0]["id"] == "simple_python_0" and rows[0]["valid"]
    assert rows[0]["correct"] == (report["accuracy"] == 1.0)


@pytest.mark.model
def test_gsm8k_end_to_end_on_the_embedded_model(embedded_model: Any) -> None:
    items = load_gsm8k(DATA / "gsm8k" / "test.jsonl", limit=1)
    run = run_gsm8k(embedded_model, items)
    result = run.results[0]
    assert result.run.steps, "the calculator agent's first step must call a tool"
    assert run.report["n"] == 1 and run.report["valid_rate"] == 1.0
    assert result.correct == same_number(result.predicted, "26")
