"""What agent code can catch: every stop the control plane or a guard imposes on a run.

They are ordinary exceptions (not ``CancelledError``) so that ``asyncio.gather`` over many
agents keeps going when one of them is killed, and so the caller can tell why it stopped.
"""

from __future__ import annotations

from agentconsole.control.budgets import BudgetExceeded


class AgentStopped(Exception):
    """Base of the stops imposed by the control plane or a guard (not by the task itself)."""


class AgentKilled(AgentStopped):
    """A kill for this agent, its tenant or everything is in force."""

    def __init__(self, reason: str = "", requester: str = "", target: str = "") -> None:
        super().__init__(f"killed by {requester or 'operator'} ({target}): {reason or 'no reason'}")
        self.reason, self.requester, self.target = reason, requester, target


class RunawayStopped(AgentStopped):
    """The run passed its step or wall-clock limit (``limit`` is 'steps' or 'seconds')."""

    def __init__(self, limit: str, value: float, used: float) -> None:
        super().__init__(f"runaway guard: run_max_{limit} is {value:g}, the run reached {used:g}")
        self.limit, self.value, self.used = limit, value, used


class NewRunsRefused(AgentStopped):
    """Safe mode: the control-plane snapshot is too old to start new work safely."""


class Drained(NewRunsRefused):
    """A drain is in force for this agent, its tenant or the fleet: ``runtime.run()`` refuses
    new runs (the runs already going finish). Lifted by ``drain lift``; retry later."""

    def __init__(self, reason: str = "", requester: str = "", target: str = "") -> None:
        super().__init__(
            f"drained by {requester or 'operator'} ({target}): new runs refused; "
            f"{reason or 'no reason'}"
        )
        self.reason, self.requester, self.target = reason, requester, target


class BreakerOpen(Exception):
    """The dependency was not called: its breaker is open (automatically or by an operator)."""

    def __init__(self, dependency: str, why: str) -> None:
        super().__init__(f"breaker for {dependency} is open ({why}): not called")
        self.dependency, self.why = dependency, why


class TokenBudgetExceeded(BudgetExceeded):
    """A budget limit would be passed; ``limit`` names it (request_tokens, user_daily_...)."""


class DependencyError(Exception):
    """Raise this from a dependency wrapper to say what kind of failure it was.

    ``kind`` is one of rate_limited, unavailable, timeout, connection, client, server; the
    first four are transient and retried. ``retry_after`` (seconds) is honoured when given.
    """

    def __init__(
        self,
        kind: str,
        message: str = "",
        *,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message or kind)
        self.kind, self.status, self.retry_after = kind, status, retry_after
