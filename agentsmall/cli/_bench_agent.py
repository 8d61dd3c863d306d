"""`agentsmall bench agent`: seconds per agent step and tokens per second, measured for real."""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

from agentsmall import _audit
from agentsmall._agent_spec import load_agent_spec
from agentsmall.agent import Agent
from agentsmall.cli._report import print_report
from agentsmall.models import load_model

AGENT_TASKS = (  # (task, the number a right answer contains)
    ("What is 23 times 19?", "437"),
    ("Add 345 and 678.", "1023"),
    ("What is 1000 divided by 8?", "125"),
    ("Subtract 57 from 200.", "143"),
    ("Use the multiply tool to compute 12 times 7.", "84"),
)


def add_parser(kinds: argparse._SubParsersAction) -> None:
    agent = kinds.add_parser("agent", help="seconds per agent step on the calculator agent")
    agent.add_argument("--model", help="preset name or .gguf path (default: smollm2-135m)")
    agent.add_argument("--repeat", type=int, default=2, help="runs of the task set (default 2)")
    agent.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    agent.set_defaults(handler=bench_agent)


def bench_agent(args: argparse.Namespace) -> int:
    from agentsmall.cli import err

    spec = load_agent_spec("calculator")
    load_started = time.perf_counter()
    with err.status("loading model …"):
        model = load_model(args.model)
    load_seconds = time.perf_counter() - load_started
    with tempfile.TemporaryDirectory() as tmp:
        agent = Agent(model, memory=Path(tmp) / "bench.db", **spec.agent_kwargs())
        rows = []
        for round_ in range(args.repeat):
            for task, expected in AGENT_TASKS:
                started = time.perf_counter()
                result = agent.run(task)
                wall = time.perf_counter() - started
                rows.append(
                    {
                        "round": round_ + 1,
                        "task": task,
                        "status": result.status,
                        "output": result.output,
                        "correct": expected in (result.output or ""),
                        "seconds": wall,
                        **result.stats,
                    }
                )
                err.print(f"[dim]{round_ + 1}: {task} → {result.output!r} ({wall:.2f} s)[/]")
        agent.memory.close()
    planner_steps = sum(r["planner_steps"] for r in rows)
    gen_seconds = sum(r["generation_seconds"] for r in rows)
    tally = _audit.tally()
    report = {
        "model": model.name,
        "runs": len(rows),
        "completed": sum(r["status"] == "completed" for r in rows),
        "correct": sum(r["correct"] for r in rows),
        "planner_steps": planner_steps,
        "mean_seconds_per_step": sum(r["seconds"] for r in rows) / planner_steps,
        "mean_seconds_per_run": sum(r["seconds"] for r in rows) / len(rows),
        "decode_tok_s": sum(r["output_tokens"] for r in rows)
        / (gen_seconds - sum(r["prompt_seconds"] for r in rows)),
        "prompt_tok_s": sum(r["prompt_tokens_evaluated"] for r in rows)
        / sum(r["prompt_seconds"] for r in rows),
        "forced_share": sum(r["forced_tokens"] for r in rows)
        / max(1, sum(r["output_tokens"] for r in rows)),
        "prompt_tokens": sum(r["prompt_tokens"] for r in rows),
        "prompt_tokens_evaluated": sum(r["prompt_tokens_evaluated"] for r in rows),
        "model_load_seconds": load_seconds,
        "constrained_outputs": tally.total,
        "validated": tally.valid,
        "threads": os.cpu_count(),
        "machine": platform.machine(),
    }
    print_report(report, title=f"agent benchmark: {model.name}", as_json=args.json)
    return 0
