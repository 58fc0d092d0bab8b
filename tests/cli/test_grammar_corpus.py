"""One corpus, refused or accepted identically by every front-end and by the SDK: the CLI,
the console's `:` line, a runbook action (templated from an alert label) and runtime.run().
"""

from __future__ import annotations

import pytest

from agentconsole import text
from agentconsole.control import operations as ops
from agentconsole.runbook.actions import ActionError, parse_line, render
from agentconsole.runbook.template import Values

NAMES = [
    "Acme Corp",
    "müller-gmbh",
    "a.b",
    "[bold]x[/bold]",
    "x" * 1_000_000,
    "",
    " padded",
    "line\nbreak",
    "esc\x1b[2J",
    "x" * 128,
]
DURATIONS = ["90s", "15m", "2h", "1d", "99999999999999d", "0s", "-5m", "ever", "1e309", "nan"]


def _colon(line: str) -> bool:
    try:
        ops.parse_line(line)
    except text.Invalid:
        return False
    return True


def _runbook(line: str, **labels: str) -> bool:
    try:
        render(parse_line(line), Values("Alert", labels=labels))
    except ActionError:
        return False
    return True


@pytest.fixture
async def runtime(settings):
    prometheus_client = pytest.importorskip("prometheus_client")
    from agentconsole.agent import AgentRuntime

    rt = AgentRuntime(settings, registry=prometheus_client.CollectorRegistry())
    await rt.start()
    yield rt
    await rt.close()


@pytest.mark.parametrize("name", NAMES, ids=lambda n: repr(n[:20]) + f"[{len(n)}]")
async def test_names_alike_everywhere(name, acli, runtime):
    accepted = text.name_problem(name) is None
    assert _colon(f"kill tenant {ops.quote(name)}") == accepted
    assert _runbook("kill tenant {{ labels.tenant }}", tenant=name) == accepted
    r = await acli("agents", "kill", "--tenant", name, "--yes", "--wait", "0")
    assert r.code == (0 if accepted else 2), r.err
    assert len(r.err) < 400  # a megabyte is never echoed back
    if name:  # the SDK: an empty tenant means "no tenant", not a name
        try:
            runtime.run(task="t", tenant=name)
            sdk = True
        except text.Invalid:
            sdk = False
        assert sdk == accepted


@pytest.mark.parametrize("value", DURATIONS)
async def test_durations_alike_everywhere_and_checked_before_writing(value, acli, plane):
    try:
        text.duration(value)
        accepted = True
    except text.Invalid:
        accepted = False
    assert _colon(f"trip openai {value}") == accepted
    assert _colon(f"breaker trip openai for {value}") == accepted
    assert _runbook(f"breaker trip openai for {value}") == accepted
    assert _runbook("breaker trip openai for {{ labels.d }}", d=value) == accepted
    r = await acli("breakers", "trip", "openai", "--for", value, "--yes")
    assert r.code == (0 if accepted else 2), r.err
    written = [e.action for e in await plane.audit.tail(5)]
    assert written == (["breaker.trip"] if accepted else [])  # refused: nothing written


@pytest.mark.parametrize(
    "line", ["kill agent a1", 'kill tenant "Acme Corp"', "kill all", "breaker trip openai for 1d"]
)
async def test_destructive_operations_ask_and_refuse_without_yes_in_a_script(line, acli, plane):
    from agentconsole.control.registry import AgentRecord

    await plane.agents.register(AgentRecord(id="a1", tenant="Acme Corp", status="running"))
    r = await acli("do", line)
    assert r.code == 1 and "refusing without --yes" in r.err, r.err
    assert await plane.audit.tail(5) == []
    r = await acli("do", "--yes", "--wait", "0", line)
    assert r.code == 0, r.err
    assert len(await plane.audit.tail(5)) == 1
