"""The rollout controller end to end: the simulator's agents, a real Prometheus scraping them,
the controller judging plans on the control plane in the test Redis.

One fleet and one Prometheus serve the whole module (each test its own flag); holds are a
couple of seconds and the guards' minimum runs small, so a plan walks its steps in seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from agentconsole.config import PrometheusSettings, Settings
from agentconsole.control import ControlPlane, Operator
from agentconsole.control.controller import Controller, read_status
from agentconsole.control.rollouts import Plan, Rollouts, parse_guard
from agentconsole.metrics.client import PromQL
from agentconsole.metrics.guards import GuardEvaluator
from tests.fixtures.procs import free_port

# Flags every simulated run asks, and the bug each canary brings (share of canary runs failing)
BUGS = {
    "healthy": 0.0,
    "regressing": 0.4,
    "starved": 0.0,
    "held": 0.0,
    "by-hand": 0.0,
    "leased": 0.0,
    "surprise": 0.0,
    "lease-lost": 0.0,
}
PREFIX = "rollouts-e2e"
# The lease test's lease: long enough that a holder starved by a busy machine still renews
# it (renewed every third), short enough that the standby takes over soon after the kill.
LEASE = 5.0


@dataclass
class World:
    settings: Settings
    prometheus_url: str


@pytest.fixture(scope="module")
def world(redis_server, tmp_path_factory) -> Iterator[World]:
    from prometheus_client import CollectorRegistry

    from agentconsole.sim.fleet import Fleet
    from tests.fixtures.prometheus import start_prometheus

    settings = Settings()
    settings.redis.url = redis_server.url
    settings.redis.prefix = PREFIX
    settings.operator.name, settings.operator.role = "alice", "admin"
    port = free_port()
    fleet = Fleet(
        settings, 30, time_scale=0.05, seed=11, registry=CollectorRegistry(), canary_bugs=BUGS
    )
    ready = threading.Event()
    box: dict[str, Any] = {}

    def serve() -> None:
        async def main() -> None:
            box["loop"], box["stop"] = asyncio.get_running_loop(), asyncio.Event()
            ready.set()
            await fleet.run(box["stop"], metrics_port=port, out=None)

        asyncio.run(main())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    ready.wait(10)
    try:
        with start_prometheus(tmp_path_factory.mktemp("rollouts"), [f"127.0.0.1:{port}"]) as prom:
            prom.wait_for("count_over_time(agent_runs_total[5s]) >= 5")
            settings.prometheus.url = prom.url
            yield World(settings, prom.url)
    finally:
        box["loop"].call_soon_threadsafe(box["stop"].set)
        thread.join(30)


@pytest.fixture
async def plane(world) -> Any:
    cp = ControlPlane.from_settings(world.settings)
    await cp.check_schema()
    yield cp
    await cp.close()


@pytest.fixture
async def make_controller(world) -> Any:
    made: list[tuple[ControlPlane, Controller]] = []

    async def make(url: str | None = None, **options: Any) -> Controller:
        cp = ControlPlane.from_settings(world.settings, Operator("rollout-controller", "responder"))
        promql = PromQL(PrometheusSettings(url=url or world.prometheus_url, timeout=3))
        options.setdefault("min_window", 3)
        options.setdefault("interval", 0.5)
        options.setdefault("lease_seconds", 1.5)
        controller = Controller(cp, GuardEvaluator(promql, 3), **options)
        made.append((cp, controller))
        return controller

    yield make
    for cp, controller in made:
        with contextlib.suppress(Exception):
            await controller.lease.release()
        await cp.close()


def _plan(steps: str = "20,50,100", **kw: Any) -> Plan:
    from agentconsole.control.rollouts import parse_steps

    kw.setdefault("guards", [parse_guard("error_rate:+3pt")])
    return Plan(
        steps_bp=parse_steps(steps),
        hold_seconds=kw.pop("hold", 2.0),
        min_runs=kw.pop("min_runs", 20),
        window_seconds=kw.pop("window", 10.0),
        **kw,
    )


async def _start(plane: ControlPlane, name: str, plan: Plan) -> None:
    with contextlib.suppress(Exception):
        await plane.flags.create(name, enabled=False, rollout=0)
    await Rollouts(plane).create(name, plan, reason="test")
    await Rollouts(plane).start(name, reason="test")


async def _until(controller: Controller, plane, name: str, states: set[str], timeout=120.0):
    """Judge the plan every half second until it reaches one of ``states``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await controller.lease.keep()
        flag, plan = await Rollouts(plane).get(name)
        if plan.state in states:
            return flag, plan
        if plan.state == "running":
            with contextlib.suppress(Exception):
                await controller.evaluate(flag, plan)
        await asyncio.sleep(0.5)
    flag, plan = await Rollouts(plane).get(name)
    raise AssertionError(f"{name} stayed {plan.state} at step {plan.step}: {plan.history[-1]}")


