"""A read-only console writes nothing: a whole session leaves Redis byte-for-byte unchanged.

The session an operator would have: every view, every key of every view, a runbook opened
from the list and one opened from a firing alert, every key on the runbook screen. Before
and after, every key under the test's prefix is dumped with its value (DUMP is the exact
serialisation: a hash field, a stream entry or a TTL-free value changed anywhere shows).
"""

from __future__ import annotations

import time
from pathlib import Path

from agentconsole.control.registry import AgentRecord
from tests.tui.conftest import make_app, seed_agents, wait_until

ROOT = Path(__file__).resolve().parents[2]
# Keys that do something in most views besides the bound ones (which are read from the
# screen, so a key added later is pressed too). `q` would end the session; it comes last.
EXTRA_KEYS = ("enter", "space", "delete", "home", "end", "up", "down", "k", "t", "S", "e", "o")
# Quitting, view switches (pressed by the caller, one view at a time) and Textual's own
# scrolling and focus moves, which reach no code of ours.
NOT_PRESSED = {
    *"0123456789",
    *("q", "ctrl+q", "ctrl+c", "escape", "super+c", "tab", "shift+tab", "left", "right"),
    *("pageup", "pagedown", "ctrl+pageup", "ctrl+pagedown", "ctrl+home", "ctrl+end"),
}
VIEWS = ("1", "2", "3", "4", "5", "6", "7")


async def keyspace(plane) -> dict[bytes, tuple[bytes, bytes | None]]:
    """Every key of this prefix with its type and exact serialised value."""
    raw = plane.redis
    out: dict[bytes, tuple[bytes, bytes | None]] = {}
    async for key in raw.scan_iter(match=f"{plane.keys.tag}*".replace("{", "[{]"), count=500):
        name = key if isinstance(key, bytes) else key.encode()
        out[name] = (str(await raw.type(key)).encode(), await raw.execute_command("DUMP", key))
    return out


async def back_to_the_view(app, pilot) -> None:
    """Close whatever a key opened (dialog, help, command line, runbook) with Escape."""
    for _ in range(4):
        if len(app.screen_stack) == 1 and not app.query_one("#cmdbar").has_class("active"):
            return
        await pilot.press("escape")
        await pilot.pause()


async def press_everything(app, pilot) -> None:
    bound = set(app.screen.active_bindings) - NOT_PRESSED
    for key in sorted(bound) + list(EXTRA_KEYS):
        await pilot.press(key)
        await pilot.pause()
        await back_to_the_view(app, pilot)


async def test_a_whole_read_only_session_writes_nothing(settings, plane, prometheus):
    from agentconsole.tui.runbook_view import RunbookScreen

    await plane.flags.create("new-planner", enabled=True)
    await plane.breakers.trip("search", for_seconds=900, reason="seed")
    await seed_agents(
        plane,
        [
            AgentRecord(id="a1", tenant="acme", steps=3),
            AgentRecord(id="a2", tenant="globex", steps=90),
        ],
    )
    await plane.kills.kill(agent="a2", reason="seed")
    before = await keyspace(plane)
    audit_before = await plane.audit.tail(1000)
    assert before, "the seed wrote nothing?"

    settings.ui.read_only = True
    settings.runbooks_dir = str(ROOT / "runbooks")
    settings.prometheus.url = prometheus.url
    app = make_app(settings, start_view="overview", clock=time.time, metrics=True)
    async with app.run_test(size=(160, 45)) as pilot:
        for view in VIEWS:
            await pilot.press(view)
            await wait_until(pilot, lambda: app.paint_counts.get(app.current, 0) >= 1)
            await press_everything(app, pilot)

        # A runbook from the list, then one from a firing alert: both only read.
        await pilot.press("6")
        table = app.view("runbooks").table
        await wait_until(pilot, lambda: "provider-outage" in table.painted)
        table.move_cursor(row=table.get_row_index("provider-outage"))
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, RunbookScreen))
        screen = app.screen
        await wait_until(pilot, lambda: screen.session is not None)
        for key in ("n", "n", "n", "a", "d", "s", "enter", "r", "p"):
            await pilot.press(key)
            await pilot.pause()
            assert app.screen is screen or len(app.screen_stack) == 1, "a dialog opened"
        await back_to_the_view(app, pilot)

        await pilot.press("1")
        overview = app.view("overview")
        await wait_until(
            pilot,
            lambda: any(a.runbook for a in overview.alerts.values()),
            timeout=30,
            what="an alert with a runbook",
        )
        key = next(k for k, a in overview.alerts.items() if a.runbook)
        overview.table.move_cursor(row=overview.table.get_row_index(key))
        await pilot.press("b")
        await wait_until(pilot, lambda: isinstance(app.screen, RunbookScreen))
        screen = app.screen
        await wait_until(pilot, lambda: screen.session is not None)
        for key in ("n", "a", "d", "s", "n", "n", "a", "enter", "d"):
            await pilot.press(key)
            await pilot.pause()
        await back_to_the_view(app, pilot)
        await pilot.press("q")

    assert await plane.audit.tail(1000) == audit_before
    after = await keyspace(plane)
    assert sorted(after) == sorted(before), "keys appeared or disappeared"
    changed = [k for k in before if before[k] != after[k]]
    assert not changed, f"read-only session changed {changed}"
