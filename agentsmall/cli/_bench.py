"""`agentsmall bench KIND`: speed measured for real on this machine.

Each kind lives in its own module (`_bench_<kind>.py`) with an `add_parser(kinds)` function.
Figures in docs/BENCHMARKS.md come from these commands; nothing here is a timed test.
"""

from __future__ import annotations

import argparse

from agentsmall.cli import _bench_agent, _bench_decode, _bench_memory, _bench_texts

BENCH_KINDS = [_bench_agent, _bench_decode, _bench_memory, _bench_texts]


def add_parser(commands: argparse._SubParsersAction) -> None:
    bench = commands.add_parser("bench", help="measure speed on this machine")
    kinds = bench.add_subparsers(dest="kind", required=True, metavar="KIND")
    for module in BENCH_KINDS:
        module.add_parser(kinds)
