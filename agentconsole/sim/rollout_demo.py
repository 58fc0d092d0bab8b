"""The demo's rollout story: two flags under guarded plans, one controller judging them.

``summary-v3`` is a healthy canary and walks to 100 %; ``planner-v2``'s new code path fails
a share of the runs that get it (``fleet.CANARY_BUGS``), so the controller rolls it back to
0 % once its guard has the minimum runs, with the evidence in the audit log.
"""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agentconsole.config import Settings

# The plans as an operator would write them in YAML (docs/rollouts.md); hold in seconds.
DEMO_PLANS: dict[str, dict[str, Any]] = {
    "planner-v2": {
        "steps": "10,25,50,100",
        "hold": 45,
        "window": 120,
        "guards": ["error_rate:+2pt"],
        "min_runs": 60,
        "on_regression": "rollback",
    },
    "summary-v3": {
        "steps": "10,25,50,100",
        "hold": 45,
        "window": 120,
        "guards": ["error_rate:+2pt", "success_rate:-2pt"],
        "min_runs": 60,
        "on_regression": "rollback",
    },
}
DESCRIPTIONS = {
    "planner-v2": "the new planner (demo: its canary fails runs; watch it roll back)",
    "summary-v3": "the new summariser (demo: a healthy canary; watch it reach 100 %)",
}
CONTROLLER = {"interval_seconds": 5.0, "lease_seconds": 6.0, "min_window_seconds": 20.0}


async def _seed(settings: Settings, hold: float | None) -> None:
    from agentconsole.control import AlreadyExists, ControlPlane
    from agentconsole.control.rollouts import Rollouts, plan_from_spec

    plane = ControlPlane.from_settings(settings)
    try:
        await plane.check_schema()
        rollouts = Rollouts(plane)
        for name, spec in DEMO_PLANS.items():
            try:
                await plane.flags.create(
                    name, description=DESCRIPTIONS[name], rollout=0, reason="demo"
                )
            except AlreadyExists:
                continue  # a demo pointed at a Redis that has it already: leave it alone
            spec = {**spec, **({"hold": hold} if hold is not None else {})}
            _name, plan = plan_from_spec(spec, name)
            await rollouts.create(name, plan, reason="demo story")
            await rollouts.start(name, reason="demo story: start the canary")
    finally:
        await plane.close()


def seed(settings: Settings, hold: float | None = None) -> None:
    """Create and start the demo's plans (in a thread of its own: callers may run a loop)."""
    failure: list[BaseException] = []

    def go() -> None:
        try:
            asyncio.run(_seed(settings, hold))
        except BaseException as exc:  # re-raised in the caller's thread
            failure.append(exc)

    thread = threading.Thread(target=go, name="demo-rollouts")
    thread.start()
    thread.join(30)
    if failure:
        raise failure[0]
