"""Ready agents: each module defines `AGENT = AgentSpec(...)`; run one with `--agent NAME`."""
