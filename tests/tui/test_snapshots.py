"""Snapshots of each view with fixed data, a fixed clock, host and version.

Sync tests (the snapshot plugin runs the app itself); the data goes into the test's own
Redis prefix first, with every timestamp pinned to ``T0`` so the SVGs are stable.
Update after an intended change: ``pytest tests/tui/test_snapshots.py --snapshot-update``.
"""

import asyncio
import json

import pytest

from agentconsole.control import ControlPlane
from tests.tui.conftest import T0, fleet, make_app, pin_flag_times, seed_agents

SIZE = (130, 32)

RUNBOOK = """---
id: {id}
title: {title}
alerts: [{alert}]
severity: warning
owner: oncall
version: 1
---

Intro.

## Meaning

Text.
"""


async def _seed(settings) -> None:
    plane = ControlPlane.from_settings(settings)
    try:
        await plane.check_schema()
        await seed_agents(plane, fleet())
        await plane.flags.create("checkout-v2", enabled=True, rollout=25, owner="payments")
        await plane.flags.create("llm-calls", type="kill-switch", enabled=False, owner="platform")
        for name in ("checkout-v2", "llm-calls"):
            await pin_flag_times(plane, name)
        state = {"state": "open", "failure_rate": 0.42, "slow_rate": 0.05, "calls": 1200}
        await plane.redis.hset(
            plane.keys.breaker_state, "openai", json.dumps(state | {"rejected": 77})
        )
        await plane.redis.hset(plane.keys.breaker_state, "search", json.dumps({"calls": 800}))
        await plane.breakers.force_close("search", reason="known flaky")
        doc = json.loads(await plane.redis.hget(plane.keys.breakers, "search"))
        doc["changed_at"] = T0 - 300
        await plane.redis.hset(plane.keys.breakers, "search", json.dumps(doc))
    finally:
        await plane.close()


async def _seed_audit(settings) -> None:
    plane = ControlPlane.from_settings(settings)
    try:
        rows = [
            ("alice", "flag.enable", "flag", "checkout-v2", {"enabled": False}, {"enabled": True}),
            ("bob", "breaker.trip", "breaker", "openai", {"mode": "auto"}, {"mode": "forced_open"}),
            ("carol", "kill.tenant", "kill", "tenant:acme", None, {"target": "tenant:acme"}),
        ]
        for i, (actor, action, entity, target, before, after) in enumerate(rows):
            await plane.redis.xadd(
                plane.keys.audit,
                {
                    "ts": T0 - 600 + i * 60,
                    "actor": actor,
                    "role": "responder",
                    "action": action,
                    "entity": entity,
                    "target": target,
                    "before": json.dumps(before) if before else "",
                    "after": json.dumps(after),
                    "reason": f"incident 42 step {i + 1}",
                    "cp_version": i + 1,
                },
                id=f"{int((T0 - 600 + i * 60) * 1000)}-0",
            )
    finally:
        await plane.close()


@pytest.fixture
def seeded(settings, tmp_path, monkeypatch):
    asyncio.run(_seed(settings))
    monkeypatch.chdir(tmp_path)  # the runbooks view names its directory: keep it stable
    (tmp_path / "runbooks").mkdir()
    for rid, title, alert in [
        ("provider-outage", "A model provider is down", "DependencyBreakerOpen"),
        ("runaway-agent", "An agent is running away", "AgentRunaway"),
    ]:
        text = RUNBOOK.format(id=rid, title=title, alert=alert)
        (tmp_path / "runbooks" / f"{rid}.md").write_text(text)
    settings.runbooks_dir = "runbooks"
    settings.ui.refresh_seconds = 600
    return settings


def _shot(snap_compare, settings, view: str, press=(), size=SIZE):
    app = make_app(settings, start_view=view, live_events=False)

    async def ready(pilot):
        await app.wait_for_paint(view)
        await pilot.pause()

    return snap_compare(app, press=press, terminal_size=size, run_before=ready)


@pytest.mark.parametrize("view", ["overview", "agents", "flags", "breakers", "runbooks"])
def test_view_snapshot(view, seeded, snap_compare):
    assert _shot(snap_compare, seeded, view)


def test_audit_snapshot(settings, snap_compare):
    asyncio.run(_seed_audit(settings))
    settings.ui.refresh_seconds = 600
    assert _shot(snap_compare, settings, "audit")


def test_kill_confirmation_snapshot(seeded, snap_compare):
    assert _shot(snap_compare, seeded, "agents", press=["space", "space", "k"])


def test_read_only_agents_snapshot(seeded, snap_compare):
    seeded.ui.read_only = True
    seeded.environment.name, seeded.environment.color = "production", "red"
    assert _shot(snap_compare, seeded, "agents")


@pytest.mark.parametrize("size", [(80, 24), (160, 45)])
def test_overview_at_the_tested_sizes(size, seeded, snap_compare):
    """80x24: one header line each for identity and health, no wrap; 160x45: the footer.
    The audit stream's times are the seed's real ones: emptied, so the SVG is stable."""

    async def no_audit() -> None:
        plane = ControlPlane.from_settings(seeded)
        try:
            await plane.redis.delete(plane.keys.audit)
        finally:
            await plane.close()

    asyncio.run(no_audit())
    assert _shot(snap_compare, seeded, "overview", size=size)
