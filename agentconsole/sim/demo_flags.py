"""The demo's flags, created once when the demo's control plane is empty.

``model-tier`` is the cost-explosion story's lever: its ``standard`` variant keeps each
tenant on its contracted model (no payload: the caller's default), ``cheap`` serves
``gpt-4o-mini`` ($0.15 / $0.60 per million input / output tokens in the simulator's price
table, against $15 / $75 for the ``claude-opus`` a surging globex uses). Moving one tenant
is one override: ``tenant move globex model-tier cheap`` (console: the tenant's row).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agentconsole.control.errors import AlreadyExists
from agentconsole.control.variants import Variant

if TYPE_CHECKING:
    from agentconsole.config import Settings
    from agentconsole.control.plane import ControlPlane

MODEL_TIER = "model-tier"
CHEAP_MODEL = "gpt-4o-mini"


async def seed(plane: ControlPlane) -> list[str]:
    """Create the demo flags that do not exist yet; the names created."""
    created = []
    try:
        await plane.flags.create(
            MODEL_TIER,
            type="operational",
            enabled=True,
            stickiness="tenant",
            value_type="string",
            variants=(Variant("standard", 100), Variant("cheap", 0, CHEAP_MODEL)),
            description=(
                "LLM model per tenant: standard = the tenant's contracted model, "
                f"cheap = {CHEAP_MODEL} ($0.15/$0.60 per 1M tokens)"
            ),
            reason="demo setup",
        )
        await plane.flags.update(MODEL_TIER, tracked=True, reason="demo: compare variants")
        created.append(MODEL_TIER)
    except AlreadyExists:
        pass
    return created


def seed_sync(settings: Settings) -> list[str]:
    """For the demo's (synchronous) orchestration: its own loop, in a thread of its own."""
    import asyncio
    import concurrent.futures

    from agentconsole.control.plane import ControlPlane
    from agentconsole.control.roles import Operator

    async def go() -> list[str]:
        plane = ControlPlane.from_settings(settings, Operator("demo-setup", "admin"))
        try:
            await plane.check_schema()
            return await seed(plane)
        finally:
            await plane.close()

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, go()).result(timeout=30)
