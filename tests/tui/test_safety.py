"""Read-only and viewer consoles have no dangerous actions; untrusted text stays literal."""

import json
import time

import pytest
from rich.protocol import rich_cast
from rich.text import Text

from agentconsole.control import operations as ops
from agentconsole.control.registry import AgentRecord
from agentconsole.tui.safe import clean
from agentconsole.tui.views.agents import AgentsView
from agentconsole.tui.views.breakers import BreakersView
from agentconsole.tui.views.flags import FlagsView
from tests.tui.conftest import seed_agents, wait_until

SIZE = (140, 40)
VIEWS = {"agents": AgentsView, "flags": FlagsView, "breakers": BreakersView}
# every key that posts an operation, derived from the views' bindings (never listed again)
DANGEROUS_KEYS = {
    view_id: {
        b.key
        for b in cls.BINDINGS
        if b.action.startswith("op(") or b.action in cls.ACTION_OPERATIONS
    }
    for view_id, cls in VIEWS.items()
}


def _palette_titles(app) -> list[str]:
    return [c.title for c in app.get_system_commands(app.screen)]


@pytest.mark.parametrize("mode", ["read_only", "viewer"])
async def test_dangerous_actions_are_absent(mode, settings, plane, app_factory):
    await plane.flags.create("f1", enabled=True)
    await seed_agents(plane, [AgentRecord(id="a1", tenant="acme")])
    if mode == "read_only":
        settings.ui.read_only = True
    else:
        settings.operator.role = "viewer"
    app = app_factory(start_view="agents", clock=time.time)
    async with app.run_test(size=SIZE) as pilot:
        for view_id, keys in DANGEROUS_KEYS.items():
            app.action_show(view_id)
            await app.wait_for_paint(view_id)
            await pilot.pause()
            active = app.screen.active_bindings
            shown = {k for k, b in active.items() if b.enabled}
            assert not (keys & shown), f"{view_id}: {keys & shown} still bound"
            titles = _palette_titles(app)
            verbs = {op.verb for op in ops.OPERATIONS}
            offered = [t for t in titles if any(t.startswith(v) for v in verbs)]
            assert not offered, f"{view_id}: palette offers {offered}"
        # pressing the keys anyway does nothing
        app.action_show("agents")
        await app.wait_for_paint("agents", 2)
        await pilot.press("k", "t", "S")
        await pilot.pause()
        assert app.screen is app.screen_stack[0]
    assert (await plane.kills.list())[0] == {}


async def test_responder_sees_actions_in_footer_and_palette(plane, app_factory, settings):
    settings.operator.role = "responder"
    app = app_factory(start_view="agents", clock=time.time)
    async with app.run_test(size=SIZE) as pilot:
        await app.wait_for_paint("agents")
        await pilot.pause()
        active = app.screen.active_bindings
        assert {"k", "t", "S"} <= {k for k, b in active.items() if b.enabled}
        assert "kill all" in _palette_titles(app)


NASTY = [
    "[bold]x[/bold]",
    "agent [/foo]",
    "[link=http://evil.example]click[/link]",
    "\x1b[31mred\x1b[0m \x1b]0;pwned title\x07 bell\x07",
    "multi\nline\rcarriage",
    "[@click=app.quit]quit[/]",
]


def test_clean_strips_escapes_and_truncates():
    assert clean("\x1b[31mred\x1b[0m") == "red"
    assert clean("\x1b]0;title\x07after") == "after"
    assert clean("a\x00b\nc") == "a?b␤c"
    assert clean("x" * 50, 10) == "x" * 9 + "…"
    assert clean("[bold]x[/bold]") == "[bold]x[/bold]"


async def test_markup_and_ansi_through_every_table_and_toast(plane, plane_as, app_factory):
    """Hostile strings from agents, flags, breakers and the audit reason show literally."""
    records = [
        AgentRecord(id=f"a{i}", task=text, user=text, tenant=f"t{i}", model=text)
        for i, text in enumerate(NASTY)
    ]
    await seed_agents(plane, records, heartbeat_ago=0)
    for i, text in enumerate(NASTY):
        await plane.flags.create(f"flag{i}", description=text, reason=text, owner=text[:40])
    await plane.redis.hset(plane.keys.breaker_state, "dep", json.dumps({"state": "open"}))
    await plane.breakers.trip("dep", reason=NASTY[2])
    bob = plane_as(NASTY[1].replace(" ", "_"), "admin")
    app = app_factory(start_view="agents", clock=time.time)
    async with app.run_test(size=SIZE) as pilot:
        for view_id in ("agents", "flags", "breakers", "audit", "overview"):
            app.action_show(view_id)
            await app.wait_for_paint(view_id, 1)
            await pilot.pause()
            table = app.view(view_id).table
            for key in list(table.painted):
                for value in table.get_row(key):
                    shown = rich_cast(value)  # what DataTable renders for the cell
                    assert isinstance(shown, Text)
                    plain = shown.plain
                    assert "\x1b" not in plain and "\x07" not in plain
                    assert not shown.spans, f"{view_id}: markup was interpreted in {plain!r}"
        agents = app.view("agents").table
        assert agents.get_cell("a0", "task").plain == "[bold]x[/bold]"
        assert agents.get_cell("a1", "task").plain == "agent [/foo]"
        assert agents.get_cell("a3", "task").plain == "red  bell?"
        # a change event and a toast carrying markup from another operator's name
        await bob.flags.enable("flag0", reason=NASTY[0])
        await wait_until(pilot, lambda: any("[/foo]" in t for t in app.toasts), timeout=30)
        app.toast(NASTY[5] + NASTY[3])
        await pilot.pause()
        app.save_screenshot("/tmp/markup.svg")  # renders every toast: would raise on bad markup


async def test_refused_by_redis_acl_is_told_once_then_hidden(plane, settings, app_factory):
    """The role says yes, Redis says no (ACL): one clear line, then the action is gone."""
    from agentconsole.config import Secret

    user = f"console-{settings.redis.prefix}"
    await plane.redis.execute_command(
        "ACL", "SETUSER", user, "on", ">pw", "~*", "&*", "+@all", "-evalsha", "-eval"
    )
    await seed_agents(plane, [AgentRecord(id="a1", tenant="acme")], heartbeat_ago=0)
    settings.redis.username, settings.redis.password = user, Secret("pw")
    try:
        app = app_factory(start_view="agents", clock=time.time)
        async with app.run_test(size=SIZE) as pilot:
            table = app.view("agents").table
            await wait_until(pilot, lambda: "a1" in table.painted)
            await pilot.press("k")
            await wait_until(pilot, lambda: len(app.screen_stack) > 1)
            app.screen.query_one("#reason").value = "test"
            await pilot.click("#confirm")
            await wait_until(pilot, lambda: any("hidden from now on" in t for t in app.toasts))
            assert "not permitted by Redis" in app.toasts[-1]
            await pilot.pause()
            assert "k" not in app.screen.active_bindings
    finally:
        await plane.redis.execute_command("ACL", "DELUSER", user)
    assert (await plane.kills.list())[0] == {}
