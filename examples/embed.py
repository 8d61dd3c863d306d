"""Embedding agentsmall in an application: your own tools, events as they happen.

Run: .venv/bin/python examples/embed.py
"""

import asyncio
import datetime

from agentsmall import Agent, Event, tool


@tool
def days_until(date: str) -> int:
    """Days from today until a date.

    Args:
        date: the date, as YYYY-MM-DD
    """
    return (datetime.date.fromisoformat(date) - datetime.date.today()).days


@tool
async def word_count(text: str) -> int:
    """Count the words in a text.

    Args:
        text: the text to count
    """
    await asyncio.sleep(0)  # async tools run concurrently with the rest of a step
    return len(text.split())


def show(event: Event) -> None:
    if event.kind in ("tool_call", "tool_result", "final_answer"):
        print(f"[step {event.step}] {event.kind}: {event.data}")


if __name__ == "__main__":
    agent = Agent(tools=[days_until, word_count], memory=":memory:")
    result = agent.run(
        "How many words are in the text 'small models can use tools'?", on_event=show
    )
    print("answer:", result.output, "| status:", result.status)
