"""Panel definitions: a preset (YAML data shipped in ``presets/``) plus the user's panels.

Why data, not code: the OpenTelemetry GenAI conventions are still moving and every team's
metric names differ a little, so a team adapts panels in its config file, never in Python.
Every mistake in a panel definition is a ``ConfigError`` naming the panel and the key.
"""

from __future__ import annotations

import re
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentconsole.config import ConfigError
from agentconsole.metrics.model import PanelDef, Target

if TYPE_CHECKING:
    from agentconsole.config import ModelPrice, Settings

PRESETS_DIR = Path(__file__).with_name("presets")
# Units say what is counted ("$", "runs", "breakers"); "usd", "usd/h", "req/s" and "count"
# are accepted for configs written before and shown as "$", "$/h", "runs/s" and nothing.
UNITS = (
    "s",
    "ratio",
    "tokens",
    "$",
    "$/h",
    "runs",
    "runs/s",
    "calls/s",
    "agents",
    "breakers",
    "usd",
    "usd/h",
    "req/s",
    "count",
    "",
)
PANEL_KEYS = (
    "id",
    "title",
    "query",
    "series_query",
    "recorded",
    "unit",
    "target",
    "warn_margin",
    "by",
    "combine",
    "description",
    "empty",
    "remove",
)
_ID = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_VAR = re.compile(r"\$\{(\w+)\}")
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_TIME_VARS = re.compile(r"\$(interval|today_seconds|today)\b")


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))


def load_preset(name: str) -> dict[str, Any]:
    import yaml

    path = PRESETS_DIR / f"{name}.yaml"
    if not _ID.match(name) or not path.is_file():
        raise ConfigError(
            f"prometheus.preset: unknown preset {_show(name)} (expected one of: "
            f"{', '.join(preset_names())})"
        )
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("panels"), list):
        raise ConfigError(f"{path}: expected a mapping with a list of panels")
    return data


def build_panels(settings: Settings) -> list[PanelDef]:
    """The preset's panels, then ``settings.panels`` replacing (same id), removing or adding."""
    preset = load_preset(settings.prometheus.preset)
    variables = {str(k): str(v) for k, v in (preset.get("vars") or {}).items()}
    cost = _cost_expansions(preset.get("cost"), settings.prices)
    panels: dict[str, PanelDef] = {}
    for i, raw in enumerate(preset["panels"]):
        panel = parse_panel(raw, f"preset {preset.get('name')} panels[{i}]")
        panels[panel.id] = panel
    for i, raw in enumerate(settings.panels or []):
        where = f"panels[{i}]"
        if not isinstance(raw, dict):
            raise ConfigError(f"{where}: expected a mapping, got {_show(raw)}")
        pid = raw.get("id")
        if isinstance(pid, str) and raw.get("remove") is True:
            if pid not in panels:
                raise ConfigError(f"{where}: remove: no panel {_show(pid)} in the preset")
            del panels[pid]
            continue
        base = panels.get(pid) if isinstance(pid, str) else None
        panel = parse_panel(raw, where, base)
        panels[panel.id] = panel
    return [_expand(p, variables, cost) for p in panels.values()]


