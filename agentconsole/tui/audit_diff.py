"""Enter on an audit row: that change's before and after, in words (no JSON, no epochs)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from agentconsole import text
from agentconsole.control import audit_diff

if TYPE_CHECKING:
    from agentconsole.control.audit import AuditEntry


def heading(entry: AuditEntry) -> Text:
    out = Text()
    out.append(text.clean(f"{entry.action} {entry.target}", 100), "bold")
    out.append(f"\n{text.utc(entry.ts)} by {text.clean(entry.actor, 40)} ({entry.role})")
    out.append(f" · control plane v{entry.cp_version}", "dim")
    out.append("\nreason: ", "dim")
    out.append(text.clean(entry.reason, 200) if entry.reason else "(none given)")
    return out


def changes(entry: AuditEntry) -> Text:
    out = Text()
    for line in audit_diff.lines(entry.entity, entry.before, entry.after, entry.ts):
        out.append("  • ", "yellow")
        out.append(text.clean(line, 200) + "\n")
    return out


def document(title: str, doc: dict | None, entry: AuditEntry) -> Text:
    """One side, every field; the changed ones stand out."""
    out = Text()
    out.append(f"{title}\n", "bold")
    if doc is None:
        out.append("  (did not exist)\n", "dim")
    changed = audit_diff.changed(entry.before, entry.after)
    for key, value in audit_diff.fields(doc, entry.ts):
        style = "bold yellow" if key in changed else ""
        out.append(f"  {text.clean(key, 24)}: ", "cyan")
        out.append(f"{value}\n", style)
    return out


class AuditDiffScreen(ModalScreen[None]):
    """One audited change: what changed, then the whole before and after side by side."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,enter,q", "close", "Close", id="audit.diff.close")
    ]
    DEFAULT_CSS = """
    AuditDiffScreen { align: center middle; }
    AuditDiffScreen > VerticalScroll { width: 110; max-width: 100%; height: auto;
        max-height: 100%; border: thick $accent; background: $surface; padding: 0 1; }
    AuditDiffScreen #diff-changes { margin: 1 0 0 0; height: auto; }
    AuditDiffScreen Horizontal { height: auto; }
    AuditDiffScreen #diff-before, AuditDiffScreen #diff-after { width: 1fr; height: auto; }
    """

    def __init__(self, entry: AuditEntry) -> None:
        super().__init__()
        self.entry = entry

    def compose(self):
        # one scroll for all of it: a long document still fits 80x24, the heading on top
        with VerticalScroll() as scroll:
            scroll.border_subtitle = "esc closes"
            yield Static(heading(self.entry), id="diff-heading")
            yield Static(changes(self.entry), id="diff-changes")
            with Horizontal():
                yield Static(document("Before", self.entry.before, self.entry), id="diff-before")
                yield Static(document("After", self.entry.after, self.entry), id="diff-after")

    def action_close(self) -> None:
        self.dismiss(None)
