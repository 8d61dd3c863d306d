"""BFCL's AST checker rules, re-implemented from ../shared/bench/README.md (no code copied).

A model's answer is a list of calls in BFCL's shape, ``[{function_name: {param: value}}]``; the
ground truth lists, per expected call, the allowed values of each parameter (``""`` among them
means "may be omitted"). Every function here returns a `Verdict`: valid or not, and why, with
BFCL's error-type names so that results can be compared with the leaderboard's own reports.

Which checker runs depends on the category name, as in BFCL: "parallel" → unordered greedy
matching, otherwise "multiple" → one call against the one expected function, otherwise simple.
Irrelevance categories have no ground truth: see `check_irrelevance`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

PYTHON_TYPES: dict[str, type] = {
    "string": str,
    "integer": int,
    "float": float,
    "boolean": bool,
    "array": list,
    "tuple": list,
    "dict": dict,
    "any": str,
}
"""BFCL type name → the exact Python type a value must have (compared with ``type() ==``)."""

NESTED_TYPES = ("array", "tuple")
"""Types whose items are type-checked too, one level deep."""

_NORMALISE = re.compile(r"[ ,./\-_*^]")


@dataclass(frozen=True)
class Verdict:
    valid: bool
    error_type: str = ""
    errors: tuple[str, ...] = field(default=())

    def __bool__(self) -> bool:
        return self.valid


OK = Verdict(True)


def _fail(error_type: str, message: str) -> Verdict:
    return Verdict(False, error_type, (message,))


def normalise_string(text: str) -> str:
    """BFCL's string comparison form: lower case, without spaces and ``, . / - _ * ^``, with
    ``'`` turned into ``"`` — so "April 1, 2024" equals "april 1 2024"."""
    return _NORMALISE.sub("", text).lower().replace("'", '"')


def is_call_list(output: Any) -> bool:
    """Whether `output` has BFCL's call format: a list of one-key dicts of parameter dicts."""
    return isinstance(output, list) and all(
        isinstance(call, dict) and len(call) == 1 and isinstance(next(iter(call.values())), dict)
        for call in output
    )


# --------------------------------------------------------------------------------------------
# Types


def _answer_type(allowed: Sequence[Any]) -> type | None:
    """The type of the first allowed value that is not the "may be omitted" marker ``""``."""
    for value in allowed:
        if value != "":
            return type(value)
    return None


def _check_type(
    param: str, value: Any, allowed: Any, expected: type, nested: type | None
) -> tuple[Verdict, bool]:
    """Type rule 4. Returns the verdict and whether the value counts as a "variable".

    A variable: the ground truth writes this parameter with a different type than the doc
    declares (say, a name as a string where the doc says dict); then a value of the ground
    truth's type is accepted and later compared directly, without string normalisation.
    """
    answer_type = _answer_type(allowed) if isinstance(allowed, list) else None
    is_variable = answer_type is not None and answer_type is not expected
    if type(value) is expected:
        if nested is None:
            return OK, is_variable
        for allowed_item in allowed:
            # Every item must have the nested type against at least one allowed list; an
            # allowed value that is not a list (the "" marker) imposes nothing.
            if isinstance(allowed_item, list) and not all(
                _check_type(param, item, allowed_item, nested, None)[0] for item in value
            ):
                continue
            return OK, is_variable
    if answer_type is not None and type(value) is answer_type:
        return OK, True
    return (
        _fail(
            "type_error:nested" if type(value) is expected else "type_error:simple",
            f"{param}: {value!r} is {type(value).__name__}, expected {expected.__name__}",
        ),
        False,
    )


# --------------------------------------------------------------------------------------------
# Values


def _check_string(param: str, value: str, allowed: Sequence[Any]) -> Verdict:
    wanted = [normalise_string(a) for a in allowed if isinstance(a, str)]
    if normalise_string(value) in wanted:
        return OK
    return _fail("value_error:string", f"{param}: {value!r} is not one of {list(allowed)!r}")


