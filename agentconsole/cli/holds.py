"""`agentconsole drain ...` and `agentconsole pause ...`: the ladder's first steps, one
subcommand per row of the operations table (``drain tenant acme``, ``pause lift all``)."""

from __future__ import annotations

from typing import Any

from agentconsole.cli import dispatch
from agentconsole.control import operations


def register(subparsers: Any) -> None:
    for kind, summary in (
        ("drain", "no new runs for an agent, a tenant or all; running ones finish"),
        ("pause", "hold runs at their next step until resumed (pause lift)"),
    ):
        parser = subparsers.add_parser(kind, help=summary)
        sub = parser.add_subparsers(dest="action", metavar="SCOPE", required=True)
        for op in operations.OPERATIONS:
            if op.words[0] == kind:
                dispatch.add(sub, op.name)
