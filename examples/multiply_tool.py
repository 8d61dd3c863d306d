"""A one-tool file for `agentsmall run ... --tools examples/multiply_tool.py`."""

from agentsmall import tool


@tool
def multiply(a: int, b: int) -> int:
    """Multiply two integers.

    Args:
        a: the first factor
        b: the second factor
    """
    return a * b
