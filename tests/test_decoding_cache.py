"""Compiled constraints and vocabularies persist on disk: a new process starts warm."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from agentsmall.decoding._cache import CACHE_DIR_ENV

SCRIPT = """
import json, time
from agentsmall.models import load_model
from agentsmall.decoding import compile_json_schema
model = load_model(None, threads=1)
schema = {"type": "object", "properties": {"city": {"type": "string"}, "n": {"type": "integer"}},
          "required": ["city", "n"], "additionalProperties": False}
compiled = compile_json_schema(schema, model._vocabulary)
print(json.dumps({"from_disk": compiled.from_disk, "fingerprint": model._vocabulary.fingerprint}))
"""


def run_in_new_process(cache: Path) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, CACHE_DIR_ENV: str(cache)},
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_a_second_process_loads_the_constraint_and_vocabulary_from_disk(tmp_path: Path) -> None:
    first = run_in_new_process(tmp_path)
    assert first["from_disk"] is False
    assert len(list((tmp_path / "constraints").glob("*.index"))) == 1
    assert len(list((tmp_path / "vocabularies").glob("*.pickle"))) == 1
    second = run_in_new_process(tmp_path)
    assert second["from_disk"] is True
    assert second["fingerprint"] == first["fingerprint"]


def test_a_damaged_cache_entry_is_rebuilt(tmp_path: Path) -> None:
    run_in_new_process(tmp_path)
    for entry in [*tmp_path.glob("constraints/*.index"), *tmp_path.glob("vocabularies/*")]:
        entry.write_bytes(b"torn write")
    again = run_in_new_process(tmp_path)
    assert again["from_disk"] is False  # rebuilt, not trusted
    assert run_in_new_process(tmp_path)["from_disk"] is True  # and stored again
