"""`agentsmall repl`: talk to an agent; its output streams, tool calls show as they happen.

Threads: the terminal belongs to the main thread. Each task runs as a `BackgroundRun` (its own
thread and event loop); the main thread renders the run's events, answers its confirmation
requests (dangerous tools) and receives Ctrl-C, which stops the run: the run is recorded as
interrupted, the generation is cut at its next token, and the next input continues the same
session. Everything a run does is committed to memory as it happens, so neither Ctrl-C nor
Ctrl-D loses anything.

Line editing and history come from readline (stdlib); the history file lives in the user
data directory, next to the default memory file.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import queue
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import platformdirs
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.status import Status
from rich.table import Table

from agentsmall._background import BackgroundRun, ConfirmRequest, Item
from agentsmall.agent import Agent, Event
from agentsmall.cli._repl_commands import (
    COMMANDS,
    Command,
    CommandError,
    help_text,
    is_command,
    parse_command,
)
from agentsmall.cli._run import (
    STEP_CHANGES,
    _format_arguments,
    add_agent_options,
    build_agent,
    describe_change,
    describe_gate,
)
from agentsmall.errors import AgentsmallError

try:  # readline is absent on some platforms (Windows): the REPL works without editing then
    import readline
except ImportError:  # pragma: no cover - Linux and macOS have it
    readline = None  # type: ignore[assignment]

PROMPT = "> "
HISTORY_LENGTH = 2000


def add_parser(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("repl", help="talk to an agent interactively")
    add_agent_options(p)
    p.add_argument("--max-steps", type=int, help="step budget of each task (default 6)")
    p.set_defaults(handler=repl_command)


def history_path() -> Path:
    """Where the prompt history is kept across REPL sessions."""
    return Path(platformdirs.user_data_dir("agentsmall")) / "repl_history"


def repl_command(args: argparse.Namespace) -> int:
    console = Console(highlight=False)
    agent = build_agent(args)
    return Repl(agent, args, console).loop()


class Repl:
    """The prompt loop: commands, tasks, rendering, confirmations, interruptions."""

    def __init__(self, agent: Agent, args: argparse.Namespace, console: Console) -> None:
        self.args = args
        self.console = console
        self.agent = agent
        self.agent.confirm = self._confirm
        self.session_id: str = args.session or _new_session_id()
        self.current: BackgroundRun | None = None
        self.last_rate: float | None = None
        self.last_steps = 0
        self._status: Status | None = None
        self._streaming = False
        self._compiled = False  # the first step of this process compiles the tool constraint
        self._text_count = 0
        self._text_started = 0.0

    # -- the loop --------------------------------------------------------------------------------

    def loop(self) -> int:
        self._setup_readline()
        tools = ", ".join(
            t.name + (" (dangerous)" if t.dangerous else "") for t in self.agent.tools
        )
        self.console.print(
            f"[bold]agentsmall[/] · model [cyan]{escape(self.agent.model.name)}[/] · "
            f"tools: {escape(tools) or 'none'} · /help for commands, Ctrl-D to leave"
        )
        if self.agent.memory.session(self.session_id) is not None:
            self.console.print(f"continuing session [cyan]{escape(self.session_id)}[/]")
            self._history()
        while True:
            self._status_line()
            try:
                line = input(PROMPT)
            except EOFError:  # Ctrl-D
                self.console.print()
                break
            except KeyboardInterrupt:  # Ctrl-C at the prompt: drop the line, like a shell
                self.console.print("^C")
                continue
            self._save_history_line(line)
            if not line.strip():
                continue
            if is_command(line):
                if self._command(line) == "exit":
                    break
                continue
            task = line.strip()
            if task.startswith("//"):
                task = task[1:]
            self._run(task)
        self.console.print(
            f"[dim]bye · session {escape(self.session_id)} is saved in {self.agent.memory.path}[/]"
        )
        self.agent.memory.close()
        return 0

    def _status_line(self) -> None:
        rate = f"{self.last_rate:.1f} tok/s" if self.last_rate is not None else "- tok/s"
        self.console.print(
            f"[dim]── {escape(self.agent.model.name)} · {rate} · {self.last_steps} steps · "
            f"session {escape(self.session_id)}[/]"
        )

    # -- running a task --------------------------------------------------------------------------

    def _run(self, task: str) -> None:
        background = BackgroundRun(self.agent, task, session_id=self.session_id)
        self.current = background
        self.last_steps = 0
        self._text_count, self._text_started = 0, 0.0
        background.start()
        stopping = False
        outcome: Item | None = None
        # While the run shows its progress, Ctrl-C only sets a flag the loop reads. Raised as
        # KeyboardInterrupt it can land inside code that drops it (a finalizer run by the
        # garbage collector reports and drops one), and once in the pty test it was lost and
        # the run went on (where, was not found). A flag cannot be lost.
        interrupted = threading.Event()
        with _on_ctrl_c(lambda signum, frame: interrupted.set()):
            while outcome is None:
                try:
                    if interrupted.is_set():
                        interrupted.clear()
                        raise KeyboardInterrupt
                    try:
                        item = background.queue.get(timeout=0.1)
                    except queue.Empty:
                        if not background.thread.is_alive() and background.queue.empty():
                            break  # its last item was lost to a Ctrl-C between get and handling
                        continue
                    if item.kind in ("done", "error"):
                        outcome = item
                    elif item.kind == "confirm" and item.request is not None:
                        with _on_ctrl_c(signal.default_int_handler):  # a question: Ctrl-C raises
                            self._ask(item.request, background)
                    elif item.event is not None:
                        self._show(item.event)
                except KeyboardInterrupt:
                    self._stop_spinner()
                    self._end_stream()
                    if not stopping:
                        self.console.print("[yellow]^C stopping…[/]")
                        background.stop()
                        stopping = True
        background.thread.join()
        self.current = None
        self._stop_spinner()
        self._end_stream()
        self._finish(outcome, stopping)

    def _finish(self, outcome: Item | None, stopping: bool) -> None:
        if outcome is not None and outcome.kind == "done" and outcome.result is not None:
            result = outcome.result
            stats = result.stats
            decode = stats["generation_seconds"] - stats["prompt_seconds"]
            if stats["output_tokens"] and decode > 0:
                self.last_rate = stats["output_tokens"] / decode
            self.last_steps = stats["planner_steps"]
            if result.status != "completed":
                why = result.error or f"no final answer within {self.agent.max_steps} steps"
                self.console.print(f"[yellow]stopped: {escape(why)}[/]")
            return
        self._measure_stream()
        error = outcome.error if outcome is not None else None
        if stopping or isinstance(error, asyncio.CancelledError | KeyboardInterrupt):
            self.console.print(
                "[yellow]interrupted[/] · the run is recorded as interrupted; "
                "the session goes on with your next input"
            )
        elif isinstance(error, AgentsmallError):
            self.console.print(f"[bold red]error:[/] {escape(str(error))}")
        elif error is not None:
            self.console.print(
                f"[bold red]error:[/] {escape(type(error).__name__)}: {escape(str(error))}"
            )

    def _measure_stream(self) -> None:
        if self._text_count > 1 and self._text_started:
            seconds = time.perf_counter() - self._text_started
            if seconds > 0:
                self.last_rate = self._text_count / seconds

    def _show(self, event: Event) -> None:
        kind, data = event.kind, event.data
        if kind == "run_started":
            if data.get("resumed"):
                self.console.print(
                    f"[yellow]resuming the interrupted run {data['run_id']} "
                    f"at step {data['from_step']}[/]"
                )
        elif kind == "tools_ranked":
            self.console.print(f"[dim]{escape(describe_gate(data))}[/]")
        elif kind in STEP_CHANGES:
            self.console.print(f"[dim]{escape(describe_change(kind, data))}[/]")
        elif kind == "step_started":
            self.last_steps = event.step
            self.console.print(f"[cyan]step {event.step}[/]")
            what = "thinking" if self._compiled else "compiling the tool constraint, then thinking"
            self._start_spinner(f"{what}…")
        elif kind == "text":
            self._stop_spinner()
            self._compiled = True
            if not self._streaming:
                self._streaming = True
            if not self._text_started:
                self._text_started = time.perf_counter()
            self._text_count += 1
            self.console.print(data["text"], end="", style="dim", markup=False, soft_wrap=True)
        elif kind == "tool_call":
            self._stop_spinner()
            self._end_stream()
            call = f"{data['tool']}({_format_arguments(data['arguments'])})"
            self.console.print(
                Panel(escape(call), title=f"tool call · step {event.step}", title_align="left",
                      border_style="cyan", expand=False)
            )  # fmt: skip
            self._start_spinner(f"running {data['tool']}…")
        elif kind == "tool_result":
            self._stop_spinner()
            if data["error"]:
                body, style = f"✗ {data['error']}", "red"
            else:
                body, style = json.dumps(data["result"], ensure_ascii=False)[:500], "green"
            self.console.print(
                Panel(escape(body), title=f"{data['tool']} result", title_align="left",
                      border_style=style, expand=False)
            )  # fmt: skip
        elif kind == "step_error":
            self._stop_spinner()
            self._end_stream()
            self.console.print(f"[red]✗ {escape(data['error'])}[/]")
        elif kind == "final_answer":
            self._stop_spinner()
            self._end_stream()
            self.console.print(
                Panel(escape(str(data["answer"])), title="answer", title_align="left",
                      border_style="green", expand=False)
            )  # fmt: skip

    def _end_stream(self) -> None:
        if self._streaming:
            self.console.print()
            self._streaming = False

    def _start_spinner(self, text: str) -> None:
        self._stop_spinner()
        self._status = self.console.status(f"[dim]{escape(text)}[/]", spinner="dots")
        self._status.start()

    def _stop_spinner(self) -> None:
        if self._status is not None:
            status, self._status = self._status, None
            # Ctrl-C may land inside `start()`: rich then marks the spinner started without
            # registering it with the console, and stopping it pops an empty stack.
            with suppress(IndexError):
                status.stop()

    # -- dangerous tools -------------------------------------------------------------------------

    def _confirm(self, tool: str, arguments: dict[str, Any]) -> bool:
        """The agent's confirm callback: ask through the run in progress (its reader is us)."""
        current = self.current
        return current.ask(tool, arguments) if current is not None else False

    def _ask(self, request: ConfirmRequest, background: BackgroundRun) -> None:
        self._stop_spinner()
        self._end_stream()
        call = f"{request.tool}({_format_arguments(request.arguments)})"
        self.console.print(
            Panel(escape(call), title="dangerous tool: allow?", title_align="left",
                  border_style="yellow", expand=False)
        )  # fmt: skip
        allowed = False
        try:
            answer = input("run it? [y/N] ")
            self._forget_last_history_line()
            allowed = answer.strip().lower() in ("y", "yes")
        except EOFError:
            self.console.print()
        except KeyboardInterrupt:
            request.reply(False)
            raise  # the caller stops the run
        finally:
            request.reply(allowed)
        if allowed:
            self.console.print(f"[dim]allowed: {escape(request.tool)}[/]")
            self._start_spinner(f"running {request.tool}…")
        else:
            self.console.print(f"[yellow]refused: {escape(request.tool)} will not run[/]")

    # -- slash commands --------------------------------------------------------------------------

    def _command(self, line: str) -> str | None:
        try:
            command = parse_command(line)
        except CommandError as exc:
            self.console.print(f"[red]{escape(str(exc))}[/]")
            self.console.print(help_text(), markup=False)
            return None
        try:
            return self._do(command)
        except AgentsmallError as exc:
            self.console.print(f"[bold red]error:[/] {escape(str(exc))}")
        except KeyboardInterrupt:
            self.console.print("^C")
        return None

    def _do(self, command: Command) -> str | None:
        name, action, argument = command.name, command.action, command.argument
        if name == "exit":
            return "exit"
        if name == "help":
            self.console.print(help_text(), markup=False)
        elif name == "tools":
            self._tools()
        elif name == "model":
            self._model(argument)
        elif name == "session":
            self._session(action, argument)
        elif name == "memory":
            self._memory(action, argument)
        elif name == "history":
            self._history()
        elif name == "reset":
            old = self.session_id
            self.session_id = _new_session_id()
            self.console.print(
                f"new session [cyan]{self.session_id}[/] (the old one is kept: "
                f"/session switch {escape(old)})"
            )
        return None

    def _tools(self) -> None:
        if not self.agent.tools:
            self.console.print("no tools: pass --tools MODULE or --agent NAME")
            return
        table = Table(box=None, show_header=True, header_style="bold")
        table.add_column("tool")
        table.add_column("what it does")
        table.add_column("")
        for t in self.agent.tools:
            first = t.description.splitlines()[0] if t.description else ""
            table.add_row(escape(t.signature()), escape(first), "dangerous" if t.dangerous else "")
        self.console.print(table)

    def _model(self, argument: str) -> None:
        model = self.agent.model
        if not argument:
            path = getattr(model, "path", None)
            self.console.print(
                f"model [cyan]{escape(model.name)}[/] · context {model.context_length} tokens"
                + (f" · {escape(str(path))}" if path else "")
            )
            return
        args = argparse.Namespace(**{**vars(self.args), "model": argument})
        agent = build_agent(args)  # a bad name raises a clear error; the old agent stays
        agent.confirm = self._confirm
        self.agent.memory.close()
        self.agent, self.args, self._compiled = agent, args, False
        self.console.print(f"now using [cyan]{escape(agent.model.name)}[/]")

    def _session(self, action: str, argument: str) -> None:
        memory = self.agent.memory
        if action == "":
            row = memory.session(self.session_id)
            runs = row["run_count"] if row else 0
            self.console.print(f"session [cyan]{escape(self.session_id)}[/] · {runs} runs")
        elif action == "new":
            self.session_id = argument or _new_session_id()
            self.console.print(f"new session [cyan]{escape(self.session_id)}[/]")
            if memory.session(self.session_id) is not None:
                self._history()
        elif action == "switch":
            if memory.session(argument) is None:
                self.console.print(
                    f"[red]no session {escape(argument)!s}[/] (/session list shows them; "
                    "/session new ID starts one)"
                )
                return
            self.session_id = argument
            self.console.print(f"switched to session [cyan]{escape(argument)}[/]")
            self._history()
        elif action == "list":
            table = Table(box=None, header_style="bold")
            for column in ("session", "runs", "steps", "last used"):
                table.add_column(column)
            for row in memory.sessions()[:20]:
                mark = " *" if row["id"] == self.session_id else ""
                when = time.strftime("%Y-%m-%d %H:%M", time.localtime(row["last_used_at"]))
                table.add_row(
                    escape(row["id"]) + mark, str(row["run_count"]), str(row["step_count"]), when
                )
            self.console.print(table)

    def _memory(self, action: str, argument: str) -> None:
        memory, agent_name = self.agent.memory, self.agent.name
        if action in ("", "list"):
            facts = memory.facts(agent=agent_name, session_id=self.session_id, limit=20)
        elif action == "recall":
            facts = memory.recall(argument, agent=agent_name, session_id=self.session_id)
        elif action == "remember":
            fact_id = memory.remember(argument, scope="agent", owner=agent_name)
            self.console.print(f"remembered fact {fact_id}")
            return
        else:  # forget
            if memory.forget(int(argument), agent=agent_name, session_id=self.session_id):
                self.console.print(f"forgot fact {argument}")
            else:
                self.console.print(f"[red]no fact {escape(argument)}[/] (/memory lists them)")
            return
        if not facts:
            self.console.print("no facts" + (" match" if action == "recall" else ""))
        for fact in facts:
            self.console.print(f"  [cyan]{fact.id}[/] ({fact.scope}) {escape(fact.text)}")

    def _history(self) -> None:
        memory = self.agent.memory
        runs = memory.runs(self.session_id) if memory.session(self.session_id) else []
        if not runs:
            self.console.print("no runs yet in this session")
            return
        steps = memory.steps(self.session_id)
        for run in runs:
            self.console.print(
                f"[bold]run {run['id']}[/] [dim]({run['status']})[/] {escape(run['task'])}"
            )
            for step in (s for s in steps if s["run_id"] == run["id"]):
                if step["tool"] is None:
                    self.console.print(f"   step {step['step']} [red]✗ {escape(step['error'])}[/]")
                    continue
                call = f"{step['tool']}({_format_arguments(step['arguments'] or {})})"
                shown = (
                    f"[red]✗ {escape(step['error'])}[/]"
                    if step["error"]
                    else escape(json.dumps(step["result"], ensure_ascii=False)[:200])
                )
                self.console.print(f"   step {step['step']} {escape(call)} → {shown}")
            if run["output"] is not None:
                self.console.print(f"   answer: {escape(run['output'])}")

    # -- readline --------------------------------------------------------------------------------

    def _setup_readline(self) -> None:
        if readline is None:
            return
        path = history_path()
        with suppress(OSError):
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.exists():
                readline.read_history_file(path)
        readline.set_history_length(HISTORY_LENGTH)
        words = ["/" + name for name in COMMANDS]

        def complete(text: str, state: int) -> str | None:
            matches = [w for w in words if w.startswith(text)] if text.startswith("/") else []
            return matches[state] if state < len(matches) else None

        readline.set_completer(complete)
        readline.set_completer_delims(" \t\n")
        readline.parse_and_bind("tab: complete")

    def _save_history_line(self, line: str) -> None:
        """Append the line to the history file now, so that a crash loses nothing."""
        if readline is None or not line.strip():
            return
        with suppress(OSError):
            path = history_path()
            if not path.exists():
                path.touch()
            readline.append_history_file(1, path)
            readline.set_history_length(HISTORY_LENGTH)

    def _forget_last_history_line(self) -> None:
        """A y/n answer is not worth keeping in the history."""
        if readline is None:
            return
        length = readline.get_current_history_length()
        if length:
            with suppress(ValueError):
                readline.remove_history_item(length - 1)


@contextmanager
def _on_ctrl_c(handler: Callable[[int, Any], None]) -> Iterator[None]:
    """Ctrl-C goes to `handler` inside the block (only in the main thread: the one where Python
    lets a handler be installed), to the handler before it after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _new_session_id() -> str:
    return "repl-" + uuid.uuid4().hex[:8]
