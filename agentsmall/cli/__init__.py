"""The `agentsmall` command. Reports go to stdout (one JSON object with --json); progress,
steps and errors go to stderr through rich, so stdout stays machine-readable."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from rich.console import Console

from agentsmall.errors import AgentsmallError

err = Console(stderr=True, highlight=False)


def _parser() -> argparse.ArgumentParser:
    # Each command lives in its own module with an `add_parser(commands)` function.
    from agentsmall.cli import _bench, _eval, _models, _repl, _run, _sessions

    parser = argparse.ArgumentParser(
        prog="agentsmall", description="Tool-using agents on small local models."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (_run, _repl, _bench, _models, _eval, _sessions):
        module.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except AgentsmallError as exc:
        err.print(f"[bold red]error:[/] {exc}")
        return 2
    except KeyboardInterrupt:
        err.print("[yellow]interrupted[/]")
        return 130


if __name__ == "__main__":
    sys.exit(main())
