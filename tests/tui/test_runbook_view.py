"""Pilot test of the runbook screen in a minimal app of its own, on a real Redis:
open from a firing alert, step through, run an action behind the confirmation, see it
in the audit log; a second console on the same Redis sees the progress (handoff)."""

from textual.app import App
from textual.widgets import Static

from agentconsole.runbook.parser import parse
from agentconsole.tui.modals import ConfirmScreen
from agentconsole.tui.runbook_view import NoteScreen, RunbookScreen
from tests.runbook.helpers import GOOD

ALERT = {
    "name": "DependencyBreakerOpen",
    "state": "firing",
    "labels": {"alertname": "DependencyBreakerOpen", "dependency": "openai", "severity": "warning"},
    "annotations": {"summary": "breaker [bold]openai[/bold] open", "runbook": "demo"},
}


class RunbookApp(App):
    def __init__(self, screen: RunbookScreen) -> None:
        super().__init__()
        self.runbook_screen = screen

    def on_mount(self) -> None:
        self.push_screen(self.runbook_screen)


def make_screen(plane, alert=ALERT) -> RunbookScreen:
    runbook, problems = parse(GOOD, "demo.md")
    assert not problems
    return RunbookScreen(runbook, alert, plane=plane, metrics=None, rules={}, poll=0.2)