def parse_panel(raw: Any, where: str, base: PanelDef | None = None) -> PanelDef:
    """Validate one panel mapping; with ``base``, given keys replace the base panel's."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping, got {_show(raw)}")
    pid = raw.get("id")
    if not isinstance(pid, str) or not _ID.match(pid):
        raise ConfigError(
            f"{where}: id: expected a short lower-case name (letters, digits, _), got {_show(pid)}"
        )
    where = f"{where} ({pid})"
    for key in raw:
        if key not in PANEL_KEYS:
            raise ConfigError(
                f"{where}: {key}: unknown panel key (expected one of: {', '.join(PANEL_KEYS)})"
            )
    if "remove" in raw and raw["remove"] is not False:
        raise ConfigError(f"{where}: remove: expected true (alone with id) or false")

    def text(key: str, default: str | None, required: bool = False) -> str | None:
        if key not in raw:
            if required and default is None:
                raise ConfigError(f"{where}: {key}: required")
            return default
        value = raw[key]
        if value is None and not required:
            return None
        if not isinstance(value, str) or (required and not value.strip()):
            raise ConfigError(f"{where}: {key}: expected a non-empty string, got {_show(value)}")
        return value.strip()

    query = text("query", base.query if base else None, required=True)
    # a panel whose query is replaced keeps no recorded query it did not name: the base's
    # recording rule computes the base's query, not this one
    replaced = base is not None and ("query" in raw or "series_query" in raw)
    recorded = text("recorded", None if replaced or base is None else base.recorded)
    title = text("title", base.title if base else pid.replace("_", " ").capitalize())
    unit = text("unit", base.unit if base else "")
    if unit not in UNITS:
        raise ConfigError(f"{where}: unit: expected one of {', '.join(UNITS)}, got {_show(unit)}")
    by = text("by", base.by if base else None)
    if by is not None and not _LABEL.match(by):
        raise ConfigError(f"{where}: by: expected a Prometheus label name, got {_show(by)}")
    combine = text("combine", base.combine if base else "sum")
    if combine not in ("sum", "max", "min"):
        raise ConfigError(f"{where}: combine: expected sum, max or min, got {_show(combine)}")
    margin = raw.get("warn_margin", base.warn_margin if base else 0.2)
    if isinstance(margin, bool) or not isinstance(margin, int | float) or not 0 <= margin < 1:
        raise ConfigError(
            f"{where}: warn_margin: expected a fraction from 0 to 1, got {_show(margin)}"
        )
    target = _target(raw["target"], where) if "target" in raw else (base.target if base else None)
    return PanelDef(
        id=pid,
        title=title or pid,
        query=query or "",
        series_query=text("series_query", base.series_query if base else None),
        unit=unit or "",
        target=target,
        warn_margin=float(margin),
        by=by,
        combine=combine or "sum",
        description=text("description", base.description if base else "") or "",
        empty=text("empty", base.empty if base else "") or "",
        recorded=recorded,
    )


def _target(raw: Any, where: str) -> Target | None:
    if raw is None:
        return None
    from agentconsole.control.budgets import LIMIT_NAMES

    shape = (
        "expected {threshold: <number>, direction: below|above} or "
        "{budget: <limit name>, scale: <number>, direction: below|above}"
    )
    if not isinstance(raw, dict) or not (
        set(raw) == {"threshold", "direction"}
        or {"budget", "direction"} <= set(raw) <= {"budget", "scale", "direction"}
    ):
        raise ConfigError(f"{where}: target: {shape}, got {_show(raw)}")
    direction = raw["direction"]
    if direction not in ("below", "above"):
        raise ConfigError(
            f"{where}: target.direction: expected below (value must stay below) or above, "
            f"got {_show(direction)}"
        )
    if "budget" in raw:
        budget, scale = raw["budget"], raw.get("scale", 1)
        if budget not in LIMIT_NAMES:
            raise ConfigError(
                f"{where}: target.budget: expected one of {', '.join(LIMIT_NAMES)}, "
                f"got {_show(budget)}"
            )
        if isinstance(scale, bool) or not isinstance(scale, int | float) or scale <= 0:
            raise ConfigError(
                f"{where}: target.scale: expected a number above 0, got {_show(scale)}"
            )
        return Target(0.0, direction, budget=budget, scale=float(scale))
    threshold = raw["threshold"]
    if isinstance(threshold, bool) or not isinstance(threshold, int | float):
        raise ConfigError(f"{where}: target.threshold: expected a number, got {_show(threshold)}")
    return Target(float(threshold), direction)


def _expand(panel: PanelDef, variables: dict[str, str], cost: dict[str, str] | None) -> PanelDef:
    """Fill ``${var}`` and the cost placeholders; time placeholders stay for query time."""

    def fill(query: str | None) -> str | None:
        if query is None:
            return None
        for _ in range(5):  # variables may use variables
            new = _VAR.sub(lambda m: variables.get(m.group(1), m.group(0)), query)
            if new == query:
                break
            query = new
        missing = _VAR.findall(query)
        if missing:
            raise ConfigError(f"panel {panel.id}: unknown variable ${{{missing[0]}}} in query")
        return query

    query, series = fill(panel.query), fill(panel.series_query)
    recorded = fill(panel.recorded)
    unavailable = None
    if "$cost_" in (query or "") + (series or ""):
        if cost is None:
            unavailable = (
                "cost is computed from tokens × the price table: add `prices:` to the config "
                "(model: {input_per_1k, output_per_1k})"
            )
        else:
            for name, expr in cost.items():
                query = query.replace(name, expr) if query else query
                series = series.replace(name, expr) if series else series
    return replace(
        panel,
        query=query or "",
        series_query=series,
        recorded=recorded,
        unavailable=unavailable,
    )


def _cost_expansions(spec: Any, prices: dict[str, ModelPrice]) -> dict[str, str] | None:
    """``$cost_by_model`` (USD/s per model) from token rates × prices; None without prices."""
    if not spec or not prices:
        return None
    model_label, type_label = spec["model_label"], spec["type_label"]
    terms = []
    for model, price in sorted(prices.items()):
        for type_value, price_field in spec["types"].items():
            per_token = getattr(price, price_field) / 1000.0
            if per_token <= 0:
                continue
            match = f'{type_label}="{_promql_string(str(type_value))}",'
            match += f'{model_label}="{_promql_string(model)}"'
            rate = spec["token_rate"].strip().replace("$match", match)
            terms.append(f"{rate} * {per_token:.10g}")
    if not terms:
        return None
    body = " or ".join(terms)
    by_model = f"sum by ({model_label}) ({body})"
    today = by_model.replace("$interval", "$today")
    return {"$cost_today_by_model": today, "$cost_by_model": by_model}


def _show(value: Any, limit: int = 80) -> str:
    """A config value inside a one-line message: repr (escapes control chars), bounded."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _promql_string(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render(query: str, interval: str, now: float | None = None) -> str:
    """Fill the time placeholders: $interval, $today (a duration), $today_seconds (a number)."""
    now = time.time() if now is None else now
    today = max(60, int(now % 86400))

    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name == "interval":
            return interval
        if name == "today":
            return f"{today}s"
        return str(today)

    return _TIME_VARS.sub(sub, query)


def preset_interval(settings: Settings) -> str:
    return str(load_preset(settings.prometheus.preset).get("interval") or "1m")
