"""Runbooks are reachable from the runbooks view and from any alert with a runbook."""

import time
from pathlib import Path

from tests.tui.conftest import make_app, select_row, wait_until

ROOT = Path(__file__).resolve().parents[2]


async def _open_from_the_runbooks_view(pilot, app, runbook: str = "provider-outage") -> None:
    from agentconsole.tui.runbook_view import RunbookScreen

    await select_row(pilot, app, "runbooks", runbook)
    await pilot.press("enter")
    await wait_until(pilot, lambda: isinstance(app.screen, RunbookScreen))


async def test_runbooks_view_opens_a_runbook_and_view_keys_come_back(settings):
    from agentconsole.tui.runbook_view import RunbookScreen

    settings.runbooks_dir = str(ROOT / "runbooks")
    app = make_app(settings, start_view="runbooks", clock=time.time)
    async with app.run_test(size=(140, 40)) as pilot:
        await _open_from_the_runbooks_view(pilot, app)
        assert app.screen.runbook.id == "provider-outage"
        # the header stays: environment badge, operator, the connections' health
        header = str(app.screen.query_one("#rb-header").render())
        assert "LOCAL" in header and "[Runbook]" in header and "Redis" in header
        await pilot.press("2")
        await wait_until(pilot, lambda: not isinstance(app.screen, RunbookScreen))
        assert app.current == "agents"


async def test_the_current_views_key_from_a_runbook_resumes_refreshing(settings):
    """Regression: `6` from a runbook opened in the runbooks view left refresh paused."""
    from agentconsole.tui.runbook_view import RunbookScreen

    settings.runbooks_dir = str(ROOT / "runbooks")
    settings.ui.refresh_seconds = 0.2
    app = make_app(settings, start_view="runbooks", clock=time.time)
    async with app.run_test(size=(140, 40)) as pilot:
        await _open_from_the_runbooks_view(pilot, app)
        await pilot.press("6")
        await wait_until(pilot, lambda: not isinstance(app.screen, RunbookScreen))
        painted = app.paint_counts.get("runbooks", 0)
        await wait_until(
            pilot, lambda: app.paint_counts.get("runbooks", 0) >= painted + 2, what="refreshes"
        )


async def test_alert_opens_its_runbook(settings, prometheus):
    from agentconsole.tui.runbook_view import RunbookScreen

    settings.prometheus.url = prometheus.url
    settings.runbooks_dir = str(ROOT / "runbooks")
    app = make_app(settings, start_view="overview", clock=time.time, metrics=True)
    async with app.run_test(size=(160, 50)) as pilot:
        overview = app.view("overview")
        await wait_until(
            pilot,
            lambda: any(a.runbook for a in overview.alerts.values()),
            timeout=15,
            what="an alert with a runbook",
        )
        key, alert = next((k, a) for k, a in overview.alerts.items() if a.runbook)
        overview.table.move_cursor(row=overview.table.get_row_index(key))
        await pilot.press("b")
        await wait_until(pilot, lambda: isinstance(app.screen, RunbookScreen))
        assert app.screen.runbook is not None and app.screen.runbook.id == alert.runbook
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, RunbookScreen))
        assert app.current == "overview"  # Esc returns where the operator came from


async def test_help_on_a_runbook_lists_its_keys_first(settings):
    from agentconsole.tui.help import HelpScreen

    settings.runbooks_dir = str(ROOT / "runbooks")
    app = make_app(settings, start_view="runbooks", clock=time.time)
    async with app.run_test(size=(140, 40)) as pilot:
        await _open_from_the_runbooks_view(pilot, app)
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen))
        groups = app.screen.groups
        assert groups[0].title == "Runbook (here)" and ("n", "Next") in groups[0].rows
        assert groups[1].title == "Runbooks"  # the view underneath, not "(here)"
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
