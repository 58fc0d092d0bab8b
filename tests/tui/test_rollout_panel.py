"""The Flags view's rollout plan panel and keys, against a real Redis."""

from __future__ import annotations

import json
import time
from functools import partial

from agentconsole.control.rollouts import Plan, Rollouts, parse_guard, parse_steps
from agentconsole.metrics.guards import combine, judge
from tests.tui.conftest import confirm
from tests.tui.conftest import wait_until as _wait_until

wait_until = partial(_wait_until, timeout=30)  # a busy machine may take a few seconds

SIZE = (140, 40)


async def _running_plan(plane, name: str = "planner-v2") -> Plan:
    await plane.flags.create(name)
    plan = Plan(
        steps_bp=parse_steps("10,25,50,100"),
        hold_seconds=600,
        guards=[parse_guard("error_rate:+0.5pt")],
        min_runs=200,
    )
    rollouts = Rollouts(plane)
    await rollouts.create(name, plan, reason="ship it")
    return await rollouts.start(name, reason="go")


async def _judged(plane, name: str, plan: Plan) -> None:
    """What the controller writes after judging: here, the issue's regression numbers."""
    result = judge(plan.guards[0], plan, {"on": 1240, "off": 3710}, {"on": 50.84, "off": 22.26})
    evaluation = combine(name, 300, time.time(), [result])
    doc = {
        "at": time.time(),
        "holder": "vm:1:abc",
        "action": "rollback",
        "message": evaluation.message,
        "evaluation": evaluation.to_doc(),
    }
    await plane.redis.hset(plane.keys.rollout_status, name, json.dumps(doc))


def _panel(app) -> str:
    return str(app.view("flags").query_one("#plan-detail").render())


async def test_panel_shows_step_hold_guards_and_history(plane, app_factory):
    plan = await _running_plan(plane)
    await _judged(plane, "planner-v2", plan)
    app = app_factory(start_view="flags")
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: "planner-v2" in app.view("flags").table.painted)
        await wait_until(pilot, lambda: "plan: " in _panel(app), what="the panel")
        text = _panel(app)
        assert "plan: running  [10%] > 25% > 50% > 100%  hold " in text
        assert "red: back to 0%" in text and " ago: rollback\n" in text
        assert "error_rate:+0.5pt  canary 4.1 % vs control 0.6 %  1,240 vs 3,710 runs  FAIL" in text
        assert all(len(line) <= 80 for line in text.splitlines())
        assert "started at 10% by alice: go" in text


async def test_plan_without_a_controller_says_so(plane, app_factory):
    await _running_plan(plane, "summary-v3")
    app = app_factory(start_view="flags")
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: "plan: " in _panel(app), what="the panel")
        assert "no controller has judged it" in _panel(app)


async def test_pause_and_abort_keys_ask_a_reason_and_run_the_operations(plane, app_factory):
    await _running_plan(plane)
    app = app_factory(start_view="flags")
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: "plan: " in _panel(app), what="the panel")
        await pilot.press("P")
        await confirm(pilot, reason="looks odd")
        await wait_until(pilot, lambda: any("paused at 10%" in t for t in app.toasts))
        assert (await Rollouts(plane).get("planner-v2"))[1].state == "paused"
        await wait_until(pilot, lambda: "plan: paused" in _panel(app), what="the repaint")
        await pilot.press("P")  # paused: P resumes
        await confirm(pilot, reason="fine after all")
        await wait_until(pilot, lambda: "plan: running" in _panel(app), what="the resume")
        await pilot.press("A")
        await confirm(pilot, reason="skip ahead")
        await wait_until(
            pilot, lambda: any("running at 25% (step 2 of 4)" in t for t in app.toasts)
        )
        await wait_until(pilot, lambda: "[25%]" in _panel(app), what="the advance")
        await pilot.press("X")
        await confirm(pilot, reason="not today")
        await wait_until(pilot, lambda: any("aborted at 25%" in t for t in app.toasts))
    flag, plan = await Rollouts(plane).get("planner-v2")
    assert plan.state == "aborted" and flag.rollout_bp == 0
    entries = await plane.audit.tail(4)
    assert [(e.action, e.reason) for e in entries] == [
        ("rollout.pause", "looks odd"),
        ("rollout.resume", "fine after all"),
        ("rollout.advance", "skip ahead"),
        ("rollout.abort", "not today"),
    ]


async def test_a_controller_rollback_toasts_what_happened_and_why(plane, plane_as, app_factory):
    await _running_plan(plane)
    app = app_factory(start_view="overview")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.5)
        controller = Rollouts(plane_as("rollout-controller", "responder"))
        why = (
            "planner-v2 rolled back from 10% to 0%: error rate canary 4.1 % vs control 0.6 %, "
            "1,240 vs 3,710 runs"
        )
        await controller.rollback("planner-v2", reason=why)
        await wait_until(pilot, lambda: any(t.startswith(why) for t in app.toasts), what="toast")


async def test_new_plan_from_the_flags_view_then_start_it(plane, app_factory):
    from agentconsole.tui.modals import ConfirmScreen

    await plane.flags.create("summary-v3")
    app = app_factory(start_view="flags")
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: "summary-v3" in app.view("flags").table.painted)
        await pilot.press("N")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the dialog")
        assert str(app.screen.query_one("#confirm-title").render()).startswith("New rollout plan")
        spec = app.screen.query_one("#line")
        spec.value = "5,50,100 2m error_rate:+2pt on-regression panic"
        await pilot.pause(0.1)
        preview = str(app.screen.query_one("#preview").render())
        assert "on regression must be one of pause, rollback, last-good" in preview
        spec.value = "5,50,100 2m error_rate:+2pt min-runs 80"
        await pilot.pause(0.1)
        preview = str(app.screen.query_one("#preview").render())
        assert "5% > 50% > 100%, hold 2m each; guards error_rate:+2pt; 80 runs a side" in preview
        app.screen.query_one("#reason").value = "ship the summariser"
        await pilot.click("#confirm")
        await wait_until(pilot, lambda: any("created (5% > 50% > 100%" in t for t in app.toasts))
        await wait_until(pilot, lambda: "plan: created" in _panel(app))
        await pilot.press("P")
        await confirm(pilot, reason="go")
        await wait_until(pilot, lambda: any("running at 5% (step 1 of 3)" in t for t in app.toasts))
    flag, plan = await Rollouts(plane).get("summary-v3")
    assert plan.state == "running" and flag.enabled and flag.rollout_bp == 500
    assert plan.min_runs == 80 and plan.hold_seconds == 120
    entries = await plane.audit.tail(2)
    assert [(e.action, e.reason) for e in entries] == [
        ("rollout.create", "ship the summariser"),
        ("rollout.start", "go"),
    ]
