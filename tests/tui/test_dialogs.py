"""Dialogs at 80x24 under pressure: toasts arriving while a reason is typed, a 2,000-character
paste into the reason, and the same paste from a terminal without bracketed paste (each
newline an Enter). The dialog stays readable and on screen, closes once, and what it writes
is one change with a cleaned, bounded reason."""

from __future__ import annotations

import time

from textual import events
from textual.widgets._toast import Toast

from agentconsole.control.applier import REASON_MAX
from agentconsole.tui.modals import ConfirmScreen
from tests.fixtures.wait import eventually
from tests.tui.conftest import make_app, wait_until

SMALL = (80, 24)
# 2,000 characters of an incident channel: newlines (both kinds), a tab, an escape sequence
LINE = "openai returns 500s since 02:14 see INC-4411 \x1b[31mred\x1b[0m\tupstream status page"
PASTE = ("\r\n".join([LINE] * 14) + "\n" + "x" * 2000)[:2000]


async def _trip_dialog(app, pilot) -> ConfirmScreen:
    table = app.view("breakers").table
    await wait_until(pilot, lambda: "openai" in table.painted, what="breaker row")
    await pilot.press("t")
    await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="dialog")
    screen = app.screen
    screen.query_one("#reason").focus()
    await wait_until(pilot, lambda: app.focused is screen.query_one("#reason"), what="focus")
    return screen


def _toasts(app) -> list[Toast]:
    return [t for t in app.screen.query(Toast) if t.display and t.region.area]


async def test_toasts_never_cover_the_reason_being_typed_at_80x24(settings, plane, plane_as):
    """Toasts already up when the dialog opens and toasts arriving while it is open (a live
    change by someone else, our own notices) wait: the reason field is never under one; the
    dialog says how many wait, and they all show (the newest, with a count) once it closes."""
    await plane.redis.hset(plane.keys.breaker_state, "openai", '{"state": "closed"}')
    app = make_app(settings, start_view="breakers", clock=time.time)
    async with app.run_test(size=SMALL, notifications=True) as pilot:
        for i in range(3):
            app.toast(f"before the dialog {i}: a long notice that wraps over two lines or more")
        await wait_until(pilot, lambda: len(_toasts(app)) == 3, what="toasts before")
        screen = await _trip_dialog(app, pilot)
        await plane_as("bob", "admin").flags.create("elsewhere", reason="bob's canary")
        for i in range(4):
            app.toast(f"while the dialog is open {i}: another notice that wraps over lines")
        await wait_until(pilot, lambda: "8 notices held" in _held(screen), what="held count")
        await pilot.press(*"provider down")
        reason = screen.query_one("#reason").region
        assert reason.area and reason.bottom <= SMALL[1]
        for toast in _toasts(app):
            assert not toast.region.overlaps(reason), (toast.region, reason)
        assert not _toasts(app)  # none at all while the dialog is up
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, ConfirmScreen), what="closed")
        await wait_until(pilot, lambda: len(_toasts(app)) >= 4, what="released toasts")
        shown = " ".join(str(t.render()) for t in _toasts(app))
        assert "while the dialog is open 3" in shown
        assert "4 earlier notices arrived while a dialog was open" in shown


def _held(screen) -> str:
    return " ".join(str(w.render()) for w in screen.query(".held-note"))


async def test_a_2000_character_paste_into_the_reason_keeps_the_dialog_and_is_cleaned(
    settings, plane
):
    """A bracketed paste (a real terminal's) of 2,000 characters with newlines: the dialog
    stays on screen with its buttons, the reason holds the whole text on one line (line
    breaks as ␤, no escape sequence), and confirming writes that, bounded."""
    await plane.redis.hset(plane.keys.breaker_state, "openai", '{"state": "closed"}')
    app = make_app(settings, start_view="breakers", clock=time.time)
    async with app.run_test(size=SMALL, notifications=True) as pilot:
        screen = await _trip_dialog(app, pilot)
        app.post_message(events.Paste(PASTE))  # as the driver delivers a bracketed paste
        reason = screen.query_one("#reason")
        await wait_until(pilot, lambda: len(reason.value) > 1000, what="pasted text")
        await pilot.pause()
        assert app.screen is screen and screen.query_one("#confirm").region.area
        assert screen.query_one("#confirm").region.bottom <= SMALL[1]
        assert reason.region.area and reason.region.bottom <= SMALL[1]
        value = reason.value
        assert value.isprintable() and "\x1b" not in value and "␤" in value
        assert value.startswith("openai returns 500s since 02:14 see INC-4411 red?upstream")
        await pilot.click("#confirm")

        async def tripped():
            mode = await plane.breakers.get("openai")
            return mode is not None and mode.mode == "forced_open"

        await eventually(tripped)
    (entry,) = [e for e in await plane.audit.tail(5) if e.action == "breaker.trip"]
    assert entry.reason == value.strip() and len(entry.reason) <= REASON_MAX
    assert entry.reason.isprintable() and "\n" not in entry.reason


async def test_a_paste_without_bracketed_paste_closes_the_dialog_once_and_acts_on_nothing_else(
    settings, plane
):
    """A terminal without bracketed paste types the text: each newline is an Enter. The
    first Enter in the reason confirms (that is what Enter means there); the rest of the
    burst neither closes the dialog a second time (it ended the console: "Can't pop screen")
    nor acts on the view beneath it (f would open force close, t another trip)."""
    await plane.redis.hset(plane.keys.breaker_state, "openai", '{"state": "closed"}')
    app = make_app(settings, start_view="breakers", clock=time.time)
    async with app.run_test(size=SMALL, notifications=True) as pilot:
        await _trip_dialog(app, pilot)
        burst = "provider down\nfailover to search\nt f r s\n" * 20
        for ch in burst:  # every key queued before the app handles the first
            key = {"\n": "enter", " ": "space"}.get(ch, ch)
            app.post_message(events.Key(key, "\r" if ch == "\n" else ch))

        async def tripped():
            mode = await plane.breakers.get("openai")
            return mode is not None and mode.mode == "forced_open"

        await eventually(tripped)
        await wait_until(pilot, lambda: not isinstance(app.screen, ConfirmScreen), what="closed")
        await wait_until(pilot, lambda: any("openai" in t for t in app.toasts), what="outcome")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen) and len(app.screen_stack) == 1
        assert app.is_running
        await pilot.press("f")  # typed after the burst: acts as usual
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="next key")
    changes = [e for e in await plane.audit.tail(10) if e.action.startswith("breaker.")]
    assert [e.action for e in changes] == ["breaker.trip"]
    assert changes[0].reason.startswith("provider down")
