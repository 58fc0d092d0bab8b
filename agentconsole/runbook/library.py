"""A directory of runbooks, loaded once, and the lookup from an alert to its runbook."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from agentconsole.runbook.context import AlertContext
from agentconsole.runbook.model import Problem, Runbook
from agentconsole.runbook.parser import parse_file


def runbook_files(paths: Iterable[str | Path]) -> list[Path]:
    """Markdown files under the given files/directories (README.md is documentation)."""
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(f for f in p.glob("*.md") if f.name.lower() != "readme.md")
        else:
            files.append(p)
    return files


@dataclass
class Library:
    runbooks: dict[str, Runbook] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    @classmethod
    def load(cls, paths: Iterable[str | Path]) -> Library:
        lib = cls()
        for path in runbook_files(paths):
            if not path.exists():
                lib.problems.append(Problem(str(path), 1, "no such file or directory"))
                continue
            runbook, problems = parse_file(path)
            lib.problems += problems
            if runbook is None or not runbook.id:
                continue
            if runbook.id in lib.runbooks:
                first = lib.runbooks[runbook.id].source
                lib.problems.append(
                    Problem(
                        str(path),
                        runbook.meta_lines.get("id", 1),
                        f"duplicate runbook id {runbook.id!r} (also in {first})",
                    )
                )
                continue
            lib.runbooks[runbook.id] = runbook
        return lib

    def all(self) -> list[Runbook]:
        return sorted(self.runbooks.values(), key=lambda r: r.id)

    def get(self, runbook_id: str) -> Runbook | None:
        return self.runbooks.get(runbook_id)

    def for_alert(self, alert: AlertContext) -> Runbook | None:
        """The alert's ``runbook`` annotation first, else a runbook listing it in ``alerts``."""
        named = alert.runbook_id
        if named and named in self.runbooks:
            return self.runbooks[named]
        return next((r for r in self.all() if alert.name in r.alerts), None)
