"""Rollout plans: the model, its grammar, and each operation as one audited apply."""

from __future__ import annotations

import pytest

from agentconsole.control import Conflict, InvalidValue, NotFound, PermissionDenied
from agentconsole.control.rollouts import (
    Guard,
    Plan,
    Rollouts,
    manual_change,
    parse_guard,
    parse_steps,
    plan_from_spec,
    plan_to_spec,
)


def test_guard_grammar_reads_points_percent_and_absolute():
    assert parse_guard("error_rate:+0.5pt") == Guard("error_rate", 0.005)
    assert parse_guard("p99:+20%") == Guard("p99_latency", 0.2, relative=True)
    assert parse_guard("success_rate:-1pt") == Guard("success_rate", 0.01)
    assert parse_guard("cost_per_run:0.02") == Guard("cost_per_run", 0.02)
    shown = ("error_rate:+0.5pt", "p99_latency:+20%", "success_rate:-1pt", "tokens_per_run:+300")
    for text in shown:
        assert parse_guard(text).text() == text


@pytest.mark.parametrize(
    "text, why",
    [
        ("latency:+1", "metrics:"),
        ("error_rate:-1pt", "worse error rate is an increase"),
        ("success_rate:+1pt", "decrease"),
        ("p99:+2pt", r"points \(pt\) are for rates"),
        ("error_rate:0.5", "say pt"),
        ("", "expected METRIC:LIMIT"),
    ],
)
def test_guard_grammar_refuses_with_the_reason(text, why):
    with pytest.raises(InvalidValue, match=why):
        parse_guard(text)


def test_steps_rise_to_100_percent():
    assert parse_steps("1,5,25,50,100") == [100, 500, 2500, 5000, 10000]
    assert parse_steps("0.5, 100") == [50, 10000]
    for bad, why in (("5,1,100", "rise strictly"), ("1,5,50", "last step"), ("0,100", "above 0")):
        with pytest.raises(InvalidValue, match=why):
            parse_steps(bad)


def test_yaml_form_round_trips():
    spec = {
        "flag": "planner-v2",
        "steps": "1,5,25,50,100",
        "hold": "10m",
        "window": "5m",
        "guards": ["error_rate:+0.5pt", "p99:+20%"],
        "on_regression": "last_good",
        "min_runs": 300,
    }
    name, plan = plan_from_spec(spec)
    assert name == "planner-v2" and plan.hold_seconds == 600 and plan.window_seconds == 300
    assert plan.on_regression == "last_good" and plan.min_runs == 300
    assert plan_to_spec("planner-v2", plan)["hold"] == "10m"
    _name, again = plan_from_spec(plan_to_spec("planner-v2", plan))
    assert again.to_doc() == plan.to_doc()
    with pytest.raises(InvalidValue, match="unknown plan keys: hodl"):
        plan_from_spec({"hodl": "10m"}, "f")
    with pytest.raises(InvalidValue, match="at least one guard"):
        plan_from_spec({"steps": "1,100"}, "f")
    with pytest.raises(InvalidValue, match="hold: expected a duration"):
        plan_from_spec({"hold": "soon", "guards": "p99:+20%"}, "f")


def _plan(**kw) -> Plan:
    return Plan(
        steps_bp=[100, 2500, 10000],
        hold_seconds=60,
        guards=[Guard("error_rate", 0.005)],
        **kw,
    )


async def test_plan_steps_through_its_life_one_audit_entry_each(plane):
    await plane.flags.create("planner-v2", enabled=False, rollout=100)
    rollouts = Rollouts(plane)
    plan = await rollouts.create("planner-v2", _plan(), reason="ship v2")
    assert plan.state == "created" and plan.step == -1
    flag = await plane.flags.get("planner-v2")
    assert flag.enabled is False and flag.labels_variants  # the SDK labels from now on

    plan = await rollouts.start("planner-v2", reason="go")
    flag = await plane.flags.get("planner-v2")
    assert (plan.state, plan.step, flag.enabled, flag.rollout_bp) == ("running", 0, True, 100)

    plan = await rollouts.advance("planner-v2", reason="hold passed", evidence={"ok": 1})
    flag = await plane.flags.get("planner-v2")
    assert (plan.step, plan.last_good, flag.rollout_bp) == (1, 0, 2500)
    assert plan.evidence == {"ok": 1}

    plan = await rollouts.pause("planner-v2", reason="look first")
    assert plan.state == "paused" and (await plane.flags.get("planner-v2")).rollout_bp == 2500
    plan = await rollouts.resume("planner-v2", reason="fine")
    assert plan.state == "running"

    plan = await rollouts.advance("planner-v2", reason="last")
    flag = await plane.flags.get("planner-v2")
    assert plan.state == "completed" and flag.rollout_bp == 10000
    assert not flag.labels_variants  # a finished plan adds no series

    entries = await plane.audit.tail(20)
    actions = [e.action for e in entries if e.target == "planner-v2"]
    assert actions == [
        "flag.create",
        "rollout.create",
        "rollout.start",
        "rollout.advance",
        "rollout.pause",
        "rollout.resume",
        "rollout.advance",
    ]
    advance = next(e for e in entries if e.action == "rollout.advance")
    assert advance.before["rollout_bp"] == 100 and advance.after["rollout_bp"] == 2500
    assert advance.after["plan"]["evidence"] == {"ok": 1}
    assert [h["event"] for h in plan.history] == [
        "created",
        "started",
        "advanced",
        "paused",
        "resumed",
        "completed",
    ]


