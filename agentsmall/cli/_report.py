"""Printing a benchmark report: one JSON object on stdout, or a table on stderr."""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from rich.table import Table


def print_report(
    report: dict[str, Any], *, title: str, as_json: bool, hidden: Collection[str] = ()
) -> None:
    """`--json`: the whole report on stdout. Otherwise a measure/value table on stderr, without
    the `hidden` keys (long lists that a table cannot show well)."""
    from agentsmall.cli import err

    if as_json:
        print(json.dumps(report))
        return
    table = Table(title=title)
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key, value in report.items():
        if key not in hidden:
            table.add_row(key, f"{value:.3f}" if isinstance(value, float) else str(value))
    err.print(table)
