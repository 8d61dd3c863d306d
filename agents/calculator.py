"""An arithmetic assistant: it hands every computation to the safe calculator tools."""

from agentsmall._agent_spec import AgentSpec
from agentsmall.tools.calculator import TOOLS

AGENT = AgentSpec(
    name="calculator",
    description="Answers arithmetic questions by calling the calculator tools.",
    instructions=(
        "You are an arithmetic assistant. Never compute in your head: use a tool for every"
        " calculation, then give the tool's result as the answer."
    ),
    tools=TOOLS,
    max_steps=6,
    example_task="What is 23 times 19?",
    # SmolLM2-135M otherwise often "answers" arithmetic from memory, wrongly, without a tool.
    options={"must_use_tool": True},
)
