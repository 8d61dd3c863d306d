"""Running tool calls: results, errors as observations, timeouts, concurrency, truncation."""

import asyncio
import dataclasses
import datetime
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from agentsmall._runner import CallOutcome, run_call, run_calls, unknown_tool_outcome
from agentsmall._tool import tool

REPO_ROOT = Path(__file__).resolve().parents[1]


class Weather(BaseModel):
    city: str
    celsius: float
    observed: datetime.date


@dataclasses.dataclass
class Pair:
    left: int
    right: int


class Opaque:
    def __str__(self) -> str:
        return "<opaque thing>"


@tool
def add(a: int, b: int) -> int:
    """Add."""
    return a + b


@tool
def greet(name: str) -> str:
    """Say hello."""
    return f"Grüß dich, {name}!"


@tool
def divide(a: float, b: float) -> float:
    """Divide."""
    return a / b


@tool(timeout=0.5)
def hang(seconds: float = 60) -> str:
    """Sleep for a long time."""
    time.sleep(seconds)
    return "woke up"


@tool(timeout=0.5)
async def hang_async(seconds: float = 60) -> str:
    """Sleep for a long time, politely."""
    await asyncio.sleep(seconds)
    return "woke up"


@tool(timeout=2)
def nap(seconds: float) -> float:
    """Sleep briefly."""
    time.sleep(seconds)
    return seconds


@tool(timeout=2)
async def nap_async(seconds: float) -> float:
    """Sleep briefly without blocking."""
    await asyncio.sleep(seconds)
    return seconds


def run(coro: Any) -> Any:
    return asyncio.run(coro)


# ---------------------------------------------------------------------------------------------
# Results


def test_successful_call() -> None:
    outcome = run(run_call(add, {"a": 2, "b": "3"}))
    assert isinstance(outcome, CallOutcome)
    assert outcome.tool == "add"
    assert outcome.arguments == {"a": 2, "b": "3"}  # as the model gave them
    assert outcome.result == 5
    assert outcome.error is None
    assert outcome.ok
    assert outcome.observation == "5"
    assert 0 <= outcome.seconds < 1


def test_arguments_are_copied() -> None:
    given = {"a": 1, "b": 2}
    outcome = run(run_call(add, given))
    given["a"] = 100
    assert outcome.arguments == {"a": 1, "b": 2}
    with pytest.raises(dataclasses.FrozenInstanceError):
        outcome.error = "x"  # type: ignore[misc]


def test_string_results_are_shown_as_is_and_others_as_json() -> None:
    assert run(run_call(greet, {"name": "Zoë"})).observation == "Grüß dich, Zoë!"

    @tool
    def info() -> dict[str, Any]:
        return {"city": "Zürich", "ok": True, "n": None, "items": (1, 2)}

    outcome = run(run_call(info, {}))
    assert outcome.result == {"city": "Zürich", "ok": True, "n": None, "items": [1, 2]}
    assert outcome.observation == '{"city": "Zürich", "ok": true, "n": null, "items": [1, 2]}'


def test_none_result() -> None:
    @tool
    def noop() -> None:
        pass

    outcome = run(run_call(noop, {}))
    assert outcome.error is None
    assert outcome.result is None
    assert outcome.observation == "null"


def test_pydantic_model_results_are_dumped_as_json() -> None:
    @tool
    def weather(city: str) -> Weather:
        return Weather(city=city, celsius=21.5, observed=datetime.date(2024, 5, 1))

    outcome = run(run_call(weather, {"city": "Oslo"}))
    assert outcome.result == {"city": "Oslo", "celsius": 21.5, "observed": "2024-05-01"}
    assert outcome.observation == '{"city": "Oslo", "celsius": 21.5, "observed": "2024-05-01"}'

    @tool
    def several() -> list[Weather]:
        return [Weather(city="A", celsius=1, observed=datetime.date(2024, 1, 2))]

    assert run(run_call(several, {})).result == [
        {"city": "A", "celsius": 1.0, "observed": "2024-01-02"}
    ]


def test_other_values_become_json_or_text() -> None:
    @tool
    def odd() -> Any:
        return {"pair": Pair(1, 2), "thing": Opaque(), "when": datetime.date(2024, 1, 1)}

    outcome = run(run_call(odd, {}))
    assert outcome.result == {
        "pair": {"left": 1, "right": 2},
        "thing": "<opaque thing>",
        "when": "2024-01-01",
    }

    @tool
    def opaque() -> Any:
        return Opaque()

    outcome = run(run_call(opaque, {}))
    assert outcome.result == "<opaque thing>"
    assert outcome.observation == "<opaque thing>"


def test_async_tool() -> None:
    outcome = run(run_call(nap_async, {"seconds": 0.01}))
    assert outcome.error is None
    assert outcome.result == 0.01


