"""Incident progress in Redis: handoff between two consoles, CAS, audit, export."""

import pytest

from agentconsole.control.errors import Conflict, InvalidValue, PermissionDenied
from agentconsole.runbook.context import AlertContext
from agentconsole.runbook.parser import parse
from agentconsole.runbook.session import RunbookSession
from agentconsole.runbook.timeline import export
from tests.runbook.helpers import GOOD

ALERT = {
    "name": "DependencyBreakerOpen",
    "state": "firing",
    "labels": {
        "alertname": "DependencyBreakerOpen",
        "dependency": "openai",
        "severity": "critical",
    },
    "annotations": {"summary": "breaker openai open", "runbook": "demo"},
}


def runbook():
    rb, problems = parse(GOOD, "demo.md")
    assert not problems
    return rb


async def test_two_consoles_share_progress(plane_as):
    alice = RunbookSession(
        plane_as("alice", "responder"), runbook(), AlertContext.from_alert(ALERT)
    )
    bob = RunbookSession(plane_as("bob", "responder"), runbook(), AlertContext.from_alert(ALERT))
    assert alice.incident_id == bob.incident_id
    assert await alice.start() is None  # opening a runbook reads; the first mark opens it
    first = await alice.mark(1, "done", "read it")
    assert first.started_by == "alice" and first.current_step == 2
    await alice.mark(2, "skipped", "prometheus was down")

    joined = await bob.start()  # handoff: bob sees alice's progress and picks up at step 3
    assert joined.started_by == "alice"
    assert joined.mark(1).by == "alice" and joined.mark(2).note == "prometheus was down"
    assert joined.current_step == 3

    # Action through bob's console: recorded on the shared incident with before/after.
    (trip, flag) = bob.actions(bob.runbook.step(3))
    assert trip.text == "breaker trip openai for 15m" and trip.allowed
    result = await bob.run(trip)
    assert result.after["mode"] == "forced_open"
    seen = await alice.refresh()
    (record,) = seen.actions
    assert (record.by, record.text, record.ok, record.step) == ("bob", trip.text, True, 3)
    assert record.after["mode"] == "forced_open"

    # A failing action is recorded as failed, and nothing else changes.
    with pytest.raises(Exception, match="no flag named 'new-planner'"):
        await bob.run(flag)
    assert [a.ok for a in (await bob.refresh()).actions] == [True, False]


async def test_concurrent_marks_do_not_clobber(plane_as):
    alice = RunbookSession(
        plane_as("alice", "responder"), runbook(), AlertContext.from_alert(ALERT)
    )
    bob = RunbookSession(plane_as("bob", "responder"), runbook(), AlertContext.from_alert(ALERT))
    await alice.start()
    await bob.start()
    await alice.mark(3, "done", "tripped it")
    with pytest.raises(Conflict, match="step 3 was already marked done by alice"):
        await bob.mark(3, "skipped", "not needed")
    assert bob.incident.mark(3).by == "alice"  # bob's view was refreshed
    # A different step still goes through although bob's copy was old (re-checked, merged).
    await alice.mark(1, "done")
    bob.incident = None
    await bob.start()
    await bob.mark(2, "done")
    final = await alice.refresh()
    assert {k: m.by for k, m in final.steps.items()} == {"1": "alice", "2": "bob", "3": "alice"}


async def test_transitions_are_audited_and_checked(plane_as):
    responder = plane_as("rita", "responder")
    session = RunbookSession(responder, runbook(), AlertContext.from_alert(ALERT))
    await session.start()
    await session.mark(1, "done", "ok")
    with pytest.raises(InvalidValue, match="needs a note"):
        await session.mark(2, "skipped")
    with pytest.raises(InvalidValue, match="has no step 9"):
        await session.mark(9, "done")
    entries = await responder.audit.tail(10)
    assert [(e.entity, e.action, e.actor) for e in entries] == [
        ("incident", "runbook.step", "rita"),
        ("incident", "runbook.step", "rita"),
    ]
    assert entries[1].reason == "runbook step 1 (Meaning): done — ok"
    assert entries[1].after["steps"]["1"]["status"] == "done"

    viewer = RunbookSession(plane_as("vic", "viewer"), runbook(), AlertContext.from_alert(ALERT))
    assert viewer.read_only
    seen = await viewer.start()  # a viewer reads progress, never writes
    assert seen.mark(1).by == "rita"
    with pytest.raises(PermissionDenied):
        await viewer.mark(2, "done")


