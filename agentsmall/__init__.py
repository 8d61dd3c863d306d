"""agentsmall: reliable tool-using agents on small local models.

from agentsmall import Agent, tool

@tool
def add(a: int, b: int) -> int:
    \"\"\"Add two integers.\"\"\"
    return a + b

result = Agent(tools=[add]).run("What is 2 + 3?")
"""

from agentsmall._relevance import ToolGate
from agentsmall._tool import Tool, tool
from agentsmall.agent import Agent, Event, RunResult, Step
from agentsmall.errors import AgentsmallError
from agentsmall.memory import Memory
from agentsmall.models import Model, load_model

__all__ = [
    "Agent",
    "AgentsmallError",
    "Event",
    "Memory",
    "Model",
    "RunResult",
    "Step",
    "Tool",
    "ToolGate",
    "load_model",
    "tool",
]
__version__ = "0.1.0"
