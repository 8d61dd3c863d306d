"""Arithmetic tools: a safe expression calculator and four one-step operations.

Small models are bad at arithmetic and good at copying numbers, so handing them a calculator is
one of the most useful tools there is. `calculate` evaluates an expression by walking its syntax
tree with an explicit whitelist; it never calls ``eval``, so an expression can compute but never
import, read attributes, or run code. Limits on length, nesting and number size keep a single
call from burning CPU or memory ("9**9**9" is refused up front, not computed).

`add`, `subtract`, `multiply` and `divide` exist because the smallest models fill in two numbers
far more reliably than they write an expression.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Context, Decimal
from typing import Annotated

from pydantic import Field

from agentsmall._tool import tool

__all__ = [
    "MAX_DEPTH",
    "MAX_EXPRESSION_CHARS",
    "MAX_INT_BITS",
    "TOOLS",
    "add",
    "calculate",
    "divide",
    "evaluate",
    "multiply",
    "subtract",
]

#: Longest expression accepted, in characters.
MAX_EXPRESSION_CHARS = 500
#: Deepest nesting of operations accepted (also keeps the recursive walk far from the stack limit).
MAX_DEPTH = 60
#: Largest integer (in bits, about 1,233 decimal digits) any step may produce.
MAX_INT_BITS = 4096
#: Floats are reported with this many significant digits, which hides binary noise (0.1 + 0.2
#: is 0.3, not 0.30000000000000004) without losing anything a person would call a digit.
_SIGNIFICANT_DIGITS = 15
#: Largest integer a float represents exactly; integral floats below it are reported as ints.
_EXACT_FLOAT_INT = 2**53

Number = int | float

_CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e}

# Friendly names for the syntax we refuse, so the model learns what to write instead.
_REFUSED_SYNTAX: dict[type[ast.AST], str] = {
    ast.Attribute: "attribute access (.name) is not allowed",
    ast.Subscript: "indexing (x[...]) is not allowed",
    ast.Lambda: "lambda is not allowed",
    ast.Compare: "comparisons are not supported",
    ast.BoolOp: "'and' / 'or' are not supported",
    ast.IfExp: "'if ... else' is not supported",
    ast.NamedExpr: "assignments are not allowed",
    ast.JoinedStr: "strings are not allowed, only numbers",
    ast.List: "lists are not allowed",
    ast.Tuple: "a comma is only allowed between function arguments (write 1000, not 1,000)",
    ast.Set: "sets are not allowed",
    ast.Dict: "dicts are not allowed",
    ast.ListComp: "comprehensions are not allowed",
    ast.SetComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed",
    ast.GeneratorExp: "comprehensions are not allowed",
    ast.Starred: "'*' unpacking is not allowed",
}


# --------------------------------------------------------------------------------------------
# The evaluator


def evaluate(expression: str) -> Number:
    """Evaluate an arithmetic expression safely; see `calculate` for what is allowed.

    Raises:
        ValueError: the expression is not allowed, not valid, or too big to compute.
        ZeroDivisionError: it divides by zero.
    """
    if not isinstance(expression, str):
        raise ValueError("the expression must be a string")
    text = _normalize(expression)
    if not text:
        raise ValueError("the expression is empty")
    if len(text) > MAX_EXPRESSION_CHARS:
        raise ValueError(
            f"the expression is too long ({len(text)} characters; at most {MAX_EXPRESSION_CHARS})"
        )
    if "^" in text:
        raise ValueError("'^' is not supported: write powers with '**', e.g. 2**10")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise ValueError(f"not a valid arithmetic expression ({exc.msg}): {text}") from None
    except (RecursionError, MemoryError):
        raise ValueError("the expression is nested too deeply") from None
    try:
        value = _eval(tree.body, 0)
    except OverflowError:
        raise ValueError("the result is too large to compute") from None
    except ZeroDivisionError:
        raise ZeroDivisionError("division by zero") from None
    return _tidy(value)


def _normalize(expression: str) -> str:
    """Accept the typographic operators and trailing '=' that models like to produce."""
    text = expression.strip()
    # multiplication sign, middle dot, division sign, minus sign, en dash
    for fancy, plain in (
        ("\u00d7", "*"), ("\u00b7", "*"), ("\u00f7", "/"), ("\u2212", "-"), ("\u2013", "-"),
    ):  # fmt: skip
        text = text.replace(fancy, plain)
    return text.rstrip("= ").strip()


def _eval(node: ast.AST, depth: int) -> Number:
    if depth > MAX_DEPTH:
        raise ValueError(f"the expression is nested too deeply (more than {MAX_DEPTH} levels)")
    if isinstance(node, ast.Constant):
        return _constant(node.value)
    if isinstance(node, ast.Name):
        if node.id in _CONSTANTS:
            return _CONSTANTS[node.id]
        if node.id in _FUNCTIONS:
            raise ValueError(f"{node.id!r} is a function: call it, e.g. {node.id}(2)")
        raise ValueError(
            f"unknown name {node.id!r}; the only constants are {', '.join(_CONSTANTS)}"
        )
    if isinstance(node, ast.UnaryOp):
        operand = _eval(node.operand, depth + 1)
        if isinstance(node.op, ast.USub):
            return _check(-operand)
        if isinstance(node.op, ast.UAdd):
            return operand
        raise ValueError(f"the operator {_operator_text(node.op)!r} is not supported")
    if isinstance(node, ast.BinOp):
        left = _eval(node.left, depth + 1)
        right = _eval(node.right, depth + 1)
        return _binary(node.op, left, right)
    if isinstance(node, ast.Call):
        return _call(node, depth)
    reason = _REFUSED_SYNTAX.get(type(node), f"{type(node).__name__} is not allowed")
    raise ValueError(reason)


def _constant(value: object) -> Number:
    if isinstance(value, bool) or value is None or value is ...:
        raise ValueError(f"{value!r} is not a number")
    if isinstance(value, int | float):
        return _check(value)
    if isinstance(value, complex):
        raise ValueError("complex numbers are not supported")
    if isinstance(value, str | bytes):
        raise ValueError("strings are not allowed, only numbers")
    raise ValueError(f"{type(value).__name__} values are not allowed")


def _check(value: object) -> Number:
    """Refuse results no step may produce: huge ints, infinities, NaN, complex numbers."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        if value.bit_length() > MAX_INT_BITS:
            raise ValueError(
                f"the result is too large (more than {MAX_INT_BITS} bits, about "
                f"{int(MAX_INT_BITS * math.log10(2))} digits)"
            )
        return value
    if isinstance(value, float):
        if math.isnan(value):
            raise ValueError("the result is not a number (NaN)")
        if math.isinf(value):
            raise ValueError("the result is too large to compute")
        return value
    if isinstance(value, complex):
        raise ValueError("the result is not a real number (e.g. a fractional power of a negative)")
    raise ValueError(f"unexpected result type {type(value).__name__}")


