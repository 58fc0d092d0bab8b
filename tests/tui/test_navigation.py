"""k9s-style movement: `:` commands, `/` filter, `?` help, esc back, keymap, refresh control."""

import time

from agentconsole.tui.help import HelpScreen
from agentconsole.tui.modals import ConfirmScreen
from tests.tui.conftest import fleet, seed_agents, wait_until

SIZE = (140, 40)


async def test_command_mode_aliases_and_back(plane, app_factory):
    app = app_factory(start_view="overview", clock=time.time)
    async with app.run_test(size=SIZE) as pilot:
        await app.wait_for_paint("overview")
        await pilot.press("colon", *"fl", "enter")
        assert app.current == "flags"
        await pilot.press("colon", *"po", "enter")  # k9s habit: pods -> agents
        assert app.current == "agents"
        await pilot.press("4")
        assert app.current == "breakers"
        await pilot.press("escape")
        assert app.current == "agents"
        await pilot.press("escape", "escape")
        assert app.current == "overview"
        await pilot.press("colon", *"nonsense", "enter")
        assert "unknown command: nonsense (? for help)" in app.toasts[-1]
        await pilot.press("colon", *"refresh 7", "enter")
        assert app.interval == 7.0
        assert "refresh 7s" in str(app.query_one("#header").render())


async def test_filter_regex_invert_and_sort(plane, app_factory):
    await seed_agents(plane, fleet())
    app = app_factory(start_view="agents")
    async with app.run_test(size=SIZE) as pilot:
        table = app.view("agents").table
        await wait_until(pilot, lambda: len(table.painted) == 3)
        await pilot.press("slash", *"acme", "enter")
        assert set(table.painted) == {"agent-001", "agent-002"}
        await pilot.press("slash", "ctrl+a", "ctrl+k", *"!acme", "enter")
        assert set(table.painted) == {"agent-003"}
        assert "1 match /!acme" in str(app.query_one("#agents-summary").render())
        await pilot.press("escape")
        assert len(table.painted) == 3
        # sort by the cursor's column; the same key again flips the order
        table.move_cursor(column=table.get_column_index("steps"))
        await pilot.press("s")
        order = [table.get_row_at(i)[1].plain for i in range(3)]
        assert order == ["agent-003", "agent-002", "agent-001"]
        await pilot.press("s")
        assert table.get_row_at(0)[1].plain == "agent-001"
        # the cursor stays on its agent across refreshes
        table.move_cursor(row=table.get_row_index("agent-002"))
        await pilot.press("ctrl+r")
        await app.wait_for_paint("agents", app.paint_counts["agents"] + 1)
        assert table.cursor_key == "agent-002"


def _help(app) -> dict[str, dict[str, str]]:
    return {g.title: dict(g.rows) for g in app.screen.groups}


async def test_help_lists_this_apps_keys_by_view(app_factory):
    """`?` lists the keys of this app, grouped by where they work (the current view first),
    derived from the bindings: none of Textual's own (ctrl+q, super+c, ...)."""
    app = app_factory(start_view="agents")
    async with app.run_test(size=SIZE) as pilot:
        await app.wait_for_paint("agents")
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        groups = _help(app)
        titles = list(groups)
        assert titles[:3] == ["Agents (here)", "Everywhere", "Tables (every view)"]
        assert set(titles[3:]) == {"Overview", "Flags", "Breakers", "Audit", "Runbooks", "Spend"}
        here = groups["Agents (here)"]
        # a key of an operation says what the operations table says it does
        assert here["k"] == "Kill: stop agents at their next step (asks first)"
        assert here["c"] == "Copy id"
        everywhere = groups["Everywhere"]
        assert everywhere["?"] == "Help" and everywhere[":"] == "Command"
        assert everywhere["^r"] == "Refresh" and everywhere["p"] == "Pause"  # not in the footer
        assert groups["Breakers"]["t"].startswith("Trip: force a breaker open")
        assert groups["Tables (every view)"]["home"]
        assert groups["Spend"]["c"] == "Cap now" and groups["Spend"]["t"].startswith("Stop tenant")
        text = app.screen.text().plain
        for foreign in ("super+c", "^q", "ctrl+q", "ctrl+c", "Quit the app", "Copy selected"):
            assert foreign not in text
        assert "kill agent AGENT_ID" in text and "breaker trip DEPENDENCY" in text  # the table
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_the_palettes_keys_command_is_this_apps_help(app_factory):
    app = app_factory(start_view="agents")
    async with app.run_test(size=SIZE) as pilot:
        await app.wait_for_paint("agents")
        keys = [c for c in app.get_system_commands(app.screen) if c.title == "Keys"]
        assert len(keys) == 1 and keys[0].callback == app.action_help
        keys[0].callback()
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen))


