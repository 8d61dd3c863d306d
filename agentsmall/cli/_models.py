"""`agentsmall models list | info NAME | pull NAME`: the presets, and downloading them.

Tables and progress go to stderr; with --json stdout gets exactly one JSON object.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from typing import Any

from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from agentsmall.models._pull import cached_path, pull
from agentsmall.models._registry import PRESETS, ModelPreset, get_preset


def add_parser(commands: argparse._SubParsersAction) -> None:
    models = commands.add_parser("models", help="list, describe and download model presets")
    actions = models.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = actions.add_parser("list", help="every preset, and whether it is on disk")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(handler=list_command)
    p = actions.add_parser("info", help="everything known about one preset")
    p.add_argument("name", help="preset name (see `agentsmall models list`)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(handler=info_command)
    p = actions.add_parser("pull", help="download a preset's GGUF file (resumable, verified)")
    p.add_argument("name", help="preset name (see `agentsmall models list`)")
    p.add_argument("--endpoint", help="hub endpoint (default: $HF_ENDPOINT or huggingface.co)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(handler=pull_command)


def _size(n: int) -> str:
    return f"{n / 1e9:.2f} GB" if n >= 1e9 else f"{n / 1e6:.0f} MB"


def _describe(entry: ModelPreset) -> dict[str, Any]:
    preset = entry.preset
    data = asdict(preset)
    data["available"] = entry.is_available()
    data["path"] = None if preset.embedded else str(cached_path(preset))
    data["download_url"] = (
        f"https://huggingface.co/{preset.repo_id}/resolve/{preset.revision}/{preset.filename}"
        if preset.repo_id
        else None
    )
    return data


def list_command(args: argparse.Namespace) -> int:
    from agentsmall.cli import err

    rows = [_describe(entry) for entry in PRESETS.values()]
    if args.json:
        print(json.dumps({"models": rows}, ensure_ascii=False))
        return 0
    table = Table(title="model presets", title_justify="left")
    for column in ("name", "params", "size", "tool format", "thinking", "role", "status"):
        table.add_column(column, no_wrap=column in ("name", "status"))
    for row in rows:
        if row["embedded"]:
            status = "embedded" if row["available"] else "[yellow]package missing[/]"
        else:
            status = "[green]pulled[/]" if row["available"] else "not pulled"
        table.add_row(
            row["name"],
            escape(row["params"]),
            _size(row["size_bytes"]),
            row["tool_format"],
            row["thinking"],
            row["role"],
            status,
        )
    err.print(table)
    err.print(
        "[dim]details: agentsmall models info NAME · download: agentsmall models pull NAME[/]"
    )
    return 0


def info_command(args: argparse.Namespace) -> int:
    from agentsmall.cli import err

    data = _describe(get_preset(args.name))
    if args.json:
        print(json.dumps(data, ensure_ascii=False))
        return 0
    table = Table(show_header=False, title=data["name"], title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    for key, value in data.items():
        if key == "size_bytes":
            value = f"{_size(value)} (approximate)"
        table.add_row(key, escape("—" if value is None else str(value)))
    err.print(table)
    if data["license_acceptance"]:
        err.print(
            f"[yellow]{escape(data['license'])} must be accepted before use:"
            f" {escape(data['license_url'])}[/]"
        )
    return 0


def pull_command(args: argparse.Namespace) -> int:
    from agentsmall.cli import err

    entry = get_preset(args.name)
    preset = entry.preset
    if preset.license_acceptance and not args.json:
        err.print(f"[yellow]{escape(preset.license)} applies: {escape(preset.license_url)}[/]")
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    # The bar appears with the first byte, so an offline failure prints only its message.
    bar = Progress(*columns, console=err, transient=args.json)
    task = bar.add_task(preset.name, total=None)

    def advance(done: int, total: int | None) -> None:
        if not bar.live.is_started:
            bar.start()
        bar.update(task, completed=done, total=total)

    try:
        result = pull(preset, endpoint=args.endpoint, progress=advance)
    finally:
        bar.stop()
    report = {**asdict(result), "path": str(result.path)}
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
        return 0
    if result.verified == "cached":
        err.print(f"{preset.name} is already pulled: {escape(str(result.path))}")
    else:
        resumed = f", resumed at {_size(result.resumed_from)}" if result.resumed_from else ""
        err.print(
            f"[green]pulled {preset.name}[/] ({_size(result.size)}, verified by"
            f" {result.verified}{resumed}): {escape(str(result.path))}"
        )
    print(result.path)
    return 0
