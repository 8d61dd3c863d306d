"""The calculator tool pack: a safe evaluator that computes but never runs code."""

import asyncio
import math
import time

import pytest

from agentsmall._runner import run_call
from agentsmall._tool import Tool
from agentsmall.tools import calculator
from agentsmall.tools.calculator import (
    MAX_EXPRESSION_CHARS,
    TOOLS,
    add,
    calculate,
    divide,
    evaluate,
    multiply,
    subtract,
)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("7*12", 84),
        ("7/2", 3.5),
        ("6/3", 2),
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("2**10", 1024),
        ("2 ** -1", 0.5),
        ("-3 + +4", 1),
        ("-(-3)", 3),
        ("10 // 3", 3),
        ("-7 // 2", -4),
        ("10 % 3", 1),
        ("5.5 % 2", 1.5),
        ("0.1 + 0.2", 0.3),
        ("1e3", 1000),
        ("2.5 * 4", 10),
        ("sqrt(16)", 4),
        ("sqrt(2)", 1.4142135623731),
        ("sqrt(10**40)", 10**20),
        ("abs(-3.5)", 3.5),
        ("round(2.5)", 3),
        ("round(-2.5)", -3),
        ("round(2.675, 2)", 2.68),
        ("round(1234, -2)", 1200),
        ("min(3, 1, 2)", 1),
        ("max(1.5, 2)", 2),
        ("floor(-2.5)", -3),
        ("ceil(2.1)", 3),
        ("log(e)", 1),
        ("log(8, 2)", 3),
        ("log10(1000)", 3),
        ("log2(1024)", 10),
        ("exp(0)", 1),
        ("sin(pi / 2)", 1),
        ("cos(0)", 1),
        ("tan(0)", 0),
        ("pi", 3.14159265358979),
        ("2 * pi * 10", 62.8318530717959),
        ("(17 * 23 + 4) / 5", 79),
        ("2**4095 // 2**4094", 2),
        ("7 \u00d7 3 =", 21),  # typographic times sign and a trailing '='
        ("10 \u00f7 4", 2.5),
        ("\u22125 + 1", -4),
    ],
)
def test_evaluates(expression: str, expected: float) -> None:
    result = evaluate(expression)
    assert result == expected
    assert type(result) is type(expected)


def test_ints_stay_exact() -> None:
    assert evaluate("2**100") == 2**100
    assert evaluate("12345678901234567890 * 98765432109876543210") == (
        12345678901234567890 * 98765432109876543210
    )
    assert evaluate("(10**30 + 1) - 10**30") == 1


