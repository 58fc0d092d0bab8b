"""When an agent needs an operator's attention: one rule for the console, the CLI and alerts."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agentconsole.control.budgets import Limits
    from agentconsole.control.registry import AgentRecord

NEAR_LIMIT = 0.8


def runaway_reasons(rec: AgentRecord, limits: Limits, now: float, dead_after: float) -> list[str]:
    """Why an agent needs attention: near or over a step, runtime or budget limit; silent.

    "Near" is NEAR_LIMIT of the step and runtime limits, as the AgentRunaway alert: the
    runaway guard stops a run at the limit itself, so an operator must see it coming.
    """
    reasons: list[str] = []
    if rec.status not in ("running", "paused", "draining", "killing"):
        return reasons
    if limits.run_max_steps and rec.steps >= NEAR_LIMIT * limits.run_max_steps:
        reasons.append("steps")
    age = now - rec.started_at if rec.started_at else 0.0
    if limits.run_max_seconds and age >= NEAR_LIMIT * limits.run_max_seconds:
        reasons.append("runtime")
    if (limits.user_daily_tokens and rec.tokens >= limits.user_daily_tokens) or (
        limits.user_daily_cost_usd and rec.cost >= limits.user_daily_cost_usd
    ):
        reasons.append("budget")
    if rec.heartbeat_at and now - rec.heartbeat_at > dead_after:
        reasons.append("stale")
    return reasons
