"""The one grammar for what operators type and agents report, and the one sanitiser.

Every front-end (CLI, console dialogs and `:` line, runbook action blocks) and the SDK
parse through these functions, so ``1d`` means the same everywhere and a tenant the SDK
accepts is a tenant every operation can target:

- :func:`duration` — ``90s``, ``15m``, ``2h``, ``1d``, ``1h30m`` or plain seconds, positive
  and at most :data:`DURATION_MAX`; checked before anything is written.
- :func:`percent` — 0 to 100 in 0.01 steps, returned in basis points; ``-0``, ``nan``,
  ``1e309`` and exponent forms are refused.
- :func:`name` — tenant, user, agent and dependency ids: any printable text (spaces, dots,
  unicode) without surrounding blanks, at most :data:`NAME_MAX` characters.
- :func:`clean` — untrusted text made safe for a terminal: no escapes, no control
  characters, one line, bounded width. Markup is never interpreted by our front-ends; this
  makes the text safe to *show*.
- :func:`hms`, :func:`utc`, :func:`ago` — times for people, always labelled UTC.

Nothing here imports the rest of the package: control/, agent/, cli/, tui/ and runbook/
all depend on it. Errors are :class:`Invalid` (a ``ValueError``) with a one-line message
that quotes the offending value safely.
"""

from __future__ import annotations

import math
import re
import time
from datetime import UTC, datetime
from typing import Any

NAME_MAX = 128
DURATION_MAX = 366 * 86400.0  # a year (and a day): longer is a typo, not an incident
_INPUT_MAX = 64  # a duration or percentage longer than this is not one


class Invalid(ValueError):
    """A value refused by the grammar; the message is fit to show an operator as is."""


# --- untrusted text ----------------------------------------------------------------------

# CSI (ESC [ ... final), OSC (ESC ] ... BEL or ST), other two-byte escapes, and 8-bit CSI.
_ANSI = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"
    r"|\x1b[@-Z\\-_]"
    r"|\x9b[0-?]*[ -/]*[@-~]"
)
ELLIPSIS = "…"


def clean(value: Any, width: int | None = 60, *, multiline: bool = False) -> str:
    """Plain, printable, one-line text of at most ``width`` characters (ellipsis when cut).

    Escape sequences are removed, a line break (``\n``, ``\r\n`` or a lone ``\r``, as
    terminals paste them) shows as ``␤`` (kept as ``\n`` with ``multiline``, for alert
    annotations), any other control or invisible character as ``?``. Used for every value
    an agent, a user, an alert, a runbook or a paste supplies.
    """
    text = "" if value is None else str(value)
    if width is not None and len(text) > 4 * width + 64:
        text = text[: 4 * width + 64]  # a megabyte of input costs what its shown part costs
    if "\x1b" in text or "\x9b" in text:
        text = _ANSI.sub("", text)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.isprintable():
        kept = "\n\t" if multiline else ""
        text = "".join(
            ch if ch.isprintable() or ch in kept else ("␤" if ch == "\n" else "?") for ch in text
        )
    if width is not None and len(text) > width:
        text = text[: max(0, width - 1)] + ELLIPSIS
    return text


def quoted(value: Any, width: int = 40) -> str:
    """A value quoted inside an error message: cleaned, bounded, in quotes."""
    return repr(clean(value, width))


# --- names ---------------------------------------------------------------------------------


def name_problem(value: Any) -> str | None:
    """Why ``value`` cannot be a name (tenant, user, agent or dependency id), or None."""
    if not isinstance(value, str):
        return f"must be text, got {type(value).__name__}"
    if not value:
        return "is empty"
    if len(value) > NAME_MAX:
        return f"is longer than {NAME_MAX} characters ({len(value)})"
    if value != value.strip():
        return "starts or ends with a blank"
    if not value.isprintable():
        return "holds a control or invisible character"
    return None


def name(value: Any, what: str = "name") -> str:
    """``value`` if every operation can target it; :class:`Invalid` otherwise.

    The rule is deliberately wide (``Acme Corp``, ``müller-gmbh``, ``a.b`` are names) and
    refuses only what cannot be typed back or shown on one line.
    """
    problem = name_problem(value)
    if problem is None and isinstance(value, str):  # name_problem refuses anything but text
        return value
    raise Invalid(f"invalid {what} {quoted(value)}: {problem}")