def test_sync_tool_runs_outside_the_event_loop_thread_and_keeps_context() -> None:
    import contextvars

    request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

    @tool
    def where() -> dict[str, Any]:
        return {"thread": threading.current_thread().name, "request": request_id.get()}

    async def main() -> CallOutcome:
        request_id.set("r-42")
        return await run_call(where, {})

    outcome = run(main())
    assert outcome.result["thread"] == "agentsmall-tool-where"
    assert outcome.result["request"] == "r-42"


def test_sync_callable_returning_a_coroutine_is_awaited() -> None:
    async def later(x: int) -> int:
        return x * 2

    class Wrapper:
        __name__ = "wrapper"

        def __call__(self, x: int) -> Any:
            return later(x)

    outcome = run(run_call(tool(Wrapper()), {"x": 4}))
    assert outcome.error is None
    assert outcome.result == 8


# ---------------------------------------------------------------------------------------------
# Errors


def test_raising_tool_becomes_an_error_outcome() -> None:
    outcome = run(run_call(divide, {"a": 1, "b": 0}))
    assert outcome.result is None
    assert outcome.error == "ZeroDivisionError: float division by zero"
    assert outcome.observation == "Error: ZeroDivisionError: float division by zero"
    assert not outcome.ok


def test_exception_without_message() -> None:
    @tool
    def fails() -> None:
        raise RuntimeError

    assert run(run_call(fails, {})).error == "RuntimeError"


def test_async_tool_errors_too() -> None:
    @tool
    async def broken(key: str) -> str:
        raise KeyError(key)

    assert run(run_call(broken, {"key": "k"})).error == "KeyError: 'k'"


def test_a_timeout_error_raised_by_the_tool_is_not_our_timeout() -> None:
    @tool(timeout=5)
    async def slow_network() -> str:
        raise TimeoutError("upstream took too long")

    outcome = run(run_call(slow_network, {}))
    assert outcome.error == "TimeoutError: upstream took too long"


def test_invalid_arguments_do_not_call_the_function() -> None:
    calls: list[Any] = []

    @tool
    def record(count: int, label: str = "x") -> int:
        calls.append((count, label))
        return count

    outcome = run(run_call(record, {"count": "many", "color": "red"}))
    assert calls == []
    assert outcome.result is None
    assert outcome.error is not None
    assert outcome.error.startswith("invalid arguments: ")
    assert "count: Input should be a valid integer" in outcome.error
    assert "(got 'many')" in outcome.error
    assert "color: Extra inputs are not permitted" in outcome.error
    assert outcome.observation == f"Error: {outcome.error}"
    assert outcome.arguments == {"count": "many", "color": "red"}

    missing = run(run_call(record, {}))
    assert calls == []
    assert missing.error == "invalid arguments: count: Field required"


def test_non_object_arguments() -> None:
    outcome = run(run_call(add, [1, 2]))  # type: ignore[arg-type]
    assert outcome.error == "invalid arguments: expected a JSON object, got list"
    assert outcome.arguments == {}


def test_long_validation_summaries_are_capped() -> None:
    @tool
    def many(a: int, b: int, c: int, d: int, e: int, f: int, g: int) -> None:
        pass

    outcome = run(run_call(many, {}))
    assert outcome.error is not None
    assert outcome.error.endswith("; and 2 more")


def test_unknown_tool_outcome() -> None:
    outcome = unknown_tool_outcome("serch", {"q": "x"})
    assert outcome.error == "unknown tool 'serch'"
    assert outcome.observation == "Error: unknown tool 'serch'"
    assert outcome.arguments == {"q": "x"}
    outcome = unknown_tool_outcome("serch", available=["search", "calculate"])
    assert outcome.error == "unknown tool 'serch'; available tools: search, calculate"


def test_keyboard_interrupt_is_not_swallowed() -> None:
    @tool
    def interrupted() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(run_call(interrupted, {}))


def test_cancellation_is_not_swallowed() -> None:
    async def main() -> None:
        task = asyncio.create_task(run_call(hang_async, {"seconds": 30}))
        await asyncio.sleep(0.05)
        task.cancel()
        await task

    with pytest.raises(asyncio.CancelledError):
        run(main())

    async def main_sync() -> None:
        task = asyncio.create_task(run_call(hang, {"seconds": 30}))
        await asyncio.sleep(0.05)
        task.cancel()
        await task

    started = time.perf_counter()
    with pytest.raises(asyncio.CancelledError):
        run(main_sync())
    assert time.perf_counter() - started < 2


# ---------------------------------------------------------------------------------------------
# Timeouts


