"""Loading user tools from a module name or a ``.py`` file (the CLI's ``--tools``).

A user points the CLI at their own code, so every way that can go wrong (typo in the path, a
syntax error, a missing dependency, an exception at import, a file with no tools) must end in
one ToolsImportError whose message names what was asked for and the cause, not in a traceback.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import re
import sys
import traceback
from pathlib import Path
from types import ModuleType

from agentsmall._tool import Tool
from agentsmall.errors import ToolDefinitionError, ToolsImportError

__all__ = ["load_tools"]

_MODULE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")

#: Prefix of the sys.modules names that files loaded by path are registered under.
FILE_MODULE_PREFIX = "agentsmall_user_tools_"


def load_tools(spec: str) -> list[Tool]:
    """Every Tool at the top level of a module or ``.py`` file, in definition order.

    Args:
        spec: An importable module name (``agentsmall.tools.calculator``) or a path to a
            ``.py`` file (``./my_tools.py``).

    Raises:
        ToolsImportError: the module or file cannot be found or imported, or holds no tools.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ToolsImportError(
            f"no tools given: expected a module name or a .py file, got {spec!r}"
        )
    spec = spec.strip()
    if _looks_like_path(spec):
        module = _import_file(spec)
    elif _MODULE_NAME.match(spec):
        module = _import_module(spec)
    else:
        raise ToolsImportError(
            f"cannot load tools from {spec!r}: it is neither a module name (like "
            f"'package.module') nor a path to a .py file"
        )
    return _collect(spec, module)


def _looks_like_path(spec: str) -> bool:
    return (
        spec.endswith(".py")
        or "/" in spec
        or os.sep in spec
        or (os.altsep is not None and os.altsep in spec)
        or spec.startswith("~")
    )


def _import_module(spec: str) -> ModuleType:
    try:
        return importlib.import_module(spec)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing and (spec == missing or spec.startswith(missing + ".")):
            cause = f"No module named {missing!r}"
            if Path(spec + ".py").is_file():
                cause += f" (to load the file, pass {'./' + spec + '.py'!r})"
            raise ToolsImportError(f"cannot load tools from {spec!r}: {cause}") from None
        raise _import_failure(spec, exc, None) from exc
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise _import_failure(spec, exc, None) from exc


def _import_file(spec: str) -> ModuleType:
    path = Path(spec).expanduser()
    if not path.exists():
        raise ToolsImportError(f"cannot load tools from {spec!r}: file not found")
    if path.is_dir():
        raise ToolsImportError(
            f"cannot load tools from {spec!r}: it is a directory, not a .py file"
        )
    path = path.resolve()
    digest = hashlib.sha1(str(path).encode("utf-8")).hexdigest()[:12]
    name = f"{FILE_MODULE_PREFIX}{digest}"
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise ToolsImportError(
            f"cannot load tools from {spec!r}: not a Python source file (expected a .py file)"
        )
    module = importlib.util.module_from_spec(module_spec)
    # Registered while it runs (dataclasses, pydantic and pickling look modules up by name) under
    # a name that cannot collide with anything real; removed again if the import fails.
    previous = sys.modules.get(name)
    sys.modules[name] = module
    try:
        module_spec.loader.exec_module(module)
    except BaseException as exc:
        if previous is not None:
            sys.modules[name] = previous
        else:
            sys.modules.pop(name, None)
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise _import_failure(spec, exc, str(path)) from exc
    return module


def _import_failure(spec: str, exc: BaseException, filename: str | None) -> ToolsImportError:
    """One readable line for an import that blew up: which error, and where in the user's file."""
    prefix = f"cannot load tools from {spec!r}"
    if isinstance(exc, SyntaxError):
        where = f" at line {exc.lineno}" if exc.lineno else ""
        if exc.filename and filename and os.path.abspath(exc.filename) != filename:
            where += f" of {exc.filename}"
        return ToolsImportError(f"{prefix}: {type(exc).__name__}{where}: {exc.msg}")
    if isinstance(exc, ToolDefinitionError):
        return ToolsImportError(f"{prefix}: {exc}")
    if isinstance(exc, SystemExit):
        return ToolsImportError(f"{prefix}: importing it called sys.exit({exc.code!r})")
    message = str(exc).strip()
    detail = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    line = _line_in(exc, filename)
    where = f" at line {line}" if line else ""
    return ToolsImportError(f"{prefix}: importing it raised {detail}{where}")


def _line_in(exc: BaseException, filename: str | None) -> int | None:
    """The innermost traceback line that lies in the user's file, if any."""
    if filename is None:
        return None
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if os.path.abspath(frame.filename) == filename:
            line = frame.lineno
    return line


def _collect(spec: str, module: ModuleType) -> list[Tool]:
    tools: list[Tool] = []
    seen: dict[str, Tool] = {}
    for attribute, value in vars(module).items():
        if not isinstance(value, Tool) or any(value is t for t in tools):
            continue
        if value.name in seen:
            raise ToolsImportError(
                f"cannot load tools from {spec!r}: two tools are named {value.name!r} (the "
                f"second is {attribute!r}); give one of them @tool(name=...)"
            )
        seen[value.name] = value
        tools.append(value)
    if not tools:
        raise ToolsImportError(
            f"cannot load tools from {spec!r}: it defines no @tool functions (decorate "
            f"functions with @tool from agentsmall)"
        )
    return tools