# --- durations -----------------------------------------------------------------------------

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_NUMBER = r"\d+(?:\.\d+)?"
_DURATION_RE = re.compile(rf"(?:{_NUMBER}[smhdw])+|{_NUMBER}")
_PART_RE = re.compile(rf"({_NUMBER})([smhdw])")


def duration(value: Any, what: str = "duration") -> float:
    """Seconds from ``90s``, ``15m``, ``2h``, ``1d``, ``1w``, ``1h30m`` or plain seconds.

    Refused: empty, zero, negative, anything but digits and units, and more than
    :data:`DURATION_MAX` (so ``99999999999999d`` is refused before anything is written).
    """
    if isinstance(value, bool):
        raise Invalid(f"{what}: expected a duration like 90s, 15m, 2h or 1d, got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        raw = str(value).strip().lower()
        if len(raw) > _INPUT_MAX or not _DURATION_RE.fullmatch(raw):
            raise Invalid(
                f"{what}: expected a duration like 90s, 15m, 2h or 1d, got {quoted(value)}"
            )
        parts = _PART_RE.findall(raw)
        seconds = sum(float(n) * _UNITS[u] for n, u in parts) if parts else float(raw)
    if not math.isfinite(seconds) or seconds <= 0:
        raise Invalid(f"{what}: must be positive, got {quoted(value)}")
    if seconds > DURATION_MAX:
        raise Invalid(f"{what}: at most {format_duration(DURATION_MAX)}, got {quoted(value)}")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest exact spelling: 90 -> '90s', 900 -> '15m', 86400 -> '1d', 5400 -> '1h30m'."""
    if seconds != int(seconds):
        return f"{seconds:g}s"
    left, out = int(seconds), []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if left >= size:
            out.append(f"{left // size}{unit}")
            left %= size
    return "".join(out) or "0s"


# --- percentages ---------------------------------------------------------------------------

FULL_BP = 10_000  # basis points in 100 %
_PERCENT_RE = re.compile(r"\d{1,3}(?:\.\d+)?%?")


def percent(value: Any, what: str = "rollout") -> int:
    """Basis points (0..10000) from ``'12.5'``, ``'12.5%'``, ``12.5`` or ``100``.

    Steps are 0.01 %; ``-0``, ``nan``, ``inf``, ``1e309`` and exponent forms are refused.
    """
    if isinstance(value, bool):
        raise Invalid(f"{what} must be a percentage between 0 and 100, got {value!r}")
    if isinstance(value, int | float):
        number = float(value)
        if not math.isfinite(number) or (number == 0 and math.copysign(1.0, number) < 0):
            raise Invalid(f"{what} must be a percentage between 0 and 100, got {value!r}")
        shown = f"{value:g}"
    else:
        raw = str(value).strip()
        if len(raw) > _INPUT_MAX or not _PERCENT_RE.fullmatch(raw):
            raise Invalid(f"{what} must be a percentage between 0 and 100, got {quoted(value)}")
        shown = raw.removesuffix("%")
        number = float(shown)
    if not 0 <= number <= 100:
        raise Invalid(f"{what} must be between 0 and 100%, got {shown}%")
    bp = round(number * 100)
    if abs(bp - number * 100) > 1e-6:
        raise Invalid(f"{what} steps are 0.01%, got {shown}%")
    return bp


def format_percent(bp: int) -> str:
    return f"{bp / 100:g}%"


# --- times ---------------------------------------------------------------------------------


def hms(ts: float | None) -> str:
    """Time of day in UTC, what an incident channel quotes ('10:42:03'); '-' for never."""
    if not ts:
        return "-"
    return time.strftime("%H:%M:%S", time.gmtime(ts))


def utc(ts: float | None) -> str:
    """An absolute time for logs and tickets: '2026-12-01 10:42:03 UTC'; '-' for never."""
    if not ts:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def ago(ts: float | None, now: float | None = None) -> str:
    """'12s ago', '5m ago', '3h ago', 'in 2d': how an operator reads recency at a glance."""
    if not ts:
        return "-"
    delta = (time.time() if now is None else now) - ts
    future, delta = delta < 0, abs(delta)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if delta >= size:
            text = f"{delta // size:.0f}{unit}"
            break
    else:
        text = f"{delta:.0f}s"
    return f"in {text}" if future else f"{text} ago"
