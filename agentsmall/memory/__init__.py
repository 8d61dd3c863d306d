"""Durable memory: every agent run recorded in SQLite as it happens.

A small local model can take minutes per run and the process can be killed at any point (Ctrl-C,
OOM killer, a closed laptop). Each session, run, message and step is therefore committed to disk
*before* the agent moves on, so a killed run loses at most the step that was in flight and a
later run can resume the session from what is on disk. The store is append-only: steps are
inserted one by one and never rewritten as snapshots, so a crash in the middle of a write can
only lose that write, never what was recorded before it.

The file is the user's data. A path that is not an agentsmall memory database (a directory, a
text file, some other program's SQLite file, a file from a newer agentsmall) is refused with a
:class:`MemoryStoreError` *before* anything is written, so pointing agentsmall at the wrong
file never damages it.

Modules: ``_store`` (the :class:`Memory` class), ``_schema`` (versions and migrations),
``_facts`` (long-term facts, FTS5), ``_retention`` (pruning), ``_active`` (the memory the
memory tools of the current run use), ``_compaction`` (keeping prompts inside the context
window).
"""

from agentsmall.memory._active import ActiveMemory, active_memory, using_memory
from agentsmall.memory._escalations import EscalationRecord
from agentsmall.memory._facts import (
    FACT_SCOPES,
    MAX_FACT_CHARS,
    Fact,
    FactScope,
    FactTooLargeError,
)
from agentsmall.memory._retention import PruneReport, Retention
from agentsmall.memory._schema import SCHEMA_VERSION
from agentsmall.memory._store import (
    DEFAULT_DB_ENV,
    RUN_STATUSES,
    Memory,
    RunStatus,
    StepRecord,
    default_db_path,
)

__all__ = [
    "DEFAULT_DB_ENV",
    "FACT_SCOPES",
    "MAX_FACT_CHARS",
    "RUN_STATUSES",
    "SCHEMA_VERSION",
    "ActiveMemory",
    "EscalationRecord",
    "Fact",
    "FactScope",
    "FactTooLargeError",
    "Memory",
    "PruneReport",
    "Retention",
    "RunStatus",
    "StepRecord",
    "active_memory",
    "default_db_path",
    "using_memory",
]
