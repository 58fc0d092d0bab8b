"""Runbook actions against a real Redis: same control-plane functions as the CLI, role
checked there, audited atomically, before/after taken from the audit entry."""

import pytest

from agentconsole.control.errors import PermissionDenied
from agentconsole.runbook.actions import ActionError, execute, parse_line, render
from agentconsole.runbook.template import Values

VALUES = Values("DependencyBreakerOpen", "critical", "firing", {"dependency": "openai"}, {})


def rendered(line: str, values: Values = VALUES):
    return render(parse_line(line), values)


async def test_breaker_trip_is_audited_with_before_and_after(plane):
    result = await execute(
        rendered("breaker trip {{ labels.dependency }} for 15m"),
        plane,
        reason="runbook provider-outage step 4: breaker trip openai for 15m",
    )
    assert result.message.startswith("breaker openai is now forced_open until ")
    assert result.before is None
    assert result.after["mode"] == "forced_open"
    mode = await plane.breakers.get("openai")
    assert mode.mode == "forced_open" and mode.until is not None
    (entry,) = await plane.audit.tail(1)
    assert (entry.actor, entry.action, entry.target) == ("alice", "breaker.trip", "openai")
    assert entry.reason == "runbook provider-outage step 4: breaker trip openai for 15m"

    result = await execute(rendered("breaker reset openai"), plane, reason="r")
    assert result.before["mode"] == "forced_open" and result.after["mode"] == "auto"


async def test_flag_budget_and_kill_actions(plane):
    await plane.flags.create("new-planner", enabled=True)
    result = await execute(rendered("flag disable new-planner"), plane, reason="r")
    assert (result.before["enabled"], result.after["enabled"]) == (True, False)
    result = await execute(rendered("flag rollout new-planner 25"), plane, reason="r")
    assert result.after["rollout_bp"] == 2500

    result = await execute(rendered("budget set user-daily-tokens 20000"), plane, reason="r")
    assert (await plane.budgets.get()).user_daily_tokens == 20000
    assert result.after["user_daily_tokens"] == 20000

    values = Values("AgentDailySpendHigh", labels={"tenant": "acme"})
    first = await execute(rendered("kill tenant {{ labels.tenant }}", values), plane, reason="r")
    assert first.message.startswith("kill of tenant acme in force; no running agent matched")
    kills, _ = await plane.kills.list()
    assert "tenant:acme" in kills
    again = await execute(rendered("kill tenant acme"), plane, reason="r")
    assert "already in force" in again.message  # idempotent: nothing applied twice
    assert again.audit == []
    lifted = await execute(rendered("kill lift tenant acme"), plane, reason="r")
    assert lifted.before["target"] == "tenant:acme" and lifted.after is None
    assert "tenant:acme" not in (await plane.kills.list())[0]


async def test_role_is_checked_by_the_control_plane(plane_as):
    viewer = plane_as("vic", "viewer")
    with pytest.raises(PermissionDenied, match=r"breaker\.trip needs the responder role"):
        await execute(rendered("breaker trip openai"), viewer, reason="r")
    responder = plane_as("rita", "responder")
    with pytest.raises(PermissionDenied, match=r"budget\.set needs the admin role"):
        await execute(rendered("budget set request-tokens 100"), responder, reason="r")
    assert await responder.audit.tail(5) == []


async def test_silence_needs_alertmanager(plane):
    with pytest.raises(ActionError, match="needs an alert and Alertmanager"):
        await execute(rendered("silence create for 1h"), plane, reason="r")


async def test_unknown_flag_fails_cleanly(plane):
    from agentconsole.control.errors import NotFound

    with pytest.raises(NotFound, match="no flag named 'ghost'"):
        await execute(rendered("flag disable ghost"), plane, reason="r")
