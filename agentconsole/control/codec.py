"""Decoding values read from Redis defensively: a buggy writer must not crash a reader."""

from __future__ import annotations

import json
from typing import Any

from agentconsole.control.errors import CorruptValue

MAX_TEXT = 4096


def text(raw: bytes | str | None, what: str) -> str | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        return raw
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise CorruptValue(f"{what}: the value stored in Redis is not valid UTF-8") from None


def lenient_text(raw: bytes | str | None) -> str:
    """For display-only fields written by agents: never fails, replaces what it cannot read."""
    if raw is None:
        return ""
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", errors="replace")
    return raw[:MAX_TEXT]


def score_pairs(reply: Any) -> list[tuple[Any, float]]:
    """(member, score) pairs from a raw ``WITHSCORES`` reply, as Redis sent it: RESP3 pairs
    (scores already numbers) or RESP2's flat member, score, member, score."""
    if not reply:
        return []
    if isinstance(reply[0], list | tuple):
        return [(member, float(score)) for member, score in reply]
    it = iter(reply)
    return [(member, float(score)) for member, score in zip(it, it, strict=True)]


def document(raw: bytes | str | None, what: str) -> dict[str, Any] | None:
    value = text(raw, what)
    if value is None:
        return None
    try:
        doc = json.loads(value)
    except json.JSONDecodeError:
        raise CorruptValue(f"{what}: the value stored in Redis is not valid JSON") from None
    if not isinstance(doc, dict):
        raise CorruptValue(f"{what}: the value stored in Redis is not a JSON object")
    return doc


# The document a listing shows for a stored value that does not parse: {UNREADABLE: why}.
# Readers skip it; the console and `status` name it, and its lift deletes it by value.
UNREADABLE = "__unreadable__"


def problem(raw: bytes | str | None) -> str | None:
    """Why a stored versioned document (a kill, a hold) cannot be changed by its version:
    not UTF-8, not JSON, not an object, no whole version number; None when it can."""
    try:
        doc = document(raw, "value")
    except CorruptValue as exc:
        return str(exc).removeprefix("value: the value stored in Redis is ")
    if doc is None:
        return None
    version = doc.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        return "a document without a version number"
    return None


def dump(doc: dict[str, Any]) -> str:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def number(raw: bytes | str | None, default: float = 0.0) -> float:
    """Agent-reported numbers: anything unreadable counts as the default, never an error."""
    if raw is None:
        return default
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return default
    return value if value == value and abs(value) != float("inf") else default
