"""Embedding: iterate over a run's events as they happen (no callback needed).

`agent.events(task)` runs the task on a background thread and yields each `Event`: text as the
model streams it, tool calls and results, the final answer, and last "run_finished" with the
whole result. Leaving the loop early (`break`) stops the run; it is recorded as interrupted.
A tool marked dangerous is refused here unless `confirm=` says yes.

Run: .venv/bin/python examples/events.py
"""

from agentsmall import Agent, tool


@tool
def multiply(a: int, b: int) -> int:
    """Multiply two integers.

    Args:
        a: the first factor
        b: the second factor
    """
    return a * b


@tool(dangerous=True)
def send_email(to: str, body: str) -> str:
    """Send an email (dangerous: it cannot be undone).

    Args:
        to: the address
        body: the text
    """
    return f"sent to {to}"


def confirm(tool_name: str, arguments: dict) -> bool:
    """Asked before a dangerous tool runs; here a policy instead of a person."""
    return tool_name == "send_email" and arguments.get("to", "").endswith("@example.com")


if __name__ == "__main__":
    agent = Agent(tools=[multiply, send_email], memory=":memory:", confirm=confirm)
    for event in agent.events("Use the multiply tool to compute 12 times 7."):
        if event.kind == "text":
            print(event.data["text"], end="", flush=True)
        elif event.kind in ("tool_call", "tool_result", "final_answer"):
            print(f"\n[step {event.step}] {event.kind}: {event.data}")
        elif event.kind == "run_finished":
            print("status:", event.data["status"], "| output:", event.data["output"])
