"""Markdown with YAML front matter → :class:`Runbook`, keeping a line number for everything.

Deliberately a small line scanner rather than a Markdown library: runbooks only need
front matter, level-2 sections and fenced blocks, and lint must say exactly which line
is wrong.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from agentconsole.runbook.model import SEVERITIES, SPECIAL_BLOCKS, Block, Problem, Runbook, Step

FENCE_RE = re.compile(r"^ {0,3}(`{3,}|~{3,})\s*([^\s`]*)[^`]*$")
H2_RE = re.compile(r"^ {0,3}##(?!#)\s+(.*?)\s*#*\s*$")
ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
REQUIRED = ("id", "title", "alerts", "severity", "owner", "version")
KNOWN = {*REQUIRED, "description", "tags", "dashboard"}


def parse_file(path: str | Path) -> tuple[Runbook | None, list[Problem]]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return None, [Problem(str(path), 1, "not valid UTF-8")]
    except OSError as exc:
        return None, [Problem(str(path), 1, f"cannot read: {exc.strerror or exc}")]
    return parse(text, path)


def parse(text: str, path: str | Path | None = None) -> tuple[Runbook | None, list[Problem]]:
    """Parse one runbook. Returns None (plus problems) when the front matter is unusable."""
    where = str(path) if path else "<runbook>"
    lines = text.replace("\r\n", "\n").split("\n")
    problems: list[Problem] = []
    meta, meta_lines, body_start = _front_matter(lines, where, problems)
    if meta is None:
        return None, problems
    fields = _fields(meta, meta_lines, where, problems)
    runbook = Runbook(
        id=fields["id"],
        title=fields["title"],
        alerts=fields["alerts"],
        severity=fields["severity"],
        owner=fields["owner"],
        version=fields["version"],
        path=Path(path) if path else None,
        meta_lines=meta_lines,
    )
    if path and fields["id"] and Path(path).stem != fields["id"]:
        problems.append(
            Problem(
                where,
                meta_lines.get("id", 1),
                f"id {fields['id']!r} does not match the file name {Path(path).name!r}",
            )
        )
    _body(lines, body_start, runbook, where, problems)
    return runbook, problems


def _front_matter(
    lines: list[str], where: str, problems: list[Problem]
) -> tuple[dict[str, Any] | None, dict[str, int], int]:
    import yaml

    if not lines or lines[0].strip() != "---":
        problems.append(Problem(where, 1, "missing front matter: the file must start with ---"))
        return None, {}, 0
    end = next((i for i in range(1, len(lines)) if lines[i].strip() in ("---", "...")), None)
    if end is None:
        problems.append(Problem(where, 1, "front matter is not closed: add a line with ---"))
        return None, {}, 0
    source = "\n".join(lines[1:end])
    try:
        node = yaml.compose(source, Loader=yaml.SafeLoader)
        meta = yaml.safe_load(source)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 2 if mark else 1
        reason = getattr(exc, "problem", None) or str(exc).split("\n")[0]
        problems.append(Problem(where, line, f"front matter is not valid YAML: {reason}"))
        return None, {}, 0
    if not isinstance(meta, dict):
        problems.append(Problem(where, 2, "front matter must be a mapping of field: value"))
        return None, {}, 0
    meta_lines: dict[str, int] = {}
    if isinstance(node, yaml.MappingNode):
        for key_node, _ in node.value:
            meta_lines[str(key_node.value)] = key_node.start_mark.line + 2
    return meta, meta_lines, end + 1


def _fields(
    meta: dict[str, Any], meta_lines: dict[str, int], where: str, problems: list[Problem]
) -> dict[str, Any]:
    def bad(key: str, message: str) -> None:
        problems.append(Problem(where, meta_lines.get(key, 1), message))

    for key in REQUIRED:
        if key not in meta or meta[key] in (None, "", []):
            bad(key, f"front matter: missing field {key!r}")
    for key in meta:
        if str(key) not in KNOWN:
            bad(str(key), f"front matter: unknown field {key!r} (known: {', '.join(REQUIRED)})")
    out: dict[str, Any] = {}
    for key in ("id", "title", "owner"):
        value = meta.get(key)
        if value is not None and not isinstance(value, str):
            bad(key, f"front matter: {key} must be text, got {type(value).__name__}")
            value = str(value)
        out[key] = value or ""
    if out["id"] and not ID_RE.match(out["id"]):
        bad("id", f"front matter: id {out['id']!r} must be lowercase letters, digits and '-'")
    version = meta.get("version")
    out["version"] = "" if version is None else str(version)
    severity = meta.get("severity")
    if severity is not None and severity not in SEVERITIES:
        bad("severity", f"front matter: severity must be one of {', '.join(SEVERITIES)}")
    out["severity"] = str(severity or "")
    alerts = meta.get("alerts")
    if isinstance(alerts, str):
        alerts = [alerts]
    if alerts is not None and not (
        isinstance(alerts, list) and all(isinstance(a, str) and a for a in alerts)
    ):
        bad("alerts", "front matter: alerts must be a list of alert names")
        alerts = [str(a) for a in alerts] if isinstance(alerts, list) else []
    out["alerts"] = list(alerts or [])
    return out


def _body(
    lines: list[str], start: int, runbook: Runbook, where: str, problems: list[Problem]
) -> None:
    target = runbook.preamble
    text: list[tuple[int, str]] = []

    def flush() -> None:
        while text and not text[0][1].strip():
            text.pop(0)
        while text and not text[-1][1].strip():
            text.pop()
        if text:
            target.append(Block("text", "\n".join(t for _, t in text), text[0][0]))
        text.clear()

    i = start
    while i < len(lines):
        line, number = lines[i], i + 1
        fence = FENCE_RE.match(line)
        if fence:
            flush()
            marker, lang = fence.group(1), fence.group(2).lower()
            close = re.compile(rf"^ {{0,3}}{re.escape(marker[0])}{{{len(marker)},}}\s*$")
            j = i + 1
            while j < len(lines) and not close.match(lines[j]):
                j += 1
            if j >= len(lines):
                problems.append(Problem(where, number, "code block opened here is never closed"))
            body = "\n".join(lines[i + 1 : j])
            kind = lang if lang in SPECIAL_BLOCKS else "code"
            target.append(Block(kind, body, number + 1, lang))
            i = j + 1
            continue
        heading = H2_RE.match(line)
        if heading:
            flush()
            step = Step(len(runbook.steps) + 1, heading.group(1), number)
            if not step.title:
                problems.append(Problem(where, number, "step heading has no title"))
            runbook.steps.append(step)
            target = step.blocks
        else:
            text.append((number, line))
        i += 1
    flush()
