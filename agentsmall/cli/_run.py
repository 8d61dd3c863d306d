"""`agentsmall run TASK`: one agent run, its steps shown as they happen."""

from __future__ import annotations

import argparse
import json
from typing import Any

from rich.markup import escape
from rich.panel import Panel

from agentsmall import _audit
from agentsmall._agent_spec import load_agent_spec
from agentsmall._loader import load_tools
from agentsmall._native import TOOL_FORMATS
from agentsmall._runner import allow_all
from agentsmall._tool import Tool
from agentsmall.agent import Agent, Event
from agentsmall.errors import ConfigError
from agentsmall.models import load_model


def add_parser(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("run", help="run an agent on a task")
    p.add_argument("task", help="what the agent should do")
    add_agent_options(p)
    p.add_argument("--max-steps", type=int, help="step budget (default 6)")
    p.add_argument(
        "--reasoner",
        metavar="NAME|PATH",
        help="reasoning model for math sub-steps (preset or .gguf; loaded at first use)",
    )
    p.add_argument(
        "--escalation",
        choices=("auto", "never", "always"),
        help="when to escalate to the reasoner (default auto; needs --reasoner)",
    )
    p.add_argument(
        "--allow-dangerous",
        action="store_true",
        help="let tools marked dangerous run without asking (by default they are refused)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(handler=run_command)


def add_agent_options(p: argparse.ArgumentParser) -> None:
    """The options that say which agent to build (shared by `run` and `repl`)."""
    p.add_argument("--model", help="preset name or path to a .gguf file (default: smollm2-135m)")
    p.add_argument("--agent", help="a ready agent from agents/ (e.g. calculator)")
    p.add_argument(
        "--tools",
        action="append",
        default=[],
        metavar="MODULE",
        help="importable module or .py file whose @tool functions are offered (repeatable)",
    )
    p.add_argument("--db", help="SQLite memory file (default: under the user data directory)")
    p.add_argument(
        "--tool-format",
        choices=TOOL_FORMATS,
        help="how the planner writes tool calls: auto (the model's native format when it has"
        " one, else json), json, or a family (default auto)",
    )
    p.add_argument(
        "--thinking",
        choices=("on", "off"),
        help="a thinking model thinks freely before each step (default: the model's own;"
        " native formats only)",
    )
    p.add_argument(
        "--session",
        help="session id: continue that session (resuming its killed run of the same task), "
        "or start a new one under this id",
    )


def _format_arguments(arguments: dict[str, Any]) -> str:
    return ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in arguments.items())


def describe_gate(data: dict[str, Any]) -> str:
    """One line for a "tools_ranked" event: the best scores and what step 1 may do."""
    ranked = sorted(data["scores"].items(), key=lambda kv: -kv[1])[:4]
    scores = " · ".join(f"{name} {score:.1f}" for name, score in ranked)
    if not data["offered"]:
        verdict = "answer without a tool"
    elif data["must_call"]:
        verdict = f"must call {', '.join(data['offered'])}"
    else:
        verdict = f"may call {', '.join(data['offered'])} or answer"
    return f"tool relevance {scores} → {verdict}"


STEP_CHANGES = (
    "copies_repaired",
    "arguments_left_out",
    "percentages_as_fractions",
    "dates_formatted",
    "numbers_scaled",
    "repeats_dropped",
    "call_withheld",
    "arguments_repeated",
    "calls_added",
)
"""Events in which the agent changed what the model's step does (grounding, fan-out)."""


def describe_change(kind: str, data: dict[str, Any]) -> str:
    """One line for a `STEP_CHANGES` event."""
    if kind == "arguments_left_out":
        removed = data["arguments"] + [f"a call of {tool}" for tool in data["calls"]]
        return f"left out (not in the conversation): {', '.join(removed)}"
    if kind == "copies_repaired":
        return f"miscopied from the task, repaired: {', '.join(data['arguments'])}"
    if kind == "percentages_as_fractions":
        return f"percentages passed as fractions: {', '.join(data['arguments'])}"
    if kind == "numbers_scaled":
        return f"numbers passed as meant (millions, south/west): {', '.join(data['arguments'])}"
    if kind == "dates_formatted":
        return f"dates as the task and the tool write them: {', '.join(data['arguments'])}"
    if kind == "repeats_dropped":
        return f"list items repeated more than written, left out: {', '.join(data['arguments'])}"
    if kind == "call_withheld":
        held = data.get("held")
        then = "decoding it again held to the task's values" if held else "answering instead"
        return f"call withheld, nothing gave {', '.join(data['invented'])}: {then}"
    if kind == "arguments_repeated":
        then = "decoded again with the task's other values" if data["redone"] else "kept"
        return f"value repeated in {', '.join(data['arguments'])}: {then}"
    calls = ", ".join(f"{c['tool']}({_format_arguments(c['arguments'])})" for c in data["calls"])
    return f"added for the other values listed in the task: {calls}"


def _show(event: Event) -> None:
    from agentsmall.cli import err

    if event.kind == "run_started" and event.data.get("resumed"):
        err.print(
            f"[yellow]resuming run {event.data['run_id']} of session "
            f"{escape(event.data['session_id'])} at step {event.data['from_step']}[/]"
        )
    elif event.kind == "tools_ranked":
        err.print(f"[dim]{escape(describe_gate(event.data))}[/]")
    elif event.kind in STEP_CHANGES:
        err.print(f"[dim]step {event.step}: {escape(describe_change(event.kind, event.data))}[/]")
    elif event.kind == "tool_call":
        call = f"{event.data['tool']}({_format_arguments(event.data['arguments'])})"
        err.print(f"[cyan]step {event.step}[/] → {escape(call)}")
    elif event.kind == "tool_result":
        if event.data["error"]:
            err.print(f"         [red]✗ {escape(str(event.data['error']))}[/]")
        else:
            shown = json.dumps(event.data["result"], ensure_ascii=False)
            err.print(f"         ← {escape(shown[:300])}")
    elif event.kind == "step_error":
        err.print(f"[cyan]step {event.step}[/] [red]✗ {escape(event.data['error'])}[/]")
    elif event.kind == "escalation":
        data = event.data
        if data["verified"]:
            mark = "[green]✓ verified[/]"
        elif data.get("check") == "nothing to check":  # a bare number: no calculation to check
            mark = "[yellow]unverified (nothing to check)[/]"
        else:
            mark = "[yellow]unverified[/]"
        err.print(
            f"[cyan]step {event.step}[/] ⇢ escalated to {escape(data['model'])}: "
            f"{escape(str(data['answer']))} {mark} [dim]({data['output_tokens']} tokens, "
            f"{data['seconds']:.1f} s)[/]"
        )
        if data["note"]:
            err.print(f"         [dim]{escape(data['note'])}[/]")
    elif event.kind == "final_answer":
        err.print(f"[cyan]step {event.step}[/] → final_answer")


def build_agent(args: argparse.Namespace) -> Agent:
    """An Agent from the common CLI options (shared with other commands)."""
    from agentsmall.cli import err

    options: dict[str, Any] = load_agent_spec(args.agent).agent_kwargs() if args.agent else {}
    tools: list[Tool] = options.pop("tools", [])
    for module in args.tools:
        tools.extend(load_tools(module))
    if getattr(args, "max_steps", None) is not None:
        options["max_steps"] = args.max_steps
    if getattr(args, "allow_dangerous", False):
        options["confirm"] = allow_all
    with err.status(f"loading model {args.model or 'smollm2-135m'} …"):
        model = load_model(args.model)
    if getattr(args, "tool_format", None) is not None:
        options["tool_format"] = args.tool_format
    if getattr(args, "thinking", None) is not None:
        options["thinking"] = args.thinking == "on"
    reasoner, escalation = getattr(args, "reasoner", None), getattr(args, "escalation", None)
    if reasoner is not None:
        options["reasoner"] = reasoner
    if escalation is not None:
        options["escalation"] = escalation
    return Agent(model, tools=tools, memory=args.db, **options)


def run_command(args: argparse.Namespace) -> int:
    from agentsmall.cli import err

    if not args.task.strip():
        raise ConfigError("the task is empty: say what the agent should do")
    if args.max_steps is not None and args.max_steps < 1:
        raise ConfigError(f"--max-steps must be at least 1 (got {args.max_steps})")
    agent = build_agent(args)
    if not args.json:
        err.print(f"[bold]task:[/] {escape(args.task)}")
    result = agent.run(args.task, session_id=args.session, on_event=_show)
    tally = _audit.tally()
    if args.json:
        print(json.dumps(result.as_dict(), ensure_ascii=False))
        return 0 if result.status == "completed" else 1
    if result.status == "completed":
        err.print(Panel(escape(result.output or ""), title="answer", expand=False))
    else:
        why = result.error or f"no final answer within {agent.max_steps} steps"
        err.print(f"[yellow]stopped: {escape(why)}[/]")
    stats = result.stats
    err.print(
        f"[dim]session {result.session_id} · {stats['planner_steps']} planner steps, "
        f"{stats['output_tokens']} tokens in {stats['generation_seconds']:.1f} s · "
        f"constrained outputs validated: {tally.valid}/{tally.total} · "
        f"memory: {agent.memory.path}[/]"
    )
    if result.escalations:
        verified = sum(e.verified for e in result.escalations)
        bare = sum(e.check == "nothing to check" for e in result.escalations)
        err.print(
            f"[dim]escalations: {len(result.escalations)} ({verified} verified, "
            f"{bare} with nothing to check), "
            f"{sum(e.output_tokens for e in result.escalations)} reasoner tokens in "
            f"{sum(e.seconds for e in result.escalations):.1f} s[/]"
        )
    if result.output is not None:
        print(result.output)
    return 0 if result.status == "completed" else 1
