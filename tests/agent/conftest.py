"""Agent-SDK fixtures: runtimes on the test Redis, each with its own metrics registry."""

from __future__ import annotations

import pytest


@pytest.fixture
async def make_runtime(settings):
    """Factory for started runtimes (closed after the test)."""
    from prometheus_client import CollectorRegistry

    from agentconsole.agent import AgentRuntime

    made = []

    async def make(**options):
        options.setdefault("registry", CollectorRegistry())
        options.setdefault("heartbeat_interval", 0.2)
        options.setdefault("report_interval", 0.1)
        first_sync_timeout = options.pop("first_sync_timeout", 2.0)
        rt = AgentRuntime(options.pop("settings", settings), **options)
        made.append(rt)
        return await rt.start(first_sync_timeout)

    yield make
    for rt in made:
        await rt.close()


@pytest.fixture
async def runtime(make_runtime):
    return await make_runtime()


def sample(rt, name: str, **labels) -> float:
    value = rt.metrics.registry.get_sample_value(name, labels)
    return value or 0.0