def _normalise_list(values: Any) -> list[Any]:
    if not isinstance(values, (list, tuple, str)):
        return [values]
    return [normalise_string(v) if isinstance(v, str) else v for v in values]


def _check_list(param: str, value: list[Any], allowed: Sequence[Any]) -> Verdict:
    # An allowed "" is iterated like an empty list, so [] matches an omittable parameter.
    candidates = [_normalise_list(a) for a in allowed if isinstance(a, (list, tuple, str))]
    if _normalise_list(value) in candidates:
        return OK
    return _fail("value_error:list/tuple", f"{param}: {value!r} is not one of {list(allowed)!r}")


def _check_dict(param: str, value: Mapping[str, Any], allowed: Sequence[Any]) -> Verdict:
    """One level deep: every given key allowed with an allowed value, every omitted key
    omittable (its allowed list holds ``""``)."""
    verdict = _fail("dict_checker:unclear", f"{param}: no allowed dict to compare with")
    for candidate in allowed:
        if candidate == "":
            continue
        if not isinstance(candidate, Mapping):
            verdict = _fail("dict_checker:unclear", f"{param}: allowed value is not a dict")
            continue
        verdict = OK
        for key, item in value.items():
            if key not in candidate:
                verdict = _fail("value_error:dict_key", f"{param}: unexpected key {key!r}")
                break
            given = normalise_string(item) if isinstance(item, str) else item
            if given not in _normalise_list(candidate[key]):
                verdict = _fail(
                    "value_error:dict_value",
                    f"{param}[{key!r}]: {item!r} is not one of {candidate[key]!r}",
                )
                break
        if verdict:
            for key, options in candidate.items():
                if key not in value and "" not in options:
                    verdict = _fail("value_error:dict_key", f"{param}: missing key {key!r}")
                    break
        if verdict:
            return OK
    return verdict


def _check_list_of_dicts(param: str, value: list[Any], allowed: Sequence[Any]) -> Verdict:
    """Same count, same order, each dict checked as `_check_dict` does."""
    verdict = _fail("list_dict_checker:unclear", f"{param}: no allowed list to compare with")
    for candidate in allowed:
        if len(value) != len(candidate):
            verdict = _fail(
                "value_error:list_dict_count",
                f"{param}: {len(value)} dicts where {len(candidate)} are expected",
            )
            continue
        for index, item in enumerate(value):
            verdict = (
                _check_dict(param, item, [candidate[index]])
                if isinstance(item, Mapping)
                else _fail("type_error:nested", f"{param}[{index}]: {item!r} is not a dict")
            )
            if not verdict:
                break
        else:
            return OK
    return verdict


# --------------------------------------------------------------------------------------------
# One call


