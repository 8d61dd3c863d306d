"""`agentsmall bench memory`: what durable memory costs, measured on a real file.

* write latency per step: one ``add_step`` is one committed (fsync-ed) transaction, as in a run;
* bytes per step on disk at several sizes, to show the file grows linearly (no snapshots);
* recall latency with 100,000 facts (target: under 20 ms).

Everything happens in a temporary folder; the user's memory file is never touched.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.table import Table

from agentsmall.memory import Memory, StepRecord

RECALL_TARGET_MS = 20.0

_PEOPLE = [f"{a}{b}" for a in ("Al", "Be", "Ca", "Da", "El", "Fa", "Gi", "Ha") for b in "aeiou"]
_TOPICS = [
    "invoice",
    "meeting",
    "flight",
    "hotel",
    "password",
    "router",
    "printer",
    "garden",
    "recipe",
    "budget",
    "dentist",
    "project",
    "deadline",
    "contract",
    "birthday",
    "allergy",
    "subscription",
    "laptop",
    "insurance",
    "mortgage",
    "vaccine",
    "passport",
    "concert",
    "library",
    "marathon",
    "plumber",
]
_PLACES = [f"{w}ville" for w in ("North", "South", "East", "West", "Green", "Stone", "River")]


def add_parser(kinds: argparse._SubParsersAction) -> None:
    p = kinds.add_parser("memory", help="write latency, bytes per step, recall latency")
    p.add_argument("--steps", type=int, default=10_000, help="steps written (default 10000)")
    p.add_argument("--facts", type=int, default=100_000, help="facts stored (default 100000)")
    p.add_argument("--queries", type=int, default=200, help="recall queries timed (default 200)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(handler=bench_memory)


def _fact(rng: random.Random, i: int) -> str:
    """A plausible fact with a unique code word, so each one can be searched for exactly."""
    return (
        f"{rng.choice(_PEOPLE)} has a {rng.choice(_TOPICS)} in {rng.choice(_PLACES)} "
        f"with reference code k{i:06d} on day {rng.randint(1, 365)}"
    )


def _ms(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "median_ms": round(statistics.median(ordered) * 1000, 3),
        "p95_ms": round(ordered[int(len(ordered) * 0.95) - 1] * 1000, 3),
        "max_ms": round(ordered[-1] * 1000, 3),
    }


def _disk_bytes(path: Path) -> int:
    """The database and its WAL: what the file system really holds."""
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())


def bench_steps(folder: Path, steps: int) -> dict[str, Any]:
    path = folder / "steps.db"
    rng = random.Random(1)
    latencies: list[float] = []
    sizes: list[dict[str, int]] = []
    checkpoints = {steps // 10, steps // 4, steps // 2, steps}
    payload_bytes = 0
    with Memory(path) as memory:
        sid = memory.start_session(agent="bench", model="bench-model")
        rid = memory.start_run(session_id=sid, task="benchmark the memory")
        memory._live().execute("PRAGMA wal_checkpoint(TRUNCATE)")
        base = _disk_bytes(path)
        for n in range(1, steps + 1):
            a, b = rng.randint(1, 10**6), rng.randint(1, 10**6)
            raw = json.dumps([{"tool": "multiply", "arguments": {"a": a, "b": b}}])
            record = StepRecord(
                sid, rid, n, 0, "multiply", {"a": a, "b": b}, a * b, None, raw,
                "smollm2-135m", 400 + n % 50, 20, time.time(), 0.001,
            )  # fmt: skip
            payload_bytes += len(raw) + len(json.dumps(record.arguments)) + len(str(a * b))
            started = time.perf_counter()
            memory.add_step(record)
            latencies.append(time.perf_counter() - started)
            if n in checkpoints:
                memory._live().execute("PRAGMA wal_checkpoint(TRUNCATE)")
                size = _disk_bytes(path)
                sizes.append({"steps": n, "bytes": size, "bytes_per_step": (size - base) // n})
    return {
        "steps": steps,
        "write": _ms(latencies),
        "sizes": sizes,
        "file_bytes": sizes[-1]["bytes"],
        "bytes_per_step": sizes[-1]["bytes_per_step"],
        "payload_bytes_per_step": payload_bytes // steps,
    }


def bench_recall(folder: Path, facts: int, queries: int) -> dict[str, Any]:
    path = folder / "facts.db"
    rng = random.Random(2)
    texts = [_fact(rng, i) for i in range(facts)]
    with Memory(path) as memory:
        started = time.perf_counter()
        for start in range(0, facts, 10_000):
            memory.remember_many(texts[start : start + 10_000], scope="global")
        insert_seconds = time.perf_counter() - started
        latencies: list[float] = []
        hits = 0
        for _ in range(queries):
            i = rng.randrange(facts)
            words = texts[i].split()
            query = f"what {words[3]} does {words[0]} have, code {words[9]}?"
            t0 = time.perf_counter()
            found = memory.recall(query, agent="bench", session_id="s", limit=5)
            latencies.append(time.perf_counter() - t0)
            hits += bool(found) and found[0].text == texts[i]
        broad: list[float] = []
        for _ in range(max(queries // 4, 1)):
            query = f"{rng.choice(_PEOPLE)} {rng.choice(_TOPICS)} {rng.choice(_PLACES)}"
            t0 = time.perf_counter()
            memory.recall(query, agent="bench", session_id="s", limit=5)
            broad.append(time.perf_counter() - t0)
    return {
        "facts": facts,
        "insert_seconds": round(insert_seconds, 2),
        "queries": queries,
        "recall": _ms(latencies),
        "recall_broad": _ms(broad),
        "top1_accuracy": round(hits / queries, 4),
        "target_ms": RECALL_TARGET_MS,
        "meets_target": _ms(latencies)["p95_ms"] < RECALL_TARGET_MS,
        "file_bytes": _disk_bytes(path),
    }


def bench_memory(args: argparse.Namespace) -> int:
    from agentsmall.cli import err

    with tempfile.TemporaryDirectory(prefix="agentsmall-bench-") as tmp:
        with err.status(f"writing {args.steps} steps …"):
            steps = bench_steps(Path(tmp), max(args.steps, 10))
        with err.status(f"storing {args.facts} facts and recalling …"):
            recall = bench_recall(Path(tmp), max(args.facts, 10), max(args.queries, 1))
    report = {
        "kind": "memory",
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "steps": steps,
        "recall": recall,
    }
    if args.json:
        print(json.dumps(report))
        return 0
    table = Table(title="memory")
    table.add_column("measure")
    table.add_column("value", justify="right")
    w, r, b = steps["write"], recall["recall"], recall["recall_broad"]
    table.add_row("write per step (median / p95)", f"{w['median_ms']} / {w['p95_ms']} ms")
    for size in steps["sizes"]:
        table.add_row(
            f"file after {size['steps']} steps",
            f"{size['bytes']:,} B ({size['bytes_per_step']} B/step)",
        )
    table.add_row(
        f"recall, {recall['facts']:,} facts (median / p95)", f"{r['median_ms']} / {r['p95_ms']} ms"
    )
    table.add_row("recall, broad queries (median / p95)", f"{b['median_ms']} / {b['p95_ms']} ms")
    table.add_row("recall top-1 accuracy", f"{recall['top1_accuracy']:.1%}")
    err.print(table)
    return 0
