"""A readable before/after of one flag: the lines an operator reads in the audit, in the
dry run of ``flags import`` and in the toast of a change.

Works on documents (what the audit stream stores) as well as on ``Flag`` objects, so an
audit entry written by any version reads the same way.
"""

from __future__ import annotations

import json
from typing import Any

from agentconsole.control.bucketing import format_bp
from agentconsole.control.flags import Flag

# Bookkeeping every change rewrites: never news.
IGNORED = {"version", "changed_by", "changed_at", "reason"}
MAX_LINES = 40


def diff(before: Flag | dict[str, Any] | None, after: Flag | dict[str, Any] | None) -> list[str]:
    """One line per difference, in a fixed order; [] when nothing an operator set changed."""
    old, new = _flag(before), _flag(after)
    if old is None and new is None:
        return []
    if old is None:
        assert new is not None
        return [
            f"created: {summary(new)}",
            *_variant_lines(None, new),
            *_constraint_lines(None, new),
        ]
    if new is None:
        return [f"deleted (was {summary(old)})"]
    lines: list[str] = []
    for name, show in (
        ("enabled", _onoff),
        ("rollout_bp", format_bp),
        ("type", str),
        ("stickiness", str),
        ("group", lambda g: g or "(flag name)"),
        ("default", _onoff),
        ("value_type", str),
        ("variant_stickiness", lambda s: s or "(the flag's)"),
        ("tracked", _onoff),
        ("owner", str),
        ("description", _short),
    ):
        a, b = getattr(old, name), getattr(new, name)
        if a != b:
            label = {"rollout_bp": "rollout", "value_type": "value type"}.get(name, name)
            lines.append(f"{label.replace('_', ' ')}: {show(a)} → {show(b)}")
    for name in ("allow", "deny"):
        added = [k for k in getattr(new, name) if k not in getattr(old, name)]
        removed = [k for k in getattr(old, name) if k not in getattr(new, name)]
        if added or removed:
            parts = [f"+{_q(k)}" for k in added] + [f"-{_q(k)}" for k in removed]
            lines.append(f"{name} list: {' '.join(parts)}")
    if (old.plan or None) != (new.plan or None):
        lines.append("rollout plan changed")
    lines += _variant_lines(old, new)
    lines += _constraint_lines(old, new)
    if len(lines) > MAX_LINES:
        lines = [*lines[: MAX_LINES - 1], f"… and {len(lines) - MAX_LINES + 1} more"]
    return lines


def summary(flag: Flag) -> str:
    """``on, 100%, by tenant, 2 variants (standard 100, cheap 0), 1 constraint``."""
    parts = [_onoff(flag.enabled), flag.rollout, f"by {flag.stickiness}"]
    if flag.variants:
        total = flag.total_weight or 1
        shown = ", ".join(f"{v.name} {v.weight * 100 / total:g}%" for v in flag.variants[:4])
        more = " …" if len(flag.variants) > 4 else ""
        parts.append(f"{len(flag.variants)} variants ({shown}{more})")
    if flag.constraints:
        n = len(flag.constraints)
        parts.append(f"{n} constraint{'s' if n != 1 else ''}")
    return ", ".join(parts)


def variant_summary(flag: Flag) -> str:
    """``standard 90% · cheap 10% = "gpt-4o-mini" · forced: tenant globex → cheap``."""
    total = flag.total_weight or 1
    parts = []
    for v in flag.variants:
        payload = "" if v.payload is None else f" = {_payload(v.payload)}"
        parts.append(f"{v.name} {v.weight * 100 / total:g}%{payload}")
    forced = _forced(flag)
    if forced:
        shown = ", ".join(f"{c} {_q(value)} → {v}" for (c, value), v in list(forced.items())[:3])
        more = f" (+{len(forced) - 3})" if len(forced) > 3 else ""
        parts.append(f"forced: {shown}{more}")
    return " · ".join(parts) or "-"


def constraint_summary(flag: Flag) -> str:
    """All constraints on one line, for a table cell: ``region IN eu · environment IN prod``."""
    return " · ".join(c.summary() for c in flag.constraints) or "-"


def _variant_lines(old: Flag | None, new: Flag) -> list[str]:
    lines = []
    before = {v.name: v for v in old.variants} if old else {}
    after = {v.name: v for v in new.variants}
    for name, v in after.items():
        was = before.get(name)
        if was is None:
            lines.append(f"variant {name} added: weight {v.weight}, payload {_payload(v.payload)}")
            continue
        if was.weight != v.weight:
            lines.append(f"variant {name}: weight {was.weight} → {v.weight}")
        if was.payload != v.payload:
            lines.append(f"variant {name}: payload {_payload(was.payload)} → {_payload(v.payload)}")
    for name in before:
        if name not in after:
            lines.append(f"variant {name} removed")
    if old is not None and [v.name for v in old.variants if v.name in after] != [
        v.name for v in new.variants if v.name in before
    ]:
        lines.append("variant order changed (it decides which keys get which variant)")
    forced_before, forced_after = _forced(old), _forced(new)
    for key, variant in forced_after.items():
        forced_was = forced_before.get(key)
        if forced_was != variant:
            context, value = key
            origin = f" (was {forced_was})" if forced_was else ""
            lines.append(f"override {context} {_q(value)} → {variant}{origin}")
    for key, forced in forced_before.items():
        if key not in forced_after:
            context, value = key
            lines.append(
                f"override {context} {_q(value)} removed (was {forced}; back to the weights)"
            )
    return lines


def _constraint_lines(old: Flag | None, new: Flag) -> list[str]:
    before = [c.summary() for c in old.constraints] if old else []
    after = [c.summary() for c in new.constraints]
    lines = [f"constraint added: {c}" for c in after if c not in before]
    lines += [f"constraint removed: {c}" for c in before if c not in after]
    return lines


def _forced(flag: Flag | None) -> dict[tuple[str, str], str]:
    if flag is None:
        return {}
    return {
        (o.context, value): v.name for v in flag.variants for o in v.overrides for value in o.values
    }


def _flag(value: Flag | dict[str, Any] | None) -> Flag | None:
    if value is None or isinstance(value, Flag):
        return value
    return Flag.from_doc({k: v for k, v in value.items() if k not in IGNORED} | {"version": 0})


def _onoff(value: bool) -> str:
    return "on" if value else "off"


def _q(text: str) -> str:
    """Keys may hold spaces: quote them so ``globex corp`` reads as one."""
    return repr(text) if (" " in text or not text) else text


def _short(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:59] + "…")


def _payload(value: Any) -> str:
    if value is None:
        return "none"
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= 80 else text[:79] + "…"
