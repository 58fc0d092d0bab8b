"""PromQL syntax check for runbook queries, by Prometheus' own parser (``promtool``).

Why promtool: no Python PromQL parser is both complete and current; promtool ships with
the Prometheus package the project already needs. Each query becomes a recording rule in
a temporary rules file; promtool's errors name the rule, which maps back to file:line.
Templates are filled with a placeholder token first, so only the query's shape is judged.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from agentconsole.runbook.model import Problem, Runbook
from agentconsole.runbook.template import TemplateError, Values, render_promql

RULE_ERROR = re.compile(r'"rb_q_(\d+)": (.*)$')
TIMEOUT = 20.0


class _Placeholders(Values):
    def lookup(self, var: str) -> str:
        return "placeholder"


@dataclass
class Query:
    path: str
    line: int
    promql: str


def runbook_queries(runbook: Runbook) -> list[Query]:
    from agentconsole.runbook.session import split_queries

    out: list[Query] = []
    for step in runbook.steps:
        for block in step.blocks:
            if block.kind == "promql":
                out += [Query(runbook.source, n, q) for n, q, _ in split_queries(block)]
            elif block.kind == "verify" and block.body.strip():
                out.append(Query(runbook.source, block.line, block.body.strip()))
    return out


def promtool() -> str | None:
    return shutil.which("promtool")


def check(queries: list[Query]) -> list[Problem] | None:
    """Problems for queries that do not parse; None when promtool is not installed."""
    import yaml

    binary = promtool()
    if binary is None:
        return None
    problems: list[Problem] = []
    rules = []
    for i, q in enumerate(queries):
        try:
            expr = render_promql(q.promql, _Placeholders())
        except TemplateError:
            continue  # reported by lint as a template problem
        rules.append({"record": f"rb_q_{i}", "expr": expr})
    if not rules:
        return problems
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "runbook-queries.yml"
        path.write_text(yaml.safe_dump({"groups": [{"name": "runbooks", "rules": rules}]}))
        try:
            done = subprocess.run(
                [binary, "check", "rules", str(path)],
                capture_output=True,
                text=True,
                timeout=TIMEOUT,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return [Problem(queries[0].path, 1, f"promtool failed: {exc}")]
    for line in (done.stdout + done.stderr).splitlines():
        m = RULE_ERROR.search(line)
        if m:
            q = queries[int(m.group(1))]
            message = m.group(2).replace("could not parse expression: ", "")
            problems.append(Problem(q.path, q.line, f"PromQL does not parse: {message}"))
    return problems
