"""`agentsmall eval bfcl|gsm8k`: accuracy measured for real, item by item.

Progress goes to stderr; the report goes to stdout (a table, or one JSON object with --json);
`--out FILE.jsonl` keeps every item's output and verdict for inspection.
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from agentsmall.errors import ConfigError
from agentsmall.evals import CATEGORIES, MODES, load_bfcl, load_gsm8k, run_bfcl, run_gsm8k_modes
from agentsmall.evals._bfcl import DEFAULT_MAX_TOKENS
from agentsmall.evals._gsm8k import GSM8K_MODES, Gsm8kStopped, check_gsm8k_mode
from agentsmall.models import LazyModel, load_model


def add_parser(commands: argparse._SubParsersAction) -> None:
    evaluate = commands.add_parser("eval", help="measure accuracy on BFCL or GSM8K")
    kinds = evaluate.add_subparsers(dest="kind", required=True, metavar="BENCHMARK")

    bfcl = kinds.add_parser("bfcl", help="tool calling: Berkeley Function Calling Leaderboard")
    bfcl.add_argument("--data", required=True, help="folder of the BFCL v4 files")
    bfcl.add_argument("--category", required=True, choices=CATEGORIES)
    bfcl.add_argument(
        "--mode",
        action="append",
        choices=MODES,
        help="agentsmall (default), raw or gbnf; repeat to compare modes in one run",
    )
    bfcl.add_argument(
        "--max-tokens", type=int, default=DEFAULT_MAX_TOKENS, help="tokens per step (256)"
    )
    bfcl.add_argument(
        "--offset",
        type=int,
        default=0,
        help="skip the first N items (to tune on items a report does not use)",
    )
    bfcl.add_argument(
        "--no-tool-gate",
        dest="tool_gate",
        action="store_false",
        help="agentsmall mode without the tool relevance gate (the model's own first choice)",
    )
    bfcl.add_argument(
        "--no-grounding",
        dest="ground_arguments",
        action="store_false",
        help="agentsmall mode keeps optional arguments the task does not mention, and calls"
        " whose required values nothing gave",
    )
    bfcl.add_argument(
        "--no-fan-out",
        dest="fan_out",
        action="store_false",
        help="agentsmall mode adds no calls for the other values of a list in the task",
    )
    _common(bfcl)
    bfcl.set_defaults(handler=eval_bfcl)

    gsm8k = kinds.add_parser("gsm8k", help="arithmetic word problems with the calculator agent")
    gsm8k.add_argument("--data", required=True, help="the GSM8K test.jsonl file")
    gsm8k.add_argument(
        "--mode",
        action="append",
        choices=GSM8K_MODES,
        help="planner (default) or escalate; repeat to compare modes in one run on the same items",
    )
    gsm8k.add_argument(
        "--interleave",
        action="store_true",
        help="run every mode on an item before the next item (fair under changing load; a run"
        " stopped by Ctrl-C or SIGTERM still reports the items every mode finished)",
    )
    gsm8k.add_argument(
        "--reasoner",
        help="escalate mode's reasoner, preset name or .gguf path, loaded at its first use"
        " (default: the planner model stands in)",
    )
    _common(gsm8k)
    gsm8k.set_defaults(handler=eval_gsm8k)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--limit", type=int, help="only the first N items")
    parser.add_argument("--model", help="preset name or .gguf path (default: smollm2-135m)")
    parser.add_argument("--threads", type=int, help="llama.cpp threads (default: the model's)")
    parser.add_argument("--out", help="write one JSON line per item (and mode) to this file")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")


@contextmanager
def _progress() -> Iterator[Progress]:
    from agentsmall.cli import err

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[status]}"),
    )
    with Progress(*columns, console=err, transient=True) as progress:
        yield progress


def _advancer(
    log: Callable[[dict[str, Any]], None], progress: Progress, task: TaskID, modes: list[str]
) -> Callable[[Any], None]:
    """The per-item callback of an evaluation: writes the item's line and moves the progress
    bar, whose status shows each mode's right answers so far ("agentsmall 12/20")."""
    scores = {mode: [0, 0] for mode in modes}

    def advance(result: Any) -> None:
        log(result.as_dict())
        score = scores[result.mode]
        score[0] += result.correct
        score[1] += 1
        status = "  ".join(f"{m} {c}/{t}" for m, (c, t) in scores.items() if t)
        progress.update(task, advance=1, status=status)

    return advance


def _load(args: argparse.Namespace) -> Any:
    from agentsmall.cli import err

    if args.threads is not None and args.threads < 1:
        raise ConfigError(f"--threads must be at least 1 (got {args.threads})")
    options = {} if args.threads is None else {"threads": args.threads}
    with err.status(f"loading model {args.model or 'smollm2-135m'} …"):
        return load_model(args.model, **options)


@contextmanager
def _item_log(path: str | None) -> Iterator[Callable[[dict[str, Any]], None]]:
    """A writer of per-item JSON lines, flushed one by one so a long run can be watched
    (and a killed one inspected); a no-op without --out."""
    if not path:
        yield lambda row: None
        return
    try:
        f = Path(path).open("w", encoding="utf-8")  # noqa: SIM115 - open for the whole run
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc}") from exc
    with f:

        def write(row: dict[str, Any]) -> None:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            f.flush()

        yield write


def _print_table(title: str, rows: dict[str, dict[str, Any]], keys: list[str]) -> None:
    table = Table(title=title)
    table.add_column("mode")
    for key in keys:
        table.add_column(key, justify="right")
    for mode, report in rows.items():
        table.add_row(mode, *(_cell(key, report.get(key)) for key in keys))
    Console().print(table)


