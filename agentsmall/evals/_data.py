"""Reading BFCL and GSM8K files, from the shared benchmark folder or the shipped sample.

Both keep their upstream layout, so one loader serves the real benchmark (read by path, never
copied into the repository) and the small data set that ships in `agentsmall/evals/data/`:

    DIR/BFCL_v4_<category>.json                  questions, one JSON object per line
    DIR/possible_answer/BFCL_v4_<category>.json  ground truth, same ids (none for irrelevance)
    FILE.jsonl                                   GSM8K: {"question", "answer"} per line
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from agentsmall.errors import ConfigError

CATEGORIES = (
    "simple_python",
    "multiple",
    "parallel",
    "parallel_multiple",
    "irrelevance",
    "live_simple",
    "live_multiple",
    "live_irrelevance",
)
"""The BFCL v4 single-turn categories the harness evaluates."""


def is_irrelevance(category: str) -> bool:
    """Categories where the right answer is no call at all."""
    return "irrelevance" in category


def shipped_data() -> Path:
    """The folder of the evaluation sample that ships with agentsmall (BFCL layout + gsm8k)."""
    return Path(str(resources.files("agentsmall.evals").joinpath("data")))


@dataclass(frozen=True)
class BfclItem:
    id: str
    category: str
    messages: list[dict[str, str]]
    """The item's single turn: chat messages (system, user, sometimes assistant)."""
    functions: list[dict[str, Any]]
    """BFCL function docs, as in the file."""
    ground_truth: list[dict[str, Any]] | None
    """Expected calls with allowed values per parameter; None for irrelevance categories."""


def _json_lines(path: Path) -> Iterator[tuple[int, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{path}:{number} is not JSON: {exc}") from exc


def load_bfcl(data: str | Path, category: str, *, limit: int | None = None) -> list[BfclItem]:
    """The first `limit` items of a category (all when None), each joined with its answer."""
    if category not in CATEGORIES:
        raise ConfigError(f"unknown BFCL category {category!r}; known: {', '.join(CATEGORIES)}")
    if limit is not None and limit < 1:
        raise ConfigError(f"--limit must be at least 1 (got {limit})")
    folder = Path(data).expanduser()
    questions = folder / f"BFCL_v4_{category}.json"
    if not questions.is_file():
        raise ConfigError(
            f"no {questions.name} in {folder}: --data must be the folder holding the BFCL v4 "
            f"files (and their possible_answer/ folder)"
        )
    answers: dict[str, Any] = {}
    if not is_irrelevance(category):
        answer_file = folder / "possible_answer" / questions.name
        if not answer_file.is_file():
            raise ConfigError(f"no ground truth for {category}: {answer_file} is missing")
        answers = {row["id"]: row["ground_truth"] for _, row in _json_lines(answer_file)}
    items: list[BfclItem] = []
    for number, row in _json_lines(questions):
        if limit is not None and len(items) >= limit:
            break
        try:
            turns = row["question"]
            if len(turns) != 1:
                raise ConfigError(f"{questions}:{number}: only single-turn items are supported")
            truth = None if is_irrelevance(category) else answers[row["id"]]
            items.append(BfclItem(row["id"], category, list(turns[0]), row["function"], truth))
        except (KeyError, TypeError, IndexError) as exc:
            raise ConfigError(f"{questions}:{number}: not a BFCL item ({exc!r})") from exc
    return items


@dataclass(frozen=True)
class Gsm8kItem:
    index: int
    question: str
    answer: str
    """The worked solution; its last line is ``#### <number>``."""

    @property
    def expected(self) -> str:
        """The final number, commas removed."""
        return expected_number(self.answer)


def expected_number(answer: str) -> str:
    match = re.search(r"####\s*(.+?)\s*$", answer.strip())
    if match is None:
        raise ConfigError(f"a GSM8K answer without '#### <number>': {answer[-80:]!r}")
    return match.group(1).replace(",", "").strip()


def load_gsm8k(path: str | Path, *, limit: int | None = None) -> list[Gsm8kItem]:
    if limit is not None and limit < 1:
        raise ConfigError(f"--limit must be at least 1 (got {limit})")
    file = Path(path).expanduser()
    if file.is_dir():
        file = file / "test.jsonl"
    if not file.is_file():
        raise ConfigError(f"no GSM8K file at {path} (give the test.jsonl file)")
    items: list[Gsm8kItem] = []
    for number, row in _json_lines(file):
        if limit is not None and len(items) >= limit:
            break
        try:
            item = Gsm8kItem(len(items), row["question"], row["answer"])
            _ = item.expected
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"{file}:{number}: not a GSM8K item ({exc!r})") from exc
        items.append(item)
    return items
