"""Every shipped runbook against the demo's own scenarios (issue 6's "done when").

One demo stack (real redis-server and prometheus with the shipped rules, 1 s scrape and
evaluation) and one simulated fleet in this process, so the scenario can be switched
without a restart. For each scenario the alerts it should raise must fire; each opens its
runbook; every promql block of that runbook runs against the live Prometheus without an
error (no data is allowed only where the scenario has nothing to show); the blocks the
scenario should light up have data; verify evaluates; every action renders or is refused
for a stated reason. Then an operator's global stop must raise AgentKillSwitchActive, and
a fleet that stops reporting must raise AgentsNotReporting.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

from agentconsole.config import load_settings
from agentconsole.runbook.context import AlertContext
from agentconsole.runbook.library import Library
from agentconsole.runbook.session import RunbookSession, load_rules_index
from agentconsole.sim import demo
from tests.fixtures.procs import require_binary

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
AGENTS = 60


@dataclass
class Case:
    scenario: str
    alerts: set[str]  # must all fire
    lit: dict[str, set[str]]  # runbook id -> comments of queries that must have data
    timeout: float
    # Move on once the alerts are pending: their condition reads a 2-minute window, so they
    # go on to fire during the next case, where they are checked.
    early: bool = False


# The queries named in ``lit`` are the ones the scenario is about: they must show numbers.
# Order matters, the rules read 2-minute windows: the outage goes first, because an open
# breaker stops calls, so its error ratio only passes 1% once earlier successful calls have
# left the window; the cost case goes last, after scenarios with few, slow runs that do
# not dilute its cost per run.
CASES = [
    Case(
        "provider-outage",
        {"DependencyBreakerOpen", "AgentErrorRateHigh", "AgentSuccessRateLow"},
        {
            "provider-outage": {
                "calls per second to this dependency, by outcome (success, error, rejected)",
                "which kind of errors: rate_limited, unavailable, timeout, connection, client, "
                "server",
            },
            "error-rate": {"error ratio per dependency: which one fails"},
            "low-success-rate": {"runs per second by outcome: which outcome grew"},
        },
        120,
    ),
    Case(
        "latency-spike",
        {"AgentHighP99Latency"},
        {
            "high-latency": {
                "p99 (the alert's own number)",
                "p99 latency of each dependency: the slow one stands out",
            }
        },
        120,
        early=True,
    ),
    Case(
        "runaway",
        {"AgentRunaway"},
        {
            "runaway-agent": {
                "runs stopped by the guard in the last 5 minutes, by limit (steps or seconds)",
                "highest step count among active runs, per process",
            }
        },
        90,
    ),
    Case(
        "cost-explosion",
        {"AgentTokensPerRequestHigh", "AgentCostPerRequestHigh", "AgentDailySpendHigh"},
        {
            "cost-explosion": {
                "projected USD per day by tenant: the explosive tenant stands out",
                "cost per run (the first alert's number)",
            },
            "budget-exhaustion": {"tokens per run (the first alert's number)"},
        },
        120,
    ),
]


@contextlib.asynccontextmanager
async def demo_without_simulator() -> AsyncIterator[demo.DemoStack]:
    """The demo's redis-server and prometheus (its config, the shipped rules); the fleet
    runs in this process instead of a child so the test can switch its scenario."""
    for name in ("redis-server", "prometheus"):
        require_binary(name)
    stack = demo.DemoStack(workdir=Path(tempfile.mkdtemp(prefix="agentconsole-demo-")))
    try:
        stack.redis_port, stack.prometheus_port = demo.free_port(), demo.free_port()
        stack.metrics_port = demo.free_port()
        stack.alertmanager_port = None
        await asyncio.to_thread(demo._start_redis, stack)
        demo.write_demo_config(stack)
        await asyncio.to_thread(demo._start_prometheus, stack)
        yield stack
    finally:
        await asyncio.to_thread(demo.stop_all, stack)
        shutil.rmtree(stack.workdir, ignore_errors=True)


class Oncall:
    """What the console does with a firing alert, without the screen: fetch alerts, open
    the runbook, run its queries, verify and prepare its actions."""

    def __init__(self, settings) -> None:
        from agentconsole.control import ControlPlane
        from agentconsole.metrics.service import MetricsService

        self.plane = ControlPlane.from_settings(settings)
        self.metrics = MetricsService(settings, self.plane)
        self.library = Library.load([ROOT / "runbooks"])
        self.rules = load_rules_index(ROOT / "deploy" / "prometheus" / "alerts.yml")

    async def close(self) -> None:
        await self.metrics.close()
        await self.plane.close()

    async def wait_firing(
        self, names: Iterable[str], timeout: float, states: tuple[str, ...] = ("firing",)
    ) -> dict[str, list]:
        """Every alert firing by the time all of ``names`` have fired (an alert that flaps,
        like a breaker probing half-open, counts from the last time it was seen firing)."""
        wanted: set[str] = set(names)
        seen: dict[str, list] = {}
        began = time.monotonic()
        deadline = began + timeout
        self.first: dict[str, int] = {}  # seconds until each alert was first seen firing
        while True:
            result = await self.metrics.alerts()
            now: dict[str, list] = {}
            for alert in result.alerts:
                if alert.state in states:
                    now.setdefault(alert.name, []).append(alert)
            for name in set(now) - set(seen):
                self.first[name] = round(time.monotonic() - began)
            seen.update(now)
            if wanted <= set(seen):
                return seen
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"not {'/'.join(states)} within {timeout:.0f} s: "
                    f"{sorted(wanted - set(seen))} "
                    f"(firing: {sorted(seen)}; alerts error: {result.error_kind})"
                )
            await asyncio.sleep(1.0)

    def session(self, alert) -> RunbookSession:
        context = AlertContext.from_alert(alert)
        runbook = self.library.for_alert(context)
        assert runbook is not None, f"{alert.name} opens no runbook"
        return RunbookSession(self.plane, runbook, context, self.metrics, self.rules)

    async def act(self, alert, source_prefix: str, inputs: dict[str, str]) -> None:
        """Run the runbook's action that starts with ``source_prefix``, then wait for the
        verify step to say the alert condition no longer holds."""
        session = self.session(alert)
        await session.start()
        items = [
            session.prepare(item, inputs)
            for step in session.runbook.steps
            for item in session.actions(step)
            if item.source.startswith(source_prefix)
        ]
        assert len(items) == 1 and items[0].rendered is not None, items
        result = await session.run(items[0], note="demo scenario test")
        assert result.audit, f"{result.text} left no audit entry"
        verify = next(step for step in session.runbook.steps if step.is_verify)
        deadline = time.monotonic() + 30
        while (verdict := await session.verify(verify)).holds is not False:
            assert time.monotonic() < deadline, f"after {result.text}: {verdict.message}"
            await asyncio.sleep(1.0)

    async def work(self, alert, lit: dict[str, set[str]]) -> str:
        """Open the alert's runbook and check every step; returns the runbook id."""
        session = self.session(alert)
        runbook = session.runbook
        must_show = set(lit.get(runbook.id, ()))
        where = f"{alert.name} -> {runbook.id}"
        for step in runbook.steps:
            for outcome in await session.queries(step):
                assert outcome.error is None, f"{where}: {outcome.promql}: {outcome.error}"
                has_data = outcome.value is not None or bool(outcome.by_label)
                if outcome.comment in must_show:
                    must_show.discard(outcome.comment)
                    assert has_data, f"{where}: no data for {outcome.comment!r}"
            if step.is_verify:
                verdict = await session.verify(step)
                assert verdict.holds is not None, f"{where}: verify: {verdict.message}"
            for item in session.actions(step):
                if item.refused:  # only a label this alert instance does not carry
                    assert "which this alert does not have" in item.refused, (where, item)
                else:
                    assert item.rendered is not None or item.needs, (where, item)
        assert not must_show, f"{where}: queries not found in the runbook: {must_show}"
        return runbook.id


