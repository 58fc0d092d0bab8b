"""Formatting numbers and times for narrow columns (pure functions, easy to test)."""

from __future__ import annotations

import math
import re

from agentconsole.text import clean, hms

__all__ = ["ago", "count", "fit", "fit_parts", "hms", "money", "sparkline", "value"]


def ago(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = float(round(max(0.0, seconds)))  # whole seconds first: 899.6 is 15m00s, not 14m60s
    if s < 60:
        return f"{s:.0f}s"
    if s < 3600:
        return f"{s // 60:.0f}m{s % 60:02.0f}s"
    if s < 86400:
        return f"{s // 3600:.0f}h{(s % 3600) // 60:02.0f}m"
    return f"{s // 86400:.0f}d{(s % 86400) // 3600:.0f}h"


def count(n: float) -> str:
    n = float(n)
    if abs(n) >= 1_000_000:
        return f"{n / 1_000_000:.1f}M"
    if abs(n) >= 10_000:
        return f"{n / 1000:.0f}k"
    return f"{n:.0f}"


def money(v: float) -> str:
    return f"${v:.4f}" if abs(v) < 1 else f"${v:,.2f}"


# Units of configs written before panels said what they count.
LEGACY_UNITS = {"count": "", "req/s": "runs/s"}


def value(v: float | None, unit: str = "") -> str:
    """A panel value with its unit: 0.0123 ratio -> 1.23 %, 4.2 s, $0.05."""
    if v is None or math.isnan(v):
        return "—"
    if math.isinf(v):
        return ("∞ " if v > 0 else "-∞ ") + unit
    if unit in ("ratio", "percent", "%"):
        return f"{v * 100:.2f} %" if unit == "ratio" else f"{v:.2f} %"
    if unit in ("usd", "$", "USD"):
        return money(v)
    if unit in ("usd/h", "$/h"):
        return f"{money(v) if abs(v) < 1000 else '$' + count(v)}/h"
    unit = LEGACY_UNITS.get(unit, unit)
    if unit in ("s", "seconds"):
        return f"{v * 1000:.0f} ms" if v < 1 else f"{v:.2f} s"
    if abs(v) >= 1000:
        text = count(v)
    elif v == int(v):
        text = f"{v:.0f}"
    else:
        text = f"{v:.3g}"
    if text == "1" and unit in SINGULAR:
        unit = SINGULAR[unit]
    return f"{text} {unit}".strip()


# counted things read in the singular for exactly one: "1 breaker", "1 run"
SINGULAR = {"breakers": "breaker", "runs": "run", "tokens": "token", "agents": "agent"}


BARS = "▁▂▃▄▅▆▇█"


def sparkline(points: list[float], width: int = 24) -> str:
    """A text sparkline of the last ``width`` points (no widget: one cheap string)."""
    # NaN and ±Inf (a quantile landing in the +Inf bucket) have no height: skipped
    pts = [p for p in points if p is not None and math.isfinite(p)][-width:]
    if not pts:
        return ""
    lo, hi = min(pts), max(pts)
    span = hi - lo
    if span <= 0:
        return BARS[0] * len(pts)
    return "".join(BARS[min(len(BARS) - 1, int((p - lo) / span * (len(BARS) - 1)))] for p in pts)


_INSIDE = re.compile(r"[\w$.,%→-]")  # characters of a number or word: never cut between two


def fit(text: str, width: int) -> str:
    """``text`` in ``width`` characters, cut only between words: a cut inside a number
    changes its meaning ("500→500…" for 500→5000), a cut before it only hides it."""
    text = clean(text, None)
    if len(text) <= width:
        return text
    cut = width - 1
    if _INSIDE.match(text[cut]) and _INSIDE.match(text[cut - 1]):
        boundary = max(text.rfind(" ", 0, cut), text.rfind(",", 0, cut))
        if boundary > 0:
            cut = boundary
    return text[:cut].rstrip(" ,") + "…"


def fit_parts(parts: list[str], width: int, sep: str = ", ") -> str:
    """Whole parts that fit in ``width``, then "+N more": no part is ever cut."""
    shown: list[str] = []
    for i, part in enumerate(parts):
        rest = len(parts) - i - 1
        more = f"{sep}+{rest} more" if rest else ""
        candidate = sep.join([*shown, part])
        if len(candidate) + len(more) > width:
            if not shown:
                return fit(part, width - len(f" +{len(parts) - 1} more") if rest else width) + (
                    f" +{rest} more" if rest else ""
                )
            return sep.join(shown) + f"{sep}+{len(parts) - i} more"
        shown.append(part)
    return sep.join(shown)
