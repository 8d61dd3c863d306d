"""`agentsmall sessions list | show ID | export ID | prune`: look into the memory file, tidy it.

Reading commands never create a memory file: a path with nothing there is an error, so a typo
in ``--db`` does not leave an empty database behind. Reports go to stdout (one JSON object with
``--json``), messages to stderr.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from agentsmall.errors import ConfigError
from agentsmall.memory import Memory, Retention, default_db_path

out = Console(highlight=False, soft_wrap=True)


def add_parser(commands: argparse._SubParsersAction) -> None:
    sessions = commands.add_parser("sessions", help="list, show, export and prune sessions")
    actions = sessions.add_subparsers(dest="action", required=True, metavar="ACTION")

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--db", help="SQLite memory file (default: under the user data directory)")
        p.add_argument("--json", action="store_true", help="print one JSON object on stdout")

    p = actions.add_parser("list", help="sessions, most recently used first")
    p.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    common(p)
    p.set_defaults(handler=list_command)

    p = actions.add_parser("show", help="one session: its runs and steps")
    p.add_argument("session_id", metavar="ID")
    common(p)
    p.set_defaults(handler=show_command)

    p = actions.add_parser("export", help="the full record of a session (messages included)")
    p.add_argument("session_id", metavar="ID")
    p.add_argument("--format", choices=["json", "markdown"], default="json")
    common(p)
    p.set_defaults(handler=export_command)

    p = actions.add_parser(
        "prune", help="delete old sessions (keep the last N and/or those used in the last D days)"
    )
    p.add_argument("--keep-sessions", type=int, metavar="N", help="keep the N used last")
    p.add_argument("--keep-days", type=float, metavar="D", help="keep those used in D days")
    p.add_argument("--dry-run", action="store_true", help="only say what would be deleted")
    p.add_argument(
        "--save", action="store_true", help="store the policy in the file: runs apply it too"
    )
    p.add_argument("--vacuum", action="store_true", help="then shrink the file on disk")
    common(p)
    p.set_defaults(handler=prune_command)


def _open(args: argparse.Namespace) -> Memory:
    path = Path(args.db).expanduser() if args.db else default_db_path()
    if not path.exists():
        raise ConfigError(f"there is no memory database at {path} (nothing has run there yet)")
    return Memory(path)


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    return dt.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")


def _print_json(value: Any) -> None:
    print(json.dumps(value, ensure_ascii=False))


def _record(memory: Memory, session_id: str, *, messages: bool) -> dict[str, Any]:
    session = memory.session(session_id)
    if session is None:
        raise ConfigError(f"no session {session_id!r} in {memory.path}")
    steps = memory.steps(session_id)
    runs = []
    for run in memory.runs(session_id):
        run = {**run, "steps": [s for s in steps if s["run_id"] == run["id"]]}
        runs.append(run)
    record: dict[str, Any] = {"session": session, "runs": runs}
    if messages:
        record["messages"] = memory.messages(session_id)
    return record


def list_command(args: argparse.Namespace) -> int:
    with _open(args) as memory:
        sessions = memory.sessions()[: max(args.limit, 0)]
        if args.json:
            _print_json({"db": str(memory.path), "sessions": sessions})
            return 0
        table = Table(title=f"sessions in {escape(str(memory.path))}")
        for column in ("id", "agent", "model", "runs", "steps", "last used"):
            table.add_column(column)
        for s in sessions:
            table.add_row(
                escape(s["id"]),
                escape(s["agent"]),
                escape(s["model"]),
                str(s["run_count"]),
                str(s["step_count"]),
                _when(s["last_used_at"]),
            )
        out.print(table)
    return 0


def show_command(args: argparse.Namespace) -> int:
    with _open(args) as memory:
        record = _record(memory, args.session_id, messages=False)
    if args.json:
        _print_json(record)
        return 0
    session = record["session"]
    out.print(
        f"[bold]session {escape(session['id'])}[/] · agent {escape(session['agent'])} · "
        f"model {escape(session['model'])} · last used {_when(session['last_used_at'])}"
    )
    for run in record["runs"]:
        out.print(
            f"\n[bold]run {run['id']}[/] [{run['status']}] {escape(run['task'])}"
            f"  ({_when(run['started_at'])})"
        )
        for step in run["steps"]:
            call = f"{step['tool']}({json.dumps(step['arguments'], ensure_ascii=False)})"
            outcome = (
                f"[red]✗ {escape(str(step['error']))}[/]"
                if step["error"]
                else "→ " + escape(json.dumps(step["result"], ensure_ascii=False)[:200])
            )
            out.print(f"  step {step['step']}.{step['call_index']}  {escape(call)} {outcome}")
        if run["output"] is not None:
            out.print(f"  [green]answer:[/] {escape(run['output'])}")
    return 0


def export_markdown(record: dict[str, Any]) -> str:
    """A session as a Markdown document a person can read or paste into an issue."""
    session = record["session"]
    lines = [
        f"# Session {session['id']}",
        "",
        f"- agent: {session['agent']}",
        f"- model: {session['model']}",
        f"- created: {_when(session['created_at'])}",
        f"- last used: {_when(session['last_used_at'])}",
    ]
    messages = record.get("messages", [])
    for run in record["runs"]:
        lines += ["", f"## Run {run['id']}: {run['task']}", "", f"status: {run['status']}"]
        if run["output"] is not None:
            lines.append(f"answer: {run['output']}")
        lines += ["", "| step | tool | arguments | result | error |", "|---|---|---|---|---|"]
        for s in run["steps"]:
            cells = [
                f"{s['step']}.{s['call_index']}",
                s["tool"] or "",
                json.dumps(s["arguments"], ensure_ascii=False) if s["arguments"] else "",
                json.dumps(s["result"], ensure_ascii=False) if s["result"] is not None else "",
                s["error"] or "",
            ]
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        chat = [m for m in messages if m["run_id"] == run["id"] and m["role"] != "system"]
        if chat:
            lines += ["", "### Messages", ""]
            for m in chat:
                lines += [f"**{m['role']}**:", "", "```", m["content"], "```", ""]
    return "\n".join(lines).rstrip() + "\n"


def export_command(args: argparse.Namespace) -> int:
    with _open(args) as memory:
        record = _record(memory, args.session_id, messages=True)
    if args.json or args.format == "json":
        _print_json(record)
    else:
        print(export_markdown(record), end="")
    return 0


def prune_command(args: argparse.Namespace) -> int:
    from agentsmall.cli import err

    try:
        given = Retention(keep_sessions=args.keep_sessions, keep_days=args.keep_days)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    with _open(args) as memory:
        if args.save:
            if not given.limited:
                raise ConfigError("--save needs --keep-sessions and/or --keep-days")
            memory.set_retention(given)
        policy = given if given.limited else memory.retention()
        if not policy.limited:
            raise ConfigError(
                "say what to keep: --keep-sessions N and/or --keep-days D "
                "(or store a policy once with --save)"
            )
        assert memory.path is not None
        size_before = memory.path.stat().st_size
        report = memory.prune(policy, dry_run=args.dry_run)
        if args.vacuum and not args.dry_run:
            memory.vacuum()
        size_after = memory.path.stat().st_size
    result = {
        **report.as_dict(),
        "policy": policy.as_dict(),
        "saved": bool(args.save),
        "bytes_before": size_before,
        "bytes_after": size_after,
    }
    if args.json:
        _print_json(result)
        return 0
    verb = "would delete" if args.dry_run else "deleted"
    err.print(
        f"{verb} {len(report.sessions)} sessions ({report.runs} runs, {report.steps} steps, "
        f"{report.messages} messages, {report.facts} session facts); "
        f"file {size_before:,} → {size_after:,} bytes"
    )
    return 0
