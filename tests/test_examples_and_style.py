"""The examples run as documented, and the code stays ruff-clean."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_embed_example_streams_events_and_answers() -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO / "examples" / "embed.py")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "[step 1] tool_call: {'tool': 'word_count'" in proc.stdout
    assert "answer: 5 | status: completed" in proc.stdout


def test_ruff_is_clean() -> None:
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    proc = subprocess.run(
        [ruff, "check", "agentsmall", "tools", "agents", "examples", "tests"],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_package_is_shipped() -> None:
    """A subpackage missing from pyproject's list works in the editable install and is absent
    from a real one: catch that here."""
    import tomllib

    listed = set(
        tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    on_disk = {
        ".".join(init.parent.relative_to(REPO).parts)
        for init in (REPO / "agentsmall").rglob("__init__.py")
    } | {"agentsmall.tools", "agentsmall.agents"}
    assert on_disk == listed