async def test_help_leaves_out_what_read_only_removes(settings, app_factory):
    settings.ui.read_only = True
    app = app_factory(start_view="breakers")
    async with app.run_test(size=SIZE) as pilot:
        await app.wait_for_paint("breakers")
        await pilot.press("question_mark")
        groups = _help(app)
        assert "Breakers (here)" in groups and "t" not in groups["Breakers (here)"]
        assert "k" not in groups["Agents"] and groups["Agents"]["s"] == "Sort"
        assert "kill agent" not in app.screen.text().plain


async def test_keymap_from_settings_remaps_bindings(plane, app_factory, settings):
    await seed_agents(plane, fleet())
    settings.ui.keymap = {"agents.kill": "x", "view.flags": "f3"}
    app = app_factory(start_view="agents", clock=time.time)
    async with app.run_test(size=SIZE) as pilot:
        await app.wait_for_paint("agents")
        await pilot.pause()
        bound = app.screen.active_bindings
        assert bound["x"].binding.action == "op('kill.agent')" and "k" not in bound
        await pilot.press("x")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("escape")
        await pilot.press("f3")
        assert app.current == "flags"
        await pilot.press("question_mark")  # help shows the keys as remapped
        groups = _help(app)
        assert groups["Agents"]["x"].startswith("Kill: ") and "k" not in groups["Agents"]
        assert groups["Everywhere"]["f3"] == "Flags"


async def test_refresh_interval_pause_and_manual_refresh(app_factory):
    app = app_factory(start_view="audit")
    async with app.run_test(size=SIZE) as pilot:
        await app.wait_for_paint("audit")
        await pilot.press("plus")
        assert app.interval == 1.0
        await pilot.press("minus", "minus")
        assert app.interval == 5.0
        await pilot.press("p")
        assert app.paused and "refresh PAUSED" in str(app.query_one("#header").render())
        before = app.paint_counts["audit"]
        await pilot.press("ctrl+r")
        await app.wait_for_paint("audit", before + 1)
        await pilot.press("p")
        assert not app.paused


async def test_refresh_pauses_while_a_dialog_is_open(plane, plane_as, app_factory, settings):
    await seed_agents(plane, fleet(), heartbeat_ago=0)
    settings.ui.refresh_seconds = 0.2
    app = app_factory(start_view="agents", clock=time.time)
    async with app.run_test(size=SIZE) as pilot:
        await app.wait_for_paint("agents", 2)
        await pilot.press("k")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        frozen = app.paint_counts["agents"]
        await plane_as("bob", "admin").flags.create("noise")  # an event arrives meanwhile
        await pilot.pause(0.8)
        assert app.paint_counts["agents"] == frozen
        await pilot.press("escape")
        await app.wait_for_paint("agents", frozen + 1)


async def test_palette_runs_a_view_action(plane, app_factory):
    await seed_agents(plane, fleet(), heartbeat_ago=0)
    app = app_factory(start_view="agents", clock=time.time)
    async with app.run_test(size=SIZE) as pilot:
        await app.wait_for_paint("agents")
        await pilot.press("ctrl+p")
        await pilot.press(*"kill all")
        from textual.command import CommandList

        def listed() -> bool:
            found = app.screen.query(CommandList)
            return bool(found) and found.first().option_count > 0

        await wait_until(pilot, listed, what="palette results")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "GLOBAL STOP" in str(app.screen.query_one("#confirm-title").render())
        await pilot.press("escape")
    assert (await plane.kills.list())[0] == {}
