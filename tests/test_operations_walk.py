"""The operations table, walked: EVERY row (derived from ``OPERATIONS``, so a new row is
walked without touching this file) is run from the CLI (``agentconsole do``), the console
(the ``:`` line, its ConfirmScreen, in Pilot) and a runbook action; each run is audited
exactly once (the audit action is the row's permission); each is refused for every role
below the one it needs, with nothing written; each destructive one asks first (the CLI
refuses without ``--yes`` in a script, the console's dialog names its targets).

A row needs a world to act on: :func:`world` gives every front-end its own agent, tenant
(with a space), flag with variants and dependency; :data:`BEFORE` prepares what a row
needs beyond that (a kill to lift, a plan to start, a request to approve). A new row whose
parameters have a sample in :data:`SAMPLES` is walked as it is; otherwise add a sample or
a ``BEFORE`` entry here.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from agentconsole.control import operations as ops
from agentconsole.control.errors import PermissionDenied
from agentconsole.control.registry import AgentRecord
from agentconsole.control.roles import RANK, REQUIRED_ROLE
from agentconsole.control.variants import Variant
from tests.cli import conftest as cli_fixtures

cli_env, acli = cli_fixtures.cli_env, cli_fixtures.acli  # the in-process CLI, as fixtures

# Rows no front-end but one can exercise, and why (each is tested where it can run).
SKIP = {
    "silence.create": "silences the alert its runbook step is for: it needs that alert and "
    "Alertmanager in the step's context (tests/runbook/test_live.py runs it; the CLI and "
    "the console refuse it with one line, tests/runbook/test_actions.py)",
}
WALKED = [op for op in ops.OPERATIONS if op.name not in SKIP]
FRONT_ENDS = ("cli", "console", "runbook")


def tenant(i: int) -> str:
    return f"Acme Corp {i}"


# A sample per parameter kind (label), for front-end number i; only required params get one.
SAMPLES: dict[str, Callable[[int], Any]] = {
    "AGENT_ID": lambda i: f"agent-{i}",
    "TENANT": tenant,
    "DEPENDENCY": lambda i: f"openai.{i}",
    "FLAG": lambda i: f"flag-{i}",
    "DURATION": lambda i: "15m",
    "PERCENT": lambda i: "12.5",
    "NUMBER": lambda i: str(100 + i),
    "LIMIT": lambda i: "request_tokens",
    "FIELD": lambda i: "tenant",
    "NAME": tenant,
    "VARIANT": lambda i: "cheap",
    "VARIANT=WEIGHT": lambda i: ["standard=90", "cheap=10"],
    "VARIANT=WEIGHT[:PAYLOAD]": lambda i: ["standard=90", "cheap=10:gpt-4o-mini"],
    "VALUE": lambda i: "gpt-4o-mini",
    "'FIELD [NOT] OP VALUES'": lambda i: ["region IN eu,us"],
    "STEPS": lambda i: "1,5,100",
    "METRIC:LIMIT": lambda i: ["error_rate:+1pt"],
    "SCOPE": lambda i: "tenant",
    "INCIDENT_ID": lambda i: f"inc-walk-{i}",
    "FILE": lambda i: BACKUPS.get(i, "/var/backups/agentconsole backup.json"),
}
# Samples of one row that differ from its kinds' (a name not taken yet, a lift's scope).
ARGS: dict[str, Callable[[int], dict[str, Any]]] = {
    "flag.create": lambda i: {"flag": f"new-flag-{i}"},
    "flag.import": lambda i: {"file": IMPORTS.get(i, "/srv/flags/prod flags.yaml")},
    "flag.update": lambda i: {"flag": f"flag-{i}", "allow": f"{tenant(i)}, vip", "tracked": "on"},
    "kill.lift": lambda i: {"scope": "tenant", "name": tenant(i)},
    "drain.lift": lambda i: {"scope": "tenant", "name": tenant(i)},
    "pause.lift": lambda i: {"scope": "tenant", "name": tenant(i)},
}


async def world(plane, i: int) -> None:
    """What front-end i acts on: a running agent of a tenant with a space in its name and a
    tenant-sticky flag with two variants (model tiers)."""
    await plane.agents.register(AgentRecord(id=f"agent-{i}", tenant=tenant(i), status="running"))
    await plane.flags.create(
        f"flag-{i}",
        enabled=True,
        stickiness="tenant",
        value_type="string",
        variants=(Variant("standard", 100), Variant("cheap", 0, "gpt-4o-mini")),
    )


async def _run(plane, line: str) -> None:
    call = ops.parse_line(line)
    call.reason, call.wait = "setup", 0
    await call.op.run(plane, call)


async def _plan(plane, i: int, *then: str) -> None:
    await _run(plane, f"rollout create flag-{i} 1,5,100 15m error_rate:+1pt")
    for verb in then:
        await _run(plane, f"rollout {verb} flag-{i}")


async def _kill_tenant(plane, i: int) -> None:
    await _run(plane, f'kill tenant "{tenant(i)}"')


def _hold_tenant(kind: str) -> Callable[[Any, int], Awaitable[None]]:
    async def hold(plane, i: int) -> None:
        await _run(plane, f'{kind} tenant "{tenant(i)}"')

    return hold


def _lift_hold_all(kind: str) -> Callable[[Any, int], Awaitable[None]]:
    async def lift(plane, i: int) -> None:
        holds, _ = await plane.holds.list()
        if f"{kind}:all" in holds:
            await _run(plane, f"{kind} lift all")

    return lift


async def _override(plane, i: int) -> None:
    await _run(plane, f'flag override flag-{i} tenant "{tenant(i)}" cheap')


async def _silent_agent(plane, i: int) -> None:
    old = time.time() - plane.settings.registry.reap_after_seconds - 600
    await plane.agents.write_many([AgentRecord(id=f"gone-{i}", tenant=tenant(i))], at=old)


async def _lift_all(plane, i: int) -> None:
    kills, _ = await plane.kills.list()
    if "all" in kills:
        await _run(plane, "kill lift all")


async def _v1_agent(plane, i: int) -> None:
    """One agent in the previous (v1) registry layout, for `registry upgrade` to move."""
    k, at = plane.keys, time.time() - 5
    agent = {"id": f"old-{i}", "tenant": tenant(i), "status": "running", "heartbeat_at": str(at)}
    await plane.redis.hset(k.legacy_agent(f"old-{i}"), mapping=agent)
    for index in k.legacy_indexes:
        await plane.redis.zadd(index, {f"old-{i}": at})


REQUESTS: dict[int, str] = {}


async def _request(plane, i: int) -> None:
    """Bob asks for a four-eyes operation; the row (approve or reject) decides it."""
    from agentconsole.control import ControlPlane, Operator, approvals

    plane.settings.approvals.operations = ["breaker.trip"]
    bob = ControlPlane.from_settings(plane.settings, Operator("bob", "responder"))
    try:
        call = ops.parse_line(f"breaker trip asked.{i}")
        call.reason = "four eyes"
        await call.op.run(bob, call)
        (request,) = [r for r in await approvals.pending(plane) if f"asked.{i}" in r.line]
        REQUESTS[i] = request.id
    finally:
        plane.settings.approvals.operations = []
        await bob.close()


BACKUPS: dict[int, str] = {}


async def _backup(plane, i: int) -> None:
    """A backup of what front-end i sees, for `control restore FILE` to write back."""
    import json
    import tempfile
    from pathlib import Path

    from agentconsole.control import backup

    path = Path(tempfile.mkdtemp(prefix="walk-")) / f"backup-{i}.json"
    path.write_text(json.dumps(await backup.take(plane)), encoding="utf-8")
    BACKUPS[i] = str(path)


IMPORTS: dict[int, str] = {}


async def _flags_file(plane, i: int) -> None:
    """flag-i exported, its description edited: `flag import FILE` updates that one flag."""
    import tempfile
    from pathlib import Path

    import yaml

    from agentconsole.control.flag_files import export

    doc = yaml.safe_load(export([await plane.flags.get(f"flag-{i}")]))
    doc["flags"][f"flag-{i}"]["description"] = "reviewed in git"
    path = Path(tempfile.mkdtemp(prefix="walk-")) / f"flags {i}.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    IMPORTS[i] = str(path)


async def _incident(plane, i: int) -> None:
    from agentconsole.control.incidents import Incidents

    await Incidents(plane).open(f"inc-walk-{i}", alert="DependencyBreakerOpen", runbook="demo")


BEFORE: dict[str, Callable[[Any, int], Awaitable[None]]] = {
    "incident.resolve": _incident,
    "control.restore": _backup,
    "flag.import": _flags_file,
    "kill.lift": _kill_tenant,
    "kill.all": _lift_all,
    "drain.lift": _hold_tenant("drain"),
    "pause.lift": _hold_tenant("pause"),
    "drain.all": _lift_hold_all("drain"),
    "pause.all": _lift_hold_all("pause"),
    "flag.override_clear": _override,
    "rollout.start": lambda plane, i: _plan(plane, i),
    "rollout.pause": lambda plane, i: _plan(plane, i, "start"),
    "rollout.resume": lambda plane, i: _plan(plane, i, "start", "pause"),
    "rollout.advance": lambda plane, i: _plan(plane, i, "start"),
    "rollout.abort": lambda plane, i: _plan(plane, i, "start"),
    "agent.reap": _silent_agent,
    "registry.upgrade": _v1_agent,
    "approval.approve": _request,
    "approval.reject": _request,
}
AFTER: dict[str, Callable[[Any, int], Awaitable[None]]] = {
    "kill.all": _lift_all,
    "drain.all": _lift_hold_all("drain"),
    "pause.all": _lift_hold_all("pause"),
}


def sample_args(op: ops.Operation, i: int) -> dict[str, Any]:
    if op.name.startswith("approval."):
        return {"request": REQUESTS[i]}
    raw = {p.name: SAMPLES[p.kind.label](i) for p in op.params if not p.optional}
    return raw | ARGS.get(op.name, lambda i: {})(i)


def sample_line(op: ops.Operation, i: int) -> str:
    return ops.command_line(op, op.call(sample_args(op, i)).args)


async def prepare(plane, op: ops.Operation, i: int) -> str:
    await world(plane, i)
    before = BEFORE.get(op.name)
    if before is not None:
        await before(plane, i)
    return sample_line(op, i)


async def audited(plane, since: str, op: ops.Operation) -> list[str]:
    """Who did the row's change since ``since``: one actor per audit entry of its action."""
    return [e.actor for e in await plane.audit.after(since) if e.action == op.permission]


