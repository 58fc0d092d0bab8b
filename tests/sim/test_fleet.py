import asyncio

from prometheus_client import CollectorRegistry

from agentconsole.sim import scenarios
from agentconsole.sim.fleet import Fleet, run_simulation

BOUND = 60.0  # seconds: a generous bound, never a figure (the outcome is what is asserted)


async def until(done, stop: asyncio.Event) -> None:
    """Set ``stop`` once ``done()`` holds: a fleet runs until its outcome is there, not for a
    fixed time (a loaded 2-core machine makes everything late, never wrong)."""
    while not done():
        await asyncio.sleep(0.02)
    stop.set()


async def run_until(fleet: Fleet, done, **kw):
    stop = asyncio.Event()
    watcher = asyncio.create_task(until(done, stop))
    try:
        return await fleet.run(stop, seconds=BOUND, out=None, **kw)
    finally:
        watcher.cancel()


def sample(registry, name: str, labels: dict[str, str]) -> float:
    return registry.get_sample_value(name, labels) or 0.0


async def test_steady_fleet_runs_and_reports(plane, settings):
    lines: list[str] = []
    registry, stop = CollectorRegistry(), asyncio.Event()

    def done() -> bool:
        return sample(registry, "agent_runs_total", {"outcome": "success"}) > 20 and len(lines) >= 3

    watcher = asyncio.create_task(until(done, stop))
    stats = await run_simulation(
        settings,
        agents=20,
        scenario="steady",
        stop_event=stop,
        seconds=BOUND,
        summary_every=0.3,
        out=lines.append,
        registry=registry,
        time_scale=0.02,
        seed=1,
        frameworks=False,  # framework agents first import their framework (seconds)
    )
    watcher.cancel()
    assert stats.runs.get("success", 0) > 20
    assert stats.tokens > 0 and stats.cost > 0
    assert len(lines) >= 3 and "scenario=steady" in lines[-1]
    agents = await plane.agents.list(limit=100)
    assert {a.id for a in agents} <= {f"sim-{i:04d}" for i in range(20)}
    assert len(agents) == 20
    up_to_date, live, version = await plane.agents.applied_counts()
    assert up_to_date == live == 20 and version == 0


async def test_fleet_obeys_a_tenant_kill(plane, settings):
    registry = CollectorRegistry()
    fleet = Fleet(settings, 10, "steady", time_scale=0.02, registry=registry, seed=2)
    stop = asyncio.Event()
    task = asyncio.create_task(fleet.run(stop, seconds=BOUND, out=None))
    busy = asyncio.Event()
    await asyncio.wait_for(
        until(lambda: fleet.runtime is not None and fleet.runtime.active_runs >= 5, busy), BOUND
    )
    await plane.kills.kill(tenant="acme", reason="test")
    await asyncio.wait_for(
        until(lambda: sample(registry, "agent_kills_total", {"scope": "tenant"}) >= 1, stop), BOUND
    )
    stats = await asyncio.wait_for(task, BOUND)
    assert stats.runs.get("killed", 0) >= 1
    killed = registry.get_sample_value("agent_kills_total", {"scope": "tenant"})
    assert killed and killed >= 1


async def test_provider_outage_opens_the_breaker(settings):
    registry = CollectorRegistry()
    fleet = Fleet(settings, 20, "provider-outage", time_scale=0.02, registry=registry, seed=3)
    rejected = {"dependency": "openai", "outcome": "rejected"}
    stats = await run_until(
        fleet,
        lambda: (
            sample(registry, "agent_dependency_calls_total", rejected) > 0
            and fleet.stats.runs.get("failure", 0) > 0
        ),
    )
    rejected = registry.get_sample_value(
        "agent_dependency_calls_total", {"dependency": "openai", "outcome": "rejected"}
    )
    assert rejected and rejected > 0
    assert stats.runs.get("failure", 0) > 0


async def test_runaway_and_cost_explosion(plane, settings):
    await plane.budgets.set("run_max_steps", 5)
    registry = CollectorRegistry()
    fleet = Fleet(settings, 20, "runaway", time_scale=0.02, registry=registry, seed=4)
    fleet.scenario = scenarios.Scenario("runaway", "all loop", runaway_share=1.0)
    stats = await run_until(
        fleet,
        lambda: (
            fleet.stats.runs.get("runaway", 0) > 0
            and sample(registry, "agent_runaway_total", {"limit": "steps"}) > 0
        ),
    )
    assert stats.runs.get("runaway", 0) > 0
    assert registry.get_sample_value("agent_runaway_total", {"limit": "steps"}) > 0

    registry = CollectorRegistry()
    fleet = Fleet(settings, 10, "cost-explosion", time_scale=0.02, registry=registry, seed=5)
    globex = {"model": "claude-opus", "tenant": "globex"}
    await run_until(fleet, lambda: sample(registry, "agent_cost_usd_total", globex) > 0)
    hot = registry.get_sample_value(
        "agent_cost_usd_total", {"model": "claude-opus", "tenant": "globex"}
    )
    assert hot and hot > 0


