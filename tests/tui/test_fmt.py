"""Numbers from Prometheus can be NaN or ±Inf (a quantile in the +Inf bucket): never a crash."""

import math

import pytest

from agentconsole.metrics.model import PanelDef, PanelResult, Target
from agentconsole.tui import fmt
from agentconsole.tui.views.overview import panel_text

ODD = [float("inf"), float("-inf"), float("nan"), None]


@pytest.mark.parametrize("unit", ["s", "ratio", "usd", "tokens", "count", ""])
@pytest.mark.parametrize("v", ODD)
def test_value_of_odd_numbers(v, unit):
    text = fmt.value(v, unit)
    assert text and "nan" not in text.lower()


def test_sparkline_skips_what_has_no_height():
    assert fmt.sparkline([1.0, *ODD, 3.0]) == "▁█"
    assert fmt.sparkline(ODD) == ""


def test_panel_card_with_an_infinite_value_and_series():
    panel = PanelDef(
        id="p99",
        title="p99 latency",
        query="q",
        series_query="q",
        unit="s",
        target=Target(5.0, "below"),
        warn_margin=0.2,
    )
    result = PanelResult(panel=panel, value=math.inf, status="breach")
    result.series = [(1.0, 1.0), (2.0, math.inf), (3.0, math.nan), (4.0, 2.0)]
    text = panel_text(result, now=10.0).plain
    assert "∞ s" in text


def test_ago_rounds_before_splitting_minutes():
    assert fmt.ago(899.6) == "15m00s"  # was "14m60s" in the breaker's "forced_open for …"
    assert fmt.ago(59.6) == "1m00s"
    assert fmt.ago(3599.7) == "1h00m"


def test_cuts_never_change_a_number():
    # an ellipsis inside 5000 read as "500→500"; the amount of a spend alert was lost
    assert fmt.fit("rollout_bp: 500→5000", 18) == "rollout_bp:…"
    assert fmt.fit("Tenant globex is on course to spend $34567 a day", 40) == (
        "Tenant globex is on course to spend…"
    )
    assert fmt.fit("short", 40) == "short"
    parts = ["enabled: false→true", "rollout_bp: 500→5000", "weights: 1→2"]
    assert fmt.fit_parts(parts, 40) == "enabled: false→true, +2 more"
    assert fmt.fit_parts(parts[1:2], 40) == "rollout_bp: 500→5000"


def test_audit_row_shows_whole_changes():
    from agentconsole.control.audit import AuditEntry
    from agentconsole.tui.views.audit import audit_row

    entry = AuditEntry.__new__(AuditEntry)
    fields = dict(
        id="1-0",
        ts=0.0,
        actor="bob",
        role="admin",
        action="flag.rollout",
        entity="flag",
        target="new-planner",
        reason="canary",
        cp_version=3,
        before={"enabled": False, "rollout_bp": 500, "note": "x" * 30},
        after={"enabled": True, "rollout_bp": 5000, "note": "y" * 30},
    )
    for k, v in fields.items():
        object.__setattr__(entry, k, v)
    change = audit_row(entry).cells[5].text
    assert "500→5000" in change or "more" in change
    assert "500→500…" not in change and not change.endswith("500")


def test_one_counted_thing_reads_in_the_singular():
    assert fmt.value(1.0, "breakers") == "1 breaker"
    assert fmt.value(2.0, "breakers") == "2 breakers"
    assert fmt.value(0.0, "runs") == "0 runs"
    assert fmt.value(1.0, "runs/s") == "1 runs/s"  # a rate keeps its unit