def test_every_row_is_walked_or_skipped_with_a_reason():
    for op in WALKED:
        missing = [p.kind.label for p in op.params if not p.optional]
        missing = [k for k in missing if k not in SAMPLES and op.name not in ARGS]
        assert not missing or op.name.startswith("approval."), (
            f"{op.name}: add a sample for {missing} (or a BEFORE entry) in {__file__}"
        )
    assert set(SKIP) <= {op.name for op in ops.OPERATIONS}


def test_every_row_has_a_cli_subcommand_of_its_own():
    """Besides ``agentconsole do``: each row is a subcommand (flags create, agents kill...)."""
    from agentconsole.cli.main import build_parser

    found: set[str] = set()

    def walk(parser) -> None:
        for action in parser._actions:  # argparse keeps subparsers only here
            if isinstance(action, argparse._SubParsersAction):
                for child in action.choices.values():
                    found.update(child._defaults.get("operations", ()))
                    walk(child)

    walk(build_parser())
    assert {op.name for op in WALKED} - found == set()


@pytest.mark.parametrize("op", ops.OPERATIONS, ids=lambda o: o.name)
def test_each_row_is_written_the_same_in_every_front_end(op):
    """The one spelling (``command_line``) reads back as the same call on the `:` line, in a
    runbook action and in ``agentconsole do``: quoting, durations, lists and all."""
    from agentconsole.cli.main import build_parser
    from agentconsole.runbook.actions import parse_line, render
    from agentconsole.runbook.template import Values

    if op.name.startswith("approval."):
        REQUESTS.setdefault(0, "r-0123")
    line = sample_line(op, 0)
    colon = ops.parse_line(line)
    rendered = render(parse_line(line), Values("A"))
    assert (colon.op.name, rendered.action) == (op.name, op.name), line
    assert rendered.args == colon.args and rendered.text == line
    assert build_parser().parse_args(["do", line]).words == [line]