def _binary(op: ast.operator, left: Number, right: Number) -> Number:
    if isinstance(op, ast.Add):
        return _check(left + right)
    if isinstance(op, ast.Sub):
        return _check(left - right)
    if isinstance(op, ast.Mult):
        return _check(left * right)
    if isinstance(op, ast.Div):
        if right == 0:
            raise ZeroDivisionError("division by zero")
        if isinstance(left, int) and isinstance(right, int):
            quotient, remainder = divmod(left, right)
            if remainder == 0:  # exact: stay an int (6/3 -> 2)
                return _check(quotient)
        return _check(left / right)
    if isinstance(op, ast.FloorDiv):
        if right == 0:
            raise ZeroDivisionError("division by zero")
        return _check(left // right)
    if isinstance(op, ast.Mod):
        if right == 0:
            raise ZeroDivisionError("division by zero")
        return _check(left % right)
    if isinstance(op, ast.Pow):
        return _power(left, right)
    raise ValueError(f"the operator {_operator_text(op)!r} is not supported")


def _power(base: Number, exponent: Number) -> Number:
    if isinstance(base, int) and isinstance(exponent, int):
        if exponent < 0:  # a float no larger than 1 in size: cheap whatever the exponent
            if base == 0:
                raise ZeroDivisionError("division by zero")
            return _check(base**exponent)
        # Estimate the size before computing: 9**9**9 would take minutes and gigabytes.
        if abs(base) > 1 and exponent * math.log2(abs(base)) > MAX_INT_BITS:
            raise ValueError(
                f"the result is too large ({base}**{exponent} has more than {MAX_INT_BITS} bits)"
            )
        return _check(base**exponent)
    if base == 0 and exponent < 0:
        raise ZeroDivisionError("division by zero")
    return _check(float(base) ** float(exponent))


def _operator_text(op: ast.AST) -> str:
    symbols = {
        ast.BitXor: "^", ast.BitAnd: "&", ast.BitOr: "|", ast.LShift: "<<", ast.RShift: ">>",
        ast.MatMult: "@", ast.Invert: "~", ast.Not: "not",
    }  # fmt: skip
    return symbols.get(type(op), type(op).__name__)


# --------------------------------------------------------------------------------------------
# Functions


def _call(node: ast.Call, depth: int) -> Number:
    if not isinstance(node.func, ast.Name):
        if isinstance(node.func, ast.Attribute):
            raise ValueError("attribute access (.name) is not allowed")
        raise ValueError("only the listed functions can be called, by name")
    name = node.func.id
    if name not in _FUNCTIONS:
        raise ValueError(f"unknown function {name!r}; available: {', '.join(sorted(_FUNCTIONS))}")
    if node.keywords:
        raise ValueError(f"{name}() takes no keyword arguments")
    if any(isinstance(arg, ast.Starred) for arg in node.args):
        raise ValueError("'*' unpacking is not allowed")
    function, least, most = _FUNCTIONS[name]
    count = len(node.args)
    if count < least or (most is not None and count > most):
        if most is None:
            wanted = f"at least {least}"
        elif least == most:
            wanted = str(least)
        else:
            wanted = f"{least} or {most}"
        plural = "" if (least if most is None else most) == 1 else "s"
        raise ValueError(f"{name}() takes {wanted} argument{plural}, got {count}")
    args = [_eval(arg, depth + 1) for arg in node.args]
    try:
        return _check(function(*args))
    except ValueError as exc:
        if str(exc) == "math domain error":
            shown = ", ".join(repr(_tidy(a)) for a in args)
            raise ValueError(f"{name}({shown}) is undefined (outside its domain)") from None
        raise


def _sqrt(x: Number) -> Number:
    if x < 0:
        raise ValueError("sqrt() of a negative number is not a real number")
    if isinstance(x, int):
        root = math.isqrt(x)
        if root * root == x:  # exact for perfect squares of any size
            return root
    return math.sqrt(x)


def _log(x: Number, base: Number | None = None) -> float:
    if x <= 0 or (base is not None and (base <= 0 or base == 1)):
        raise ValueError("math domain error")
    return math.log(x) if base is None else math.log(x, base)


def _round(x: Number, ndigits: Number = 0) -> Number:
    """Round half away from zero, as people (and calculators) expect: round(2.5) is 3."""
    if isinstance(ndigits, float):
        if not ndigits.is_integer():
            raise ValueError("round() needs a whole number of digits")
        ndigits = int(ndigits)
    if abs(ndigits) > 100:
        raise ValueError("round() takes between -100 and 100 digits")
    context = Context(prec=2000)
    exact = Decimal(repr(x)) if isinstance(x, float) else Decimal(x)
    rounded = exact.quantize(Decimal(1).scaleb(-ndigits), rounding=ROUND_HALF_UP, context=context)
    return int(rounded) if ndigits <= 0 else float(rounded)


def _floor(x: Number) -> int:
    return math.floor(x)


def _ceil(x: Number) -> int:
    return math.ceil(x)


def _minimum(*values: Number) -> Number:
    return min(values)


def _maximum(*values: Number) -> Number:
    return max(values)


# name -> (implementation, least arguments, most arguments or None for any number)
_FUNCTIONS: dict[str, tuple[Callable[..., Number], int, int | None]] = {
    "sqrt": (_sqrt, 1, 1),
    "abs": (abs, 1, 1),
    "round": (_round, 1, 2),
    "min": (_minimum, 1, None),
    "max": (_maximum, 1, None),
    "floor": (_floor, 1, 1),
    "ceil": (_ceil, 1, 1),
    "log": (_log, 1, 2),
    "log10": (math.log10, 1, 1),
    "log2": (math.log2, 1, 1),
    "exp": (math.exp, 1, 1),
    "sin": (math.sin, 1, 1),
    "cos": (math.cos, 1, 1),
    "tan": (math.tan, 1, 1),
}


def _tidy(value: Number) -> Number:
    """Report a result the way a person writes it: 4 rather than 4.0, 0.3 rather than
    0.30000000000000004. Large floats stay floats, since their low digits are not exact."""
    if isinstance(value, int):
        return value
    value = float(f"{value:.{_SIGNIFICANT_DIGITS}g}")
    if value.is_integer() and abs(value) < _EXACT_FLOAT_INT:
        return int(value)
    return value


# --------------------------------------------------------------------------------------------
# Tools


@tool
def calculate(expression: Annotated[str, Field(min_length=1)]) -> float | int:
    """Evaluate an arithmetic expression and return the number.

    Supports + - * / // % ** and parentheses, the functions sqrt, abs, round, min, max, floor,
    ceil, log (natural; log(x, base) for another base), log10, log2, exp, sin, cos, tan (radians)
    and the constants pi and e. Whole-number results are exact integers.

    Example: calculate(expression="(17 * 23 + 4) / 5") returns 79.

    Args:
        expression: The arithmetic to do, written like Python, e.g. "2**10 + sqrt(16)".

    Returns:
        The value of the expression.

    Raises:
        ValueError: the expression uses something not listed above or is too large.
        ZeroDivisionError: it divides by zero.
    """
    return evaluate(expression)


@tool
def add(a: float, b: float) -> float | int:
    """Add two numbers: a + b.

    Args:
        a: The first number.
        b: The number to add to it.
    """
    return _tidy(_check(a + b))


@tool
def subtract(a: float, b: float) -> float | int:
    """Subtract one number from another: a - b.

    Args:
        a: The number to subtract from.
        b: The number to subtract.
    """
    return _tidy(_check(a - b))


@tool
def multiply(a: float, b: float) -> float | int:
    """Multiply two numbers: a * b.

    Args:
        a: The first number.
        b: The second number.
    """
    return _tidy(_check(a * b))


@tool
def divide(a: float, b: float) -> float | int:
    """Divide one number by another: a / b.

    Args:
        a: The number to divide (the dividend).
        b: The number to divide by (the divisor); must not be zero.
    """
    if b == 0:
        raise ZeroDivisionError("cannot divide by zero (b is 0)")
    return _tidy(_check(a / b))


TOOLS = [calculate, add, subtract, multiply, divide]