async def test_resolved_incident_is_archived_when_the_alert_fires_again(plane):
    session = RunbookSession(plane, runbook(), AlertContext.from_alert(ALERT))
    await session.start()
    first = await session.mark(1, "done")
    await session.incidents.resolve(first.id, note="provider recovered")
    with pytest.raises(Conflict, match="already resolved"):
        await session.incidents.resolve(first.id)
    seen = await session.start()  # the resolved incident is shown as it ended
    assert seen.resolved
    again = await session.mark(2, "done")  # working it again: the alert fired again
    assert not again.resolved and set(again.steps) == {"2"}
    listed, problems = await session.incidents.list()
    assert problems == []
    assert {i.id for i in listed} == {first.id, f"{first.id}@{int(first.started_at)}"}


async def test_export_timeline(plane):
    evil = dict(ALERT, labels={**ALERT["labels"], "tenant": "acme\n# injected <b>"})
    session = RunbookSession(plane, runbook(), AlertContext.from_alert(evil))
    await session.start()
    await session.mark(1, "done", "checked the provider status page")
    await session.mark(2, "skipped", "numbers visible on the dashboard")
    (trip, _) = session.actions(session.runbook.step(3))
    await session.run(trip)
    await plane.flags.create("unrelated-change")  # someone else's change during the incident
    await session.incidents.resolve(session.incident_id, note="recovered")
    text = await export(plane, session.incident_id)
    assert text.startswith(f"# Incident {session.incident_id}: DependencyBreakerOpen\n")
    assert "tenant=acme\\n# injected &lt;b&gt;" in text  # data, not markdown or HTML
    assert "\n# injected" not in text
    assert "1. Meaning — **done** by alice at " in text
    assert ": checked the provider status page" in text
    assert "2. Diagnosis — **skipped** by alice" in text
    assert "4. Verify — not done" in text
    assert (
        "step 3: `breaker trip openai for 15m` by alice — done: breaker openai is now forced_open"
        in text
    )
    assert "  - before: (none)" in text
    assert '"mode": "forced_open"' in text
    assert "alice (admin) breaker.trip openai — runbook demo step 3" in text
    assert "alice (admin) flag.create unrelated-change" in text
    assert "incident resolved by alice" in text
    assert "- Ended: " in text and "(still open)" not in text


async def test_incident_ends_when_every_step_is_done_or_skipped(plane):
    session = RunbookSession(plane, runbook(), AlertContext.from_alert(ALERT))
    for step in (1, 2, 3):
        await session.mark(step, "done")
    assert not session.incident.resolved
    await session.mark(4, "skipped", "condition cleared on its own")
    assert session.incident.resolved and session.incident.ended_by == "alice"
    entries = await plane.audit.tail(1)
    assert entries[0].reason == "incident resolved: every step done or skipped"


async def test_opening_writes_nothing_and_reopening_resumes(plane, plane_as):
    """One incident per alert instance: opening reads, reopening resumes at the current
    step, and a runbook opened (twice) from the list without working it leaves nothing."""
    before = await plane.audit.tail(10)
    listed = RunbookSession(plane, runbook())
    assert await listed.start() is None
    assert await RunbookSession(plane, runbook()).start() is None
    assert await plane.redis.hlen(plane.keys.incidents) == 0
    assert await plane.audit.tail(10) == before

    session = RunbookSession(plane, runbook(), AlertContext.from_alert(ALERT))
    await session.start()
    await session.mark(1, "done")
    with pytest.raises(InvalidValue, match="needs a note"):  # refused before any write
        await RunbookSession(plane, runbook(), AlertContext.from_alert(ALERT)).mark(2, "skipped")
    reopened = RunbookSession(
        plane_as("bob", "responder"), runbook(), AlertContext.from_alert(ALERT)
    )
    resumed = await reopened.start()
    assert resumed.id == session.incident_id and resumed.current_step == 2
    incidents, _ = await session.incidents.list()
    assert [i.id for i in incidents] == [session.incident_id]