async def _console(settings, op: ops.Operation, line: str) -> None:
    """Type ``line`` on the `:` line, give the dialog a reason, confirm, see the outcome."""
    from agentconsole.tui.app import ConsoleApp
    from agentconsole.tui.modals import ConfirmScreen
    from tests.tui.conftest import options, wait_until

    app = ConsoleApp(settings, options(ack_timeout=0.1, live_events=False))
    async with app.run_test(size=(140, 40)) as pilot:
        await app.wait_for_paint(app.current, timeout=30)
        told = len(app.toasts)
        await pilot.press("colon")
        app.query_one("#cmdline").value = line
        await pilot.press("enter")
        dialog = f"dialog: {line}"
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), 30, dialog)
        screen = app.screen
        if op.destructive:  # names its targets, in the red dialog
            assert screen.targets and not screen.has_class("calm"), line
        screen.query_one("#reason").value = "walk"
        await pilot.click("#confirm")
        await wait_until(pilot, lambda: len(app.toasts) > told, 30, f"outcome: {line}")
        assert not isinstance(app.screen, ConfirmScreen)


@pytest.mark.parametrize("op", WALKED, ids=lambda o: o.name)
async def test_each_row_runs_from_every_front_end_audited_once(op, plane, acli, settings):
    """The CLI, the console's `:` line (confirmed in its dialog) and a runbook action."""
    from agentconsole.runbook.actions import execute, parse_line, render
    from agentconsole.runbook.template import Values

    for i, front_end in enumerate(FRONT_ENDS):
        line = await prepare(plane, op, i)
        since = await plane.audit.last_id()
        if front_end == "cli":
            r = await acli("do", "--yes", "--reason", "walk", "--wait", "0", line)
            assert r.code == 0, (line, r.err)
            assert r.out.strip(), line
        elif front_end == "runbook":
            rendered = render(parse_line(line), Values("A"))
            assert rendered.action == op.name
            result = await execute(rendered, plane, reason="walk")
            assert result.message, line
        else:
            await _console(settings, op, line)
        actors = await audited(plane, since, op)
        assert actors == ["alice"], (front_end, line, actors)
        after = AFTER.get(op.name)
        if after is not None:
            await after(plane, i)


