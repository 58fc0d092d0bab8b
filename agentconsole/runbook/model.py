"""What a parsed runbook is: front matter, steps, and the special blocks inside each step.

Every element keeps the line it came from, so lint and the console can point at
``file:line`` when something is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

SEVERITIES = ("critical", "warning", "info")
# Fenced blocks with these info strings mean something; any other fence is shown as code.
SPECIAL_BLOCKS = ("promql", "action", "verify")


@dataclass(frozen=True)
class Problem:
    """One lint finding: where, and what to do about it."""

    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


@dataclass
class Block:
    """A piece of a step: prose (``text``), a plain code fence (``code``), or a special fence.

    ``line`` is the first content line (for a fence, the line after the opening fence), so
    ``lines[i]`` sits on ``line + i``.
    """

    kind: str  # text | code | promql | action | verify
    body: str
    line: int
    lang: str = ""

    @property
    def lines(self) -> list[str]:
        return self.body.split("\n") if self.body else []

    def numbered(self) -> list[tuple[int, str]]:
        """Non-blank lines with their file line numbers (one action or query per line)."""
        return [(self.line + i, t) for i, t in enumerate(self.lines) if t.strip()]


@dataclass
class Step:
    index: int  # 1-based, as an operator counts
    title: str
    line: int
    blocks: list[Block] = field(default_factory=list)

    def of_kind(self, kind: str) -> list[Block]:
        return [b for b in self.blocks if b.kind == kind]

    @property
    def has_actions(self) -> bool:
        return any(b.kind == "action" for b in self.blocks)

    @property
    def is_verify(self) -> bool:
        return any(b.kind == "verify" for b in self.blocks)


@dataclass
class Runbook:
    id: str
    title: str
    alerts: list[str]
    severity: str
    owner: str
    version: str
    path: Path | None
    steps: list[Step] = field(default_factory=list)
    preamble: list[Block] = field(default_factory=list)
    meta_lines: dict[str, int] = field(default_factory=dict)  # front-matter key -> line

    @property
    def source(self) -> str:
        return str(self.path) if self.path else f"<runbook {self.id}>"

    def step(self, index: int) -> Step:
        return self.steps[index - 1]
