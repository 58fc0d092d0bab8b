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