def test_big_floats_stay_floats() -> None:
    value = evaluate("1e20 * 3")
    assert isinstance(value, float)
    assert value == 3e20


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("__import__('os').system('echo hi')", "attribute access"),
        ("__import__('os')", "unknown function '__import__'"),
        ("__builtins__", "unknown name '__builtins__'"),
        ("().__class__", "attribute access"),
        ("(1).real", "attribute access"),
        ("math.pi", "attribute access"),
        ("foo(1)", "unknown function 'foo'"),
        ("eval('1')", "unknown function 'eval'"),
        ("open('/etc/passwd')", "unknown function 'open'"),
        ("x + 1", "unknown name 'x'"),
        ("'a'", "strings are not allowed"),
        ("'a' * 3", "strings are not allowed"),
        ("f'{1}'", "strings are not allowed"),
        ("b'a'", "strings are not allowed"),
        ("lambda: 1", "lambda is not allowed"),
        ("(lambda x: x)(1)", "only the listed functions"),
        ("[1, 2]", "lists are not allowed"),
        ("[x for x in (1,)]", "comprehensions"),
        ("{1: 2}", "dicts are not allowed"),
        ("1,000", "comma"),
        ("(1)[0]", "indexing"),
        ("1 < 2", "comparisons"),
        ("1 and 2", "'and' / 'or'"),
        ("1 if 1 else 2", "'if ... else'"),
        ("(y := 2)", "assignments"),
        ("True", "not a number"),
        ("None", "not a number"),
        ("...", "not a number"),
        ("1j", "complex"),
        ("2^3", "'**'"),
        ("6 & 3", "'&'"),
        ("~1", "'~'"),
        ("not 1", "'not'"),
        ("sqrt", "is a function"),
        ("sqrt(1, 2)", "sqrt() takes 1 argument, got 2"),
        ("min()", "min() takes at least 1 argument, got 0"),
        ("log(1, 2, 3)", "log() takes 1 or 2 arguments, got 3"),
        ("abs(x=1)", "keyword"),
        ("max(*[1, 2])", "unpacking"),
        ("round(2.5, 0.5)", "whole number"),
        ("sqrt(-1)", "negative"),
        ("log(0)", "log(0) is undefined"),
        ("log(8, 1)", "undefined"),
        ("(-8) ** (1/3)", "not a real number"),
        ("2 +", "not a valid arithmetic expression"),
        ("import os", "not a valid arithmetic expression"),
        ("1; 2", "not a valid arithmetic expression"),
        ("", "empty"),
        ("  = ", "empty"),
    ],
)
def test_rejects(expression: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        evaluate(expression)
    assert message in str(info.value)


@pytest.mark.parametrize(
    "expression",
    ["9**9**9", "2**4097", "10**2000", "(10**1000) * (10**1000)", "2**4096", "99999**99999"],
)
def test_refuses_huge_integers_quickly(expression: str) -> None:
    started = time.perf_counter()
    with pytest.raises(ValueError, match="too large"):
        evaluate(expression)
    assert time.perf_counter() - started < 0.5


@pytest.mark.parametrize(
    "expression", ["10.0**400", "exp(1000)", "1e308 * 10", "(2**4000) * 1.5", "10**400 / 3"]
)
def test_refuses_float_overflow(expression: str) -> None:
    with pytest.raises(ValueError, match="too large"):
        evaluate(expression)


def test_tiny_results_underflow_to_zero() -> None:
    assert evaluate("2**-10000") == 0


def test_limits_length_and_nesting() -> None:
    with pytest.raises(ValueError, match="too long"):
        evaluate("1+" * MAX_EXPRESSION_CHARS + "1")
    with pytest.raises(ValueError, match="nested too deeply"):
        evaluate("-" * 200 + "1")
    assert evaluate("(" * 50 + "1" + ")" * 50) == 1
    with pytest.raises(ValueError):
        evaluate("(" * 240 + "1" + ")" * 240)


@pytest.mark.parametrize("expression", ["1/0", "1//0", "1%0", "0**-1", "1 / (2 - 2)", "0.0**-1"])
def test_division_by_zero(expression: str) -> None:
    with pytest.raises(ZeroDivisionError, match="division by zero"):
        evaluate(expression)


def test_rejects_non_strings() -> None:
    with pytest.raises(ValueError, match="string"):
        evaluate(42)  # type: ignore[arg-type]


def test_never_evals(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("eval/exec must never be used")

    monkeypatch.setattr("builtins.eval", forbidden)
    monkeypatch.setattr("builtins.exec", forbidden)
    assert evaluate("2 + 2") == 4


# ---------------------------------------------------------------------------------------------
# The tools


def test_exports() -> None:
    expected = [calculate, add, subtract, multiply, divide]
    assert all(a is b for a, b in zip(TOOLS, expected, strict=True))
    assert all(isinstance(t, Tool) for t in TOOLS)
    assert calculator.TOOLS is TOOLS


def test_calculate_tool_definition() -> None:
    assert calculate.name == "calculate"
    assert calculate.signature() == "calculate(expression: string) -> float | int"
    assert "sqrt" in calculate.description
    assert "Args:" not in calculate.description
    description = calculate.parameters["properties"]["expression"]["description"]
    assert "2**10" in description
    assert calculate(expression="7*12") == 84


def test_simple_tools() -> None:
    assert add(2, 3) == 5
    assert subtract(10, 4.5) == 5.5
    assert multiply(6, 7) == 42
    assert divide(7, 2) == 3.5
    assert divide(6, 3) == 2
    assert add(0.1, 0.2) == 0.3
    assert multiply.signature() == "multiply(a: number, b: number) -> float | int"
    assert multiply.parameters["properties"]["a"]["description"] == "The first number."
    for simple in (add, subtract, multiply, divide):
        assert simple.parameters["required"] == ["a", "b"]
        assert simple.description


def test_divide_by_zero_is_clear() -> None:
    with pytest.raises(ZeroDivisionError, match="cannot divide by zero"):
        divide(1, 0)


def test_simple_tools_refuse_non_finite_results() -> None:
    with pytest.raises(ValueError, match="too large"):
        multiply(1e308, 10)
    with pytest.raises(ValueError):
        add(math.inf, -math.inf)


def test_errors_reach_the_model_as_observations() -> None:
    outcome = asyncio.run(run_call(calculate, {"expression": "__import__('os')"}))
    assert outcome.observation.startswith("Error: ValueError: unknown function '__import__'")
    outcome = asyncio.run(run_call(divide, {"a": 1, "b": 0}))
    assert outcome.observation == "Error: ZeroDivisionError: cannot divide by zero (b is 0)"
    outcome = asyncio.run(run_call(calculate, {"expression": "7 * 12"}))
    assert outcome.observation == "84"
    outcome = asyncio.run(run_call(multiply, {"a": "2.5", "b": 4}))
    assert outcome.observation == "10"
