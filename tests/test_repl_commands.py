"""The REPL's slash-command parser: every mistake is a CommandError, never a traceback."""

from __future__ import annotations

import pytest

from agentsmall.cli._repl_commands import (
    COMMANDS,
    Command,
    CommandError,
    help_text,
    is_command,
    parse_command,
)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("/help", Command("help")),
        ("/", Command("help")),
        ("/?", Command("help")),
        ("  /TOOLS  ", Command("tools")),
        ("/model", Command("model")),
        ("/model gemma3-270m", Command("model", argument="gemma3-270m")),
        ("/session", Command("session")),
        ("/session list", Command("session", "list")),
        ("/session new", Command("session", "new")),
        ("/session new job-1", Command("session", "new", "job-1")),
        ("/session switch job-1", Command("session", "switch", "job-1")),
        ("/memory", Command("memory")),
        ("/memory recall sky colour", Command("memory", "recall", "sky colour")),
        ("/memory remember the sky is blue", Command("memory", "remember", "the sky is blue")),
        ("/memory forget 12", Command("memory", "forget", "12")),
        ("/history", Command("history")),
        ("/reset", Command("reset")),
        ("/exit", Command("exit")),
        ("/quit", Command("exit")),
        ("/q", Command("exit")),
    ],
)
def test_valid_commands(line: str, expected: Command) -> None:
    assert parse_command(line) == expected


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("/frobnicate", "unknown command /frobnicate"),
        ("/session switch", "needs an argument"),
        ("/session jump x", "unknown; use one of new, switch, list"),
        ("/session list all", "takes no argument"),
        ("/memory recall", "needs an argument"),
        ("/memory remember", "needs an argument"),
        ("/memory forget seven", "fact id, a number"),
        ("/memory dump", "unknown; use one of"),
        ("/tools all", "takes no arguments"),
        ("/exit now", "takes no arguments"),
        ("hello", "not a command"),
    ],
)
def test_mistakes_are_command_errors(line: str, message: str) -> None:
    with pytest.raises(CommandError, match=message):
        parse_command(line)


def test_a_double_slash_line_is_a_task() -> None:
    assert is_command("/help") and is_command("  /tools")
    assert not is_command("//etc/hosts: what is in it?")
    assert not is_command("what is 2 + 3?")


def test_help_lists_every_command() -> None:
    text = help_text()
    for usage, _ in COMMANDS.values():
        assert usage in text
