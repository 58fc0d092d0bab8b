"""Argument parsing and dispatch; no business logic lives here.

Each subcommand is a module in this package exposing ``register(subparsers)``, which adds
its parser and sets ``func`` (an ``async def (args, ctx) -> int``) with ``set_defaults``,
or ``run`` (a plain ``def (args) -> int``) for commands that own their event loop.
Exit codes: 0 done, 1 the action failed, 2 usage or config error (also a value the grammar
in ``agentconsole.text`` refuses: nothing was attempted), 3 Redis unreachable.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import NoReturn

# Subcommand modules, in the order `--help` lists them. Add a module here to add a command.
COMMANDS = (
    "flags",
    "rollouts",
    "breakers",
    "agents",
    "holds",  # `drain ...`, `pause ...`
    "budgets",
    "spend",
    "audit",
    "status",
    "simulate",
    "runbooks",
    "incidents",
    "demo",
    "acl",
    "backup",
    "approvals",
    "applier",
    "dispatch",  # `agentconsole do ...`: any operation of the table
)

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3


class _Parser(argparse.ArgumentParser):
    # one line, exit 2, as argparse does, minus usage spam
    def error(self, message: str) -> NoReturn:
        from agentconsole.cli.common import clean  # argparse quotes the value, however long

        self.exit(EXIT_USAGE, f"agentconsole: {clean(message, 500)} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="agentconsole",
        description="On-call console for AI-agent fleets. With no command, opens the console.",
    )
    parser.add_argument("--config", help="path of the YAML config file")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--read-only", action="store_true", help="console without actions")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        module = importlib.import_module(f"agentconsole.cli.{name}")
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from agentconsole.cli.common import run_command

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        from agentconsole.cli.common import open_console

        return open_console(args)
    if getattr(args, "run", None) is not None:  # commands that manage their own event loop
        return int(args.run(args))
    return run_command(args)


if __name__ == "__main__":
    sys.exit(main())
