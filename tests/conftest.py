"""Shared fixtures, and the session-wide check that every constrained output validated.

Environment set for the whole session (and inherited by subprocesses):

* ``AGENTSMALL_DB``: a temporary file, so no test ever writes to the user's real memory.
* ``AGENTSMALL_CACHE_DIR``: a temporary directory for compiled constraints and vocabularies, so
  every session starts cold and never touches the user's cache.
* ``AGENTSMALL_VALIDATION_LOG``: a temporary JSON-lines file where `agentsmall._audit` records
  the verdict on every constrained output. At the end of the session the log is read back; a
  single invalid output fails the session, whatever the individual tests said.

Tests that feed the agent *scripted* outputs (which were never constrained, and some of which
are invalid on purpose) point ``AGENTSMALL_VALIDATION_LOG`` elsewhere for their duration, so
only outputs of real models under a real constraint are counted here.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentsmall._audit import VALIDATION_LOG_ENV
from agentsmall.decoding._cache import CACHE_DIR_ENV
from agentsmall.memory import DEFAULT_DB_ENV

_STATE: dict[str, Any] = {}


def pytest_configure(config: pytest.Config) -> None:
    # Set here rather than in a fixture so that it is in place before any test module (or a
    # subprocess a test starts) looks at the environment.
    directory = Path(tempfile.mkdtemp(prefix="agentsmall-tests-"))
    _STATE["dir"] = directory
    _STATE["log"] = directory / "validation.jsonl"
    _STATE["saved_env"] = {
        name: os.environ.get(name) for name in (DEFAULT_DB_ENV, VALIDATION_LOG_ENV, CACHE_DIR_ENV)
    }
    os.environ[DEFAULT_DB_ENV] = str(directory / "memory.db")
    os.environ[CACHE_DIR_ENV] = str(directory / "cache")
    os.environ[VALIDATION_LOG_ENV] = str(_STATE["log"])


def pytest_unconfigure(config: pytest.Config) -> None:
    for name, value in _STATE.get("saved_env", {}).items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    directory = _STATE.get("dir")
    if directory is not None:
        shutil.rmtree(directory, ignore_errors=True)


def _read_validation_log() -> list[dict[str, Any]]:
    path: Path | None = _STATE.get("log")
    if path is None or not path.exists():
        return []
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError:  # a torn line counts as a failure, never as a pass
            entries.append({"valid": False, "reason": f"unreadable log line: {line!r}"})
    return entries


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    entries = _read_validation_log()
    invalid = [e for e in entries if e.get("valid") is not True]
    _STATE["summary"] = (len(entries), len(entries) - len(invalid))
    if not invalid:
        return
    message = f"{len(invalid)} of {len(entries)} constrained outputs did not validate"
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    write = reporter.write_line if reporter is not None else print
    write("")
    write(f"FAILED: {message}:")
    for entry in invalid:
        write("  " + json.dumps(entry, ensure_ascii=False))
    _STATE["failure"] = message
    if session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    total, valid = _STATE.get("summary", (0, 0))
    share = f"{100 * valid / total:.0f}%" if total else "n/a"
    terminalreporter.write_line(f"constrained outputs: {total}, validated: {valid} ({share})")
    if "failure" in _STATE:
        terminalreporter.write_line(f"session failed: {_STATE['failure']}", red=True, bold=True)


@pytest.fixture(scope="session")
def embedded_model() -> Iterator[Any]:
    """The real embedded model (SmolLM2-135M-Instruct), loaded once for the whole session.

    One llama.cpp thread: on a small machine shared with other processes, a multi-threaded
    llama.cpp whose threads wait on each other slows down by orders of magnitude as soon as one
    of them is descheduled; one thread is nearly as fast for a 135M model and never stalls.
    """
    from agentsmall.models import load_model

    model = load_model(None, threads=1)
    yield model
    model.close()


@pytest.fixture
def closing() -> Iterator[list[Any]]:
    """Agents a test appends here have their memory closed when it ends, pass or fail."""
    agents: list[Any] = []
    yield agents
    for agent in agents:
        agent.memory.close()


@pytest.fixture
def validation_log() -> Path:
    """The session's validation log (the file `_audit` appends to)."""
    return Path(os.environ[VALIDATION_LOG_ENV])
