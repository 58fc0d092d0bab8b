"""The footer shows what matters at the current width, and never a key cut in half."""

import pytest

from agentconsole.tui.footer import ConsoleFooter
from tests.tui.conftest import make_app, wait_until


def _footer(app) -> tuple[str, int]:
    footer = app.screen.query_one(ConsoleFooter)
    text = " ".join(str(w.render()).strip() for w in footer.children)
    right = max((w.region.right for w in footer.children), default=0)
    return " ".join(text.split()), right


@pytest.mark.parametrize(
    "view,keys",
    [
        ("overview", ["w Window", "b Runbook", "k Kill runaway"]),
        # the ladder, one label per verb of the operations table (each key in full where
        # there is room: see the widths test below)
        ("agents", ["d/D Drain", "z/Z Pause", "k/t/S Kill", "u/r/l Lift"]),
        ("flags", ["e Toggle", "o Rollout %"]),
        ("breakers", ["t Trip", "f Force close", "r Reset"]),
    ],
)
async def test_at_80_columns_the_views_keys_help_and_quit_fit(settings, view, keys):
    app = make_app(settings, start_view=view)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.wait_for_paint(view)
        await pilot.pause()
        text, right = _footer(app)
        assert right <= 80, text  # nothing cut: every key ends inside the screen
        for key in [*keys, "? Help", "q Quit"]:
            assert key in text, (key, text)
        assert "1 Overview" not in text  # the six views take one label, or wait in `?`


async def test_wide_it_shows_every_view_and_narrowing_recomposes(settings):
    app = make_app(settings, start_view="overview")
    async with app.run_test(size=(160, 45)) as pilot:
        await app.wait_for_paint("overview")
        await pilot.pause()
        text, right = _footer(app)
        assert "1 Overview" in text and "6 Runbooks" in text and "/ Filter" in text
        assert "^p palette" in text and right <= 160
        await pilot.resize_terminal(80, 24)
        await wait_until(pilot, lambda: "1-6 views" in _footer(app)[0], what="narrow footer")
        assert _footer(app)[1] <= 80


@pytest.mark.parametrize("width", [100, 130])
async def test_every_view_fits_at_the_other_tested_widths(settings, width):
    """100x30 and 130 columns too: help and quit always there, nothing past the edge."""
    from agentconsole.tui.app import VIEW_CLASSES

    for cls in VIEW_CLASSES:
        app = make_app(settings, start_view=cls.view_id)
        async with app.run_test(size=(width, 30)) as pilot:
            await app.wait_for_paint(cls.view_id)
            await pilot.pause()
            text, right = _footer(app)
            assert right <= width and "? Help" in text and "q Quit" in text, (cls.title, text)


LADDER = ("d", "D", "z", "Z", "k", "t", "S", "u", "r", "l")


def _keys_shown(text: str) -> set[str]:
    """Every key the footer names, alone ("d Drain tenant") or in a label ("d/D Drain")."""
    return {key for word in text.split() for key in word.split("/")}


@pytest.mark.parametrize("size", [(80, 24), (100, 30), (130, 32), (160, 45)])
async def test_the_agents_ladder_is_in_the_footer_at_every_tested_width(settings, size):
    """Drain, pause, kill and their lifts: every key shown (in full or under its verb's
    label), nothing past the edge, help and quit there."""
    app = make_app(settings, start_view="agents")
    async with app.run_test(size=size) as pilot:
        await app.wait_for_paint("agents")
        await pilot.pause()
        text, right = _footer(app)
        assert right <= size[0], text
        assert set(LADDER) <= _keys_shown(text), text
        assert "? Help" in text and "q Quit" in text, text


async def test_each_ladder_key_is_shown_in_full_where_there_is_room(settings):
    """Every key first (folded under its verb, the operations table's), then in full while
    there is room: at 160 columns `:` and `/` stay beside the ladder, the drain and pause
    keys say what they do; at 200 every key does; narrowing to 80 folds them again."""
    app = make_app(settings, start_view="agents")
    async with app.run_test(size=(160, 45)) as pilot:
        await app.wait_for_paint("agents")
        await pilot.pause()
        text, right = _footer(app)
        for key in ["d Drain tenant", "D Drain agent", "Z Pause tenant", ": Command", "/ Filter"]:
            assert key in text, (key, text)
        assert right <= 160, text
        await pilot.resize_terminal(200, 45)
        await wait_until(pilot, lambda: "S Global stop" in _footer(app)[0], what="wide footer")
        assert "t Kill tenant" in _footer(app)[0]
        await pilot.resize_terminal(80, 24)
        await wait_until(pilot, lambda: "d/D Drain" in _footer(app)[0], what="narrow footer")
        await pilot.resize_terminal(160, 45)
        await wait_until(pilot, lambda: "d Drain tenant" in _footer(app)[0], what="wide footer")


async def test_read_only_leaves_the_ladder_out_of_the_footer(settings):
    """Absent, not merely refused: no drain, pause, kill or lift key in read-only mode."""
    settings.ui.read_only = True
    app = make_app(settings, start_view="agents")
    async with app.run_test(size=(160, 45)) as pilot:
        await app.wait_for_paint("agents")
        await pilot.pause()
        text, _ = _footer(app)
        assert not set(LADDER) & _keys_shown(text), text
        assert "Drain" not in text and "Pause" not in text and "Kill" not in text, text
