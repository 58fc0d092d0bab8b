"""An audited change as a person reads it: one line per field changed, values in words.

The audit stream stores each change's whole document before and after (JSON, times in
epoch seconds). Whoever shows a change (the console's Audit view and its before/after
dialog, the overview's recent changes, ``agentconsole audit tail``) reads it here: flags
through :mod:`agentconsole.control.flag_diff` (the one flag diff), every other entity
field by field, with times as UTC clock times, rollouts as percentages, durations as
``15m``. Bookkeeping that every write rewrites (version, who and when, the reason) is
not news: the entry itself carries who, when and why.
"""

from __future__ import annotations

import json
from typing import Any

from agentconsole import text

# Fields every document carries: the entry's own columns say who, when and why.
NOISE = frozenset(
    {"version", "changed_at", "changed_by", "reason", "at", "id", "role", "requester"}
)
WIDTH = 80  # a value longer than this is cut (with …): a line per field stays one line


def lines(
    entity: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    at: float | None = None,
) -> list[str]:
    """What changed, one line per field: ``rollout: 5% → 50%``, ``mode: auto → forced_open``.
    ``at`` (when the change was made) turns a deadline into "01:09:28 UTC (15m later)"."""
    if entity == "flag" and (before or after):
        from agentconsole.control.flag_diff import diff

        try:
            return diff(before, after) or ["no field an operator sets changed"]
        except Exception:  # written by another version: read it field by field below
            pass
    if before is None and after is None:
        return []
    if before is None:
        assert after is not None
        return ["created", *(f"{k}: {v}" for k, v in fields(after, at))]
    if after is None:
        return ["removed"]
    out = []
    for key in sorted(set(before) | set(after)):
        if key in NOISE or before.get(key) == after.get(key):
            continue
        old, new = value(key, before.get(key), at), value(key, after.get(key), at)
        out.append(f"{label(key)}: {old} → {new}")
    return out or ["no field changed"]


def parts(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """The changed fields of an update, each whole (a narrow column shows whole ones)."""
    return [line for line in lines("", before, after) if line != "no field changed"]


def fields(doc: dict[str, Any] | None, at: float | None = None) -> list[tuple[str, str]]:
    """A document as (label, value) pairs in words, bookkeeping left out."""
    return [(label(k), value(k, v, at)) for k, v in sorted((doc or {}).items()) if k not in NOISE]


def changed(before: dict[str, Any] | None, after: dict[str, Any] | None) -> set[str]:
    """The labels of the fields whose values differ (absent on one side counts)."""
    a, b = before or {}, after or {}
    return {label(k) for k in set(a) | set(b) if k not in NOISE and a.get(k) != b.get(k)}


def label(key: str) -> str:
    return {"rollout_bp": "rollout"}.get(key, key.replace("_", " "))


def value(key: str, v: Any, at: float | None = None) -> str:
    """One value in words: a time of day, a percentage, a duration, plain text."""
    if v is None:
        return "none"
    if isinstance(v, bool):
        return "yes" if v else "no"
    number = isinstance(v, int | float)
    if number and (key == "until" or key.endswith("_at") or key.startswith("expires")):
        if not v:
            return "never"
        later = f" ({text.format_duration(round(v - at))} later)" if at and v > at else ""
        return f"{text.hms(v)} UTC{later}"
    if number and key.endswith("_bp"):
        return text.format_percent(int(v))
    if number and key.endswith("_seconds"):
        return text.format_duration(float(v))
    if number and key.endswith("_usd"):
        return f"${v:,.2f}"
    if isinstance(v, str):
        return text.clean(v, WIDTH) if v else '""'
    if isinstance(v, list) and all(isinstance(i, str | int | float) for i in v):
        return text.clean(", ".join(str(i) for i in v), WIDTH) if v else "(none)"
    if isinstance(v, int | float):
        return f"{v:g}"
    return text.clean(json.dumps(v, ensure_ascii=False, sort_keys=True), WIDTH)
