"""The console in applier mode: a change nobody applies is one clear toast, and the console
keeps working; with an applier running, the same key applies it."""

from __future__ import annotations

import asyncio
import copy
import time

from agentconsole.control import ControlPlane, Operator
from agentconsole.control.applier import Applier
from agentconsole.tui.modals import ConfirmScreen
from tests.tui.conftest import make_app, wait_until


async def _confirm(pilot, reason: str) -> None:
    await wait_until(pilot, lambda: bool(pilot.app.screen.query("#reason")), what="dialog")
    pilot.app.screen.query_one("#reason").focus()
    await pilot.press(*reason, "enter")
    await wait_until(pilot, lambda: not isinstance(pilot.app.screen, ConfirmScreen))


async def test_no_applier_is_one_toast_then_a_started_applier_applies(settings, plane):
    settings.ui.refresh_seconds = 0.2
    settings.control.writes = "applier"
    settings.control.applier_timeout_seconds = 0.5
    settings.operator.name = "alice"
    app = make_app(settings, start_view="agents", clock=time.time)
    async with app.run_test(size=(140, 40)) as pilot:
        app.run_command_line("kill tenant acme")
        await _confirm(pilot, "runaway")
        said = lambda: [t for t in app.toasts if "no applier answered" in t]  # noqa: E731
        await wait_until(pilot, lambda: bool(said()), what=f"the toast (have {app.toasts})")
        assert "is `agentconsole applier` running, with alice in its control.operators" in said()[0]
        assert app.redis_health.ok  # Redis answered: only the applier is missing
        await wait_until(pilot, lambda: app.no_applier is not None, what="the header line")
        assert "✖ no applier running" in str(app.query_one("#header").render())
        assert "tenant:acme" not in (await plane.kills.list())[0]

        own = copy.deepcopy(settings)  # the applier's own config: direct, with the people
        own.control.writes, own.control.operators = "direct", {"alice": "admin"}
        applier = Applier(ControlPlane.from_settings(own, Operator("applier", "admin")), "t")
        task = asyncio.create_task(applier.run(block_ms=200))
        try:
            app.run_command_line("kill tenant acme")
            await _confirm(pilot, "runaway again")
            await wait_until(pilot, lambda: "tenant:acme" in app.view("agents").kills, timeout=30)
            await wait_until(pilot, lambda: app.no_applier is None, what="the line to go")
        finally:
            applier.stop()
            await asyncio.wait_for(task, 10)
            await applier.plane.close()
    entries = [e for e in await plane.audit.tail(20) if e.target == "tenant:acme"]
    assert [(e.actor, e.action) for e in entries] == [("alice", "kill.tenant")]
