"""Tools marked dangerous: refused in scripted runs, allowed by a callback or --allow-dangerous.

Scripted replies are not constrained outputs, so the validation log is pointed at a per-test
file here (as in test_agent_loop) and never counts towards the session's tally.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from agentsmall import _audit
from agentsmall._runner import allow_all, run_call
from agentsmall._tool import tool
from agentsmall.agent import Agent
from agentsmall.cli import _run as cli_run
from agentsmall.cli import main
from agentsmall.models import ScriptedModel

deleted_paths: list[str] = []


@pytest.fixture(autouse=True)
def scripted_validation_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(_audit.VALIDATION_LOG_ENV, str(tmp_path / "scripted-validation.jsonl"))
    deleted_paths.clear()


@tool(dangerous=True)
def delete_file(path: str) -> str:
    """Delete a file."""
    deleted_paths.append(path)
    return f"deleted {path}"


@tool
def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


def delete_then_answer() -> list[Any]:
    return [
        [{"tool": "delete_file", "arguments": {"path": "notes.txt"}}],
        [{"tool": "final_answer", "arguments": {"answer": "done"}}],
    ]


def run_agent(tmp_path: Path, **options: Any) -> tuple[Agent, ScriptedModel, Any]:
    model = ScriptedModel(delete_then_answer())
    agent = Agent(model, tools=[delete_file, multiply], memory=tmp_path / "m.db", **options)
    return agent, model, agent.run("Delete notes.txt.")


# -- the runner ---------------------------------------------------------------------------------


def test_runner_refuses_a_dangerous_call_without_a_callback() -> None:
    outcome = asyncio.run(run_call(delete_file, {"path": "x"}))
    assert deleted_paths == []
    assert outcome.error is not None
    assert outcome.error.startswith("refused: tool 'delete_file' is marked dangerous")
    assert outcome.observation.startswith("Error: refused:")


@pytest.mark.parametrize("answer", [True, False])
def test_runner_follows_the_callback_and_shows_it_the_arguments(answer: bool) -> None:
    asked: list[tuple[str, dict[str, Any]]] = []

    def confirm(name: str, arguments: dict[str, Any]) -> bool:
        asked.append((name, arguments))
        return answer

    outcome = asyncio.run(run_call(delete_file, {"path": "x"}, confirm=confirm))
    assert asked == [("delete_file", {"path": "x"})]
    assert deleted_paths == (["x"] if answer else [])
    assert (outcome.error is None) is answer


def test_runner_accepts_an_async_callback() -> None:
    async def confirm(name: str, arguments: dict[str, Any]) -> bool:
        await asyncio.sleep(0)
        return True

    outcome = asyncio.run(run_call(delete_file, {"path": "y"}, confirm=confirm))
    assert outcome.error is None and deleted_paths == ["y"]


@pytest.mark.parametrize(
    "confirm",
    [
        pytest.param(lambda name, arguments: 1 / 0, id="raises"),
        pytest.param(lambda name, arguments: "yes", id="truthy-but-not-True"),
    ],
)
def test_runner_treats_a_broken_or_vague_callback_as_no(confirm: Any) -> None:
    outcome = asyncio.run(run_call(delete_file, {"path": "z"}, confirm=confirm))
    assert deleted_paths == [] and outcome.error is not None and "refused" in outcome.error


def test_invalid_arguments_are_reported_without_asking() -> None:
    asked: list[str] = []
    outcome = asyncio.run(
        run_call(delete_file, {"wrong": 1}, confirm=lambda n, a: asked.append(n) or True)
    )
    assert asked == [] and outcome.error is not None and "invalid arguments" in outcome.error


def test_safe_tools_never_ask() -> None:
    asked: list[str] = []
    outcome = asyncio.run(
        run_call(multiply, {"a": 2, "b": 3}, confirm=lambda n, a: asked.append(n) or False)
    )
    assert outcome.result == 6 and asked == []


# -- the agent ----------------------------------------------------------------------------------


def test_scripted_agent_run_refuses_and_the_model_reads_why(tmp_path: Path) -> None:
    _, model, result = run_agent(tmp_path)
    assert deleted_paths == []
    assert result.status == "completed"
    assert result.steps[0].tool == "delete_file"
    assert "marked dangerous and was not confirmed" in (result.steps[0].error or "")
    observation = model.calls[1][-1]["content"]
    assert "refused: tool 'delete_file' is marked dangerous" in observation


def test_agent_confirm_callback_allows_the_call(tmp_path: Path) -> None:
    asked: list[tuple[str, dict[str, Any]]] = []
    _, _, result = run_agent(tmp_path, confirm=lambda n, a: asked.append((n, a)) or True)
    assert asked == [("delete_file", {"path": "notes.txt"})]
    assert deleted_paths == ["notes.txt"] and result.steps[0].result == "deleted notes.txt"


def test_agent_confirm_callback_can_say_no(tmp_path: Path) -> None:
    _, _, result = run_agent(tmp_path, confirm=lambda n, a: False)
    assert deleted_paths == [] and "refused" in (result.steps[0].error or "")


# -- the command line ---------------------------------------------------------------------------


@pytest.fixture
def scripted_cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """`agentsmall run` on a scripted model, with a tools file holding a dangerous tool that
    leaves a trace in `deleted.log` when it runs."""
    monkeypatch.setattr(cli_run, "load_model", lambda *a, **k: ScriptedModel(delete_then_answer()))
    tools = tmp_path / "danger_tools.py"
    tools.write_text(
        "from pathlib import Path\n"
        "from agentsmall import tool\n\n"
        "@tool(dangerous=True)\n"
        "def delete_file(path: str) -> str:\n"
        '    """Delete a file."""\n'
        f"    with Path({str(tmp_path / 'deleted.log')!r}).open('a') as log:\n"
        "        log.write(path)\n"
        "    return 'deleted ' + path\n"
    )
    return tools


@pytest.mark.parametrize("allow", [False, True])
def test_cli_run_refuses_unless_allow_dangerous(
    scripted_cli: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], allow: bool
) -> None:
    argv = ["run", "Delete notes.txt.", "--tools", str(scripted_cli), "--json"]
    argv += ["--db", str(tmp_path / "cli.db")] + (["--allow-dangerous"] if allow else [])
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    step = report["steps"][0]
    trace = tmp_path / "deleted.log"
    if allow:
        assert trace.read_text() == "notes.txt" and step["error"] is None
    else:
        assert not trace.exists()
        assert step["error"].startswith("refused: tool 'delete_file' is marked dangerous")


def test_build_agent_wires_the_flag_to_allow_all(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(cli_run, "load_model", lambda *a, **k: ScriptedModel([]))
    base = dict(model=None, agent=None, tools=[], db=str(tmp_path / "b.db"), max_steps=None)
    assert cli_run.build_agent(argparse.Namespace(**base, allow_dangerous=True)).confirm is (
        allow_all
    )
    assert cli_run.build_agent(argparse.Namespace(**base, allow_dangerous=False)).confirm is None