_SHARES = ("accuracy", "valid_rate", "bfcl_rule_accuracy")


def _cell(key: str, value: object) -> str:
    """One table cell: shares as percentages, other floats to two places, missing as a dash."""
    if value is None:
        return "—"
    if key in _SHARES and isinstance(value, float | int):
        return f"{value:.1%}"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def eval_bfcl(args: argparse.Namespace) -> int:
    modes: list[str] = list(dict.fromkeys(args.mode or ["agentsmall"]))
    if args.max_tokens < 1:
        raise ConfigError(f"--max-tokens must be at least 1 (got {args.max_tokens})")
    if args.offset < 0:
        raise ConfigError(f"--offset must not be negative (got {args.offset})")
    if args.limit is not None and args.limit < 1:
        raise ConfigError(f"--limit must be at least 1 (got {args.limit})")
    end = None if args.limit is None else args.offset + args.limit
    items = load_bfcl(args.data, args.category, limit=end)[args.offset :]
    if not items:
        raise ConfigError(f"no {args.category} items after --offset {args.offset}")
    model = _load(args)
    with _item_log(args.out) as log, _progress() as progress:
        task = progress.add_task(f"bfcl {args.category}", total=len(items) * len(modes), status="")
        advance = _advancer(log, progress, task, modes)
        run = run_bfcl(
            model,
            items,
            modes=modes,
            max_tokens=args.max_tokens,
            on_result=advance,
            tool_gate=args.tool_gate,
            ground_arguments=args.ground_arguments,
            fan_out=args.fan_out,
        )
    if args.json:
        print(json.dumps(run.report, ensure_ascii=False))
        return 0
    keys = ["n", "accuracy", "valid_rate", "mean_seconds", "mean_cpu_seconds", "cut_off", "no_call"]
    if "bfcl_rule_accuracy" in run.report:
        keys.append("bfcl_rule_accuracy")
    _print_table(f"BFCL {args.category} · {model.name}", run.report["modes"], keys)
    return 0


def eval_gsm8k(args: argparse.Namespace) -> int:
    from agentsmall.cli import err

    modes: list[str] = list(dict.fromkeys(args.mode or ["planner"]))
    for mode in modes:
        check_gsm8k_mode(mode)  # before loading anything
    items = load_gsm8k(args.data, limit=args.limit)
    model = _load(args)
    reasoner = None
    if args.reasoner and "escalate" in modes:
        options = {} if args.threads is None else {"threads": args.threads}
        reasoner = LazyModel(args.reasoner, **options)  # loaded at the first escalation
    reports: dict[str, dict[str, Any]] = {}
    status = 0
    try:
        with _item_log(args.out) as log, _progress() as progress:
            task = progress.add_task("gsm8k", total=len(items) * len(modes), status="")
            advance = _advancer(log, progress, task, modes)

            def finished(mode: str, run: Any) -> None:
                # At once, on stderr: a long run stopped half way keeps its finished modes.
                reports[mode] = run.report
                progress.console.print(f"gsm8k {mode} done: {json.dumps(run.report)}")

            with _stop_on_sigterm():
                runs = run_gsm8k_modes(
                    model,
                    items,
                    modes=modes,
                    reasoner=reasoner,
                    on_result=advance,
                    on_mode=finished,
                    interleave=args.interleave,
                )
            for mode, run in runs.items():  # interleaved modes all finish at the end
                if mode not in reports:
                    finished(mode, run)
    except Gsm8kStopped as stopped:
        reports = {mode: run.report for mode, run in stopped.runs.items()}
        how = (
            f"the first {stopped.paired} items, which every mode finished"
            if stopped.paired
            else "each mode's own finished items (no item was finished by every mode)"
        )
        err.print(f"[yellow]stopped: the table covers {how}[/]")
        status = 130
    finally:
        if reasoner is not None:
            reasoner.close()
    if args.json:
        report = {"category": "gsm8k", "data": args.data, "n": len(items), "modes": reports}
        print(json.dumps(report, ensure_ascii=False))
        return status
    keys = ["n", "accuracy", "correct", "completed", "mean_seconds", "planner_steps", "valid_rate"]
    if "escalate" in modes:
        keys += [
            "escalations",
            "verified",
            "corrected",
            "nothing_to_check",
            "unchecked",
            "failed",
            "reasoner_right",
            "checked_answer_right",
            "reasoner_output_tokens",
        ]
    title = f"GSM8K · {Path(args.data).name} · planner {model.name}"
    if "escalate" in modes:
        title += f" · reasoner {reasoner.name if reasoner is not None else model.name}"
    order = "item by item" if args.interleave else "one after the other"
    err.print(f"[dim]same items, same process: {', '.join(modes)} {order}[/]")
    _print_side_by_side(title, reports, keys)
    return status


@contextmanager
def _stop_on_sigterm() -> Iterator[None]:
    """SIGTERM stops an evaluation like Ctrl-C, so a long run stopped from outside (`kill`;
    background jobs ignore SIGINT) still prints what it finished. The main thread only."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _print_side_by_side(title: str, rows: dict[str, dict[str, Any]], keys: list[str]) -> None:
    """One table, a column per mode and a row per figure: it stays readable at 80 columns
    however many escalation figures there are ("—" where a mode has no such figure)."""
    table = Table(title=title)
    table.add_column("")
    for mode in rows:
        table.add_column(mode, justify="right")
    for key in keys:
        table.add_row(key, *(_cell(key, report.get(key)) for report in rows.values()))
    Console().print(table)
