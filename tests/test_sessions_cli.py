"""`agentsmall sessions list | show | export | prune`, on a real memory file."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest

from agentsmall.cli import main
from agentsmall.memory import Memory, StepRecord


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "m.db"
    with Memory(path) as mem:
        for n in range(3):
            sid = mem.start_session(session_id=f"s{n}", agent="calc", model="tiny")
            rid = mem.start_run(session_id=sid, task=f"multiply {n} by 7")
            mem.add_message(session_id=sid, run_id=rid, role="user", content=f"multiply {n} by 7")
            mem.add_step(StepRecord(sid, rid, 1, 0, "multiply", {"a": n, "b": 7}, n * 7, None,
                                    "[]", "tiny", 10, 5, time.time(), 0.1))  # fmt: skip
            mem.finish_run(rid, status="completed", output=str(n * 7))
            time.sleep(0.002)
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_list_json(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "sessions", "list", "--db", str(db), "--json")
    assert code == 0
    data = json.loads(out)
    assert [s["id"] for s in data["sessions"]] == ["s2", "s1", "s0"]
    assert data["sessions"][0]["step_count"] == 1


def test_list_human(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "sessions", "list", "--db", str(db))
    assert code == 0 and "s1" in out and "calc" in out


def test_show(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "sessions", "show", "s1", "--db", str(db), "--json")
    data = json.loads(out)
    assert code == 0 and data["session"]["id"] == "s1"
    [r] = data["runs"]
    assert (r["task"], r["output"]) == ("multiply 1 by 7", "7")
    assert [(s["tool"], s["arguments"], s["result"]) for s in r["steps"]] == [
        ("multiply", {"a": 1, "b": 7}, 7)
    ]
    code, out, _ = run(capsys, "sessions", "show", "s1", "--db", str(db))
    assert code == 0 and 'multiply({"a": 1, "b": 7})' in out


def test_export_json_and_markdown(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "sessions", "export", "s0", "--db", str(db), "--format", "json")
    data = json.loads(out)
    assert code == 0 and data["messages"][0]["content"] == "multiply 0 by 7"
    code, out, _ = run(capsys, "sessions", "export", "s0", "--db", str(db), "--format", "markdown")
    assert code == 0
    assert out.startswith("# Session s0")
    assert '| 1.0 | multiply | {"a": 0, "b": 7} | 0 |  |' in out


def test_prune(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["sessions", "prune", "--db", str(db), "--keep-sessions", "1", "--json"]
    code, out, _ = run(capsys, *args, "--dry-run")
    assert json.loads(out)["deleted_sessions"] == ["s0", "s1"]
    code, out, _ = run(capsys, *args, "--save", "--vacuum")
    data = json.loads(out)
    assert code == 0 and data["deleted_sessions"] == ["s0", "s1"] and data["steps"] == 2
    assert data["saved"] is True and data["policy"] == {"keep_sessions": 1, "keep_days": None}
    with Memory(db) as mem:
        assert [s["id"] for s in mem.sessions()] == ["s2"]
        assert mem.retention().keep_sessions == 1
    # The stored policy applies without options.
    code, out, _ = run(capsys, "sessions", "prune", "--db", str(db), "--json")
    assert code == 0 and json.loads(out)["deleted_sessions"] == []


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["sessions", "show", "nope"], "no session 'nope'"),
        (["sessions", "export", "nope"], "no session 'nope'"),
        (["sessions", "prune"], "say what to keep"),
        (["sessions", "prune", "--keep-sessions", "0"], "keep_sessions must be at least 1"),
    ],
)
def test_bad_input(
    db: Path, capsys: pytest.CaptureFixture[str], args: list[str], needle: str
) -> None:
    code, out, err = run(capsys, *args, "--db", str(db))
    assert code == 2 and out == "" and "Traceback" not in err
    assert needle in " ".join(err.split())


def test_missing_file_is_not_created(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "none.db"
    code, _out, err = run(capsys, "sessions", "list", "--db", str(missing))
    assert code == 2 and "no memory database" in err
    assert not missing.exists()


@pytest.mark.parametrize("kind", ["text", "newer"])
def test_unreadable_files_get_a_clear_error_and_stay_untouched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    path = tmp_path / "x.db"
    if kind == "text":
        path.write_text("not a database\n" * 100)
    else:
        raw = sqlite3.connect(path)
        raw.execute("PRAGMA user_version = 99")
        raw.close()
    before = path.read_bytes()
    code, out, err = run(capsys, "sessions", "list", "--db", str(path), "--json")
    assert code == 2 and out == ""
    expected = "not an agentsmall memory" if kind == "text" else "newer agentsmall"
    assert expected in " ".join(err.split())
    assert path.read_bytes() == before