async def test_rollback_to_zero_or_to_the_last_good_step(plane):
    rollouts = Rollouts(plane)
    for name in ("a", "b"):
        await plane.flags.create(name)
        await rollouts.create(name, _plan())
        await rollouts.start(name)
        await rollouts.advance(name)
    plan = await rollouts.rollback("a", reason="red", evidence={"guard": "error_rate"})
    assert plan.state == "rolled_back" and (await plane.flags.get("a")).rollout_bp == 0
    plan = await rollouts.rollback("b", reason="red", to_last_good=True)
    assert plan.state == "paused" and plan.step == 0
    assert (await plane.flags.get("b")).rollout_bp == 100
    with pytest.raises(InvalidValue, match="rolled_back"):
        await rollouts.advance("a")
    # a finished plan can be replaced by a new one, an active one cannot
    await rollouts.create("a", _plan())
    with pytest.raises(InvalidValue, match="already has an active plan"):
        await rollouts.create("b", _plan())
    plan = await rollouts.abort("b", reason="enough")
    assert plan.state == "aborted" and (await plane.flags.get("b")).rollout_bp == 0


async def test_operator_change_keeps_the_plan_and_is_seen_as_manual(plane):
    rollouts = Rollouts(plane)
    await plane.flags.create("f")
    await rollouts.create("f", _plan())
    await rollouts.start("f")
    flag, plan = await rollouts.get("f")
    assert manual_change(flag, plan) is None
    await plane.flags.update("f", description="changed text only")
    flag, plan = await rollouts.get("f")
    assert manual_change(flag, plan) is None and plan.state == "running"
    await plane.flags.set_rollout("f", 30, reason="by hand")
    flag, plan = await rollouts.get("f")
    assert "set the rollout to 30% by hand" in manual_change(flag, plan)
    await plane.flags.disable("f")
    flag, plan = await rollouts.get("f")
    assert "turned the flag off" in manual_change(flag, plan)


async def test_a_stale_decision_loses_to_a_newer_change(plane):
    """The controller acts with the version it evaluated: a change in between wins."""
    rollouts = Rollouts(plane)
    await plane.flags.create("f")
    await rollouts.create("f", _plan())
    await rollouts.start("f")
    seen = (await plane.flags.get("f")).version
    await plane.flags.set_rollout("f", 50, reason="operator")
    with pytest.raises(Conflict):
        await rollouts.advance("f", expected_version=seen)
    assert (await plane.flags.get("f")).rollout_bp == 5000


async def test_plan_operations_need_their_role_and_a_plan(plane, plane_as):
    await plane.flags.create("f")
    viewer = Rollouts(plane_as("val", "viewer"))
    with pytest.raises(PermissionDenied, match=r"rollout\.create needs the responder role"):
        await viewer.create("f", _plan())
    with pytest.raises(NotFound, match="no rollout plan"):
        await Rollouts(plane).start("f")
    with pytest.raises(InvalidValue, match="kill switch"):
        await plane.flags.create("stop", type="kill-switch")
        await Rollouts(plane).create("stop", _plan())


async def test_plan_operations_are_rows_of_the_operations_table(plane):
    """The same rows serve the console's : line, runbook actions and `agentconsole do`."""
    from agentconsole.control import operations as ops

    await plane.flags.create("planner-v2")
    call = ops.parse_line(
        "rollout create planner-v2 1,5,25,50,100 10m error_rate:+0.5pt p99:+20% "
        "min-runs 300 on-regression last-good"
    )
    call.reason = "ship v2"
    outcome = await call.op.run(plane, call)
    assert outcome.text.startswith("plan of planner-v2: created (1% > 5% > 25% > 50% > 100%;")
    assert outcome.data["min_runs"] == 300 and outcome.data["on_regression"] == "last_good"
    for line, text in (
        ("rollout start planner-v2", "running at 1% (step 1 of 5), hold "),
        ("rollout pause planner-v2", "paused at 1%"),
        ("rollout resume planner-v2", "running at 1%"),
        ("rollout advance planner-v2", "running at 5% (step 2 of 5)"),
        ("rollout abort planner-v2", "aborted at 5%, flag back to 0%"),
    ):
        call = ops.parse_line(line)
        assert text in (await call.op.run(plane, call)).text, line
    entries = [e for e in await plane.audit.tail(20) if e.action.startswith("rollout.")]
    assert [e.action for e in entries] == [
        "rollout.create",
        "rollout.start",
        "rollout.pause",
        "rollout.resume",
        "rollout.advance",
        "rollout.abort",
    ]
    assert ops.get("rollout.advance").destructive and ops.get("rollout.abort").destructive
    with pytest.raises(InvalidValue, match="min runs must be a whole number"):
        ops.parse_line("rollout create f 1,100 10m p99:+20% min-runs lots")
    with pytest.raises(InvalidValue, match="on regression must be one of pause, rollback"):
        ops.parse_line("rollout create f 1,100 10m p99:+20% on-regression panic")
