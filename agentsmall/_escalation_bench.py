"""Planner-only vs escalate on the same GSM8K-format items, side by side in one run.

    python -m agentsmall._escalation_bench --data FILE.jsonl [--limit N] [--model M]
        [--reasoner R] [--threads T] [--out FILE.jsonl] [--json]

A shorthand for ``agentsmall eval gsm8k --mode planner --mode escalate --reasoner R
--threads T``: both modes run the ready calculator agent in this one process, on the same items
with the same planner model (loaded once), one mode after the other; escalate mode adds the
reasoner (policy "always"). Each mode's figures are printed to stderr as soon as it finishes;
the table at the end has both, with what escalation cost and how often the calculator check
verified, corrected or had nothing to check (see `agentsmall.evals.escalation_figures`).
"""

from __future__ import annotations

import argparse


def main(argv: list[str] | None = None) -> int:
    from agentsmall.cli import main as cli_main

    parser = argparse.ArgumentParser(prog="python -m agentsmall._escalation_bench")
    parser.add_argument("--data", required=True)
    parser.add_argument("--limit", type=int)
    parser.add_argument("--model", help="planner (default smollm2-135m)")
    parser.add_argument("--reasoner", default="smollm2-135m")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    forwarded = ["eval", "gsm8k", "--data", args.data, "--mode", "planner", "--mode", "escalate"]
    forwarded += ["--reasoner", args.reasoner, "--threads", str(args.threads)]
    for flag in ("limit", "model", "out"):
        if getattr(args, flag) is not None:
            forwarded += [f"--{flag}", str(getattr(args, flag))]
    return cli_main(forwarded + (["--json"] if args.json else []))


if __name__ == "__main__":
    raise SystemExit(main())
