import asyncio

from prometheus_client import CollectorRegistry

from agentconsole.sim import scenarios
from agentconsole.sim.fleet import Fleet, run_simulation


async def test_steady_fleet_runs_and_reports(plane, settings):
    lines: list[str] = []
    stats = await run_simulation(
        settings,
        agents=20,
        scenario="steady",
        seconds=1.0,
        summary_every=0.3,
        out=lines.append,
        registry=CollectorRegistry(),
        time_scale=0.02,
        seed=1,
        frameworks=False,  # framework agents first import their framework (seconds)
    )
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
    task = asyncio.create_task(fleet.run(stop, out=None))
    for _ in range(200):
        if fleet.runtime is not None and fleet.runtime.active_runs >= 5:
            break
        await asyncio.sleep(0.01)
    await plane.kills.kill(tenant="acme", reason="test")
    await asyncio.sleep(0.3)
    stop.set()
    stats = await asyncio.wait_for(task, 10)
    assert stats.runs.get("killed", 0) >= 1
    killed = registry.get_sample_value("agent_kills_total", {"scope": "tenant"})
    assert killed and killed >= 1


async def test_provider_outage_opens_the_breaker(settings):
    registry = CollectorRegistry()
    fleet = Fleet(settings, 20, "provider-outage", time_scale=0.02, registry=registry, seed=3)
    stats = await fleet.run(seconds=1.5, out=None)
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
    stats = await fleet.run(seconds=1.0, out=None)
    assert stats.runs.get("runaway", 0) > 0
    assert registry.get_sample_value("agent_runaway_total", {"limit": "steps"}) > 0

    registry = CollectorRegistry()
    fleet = Fleet(settings, 10, "cost-explosion", time_scale=0.02, registry=registry, seed=5)
    await fleet.run(seconds=1.0, out=None)
    hot = registry.get_sample_value(
        "agent_cost_usd_total", {"model": "claude-opus", "tenant": "globex"}
    )
    assert hot and hot > 0


async def test_story_cycles_through_every_scenario(settings):
    seen: list[str] = []
    fleet = Fleet(settings, 5, "story", time_scale=0.005, registry=CollectorRegistry(), seed=6)
    original = fleet.set_scenario

    def spy(name: str) -> None:
        seen.append(name)
        original(name)

    fleet.set_scenario = spy  # type: ignore[method-assign]
    await fleet.run(seconds=3.0, out=None)
    assert {name for name, _ in scenarios.STORY} <= set(seen)


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
        await asyncio.sleep(0.3)
        assert fleet.stats.runs.get("success", 0) > others  # the other tenants run on

        await plane.holds.hold("pause", everything=True, reason="freeze")
        assert await fleet.runtime.wait_for_version(await plane.version(), 30)
        calls = fleet.stats.llm_calls
        await asyncio.sleep(0.3)
        assert fleet.stats.llm_calls <= calls + fleet.runtime.active_runs  # a call in flight
        held = fleet.stats.llm_calls
        await asyncio.sleep(0.3)
        assert fleet.stats.llm_calls == held  # nobody calls the model while paused
        assert all(r.record.status == "paused" for r in fleet.runtime._runs.values())

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