async def test_every_scenario_raises_its_alerts_and_their_runbooks_work():
    from agentconsole.sim.fleet import Fleet

    async with demo_without_simulator() as stack:
        settings = load_settings(str(stack.workdir / "demo.yaml"))
        fleet = Fleet(settings, AGENTS, CASES[0].scenario, seed=6)
        stop = asyncio.Event()
        running = asyncio.create_task(
            fleet.run(stop, metrics_port=stack.metrics_port, out=None, summary_every=0)
        )
        oncall = Oncall(settings)
        try:
            worked: set[str] = set()
            carried: dict[str, dict[str, set[str]]] = {}  # alert -> lit, from an early case
            for case in CASES:
                fleet.set_scenario(case.scenario)
                began = time.monotonic()
                if case.early:
                    await oncall.wait_firing(case.alerts, case.timeout, ("pending", "firing"))
                    carried.update(dict.fromkeys(case.alerts, case.lit))
                    continue
                firing = await oncall.wait_firing(case.alerts | set(carried), case.timeout)
                print(f"{case.scenario}: {oncall.first} in {time.monotonic() - began:.0f} s")
                lits = {**carried, **dict.fromkeys(case.alerts, case.lit)}
                carried = {}
                for name, alerts in firing.items():  # side effects too: their runbooks
                    for alert in alerts:
                        worked.add(await oncall.work(alert, lits.get(name, {})))

            # An operator stops everything and turns a kill switch off: agents report both,
            # the reminder fires for each; the runbook's own actions lift them, and its
            # verify step sees the condition go away.
            plane = oncall.plane
            await plane.flags.create("web-browsing", type="kill-switch", enabled=True)
            await plane.flags.disable("web-browsing", reason="demo scenario test")
            await plane.kills.kill(everything=True, reason="demo scenario test")
            deadline = time.monotonic() + 30
            while True:
                firing = await oncall.wait_firing({"AgentKillSwitchActive"}, 30)
                kinds = {a.labels.get("kind", "") for a in firing["AgentKillSwitchActive"]}
                if {"global_stop", "kill_switch"} <= kinds:
                    break
                assert time.monotonic() < deadline, f"AgentKillSwitchActive only for {kinds}"
                await asyncio.sleep(1.0)
            for alert in firing["AgentKillSwitchActive"]:
                worked.add(await oncall.work(alert, {}))
                lift = "kill lift all" if alert.labels["kind"] == "global_stop" else "flag enable"
                await oncall.act(alert, lift, {"flag": "web-browsing"})

            # The fleet stops reporting: its /metrics endpoint goes away with it.
            stop.set()
            await running
            firing = await oncall.wait_firing({"AgentsNotReporting"}, 60)
            for alert in firing["AgentsNotReporting"]:
                worked.add(await oncall.work(alert, {}))
        finally:
            stop.set()
            with contextlib.suppress(Exception):
                await running
            await oncall.close()
    assert worked >= {
        "runaway-agent",
        "high-latency",
        "provider-outage",
        "error-rate",
        "low-success-rate",
        "cost-explosion",
        "budget-exhaustion",
        "kill-switch-active",
        "agents-not-reporting",
    }
