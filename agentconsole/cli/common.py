"""What every subcommand shares: settings, the control plane, output, confirmation, errors."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agentconsole.cli.main import EXIT_FAILED, EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE
from agentconsole.config import ConfigError, Settings, load_settings
from agentconsole.control.errors import ControlError, Unavailable
from agentconsole.text import Invalid, ago, clean, duration, utc

if TYPE_CHECKING:
    from agentconsole.control.plane import ControlPlane


@dataclass
class Context:
    args: argparse.Namespace
    settings: Settings
    _plane: ControlPlane | None = None

    async def plane(self) -> ControlPlane:
        """The control plane, connected and schema-checked on first use."""
        if self._plane is None:
            from agentconsole.control import ControlPlane

            plane = ControlPlane.from_settings(self.settings)
            try:
                await plane.check_schema()
            except BaseException:
                await plane.close()
                raise
            self._plane = plane
        return self._plane

    async def close(self) -> None:
        if self._plane is not None:
            await self._plane.close()


def fail(message: str, code: int = EXIT_FAILED) -> int:
    """One line on stderr, bounded: a message may quote a huge or hostile value."""
    print(f"agentconsole: {clean(message, 500)}", file=sys.stderr)
    return code


def load(args: argparse.Namespace) -> Settings:
    settings = load_settings(getattr(args, "config", None))
    if getattr(args, "read_only", False):
        settings.ui.read_only = True
    return settings


def run_command(args: argparse.Namespace) -> int:
    """Run ``args.func`` with every error turned into one line and the right exit code."""
    from agentconsole.control.plane import translate

    try:
        settings = load(args)
    except ConfigError as exc:
        return fail(str(exc), EXIT_USAGE)
    ctx = Context(args, settings)

    async def go() -> int:
        try:
            return await args.func(args, ctx)
        finally:
            for note in getattr(ctx._plane, "notes", None) or ():  # e.g. a retried lost reply
                print(f"agentconsole: note: {clean(note, 500)}", file=sys.stderr)
            if ctx._plane is not None and not getattr(args, "lists_problems", False):
                from agentconsole.control import diagnostics

                for problem in diagnostics.problems(ctx._plane):  # a wrong-typed key, skipped
                    print(f"agentconsole: warning: {clean(problem, 500)}", file=sys.stderr)
            with contextlib.suppress(Exception):
                await ctx.close()

    try:
        return asyncio.run(go())
    except KeyboardInterrupt:
        return fail("interrupted", 130)
    except BrokenPipeError:  # the reader went away (`agentconsole ... | head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except ConfigError as exc:
        return fail(str(exc), EXIT_USAGE)
    except Exception as exc:  # the one place that turns errors into exit codes
        err = translate(exc)
        if isinstance(err, Unavailable):
            return fail(f"{err} ({settings.redis.url})", EXIT_UNREACHABLE)
        if isinstance(err, ControlError):
            return fail(str(err), EXIT_FAILED)
        return fail(f"unexpected error: {type(exc).__name__}: {exc}", EXIT_FAILED)


def open_console(args: argparse.Namespace) -> int:
    try:
        settings = load(args)
    except ConfigError as exc:
        return fail(str(exc), EXIT_USAGE)
    from agentconsole.tui.app import run_console

    return run_console(settings) or EXIT_OK


# --- output -------------------------------------------------------------------------------


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[clean(c) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    lines = ["  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(line.rstrip() for line in lines)


def emit(args: argparse.Namespace, data: Any, human: Callable[[], str]) -> None:
    if getattr(args, "json", False):
        print(json.dumps(data, indent=2, default=str, sort_keys=True))
    else:
        print(human())


def confirm(args: argparse.Namespace, question: str) -> bool:
    """Destructive commands ask on a TTY; scripts pass --yes. No TTY and no --yes: refuse."""
    if getattr(args, "yes", False):
        return True
    if not sys.stdin.isatty():
        print(f"agentconsole: {question} — refusing without --yes (no terminal)", file=sys.stderr)
        return False
    answer = input(f"{question} [y/N] ").strip().lower()
    return answer in ("y", "yes")


def add_change_options(parser: argparse.ArgumentParser, destructive: bool = False) -> None:
    parser.add_argument("--reason", default="", help="why (recorded in the audit log)")
    if destructive:
        parser.add_argument("--yes", "-y", action="store_true", help="do not ask")


def add_output_options(parser: argparse.ArgumentParser) -> None:
    """``--json`` after the subcommand too; SUPPRESS keeps a global ``--json`` from being reset."""
    parser.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable output"
    )


def parse_duration(text: str) -> float:
    """argparse ``type=`` for durations, by the one grammar (``agentconsole.text``)."""
    try:
        return duration(text)
    except Invalid as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


AsyncCommand = Callable[[argparse.Namespace, Context], Awaitable[int]]
__all__ = [
    "EXIT_OK",
    "Context",
    "add_change_options",
    "ago",
    "clean",
    "confirm",
    "emit",
    "fail",
    "table",
    "utc",
]
