"""The real REPL on the real embedded model, driven through a pseudo-terminal with pexpect.

One session: a tool call, a refused dangerous call (answered "n"), Ctrl-C during a run, a
next task in the same session, Ctrl-D; then a new REPL resumes the session with --session and
shows its history. Every check reads the terminal or the memory file, never a clock.

Set AGENTSMALL_REPL_TRANSCRIPT=path to keep the first REPL's screen as plain text (the README
transcript comes from there).
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

from agentsmall.memory import Memory

pexpect = pytest.importorskip("pexpect")

TIMEOUT = 120  # the machine is shared: generous, and never an assertion about speed
SESSION = "pty-session"

TOOLS = '''
import time
from pathlib import Path
from agentsmall import tool

@tool
def multiply(a: int, b: int) -> int:
    """Multiply two integers.

    Args:
        a: the first factor
        b: the second factor
    """
    return a * b

@tool(dangerous=True)
def delete_file(path: str) -> str:
    """Delete a file from the disk.

    Args:
        path: the file to delete
    """
    Path(TRACE).write_text(path)
    return "deleted " + path

@tool(timeout=600)
def slow_wait(seconds: int) -> str:
    """Wait for a number of seconds.

    Args:
        seconds: how long to wait
    """
    time.sleep(seconds)
    return "waited"
'''

# The slow tool keeps the run busy if the model gets that far before the Ctrl-C arrives; it
# is sent as soon as the first step starts, so it usually lands inside the generation.
LONG_TASK = "Use the slow_wait tool to wait 300 seconds, then say done."

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]")


def loose(text: str) -> str:
    """A pattern for `text` as streamed: each token comes with its own colour codes."""
    return "".join(re.escape(c) + r"(?:\x1b\[[0-9;]*m)*" for c in text)


def screen_text(raw: str) -> str:
    """Plain text of what the terminal finally showed: escapes removed, redrawn lines
    (spinners) reduced to their last state."""
    lines = []
    for line in ANSI.sub("", raw).replace("\r\n", "\n").split("\n"):
        line = line.split("\r")[-1].rstrip()
        if not line or not "\u2800" <= line[0] <= "\u28ff":  # spinner frames
            lines.append(line)
    return "\n".join(lines)


def spawn(tmp_path: Path, *extra: str) -> pexpect.spawn:
    env = dict(
        os.environ,
        AGENTSMALL_DB=str(tmp_path / "memory.db"),
        AGENTSMALL_THREADS="1",
        XDG_DATA_HOME=str(tmp_path / "data"),
        TERM="xterm-256color",
        COLUMNS="88",
        LINES="40",
    )
    env.pop("NO_COLOR", None)
    child = pexpect.spawn(
        sys.executable,
        ["-m", "agentsmall.cli", "repl", "--tools", str(tmp_path / "pty_tools.py"), *extra],
        env=env,
        encoding="utf-8",
        timeout=TIMEOUT,
        dimensions=(40, 88),
    )
    child.logfile_read = (tmp_path / f"screen-{len(list(tmp_path.glob('screen-*')))}.txt").open(
        "w", encoding="utf-8"
    )
    return child


def prompt(child: pexpect.spawn) -> None:
    child.expect(f"session {SESSION}")
    child.expect_exact("> ")


def test_repl_session_tool_call_refusal_interrupt_and_resume(tmp_path: Path) -> None:
    trace = tmp_path / "deleted.txt"
    (tmp_path / "pty_tools.py").write_text(f"TRACE = {str(trace)!r}\n" + TOOLS)

    child = spawn(tmp_path, "--session", SESSION)
    child.expect("tools: multiply, delete_file \\(dangerous\\), slow_wait")
    prompt(child)

    child.sendline("/frobnicate")  # unknown command: help, not a traceback
    child.expect("unknown command /frobnicate")
    child.expect_exact("/session [new [ID]|switch ID|list]")
    prompt(child)

    # 1. a tool call, streamed, shown in panels, then the answer
    child.sendline("Use the multiply tool to compute 12 times 7.")
    child.expect(loose('[{"tool": "multiply"'))
    child.expect_exact("tool call · step 1")
    child.expect_exact("multiply(a=12, b=7)")
    child.expect_exact("multiply result")
    child.expect_exact("84")
    child.expect_exact("answer")
    child.expect(r"smollm2-135m · [0-9.]+ tok/s · \d+ steps")
    prompt(child)

    # 2. a dangerous call: the REPL asks, we say no, the model reads the refusal
    child.sendline("Delete the file notes.txt with the delete_file tool.")
    child.expect_exact("dangerous tool: allow?")
    # (which path the 135M model writes depends on decoding details; that it asks does not)
    child.expect(r'delete_file\(path="[^"\r\n]*notes[^"\r\n]*"\)')
    child.expect_exact("run it? [y/N] ")
    child.sendline("n")
    child.expect_exact("refused: tool 'delete_file' is marked dangerous and was not confirmed")
    prompt(child)
    assert not trace.exists()

    # 3. Ctrl-C while the run is busy: back to the prompt, the run recorded as interrupted
    child.sendline(LONG_TASK)
    child.expect_exact("step 1")
    child.sendintr()
    child.expect_exact("interrupted")
    prompt(child)

    # 4. the next input continues the same session
    child.sendline("Use the multiply tool to compute 6 times 7.")
    child.expect_exact("tool call · step 1")
    prompt(child)
    child.sendeof()  # Ctrl-D
    child.expect_exact(f"bye · session {SESSION} is saved")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    first_screen = screen_text((tmp_path / "screen-0.txt").read_text(encoding="utf-8"))

    memory = Memory(tmp_path / "memory.db")
    runs = memory.runs(SESSION)
    assert [r["status"] for r in runs] == ["completed", "completed", "interrupted", "completed"]
    assert runs[2]["task"] == LONG_TASK
    steps = memory.steps(SESSION)
    assert any(s["tool"] == "multiply" and s["result"] == 84 for s in steps)
    refused = [s for s in steps if s["tool"] == "delete_file"]
    assert refused and all("refused" in (s["error"] or "") for s in refused)
    assert not any(s["tool"] == "slow_wait" and s["result"] == "waited" for s in steps)
    memory.close()

    history = (tmp_path / "data" / "agentsmall" / "repl_history").read_text()
    assert "Use the multiply tool to compute 12 times 7." in history
    assert "/frobnicate" in history and "\nn\n" not in history  # y/n answers are not kept

    # 5. a new REPL resumes the session and shows its history
    child = spawn(tmp_path, "--session", SESSION)
    child.expect(loose(f"continuing session {SESSION}"))
    child.expect(loose("(completed) Use the multiply tool to compute 12 times 7."))
    child.expect_exact("multiply(a=12, b=7) → 84")
    child.expect(loose("(interrupted) Use the slow_wait tool"))
    prompt(child)
    child.sendline("/session list")
    child.expect(f"{SESSION} \\*\\s+4")
    prompt(child)
    child.sendline("/exit")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0

    keep = os.environ.get("AGENTSMALL_REPL_TRANSCRIPT")
    if keep:
        Path(keep).write_text(first_screen, encoding="utf-8")
