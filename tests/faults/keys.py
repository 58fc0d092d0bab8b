"""The operator's keys, pressed under a fault: each must answer (the view changes, the dialog
opens). The wait is generous on purpose: an outcome, never a latency bound (see bench/)."""

from __future__ import annotations

import time

from tests.tui.conftest import wait_until

ANSWER_WITHIN = 30.0  # seconds: "still answers" on a loaded machine, not a latency figure


async def keys_answer(pilot, app) -> dict[str, float]:
    """Views, help and the filter each answer; returns the timings (figures, not asserted)."""
    from agentconsole.tui.help import HelpScreen

    timings: dict[str, float] = {}

    async def step(name: str, keys: list[str], condition) -> None:
        started = time.monotonic()
        await pilot.press(*keys)
        await wait_until(pilot, condition, timeout=ANSWER_WITHIN, what=name)
        timings[name] = time.monotonic() - started

    def table():
        return app.view("agents").table

    await step("2 agents", ["2"], lambda: app.current == "agents")
    await step("3 flags", ["3"], lambda: app.current == "flags")
    await step("? help", ["question_mark"], lambda: isinstance(app.screen, HelpScreen))
    await step("esc help", ["escape"], lambda: not isinstance(app.screen, HelpScreen))
    await step("2 agents again", ["2"], lambda: app.current == "agents")
    await step("/ filter", ["slash", "x", "y"], lambda: table().filter_text == "xy")
    await step("esc filter", ["escape", "escape"], lambda: table().filter_text == "")
    await step("1 overview", ["1"], lambda: app.current == "overview")
    return timings


async def kill_dialog_cancelled(pilot, app) -> None:
    """On the agents view: sort, move, open the kill dialog and cancel it."""
    from agentconsole.tui.modals import ConfirmScreen

    async def step(name: str, keys: list[str], condition) -> None:
        await pilot.press(*keys)
        await wait_until(pilot, condition, timeout=ANSWER_WITHIN, what=name)

    table = app.view("agents").table
    await step("2 agents", ["2"], lambda: app.current == "agents")
    before = (table.sort_column, table.sort_reverse)
    await step("s sort", ["s"], lambda: (table.sort_column, table.sort_reverse) != before)
    row = table.cursor_row
    move = "up" if row == table.row_count - 1 else "down"  # the cursor follows its agent
    await step(move, [move], lambda: table.cursor_row != row)
    await step("k kill dialog", ["k"], lambda: isinstance(app.screen, ConfirmScreen))
    await step("esc cancels", ["escape"], lambda: not isinstance(app.screen, ConfirmScreen))
