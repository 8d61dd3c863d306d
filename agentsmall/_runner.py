"""Running the tool calls a model asked for, and turning every result into text it can read.

A small model makes mistakes: wrong argument types, tools that blow up, calls that hang. None of
that may stop the agent. Every call therefore ends in a :class:`CallOutcome` whose `observation`
is the text the model reads next, whether the call worked or not ("Error: ..." tells the model
what to fix). Only interruptions (Ctrl-C, task cancellation) still propagate.

Sync tools run in a *daemon* thread of their own rather than in asyncio's default executor: a
hung function cannot be killed, and an executor thread would keep the interpreter (and
``asyncio.run``'s shutdown) waiting for it forever, while an abandoned daemon thread dies with the
process.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
import json
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pydantic
import pydantic_core

from agentsmall._tool import Tool

__all__ = [
    "CallOutcome",
    "ConfirmCallback",
    "allow_all",
    "refusal_message",
    "run_call",
    "run_calls",
    "unknown_tool_outcome",
]

#: Asked before a tool marked ``dangerous=True`` runs: ``confirm(tool_name, arguments)``, with
#: the arguments already validated; True lets the call run. It may be async (return an
#: awaitable). Without one, dangerous calls are refused: a script has nobody to ask.
ConfirmCallback = Callable[[str, dict[str, Any]], "bool | Awaitable[bool]"]


def allow_all(tool_name: str, arguments: dict[str, Any]) -> bool:
    """A `ConfirmCallback` that allows every dangerous call (``--allow-dangerous``)."""
    return True


def refusal_message(tool_name: str, *, asked: bool) -> str:
    """The error the model reads when a dangerous call was not allowed to run.

    It says why and that retrying is pointless, so a small model moves on instead of looping.
    """
    text = f"refused: tool {tool_name!r} is marked dangerous and was not confirmed"
    return text + ("" if asked else " (no confirmation is possible in this run)")


#: At most this many validation problems are listed in an "invalid arguments" error.
_MAX_VALIDATION_ERRORS = 5


@dataclass(frozen=True)
class CallOutcome:
    """What happened when one tool call ran, including the text the model will read."""

    tool: str
    arguments: dict[str, Any]
    result: Any
    error: str | None
    seconds: float
    observation: str

    @property
    def ok(self) -> bool:
        """True when the tool ran and returned (its result may still be None)."""
        return self.error is None


async def run_call(
    tool: Tool,
    arguments: Mapping[str, Any],
    *,
    max_observation_chars: int = 2000,
    confirm: ConfirmCallback | None = None,
) -> CallOutcome:
    """Validate `arguments`, call `tool` under its timeout, and report the outcome.

    A tool marked dangerous runs only if `confirm` returns True for these (valid) arguments;
    otherwise the outcome is a refusal the model reads (see `refusal_message`). Arguments are
    validated first, so nobody is asked about a call that could not run anyway.

    Never raises for a fault of the tool or of the arguments; those become an outcome whose
    `error` is set. KeyboardInterrupt, SystemExit and cancellation of the calling task propagate.
    """
    _check_limit(max_observation_chars)
    started = time.perf_counter()
    given = dict(arguments) if isinstance(arguments, Mapping) else {}

    def finish(result: Any, error: str | None) -> CallOutcome:
        return _outcome(
            tool.name, given, result, error, time.perf_counter() - started, max_observation_chars
        )

    if not isinstance(arguments, Mapping):
        return finish(
            None, f"invalid arguments: expected a JSON object, got {type(arguments).__name__}"
        )
    try:
        kwargs = tool.validate_arguments(arguments)
    except pydantic.ValidationError as exc:
        return finish(None, f"invalid arguments: {_summarize_validation(exc)}")
    if tool.dangerous and not await _confirmed(tool, given, confirm):
        return finish(None, refusal_message(tool.name, asked=confirm is not None))

    try:
        if tool.is_async:
            value = await _await_with_timeout(tool.function(**kwargs), tool.timeout)
        else:
            value = await _run_in_daemon_thread(tool, kwargs)
            if inspect.isawaitable(value):  # a sync-looking callable that returned a coroutine
                remaining = None
                if tool.timeout is not None:
                    remaining = max(tool.timeout - (time.perf_counter() - started), 0.0)
                value = await _await_with_timeout(value, remaining, reported=tool.timeout)
    except _TimedOut as exc:
        return finish(None, f"timed out after {exc.seconds} s")
    except Exception as exc:
        return finish(None, _describe_exception(exc))
    return finish(_jsonable(value), None)


async def run_calls(
    calls: Sequence[tuple[Tool, Mapping[str, Any]]],
    *,
    max_observation_chars: int = 2000,
    confirm: ConfirmCallback | None = None,
) -> list[CallOutcome]:
    """Run several calls concurrently; the outcomes come back in the order of `calls`."""
    _check_limit(max_observation_chars)
    return list(
        await asyncio.gather(
            *(
                run_call(
                    tool, arguments, max_observation_chars=max_observation_chars, confirm=confirm
                )
                for tool, arguments in calls
            )
        )
    )


async def _confirmed(
    tool: Tool, arguments: dict[str, Any], confirm: ConfirmCallback | None
) -> bool:
    """Whether `confirm` allows this call; no callback, or one that fails, means no."""
    if confirm is None:
        return False
    try:
        answer = confirm(tool.name, dict(arguments))
        if inspect.isawaitable(answer):
            answer = await answer
    except Exception:  # a broken confirmation never lets a dangerous call through
        return False
    return answer is True


def unknown_tool_outcome(
    name: str,
    arguments: Mapping[str, Any] | None = None,
    *,
    available: Sequence[str] = (),
    max_observation_chars: int = 2000,
) -> CallOutcome:
    """The outcome for a call to a tool that does not exist, in the same shape as any other.

    Listing the `available` names in the error lets a small model correct itself next step.
    """
    _check_limit(max_observation_chars)
    error = f"unknown tool {name!r}"
    if available:
        error += "; available tools: " + ", ".join(available)
    given = dict(arguments) if isinstance(arguments, Mapping) else {}
    return _outcome(name, given, None, error, 0.0, max_observation_chars)


# --------------------------------------------------------------------------------------------
# Timeouts


class _TimedOut(Exception):
    """Our own timeout signal, distinct from a TimeoutError that the tool itself raises."""

    def __init__(self, seconds: float | None) -> None:
        super().__init__(seconds)
        self.seconds = seconds


def _retrieve(task: asyncio.Future[Any]) -> None:
    """Done-callback for abandoned work: fetch its exception so asyncio does not log it."""
    if not task.cancelled():
        task.exception()


async def _await_with_timeout(
    awaitable: Any, timeout: float | None, *, reported: float | None = None
) -> Any:
    """Like ``asyncio.wait_for`` but (1) a TimeoutError raised *by the tool* stays the tool's
    error instead of reading as our timeout, and (2) after a timeout we cancel the tool and move
    on instead of waiting for it to acknowledge the cancellation (a tool that swallows
    CancelledError would otherwise hang the agent just like a tool without a timeout)."""
    task = asyncio.ensure_future(awaitable)
    try:
        done, _ = await asyncio.wait({task}, timeout=timeout)
    except BaseException:  # we are being cancelled: take the tool down with us
        task.cancel()
        task.add_done_callback(_retrieve)
        raise
    if not done:
        task.cancel()
        task.add_done_callback(_retrieve)
        raise _TimedOut(reported if reported is not None else timeout)
    return task.result()


async def _run_in_daemon_thread(tool: Tool, kwargs: dict[str, Any]) -> Any:
    """Run a sync tool in a fresh daemon thread and await its result under the tool's timeout.

    On timeout the thread is abandoned (Python cannot kill it); as a daemon it does not keep the
    process alive, and its late result is dropped.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()
    context = contextvars.copy_context()

    def deliver(setter_name: str, payload: Any) -> None:
        if not future.done():  # abandoned (timed out or cancelled) futures take nothing
            getattr(future, setter_name)(payload)

    def work() -> None:
        try:
            value = context.run(tool.function, **kwargs)
        except BaseException as exc:  # delivered to the awaiting task, which decides
            setter, payload = "set_exception", exc
        else:
            setter, payload = "set_result", value
        # RuntimeError: the loop is closed, nobody is waiting any more.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(deliver, setter, payload)

    thread = threading.Thread(target=work, name=f"agentsmall-tool-{tool.name}", daemon=True)
    thread.start()
    try:
        done, _ = await asyncio.wait({future}, timeout=tool.timeout)
    except BaseException:
        future.cancel()
        raise
    if not done:
        future.cancel()
        raise _TimedOut(tool.timeout)
    return future.result()