def text_of(screen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


async def settle(app, pilot) -> None:
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()


async def test_work_a_runbook_from_a_firing_alert(plane_as):
    plane = plane_as("alice", "responder")
    screen = make_screen(plane)
    app = RunbookApp(screen)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        assert app.screen is screen
        assert "DependencyBreakerOpen{dependency=openai, severity=warning}" in text_of(
            screen, "#rb-title"
        )
        # a fresh alert opens at its first step with an action: the mitigation
        assert "Step 3/4: Mitigation" in str(screen.query(".rb-step-title").first().render())
        await pilot.press("p", "p")
        await settle(app, pilot)
        assert "Step 1/4: Meaning" in str(screen.query(".rb-step-title").first().render())
        await pilot.press("d")  # Meaning done → moves on to Diagnosis
        await settle(app, pilot)
        assert screen.index == 2
        assert "Prometheus not configured" in text_of(screen, ".rb-queries")
        await pilot.press("s")  # skip asks for a note
        await settle(app, pilot)
        assert isinstance(app.screen, NoteScreen)
        await pilot.press(*"no prometheus", "enter")
        await settle(app, pilot)
        await pilot.press("n")
        await settle(app, pilot)
        assert screen.index == 3
        await pilot.press("a")
        await settle(app, pilot)
        assert isinstance(app.screen, ConfirmScreen)
        assert text_of(app.screen, "#confirm-title") == "breaker trip openai for 15m"
        await pilot.click("#confirm")
        await settle(app, pilot)
        assert app.screen is screen
        assert "done: breaker openai is now forced_open" in text_of(screen, "#rb-status")

        # The second action names a flag that does not exist: refused by the plane, shown.
        await pilot.press("down", "a")
        await settle(app, pilot)
        await pilot.click("#confirm")
        await settle(app, pilot)
        assert "no flag named 'new-planner'" in text_of(screen, "#rb-status")

        # A cancelled confirmation changes nothing.
        await pilot.press("up", "a")
        await settle(app, pilot)
        await pilot.press("escape")
        await settle(app, pilot)
        assert "cancelled" in text_of(screen, "#rb-status")

    entries = await plane.audit.tail(20)
    trips = [e for e in entries if e.action == "breaker.trip"]
    assert len(trips) == 1
    assert trips[0].actor == "alice" and trips[0].target == "openai"
    assert trips[0].reason == "runbook demo step 3: breaker trip openai for 15m"
    assert [e.action for e in entries if e.entity == "incident"] == [
        "runbook.step",  # opened
        "runbook.step",  # step 1 done
        "runbook.step",  # step 2 skipped
        "runbook.action",  # trip recorded
        "runbook.action",  # failed flag action recorded
    ]

    # Handoff: a second console on the same Redis opens the same incident where alice left.
    bob = make_screen(plane_as("bob", "responder"))
    app2 = RunbookApp(bob)
    async with app2.run_test(size=(120, 40)) as pilot:
        await settle(app2, pilot)
        assert bob.index == 3
        assert "started" in text_of(bob, "#rb-incident") and "by alice" in text_of(
            bob, "#rb-incident"
        )
        steps = text_of(bob, "#rb-steps")
        assert "1.✓ Meaning" in steps and "2.⤼ Diagnosis" in steps
        await pilot.press("p")
        await settle(app2, pilot)
        assert "Skipped by alice" in text_of(bob, "#rb-mark")
        assert "no prometheus" in text_of(bob, "#rb-mark")


async def test_viewer_cannot_act_and_markup_is_data(plane_as):
    alert = dict(ALERT, labels={**ALERT["labels"], "dependency": "[red]x[/red]\nkill all"})
    screen = make_screen(plane_as("vic", "viewer"), alert)
    app = RunbookApp(screen)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        assert "[red]x[/red]\\nkill all" in text_of(screen, "#rb-title")
        assert not screen.check_action("done", ())
        assert screen.index == 3  # opened at the mitigation
        assert "✗ breaker trip {{ labels.dependency }} for 15m" in str(
            screen.query(".rb-actions").first().get_option_at_index(0).prompt
        )
        await pilot.press("a")
        await settle(app, pilot)
        assert app.screen is screen  # no confirmation for a viewer


async def test_opened_by_id_through_the_console_backend(settings, plane):
    """How the console opens it: a runbook id, the alert, the settings and its Backend
    (Redis on the backend's own I/O loop)."""
    from pathlib import Path

    from agentconsole.tui.backend import Backend

    root = Path(__file__).resolve().parents[2]
    settings.runbooks_dir = str(root / "runbooks")
    settings.prometheus.url = "http://127.0.0.1:9"  # nothing listens: queries fail, one line
    settings.operator.role = "responder"
    backend = Backend(settings, timeout=5.0)
    backend.start()
    try:
        alert = dict(ALERT, annotations={"runbook": "provider-outage"})
        screen = RunbookScreen("provider-outage", alert, settings=settings, backend=backend)
        app = RunbookApp(screen)
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(app, pilot)
            assert "Runbook provider-outage" in text_of(screen, "#rb-title")
            assert "no incident yet" in text_of(screen, "#rb-incident")  # opening reads
            assert screen.step.title == "Mitigation"  # a fresh alert opens at its action
            await pilot.press("p")
            await settle(app, pilot)
            assert screen.step.title == "Diagnosis"
            assert "unreachable" in text_of(screen, ".rb-queries")
            await pilot.press("n")
            await settle(app, pilot)
            await pilot.press("a")
            await settle(app, pilot)
            await pilot.click("#confirm")
            await settle(app, pilot)
            assert "done: breaker openai is now forced_open" in text_of(screen, "#rb-status")
            assert "by alice · 1 action(s)" in text_of(screen, "#rb-incident")
    finally:
        backend.stop()
    mode = await plane.breakers.get("openai")
    assert mode is not None and mode.mode == "forced_open"


async def test_runbook_found_by_front_matter_when_the_alert_names_none(settings, plane):
    from pathlib import Path

    settings.runbooks_dir = str(Path(__file__).resolve().parents[2] / "runbooks")
    alert = {"name": "AgentRunaway", "labels": {"severity": "warning"}, "annotations": {}}
    screen = RunbookScreen(None, alert, settings=settings, plane=plane)
    assert screen.runbook is not None and screen.runbook.id == "runaway-agent"
    missing = RunbookScreen("nope", None, settings=settings, plane=plane)
    app = RunbookApp(missing)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        assert text_of(missing, "#rb-status").startswith("no runbook 'nope' in ")


async def test_from_a_real_firing_alert_with_live_numbers(settings, plane, prometheus):
    """The full path: a firing alert from a real Prometheus opens its runbook (by its
    ``runbook`` annotation); live numbers in Diagnosis; Verify says it still holds."""
    import asyncio
    import time
    from pathlib import Path

    from agentconsole.metrics.service import MetricsService

    settings.prometheus.url = prometheus.url
    settings.runbooks_dir = str(Path(__file__).resolve().parents[2] / "runbooks")
    metrics = MetricsService(settings, plane)
    try:
        deadline = time.monotonic() + 15
        alert = None
        while alert is None and time.monotonic() < deadline:
            found = [a for a in (await metrics.alerts()).alerts if a.state == "firing"]
            alert = next((a for a in found if a.name == "DependencyBreakerOpen"), None)
            if alert is None:
                await asyncio.sleep(0.2)
        assert alert is not None, "DependencyBreakerOpen did not fire"
        screen = RunbookScreen(
            alert.runbook, alert, settings=settings, plane=plane, metrics=metrics
        )
        app = RunbookApp(screen)
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(app, pilot)
            assert screen.runbook.id == "provider-outage"
            await pilot.press("p")  # from the mitigation back to Diagnosis
            await settle(app, pilot)
            numbers = text_of(screen, ".rb-queries")
            assert 'dependency="llm"' in numbers and "→ " in numbers
            assert "not configured" not in numbers and "unreachable" not in numbers
            last = len(screen.runbook.steps)
            for _ in range(last - screen.index):
                await pilot.press("n")
            await settle(app, pilot)
            assert screen.step.title == "Verify"
            assert (
                text_of(screen, "#rb-verify") == "✗ still firing: the alert condition still holds"
            )
            await pilot.press("p", "p")  # Mitigation: trip the breaker of this alert
            await settle(app, pilot)
            await pilot.press("a")
            await settle(app, pilot)
            assert text_of(app.screen, "#confirm-title") == "breaker trip llm for 15m"
            await pilot.click("#confirm")
            await settle(app, pilot)
        (entry,) = [e for e in await plane.audit.tail(10) if e.action == "breaker.trip"]
        assert entry.target == "llm" and entry.reason.startswith("runbook provider-outage step")
    finally:
        await metrics.close()
