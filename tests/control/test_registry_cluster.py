"""The registry on a real 3-master Redis Cluster: spread over every master, same answers.

The control state keeps its single hash tag (one slot, atomic changes); the registry's
partitions have tags of their own, so the cluster spreads 10,000 agents over its masters.
Every operator read and action must answer exactly as on one redis-server.
"""

from __future__ import annotations

import asyncio
import time

import pytest
import redis

from agentconsole.control.registry import AgentRecord

N = 10_000


def fleet() -> list[AgentRecord]:
    return [
        AgentRecord(
            id=f"c{i:05d}",
            task="t",
            user=f"u{i % 97}",
            tenant=f"t{i // 250:02d}",
            cost=(i * 7919 % 10_000) / 100,
            tokens_in=i * 104729 % 50_000,
            applied_version=i % 2,
        )
        for i in range(N)
    ]


async def fill(plane, records: list[AgentRecord]) -> None:
    for start in range(0, len(records), 2000):
        await plane.agents.write_many(records[start : start + 2000])


@pytest.fixture
async def both(plane, cluster_plane):
    """The same fleet in one redis-server and in the cluster."""
    for p in (plane, cluster_plane):
        await p.flags.create("f1")  # control-plane version 1 on both
        await fill(p, fleet())
    return plane, cluster_plane


def _slot_owner(ports: list[int]) -> dict[int, int]:
    with redis.Redis(port=ports[0]) as r:
        owners = {}
        for start, end, master, *_ in r.execute_command("CLUSTER", "SLOTS"):
            for slot in range(start, end + 1):
                owners[slot] = int(master[1])
        return owners


