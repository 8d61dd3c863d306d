"""Long-term facts: short texts an agent keeps across sessions, found again by full-text search.

Ranking is FTS5's bm25 (how well the words match) weighted by recency: a fact remembered
``half_life_days`` ago counts half as much *extra* as one remembered now, never less than half
of its match score. So between two facts that match equally the recent one wins (the user's new
address beats the old one), while a recent fact that barely matches never beats an old one that
matches well.

Speed: bm25 is computed only for the facts that match a query word, and only the best
``_CANDIDATES`` of them are re-ranked with recency, which keeps recall in milliseconds with
100,000 facts.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, get_args

from sqlite_utils import Database

from agentsmall.errors import MemoryStoreError

__all__ = [
    "FACT_SCOPES",
    "MAX_FACT_CHARS",
    "Fact",
    "FactScope",
    "FactTooLargeError",
]

FactScope = Literal["global", "agent", "session"]
"""``global``: every agent sees it; ``agent``: agents of that name; ``session``: that session."""

FACT_SCOPES: Final[tuple[str, ...]] = get_args(FactScope)

MAX_FACT_CHARS: Final = 1000
"""Longest fact kept. Facts are injected into prompts of models with small context windows; a
long document belongs in a file the agent can read, not in memory."""

HALF_LIFE_DAYS: Final = 30.0
_CANDIDATES: Final = 64
_MAX_QUERY_TERMS: Final = 24
# A word in more facts than this (or 2% of them, if more) is "common": see match_expression.
_COMMON_MIN_FACTS: Final = 500
_WORD: Final = re.compile(r"\w+", re.UNICODE)
# Words that match nearly every fact: searching for them costs time and ranks nothing.
_STOPWORD_TEXT: Final = (
    "a an and are as at be by did do does for from had has have he her his how i in is it its "
    "me my of on or our she so that the their them they this to us was we were what when where "
    "which who why will with you your"
)
_STOPWORDS: Final = frozenset(_STOPWORD_TEXT.split())


class FactTooLargeError(MemoryStoreError):
    """A fact longer than :data:`MAX_FACT_CHARS` was refused (nothing was written)."""


@dataclass(frozen=True)
class Fact:
    """One remembered fact; ``score`` is set by :func:`recall` (higher is more relevant)."""

    id: int
    scope: str
    owner: str
    text: str
    created_at: float
    updated_at: float
    score: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "scope": self.scope,
            "owner": self.owner,
            "text": self.text,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "score": round(self.score, 4),
        }


def check_fact(text: str, scope: str, owner: str) -> str:
    """The fact text to store, or a clear error for one that must not be stored."""
    if scope not in FACT_SCOPES:
        raise ValueError(f"scope must be one of {', '.join(FACT_SCOPES)}, not {scope!r}")
    if scope != "global" and not owner:
        raise ValueError(f"a fact of scope {scope!r} needs its owner (the {scope} it belongs to)")
    cleaned = text.strip()
    if not cleaned:
        raise ValueError("a fact must not be empty")
    if len(cleaned) > MAX_FACT_CHARS:
        raise FactTooLargeError(
            f"The fact is too large: {len(cleaned)} characters, and a fact holds at most "
            f"{MAX_FACT_CHARS}. Nothing was stored; split it into shorter facts that each say "
            "one thing."
        )
    return cleaned


def digest(text: str) -> str:
    """Identity of a fact's text, ignoring case and spacing, so re-remembering refreshes it."""
    normal = " ".join(text.lower().split())
    return hashlib.sha256(normal.encode("utf-8")).hexdigest()[:24]


def insert(db: Database, text: str, scope: str, owner: str, now: float) -> int:
    """Store (or refresh) one checked fact inside the caller's transaction; return its id."""
    row = db.execute(
        """
        INSERT INTO facts (scope, owner, text, digest, created_at, updated_at)
        VALUES (?, ?, ?, ?, ?, ?)
        ON CONFLICT (scope, owner, digest) DO UPDATE SET
            text = excluded.text, updated_at = excluded.updated_at
        RETURNING id
        """,
        [scope, owner, text, digest(text), now, now],
    ).fetchone()
    return int(row[0])


def query_words(query: str) -> list[str]:
    """The words of a free-text query worth searching for, in order, without repeats."""
    found = [w for w in _WORD.findall(query.lower()) if len(w) > 1 or w.isdigit()]
    words = [w for w in dict.fromkeys(found) if w not in _STOPWORDS]
    # Only stopwords ("who is it?"): search them after all rather than find nothing.
    return (words or list(dict.fromkeys(found)))[:_MAX_QUERY_TERMS]


