"""`agentsmall bench texts`: do fast-forward and drafts change what the model says?

`bench decode` compares texts on its ten short tasks, too few to tell 1% from 10%. This runs
the agent's first step of many BFCL items (what `agentsmall eval bfcl` decodes, tool gate and
task shaping included) three ways, greedy: step by step (every token chosen from the whole
mask, one per llama.cpp call: the reference), fast-forward (forced tokens evaluated in the same
call as the next), and fast-forward with drafts (the default). It reports how often each pair
of texts differs, and how often the parsed action differs (a text that only repeats a call,
which the parser drops, is the same action). Why texts can differ at all: a forced string may
be tokenized otherwise than the constraint's mask allows it (the outlines backend allows every
split), and without exact batches (`LlamaCppModel.exact_batches`) a batch's logits round
differently from single-token calls, which tips near ties.
"""

from __future__ import annotations

import argparse
from typing import Any

from agentsmall.cli._report import print_report
from agentsmall.errors import DecodingError
from agentsmall.memory import Memory
from agentsmall.models import load_model
from agentsmall.models._llamacpp import LlamaCppModel

MODES = {
    "step_by_step": {"fast_forward": False, "speculate": False},
    "fast_forward": {"fast_forward": True, "speculate": False},
    "drafts": {"fast_forward": True, "speculate": True},
}


def add_parser(kinds: argparse._SubParsersAction) -> None:
    p = kinds.add_parser("texts", help="texts with and without fast-forward and drafts (BFCL)")
    p.add_argument("--data", required=True, help="directory of BFCL v4 files")
    p.add_argument("--category", default="simple_python", help="BFCL category (simple_python)")
    p.add_argument("--offset", type=int, default=0, help="items to skip first (default 0)")
    p.add_argument("--limit", type=int, default=100, help="items to decode (default 100)")
    p.add_argument("--model", help="preset name or .gguf path (default: smollm2-135m)")
    p.add_argument("--max-tokens", type=int, default=256, help="tokens per step (default 256)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(handler=bench_texts)


def bench_texts(args: argparse.Namespace) -> int:
    from agentsmall.cli import err
    from agentsmall.evals._bfcl import _prepare
    from agentsmall.evals._data import load_bfcl

    with err.status("loading model …"):
        model = load_model(args.model)
    if not isinstance(model, LlamaCppModel):  # pragma: no cover - only llama.cpp models load
        raise TypeError("bench texts needs a llama.cpp model")
    items = load_bfcl(args.data, args.category, limit=args.offset + args.limit)[args.offset :]
    memory = Memory(":memory:")
    differ = {"fast_forward_vs_step_by_step": [], "drafts_vs_fast_forward": []}
    default_vs_step: list[str] = []
    actions_differ: list[str] = []
    try:
        with err.status(f"decoding {len(items)} first steps three ways …") as status:
            for done, item in enumerate(items):
                status.update(f"decoding {len(items)} first steps three ways … {done}")
                p = _prepare(model, item, memory, args.max_tokens)
                prompt = model.tokenize_prompt(p.messages)
                compiled = model._compile(p.constraint)
                texts = {
                    mode: model._decoder.generate(
                        prompt,
                        constraint=compiled,
                        max_tokens=args.max_tokens,
                        close_list_on_repeat=True,
                        close_list_within_budget=True,
                        **options,
                    ).text
                    for mode, options in MODES.items()
                }
                if texts["fast_forward"] != texts["step_by_step"]:
                    differ["fast_forward_vs_step_by_step"].append(item.id)
                if texts["drafts"] != texts["fast_forward"]:
                    differ["drafts_vs_fast_forward"].append(item.id)
                if texts["drafts"] != texts["step_by_step"]:
                    default_vs_step.append(item.id)
                    if _action(p.space, texts["drafts"]) != _action(p.space, texts["step_by_step"]):
                        actions_differ.append(item.id)
    finally:
        memory.close()
    n = len(items)
    report: dict[str, Any] = {
        "model": model.name,
        "category": args.category,
        "items": n,
        "offset": args.offset,
        "exact_batches": model.exact_batches,
        "texts_differ_share": len(default_vs_step) / n,
        "actions_differ_share": len(actions_differ) / n,
        **{f"{pair}_share": len(ids) / n for pair, ids in differ.items()},
        "texts_differ": default_vs_step,
        "actions_differ": actions_differ,
    }
    print_report(
        report,
        title=f"texts with and without fast-forward and drafts: {model.name}",
        as_json=args.json,
        hidden={"texts_differ", "actions_differ"},
    )
    return 0


def _action(space: Any, text: str) -> Any:
    try:
        action = space.parse(text)
    except DecodingError as exc:
        return ("invalid", str(exc))
    return (action.calls, action.final_answer)
