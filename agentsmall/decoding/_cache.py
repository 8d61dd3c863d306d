"""The on-disk cache for compiled constraints and extracted vocabularies.

Both are pure functions of their inputs and slow to recompute for large vocabularies, so they
are kept across processes. Entries are written atomically and a damaged entry is just rebuilt:
the cache can only ever cost speed, never correctness.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

import platformdirs

CACHE_DIR_ENV = "AGENTSMALL_CACHE_DIR"


def cache_dir(kind: str) -> Path:
    """$AGENTSMALL_CACHE_DIR/<kind>, else <user cache dir>/agentsmall/<kind>."""
    override = os.environ.get(CACHE_DIR_ENV, "").strip()
    base = (
        Path(override).expanduser() if override else Path(platformdirs.user_cache_dir("agentsmall"))
    )
    return base / kind


def load(path: Path) -> Any | None:
    """A cached object, or None when there is none or it cannot be read."""
    try:
        with path.open("rb") as f:
            return pickle.load(f)
    except Exception:  # missing, torn or foreign: the caller rebuilds and overwrites it
        return None


def store(path: Path, value: Any) -> None:
    """Write atomically (temp file + rename) so a killed process never leaves a torn entry. A
    cache that cannot be written (read-only home, full disk) is skipped silently."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False, suffix=".tmp") as f:
            pickle.dump(value, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(f.name, path)
    except OSError:
        pass