async def test_story_cycles_through_every_scenario(settings):
    """The story plays its scenarios in order. It runs until the last one has begun (with
    a generous bound), not for a fixed time: the story's 2.85 s at this time scale once
    overran a 3 s run on a loaded 2-core machine, the switches late by the loop's lag."""
    seen: list[str] = []
    story = [name for name, _ in scenarios.STORY]
    fleet = Fleet(settings, 5, "story", time_scale=0.005, registry=CollectorRegistry(), seed=6)
    original = fleet.set_scenario
    told = asyncio.Event()

    def spy(name: str) -> None:
        seen.append(name)
        original(name)
        if len(seen) >= len(story):
            told.set()  # every scenario has begun: the run may end

    fleet.set_scenario = spy  # type: ignore[method-assign]
    await fleet.run(told, seconds=BOUND, out=None)
    assert seen[: len(story)] == story


async def test_run_simulation_in_process_serves_metrics(settings):
    import urllib.request

    from tests.fixtures.procs import free_port

    port = free_port()
    stop = asyncio.Event()
    registry = CollectorRegistry()
    task = asyncio.create_task(
        run_simulation(
            settings,
            agents=5,
            metrics_port=port,
            stop_event=stop,
            out=None,
            registry=registry,
            time_scale=0.02,
        )
    )
    body = ""
    for _ in range(100):
        await asyncio.sleep(0.05)
        try:
            body = await asyncio.to_thread(
                lambda: (
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1)
                    .read()
                    .decode()
                )
            )
        except OSError:
            continue
        if 'agent_runs_total{outcome="success"}' in body and 'outcome="success"} 0.0' not in body:
            break
    stop.set()
    stats = await asyncio.wait_for(task, 10)
    assert stats.runs.get("success", 0) > 0
    assert "agent_tokens_total" in body and "agent_control_version" in body


async def _fleet_running(settings, agents: int, seed: int):
    fleet = Fleet(
        settings, agents, "steady", time_scale=0.02, registry=CollectorRegistry(), seed=seed
    )
    stop = asyncio.Event()
    task = asyncio.create_task(fleet.run(stop, out=None))
    for _ in range(1500):
        if fleet.runtime is not None and fleet.runtime.active_runs >= agents // 2:
            break
        await asyncio.sleep(0.02)
    return fleet, stop, task


async def _settled(count, quiet: float = 1.0, bound: float = 60.0) -> int:
    """``count()`` once it has not moved for ``quiet`` seconds (calls in flight ended)."""
    loop = asyncio.get_running_loop()
    value, since, deadline = count(), loop.time(), loop.time() + bound
    while loop.time() - since < quiet and loop.time() < deadline:
        await asyncio.sleep(0.05)
        if count() != value:
            value, since = count(), loop.time()
    return value


def _tenant_runs(fleet, tenant: str) -> list:
    return [r for r in fleet.runtime._runs.values() if r.tenant == tenant]


async def test_fleet_obeys_a_tenant_drain_and_a_pause(plane, settings):
    """Drained: the tenant's simulated agents start nothing new (their runs are refused) and
    the others go on; paused: every run holds, and runs again once resumed."""
    fleet, stop, task = await _fleet_running(settings, 10, seed=3)
    try:
        await plane.holds.hold("drain", tenant="acme", reason="test")
        for _ in range(1500):  # the runs going finish; none of acme starts again
            if not _tenant_runs(fleet, "acme") and fleet.stats.refused:
                break
            await asyncio.sleep(0.02)
        assert not _tenant_runs(fleet, "acme") and fleet.stats.refused >= 1
        others = fleet.stats.runs.get("success", 0)
        for _ in range(1500):  # the other tenants run on
            if fleet.stats.runs.get("success", 0) > others:
                break
            await asyncio.sleep(0.02)
        assert fleet.stats.runs.get("success", 0) > others

        await plane.holds.hold("pause", everything=True, reason="freeze")
        assert await fleet.runtime.wait_for_version(await plane.version(), 30)
        calls = fleet.stats.llm_calls
        for _ in range(1500):  # each run holds at its next step (a call in flight ends first)
            if all(r.record.status == "paused" for r in fleet.runtime._runs.values()):
                break
            await asyncio.sleep(0.02)
        assert all(r.record.status == "paused" for r in fleet.runtime._runs.values())
        # a run shows paused as soon as the pause reaches it; a model call it had in flight
        # still ends (and is counted then): wait until those have ended
        held = await _settled(lambda: fleet.stats.llm_calls)
        assert held <= calls + fleet.runtime.active_runs  # at most one call in flight per run
        await asyncio.sleep(0.5)
        assert fleet.stats.llm_calls == held  # nobody calls the model while paused

        await plane.holds.lift("pause", "all")
        for _ in range(1500):
            if fleet.stats.llm_calls > held:
                break
            await asyncio.sleep(0.02)
        assert fleet.stats.llm_calls > held
        assert not _tenant_runs(fleet, "acme")  # still drained
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
