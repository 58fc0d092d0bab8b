"""Run metrics by flag variant: only for tracked flags and flags under a rollout plan."""

from __future__ import annotations

from agentconsole.agent.metrics import MAX_VARIANT_FLAGS, metrics_for
from agentconsole.control.rollouts import Guard, Plan, Rollouts
from tests.agent.conftest import sample


async def _runs(runtime, flag: str, users: list[str], fail: set[str] = frozenset()) -> None:
    for user in users:
        try:
            async with runtime.run(task="t", user=user) as run:
                run.flag(flag)
                run.flag(flag)  # asked twice: still one run
                if user in fail:
                    raise RuntimeError("the new planner broke")
        except RuntimeError:
            pass


async def test_runs_are_counted_by_the_variant_they_got(plane, runtime):
    await plane.flags.create("planner-v2")
    plan = Plan(steps_bp=[5000, 10000], guards=[Guard("error_rate", 0.01)])
    await Rollouts(plane).create("planner-v2", plan)
    await Rollouts(plane).start("planner-v2")
    await plane.flags.create("untracked", enabled=True, rollout=50)
    await runtime.wait_for_version(await plane.version())
    flag = runtime.flags.get("planner-v2")
    users = [f"user-{i}" for i in range(40)]
    on = [u for u in users if flag.evaluate(u)]
    failing = set(on[:3])
    await _runs(runtime, "planner-v2", users, failing)
    await _runs(runtime, "untracked", users)

    def runs(variant: str, outcome: str) -> float:
        return sample(
            runtime, "agent_flag_runs_total", flag="planner-v2", variant=variant, outcome=outcome
        )

    assert runs("on", "success") == len(on) - 3 and runs("on", "failure") == 3
    assert runs("off", "success") == len(users) - len(on) and runs("off", "failure") == 0
    assert runs("off", "killed") == 0  # every outcome exists from the first run at 0
    count = sample(
        runtime, "agent_flag_run_duration_seconds_count", flag="planner-v2", variant="on"
    )
    assert count == len(on)
    # an untracked flag adds no series at all
    assert (
        runtime.metrics.registry.get_sample_value(
            "agent_flag_runs_total", {"flag": "untracked", "variant": "on", "outcome": "success"}
        )
        is None
    )


async def test_tracked_flags_label_too_and_the_number_of_flags_is_capped(plane, runtime):
    await plane.flags.create("search-cache", enabled=True, rollout=100)
    await plane.flags.update("search-cache", tracked=True)
    await runtime.wait_for_version(await plane.version())
    await _runs(runtime, "search-cache", ["u1", "u2"])
    assert (
        sample(
            runtime, "agent_flag_runs_total", flag="search-cache", variant="on", outcome="success"
        )
        == 2
    )

    from prometheus_client import CollectorRegistry

    m = metrics_for(CollectorRegistry())
    for i in range(MAX_VARIANT_FLAGS + 5):
        m.flag_run(f"f{i}", True, "success", 0.1, 10, 0.01)
    assert len(m.variant_flags) == MAX_VARIANT_FLAGS
    assert (
        m.registry.get_sample_value(
            "agent_flag_runs_total",
            {"flag": f"f{MAX_VARIANT_FLAGS}", "variant": "on", "outcome": "success"},
        )
        is None
    )
