"""Slash commands of the REPL: parsing and checking, apart from doing (unit-testable alone).

A line that starts with "/" is a command; "//" starts a task that begins with "/" (a path,
say). Every mistake — an unknown command, a missing or extra argument — is a `CommandError`
whose message the REPL shows with the help, never a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["COMMANDS", "Command", "CommandError", "help_text", "is_command", "parse_command"]

#: name -> (usage, what it does); the order is the order of the help.
COMMANDS: dict[str, tuple[str, str]] = {
    "help": ("/help", "this help"),
    "tools": ("/tools", "the tools (dangerous ones ask first)"),
    "model": ("/model [NAME|PATH]", "show the model, or load another"),
    "session": ("/session [new [ID]|switch ID|list]", "this session, a new one, another"),
    "memory": ("/memory [recall Q|remember FACT|forget ID]", "long-term facts"),
    "history": ("/history", "this session's tasks, tool calls, answers"),
    "reset": ("/reset", "start a new session (the old one is kept)"),
    "exit": ("/exit", "leave (Ctrl-D too); everything is saved"),
}

_ALIASES = {"quit": "exit", "q": "exit", "?": "help", "h": "help"}

# command -> {action: argument requirement}; "" is the bare command.
_REQUIRED, _OPTIONAL, _NONE = "required", "optional", "none"
_ACTIONS: dict[str, dict[str, str]] = {
    "session": {"": _NONE, "new": _OPTIONAL, "switch": _REQUIRED, "list": _NONE},
    "memory": {"": _NONE, "list": _NONE, "recall": _REQUIRED, "remember": _REQUIRED,
               "forget": _REQUIRED},
}  # fmt: skip


class CommandError(ValueError):
    """A line that is not a valid command; the message says what is wrong."""


@dataclass(frozen=True)
class Command:
    """A checked command: `/memory remember the sky is blue` is
    ``Command("memory", "remember", "the sky is blue")``."""

    name: str
    action: str = ""
    argument: str = ""


def is_command(line: str) -> bool:
    """Whether the line is a slash command (a line starting with "//" is a task)."""
    text = line.lstrip()
    return text.startswith("/") and not text.startswith("//")


def parse_command(line: str) -> Command:
    """Parse and check one command line.

    Raises:
        CommandError: unknown command or action, missing or superfluous argument, a fact id
            that is not a number.
    """
    text = line.strip()
    if not text.startswith("/"):
        raise CommandError(f"not a command: {text!r} (commands start with /)")
    head, _, rest = text[1:].partition(" ")
    name = _ALIASES.get(head.lower(), head.lower())
    rest = rest.strip()
    if not name:
        return Command("help")
    if name not in COMMANDS:
        raise CommandError(f"unknown command /{head}")
    if name == "model":
        return Command("model", argument=rest)
    actions = _ACTIONS.get(name)
    if actions is None:
        if rest:
            raise CommandError(f"/{name} takes no arguments (got {rest!r})")
        return Command(name)
    word, _, argument = rest.partition(" ")
    action, argument = word.lower(), argument.strip()
    if action not in actions:
        choices = ", ".join(a for a in actions if a)
        raise CommandError(f"/{name} {word}: unknown; use one of {choices}")
    need = actions[action]
    if need == _REQUIRED and not argument:
        raise CommandError(f"usage: {COMMANDS[name][0]} ({name} {action} needs an argument)")
    if need == _NONE and argument:
        raise CommandError(f"/{name} {action}".rstrip() + f" takes no argument (got {argument!r})")
    if name == "memory" and action == "forget" and not argument.isdigit():
        raise CommandError(f"/memory forget takes a fact id, a number (got {argument!r})")
    return Command(name, action, argument)


def help_text() -> str:
    """The help, one line per command."""
    width = max(len(usage) for usage, _ in COMMANDS.values())
    lines = [f"  {usage:<{width}}  {what}" for usage, what in COMMANDS.values()]
    lines.append("  anything else is a task; Ctrl-C stops a run, Ctrl-D leaves")
    return "\n".join(lines)
