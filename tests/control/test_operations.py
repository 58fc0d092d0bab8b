"""The operations table: its rows are consistent, its grammar is the one grammar, and a
run says what really happened."""

import pytest

from agentconsole.control import operations as ops
from agentconsole.control.errors import InvalidValue, PermissionDenied
from agentconsole.control.registry import AgentRecord
from agentconsole.control.roles import REQUIRED_ROLE, Operator


def test_every_row_has_a_role_a_unique_verb_and_alias():
    assert len({op.name for op in ops.OPERATIONS}) == len(ops.OPERATIONS)
    aliases = [a for op in ops.OPERATIONS for a in op.aliases]
    assert len(set(aliases)) == len(aliases)
    for op in ops.OPERATIONS:
        assert op.permission in REQUIRED_ROLE
        assert ops.get(op.name) is op and ops.get(op.verb) is op
        assert op.usage.startswith(op.verb)


@pytest.mark.parametrize(
    ("line", "name", "args"),
    [
        ("kill sim-0001", "kill.agent", {"agent": ["sim-0001"]}),
        ("kill agent a b", "kill.agent", {"agent": ["a", "b"]}),
        ('kill tenant "Acme Corp"', "kill.tenant", {"tenant": "Acme Corp"}),
        ("kill tenant müller-gmbh", "kill.tenant", {"tenant": "müller-gmbh"}),
        ("kill all", "kill.all", {}),
        ("lift tenant a.b", "kill.lift", {"scope": "tenant", "name": "a.b"}),
        ("kill lift all", "kill.lift", {"scope": "all"}),
        ("trip openai 15m", "breaker.trip", {"dependency": "openai", "for": 900}),
        ("breaker trip openai for 1d", "breaker.trip", {"dependency": "openai", "for": 86400}),
        ("breaker force-close openai", "breaker.force_close", {"dependency": "openai"}),
        ("reset openai", "breaker.reset", {"dependency": "openai"}),
        ("rollout planner-v2 5", "flag.rollout", {"flag": "planner-v2", "percent": 500}),
        ("budget set user-daily-tokens 100", "budget.set", {"limit": "user_daily_tokens"}),
    ],
)
def test_command_lines(line, name, args):
    call = ops.parse_line(line)
    assert call.op.name == name
    assert args.items() <= call.args.items()
    again = ops.parse_line(call.line)  # the one spelling reads back as the same call
    assert (again.op, again.args) == (call.op, call.args)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("trip openai 99999999999999d", "at most 366d"),
        ("trip openai for ever", "expected a duration"),
        ("rollout f -0", "percentage"),
        ("rollout f 1e309", "percentage"),
        ("rollout f nan", "percentage"),
        ("kill tenant", "needs TENANT"),
        ("lift tenant", "needs a NAME"),
        ("lift all x", "takes no name"),
        ("explode everything", "unknown operation"),
        ('kill tenant "unclosed', "cannot read"),
    ],
)
def test_bad_command_lines_are_refused_before_anything_runs(line, message):
    with pytest.raises(InvalidValue, match=message):
        ops.parse_line(line)


def test_read_only_and_roles_remove_operations():
    viewer, responder = Operator("v", "viewer"), Operator("r", "responder")
    assert ops.available_ops(viewer) == []
    assert ops.available_ops(Operator("a", "admin"), read_only=True) == []
    names = {op.name for op in ops.available_ops(responder)}
    assert "kill.tenant" in names and "budget.set" not in names
    denied = {op.name for op in ops.available_ops(responder, denied={"kill.all"})}
    assert "kill.all" not in denied


def test_offers_fill_subjects_from_a_row():
    row = {"agent": "sim-1", "tenant": "Acme Corp"}
    assert ops.offers(ops.get("kill.agent"), row) == {"agent": ["sim-1"]}
    assert ops.offers(ops.get("kill.tenant"), row) == {"tenant": "Acme Corp"}
    assert ops.offers(ops.get("breaker.trip"), row) is None
    assert ops.offers(ops.get("kill.all"), row) == {}


async def test_a_tenant_with_a_space_is_killed_and_audited_once(plane):
    await plane.agents.register(AgentRecord(id="a1", tenant="Acme Corp", status="running"))
    call = ops.parse_line('kill tenant "Acme Corp"')
    call.reason, call.wait = "incident", 0.1
    preview = await call.op.preview(plane, call)
    assert preview.confirm and preview.targets == ["a1"]
    outcome = await call.op.run(plane, call)
    assert outcome.text.startswith("killed 1 agent, 0 acknowledged; not acknowledged: a1")
    assert outcome.warning and outcome.data["target"] == "tenant:Acme Corp"
    entries = await plane.audit.tail(10)
    assert [(e.action, e.target) for e in entries] == [("kill.tenant", "tenant:Acme Corp")]
    lift = ops.parse_line('lift tenant "Acme Corp"')
    outcome = await lift.op.run(plane, lift)
    assert outcome.text == "kill of tenant Acme Corp lifted: new agents of that scope may run"


async def test_role_is_checked_before_running(plane_as):
    viewer = plane_as("vic", "viewer")
    call = ops.parse_line("trip openai 15m")
    with pytest.raises(PermissionDenied, match=r"breaker\.trip needs the responder role"):
        await call.op.run(viewer, call)
    assert await viewer.audit.tail(5) == []


# Every row from every front-end, refused for the roles that lack it, confirmed when
# destructive and audited once: tests/test_operations_walk.py (derived from OPERATIONS).