# --------------------------------------------------------------------------------------------
# Results and errors as text


def _check_limit(max_observation_chars: int) -> None:
    if isinstance(max_observation_chars, bool) or not isinstance(max_observation_chars, int):
        raise TypeError("max_observation_chars must be an int")
    if max_observation_chars < 1:
        raise ValueError(f"max_observation_chars must be at least 1, got {max_observation_chars}")


def _outcome(
    name: str,
    arguments: dict[str, Any],
    result: Any,
    error: str | None,
    seconds: float,
    limit: int,
) -> CallOutcome:
    if error is not None:
        text = f"Error: {error}"
    elif isinstance(result, str):
        text = result
    else:
        try:
            text = json.dumps(result, ensure_ascii=False)
        except (TypeError, ValueError):  # cannot happen after _jsonable, but never raise here
            text = _safe_str(result)
    if len(text) > limit:
        text = f"{text[:limit]}... [truncated {len(text) - limit} chars]"
    return CallOutcome(
        tool=name,
        arguments=arguments,
        result=result,
        error=error,
        seconds=seconds,
        observation=text,
    )


def _jsonable(value: Any) -> Any:
    """A JSON-compatible copy of a tool's return value.

    Pydantic models are dumped in JSON mode; dataclasses, enums, dates, tuples, sets and the like
    get pydantic's usual JSON forms; anything else is replaced by its ``str()``.
    """
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, pydantic.BaseModel):
        try:
            return value.model_dump(mode="json")
        except Exception:
            return _safe_str(value)
    try:
        return pydantic_core.to_jsonable_python(value, fallback=_safe_str)
    except Exception:  # circular structures, serializers that raise, ...
        return _safe_str(value)


def _safe_str(value: Any) -> str:
    try:
        return str(value)
    except Exception:
        return f"<unprintable {type(value).__name__}>"


def _describe_exception(exc: BaseException) -> str:
    message = _safe_str(exc).strip()
    name = type(exc).__name__
    return f"{name}: {message}" if message else name


def _summarize_validation(exc: pydantic.ValidationError) -> str:
    """Short, model-readable list of what is wrong, e.g. ``a: Field required; b: Input should
    be a valid integer (got 'x')``."""
    problems = []
    errors = exc.errors(include_url=False)
    for error in errors[:_MAX_VALIDATION_ERRORS]:
        where = ".".join(str(part) for part in error.get("loc", ())) or "arguments"
        text = f"{where}: {error.get('msg', 'invalid')}"
        if error.get("type") not in ("missing", "extra_forbidden") and "input" in error:
            shown = _safe_repr(error["input"])
            text += f" (got {shown})"
        problems.append(text)
    if len(errors) > _MAX_VALIDATION_ERRORS:
        problems.append(f"and {len(errors) - _MAX_VALIDATION_ERRORS} more")
    return "; ".join(problems)


def _safe_repr(value: Any, limit: int = 60) -> str:
    try:
        text = repr(value)
    except Exception:
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."
