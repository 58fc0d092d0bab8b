"""Token and cost budgets as an agent spends them: reserve before a call, commit after.

Connected, a reservation is one atomic script on the control plane, so concurrent agents
cannot overshoot a user's daily limit. Redis down, the per-request limit still holds (from
the last snapshot) and each user gets a small offline allowance
(``offline_budget_fraction`` of the daily limits); what is spent offline is committed when
Redis is back, so the books stay exact.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from agentconsole.agent.errors import TokenBudgetExceeded
from agentconsole.control.budgets import MICRO, BudgetExceeded, Limits, Reservation, today

BOOKING_WINDOW = 0.05  # seconds a booking waits for others of the same user (one commit)

if TYPE_CHECKING:
    from agentconsole.agent.run import Run
    from agentconsole.agent.runtime import AgentRuntime


class BudgetGuard:
    """One per runtime; reads its connection state, snapshot and plane (public members)."""

    def __init__(self, runtime: AgentRuntime, offline_fraction: float) -> None:
        self._rt = runtime
        self.offline_fraction = offline_fraction
        self._offline_usage: dict[str, list[float]] = {}
        self._offline_commits: list[tuple[str, str, int, int, str]] = []
        # usage booked after the fact, per (user, tenant, day): [tokens, cost, runs that booked]
        self._bookings: dict[tuple[str, str, str], list[Any]] = {}
        self._flush: asyncio.TimerHandle | None = None
        # tenants a booking found at their daily cap: (day, control-plane version, refusal).
        # Their runs' next calls are refused at once, new runs too, until the day ends or the
        # control plane changes (a raised or removed cap): the next booking then re-checks.
        self._tenants_capped: dict[str, tuple[str, int, TokenBudgetExceeded]] = {}

    @property
    def offline_pending(self) -> int:
        """Commits made while Redis was down and not yet sent."""
        return len(self._offline_commits)

    def limits(self) -> Limits:
        snap = self._rt.snapshot
        return snap.limits if snap is not None else self._rt.limit_defaults

    def price(self, model: str, input_tokens: int, output_tokens: int) -> float:
        p = self._rt.settings.prices.get(model)
        if p is None:
            return 0.0
        return input_tokens / 1000 * p.input_per_1k + output_tokens / 1000 * p.output_per_1k

    async def reserve(self, user: str, tokens: int, cost: float, run: Run | None) -> Reservation:
        rt = self._rt
        try:
            if not rt.connected:
                raise ConnectionError("control plane unreachable")
            # At least 1 token and 1 micro-USD held: the commit script negates the held
            # amounts, and Lua's -0 reaches Redis as "-0", which HINCRBY refuses. The
            # commit records the real usage, so the books are exact.
            tenant = run.tenant if run is not None else ""
            return await rt.control.budgets.reserve(user, max(tokens, 1), max(cost, 1e-6), tenant)
        except BudgetExceeded as exc:
            raise self._rejected(exc.limit, exc.value, exc.used, exc.asked, run) from None
        except Exception as exc:
            if not unreachable(exc):
                raise
        await asyncio.sleep(0)  # the offline path never waits: let the loop breathe
        return self._reserve_offline(user, tokens, cost, run)

    def _reserve_offline(self, user: str, tokens: int, cost: float, run: Run | None) -> Reservation:
        """Redis down: per-request limit from the snapshot, and a small daily allowance."""
        limits = self.limits()
        if tokens > limits.request_tokens:
            raise self._rejected("request_tokens", limits.request_tokens, 0, tokens, run)
        used = self._offline_usage.setdefault(user, [0.0, 0.0])
        cap_tokens = limits.user_daily_tokens * self.offline_fraction
        cap_cost = limits.user_daily_cost_usd * self.offline_fraction
        if used[0] + tokens > cap_tokens:
            raise self._rejected("user_daily_tokens", cap_tokens, used[0], tokens, run)
        if used[1] + cost > cap_cost:
            raise self._rejected("user_daily_cost_usd", cap_cost, used[1], cost, run)
        used[0] += tokens
        used[1] += cost
        tenant = run.tenant if run is not None else ""
        return Reservation("offline", user, today(), tokens, round(cost * MICRO), tenant)

    async def commit(self, res: Reservation, tokens: int, cost: float) -> None:
        if res.member != "offline":
            try:
                await self._rt.control.budgets.commit(res, tokens, cost)
                return
            except Exception as exc:
                if not unreachable(exc):
                    raise
        self._offline_commits.append(
            (res.day, res.user, int(tokens), round(cost * MICRO), res.tenant)
        )

    async def report(self) -> None:
        """Send what was spent offline (oldest first; stops at the first failure)."""
        while self._offline_commits:
            day, user, tokens, cost, tenant = self._offline_commits[0]
            res = Reservation("offline", user, day, tokens, cost, tenant)
            await self._rt.control.budgets.commit(res, tokens, cost / MICRO)
            self._offline_commits.pop(0)
        self._offline_usage.clear()

    def gate(self, run: Run, estimate_tokens: int | None = None) -> None:
        """Before a model call whose usage is booked afterwards (no I/O): refuse it when an
        earlier booking of this run found the user's daily limit reached, or when its
        estimate passes the per-request limit."""
        over = run.over_budget or self._tenant_capped(run.tenant)
        if over is not None:
            raise self._rejected(over.limit, over.value, over.used, over.asked, run)
        if estimate_tokens is not None:
            limit = self.limits().request_tokens
            if estimate_tokens > limit:
                raise self._rejected("request_tokens", limit, 0, estimate_tokens, run)

    def _version(self) -> int:
        snap = self._rt.snapshot
        return snap.version if snap is not None else -1

    def _tenant_capped(self, tenant: str) -> TokenBudgetExceeded | None:
        found = self._tenants_capped.get(tenant) if tenant else None
        if found is None:
            return None
        if found[:2] != (today(), self._version()):
            del self._tenants_capped[tenant]  # a new day, or a change: the next booking tells
            return None
        return found[2]

    def book(self, run: Run, tokens: int, cost: float) -> None:
        """Queue usage a framework reported for a call already made (on the runtime's loop).

        Bookings are coalesced per user for ``BOOKING_WINDOW`` seconds and committed as one
        script call (no reservation: it was spent), so a fast loop of model calls costs one
        Redis round trip per window, not per call. When the day's totals reach a limit,
        each run that booked is marked and its next model call is refused.
        """
        key = (run.user, run.tenant, today())
        entry = self._bookings.get(key)
        if entry is None:
            entry = self._bookings[key] = [0, 0.0, []]
        entry[0] += int(tokens)
        entry[1] += cost
        entry[2].append(run)
        if self._flush is None:
            loop = asyncio.get_running_loop()
            self._flush = loop.call_later(BOOKING_WINDOW, self._start_flush)

    def _start_flush(self) -> None:
        self._flush = None
        bookings, self._bookings = self._bookings, {}
        self._rt.spawn(self._commit_bookings(bookings))

    async def flush_now(self) -> None:
        """Commit what is still queued, at once: the runtime closing must neither lose the
        last window's usage nor leave a timer that starts a task on a loop about to end."""
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
        bookings, self._bookings = self._bookings, {}
        if bookings:
            await self._commit_bookings(bookings)

    async def _commit_bookings(self, bookings: dict[tuple[str, str, str], list[Any]]) -> None:
        try:
            for (user, tenant, day), (tokens, cost, runs) in bookings.items():
                await self._commit_booking(user, tenant, day, tokens, cost, runs)
        finally:
            for _, _, runs in bookings.values():
                for run in runs:
                    run.pending_bookings -= 1

    async def _commit_booking(
        self, user: str, tenant: str, day: str, tokens: int, cost: float, runs: list[Run]
    ) -> None:
        rt = self._rt
        res = Reservation("offline", user, day, int(tokens), round(cost * MICRO), tenant)
        totals: tuple[float, float] | None = None
        tenant_over: TokenBudgetExceeded | None = None
        if rt.connected:
            try:
                day_totals = await rt.control.budgets.commit(res, tokens, cost)
            except Exception as exc:
                if not unreachable(exc):
                    raise
            else:
                totals = day_totals.tokens, day_totals.cost_usd
                if day_totals.tenant_over:
                    tenant_over = TokenBudgetExceeded(
                        "tenant_daily_cost_usd",
                        day_totals.tenant_cap_usd,
                        day_totals.tenant_cost_usd,
                        0,
                    )
                    self._tenants_capped[tenant] = (day, self._version(), tenant_over)
        limits = self.limits()
        caps: tuple[float, float] = limits.user_daily_tokens, limits.user_daily_cost_usd
        if totals is None:  # offline: queued, and the offline allowance applies
            self._offline_commits.append(
                (res.day, res.user, res.tokens, res.cost_micros, res.tenant)
            )
            used = self._offline_usage.setdefault(user, [0.0, 0.0])
            used[0] += tokens
            used[1] += cost
            totals = used[0], used[1]
            caps = caps[0] * self.offline_fraction, caps[1] * self.offline_fraction
        over = tenant_over
        if totals[0] >= caps[0]:
            over = TokenBudgetExceeded("user_daily_tokens", caps[0], totals[0], 0)
        elif totals[1] >= caps[1]:
            over = TokenBudgetExceeded("user_daily_cost_usd", caps[1], totals[1], 0)
        if over is not None:
            for run in runs:
                run.over_budget = over

    def _rejected(
        self, limit: str, value: float, used: float, asked: float, run: Run | None
    ) -> TokenBudgetExceeded:
        rt = self._rt
        rt.metrics.budget_rejections.labels(limit).inc()
        rt.log.warning(
            "budget.rejected",
            f"budget {limit} would be exceeded",
            limit=limit,
            value=value,
            used=used,
            asked=asked,
            user=run.user if run else "",
            tenant=run.tenant if run else "",
            agent_id=run.id if run else "",
            trace_id=run.trace_id if run else "",
        )
        return TokenBudgetExceeded(limit, value, used, asked)


def unreachable(exc: BaseException) -> bool:
    """Is this the control plane being down (as opposed to a refusal or a bug)?"""
    from agentconsole.control.errors import Unavailable
    from agentconsole.control.plane import translate

    return isinstance(translate(exc), Unavailable)
