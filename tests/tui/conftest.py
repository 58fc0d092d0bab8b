"""Console test helpers: deterministic app options and seeded control-plane data."""

from __future__ import annotations

import json

import pytest

from agentconsole.control.registry import AgentRecord
from tests.agent.conftest import make_runtime  # noqa: F401 (the SDK runtimes fixture)

# A fixed instant in the future: ages shown relative to it are stable across runs, and the
# registry (which compares with the real clock) never considers these agents dead.
T0 = 2_000_000_000.0


def options(**kw):
    from agentconsole.tui.app import AppOptions

    base = dict(
        clock=lambda: T0,
        hostname="console-host",
        version="0.0.0-test",
        metrics=False,
        live_events=True,
        ack_timeout=1.0,
    )
    base.update(kw)
    return AppOptions(**base)


def make_app(settings, **kw):
    from agentconsole.tui.app import ConsoleApp

    return ConsoleApp(settings, options(**kw))


async def seed_agents(plane, records: list[AgentRecord], *, heartbeat_ago: float = 1.0):
    """Register agents, then pin their times to T0 so every view is deterministic."""
    for rec in records:
        rec.started_at = rec.started_at or T0 - 120
    await plane.agents.write_many(records, at=T0 - heartbeat_ago)


# The fleet's agents: what each runs, for whom, what it has spent, started how long before T0.
FLEET_FIELDS = ("id", "task", "user", "tenant", "model", "steps", "tokens_in", "tokens_out", "cost")
FLEET = (
    ("agent-001", "summarise tickets", "u1", "acme", "gpt-4o", 4, 1200, 300, 0.021, 65),
    ("agent-002", "triage inbox", "u2", "acme", "gpt-4o-mini", 12, 5000, 900, 0.004, 300),
    ("agent-003", "refund loop", "u3", "globex", "claude-3-5-sonnet", 77, 61000, 9000, 6.4, 900),
)


def fleet() -> list[AgentRecord]:
    """Fresh records of :data:`FLEET` (a test may change its own)."""
    return [
        AgentRecord(**dict(zip(FLEET_FIELDS, row[:-1], strict=True)), started_at=T0 - row[-1])
        for row in FLEET
    ]


async def pin_flag_times(plane, name: str, changed_at: float = T0 - 600) -> None:
    raw = await plane.redis.hget(plane.keys.flags, name)
    doc = json.loads(raw)
    doc["changed_at"] = changed_at
    await plane.redis.hset(plane.keys.flags, name, json.dumps(doc))


@pytest.fixture
def app_factory(settings):
    def factory(**kw):
        return make_app(settings, **kw)

    return factory


async def wait_until(pilot, condition, timeout: float = 30.0, what: str = "condition"):
    """Let the app run until ``condition()`` holds (no fixed sleeps; the generous bound is for
    a loaded 2-core machine, a passing wait returns as soon as the condition holds)."""
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.02)


async def select_row(pilot, app, view: str, key: str) -> None:
    """Wait until ``view`` has painted the row ``key``, then put the cursor on it."""
    table = app.view(view).table
    await wait_until(pilot, lambda: key in table.painted, what=f"row {key}")
    table.move_cursor(row=table.get_row_index(key))


async def confirm(pilot, reason: str = "", extra: dict | None = None):
    """Fill a ConfirmScreen's reason (and other inputs) and press its Confirm button."""
    from agentconsole.tui.modals import ConfirmScreen

    await wait_until(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen), what="dialog")
    screen = pilot.app.screen
    if reason:
        screen.query_one("#reason").value = reason
    for selector, value in (extra or {}).items():
        screen.query_one(selector).value = value
    await pilot.click("#confirm")
