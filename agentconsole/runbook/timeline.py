"""An incident's timeline as markdown, for the postmortem: alert, steps done or skipped
(who, when, note), actions with before/after, and the control-plane changes made by
anyone during the incident window, merged in time order."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from agentconsole.runbook.template import display

if TYPE_CHECKING:
    from agentconsole.control.audit import AuditEntry
    from agentconsole.control.incidents import Incident

SKIP_FIELDS = {"changed_at", "changed_by", "version", "reason"}


def stamp(ts: float | None) -> str:
    if ts is None:
        return "—"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts)) + " UTC"


def _plain(value: Any, width: int = 300) -> str:
    """Untrusted text in markdown: visible control characters, no raw HTML, one line."""
    text = display(str(value), width)
    return text.replace("<", "&lt;").replace(">", "&gt;")


def _doc(doc: dict[str, Any] | None) -> str:
    if not doc:
        return "(none)"
    shown = {k: v for k, v in sorted(doc.items()) if k not in SKIP_FIELDS}
    return "`" + _plain(json.dumps(shown, sort_keys=True), 400).replace("`", "'") + "`"


def export_markdown(incident: Incident, audit: list[AuditEntry]) -> str:
    labels = ", ".join(f"{k}={v}" for k, v in sorted(incident.labels.items()))
    lines = [
        f"# Incident {incident.id}: {_plain(incident.alert or incident.runbook)}",
        "",
        f"- Alert: {_plain(incident.alert) or '(opened from the runbook list)'}"
        + (f" ({_plain(labels)})" if labels else ""),
    ]
    if incident.summary:
        lines.append(f"- Summary: {_plain(incident.summary)}")
    lines += [
        f"- Runbook: {_plain(incident.runbook)} — {_plain(incident.runbook_title)}"
        + (f" (version {_plain(incident.runbook_version)})" if incident.runbook_version else ""),
        f"- Started: {stamp(incident.started_at)} by {_plain(incident.started_by)}",
        f"- Ended: {stamp(incident.ended_at)}"
        + (f" by {_plain(incident.ended_by)}" if incident.ended_by else " (still open)"),
        "",
        "## Steps",
        "",
    ]
    for index, title in enumerate(incident.step_titles, start=1):
        mark = incident.mark(index)
        if mark is None:
            lines.append(f"{index}. {_plain(title)} — not done")
        else:
            note = f": {_plain(mark.note)}" if mark.note else ""
            lines.append(
                f"{index}. {_plain(title)} — **{mark.status}** by {_plain(mark.by)} "
                f"at {stamp(mark.at)}{note}"
            )
    lines += ["", "## Actions", ""]
    if not incident.actions:
        lines.append("None.")
    for a in incident.actions:
        outcome = "done" if a.ok else "FAILED"
        lines.append(
            f"- {stamp(a.at)} step {a.step}: `{_plain(a.text).replace('`', chr(39))}` by "
            f"{_plain(a.by)} — {outcome}: {_plain(a.message)}"
        )
        if a.ok:
            lines.append(f"  - before: {_doc(a.before)}")
            lines.append(f"  - after: {_doc(a.after)}")
    lines += ["", "## Timeline", ""]
    events: list[tuple[float, str]] = [(incident.started_at, "incident opened")]
    for index, _ in enumerate(incident.step_titles, start=1):
        mark = incident.mark(index)
        if mark:
            events.append((mark.at, f"{_plain(mark.by)} marked step {index} {mark.status}"))
    for a in incident.actions:
        if not a.ok:  # done actions appear below through their own audit entries
            text = _plain(a.text).replace("`", "'")
            events.append((a.at, f"{_plain(a.by)} tried `{text}`: {_plain(a.message)}"))
    for e in audit:
        if e.entity == "incident":
            continue  # already above, from the incident itself
        why = f" — {_plain(e.reason)}" if e.reason else ""
        events.append(
            (e.ts, f"{_plain(e.actor)} ({_plain(e.role)}) {e.action} {_plain(e.target)}{why}")
        )
    if incident.ended_at:
        events.append((incident.ended_at, f"incident resolved by {_plain(incident.ended_by)}"))
    for ts, text in sorted(events, key=lambda ev: ev[0]):
        lines.append(f"- {stamp(ts)} — {text}")
    return "\n".join(lines) + "\n"


async def export(plane: Any, incident_id: str) -> str:
    """Read the incident and the audit entries of its window, and render the timeline."""
    from agentconsole.control.incidents import Incidents

    incident = await Incidents(plane).require(incident_id)
    end = incident.ended_at
    audit = await plane.audit.between(incident.started_at - 1, end + 1 if end else None)
    return export_markdown(incident, audit)
