"""BFCL function docs as agentsmall tools.

BFCL describes parameters in Python's words (``dict``, ``float``, ``tuple``, ``any``) inside a
JSON-schema-like object. The model must see and the decoder must compile real JSON schema, so
each doc is translated the way BFCL itself does for OpenAI-style APIs (dict→object,
float→number, tuple→array, any→string), keeping only the keywords that mean something to both
a model and a grammar: type, description, enum, default, items, properties, required.
Keywords BFCL uses rarely and loosely (format, maximum, minItems, ...) are dropped rather than
half-honoured.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jsonschema

from agentsmall._tool import RESERVED_TOOL_NAMES, TOOL_NAME_PATTERN, Tool

BFCL_TYPES: dict[str, str] = {
    "string": "string",
    "integer": "integer",
    "float": "number",
    "number": "number",
    "boolean": "boolean",
    "array": "array",
    "tuple": "array",
    "dict": "object",
    "object": "object",
    "any": "string",
}
"""BFCL type name → JSON-schema type. ``any`` is a string because BFCL's checker wants a str."""


def to_json_schema(bfcl: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON schema of one BFCL parameter doc (recursively: items, properties)."""
    out: dict[str, Any] = {}
    kind = BFCL_TYPES.get(str(bfcl.get("type")))
    if kind is not None:
        out["type"] = kind
    if isinstance(bfcl.get("description"), str) and bfcl["description"].strip():
        out["description"] = bfcl["description"].strip()
    if kind == "array":
        items = bfcl.get("items")
        if isinstance(items, Mapping):
            out["items"] = to_json_schema(items)
    if kind == "object":
        properties = bfcl.get("properties")
        if isinstance(properties, Mapping) and properties:
            out["properties"] = {k: to_json_schema(v) for k, v in properties.items()}
            out["required"] = [r for r in bfcl.get("required", []) if r in properties]
            out["additionalProperties"] = False
    enum = bfcl.get("enum")
    if isinstance(enum, list) and enum:
        if kind == "array" and all(not isinstance(v, list) for v in enum):
            # BFCL sometimes puts the allowed *item* values on the array itself.
            if "enum" not in out.get("items", {}):
                item_values = _fitting(enum, out.get("items", {}))
                if item_values:
                    out.setdefault("items", {})["enum"] = item_values
        else:
            values = _fitting(enum, out)
            if values:
                out["enum"] = values
    if "default" in bfcl and _fits(bfcl["default"], out):
        out["default"] = bfcl["default"]
    return out


def _fits(value: Any, schema: Mapping[str, Any]) -> bool:
    return jsonschema.Draft202012Validator(dict(schema)).is_valid(value)


def _fitting(values: Sequence[Any], schema: Mapping[str, Any]) -> list[Any]:
    """The enum members that are of the declared type (BFCL has a few that are not)."""
    bare = {k: v for k, v in schema.items() if k != "enum"}
    unique: list[Any] = []
    for v in values:
        if v not in unique and _fits(v, bare):
            unique.append(v)
    return unique


@dataclass(frozen=True)
class BfclTools:
    """An item's functions as tools, with the way back from tool name to BFCL name."""

    tools: list[Tool]
    bfcl_names: dict[str, str]
    """Tool name → the function name BFCL expects (identical unless a name had to change)."""


def tools_for(functions: Sequence[Mapping[str, Any]]) -> BfclTools:
    """Tools for a BFCL item's function docs. Dotted names (``math.gcd``) are kept as they are;
    a name our grammar cannot hold (or a reserved one) gets a safe alias that maps back."""
    tools: list[Tool] = []
    names: dict[str, str] = {}
    for doc in functions:
        original = str(doc["name"])
        name = _tool_name(original, taken=names)
        parameters = to_json_schema({**doc.get("parameters", {}), "type": "dict"})
        parameters.setdefault("properties", {})
        parameters.setdefault("required", [])
        parameters["additionalProperties"] = False
        tools.append(Tool.from_schema(name, str(doc.get("description", "")), parameters))
        names[name] = original
    return BfclTools(tools, names)


def _tool_name(original: str, *, taken: Mapping[str, str]) -> str:
    name = original
    if not TOOL_NAME_PATTERN.match(name) or name in RESERVED_TOOL_NAMES:
        name = re.sub(r"[^A-Za-z0-9_.\-]", "_", name)
        if not re.match(r"[A-Za-z_]", name[:1]):
            name = "f_" + name
        if name in RESERVED_TOOL_NAMES:
            name = "fn_" + name
        name = name[:60]
    base, n = name, 2
    while name in taken:
        name = f"{base[:60]}_{n}"
        n += 1
    return name
