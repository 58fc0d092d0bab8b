"""The console shows a control-plane reset in red, and drops it once an operator decided."""

from __future__ import annotations

import time

from agentconsole.control import backup
from agentconsole.control.epoch import SCHEMA_MISSING, Holding
from tests.tui.conftest import make_app, wait_until


async def test_reset_banner_until_restore(settings, plane):
    settings.ui.refresh_seconds = 0.2
    since = time.time() - 5
    report = Holding("agent:host-1:42", "0123456789abcdef", 17, 20, since, SCHEMA_MISSING, since)
    # what a holding agent writes (agent/snapshot.py Keeper); the wipe took the schema
    await plane.redis.hset(plane.keys.reset_holders, report.process, report.dump())
    await plane.redis.delete(plane.keys.schema, plane.keys.epoch)
    app = make_app(settings, start_view="agents", clock=time.time)
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_until(pilot, lambda: app.reset_banner is not None, what="the banner")
        header = str(app.query_one("#header").render())
        clock = time.strftime("%H:%M:%S", time.gmtime(since))
        assert (
            f"control plane reset at {clock} (schema key missing; 20 agents holding their "
            "last snapshot)" in header
        )
        await backup.accept(plane, reason="start over")
        await wait_until(pilot, lambda: app.reset_banner is None, what="the banner to go")
        assert "control plane reset" not in str(app.query_one("#header").render())
