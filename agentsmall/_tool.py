"""Turning a plain Python function into a tool a small model can call.

A small model only ever sees a tool through text: its name, a description and the JSON schema of
its arguments (which is also what the decoder compiles into a grammar). So everything here is
decided once, at decoration time, and every function whose annotations cannot be expressed as a
flat, self-contained JSON schema is refused right there with a message that names the function
and the argument, instead of failing later in the middle of a run.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import inspect
import json
import re
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, overload

import jsonschema
import pydantic
from docstring_parser import ParseError
from docstring_parser.google import DEFAULT_SECTIONS, GoogleParser

from agentsmall.errors import ToolDefinitionError

__all__ = ["RESERVED_TOOL_NAMES", "TOOL_NAME_PATTERN", "Tool", "as_tool", "tool"]

#: Names a tool may take: they appear verbatim in prompts and grammars, so keep them plain.
TOOL_NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,63}$")

#: Names the agent loop uses for its own actions; a tool with one of them would be unreachable.
RESERVED_TOOL_NAMES = frozenset({"final_answer", "escalate"})

# Only these docstring sections are cut out of the description. Everything else (an "Example:"
# section in particular) stays in: examples are exactly what helps a small model most.
_DOC_SECTION_TITLES = {
    "Args", "Arguments", "Parameters", "Params",
    "Returns", "Return", "Yields", "Yield",
    "Raises", "Exceptions", "Except", "Raise",
}  # fmt: skip
_DOC_PARSER = GoogleParser(sections=[s for s in DEFAULT_SECTIONS if s.title in _DOC_SECTION_TITLES])

# Schema keywords whose value is a single sub-schema, a list of them, or a name -> schema map. The
# cleaning walk only descends through these, so that data ("default", "enum", "examples", ...)
# and property *names* (a property may well be called "title") are never touched.
_SUBSCHEMA_KEYS = {
    "items", "additionalProperties", "not", "contains", "propertyNames", "if", "then", "else",
    "unevaluatedItems", "unevaluatedProperties", "additionalItems",
}  # fmt: skip
_SUBSCHEMA_LIST_KEYS = {"anyOf", "oneOf", "allOf", "prefixItems"}
_SUBSCHEMA_MAP_KEYS = {"properties", "patternProperties", "dependentSchemas"}


@dataclass(frozen=True, eq=False)
class Tool:
    """A function plus everything the agent needs to offer it to a model and to call it safely.

    Build one with :func:`tool`; the fields are computed from the function's signature and
    docstring and are read-only. Calling the tool calls the original function, so decorated
    functions keep working as ordinary functions in the user's own code and tests.
    """

    name: str
    description: str
    function: Callable[..., Any]
    arguments_model: type[pydantic.BaseModel]
    parameters: dict[str, Any]
    timeout: float | None = 30.0
    dangerous: bool = False
    is_async: bool = False
    returns: str | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the original function directly: no validation, no timeout."""
        return self.function(*args, **kwargs)

    def validate_arguments(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """Check and coerce model-provided arguments; return keyword arguments for the function.

        Values are converted the way pydantic converts them ("3" -> 3 for an int, a dict -> the
        model instance for a pydantic-model argument, a string -> the member for an Enum).
        Defaults are filled in for omitted optional arguments.

        Raises:
            pydantic.ValidationError: missing, unknown or ill-typed arguments.
        """
        instance = self.arguments_model.model_validate(dict(arguments))
        values = {
            (info.alias or field): getattr(instance, field)
            for field, info in type(instance).model_fields.items()
        }
        # Tools built by `Tool.from_schema` keep their (already checked) arguments as extras.
        values.update(instance.model_extra or {})
        return values

    @classmethod
    def from_schema(
        cls,
        name: str,
        description: str,
        parameters: Mapping[str, Any],
        *,
        function: Callable[..., Any] | None = None,
        timeout: float | None = 30.0,
        dangerous: bool = False,
    ) -> Tool:
        """A tool defined by a JSON schema of its arguments instead of a typed function.

        For tools described elsewhere (an OpenAI-style tool list, a benchmark, a remote API):
        the schema is what the model sees and what the decoder compiles, and arguments are
        validated against it with jsonschema. Like `@tool` tools, unknown arguments are refused
        unless the schema sets ``additionalProperties`` itself, and ``$ref``s are inlined.
        Without `function` the tool can be offered and validated but not run: calling it raises
        `NotImplementedError`, which the runner turns into an observation.

        Raises:
            ToolDefinitionError: a bad name, a schema that is not an object schema, or an
                invalid JSON schema.
        """
        label = f"schema tool {name!r}"
        tool_name = _check_name(name, label)
        if not isinstance(parameters, Mapping) or parameters.get("type", "object") != "object":
            raise ToolDefinitionError(
                f"{label}: parameters must be a JSON schema of type 'object', "
                f"got {parameters!r:.80}"
            )
        defs: dict[str, Any] = dict(parameters.get("$defs", {}))
        try:
            cleaned = _clean_schema({k: v for k, v in parameters.items() if k != "$defs"}, defs, ())
        except _RecursiveSchemaError as exc:
            raise ToolDefinitionError(
                f"{label}: the schema refers to itself ({exc.args[0]}); it cannot be written out "
                f"as a flat schema"
            ) from exc
        schema: dict[str, Any] = {
            "type": "object",
            "properties": {},
            "required": [],
            "additionalProperties": False,
            **cleaned,
        }
        try:
            validator_class = jsonschema.validators.validator_for(schema)
            validator_class.check_schema(schema)
        except jsonschema.SchemaError as exc:
            raise ToolDefinitionError(f"{label}: invalid JSON schema: {exc.message}") from exc
        model_name = "".join(p.capitalize() for p in re.split(r"[^A-Za-z0-9]+", tool_name) if p)
        arguments_model = type(
            f"{model_name or 'Tool'}SchemaArguments",
            (_SchemaArguments,),
            {"json_schema_validator": validator_class(schema), "__module__": __name__},
        )
        if function is None:
            function = _unimplemented(tool_name)
        return cls(
            name=tool_name,
            description=description.strip(),
            function=function,
            arguments_model=arguments_model,
            parameters=schema,
            timeout=None if timeout is None else float(timeout),
            dangerous=bool(dangerous),
            is_async=_is_async_callable(function),
        )

    def signature(self) -> str:
        """A compact one-line rendering for prompts, e.g. ``add(a: number, b: number) -> float``.

        Types are JSON-schema type names (what the model must actually produce), enums and
        literals are shown as their allowed values, optional arguments carry ``=default``.
        """
        properties: dict[str, Any] = self.parameters.get("properties", {})
        required = set(self.parameters.get("required", []))
        parts = []
        for arg_name, schema in properties.items():
            text = f"{arg_name}: {_schema_type_text(schema)}"
            if arg_name not in required and "default" in schema:
                text += "=" + json.dumps(schema["default"], ensure_ascii=False)
            parts.append(text)
        text = f"{self.name}({', '.join(parts)})"
        return f"{text} -> {self.returns}" if self.returns else text

    def __repr__(self) -> str:
        return f"<Tool {self.signature()}>"


class _SchemaArguments(pydantic.BaseModel):
    """Arguments of a `Tool.from_schema` tool: checked against its JSON schema, kept as given.

    The values stay plain JSON (no pydantic conversion), so what was validated is exactly what
    the function receives.
    """

    model_config = pydantic.ConfigDict(extra="allow")
    json_schema_validator: ClassVar[Any] = None

    @pydantic.model_validator(mode="before")
    @classmethod
    def _check_against_schema(cls, data: Any) -> Any:
        validator = cls.json_schema_validator
        if validator is not None:
            errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
            if errors:
                where = "/".join(str(p) for p in errors[0].absolute_path)
                raise ValueError(f"{where + ': ' if where else ''}{errors[0].message}")
        return data


def _unimplemented(name: str) -> Callable[..., Any]:
    def unimplemented(**_: Any) -> Any:
        raise NotImplementedError(
            f"tool {name!r} is defined by a schema only and has no implementation to run"
        )

    return unimplemented


@overload
def tool(
    fn: Callable[..., Any],
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    timeout: float | None = 30.0,
    dangerous: bool = False,
) -> Tool: ...


@overload
def tool(
    fn: None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    timeout: float | None = 30.0,
    dangerous: bool = False,
) -> Callable[[Callable[..., Any]], Tool]: ...


def tool(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    timeout: float | None = 30.0,
    dangerous: bool = False,
) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """Make a function a tool. Usable bare (``@tool``) and with options (``@tool(timeout=5)``).

    Args:
        fn: The function (sync or async). Every parameter needs a type annotation that maps to
            JSON schema; its description comes from the docstring's ``Args:`` section or from
            ``Annotated[T, Field(description=...)]``.
        name: The name the model calls it by; defaults to the function's ``__name__``.
        description: Overrides the docstring text shown to the model.
        timeout: Seconds a call may take before it is abandoned; ``None`` for no limit.
        dangerous: Marks tools that change the world, so the agent can ask before calling.

    Raises:
        ToolDefinitionError: the function cannot become a tool; the message says why.
    """
    if fn is None:

        def decorator(function: Callable[..., Any]) -> Tool:
            return _build_tool(
                function, name=name, description=description, timeout=timeout, dangerous=dangerous
            )

        return decorator
    return _build_tool(fn, name=name, description=description, timeout=timeout, dangerous=dangerous)


def as_tool(obj: Tool | Callable[..., Any]) -> Tool:
    """Accept either a Tool or a plain function wherever tools are passed in (``tools=[...]``)."""
    if isinstance(obj, Tool):
        return obj
    return tool(obj)


def _loop_tool(fn: Callable[..., Any], *, name: str, timeout: float | None = None) -> Tool:
    """A tool under a name reserved for the agent loop itself (e.g. ``"escalate"``).

    The reserved-name check exists so that a *user* tool can never shadow one of the loop's
    actions; the loop's own actions go through here instead, which is why this is private and
    accepts reserved names only. Everything else (schema, description) is built as for `@tool`.
    """
    if name not in RESERVED_TOOL_NAMES:
        raise ToolDefinitionError(f"{name!r} is not a name reserved for the agent loop")
    built = _build_tool(fn, name=f"_{name}", description=None, timeout=timeout, dangerous=False)
    return dataclasses.replace(built, name=name)


# --------------------------------------------------------------------------------------------
# Building


def _build_tool(
    fn: Any,
    *,
    name: str | None,
    description: str | None,
    timeout: float | None,
    dangerous: bool,
) -> Tool:
    if isinstance(fn, Tool):  # re-decorating: start again from the original function
        fn = fn.function
    if not callable(fn):
        hint = " (to set the name, write @tool(name=...))" if isinstance(fn, str) else ""
        raise ToolDefinitionError(
            f"@tool expects a function, got {type(fn).__name__} {fn!r:.60}{hint}"
        )
    label = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)
    tool_name = _check_name(name if name is not None else getattr(fn, "__name__", None), label)
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0
    ):
        raise ToolDefinitionError(
            f"tool {tool_name!r}: timeout must be a positive number of seconds or None, "
            f"got {timeout!r}"
        )
    if inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn):
        raise ToolDefinitionError(
            f"function {label!r} is a generator; a tool must return its result (use return, "
            f"not yield)"
        )
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError) as exc:
        raise ToolDefinitionError(f"cannot read the signature of {label!r}: {exc}") from exc

    # A partial's own docstring describes functools.partial; the wrapped function's is wanted.
    documented = fn.func if isinstance(fn, functools.partial) else fn
    doc_text, arg_docs = _parse_docstring(inspect.getdoc(documented) or "")
    fields: dict[str, Any] = {}
    for index, (param_name, param) in enumerate(signature.parameters.items()):
        where = f"function {label!r}, argument {param_name!r}"
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            star = "*" if param.kind is param.VAR_POSITIONAL else "**"
            raise ToolDefinitionError(
                f"{where}: {star}{param_name} is not supported; a tool needs a fixed set of "
                f"named arguments"
            )
        if param.kind is param.POSITIONAL_ONLY:
            raise ToolDefinitionError(
                f"{where}: positional-only arguments are not supported (tools are called with "
                f"keyword arguments)"
            )
        if param.annotation is param.empty and index == 0 and param_name in ("self", "cls"):
            raise ToolDefinitionError(
                f"{where}: decorate a plain function, not a method inside a class; to offer a "
                f"method, pass the bound method instead: tool(instance.method)"
            )
        if param.annotation is param.empty:
            raise ToolDefinitionError(
                f"{where}: needs a type annotation (e.g. {param_name}: str) so the model knows "
                f"what to pass"
            )
        annotation = _resolve_annotation(param.annotation, fn, where)
        try:
            pydantic.TypeAdapter(annotation).json_schema()
        except Exception as exc:
            raise ToolDefinitionError(
                f"{where}: the type {_annotation_text(annotation)} cannot be expressed as JSON "
                f"schema ({type(exc).__name__}); use str, int, float, bool, Literal, an Enum, "
                f"list/dict of those, or a pydantic model"
            ) from exc
        field_kwargs: dict[str, Any] = {}
        if param.default is not param.empty:
            field_kwargs["default"] = param.default
        if param_name in arg_docs:
            field_kwargs["description"] = arg_docs[param_name]
        # Parameter names that pydantic reserves (leading underscore) or that shadow BaseModel
        # attributes ("json", "schema", "copy", ...) get a neutral field name with the real name
        # as alias: validation and schema both go by the alias.
        field_name = param_name
        if param_name.startswith("_") or hasattr(pydantic.BaseModel, param_name):
            field_name = f"arg{index}_{param_name.lstrip('_')}"
            field_kwargs["alias"] = param_name
        fields[field_name] = (annotation, pydantic.Field(**field_kwargs))

    model_name = "".join(p.capitalize() for p in re.split(r"[^A-Za-z0-9]+", tool_name) if p)
    try:
        arguments_model: type[pydantic.BaseModel] = pydantic.create_model(
            f"{model_name or 'Tool'}Arguments",
            __config__=pydantic.ConfigDict(extra="forbid", protected_namespaces=()),
            **fields,
        )
        raw_schema = arguments_model.model_json_schema()
    except Exception as exc:  # defaults of the wrong type, odd metadata, ...
        raise ToolDefinitionError(
            f"function {label!r}: cannot build the argument model: {exc}"
        ) from exc

    defs: dict[str, Any] = raw_schema.get("$defs", {})
    properties: dict[str, Any] = {}
    for prop_name, prop_schema in raw_schema.get("properties", {}).items():
        try:
            properties[prop_name] = _clean_schema(prop_schema, defs, ())
        except _RecursiveSchemaError as exc:
            raise ToolDefinitionError(
                f"function {label!r}, argument {prop_name!r}: the type refers to itself "
                f"({exc.args[0]}); recursive models cannot be written out as a flat schema"
            ) from exc
    parameters: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "required": list(raw_schema.get("required", [])),
        "additionalProperties": False,
    }

    return Tool(
        name=tool_name,
        description=doc_text if description is None else description.strip(),
        function=fn,
        arguments_model=arguments_model,
        parameters=parameters,
        timeout=None if timeout is None else float(timeout),
        dangerous=bool(dangerous),
        is_async=_is_async_callable(fn),
        returns=_return_text(signature.return_annotation),
    )