def _quoted(words: Sequence[str], operator: str) -> str:
    """Each word quoted, so nothing typed can be FTS5 syntax (a stray ``"`` or ``NEAR(``)."""
    return f" {operator} ".join('"' + w.replace('"', '""') + '"' for w in words)


def match_expression(db: Database, words: Sequence[str]) -> str | None:
    """The FTS5 MATCH expression to search ``words`` with, cheap even with 100,000 facts.

    Words are OR-ed, so a question ("what is my sister called?") finds a fact worded
    differently ("Bea is my sister"). But bm25 is computed for every fact that matches, and a
    word found in a large share of the facts ("user") would make that tens of thousands of
    facts while adding almost nothing to the ranking (its IDF is near zero). So each word's
    document count is probed (a probe stops counting at the threshold, so it is cheap) and
    common words are left out when rarer ones exist; a query of common words only is AND-ed.
    """
    if not words:
        return None
    total = int(db.execute("SELECT COALESCE(MAX(rowid), 0) FROM facts").fetchone()[0])
    common_at = max(_COMMON_MIN_FACTS, total // 50)
    rare, common = [], []
    for word in words:
        (count,) = db.execute(
            "SELECT COUNT(*) FROM (SELECT 1 FROM facts_fts WHERE facts_fts MATCH ? LIMIT ?)",
            [_quoted([word], "OR"), common_at + 1],
        ).fetchone()
        if count > common_at:
            common.append(word)
        elif count:
            rare.append(word)
    if rare:
        return _quoted(rare, "OR")
    if common:
        return _quoted(common, "AND")
    return None


def visible(agent: str | None, session_id: str | None) -> tuple[str, list[str]]:
    """SQL condition (on alias ``f``) and parameters for the facts visible to an agent/session."""
    clauses, params = ["f.scope = 'global'"], []
    if agent:
        clauses.append("(f.scope = 'agent' AND f.owner = ?)")
        params.append(agent)
    if session_id:
        clauses.append("(f.scope = 'session' AND f.owner = ?)")
        params.append(session_id)
    return "(" + " OR ".join(clauses) + ")", params


def recall(
    db: Database,
    query: str,
    *,
    agent: str | None,
    session_id: str | None,
    limit: int,
    now: float | None = None,
    half_life_days: float = HALF_LIFE_DAYS,
) -> list[Fact]:
    """The ``limit`` facts most relevant to ``query`` that the agent/session may see."""
    if limit < 1:
        return []
    expression = match_expression(db, query_words(query))
    if expression is None:
        return []
    where, params = visible(agent, session_id)
    rows = db.execute(
        f"""
        SELECT f.id, f.scope, f.owner, f.text, f.created_at, f.updated_at, bm25(facts_fts)
        FROM facts_fts JOIN facts f ON f.id = facts_fts.rowid
        WHERE facts_fts MATCH ? AND {where}
        ORDER BY bm25(facts_fts) LIMIT ?
        """,
        [expression, *params, max(_CANDIDATES, limit * 4)],
    ).fetchall()
    now = time.time() if now is None else now
    facts = [Fact(*row[:6], score=-row[6] * _recency(now - row[5], half_life_days)) for row in rows]
    facts.sort(key=lambda f: (-f.score, -f.updated_at, -f.id))
    return facts[:limit]


def _recency(age_seconds: float, half_life_days: float) -> float:
    """Weight in [0.5, 1]: 1 for a fact refreshed now, halfway to 0.5 after each half-life."""
    age_days = max(age_seconds, 0.0) / 86400.0
    return 0.5 + 0.5 * 0.5 ** (age_days / half_life_days)


def listing(
    db: Database, *, agent: str | None, session_id: str | None, limit: int | None
) -> list[Fact]:
    """Visible facts, most recently remembered first."""
    where, params = visible(agent, session_id)
    sql = (
        "SELECT f.id, f.scope, f.owner, f.text, f.created_at, f.updated_at FROM facts f "
        f"WHERE {where} ORDER BY f.updated_at DESC, f.id DESC"
    )
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return [Fact(*row) for row in db.execute(sql, params).fetchall()]


def delete(db: Database, fact_id: int, *, agent: str | None, session_id: str | None) -> bool:
    """Delete a visible fact; False when no visible fact has that id."""
    where, params = visible(agent, session_id)
    cursor = db.execute(f"DELETE FROM facts AS f WHERE f.id = ? AND {where}", [fact_id, *params])
    return cursor.rowcount > 0


def bulk_rows(
    texts: Iterable[str], scope: str, owner: str, now: float
) -> Sequence[tuple[Any, ...]]:
    """Rows for ``executemany`` of many checked facts (benchmarks, imports)."""
    rows = []
    for text in texts:
        cleaned = check_fact(text, scope, owner)
        rows.append((scope, owner, cleaned, digest(cleaned), now, now))
    return rows