async def _entries(plane, name: str) -> list[Any]:
    return [e for e in await plane.audit.tail(500) if e.target == name]


async def test_a_healthy_canary_advances_step_by_step_to_100(plane, make_controller):
    controller = await make_controller()
    await _start(plane, "healthy", _plan())
    flag, plan = await _until(controller, plane, "healthy", {"completed", "rolled_back"})
    assert plan.state == "completed" and flag.rollout_bp == 10000
    moves = [e for e in await _entries(plane, "healthy") if e.action == "rollout.advance"]
    assert [e.after["rollout_bp"] for e in moves] == [5000, 10000]
    for entry in moves:
        assert entry.actor == "rollout-controller"
        evidence = entry.after["plan"]["evidence"]
        guard = evidence["guards"][0]
        assert guard["verdict"] == "pass" and guard["canary_runs"] >= 20
        assert 'agent_flag_runs_total{flag="healthy"}' in guard["promql"]["runs"]
        assert "hold of 2 s passed" in entry.reason


async def test_a_regressing_canary_is_rolled_back_with_the_evidence(plane, make_controller):
    controller = await make_controller()
    await _start(plane, "regressing", _plan("20,100", hold=600))
    flag, plan = await _until(controller, plane, "regressing", {"rolled_back", "completed"})
    assert plan.state == "rolled_back" and flag.rollout_bp == 0
    entry = next(e for e in await _entries(plane, "regressing") if e.action == "rollout.rollback")
    assert entry.actor == "rollout-controller"
    assert entry.reason.startswith("regressing rolled back from 20% to 0%: error rate canary")
    guard = entry.after["plan"]["evidence"]["guards"][0]
    assert guard["verdict"] == "fail" and guard["canary"] > guard["control"] + 0.03
    assert guard["canary_runs"] >= 20 and guard["control_runs"] >= 20
    assert guard["z"] > 1.64 and 'outcome="failure"' in guard["promql"]["failures"]


async def test_too_little_traffic_waits_and_says_so(plane, make_controller):
    controller = await make_controller()
    await _start(plane, "starved", _plan(min_runs=10**7, hold=0.1))
    await controller.lease.keep()
    await asyncio.sleep(0.5)
    flag, plan = await Rollouts(plane).get("starved")
    decision = await controller.evaluate(flag, plan)
    assert decision.action == "wait" and "waiting for runs" in decision.message
    flag, plan = await Rollouts(plane).get("starved")
    assert plan.state == "running" and plan.step == 0 and flag.rollout_bp == 2000
    status = (await read_status(plane))["starved"]
    assert status["action"] == "wait" and "10,000,000 needed on each side" in status["message"]
    await Rollouts(plane).abort("starved", reason="done")


async def test_prometheus_down_holds_the_plan_and_says_why(plane, make_controller):
    controller = await make_controller(url=f"http://127.0.0.1:{free_port()}")
    await _start(plane, "held", _plan(hold=0.1))
    await asyncio.sleep(0.3)
    for _ in range(2):
        flag, plan = await Rollouts(plane).get("held")
        decision = await controller.evaluate(flag, plan)
        assert decision.action == "hold" and "Prometheus: cannot connect" in decision.message
    flag, plan = await Rollouts(plane).get("held")
    assert plan.state == "running" and plan.step == 0 and flag.rollout_bp == 2000
    await Rollouts(plane).abort("held", reason="done")