def _check_name(name: Any, label: str) -> str:
    if not isinstance(name, str) or not TOOL_NAME_PATTERN.match(name):
        raise ToolDefinitionError(
            f"function {label!r}: {name!r} is not a valid tool name (letters, digits, '_', '.', "
            f"'-'; starting with a letter or '_'; at most 64 characters); pass @tool(name=...)"
        )
    if name in RESERVED_TOOL_NAMES:
        raise ToolDefinitionError(
            f"function {label!r}: the tool name {name!r} is reserved for the agent itself; "
            f"pass @tool(name=...) to choose another"
        )
    return name


def _resolve_annotation(annotation: Any, fn: Any, where: str) -> Any:
    """Evaluate a string annotation (``from __future__ import annotations``) in the function's
    module, one parameter at a time so that an error can name the argument."""
    if not isinstance(annotation, str):
        return annotation
    target = inspect.unwrap(fn) if callable(fn) else fn
    globalns = getattr(target, "__globals__", None)
    if globalns is None:
        module = inspect.getmodule(target)
        globalns = vars(module) if module is not None else {}
    try:
        return eval(annotation, dict(globalns))  # same evaluation typing.get_type_hints does
    except Exception as exc:
        raise ToolDefinitionError(
            f"{where}: cannot resolve the annotation {annotation!r} ({type(exc).__name__}: "
            f"{exc}); types used in annotations must be importable at module level"
        ) from exc


