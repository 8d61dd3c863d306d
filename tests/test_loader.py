"""Loading tools from module names and .py files, and the errors a user sees when that fails."""

import sys
import textwrap
from pathlib import Path

import pytest

from agentsmall._loader import FILE_MODULE_PREFIX, load_tools
from agentsmall._tool import Tool
from agentsmall.errors import ToolsImportError

GOOD_TOOLS = '''
from __future__ import annotations

import dataclasses

from pydantic import BaseModel

from agentsmall._tool import tool


class Order(BaseModel):
    item: str
    count: int = 1


@dataclasses.dataclass
class Helper:
    value: int


@tool
def zeta(text: str) -> str:
    """Defined first, so listed first despite its name."""
    return text


def not_a_tool(x: int) -> int:
    return x


@tool(name="place-order", timeout=5)
def place_order(order: Order) -> str:
    """Place an order."""
    return f"{order.count} x {order.item}"


@tool
async def alpha(n: int) -> int:
    """Defined last."""
    return n


CONSTANT = 3
'''


def write(tmp_path: Path, source: str, name: str = "my_tools.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return path


def load_error(spec: str) -> str:
    with pytest.raises(ToolsImportError) as info:
        load_tools(spec)
    return str(info.value)


def test_loads_the_calculator_by_module_name() -> None:
    tools = load_tools("agentsmall.tools.calculator")
    assert [t.name for t in tools] == ["calculate", "add", "subtract", "multiply", "divide"]
    assert all(isinstance(t, Tool) for t in tools)


def test_loads_a_file_in_definition_order(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD_TOOLS)
    tools = load_tools(str(path))
    assert [t.name for t in tools] == ["zeta", "place-order", "alpha"]
    order = tools[1]
    assert order.timeout == 5.0
    assert order.function(order.validate_arguments({"order": {"item": "tea"}})["order"]) == (
        "1 x tea"
    )
    assert tools[2].is_async


def test_file_modules_get_a_unique_name_not_a_generic_one(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD_TOOLS)
    before = set(sys.modules)
    tools = load_tools(str(path))
    added = set(sys.modules) - before
    assert "my_tools" not in sys.modules
    assert len(added) == 1
    (name,) = added
    assert name.startswith(FILE_MODULE_PREFIX)
    assert tools[0].function.__module__ == name

    # Loading the same file again reuses the name; another file gets another one.
    load_tools(str(path))
    other = write(tmp_path, GOOD_TOOLS, name="other_tools.py")
    load_tools(str(other))
    assert len(set(sys.modules) - before) == 2


def test_relative_and_home_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, GOOD_TOOLS)
    monkeypatch.chdir(tmp_path)
    assert len(load_tools("my_tools.py")) == 3
    assert len(load_tools("./my_tools.py")) == 3
    monkeypatch.setenv("HOME", str(tmp_path))
    assert len(load_tools("~/my_tools.py")) == 3


def test_imported_tools_count_once(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        from agentsmall.tools.calculator import add, multiply
        times = multiply
        """,
    )
    assert [t.name for t in load_tools(str(path))] == ["add", "multiply"]


def test_missing_file(tmp_path: Path) -> None:
    spec = str(tmp_path / "nope.py")
    message = load_error(spec)
    assert spec in message
    assert "file not found" in message


def test_directory(tmp_path: Path) -> None:
    assert "directory" in load_error(str(tmp_path) + "/")


def test_syntax_error(tmp_path: Path) -> None:
    path = write(tmp_path, "from agentsmall._tool import tool\n\ndef broken(:\n    pass\n")
    message = load_error(str(path))
    assert str(path) in message
    assert "SyntaxError at line 3" in message
    assert not any(name.startswith(FILE_MODULE_PREFIX) and "broken" in name for name in sys.modules)


def test_failed_file_import_leaves_nothing_in_sys_modules(tmp_path: Path) -> None:
    path = write(tmp_path, "raise RuntimeError('boom')\n")
    before = set(sys.modules)
    load_error(str(path))
    assert set(sys.modules) == before


def test_missing_module() -> None:
    message = load_error("no_such_module_xyz")
    assert (
        message
        == "cannot load tools from 'no_such_module_xyz': No module named 'no_such_module_xyz'"
    )
    message = load_error("agentsmall.tools.no_such_pack")
    assert "No module named 'agentsmall.tools.no_such_pack'" in message


def test_missing_module_with_a_same_named_file_nearby(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, GOOD_TOOLS, name="nearby_tools_xyz.py")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    assert "'./nearby_tools_xyz.py'" in load_error("nearby_tools_xyz")


def test_file_whose_dependency_is_missing(tmp_path: Path) -> None:
    path = write(tmp_path, "import some_missing_dependency_xyz\n")
    message = load_error(str(path))
    assert "ModuleNotFoundError: No module named 'some_missing_dependency_xyz'" in message
    assert "at line 1" in message


def test_module_whose_dependency_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, "import some_missing_dependency_xyz\n", name="needs_dep_xyz.py")
    monkeypatch.syspath_prepend(str(tmp_path))
    message = load_error("needs_dep_xyz")
    assert "importing it raised ModuleNotFoundError" in message
    assert "'some_missing_dependency_xyz'" in message


def test_exception_at_import(tmp_path: Path) -> None:
    path = write(tmp_path, "x = 1\n\nraise RuntimeError('boom')\n")
    message = load_error(str(path))
    assert (
        message
        == f"cannot load tools from {str(path)!r}: importing it raised RuntimeError: boom at line 3"
    )


def test_sys_exit_at_import(tmp_path: Path) -> None:
    path = write(tmp_path, "import sys\nsys.exit(2)\n")
    assert "sys.exit(2)" in load_error(str(path))


def test_bad_tool_definition_at_import(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        from agentsmall._tool import tool

        @tool
        def scale(factor) -> int:
            return 0
        """,
    )
    message = load_error(str(path))
    assert "scale" in message
    assert "'factor'" in message


def test_no_tools(tmp_path: Path) -> None:
    path = write(tmp_path, "def helper(x: int) -> int:\n    return x\n")
    message = load_error(str(path))
    assert str(path) in message
    assert "defines no @tool functions" in message
    assert "defines no @tool functions" in load_error("json")


def test_duplicate_tool_names(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        from agentsmall._tool import tool

        @tool(name="same")
        def one() -> int:
            return 1

        @tool(name="same")
        def two() -> int:
            return 2
        """,
    )
    assert "two tools are named 'same'" in load_error(str(path))


@pytest.mark.parametrize("spec", ["", "   ", "not a module!", ".relative"])
def test_nonsense_specs(spec: str) -> None:
    load_error(spec)