async def test_a_manual_change_pauses_the_plan_instead_of_fighting_it(plane, make_controller):
    controller = await make_controller()
    await _start(plane, "by-hand", _plan(hold=0.1))
    await plane.flags.set_rollout("by-hand", 35, reason="I know better")
    assert await controller.lease.keep()
    flag, plan = await Rollouts(plane).get("by-hand")
    decision = await controller.evaluate(flag, plan)
    assert decision.action == "pause"
    flag, plan = await Rollouts(plane).get("by-hand")
    assert plan.state == "paused" and flag.rollout_bp == 3500  # the operator's value stays
    entry = (await _entries(plane, "by-hand"))[-1]
    assert entry.action == "rollout.pause" and entry.actor == "rollout-controller"
    assert "alice set the rollout to 35% by hand" in entry.reason
    # and a paused plan is left alone
    assert [d for d in await controller.evaluate_all() if d.flag == "by-hand"] == []
    await Rollouts(plane).abort("by-hand", reason="done")


def _controller_process(world: World, tmp: Path) -> subprocess.Popen:
    config = {
        "redis": {"url": world.settings.redis.url, "prefix": PREFIX},
        "prometheus": {"url": world.prometheus_url, "timeout": 3},
        "operator": {"name": "ops", "role": "responder"},
        "rollouts": {"interval_seconds": 0.5, "lease_seconds": LEASE, "min_window_seconds": 3},
    }
    path = tmp / "controller.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTCONSOLE_")}
    env["AGENTCONSOLE_CONFIG"] = str(path)
    return subprocess.Popen(
        [sys.executable, "-m", "agentconsole", "rollouts", "run"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


async def test_two_controllers_never_both_act_and_a_dead_holder_is_replaced(
    plane, make_controller, world, tmp_path
):
    proc = _controller_process(world, tmp_path)
    standby = await make_controller(lease_seconds=LEASE)
    stop = asyncio.Event()
    task = None
    try:

        async def holder() -> str | None:
            return (await standby.lease.current_holder())[0]

        deadline = time.monotonic() + 90
        while (await holder() or "").split(":")[1:2] != [str(proc.pid)]:
            assert time.monotonic() < deadline and proc.poll() is None, "no lease taken"
            await asyncio.sleep(0.1)
        task = asyncio.create_task(standby.run(stop))
        await _start(plane, "leased", _plan("10,20,30,40,100", hold=1.0))
        # while the first holds the lease, the standby never acts
        moved: list[Any] = []
        deadline = time.monotonic() + 120
        while len(moved) < 2:
            assert time.monotonic() < deadline, "the plan did not move under the first holder"
            assert not standby.lease.held
            moved = [e for e in await _entries(plane, "leased") if e.action == "rollout.advance"]
            await asyncio.sleep(0.2)
        first = {e.after["plan"]["evidence"]["holder"] for e in moved}
        assert first == {await holder()}
        proc.send_signal(signal.SIGKILL)  # dies without handing over
        proc.wait(10)
        flag, _plan_done = await _wait_plan(plane, "leased", {"completed"}, 120)
        assert standby.lease.held and flag.rollout_bp == 10000
        moves = [e for e in await _entries(plane, "leased") if e.action == "rollout.advance"]
        holders = [e.after["plan"]["evidence"]["holder"] for e in moves]
        assert holders[-1] == standby.lease.holder and holders[0] in first
        # each step was taken exactly once, by one controller
        assert [e.after["rollout_bp"] for e in moves] == [2000, 3000, 4000, 10000]
    finally:
        stop.set()
        if task is not None:
            await task
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


async def _wait_plan(plane, name: str, states: set[str], timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        flag, plan = await Rollouts(plane).get(name)
        if plan.state in states:
            return flag, plan
        await asyncio.sleep(0.2)
    raise AssertionError(f"{name} stayed {plan.state} at step {plan.step}")


async def test_a_surprise_in_one_plan_holds_it_and_the_controller_goes_on(plane, world):
    class Broken:
        async def evaluate(self, flag, plan, window, at):
            raise ValueError("math domain error")

    cp = ControlPlane.from_settings(world.settings, Operator("rollout-controller", "responder"))
    controller = Controller(cp, Broken(), lease_seconds=1.5)
    try:
        await _start(plane, "surprise", _plan(hold=0.1))
        assert await controller.lease.keep()
        decisions = {d.flag: d for d in await controller.evaluate_all()}
        assert decisions["surprise"].action == "failed"
        assert "holding: unexpected ValueError: math domain error" in decisions["surprise"].message
        _flag, plan = await Rollouts(plane).get("surprise")
        assert plan.state == "running" and plan.step == 0
        await Rollouts(plane).abort("surprise", reason="done")
    finally:
        await controller.lease.release()
        await cp.close()


async def test_redis_lost_means_not_acting_and_the_lease_comes_back(world):
    """Redis unreachable: the holder cannot renew, says so, stops acting, keeps running;
    once Redis answers again it takes the lease back."""
    from dataclasses import replace

    from tests.fixtures.tcp_proxy import tcp_proxy

    port = int(world.settings.redis.url.rsplit(":", 1)[1].split("/")[0])
    with tcp_proxy(port) as proxy:
        settings = replace(world.settings, redis=replace(world.settings.redis, url=proxy.url()))
        settings.redis.connect_timeout = settings.redis.socket_timeout = 0.5
        cp = ControlPlane.from_settings(settings, Operator("rollout-controller", "responder"))
        said: list[str] = []
        promql = PromQL(PrometheusSettings(url=world.prometheus_url, timeout=3))
        controller = Controller(
            cp, GuardEvaluator(promql, 3), interval=0.3, lease_seconds=1.0, say=said.append
        )
        stop = asyncio.Event()
        task = asyncio.create_task(controller.run(stop))
        try:
            await _wait(lambda: controller.lease.held, "the lease")
            proxy.refuse()
            proxy.drop()
            await _wait(lambda: any("lost the lease" in s for s in said), "the loss said")
            assert not controller.lease.held and not task.done()
            proxy.accept()
            await _wait(lambda: controller.lease.held, "the lease again")
            assert sum("holding the lease" in s for s in said) >= 2
        finally:
            stop.set()
            await task
            await cp.close()


async def _wait(condition, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"waited for {what}"
        await asyncio.sleep(0.1)


async def test_an_unreadable_plan_is_left_alone_and_said(plane, make_controller):
    import json as _json

    await plane.flags.create("garbled")
    raw = _json.loads(await plane.redis.hget(plane.keys.flags, "garbled"))
    raw["plan"] = {"steps_bp": "not a list", "state": "running"}
    await plane.redis.hset(plane.keys.flags, "garbled", _json.dumps(raw))
    said: list[str] = []
    controller = await make_controller(say=said.append)
    assert await controller.lease.keep()
    decisions = await controller.evaluate_all()
    assert "garbled" not in {d.flag for d in decisions}
    assert any(s.startswith("unreadable: flag garbled: rollout plan is malformed") for s in said)
    await controller.evaluate_all()
    assert sum("garbled" in s for s in said) == 1  # said once, not every interval
    await plane.redis.hdel(plane.keys.flags, "garbled")


async def test_a_controller_that_lost_its_lease_while_judging_does_not_act(plane, make_controller):
    """The lease is checked again after the slow part (Prometheus) and before any write."""
    controller = await make_controller()
    await _start(plane, "lease-lost", _plan(hold=0.1))
    await plane.flags.set_rollout("lease-lost", 35, reason="I know better")
    assert not controller.lease.held  # never taken
    flag, plan = await Rollouts(plane).get("lease-lost")
    decision = await controller.evaluate(flag, plan)
    assert decision.action == "hold" and "lost the lease" in decision.message
    assert (await Rollouts(plane).get("lease-lost"))[1].state == "running"  # nothing written
    await Rollouts(plane).abort("lease-lost", reason="done")
