"""Sentinel and Cluster URLs, end to end through the CLI and the control plane.

Small but real topologies: a master watched by one Sentinel, and a one-node Redis
Cluster that owns all 16384 slots. The control plane keeps every key under one hash tag,
so its multi-key scripts work on a cluster.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from agentconsole.cli.main import main
from agentconsole.sim.benchkit import cluster_args, cluster_port, redis_args
from tests.fixtures.events import first_event
from tests.fixtures.procs import free_port, port_open, require_binary, running, wait_until
from tests.fixtures.redis import RedisServer, start_redis


@pytest.fixture(scope="module")
def master() -> Iterator[RedisServer]:
    yield from start_redis()


@pytest.fixture(scope="module")
def sentinel(master: RedisServer, tmp_path_factory) -> Iterator[int]:
    port = free_port()
    conf = tmp_path_factory.mktemp("sentinel") / "sentinel.conf"
    conf.write_text(
        f"port {port}\nbind 127.0.0.1\n"
        f"sentinel monitor acmaster 127.0.0.1 {master.port} 1\n"
        "sentinel down-after-milliseconds acmaster 5000\n"
    )
    args = [require_binary("redis-server"), str(conf), "--sentinel"]
    with running(args, lambda: port_open(port), "redis sentinel"):
        yield port


@pytest.fixture(scope="module")
def cluster_node(tmp_path_factory) -> Iterator[int]:
    import redis

    port = cluster_port()
    workdir = tmp_path_factory.mktemp("cluster")
    args = redis_args(require_binary("redis-server"), port, *cluster_args(workdir))
    with running(args, lambda: port_open(port), "redis cluster node"):
        with redis.Redis(port=port) as r:
            r.execute_command("CLUSTER", "ADDSLOTSRANGE", 0, 16383)
            wait_until(lambda: r.cluster("info")["cluster_state"] == "ok", 10, "cluster ok")
        yield port


@pytest.fixture
def cli_env(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.delenv("AGENTCONSOLE_CONFIG", raising=False)
    monkeypatch.setenv("AGENTCONSOLE_ROLE", "admin")
    monkeypatch.setenv("AGENTCONSOLE_OPERATOR", "tom")

    def use(url: str, prefix: str) -> None:
        monkeypatch.setenv("AGENTCONSOLE_REDIS_URL", url)
        monkeypatch.setenv("AGENTCONSOLE_REDIS_PREFIX", prefix)

    return use


def _round_trip(capsys) -> str:
    assert main(["flags", "create", "topo", "--enabled", "--reason", "topology"]) == 0
    assert main(["agents", "kill", "--tenant", "acme", "--yes"]) == 0
    assert main(["budgets", "set", "request_tokens", "4100"]) == 0
    assert main(["status"]) == 0
    assert main(["--json", "audit", "tail"]) == 0
    assert main(["acl", "verify-audit"]) == 0
    return capsys.readouterr().out


def test_cli_through_sentinel(sentinel, cli_env, capsys):
    cli_env(f"redis+sentinel://127.0.0.1:{sentinel}/acmaster/0", "sent")
    out = _round_trip(capsys)
    assert '"flag.create"' in out and '"kill.tenant"' in out and "intact" in out


def test_cli_through_cluster(cluster_node, cli_env, capsys):
    cli_env(f"redis+cluster://127.0.0.1:{cluster_node}", "clu")
    out = _round_trip(capsys)
    assert '"flag.create"' in out and '"budget.set"' in out and "intact" in out


async def test_control_plane_and_events_through_cluster(cluster_node):
    """Registry pipeline, scripts and pub/sub change events on a cluster client."""
    from agentconsole.config import Settings
    from agentconsole.control import ControlPlane
    from agentconsole.control.connection import connect
    from agentconsole.control.registry import AgentRecord

    s = Settings()
    s.redis.url, s.redis.prefix = f"redis+cluster://127.0.0.1:{cluster_node}", "cluev"
    s.operator.name, s.operator.role = "tom", "admin"
    plane = ControlPlane.from_settings(s)
    listener = connect(s.redis, for_pubsub=True)
    try:
        await plane.check_schema()
        await plane.agents.register(AgentRecord(id="a1", task="t", tenant="acme"))
        assert [a.id for a in await plane.agents.list()] == ["a1"]
        event = await first_event(plane, listener, lambda: plane.flags.create("evt"))
        assert (event.entity, event.name) == ("flag", "evt")
        assert (await plane.audit.tail(1))[0].target == "evt"
    finally:
        await listener.aclose()
        await plane.close()


@pytest.mark.parametrize("topology", ["sentinel", "cluster"])
async def test_sdk_agent_obeys_a_kill(request, topology):
    """The SDK's snapshot, heartbeats, events and kill acknowledgement on each topology."""
    import asyncio
    import time

    from prometheus_client import CollectorRegistry

    from agentconsole.agent import AgentKilled, AgentRuntime
    from agentconsole.config import Settings
    from agentconsole.control import ControlPlane

    port = request.getfixturevalue("sentinel" if topology == "sentinel" else "cluster_node")
    url = (
        f"redis+sentinel://127.0.0.1:{port}/acmaster/0"
        if topology == "sentinel"
        else f"redis+cluster://127.0.0.1:{port}"
    )
    s = Settings()
    s.redis.url, s.redis.prefix = url, f"sdk{topology}"
    s.operator.name, s.operator.role = "tom", "responder"
    operator = ControlPlane.from_settings(s)
    runtime = AgentRuntime(s, registry=CollectorRegistry(), heartbeat_interval=0.2)
    await runtime.start()
    started = asyncio.Event()

    async def agent() -> None:
        async with runtime.run(task="t", tenant="acme"):
            started.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(agent())
    try:
        await asyncio.wait_for(started.wait(), 30)
        (run_id,) = list(runtime._runs)
        since = time.time()
        await operator.kills.kill(agent=run_id, reason=topology)
        with pytest.raises(AgentKilled):
            await asyncio.wait_for(task, 5)
        report = await operator.kills.wait_for_acks([run_id], since=since - 60, timeout=30)
        assert not report.missing
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await runtime.close()
        await operator.close()
