"""One agent run on a thread of its own, its events delivered through a queue, stoppable.

Both the REPL and `Agent.events` need the same three things from a run: to read its events in
the caller's thread (where the terminal or the application lives), to answer questions it asks
(confirming a dangerous tool) from that thread, and to stop it promptly — a Ctrl-C must not
wait for the model to finish a 256-token step.

Stopping does two things. The run's asyncio task is cancelled, which the agent loop records
as an *interrupted* run (the session stays intact and the next run continues it). And the
generation, which runs in a worker thread that cannot be cancelled, is cut at its next token:
the `text` callback raises `GenerationStopped` once the stop flag is set. The decoder leaves
its KV cache consistent when a callback raises, so the next generation reuses it as usual.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from agentsmall.agent import Agent, Event, RunResult

__all__ = ["BackgroundRun", "ConfirmRequest", "GenerationStopped", "Item"]


class GenerationStopped(Exception):
    """Raised from the token callback to end a generation that was asked to stop."""


@dataclass
class ConfirmRequest:
    """The run asks whether a dangerous call may go ahead; answer with `reply(bool)`."""

    tool: str
    arguments: dict[str, Any]
    _answer: concurrent.futures.Future[bool]

    def reply(self, allowed: bool) -> None:
        if not self._answer.done():
            self._answer.set_result(bool(allowed))


@dataclass(frozen=True)
class Item:
    """What the run's queue carries: an event, a question, or the end of the run."""

    kind: Literal["event", "confirm", "done", "error"]
    event: Event | None = None
    request: ConfirmRequest | None = None
    result: RunResult | None = None
    error: BaseException | None = None


class BackgroundRun:
    """`agent.arun(task, ...)` on a daemon thread with its own event loop.

    Read `items()` (or the queue) in the caller's thread; call `stop()` from any thread.
    `ask(tool, arguments)` is a `ConfirmCallback` that turns the question into a
    `ConfirmRequest` on the queue and waits for the reader's answer (False once stopped).
    """

    def __init__(self, agent: Agent, task: str, *, session_id: str | None = None) -> None:
        self.agent = agent
        self.task = task
        self.session_id = session_id
        self.queue: queue.Queue[Item] = queue.Queue()
        self.stopped = threading.Event()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._main_task: asyncio.Task[Any] | None = None
        self._pending: list[ConfirmRequest] = []
        self.thread = threading.Thread(target=self._main, name="agentsmall-run", daemon=True)

    def start(self) -> BackgroundRun:
        self.thread.start()
        return self

    def stop(self) -> None:
        """Cancel the run (recorded as interrupted) and cut the generation at its next token."""
        with self._lock:
            if self._loop is not None and self._main_task is not None:
                # Cancel first, then raise the flag: the cancellation is then already queued
                # when the generation thread's GenerationStopped reaches the loop.
                self._loop.call_soon_threadsafe(self._main_task.cancel)
            self.stopped.set()
            pending, self._pending = self._pending, []
        for request in pending:
            request.reply(False)

    def ask(self, tool: str, arguments: dict[str, Any]) -> bool:
        """Ask the reader of the queue whether a dangerous call may run (blocks until told)."""
        request = ConfirmRequest(tool, dict(arguments), concurrent.futures.Future())
        with self._lock:
            if self.stopped.is_set():
                return False
            self._pending.append(request)
        self.queue.put(Item("confirm", request=request))
        return request._answer.result()

    def items(self, *, poll: float = 0.1) -> Iterator[Item]:
        """The run's items until (and including) its "done" or "error" item."""
        while True:
            try:
                item = self.queue.get(timeout=poll)
            except queue.Empty:
                continue
            yield item
            if item.kind in ("done", "error"):
                return

    # -- the run's own thread --------------------------------------------------------------------

    def _emit(self, event: Event) -> None:
        if event.kind == "text" and self.stopped.is_set():
            raise GenerationStopped("the run was asked to stop")
        self.queue.put(Item("event", event=event))

    async def _run(self) -> RunResult:
        with self._lock:
            self._loop = asyncio.get_running_loop()
            self._main_task = asyncio.current_task()
            if self.stopped.is_set():  # stopped before it started
                raise asyncio.CancelledError
        return await self.agent.arun(self.task, session_id=self.session_id, on_event=self._emit)

    def _main(self) -> None:
        try:
            result = asyncio.run(self._run())
        except BaseException as exc:  # delivered to the reader, who decides
            self.queue.put(Item("error", error=exc))
        else:
            self.queue.put(Item("done", result=result))
