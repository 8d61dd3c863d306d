"""Embedding agentsmall in an application: your own tool, and the run's events as they happen.

Run: .venv/bin/python examples/embed.py
"""

import asyncio

from agentsmall import Agent, Event, tool


@tool
async def word_count(text: str) -> int:
    """Count the words in a text.

    Args:
        text: the text to count
    """
    await asyncio.sleep(0)  # async tools run concurrently with the other calls of a step
    return len(text.split())


def show(event: Event) -> None:
    """Called for every event: run_started, step_started, text, tool_call, tool_result, ..."""
    if event.kind in ("tool_call", "tool_result", "final_answer"):
        print(f"[step {event.step}] {event.kind}: {event.data}")


if __name__ == "__main__":
    # Offer only the tools a task needs: a 135M model picks best among few.
    agent = Agent(tools=[word_count], memory=":memory:", must_use_tool=True)
    task = "Use the word_count tool to count the words in 'small models can use tools'."
    result = agent.run(task, on_event=show)
    print("answer:", result.output, "| status:", result.status)
