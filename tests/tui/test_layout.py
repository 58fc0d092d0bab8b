"""80x24 is a layout the console is tested at: health, alerts and the panels that matter
stay readable (a real Prometheus with known traffic: some panels breach, alerts fire)."""

from __future__ import annotations

import time

from tests.tui.conftest import make_app, wait_until


async def test_80x24_keeps_health_alerts_and_panel_values_readable(settings, prometheus):
    settings.prometheus.url = prometheus.url
    app = make_app(settings, start_view="overview", clock=time.time, metrics=True)
    async with app.run_test(size=(80, 24)) as pilot:
        overview = app.view("overview")
        await wait_until(pilot, lambda: overview.has_class("compact"), what="compact layout")
        await wait_until(
            pilot, lambda: len(overview.table.painted) >= 2, 30, what="alerts on screen"
        )

        def header() -> list[str]:
            return str(app.query_one("#header").render()).splitlines()

        await wait_until(pilot, lambda: "Redis ● ok" in header()[1], 30, what="Redis ok")
        assert "[Overview]" in header()[0] and "Prometheus ● ok" in header()[1]
        shown = [c for c in overview.query(".panel") if c.display and c.region.height]
        assert 1 <= len(shown) <= 4
        breached = [c for c in shown if "● breach" in str(c.render())]
        assert breached, "the panels in trouble are the ones shown"
        for card in shown:
            title, value = str(card.render()).splitlines()[:2]
            assert "…" not in title and "…" not in value, (title, value)
        table = overview.table
        assert table.region.height >= 4 and table.region.width >= 38  # rows, not a sliver
