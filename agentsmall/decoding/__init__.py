"""Constrained decoding: a regex from outlines-core, masks from llguidance or outlines-core,
driven token by token on llama.cpp."""

from agentsmall.decoding._constraint import (
    BOUNDED_NUMBER,
    CompiledConstraint,
    compile_json_schema,
    compile_regex,
    json_schema_regex,
)
from agentsmall.decoding._engine import (
    BACKEND_ENV,
    BACKENDS,
    Constraint,
    Decoder,
    DecodeResult,
    default_backend,
)
from agentsmall.decoding._llguidance import GrammarConstraint
from agentsmall.decoding._vocabulary import TokenVocabulary

__all__ = [
    "BACKENDS",
    "BACKEND_ENV",
    "BOUNDED_NUMBER",
    "CompiledConstraint",
    "Constraint",
    "DecodeResult",
    "Decoder",
    "GrammarConstraint",
    "TokenVocabulary",
    "compile_json_schema",
    "compile_regex",
    "default_backend",
    "json_schema_regex",
]
