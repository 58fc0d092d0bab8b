"""Redis failures under the CLI, the control plane and SDK agents: real processes, real faults.

A change issued while Redis is down fails with a clear error and is never silently
dropped or applied later. One issued after recovery takes effect, and no change is ever
applied twice, even when the reply to an applied change is lost in the network.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from agentconsole.control import ControlPlane, Unavailable
from agentconsole.control.plane import translate
from tests.fixtures.redis import settings_for
from tests.fixtures.tcp_proxy import tcp_proxy


def _settings(url: str, prefix: str = "fault", **redis_options):
    return settings_for(url, prefix, connect_timeout=0.5, **redis_options)


async def _actions(plane: ControlPlane) -> list[str]:
    return [e.action for e in await plane.audit.tail(100)]


async def test_change_during_outage_fails_clearly_then_applies_once(durable_redis):
    plane = ControlPlane.from_settings(_settings(durable_redis.url))
    try:
        await plane.check_schema()
        await plane.flags.create("f")
        durable_redis.kill()
        for change in (
            lambda: plane.flags.enable("f"),
            lambda: plane.kills.kill(everything=True, reason="outage"),
        ):
            with pytest.raises(Exception) as info:  # fails (30 s only guards a hang)
                await asyncio.wait_for(change(), 30)
            err = translate(info.value)
            assert isinstance(err, Unavailable) and "Redis unreachable" in str(err)
        durable_redis.start()
        # the same client recovers on its own: no restart of the console or CLI needed
        flag = await plane.flags.enable("f")
        outcome = await plane.kills.kill(everything=True, reason="after recovery")
        assert flag.enabled and outcome.created
        assert await _actions(plane) == ["flag.create", "flag.enable", "kill.all"]
        assert await plane.version() == 3
    finally:
        await plane.close()


def test_cli_during_outage_exits_3_then_works(durable_redis, monkeypatch, tmp_path, capsys):
    from agentconsole.cli.main import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    for var, value in {
        "AGENTCONSOLE_REDIS_URL": durable_redis.url,
        "AGENTCONSOLE_REDIS_PREFIX": "faultcli",
        "AGENTCONSOLE_ROLE": "responder",
        "AGENTCONSOLE_OPERATOR": "rita",
    }.items():
        monkeypatch.setenv(var, value)
    monkeypatch.delenv("AGENTCONSOLE_CONFIG", raising=False)
    assert main(["status"]) == 0
    durable_redis.kill()
    assert main(["agents", "kill", "--all", "--yes", "--reason", "outage"]) == 3
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Redis unreachable" in err
    durable_redis.start()
    assert main(["agents", "kill", "--all", "--yes", "--reason", "recovered"]) == 0
    assert main(["--json", "audit", "tail"]) == 0
    out = capsys.readouterr().out
    assert out.count('"kill.all"') == 1 and "recovered" in out and '"outage"' not in out


async def test_lost_reply_never_applies_a_change_twice(redis_server):
    """Exactly once: the reply is lost after Redis applied the change; the control plane asks
    again with the same change id and gets the first outcome, never a second change."""
    with tcp_proxy(redis_server.port) as proxy:
        prefix = f"lost{time.time_ns()}"
        plane = ControlPlane.from_settings(_settings(proxy.url(), prefix, socket_timeout=1.0))
        direct = ControlPlane.from_settings(_settings(redis_server.url, prefix))
        try:
            await plane.check_schema()
            await plane.flags.create("once")  # loads the script: the next EVALSHA is the change
            before = await direct.version()
            proxy.drop_next_reply(after=b"EVALSHA")
            flag = await plane.flags.enable("once", reason="lost reply")
            assert proxy.accepted >= 2 and not proxy._armed  # the fault really fired
            assert flag.enabled and (await direct.flags.get("once")).enabled
            assert plane.notes == [
                "the reply to flag.enable once was lost; asked Redis again with the same "
                f"change id: already applied as version {before + 1}"
            ]
            assert await direct.version() == before + 1
            assert (await _actions(direct)).count("flag.enable") == 1
            # The same for a kill: one kill, one audit entry, reported as created.
            proxy.drop_next_reply(after=b"EVALSHA")
            outcome = await plane.kills.kill(tenant="acme", reason="lost reply")
            assert outcome.created and outcome.kill["reason"] == "lost reply"
            assert (await _actions(direct)).count("kill.tenant") == 1
            # A new action is a new change id: asked twice on purpose, the kill is in force.
            again = await plane.kills.kill(tenant="acme", reason="retry")
            assert not again.created
        finally:
            await plane.close()
            await direct.close()


def test_cli_reports_success_after_a_lost_reply(redis_server, capsys, monkeypatch, tmp_path):
    """The CLI through a proxy that loses the reply after Redis applied the change: exit 0,
    one audit entry, and a note saying what happened."""
    from agentconsole.cli.main import main

    prefix = f"lostcli{time.time_ns()}"
    with tcp_proxy(redis_server.port) as proxy:
        for name, value in {
            "AGENTCONSOLE_REDIS_URL": proxy.url(),
            "AGENTCONSOLE_REDIS_PREFIX": prefix,
            "AGENTCONSOLE_OPERATOR": "alice",
            "AGENTCONSOLE_ROLE": "admin",
            "XDG_CONFIG_HOME": str(tmp_path),
        }.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("AGENTCONSOLE_CONFIG", raising=False)
        assert main(["flags", "create", "lost-cli"]) == 0  # loads apply_change
        capsys.readouterr()
        proxy.drop_next_reply(after=b"EVALSHA")
        assert main(["flags", "enable", "lost-cli", "--reason", "lost reply"]) == 0
        captured = capsys.readouterr()
        assert not proxy._armed
        assert "already applied as version 2" in captured.err
        assert "unreachable" not in captured.err.lower()
        monkeypatch.setenv("AGENTCONSOLE_REDIS_URL", redis_server.url)
        assert main(["--json", "audit", "tail"]) == 0
        assert capsys.readouterr().out.count('"flag.enable"') == 1


async def test_stalled_network_times_out_and_applies_nothing(redis_server):
    with tcp_proxy(redis_server.port) as proxy:
        prefix = f"stall{time.time_ns()}"
        plane = ControlPlane.from_settings(_settings(proxy.url(), prefix, socket_timeout=0.5))
        direct = ControlPlane.from_settings(_settings(redis_server.url, prefix))
        try:
            await plane.check_schema()
            name = "stalled"
            await plane.flags.create(name)
            proxy.stall()
            with pytest.raises(Exception) as info:  # by the socket timeout; 30 s guards a hang
                await asyncio.wait_for(plane.flags.enable(name), 30)
            assert isinstance(translate(info.value), Unavailable)
            proxy.drop()  # what was in flight is lost with the connections
            proxy.resume()
            assert not (await direct.flags.get(name)).enabled
            assert (await plane.flags.enable(name)).enabled  # recovers on the same client
        finally:
            await plane.close()
            await direct.close()


async def test_sdk_agent_survives_dropped_connections_and_acks_a_kill(redis_server):
    """Connections reset and refused while a kill is issued: the agent reconnects, obeys it
    from the durable kill record, and its acknowledgement reaches Redis."""
    pytest.importorskip("agentconsole.agent.runtime")
    from prometheus_client import CollectorRegistry

    from agentconsole.agent import AgentKilled, AgentRuntime

    with tcp_proxy(redis_server.port) as proxy:
        prefix = f"sdkfault{time.time_ns()}"
        settings = _settings(proxy.url(), prefix, socket_timeout=1.0)
        operator = ControlPlane.from_settings(_settings(redis_server.url, prefix))
        runtime = AgentRuntime(
            settings,
            registry=CollectorRegistry(),
            heartbeat_interval=0.2,
            report_interval=0.1,
            resync_interval=0.3,
        )
        await runtime.start()
        started = asyncio.Event()

        async def agent() -> None:
            async with runtime.run(task="long", tenant="acme"):
                started.set()
                await asyncio.Event().wait()  # works until killed

        task = asyncio.create_task(agent())
        try:
            await asyncio.wait_for(started.wait(), 30)
            (run_id,) = list(runtime._runs)
            proxy.refuse()
            proxy.drop()
            await operator.kills.kill(tenant="acme", reason="during the blip")
            assert not task.done()  # the kill is durable in Redis; the agent cannot hear it
            proxy.accept()
            with pytest.raises(AgentKilled):
                await asyncio.wait_for(task, 10)

            async def acked() -> bool:
                rec = await operator.agents.get(run_id)
                return rec is not None and rec.status == "killed" and rec.kill_ack_at > 0

            deadline = time.monotonic() + 10
            while not await acked():
                assert time.monotonic() < deadline, "the kill acknowledgement was lost"
                await asyncio.sleep(0.05)
            assert proxy.accepted >= 2  # it really reconnected through the proxy
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await runtime.close()
            await operator.close()
