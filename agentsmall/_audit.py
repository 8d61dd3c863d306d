"""A tally of constrained outputs and whether each validated.

The project's promise is that 100% of constrained outputs validate. This tally lets the test
suite and the demo prove it rather than assume it: every constrained output is recorded here, in
memory, and (when `AGENTSMALL_VALIDATION_LOG` names a file) appended as one JSON line to that
file so that outputs produced in subprocesses are counted too.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass

VALIDATION_LOG_ENV = "AGENTSMALL_VALIDATION_LOG"


@dataclass
class Tally:
    valid: int = 0
    invalid: int = 0

    @property
    def total(self) -> int:
        return self.valid + self.invalid


_tally = Tally()
_lock = threading.Lock()


def record(*, valid: bool, model: str, reason: str = "") -> None:
    """Count one constrained output; `reason` says why an invalid one failed."""
    with _lock:
        if valid:
            _tally.valid += 1
        else:
            _tally.invalid += 1
        path = os.environ.get(VALIDATION_LOG_ENV)
        if path:
            line = json.dumps(
                {"valid": valid, "model": model, "reason": reason, "pid": os.getpid()}
            )
            with open(path, "a", encoding="utf-8") as f:
                f.write(line + "\n")


def tally() -> Tally:
    """This process's counts so far."""
    with _lock:
        return Tally(_tally.valid, _tally.invalid)
