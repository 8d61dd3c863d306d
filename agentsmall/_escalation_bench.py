"""Planner-only vs escalate on the same GSM8K-format items, side by side in one run.

    python -m agentsmall._escalation_bench --data FILE.jsonl [--limit N] [--model M]
        [--reasoner R] [--threads T] [--json]

Both modes run the ready calculator agent through `agentsmall.evals.run_gsm8k` on the same
items and the same planner; escalate mode adds the reasoner (policy "always"). Besides accuracy
it reports what escalation cost and how often the calculator check verified or corrected the
reasoner, and how often the corrected (calculator) answer was the right one.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from agentsmall.evals import load_gsm8k, run_gsm8k, same_number
from agentsmall.models import LazyModel, load_model


def _escalation_figures(results: list[Any]) -> dict[str, Any]:
    escalations = [(r, e) for r in results for e in r.run.escalations]
    return {
        "escalations": len(escalations),
        "verified": sum(e.verified for _, e in escalations),
        "corrected": sum(e.check == "corrected" for _, e in escalations),
        "unchecked_or_failed": sum(e.check in ("unchecked", "failed") for _, e in escalations),
        "reasoner_right": sum(
            same_number(e.stated_answer, r.item.expected) for r, e in escalations
        ),
        "checked_answer_right": sum(same_number(e.answer, r.item.expected) for r, e in escalations),
        "reasoner_output_tokens": sum(e.output_tokens for _, e in escalations),
        "reasoner_seconds": round(sum(e.seconds for _, e in escalations), 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agentsmall._escalation_bench")
    parser.add_argument("--data", required=True)
    parser.add_argument("--limit", type=int)
    parser.add_argument("--model", help="planner (default smollm2-135m)")
    parser.add_argument("--reasoner", default="smollm2-135m")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    items = load_gsm8k(args.data, limit=args.limit)
    planner = load_model(args.model, threads=args.threads)
    reasoner = LazyModel(args.reasoner, threads=args.threads)
    report: dict[str, Any] = {"data": args.data, "n": len(items), "modes": {}}
    try:
        for mode in ("planner", "escalate"):
            run = run_gsm8k(planner, items, mode=mode, reasoner=reasoner)
            row = {k: run.report[k] for k in ("accuracy", "correct", "completed", "mean_seconds")}
            row["model"] = planner.name
            if mode == "escalate":
                row["reasoner"] = reasoner.name
                row.update(_escalation_figures(run.results))
            report["modes"][mode] = row
            # At once, so a long run stopped half way still leaves its first mode's figures.
            print(mode, json.dumps(row), file=sys.stderr, flush=True)
    finally:
        reasoner.close()
        planner.close()
    if args.json:
        print(json.dumps(report))
    else:
        for mode, row in report["modes"].items():
            print(mode, json.dumps(row))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