def _parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """Split a google-style docstring into the text for the model and per-argument descriptions."""
    if not doc.strip():
        return "", {}
    try:
        parsed = _DOC_PARSER.parse(doc)
    except ParseError:  # malformed sections: show the whole text, lose nothing
        return doc.strip(), {}
    arg_docs = {
        p.arg_name: " ".join(p.description.split())
        for p in parsed.params
        if p.arg_name and p.description
    }
    return (parsed.description or "").strip(), arg_docs


def _is_async_callable(fn: Any) -> bool:
    if inspect.iscoroutinefunction(fn):
        return True
    # An instance whose class defines `async def __call__` (iscoroutinefunction misses those).
    return not inspect.isfunction(fn) and inspect.iscoroutinefunction(type(fn).__call__)


def _return_text(annotation: Any) -> str | None:
    if annotation is inspect.Signature.empty:
        return None
    if isinstance(annotation, str):  # postponed annotations: the source text is what we want
        return annotation
    return _annotation_text(annotation)


def _annotation_text(annotation: Any) -> str:
    """Readable text of a type: ``int``, ``list[str]``, ``float | int``, ``Point``."""
    if annotation is None or annotation is type(None):
        return "None"
    if isinstance(annotation, type) and not isinstance(annotation, types.GenericAlias):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def _schema_type_text(schema: Mapping[str, Any]) -> str:
    """The type of one (already inlined) schema as compact text for a prompt."""
    if "enum" in schema:
        return "|".join(json.dumps(v, ensure_ascii=False) for v in schema["enum"])
    if "const" in schema:
        return json.dumps(schema["const"], ensure_ascii=False)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return "|".join(_schema_type_text(s) for s in schema[key])
    if "allOf" in schema and len(schema["allOf"]) == 1:
        return _schema_type_text(schema["allOf"][0])
    kind = schema.get("type")
    if isinstance(kind, list):
        return "|".join(_schema_type_text({**schema, "type": k}) for k in kind)
    if kind == "array":
        items = schema.get("items")
        if isinstance(items, Mapping) and items:
            return f"array[{_schema_type_text(items)}]"
        return "array"
    if kind == "object":
        props = schema.get("properties")
        if isinstance(props, Mapping) and props:
            required = set(schema.get("required", []))
            inner = ", ".join(
                f"{k}{'' if k in required else '?'}: {_schema_type_text(v)}"
                for k, v in props.items()
            )
            return "{" + inner + "}"
        extra = schema.get("additionalProperties")
        if isinstance(extra, Mapping) and extra:
            return f"object[string, {_schema_type_text(extra)}]"
        return "object"
    if isinstance(kind, str):
        return kind
    return "any"


