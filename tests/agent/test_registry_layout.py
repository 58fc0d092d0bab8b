"""An agent follows the registry's partition count stamped in Redis, whatever its config."""

from __future__ import annotations

import copy

from agentconsole.control import ControlPlane


async def test_an_agent_configured_otherwise_writes_where_the_console_reads(settings, make_runtime):
    settings.registry.partitions = 8
    console = ControlPlane.from_settings(settings)
    try:
        await console.check_schema()  # the admin stamps 8
        other = copy.deepcopy(settings)
        other.registry.partitions = 16
        runtime = await make_runtime(settings=other)
        assert runtime.plane.keys.partitions == 8
        async with runtime.run(task="t", tenant="acme") as run:
            await runtime.write_record(run.record)
            assert (await console.agents.get(run.id)).tenant == "acme"
    finally:
        await console.close()
