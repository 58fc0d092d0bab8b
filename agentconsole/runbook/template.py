"""A tiny template renderer for runbooks: ``{{ labels.x }}``, ``{{ annotations.x }}``,
``{{ alert.name }}``, and ``{{ input.x }}`` (a value the operator types when running an
action, e.g. the id of the runaway agent they found).

Why not Jinja: values come from alerts, i.e. from whatever label an agent or exporter put
on a series. They are data. This renderer only substitutes, never evaluates, and each
context decides how a value may appear: literally in prose, as an escaped string literal
(or a strict token) in PromQL, as a strict token in an action argument (see actions.py).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

TEMPLATE_RE = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
VAR_RE = re.compile(
    r"^(labels|annotations)\.([A-Za-z_][A-Za-z0-9_]*)$|^alert\.(name|severity|state)$"
    r"|^input\.([a-z][a-z0-9_]*)$"
)
# What a value must look like to stand outside quotes in PromQL or as an action argument.
TOKEN_RE = re.compile(r"^[A-Za-z0-9._:-]+$")
ALLOWED = "labels.<name>, annotations.<name>, alert.name, alert.severity, alert.state, input.<name>"


class TemplateError(ValueError):
    """A template that cannot be rendered safely; the message is for the operator."""


@dataclass
class Values:
    """The data a runbook is rendered with: one alert instance (or none)."""

    alert_name: str = ""
    severity: str = ""
    state: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    inputs: Mapping[str, str] = field(default_factory=dict)  # typed by the operator

    def lookup(self, var: str) -> str | None:
        """The value of a checked variable path, or None if this alert does not have it."""
        kind, _, name = var.partition(".")
        if kind == "labels":
            return _str(self.labels.get(name))
        if kind == "annotations":
            return _str(self.annotations.get(name))
        if kind == "input":
            return _str(self.inputs.get(name))
        value = {"name": self.alert_name, "severity": self.severity, "state": self.state}[name]
        return value or None


def _str(value: object) -> str | None:
    return None if value is None else str(value)


def check_var(expr: str) -> str | None:
    """The normalised variable path inside ``{{ }}``, or None if it is not one we know."""
    var = expr.strip()
    return var if VAR_RE.match(var) else None


def find(text: str) -> list[tuple[int, str, str | None]]:
    """Every template in ``text``: (line offset, raw expression, checked path or None)."""
    found = []
    for m in TEMPLATE_RE.finditer(text):
        found.append((text.count("\n", 0, m.start()), m.group(1), check_var(m.group(1))))
    return found


def unknown_message(expr: str) -> str:
    shown = display(expr.strip(), 40)
    return f"unknown template variable {{{{ {shown} }}}} (use {ALLOWED})"


def display(value: str, width: int = 200) -> str:
    """A value as it may be shown: control characters made visible, length bounded."""
    out = []
    for ch in value:
        if ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif not ch.isprintable():
            out.append(f"\\x{ord(ch):02x}" if ord(ch) < 256 else f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    text = "".join(out)
    return text if len(text) <= width else text[: width - 1] + "…"


def render_text(text: str, values: Values) -> str:
    """Prose: values go in literally (control characters made visible); the result is
    shown as plain text, never parsed as markup. A missing value keeps its placeholder."""

    def sub(m: re.Match[str]) -> str:
        var = check_var(m.group(1))
        value = values.lookup(var) if var else None
        return m.group(0) if value is None else display(value)

    return TEMPLATE_RE.sub(sub, text)


def required(text: str, values: Values) -> list[str]:
    """Variables ``text`` uses that ``values`` cannot provide (unknown ones included)."""
    missing = []
    for _, expr, var in find(text):
        if var is None or values.lookup(var) is None:
            missing.append(var or expr.strip())
    return missing


def promql_string(value: str, quote: str) -> str:
    """The body of a PromQL string literal holding ``value`` (Go escaping rules)."""
    out = []
    for ch in value:
        if ch == "\\" or ch == quote:
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif not ch.isprintable():
            out.append(f"\\x{ord(ch):02x}" if ord(ch) < 256 else f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return "".join(out)


def render_promql(text: str, values: Values) -> str:
    """PromQL: inside a quoted string a value is escaped as a string literal; outside
    quotes it must be a strict token, else the query is refused (never spliced in)."""
    out: list[str] = []
    quote: str | None = None
    i = 0
    while i < len(text):
        if text.startswith("{{", i):
            m = TEMPLATE_RE.match(text, i)
            if m:
                var = check_var(m.group(1))
                if var is None:
                    raise TemplateError(unknown_message(m.group(1)))
                value = values.lookup(var)
                if value is None:
                    raise TemplateError(f"needs {{{{ {var} }}}}, which this alert does not have")
                if quote == "`":
                    if "`" in value or not value.isprintable():
                        raise TemplateError(f"{var} cannot go in a raw string: {display(value)}")
                    out.append(value)
                elif quote:
                    out.append(promql_string(value, quote))
                elif TOKEN_RE.match(value):
                    out.append(value)
                else:
                    raise TemplateError(
                        f"{var} = {display(value, 60)!r} is not a plain name; put the "
                        "template inside quotes to use it as a string"
                    )
                i = m.end()
                continue
        ch = text[i]
        out.append(ch)
        if quote:
            if ch == "\\" and quote != "`" and i + 1 < len(text):
                out.append(text[i + 1])
                i += 1
            elif ch == quote:
                quote = None
        elif ch in "\"'`":
            quote = ch
        i += 1
    return "".join(out)


_STARTS_A_LINE = re.compile(r"\s*([-*+>|#]|\d+[.)]\s)")


def reflow(prose: str) -> str:
    """Join markdown's soft line breaks, so a paragraph wraps at the screen's width and not
    also at the author's (a source line wider than 80 columns read as two broken lines).
    Blank lines, headings, list items, quotes and table rows keep their own line."""
    lines: list[str] = []
    for line in prose.split("\n"):
        joins = lines and lines[-1].strip() and line.strip() and not _STARTS_A_LINE.match(line)
        if joins:
            lines[-1] = f"{lines[-1].rstrip()} {line.strip()}"
        else:
            lines.append(line)
    return "\n".join(lines)