class _RecursiveSchemaError(Exception):
    """A $ref cycle: the schema cannot be inlined into a finite tree."""


def _clean_schema(schema: Any, defs: Mapping[str, Any], stack: tuple[str, ...]) -> Any:
    """Return a copy of `schema` with every ``$ref`` inlined and every ``title`` keyword removed.

    Inlined schemas are what small-model grammar compilers handle best, and titles are pydantic
    noise ("A", "B") that costs prompt tokens and tells the model nothing.
    """
    if not isinstance(schema, Mapping):
        return copy.deepcopy(schema)
    if "$ref" in schema:
        ref = schema["$ref"]
        def_name = ref.rsplit("/", 1)[-1]
        if not isinstance(ref, str) or not ref.startswith("#/$defs/") or def_name not in defs:
            raise _RecursiveSchemaError(f"unresolvable reference {ref!r}")
        if def_name in stack:
            raise _RecursiveSchemaError(" -> ".join((*stack, def_name)))
        resolved = _clean_schema(defs[def_name], defs, (*stack, def_name))
        siblings = {k: v for k, v in schema.items() if k != "$ref"}
        return {**resolved, **_clean_schema(siblings, defs, stack)}
    # Older pydantic wraps a described reference as {"allOf": [{"$ref": ...}], "description": ...}.
    all_of = schema.get("allOf")
    if isinstance(all_of, list) and len(all_of) == 1 and isinstance(all_of[0], Mapping):
        siblings = {k: v for k, v in schema.items() if k != "allOf"}
        return {**_clean_schema(all_of[0], defs, stack), **_clean_schema(siblings, defs, stack)}

    cleaned: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("title", "$defs", "definitions"):
            continue
        if key in _SUBSCHEMA_KEYS and isinstance(value, Mapping):
            cleaned[key] = _clean_schema(value, defs, stack)
        elif key in _SUBSCHEMA_LIST_KEYS and isinstance(value, list):
            cleaned[key] = [_clean_schema(item, defs, stack) for item in value]
        elif key in _SUBSCHEMA_MAP_KEYS and isinstance(value, Mapping):
            cleaned[key] = {k: _clean_schema(v, defs, stack) for k, v in value.items()}
        else:
            cleaned[key] = copy.deepcopy(value)
    return cleaned