async def test_the_registry_spreads_over_all_three_masters(both, redis_cluster):
    _, cluster = both
    owners = _slot_owner(redis_cluster)
    per_master = dict.fromkeys(redis_cluster, 0)
    with redis.Redis(port=redis_cluster[0]) as r:
        control_slot = r.cluster("keyslot", cluster.keys.flags)
    for part in cluster.keys.all_partitions():
        port = owners[int(redis.Redis(port=redis_cluster[0]).cluster("keyslot", part.tag))]
        with redis.Redis(port=port) as node:
            slot = node.cluster("keyslot", part.by_heartbeat)
            keys_here = node.cluster("countkeysinslot", slot)
            assert keys_here > 0
            per_master[port] += int(node.zcard(part.by_heartbeat))
    assert sum(per_master.values()) == N
    assert all(count > N // 10 for count in per_master.values()), per_master
    for port in redis_cluster:
        with redis.Redis(port=port) as node:
            assert node.dbsize() > 0
    # the control state stays in one slot, so each change is one atomic script
    for key in (cluster.keys.kills, cluster.keys.audit, cluster.keys.version):
        with redis.Redis(port=redis_cluster[0]) as r:
            assert r.cluster("keyslot", key) == control_slot


async def test_every_read_answers_as_on_one_node(both):
    single, cluster = both

    async def reads(p) -> list[object]:
        return [
            await p.agents.count(),
            await p.agents.applied_counts(),
            await p.agents.status_counts(),
            [a.id for a in await p.agents.list(order="cost", limit=50)],
            [a.id for a in await p.agents.list(order="tokens", limit=50)],
            sorted(a.id for a in await p.agents.list(tenant="t07", limit=1000)),
            sorted(a.id for a in await p.agents.list(status="running", limit=N)),
            (await p.agents.get("c01234")).tenant,
            sorted(await p.kills.affected_ids("tenant:t03")),
            len(await p.kills.affected_ids("all")),
            *await pages(p),
        ]

    async def pages(p) -> list[object]:  # the Agents view's pages: first, next, last, back
        first = await p.agents.page("cost", 500)
        last = await p.agents.page("cost", 500, where="last")
        return [
            first,
            await p.agents.page("cost", 500, where="at", cut=first.next_start),
            last,
            await p.agents.page("cost", 500, where="before", cut=last.start),
            await p.agents.page("tokens", 100, tenant="t07", where="last"),
        ]

    assert await reads(single) == await reads(cluster)


async def test_every_operator_action_answers_as_on_one_node(both):
    single, cluster = both

    async def actions(p) -> list[object]:
        out: list[object] = []
        records = {r.id: r for r in await p.agents.get_many([f"c{i:05d}" for i in range(500)])}
        one = await p.kills.kill(agent="c00007", reason="x")
        tenant = await p.kills.kill(tenant="t01", reason="x")
        out += [sorted(one.agents), sorted(tenant.agents)]
        since = time.time()
        acked = [records[i] for i in sorted(tenant.agents)[:200]]
        for rec in acked:
            rec.status, rec.kill_id, rec.kill_ack_at = "killed", tenant.kill["id"], time.time()
        await p.agents.write_many(acked)
        report = await p.kills.wait_for_acks(
            tenant.agents, since, timeout=0.2, kill_ids=[tenant.kill["id"]]
        )
        out += [sorted(report.acknowledged), report.missing]
        again = await p.kills.kill(tenant="t01", reason="again")
        out += [again.created, sorted(again.agents)]
        stop = await p.kills.kill(everything=True, reason="x")
        out.append(len(stop.agents))
        out.append(sorted((await p.kills.list())[0]))
        for target in ("all", "tenant:t01", "agent:c00007"):
            await p.kills.lift(target, reason="x")
        await p.flags.enable("f1", reason="x")
        await p.breakers.trip("llm", reason="x")
        out.append(await p.agents.applied_counts())
        await p.agents.write_many(list(records.values())[:100], at=time.time() - 7200)
        out.append(await p.agents.reap(reason="x"))
        out.append(await p.agents.count())
        out.append([(e.action, e.target) for e in await p.audit.tail(12)])
        return out

    assert await actions(single) == await actions(cluster)


async def test_sdk_kills_and_flags_propagate_on_the_cluster(cluster_settings, cluster_plane):
    from prometheus_client import CollectorRegistry

    from agentconsole.agent import AgentKilled, AgentRuntime

    await cluster_plane.flags.create("beta")
    runtime = AgentRuntime(cluster_settings, registry=CollectorRegistry(), heartbeat_interval=0.2)
    await runtime.start()
    started = asyncio.Event()
    runs: list = []

    async def agent(tenant: str) -> None:
        async with runtime.run(task="t", tenant=tenant) as run:
            runs.append(run)
            if len(runs) == 20:
                started.set()
            await asyncio.Event().wait()

    tasks = [asyncio.create_task(agent(f"t{i % 2}")) for i in range(20)]
    try:
        await asyncio.wait_for(started.wait(), 30)
        await cluster_plane.flags.enable("beta", reason="on")
        version = await cluster_plane.version()
        assert await runtime.wait_for_version(version, timeout=30)
        assert all(run.flag("beta") for run in runs)
        spread = {cluster_plane.keys.partition_of(r.id) for r in runs}
        assert len(spread) > 3  # the runs' records sit in several partitions
        since = time.time()
        outcome = await cluster_plane.kills.kill(tenant="t0", reason="cluster")
        killed = [t for i, t in enumerate(tasks) if i % 2 == 0]
        for task in killed:
            with pytest.raises(AgentKilled):
                await asyncio.wait_for(task, 30)
        # out of their async with, so acknowledged already (not by a later heartbeat)
        acked = await cluster_plane.agents.acknowledged(outcome.kill["id"])
        assert set(acked) == {r.id for i, r in enumerate(runs) if r.tenant == "t0"}
        report = await cluster_plane.kills.wait_for_acks(
            outcome.agents, since - 1, timeout=30, kill_ids=[outcome.kill["id"]]
        )
        assert len(report.acknowledged) == 10 and not report.missing
        assert all(not t.done() for i, t in enumerate(tasks) if i % 2)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await runtime.close()