@pytest.mark.parametrize("op", WALKED, ids=lambda o: o.name)
async def test_each_row_is_refused_for_the_roles_that_lack_it(op, plane, plane_as, acli, settings):
    """Absent from the console, refused by the CLI and a runbook action: nothing written."""
    from agentconsole.runbook.actions import execute, parse_line, render
    from agentconsole.runbook.template import Values
    from agentconsole.tui.app import ConsoleApp

    line = await prepare(plane, op, 0)
    needed = RANK[REQUIRED_ROLE[op.permission]]
    for role in [r for r, rank in RANK.items() if rank < needed]:
        since = await plane.audit.last_id()
        r = await acli("do", "--yes", "--reason", "walk", line, role=role)
        assert r.code == 1 and "needs the" in r.err, (role, line, r.err)
        with pytest.raises(PermissionDenied):
            await execute(render(parse_line(line), Values("A")), plane_as("rob", role), reason="x")
        settings.operator.role = role
        assert not ConsoleApp(settings).operations.available(op)
        assert await plane.audit.after(since) == [], (role, line)


DESTRUCTIVE = [op for op in WALKED if op.destructive]


@pytest.mark.parametrize("op", DESTRUCTIVE, ids=lambda o: o.name)
async def test_a_destructive_row_asks_first_and_a_script_without_yes_changes_nothing(
    op, plane, acli
):
    line = await prepare(plane, op, 0)
    preview = await op.preview(plane, op.call(sample_args(op, 0)))
    assert preview.confirm and preview.targets, line
    since = await plane.audit.last_id()
    r = await acli("do", "--reason", "walk", line)  # stdin is not a terminal under pytest
    assert r.code == 1 and "--yes" in r.err, (line, r.err)
    assert await plane.audit.after(since) == []
