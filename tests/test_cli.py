"""The `agentsmall` command: bad input gets a one-line error (exit 2), a real run its JSON."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from agentsmall.cli import main

REPO = Path(__file__).resolve().parent.parent


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentsmall.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
        cwd=REPO,
    )


def assert_clean_error(capsys: pytest.CaptureFixture[str], code: int, *needles: str) -> None:
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    assert "Traceback" not in captured.err
    assert "error:" in captured.err
    for needle in needles:
        assert needle in captured.err, captured.err


def test_empty_task(capsys: pytest.CaptureFixture[str]) -> None:
    assert_clean_error(capsys, main(["run", "   "]), "task is empty")


def test_max_steps_zero(capsys: pytest.CaptureFixture[str]) -> None:
    assert_clean_error(capsys, main(["run", "hello", "--max-steps", "0"]), "--max-steps")


def test_missing_model_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "nope.gguf"
    assert_clean_error(capsys, main(["run", "hi", "--model", str(missing)]), "not found")


def test_unknown_model_name(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "hi", "--model", "llama-9000"])
    assert_clean_error(capsys, code, "unknown model 'llama-9000'", "smollm2-135m")


def test_file_that_is_not_gguf(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    fake = tmp_path / "model.gguf"
    fake.write_bytes(b"<html>not a model</html>")
    assert_clean_error(capsys, main(["run", "hi", "--model", str(fake)]), "not a GGUF")


def test_corrupt_gguf(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.gguf"
    corrupt.write_bytes(b"GGUF" + os.urandom(4096))
    assert_clean_error(capsys, main(["run", "hi", "--model", str(corrupt)]), "cannot load")


def test_truncated_gguf(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from agentsmall.models import resolve_model_path

    _, real = resolve_model_path(None)
    truncated = tmp_path / "truncated.gguf"
    with real.open("rb") as src:
        truncated.write_bytes(src.read(2_000_000))
    assert_clean_error(capsys, main(["run", "hi", "--model", str(truncated)]), "cannot load")


def test_tools_file_that_does_not_import(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("from agentsmall import tool\n\n@tool\ndef f(x: int) -> int\n    return x\n")
    assert_clean_error(capsys, main(["run", "hi", "--tools", str(broken)]), "broken.py")


def test_tools_module_with_no_tools(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    empty = tmp_path / "empty_tools.py"
    empty.write_text("def helper(x):\n    return x\n")
    assert_clean_error(capsys, main(["run", "hi", "--tools", str(empty)]), "no @tool")


def test_unknown_tools_module(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "hi", "--tools", "no_such_module_xyz"])
    assert_clean_error(capsys, code, "no_such_module_xyz")


def test_unknown_agent(capsys: pytest.CaptureFixture[str]) -> None:
    assert_clean_error(capsys, main(["run", "hi", "--agent", "nobody"]), "calculator")


def test_run_json_end_to_end(tmp_path: Path) -> None:
    """The acceptance run: one-tool file, real model, a separate process, then the SQLite file."""
    db = tmp_path / "run.db"
    proc = run_cli(
        "run", "Use the multiply tool to compute 12 times 7.",
        "--tools", str(REPO / "examples" / "multiply_tool.py"), "--db", str(db), "--json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)  # stdout is exactly one JSON object
    assert set(report) >= {"session_id", "output", "steps", "escalations"}
    assert "84" in report["output"]
    first = report["steps"][0]
    assert set(first) >= {"tool", "arguments", "result", "error"}
    assert first["tool"] == "multiply"
    assert first["arguments"] == {"a": 12, "b": 7}
    assert all(type(v) is int for v in first["arguments"].values())
    assert first["result"] == 84 and first["error"] is None
    with sqlite3.connect(db) as conn:
        run = conn.execute(
            "select status, output from runs where session_id = ?", (report["session_id"],)
        ).fetchone()
        steps = conn.execute(
            "select tool, arguments from steps where session_id = ?", (report["session_id"],)
        ).fetchall()
    assert run == ("completed", report["output"])
    assert [(tool, json.loads(args)) for tool, args in steps] == [("multiply", {"a": 12, "b": 7})]


def test_demo_agent_reaches_an_answer(tmp_path: Path) -> None:
    """What `make demo` runs: the calculator agent, shown step by step, ends with an answer."""
    proc = run_cli(
        "run", "--agent", "calculator", "What is 23 times 19?", "--db", str(tmp_path / "d.db")
    )
    assert proc.returncode == 0, proc.stderr
    assert "step 1" in proc.stderr
    assert proc.stdout.strip() == "437"


def test_bench_texts_decodes_each_first_step_three_ways(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """On the real embedded model, over the evaluation items that ship with the package."""
    from agentsmall.evals import shipped_data

    code = main(["bench", "texts", "--data", str(shipped_data()), "--limit", "2", "--json"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["items"] == 2 and report["category"] == "simple_python"
    for key in ("texts_differ_share", "actions_differ_share", "drafts_vs_fast_forward_share"):
        assert 0.0 <= report[key] <= 1.0
    assert set(report["actions_differ"]) <= set(report["texts_differ"])
