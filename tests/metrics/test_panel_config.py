"""Panel definitions from presets and config: validation messages, overrides, steps, status."""

from __future__ import annotations

import pytest

from agentconsole.config import ConfigError, ModelPrice, Settings
from agentconsole.metrics.client import QueryFailure, interpret
from agentconsole.metrics.model import Target, status_for
from agentconsole.metrics.panels import build_panels, preset_names, render
from agentconsole.metrics.service import MAX_POINTS, WINDOWS, choose_step, parse_window

SEED = {
    "p99_latency": (5.0, "below"),
    "error_rate": (0.01, "below"),
    "tokens_per_request": (3000.0, "below"),
    "success_rate": (0.95, "above"),
    "cost_per_request": (0.10, "below"),
}
ISSUE_PANELS = {
    "p50_latency",
    "p95_latency",
    "throughput",
    "spend_per_hour",
    "spend_today",
    "active_agents",
    "cost_by_model",
    "error_rate_by_dependency",
}


def panels_for(panels=None, preset="agentconsole", prices=None):
    s = Settings()
    s.prometheus.preset = preset
    s.panels = panels
    s.prices = prices or {}
    return {p.id: p for p in build_panels(s)}


@pytest.mark.parametrize("preset", ["agentconsole", "otel"])
def test_presets_carry_the_seed_targets_and_the_issue_panels(preset) -> None:
    panels = panels_for(preset=preset, prices={"m": ModelPrice(0.001, 0.002)})
    for pid, (threshold, direction) in SEED.items():
        assert panels[pid].target == Target(threshold, direction), pid
    assert set(panels) >= ISSUE_PANELS
    for p in panels.values():
        assert "${" not in p.query and "$cost" not in p.query, p.id
        assert p.unavailable is None


def test_presets_are_listed() -> None:
    assert {"agentconsole", "otel"} <= set(preset_names())


def test_config_panels_replace_extend_and_remove() -> None:
    panels = panels_for(
        [
            {"id": "p99_latency", "target": {"threshold": 2, "direction": "below"}},
            {"id": "queue", "title": "Queue depth", "query": "sum(queue_depth)", "unit": "count"},
            {"id": "spend_today", "remove": True},
        ]
    )
    assert panels["p99_latency"].target == Target(2.0, "below")
    assert "agent_run_duration_seconds_bucket" in panels["p99_latency"].query  # kept
    assert panels["queue"].title == "Queue depth" and panels["queue"].series_query is None
    assert "spend_today" not in panels


@pytest.mark.parametrize(
    ("panel", "message"),
    [
        ({"title": "x", "query": "up"}, "panels[0]: id: expected a short lower-case name"),
        ({"id": "new_one", "title": "x"}, "panels[0] (new_one): query: required"),
        ({"id": "q", "query": "up", "colour": "red"}, "panels[0] (q): colour: unknown panel key"),
        ({"id": "q", "query": "up", "unit": "parsecs"}, "panels[0] (q): unit: expected one of"),
        (
            {"id": "q", "query": "up", "target": {"threshold": 1}},
            "panels[0] (q): target: expected {threshold",
        ),
        (
            {"id": "q", "query": "up", "target": {"threshold": "1", "direction": "below"}},
            "panels[0] (q): target.threshold: expected a number",
        ),
        (
            {"id": "q", "query": "up", "target": {"threshold": 1, "direction": "under"}},
            "panels[0] (q): target.direction: expected below",
        ),
        (
            {"id": "q", "query": "up", "target": {"budget": "daily", "direction": "below"}},
            "panels[0] (q): target.budget: expected one of request_tokens",
        ),
        (
            {
                "id": "q",
                "query": "up",
                "target": {"budget": "fleet_daily_cost_usd", "scale": 0, "direction": "below"},
            },
            "panels[0] (q): target.scale: expected a number above 0",
        ),
        ({"id": "q", "query": "up", "warn_margin": 2}, "panels[0] (q): warn_margin: expected"),
        ({"id": "q", "query": ""}, "panels[0] (q): query: expected a non-empty string"),
        ({"id": "q", "query": "up", "by": "not a label"}, "panels[0] (q): by: expected"),
        ({"id": "nope", "remove": True}, "panels[0]: remove: no panel 'nope'"),
        ({"id": "q", "query": "${nothing}"}, "panel q: unknown variable ${nothing}"),
    ],
)
def test_bad_panel_definitions_name_the_panel_and_the_key(panel, message) -> None:
    with pytest.raises(ConfigError) as err:
        panels_for([panel])
    assert str(err.value).startswith(message), str(err.value)


