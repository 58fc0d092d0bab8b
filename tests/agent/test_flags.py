import pytest
from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode

from agentconsole.agent import AgentConsoleProvider, NewRunsRefused
from tests.fixtures.procs import free_port


async def test_flags_follow_the_control_plane_with_its_bucketing(plane, runtime):
    assert runtime.flags.enabled("planner-v2", key="u1", default=True)  # unknown: default
    flag = await plane.flags.create("planner-v2", enabled=True, rollout=50)
    await runtime.wait_for_version(await plane.version())
    users = [f"user-{i}" for i in range(200)]
    assert [runtime.flags.enabled("planner-v2", key=u) for u in users] == [
        flag.evaluate(u) for u in users
    ]
    assert 60 < sum(runtime.flags.enabled("planner-v2", key=u) for u in users) < 140
    await plane.flags.disable("planner-v2")
    await runtime.wait_for_version(await plane.version())
    assert not any(runtime.flags.enabled("planner-v2", key=u) for u in users)


async def test_run_flag_uses_the_flags_stickiness(plane, runtime):
    await plane.flags.create("tenant-gate", enabled=True, rollout=0, stickiness="tenant")
    await plane.flags.update("tenant-gate", allow=["acme"])
    await runtime.wait_for_version(await plane.version())
    async with runtime.run(task="t", user="someone", tenant="acme") as run:
        assert run.flag("tenant-gate")
    async with runtime.run(task="t", user="acme", tenant="other") as run:
        assert not run.flag("tenant-gate")


async def test_no_snapshot_means_declared_defaults_and_safe_mode(settings, make_runtime):
    settings.redis.url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    settings.redis.connect_timeout = 0.2
    rt = await make_runtime(settings=settings, stale_limit=0.0, first_sync_timeout=0.5)
    assert rt.snapshot is None and not rt.connected
    assert rt.flags.enabled("anything", key="u", default=True) is True
    assert rt.flags.enabled("anything", key="u") is False
    with pytest.raises(NewRunsRefused):
        async with rt.run(task="t"):
            pass


async def test_safe_mode_engages_kill_switches(plane, make_runtime):
    rt = await make_runtime(stale_limit=3600, safe_mode_new_runs="allow")
    await plane.flags.create("tools", type="kill-switch", enabled=True)
    await rt.wait_for_version(await plane.version())
    assert rt.flags.enabled("tools")
    rt.stale_limit = 0.0  # as if the snapshot had aged past the limit
    assert rt.safe_mode and not rt.flags.enabled("tools")
    async with rt.run(task="allowed in safe mode by option"):
        pass


async def test_openfeature_provider(plane, runtime):
    await plane.flags.create("summaries", enabled=True, rollout=100)
    await plane.flags.create("beta", enabled=True, rollout=0, stickiness="tenant")
    await plane.flags.update("beta", allow=["acme"])
    await runtime.wait_for_version(await plane.version())
    api.set_provider(AgentConsoleProvider(runtime), domain="sdk-test")
    client = api.get_client("sdk-test")
    try:
        assert client.get_boolean_value("summaries", False, EvaluationContext("u1"))
        ctx = EvaluationContext("u1", {"tenant": "acme"})
        assert client.get_boolean_value("beta", False, ctx)
        assert not client.get_boolean_value("beta", False, EvaluationContext("u1"))
        details = client.get_boolean_details("missing", True)
        assert details.value is True and details.error_code == ErrorCode.FLAG_NOT_FOUND
        wrong = client.get_string_details("summaries", "x")
        assert wrong.value == "x" and wrong.error_code == ErrorCode.TYPE_MISMATCH
    finally:
        api.clear_providers()