def test_hanging_sync_tool_times_out_fast() -> None:
    started = time.perf_counter()
    outcome = run(run_call(hang, {}))
    elapsed = time.perf_counter() - started
    assert outcome.error == "timed out after 0.5 s"
    assert outcome.observation == "Error: timed out after 0.5 s"
    assert outcome.result is None
    assert 0.45 <= elapsed < 2
    assert 0.45 <= outcome.seconds < 2


def test_hanging_async_tool_times_out_fast() -> None:
    started = time.perf_counter()
    outcome = run(run_call(hang_async, {}))
    assert outcome.error == "timed out after 0.5 s"
    assert time.perf_counter() - started < 2


def test_async_tool_that_ignores_cancellation_does_not_hang_the_call() -> None:
    @tool(timeout=0.3)
    async def stubborn() -> str:
        for _ in range(20):
            try:
                await asyncio.sleep(0.1)
            except asyncio.CancelledError:
                continue
        return "done"

    async def main() -> CallOutcome:
        return await run_call(stubborn, {})

    started = time.perf_counter()
    outcome = run(main())
    assert outcome.error == "timed out after 0.3 s"
    assert time.perf_counter() - started < 3


def test_no_timeout() -> None:
    @tool(timeout=None)
    def quick() -> str:
        return "ok"

    assert run(run_call(quick, {})).result == "ok"


def test_script_with_a_hung_sync_tool_exits_promptly(tmp_path: Path) -> None:
    script = tmp_path / "hung.py"
    script.write_text(
        textwrap.dedent(
            """
            import asyncio, time
            from agentsmall._runner import run_call
            from agentsmall._tool import tool

            @tool(timeout=0.3)
            def stuck() -> str:
                time.sleep(600)
                return "never"

            outcome = asyncio.run(run_call(stuck, {}))
            print(outcome.observation, flush=True)
            """
        )
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    started = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    elapsed = time.perf_counter() - started
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "Error: timed out after 0.3 s"
    assert elapsed < 15  # interpreter start-up plus imports; a hang would take 600 s


# ---------------------------------------------------------------------------------------------
# Several calls


def test_sync_calls_run_concurrently() -> None:
    started = time.perf_counter()
    outcomes = run(run_calls([(nap, {"seconds": 0.5}), (nap, {"seconds": 0.5})]))
    assert time.perf_counter() - started < 0.9
    assert [o.result for o in outcomes] == [0.5, 0.5]


def test_async_calls_run_concurrently() -> None:
    started = time.perf_counter()
    outcomes = run(run_calls([(nap_async, {"seconds": 0.5}), (nap, {"seconds": 0.5})]))
    assert time.perf_counter() - started < 0.9
    assert all(o.error is None for o in outcomes)


def test_outcomes_keep_input_order_and_faults_stay_local() -> None:
    outcomes = run(
        run_calls(
            [
                (nap, {"seconds": 0.3}),
                (divide, {"a": 1, "b": 0}),
                (add, {"a": 1}),
                (add, {"a": 1, "b": 1}),
                (hang, {}),
            ]
        )
    )
    assert [o.tool for o in outcomes] == ["nap", "divide", "add", "add", "hang"]
    assert outcomes[0].result == 0.3
    assert outcomes[1].error is not None and outcomes[1].error.startswith("ZeroDivisionError")
    assert outcomes[2].error == "invalid arguments: b: Field required"
    assert outcomes[3].result == 2
    assert outcomes[4].error == "timed out after 0.5 s"


def test_no_calls() -> None:
    assert run(run_calls([])) == []


# ---------------------------------------------------------------------------------------------
# Observation size


def test_long_observations_are_truncated_with_a_marker() -> None:
    @tool
    def big() -> str:
        return "x" * 5000

    outcome = run(run_call(big, {}, max_observation_chars=100))
    assert outcome.observation == "x" * 100 + "... [truncated 4900 chars]"
    assert outcome.result == "x" * 5000  # the full result is kept for the program

    default = run(run_call(big, {}))
    assert default.observation.startswith("x" * 2000 + "... [truncated 3000 chars]")


def test_short_observations_are_not_truncated() -> None:
    @tool
    def exact() -> str:
        return "y" * 100

    assert run(run_call(exact, {}, max_observation_chars=100)).observation == "y" * 100


def test_error_observations_are_truncated_too() -> None:
    @tool
    def loud() -> None:
        raise ValueError("z" * 500)

    outcome = run(run_call(loud, {}, max_observation_chars=50))
    assert len(outcome.observation) == 50 + len("... [truncated 469 chars]")
    assert outcome.observation.startswith("Error: ValueError: zzz")
    assert outcome.observation.endswith("... [truncated 469 chars]")


def test_rejects_a_nonsense_limit() -> None:
    with pytest.raises(ValueError, match="max_observation_chars"):
        run(run_call(add, {"a": 1, "b": 2}, max_observation_chars=0))
