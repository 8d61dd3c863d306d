"""Constrained decoding: outlines-core constraints driven token by token on llama.cpp."""

from agentsmall.decoding._constraint import (
    CompiledConstraint,
    compile_json_schema,
    compile_regex,
)
from agentsmall.decoding._engine import Decoder, DecodeResult
from agentsmall.decoding._vocabulary import TokenVocabulary

__all__ = [
    "CompiledConstraint",
    "DecodeResult",
    "Decoder",
    "TokenVocabulary",
    "compile_json_schema",
    "compile_regex",
]