def check_call(
    doc: Mapping[str, Any], call: Mapping[str, Any], expected: Mapping[str, Any]
) -> Verdict:
    """One model call (``{name: params}``) against a function doc and one expected call."""
    name = doc["name"]
    if name not in call:
        given = next(iter(call), None)
        return _fail("simple_function_checker:wrong_func_name", f"called {given!r}, not {name!r}")
    params: Mapping[str, Any] = call[name]
    allowed_by_param: Mapping[str, Any] = expected[name]
    parameters = doc.get("parameters", {})
    properties: Mapping[str, Any] = parameters.get("properties", {})
    for required in parameters.get("required", []):
        if required not in params:
            return _fail(
                "simple_function_checker:missing_required", f"missing required {required!r}"
            )
    for param, value in params.items():
        if param not in properties or param not in allowed_by_param:
            return _fail("simple_function_checker:unexpected_param", f"unexpected {param!r}")
        allowed = allowed_by_param[param]
        declared = str(properties[param].get("type"))
        expected_type = PYTHON_TYPES.get(declared)
        nested: type | None = None
        if declared in NESTED_TYPES:
            items = properties[param].get("items")
            nested = (
                PYTHON_TYPES.get(str(items.get("type"))) if isinstance(items, Mapping) else None
            )
        if declared == "tuple" and isinstance(value, tuple):
            value = list(value)
        if declared == "float" and type(value) is int:
            value = float(value)  # Python's own int → float promotion
        is_variable = False
        if expected_type is not None:
            verdict, is_variable = _check_type(param, value, allowed, expected_type, nested)
            if not verdict:
                return verdict
        if not is_variable:
            if expected_type is dict:
                verdict = _check_dict(param, value, allowed)
            elif expected_type is list and nested is dict:
                verdict = _check_list_of_dicts(param, value, allowed)
            elif expected_type is str:
                verdict = _check_string(param, value, allowed)
            elif expected_type is list:
                verdict = _check_list(param, value, allowed)
            else:
                verdict = (
                    OK
                    if value in allowed
                    else _fail("value_error:others", f"{param}: {value!r} not in {allowed!r}")
                )
            if not verdict:
                return verdict
        elif value not in allowed:
            return _fail("value_error:others", f"{param}: {value!r} not in {allowed!r}")
    for param, allowed in allowed_by_param.items():
        if param not in params and "" not in allowed:
            return _fail(
                "simple_function_checker:missing_optional", f"{param!r} is expected but missing"
            )
    return OK


# --------------------------------------------------------------------------------------------
# Categories


def _doc_named(docs: Sequence[Mapping[str, Any]], name: str) -> Mapping[str, Any] | None:
    return next((d for d in docs if d["name"] == name), None)


def check_calls(
    category: str,
    docs: Sequence[Mapping[str, Any]],
    calls: Any,
    ground_truth: Sequence[Mapping[str, Any]],
) -> Verdict:
    """A whole answer of a category with ground truth (simple, multiple, parallel, live_*)."""
    if not is_call_list(calls):
        return _fail("ast_decoder:decoder_wrong_output_format", "not a list of calls")
    if len(calls) != len(ground_truth):
        kind = next((k for k in ("parallel", "multiple") if k in category), "simple")
        return _fail(
            f"{kind}_function_checker:wrong_count",
            f"{len(calls)} calls where {len(ground_truth)} are expected",
        )
    if "parallel" in category:
        used: set[int] = set()
        for expected in ground_truth:
            doc = _doc_named(docs, next(iter(expected)))
            if doc is None:
                return _fail("parallel_function_checker:no_doc", f"no doc for {expected}")
            errors: list[str] = []
            for index, call in enumerate(calls):
                if index in used:
                    continue
                verdict = check_call(doc, call, expected)
                if verdict:
                    used.add(index)
                    break
                errors.extend(verdict.errors)
            else:
                return Verdict(
                    False,
                    "parallel_function_checker_no_order:cannot_find_match",
                    (f"no call matches {next(iter(expected))!r}", *errors),
                )
        return OK
    expected = ground_truth[0]
    doc = (
        _doc_named(docs, next(iter(expected)))
        if "multiple" in category
        else (docs[0] if docs else None)
    )
    if doc is None:
        return _fail("multiple_function_checker:no_doc", f"no doc for {expected}")
    return check_call(doc, calls[0], expected)


def has_call(calls: Any) -> bool:
    """BFCL's relevance rule: a decodable, non-empty call list (``[]`` and ``[{}]`` are none)."""
    if not is_call_list(calls) or not calls:
        return False
    return not (len(calls) == 1 and not calls[0])


def check_irrelevance(*, valid: bool, calls: Any) -> Verdict:
    """Irrelevance: right only for a valid answer that calls nothing. Output that was cut off
    or does not parse never counts as an abstention (stricter than BFCL, which counts any
    undecodable text as "no call")."""
    if not valid:
        return _fail("irrelevance:invalid_output", "the output is not a valid answer")
    if has_call(calls):
        return _fail("irrelevance:called_a_function", "a function was called")
    return OK