def test_unknown_preset() -> None:
    with pytest.raises(ConfigError, match=r"prometheus\.preset: unknown preset 'grafana'"):
        panels_for(preset="grafana")


def test_otel_cost_panels_without_prices_say_so() -> None:
    panels = panels_for(preset="otel")
    assert "prices" in panels["cost_per_request"].unavailable
    assert panels["throughput"].unavailable is None


def test_otel_cost_expansion_quotes_model_names() -> None:
    panels = panels_for(preset="otel", prices={'we"ird': ModelPrice(0.001, 0.0)})
    query = panels["spend_per_hour"].query
    assert 'gen_ai_request_model="we\\"ird"' in query
    assert 'gen_ai_token_type="output"' not in query  # free output tokens: no term


@pytest.mark.parametrize("window", list(WINDOWS))
def test_steps_keep_charts_readable_and_under_the_point_limit(window) -> None:
    seconds = parse_window(window)
    step = choose_step(seconds)
    points = seconds / step
    assert 120 <= points <= 300
    assert points + 1 < MAX_POINTS


def test_step_for_odd_windows_stays_under_the_limit() -> None:
    assert 604800 / choose_step(604800) < MAX_POINTS
    assert 60 / choose_step(60) < MAX_POINTS
    with pytest.raises(ValueError, match="window"):
        parse_window("soon")


def test_render_fills_time_placeholders() -> None:
    now = 86400 * 100 + 3600  # 01:00 UTC
    q = render("increase(x[$today]) * $today_seconds + rate(y[$interval])", "2m", now)
    assert q == "increase(x[3600s]) * 3600 + rate(y[2m])"
    assert "[60s]" in render("increase(x[$today])", "2m", 86400 * 100 + 5)  # just after midnight


@pytest.mark.parametrize(
    ("value", "target", "expected"),
    [
        (3.0, Target(5, "below"), "ok"),
        (4.2, Target(5, "below"), "warning"),
        (5.0, Target(5, "below"), "breach"),
        (0.99, Target(0.95, "above"), "ok"),
        (0.96, Target(0.95, "above"), "warning"),
        (0.90, Target(0.95, "above"), "breach"),
        (None, Target(5, "below"), "unknown"),
        (1.0, None, "ok"),
    ],
)
def test_status(value, target, expected) -> None:
    assert status_for(value, target, 0.2 if target and target.direction == "below" else 0.02) == (
        expected
    )


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (400, b'{"status":"error","errorType":"bad_data","error":"parse error"}', "bad_query"),
        (422, b'{"status":"error","errorType":"execution","error":"many-to-many"}', "bad_query"),
        (503, b'{"status":"error","errorType":"timeout","error":"query timed out"}', "timeout"),
        (499, b'{"status":"error","errorType":"canceled","error":"canceled"}', "timeout"),
        (500, b'{"status":"error","errorType":"internal","error":"boom"}', "error"),
        (502, b"<html>Bad Gateway</html>", "error"),
        (404, b"404 page not found", "error"),
    ],
)
def test_envelope_error_kinds(status, body, kind) -> None:
    with pytest.raises(QueryFailure) as err:
        interpret(status, body, "http://prom")
    assert err.value.kind == kind


def test_envelope_success_with_warnings() -> None:
    body = b'{"status":"success","data":{"resultType":"vector","result":[]},"warnings":["w1"]}'
    answer = interpret(200, body, "http://prom")
    assert answer.result == [] and answer.warnings == ["w1"]


def test_shipped_panels_say_what_they_count_in_a_card():
    """Every preset panel has a description that fits its card (34 characters)."""
    for panel in panels_for([]).values():
        assert panel.description, panel.id
        assert len(panel.description) <= 34, (panel.id, panel.description)
        assert len(panel.title) <= 24, (panel.id, panel.title)
        assert panel.unit not in ("count", "usd", "usd/h", "req/s"), panel.id
