"""Four-eyes: an operation named in `approvals:` needs a second operator."""

from __future__ import annotations

import pytest

from agentconsole.control import approvals, operations
from agentconsole.control.errors import InvalidValue, PermissionDenied


@pytest.fixture
def four_eyes(settings):
    settings.approvals.operations = ["kill.all", "budget.set"]
    settings.approvals.expiry_seconds = 600
    return settings


def _call(line: str, **options):
    call = operations.parse_line(line)
    for key, value in options.items():
        setattr(call, key, value)
    return call


async def _actions(plane) -> list[str]:
    return [e.action for e in await plane.audit.tail(50)]


async def test_request_then_approve_by_another_operator_runs_it(four_eyes, plane_as):
    alice, bob = plane_as("alice", "responder"), plane_as("bob", "responder")
    await alice.check_schema()
    call = _call("kill all", reason="runaway fleet", wait=0)
    held = await call.op.run(alice, call)
    assert held.warning and not held.data["applied"] and "needs a second operator" in held.text
    assert not (await alice.kills.list())[0]  # nothing applied yet
    [request] = await approvals.pending(bob)
    assert request.requested_by == "alice" and request.line == "kill all"
    assert request.ask().startswith("alice asks: kill all (runaway fleet)")

    with pytest.raises(PermissionDenied, match="different operator"):
        await approvals.approve(alice, request.id)  # self-approval refused
    outcome = await approvals.approve(bob, request.id, reason="confirmed")
    assert "approved alice's request" in outcome.text
    assert "all" in (await bob.kills.list())[0]
    assert not await approvals.pending(bob)
    with pytest.raises(InvalidValue, match="already approved"):
        await approvals.approve(bob, request.id)
    actions = await _actions(bob)
    assert actions.count("approval.request") == 1 and actions.count("approval.approve") == 1
    assert actions.count("kill.all") == 1
    entries = [e for e in await bob.audit.tail(50) if e.action == "kill.all"]
    assert entries[0].actor == "bob" and request.id in entries[0].reason


async def test_the_approver_needs_the_role_the_operation_needs(four_eyes, plane_as):
    alice, carol = plane_as("alice", "admin"), plane_as("carol", "responder")
    await alice.check_schema()
    call = _call("budget set run_max_steps 500", reason="long job")
    assert not (await call.op.run(alice, call)).data["applied"]
    [request] = await approvals.pending(carol)
    with pytest.raises(PermissionDenied, match="may not approve"):
        await approvals.approve(carol, request.id)  # budget.set is admin's
    rejected = await approvals.reject(carol, request.id, reason="no")
    assert rejected.status == "rejected" and rejected.decided_by == "carol"
    assert (await alice.budgets.get()).run_max_steps != 500


async def test_an_expired_request_cannot_be_approved(four_eyes, plane_as):
    four_eyes.approvals.expiry_seconds = 0.0
    alice, bob = plane_as("alice", "responder"), plane_as("bob", "responder")
    await alice.check_schema()
    call = _call("kill all", reason="x", wait=0)
    held = await call.op.run(alice, call)
    request_id = held.data["approval"]["id"]
    assert not await approvals.pending(bob)  # expired at once
    with pytest.raises(InvalidValue, match="expired"):
        await approvals.approve(bob, request_id)
    assert not (await bob.kills.list())[0]


async def test_emergency_override_is_loud_and_audited(four_eyes, plane_as):
    alice = plane_as("alice", "responder")
    await alice.check_schema()
    call = _call("kill all", reason="no time", wait=0, override=True)
    outcome = await call.op.run(alice, call)
    assert outcome.warning and outcome.text.startswith("EMERGENCY OVERRIDE")
    assert "all" in (await alice.kills.list())[0]
    actions = await _actions(alice)
    assert actions.index("approval.override") < actions.index("kill.all")


async def test_operations_not_named_run_at_once(four_eyes, plane_as):
    alice = plane_as("alice", "responder")
    await alice.check_schema()
    call = _call("kill tenant acme", reason="x", wait=0)
    outcome = await call.op.run(alice, call)
    assert "approval" not in outcome.data
    assert "tenant:acme" in (await alice.kills.list())[0]


async def test_environments_limit_the_policy(four_eyes, plane_as):
    four_eyes.approvals.environments = ["production"]
    four_eyes.environment.name = "staging"
    alice = plane_as("alice", "responder")
    await alice.check_schema()
    call = _call("kill all", reason="x", wait=0)
    outcome = await call.op.run(alice, call)
    assert "approval" not in outcome.data and "all" in (await alice.kills.list())[0]


async def test_approve_and_reject_are_rows_of_the_operations_table(four_eyes, plane_as):
    """So the console's : line, the palette, runbooks and `do` decide as the CLI does."""
    alice, bob = plane_as("alice", "responder"), plane_as("bob", "responder")
    await alice.check_schema()
    for _ in range(2):
        call = _call("kill all", reason="x", wait=0)
        await call.op.run(alice, call)
    first, second = await approvals.pending(bob)
    done = _call(f"approve {first.id}", reason="ok")
    assert "approved alice's request" in (await done.op.run(bob, done)).text
    no = _call(f"approval reject {second.id}", reason="one is enough")
    assert "rejected alice's request" in (await no.op.run(bob, no)).text
    assert not await approvals.pending(bob)
