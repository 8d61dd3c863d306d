"""Built-in tool packs, installed as ``agentsmall.tools`` (``--tools agentsmall.tools.NAME``)."""
