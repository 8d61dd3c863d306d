"""Built-in evaluation: BFCL (tool calling) and GSM8K (arithmetic word problems).

The benchmark files stay outside the repository and are read by path (``--data``); a small
sample written for agentsmall's own tests ships in ``agentsmall/evals/data`` in the same layout.
"""

from agentsmall.evals._bfcl import BfclRun, ItemResult, judge, run_bfcl, summarize
from agentsmall.evals._checker import (
    Verdict,
    check_call,
    check_calls,
    check_irrelevance,
    has_call,
    normalise_string,
)
from agentsmall.evals._data import (
    CATEGORIES,
    BfclItem,
    Gsm8kItem,
    load_bfcl,
    load_gsm8k,
    shipped_data,
)
from agentsmall.evals._gsm8k import (
    Gsm8kResult,
    Gsm8kRun,
    escalation_figures,
    last_number,
    run_gsm8k,
    run_gsm8k_modes,
    same_number,
)
from agentsmall.evals._modes import MODES, Attempt, first_json_value, run_step
from agentsmall.evals._schema import BfclTools, to_json_schema, tools_for

__all__ = [
    "CATEGORIES",
    "MODES",
    "Attempt",
    "BfclItem",
    "BfclRun",
    "BfclTools",
    "Gsm8kItem",
    "Gsm8kResult",
    "Gsm8kRun",
    "ItemResult",
    "Verdict",
    "check_call",
    "check_calls",
    "check_irrelevance",
    "escalation_figures",
    "first_json_value",
    "has_call",
    "judge",
    "last_number",
    "load_bfcl",
    "load_gsm8k",
    "normalise_string",
    "run_bfcl",
    "run_gsm8k",
    "run_gsm8k_modes",
    "run_step",
    "same_number",
    "shipped_data",
    "summarize",
    "to_json_schema",
    "tools_for",
]
